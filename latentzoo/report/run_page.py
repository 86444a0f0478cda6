r"""The data of one run's page (``templates/run.html``): header, headline tiles, metrics, figures, configuration.

Python gathers and bounds the values; the template lays them out. What a metric means,
which metrics are the headline and where a figure belongs come from the model's
declarations (:mod:`latentzoo.report.declared`).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import latentzoo.report.values as values
from latentzoo import io
from latentzoo.report.curves import history_png
from latentzoo.report.declared import Declarations, caption_for, declarations, group_figures, is_number
from latentzoo.report.files import printable
from latentzoo.report.records import FIGURE_DIR, FigureBudget
from latentzoo.report.render import data_uri, png_size, render
from latentzoo.spec import ENGINE_FIGURES, FIGURE_GROUPS

CURVES_FILE = ENGINE_FIGURES[0].file
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:60] or "section"


def title_case(key: str) -> str:
    text = values.name(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def draw_curves(record: dict) -> bytes | None:
    """``figures/curves.png`` drawn from the run's history and written beside its figures; its bytes.

    The file is not written when ``figures/`` was refused (a link, not a folder); the page
    still shows the curves.
    """
    drawn = history_png(record["history"]) if record["history"] else None
    if drawn is None:
        return None
    folder = record["dir"] / FIGURE_DIR
    if not record["skipped"] and not os.path.islink(folder):
        io.write_bytes(folder / CURVES_FILE, drawn[0])
    return drawn[0]


def figure_card(png: bytes, file: str, caption: str, *, wide: bool | None = None, show_file: bool = True) -> dict:
    """One figure as the templates show it: the embedded PNG, a title from its file name, its caption."""
    title = caption_for(file) if show_file else caption
    width, height = png_size(png)
    natural_wide = width >= 1000 or (width >= 600 and width >= 1.8 * max(height, 1))
    return {"uri": data_uri(png), "title": values.name(title), "file": values.name(file) if show_file else "",
            "caption": values.text(caption) if caption != title else "", "alt": values.text(caption, 300),
            "wide": natural_wide if wide is None else wide, "width": width}


def figure_cards(record: dict, decls: Declarations, curves: bytes | None) -> tuple[dict, list]:
    """Figure cards by group (``{group: [card]}``) in page order, and ``(file, reason)`` of each one skipped."""
    budget = FigureBudget()
    budget.skipped += record["skipped"]
    names = [p.name for p in record["figures"]]
    if curves is not None and CURVES_FILE not in names:
        names.append(CURVES_FILE)
    cards: dict[str, list[dict]] = {}
    for (group, _, _), in_group in group_figures(names, decls):
        for file in in_group:
            if file == CURVES_FILE and curves is not None:
                png = budget.take(f"{FIGURE_DIR}/{file}", curves)
            else:
                png = budget.read(record["dir"], file)
            if png is not None:
                cards.setdefault(group, []).append(figure_card(
                    png, file, decls.figure(file).caption, wide=True if file == CURVES_FILE else None))
    skipped = [(values.name(n), values.text(r, 200)) for n, r in budget.skipped]
    return cards, skipped


def figure_sections(cards: dict, beside_findings: set[str]) -> tuple[dict | None, list[dict]]:
    """The training panel and the grid of the other groups (a group named like a findings key sits with it)."""
    training, groups = None, []
    for group, heading, explanation in FIGURE_GROUPS:
        if group not in cards or group in beside_findings:
            continue
        section = {"id": f"fig-{group}", "heading": heading, "lede": explanation, "cards": cards[group]}
        if group == "training":
            training = section
            continue
        n = len(cards[group]) + sum(c["wide"] for c in cards[group])
        big = any(c["width"] >= 1000 for c in cards[group]) or n > 2
        section["span"] = "span-all" if big else "span-two" if n == 2 else ""
        groups.append(section)
    return training, groups


def hero(metrics: dict, config: dict, decls: Declarations, run_dir: Path) -> dict:
    """The page header: model, dataset, the seed question, the run's facts."""
    rate = metrics.get("samples_per_second")
    facts = [("seed", metrics.get("seed", config.get("seed"))), ("epochs", metrics.get("epochs")),
             ("trained in", values.seconds(metrics.get("train_seconds"))),
             ("throughput", f"{values.format_number(rate)} samples/s" if is_number(rate) else None)]
    eyebrow = " · ".join(x for x in ("latentzoo report", decls.tag, decls.question_title) if x)
    return {"eyebrow": eyebrow, "summary": values.text(decls.summary), "anchor": values.text(decls.anchor),
            "facts": [(k, values.format_number(v)) for k, v in facts if v is not None],
            "path": printable(run_dir.resolve(), 500)}


