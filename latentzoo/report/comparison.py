r"""The data of the comparison page (``templates/comparison.html``): runs side by side.

Metrics over the union of the runs' keys (the best value marked where the models declare
which direction is better), each history key's curves overlaid across runs, the options
that differ, and a link to each run's report.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import latentzoo.report.values as values
from latentzoo.report.curves import PALETTE, comparison_png
from latentzoo.report.declared import Declarations, declarations, is_number, merged
from latentzoo.report.render import render
from latentzoo.report.run_page import figure_card


def labels_for(dirs: list[Path]) -> list[str]:
    """Short distinct names: each directory's name, with parents added until they differ."""
    parts = [d.resolve().parts for d in dirs]
    depth = 1
    while depth < max(len(p) for p in parts):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
        depth += 1
    return [str(d) for d in dirs]


def best(better: str | None, row: list) -> set[int]:
    """Indices of the best value of a metric whose direction is declared (none when all are equal)."""
    numbers = [(i, v) for i, v in enumerate(row) if is_number(v) and math.isfinite(v)]
    if better not in ("higher", "lower") or len(numbers) < 2 or len({v for _, v in numbers}) == 1:
        return set()
    target = (min if better == "lower" else max)(v for _, v in numbers)
    return {i for i, v in numbers if v == target}


def cell(value) -> dict:
    """A comparison cell: a diagnosis as pills of what was detected, any other value as on a run page."""
    if values.is_findings(value):
        hits = [values.name(str(f["name"]).replace("_", " ")) for f in value if f.get("detected")]
        return {"pills": hits, "none_detected": not hits}
    return {"value": values.shown(value)}


def metric_rows(records: list[dict], decls: Declarations) -> list[dict]:
    keys = list(dict.fromkeys(k for r in records for k in r["metrics"]))
    rows = []
    for key in keys:
        row = [r["metrics"].get(key) for r in records]
        marked = best(decls.better(key), row)
        rows.append({"key": values.name(key), "note": decls.note(key),
                     "cells": [{"best": i in marked, **cell(v)} for i, v in enumerate(row)]})
    return rows


def differing_options(records: list[dict]) -> list[tuple[str, list]]:
    """The options (top-level and model options) whose values are not the same in every run."""
    flat = []
    for r in records:
        options = r["config"].get("config") if isinstance(r["config"].get("config"), dict) else {}
        flat.append({**{k: v for k, v in r["config"].items() if k not in ("config", "fabric")}, **options})
    keys = list(dict.fromkeys(k for f in flat for k in f))
    differ = [k for k in keys if len({_fingerprint(f.get(k)) for f in flat}) > 1]
    return [(values.name(k), [values.option(f.get(k)) for f in flat]) for k in differ]


def _fingerprint(value) -> str:
    """A value as sorted JSON, to tell equal options from different ones."""
    try:
        return json.dumps(value, default=str, sort_keys=True)
    except (TypeError, ValueError, RecursionError):  # e.g. a mapping with keys of mixed types
        return values.as_json(value, 100_000)


def run_links(records: list[dict], labels: list[str], reports: list[Path], out_file: Path) -> list[dict]:
    runs = []
    for i, (label, record, report) in enumerate(zip(labels, records, reports)):
        m = record["metrics"]
        runs.append({"label": values.name(label), "colour": PALETTE[i % len(PALETTE)],
                     "href": Path(os.path.relpath(report, out_file.parent)).as_posix(),
                     "model": values.name(m.get("model", record["config"].get("model", "?"))),
                     "dataset": values.name(m.get("dataset", "?")), "seed": values.name(m.get("seed", "?")),
                     "epochs": values.format_number(m.get("epochs", "?"))})
    return runs


def comparison_page(records: list[dict], out_file: Path, reports: list[Path]) -> str:
    """The HTML of the comparison page of ``records`` (their reports at ``reports``)."""
    labels = labels_for([r["dir"] for r in records])
    decls = merged([declarations(r["metrics"].get("model", r["config"].get("model"))) for r in records])
    png = comparison_png([r["history"] for r in records], labels)
    curves = figure_card(png, "", "Curves overlaid across runs", wide=True, show_file=False) if png else None
    options = differing_options(records)
    nav = [("metrics", "Metrics")] + ([("curves", "Curves")] if curves else [])
    nav += [("configuration", "Options")] if options else []
    models = " vs ".join(dict.fromkeys(values.name(r["metrics"].get("model", "?")) for r in records))
    return render("comparison.html", title="latentzoo comparison · " + values.text(", ".join(labels), 300),
                  nav=nav, heading=models, runs=run_links(records, labels, reports, out_file),
                  rows=metric_rows(records, decls), curves=curves, options=options)