def metric_sections(metrics: dict, decls: Declarations) -> dict:
    """Headline tiles, findings panels, the metrics table and the panels of structured values."""
    stats = [{"key": values.name(k), "value": values.shown(metrics[k]), "note": decls.note(k)}
             for k in decls.headline_keys(metrics)]
    findings = [{"id": anchor(k), "key": k, "heading": _findings_heading(k), **values.findings(v)}
                for k, v in metrics.items() if values.is_findings(v)]
    rows = [(values.name(k), values.shown(v), decls.note(k)) for k, v in metrics.items()
            if k not in ("model", "dataset") and not values.is_structured(v)]
    structured = [{"id": anchor(k), "heading": title_case(k), **values.structured(v)}
                  for k, v in metrics.items() if values.is_structured(v) and not values.is_findings(v)]
    return {"stats": stats, "findings": findings, "rows": rows, "structured": structured}


def _findings_heading(key: str) -> str:
    """A findings key named like a figure group takes that group's heading (its figures join the panel)."""
    return next((heading for group, heading, _ in FIGURE_GROUPS if group == key), title_case(key))


def configuration(config: dict, run_dir: Path) -> dict | None:
    """The configuration's tables and the shell-quoted command that trains the run again."""
    if not config:
        return None
    options = config.get("config") if isinstance(config.get("config"), dict) else {}
    fabric = config.get("fabric") if isinstance(config.get("fabric"), dict) else {}
    top = {k: v for k, v in config.items() if k not in ("config", "fabric")}

    def rows(d: dict) -> list:
        return [(values.name(k), values.option(v)) for k, v in d.items()]

    cards = [("Run", rows(top))]
    if options:
        cards.append(("Model and training options", rows(options)))
    if fabric:
        cards.append(("Devices (Fabric)", rows(fabric)))
    args = ["latentzoo", "fit", str(config.get("model", "MODEL")), "--data", str(config.get("data", "DATA")),
            "--seed", str(config.get("seed", 0)), "--config", str(run_dir / "config.yaml"), "--out", "NEW_DIR"]
    # Every argument quoted (a dataset named "d;touch X;#.npz" stays one argument); an argument with a
    # control character or too long to be a name is not shown as a command at all.
    safe = all(len(a) <= 4096 and not _CONTROL.search(a) for a in args)
    return {"command": shlex.join(args) if safe else None, "cards": cards}


def run_page(record: dict, curves: bytes | None) -> str:
    """The HTML of one run's page."""
    metrics, config, run_dir = record["metrics"], record["config"], record["dir"]
    model = metrics.get("model") or config.get("model") or "model"
    dataset = metrics.get("dataset") or config.get("data") or "data"
    decls = declarations(model)
    sections = metric_sections(metrics, decls)
    cards, skipped = figure_cards(record, decls, curves)
    beside = {f["key"] for f in sections["findings"] if f["key"] in cards}
    for f in sections["findings"]:
        f["cards_figures"] = cards.get(f["key"], []) if f["key"] in beside else []
    training, groups = figure_sections(cards, beside)
    nav = [(f["id"], f["heading"]) for f in sections["findings"]] + [("metrics", "Metrics")]
    nav += [(s["id"], s["heading"]) for s in sections["structured"]]
    nav += [(s["id"], s["heading"]) for s in ([training] if training else []) + groups]
    config_view = configuration(config, run_dir)
    if config_view:
        nav.append(("configuration", "Configuration"))
    return render("run.html", title=f"{values.name(model)} on {values.name(dataset)} · latentzoo report",
                  model=values.name(model), dataset=values.name(dataset), nav=nav,
                  hero=hero(metrics, config, decls, run_dir), training=training, groups=groups,
                  any_figures=bool(cards), skipped=skipped, config=config_view, **sections)
