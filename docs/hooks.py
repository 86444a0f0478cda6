"""MkDocs hook (see mkdocs.yml): tables of options and metrics, read from the model classes.

A line ``<!-- options: latentzoo.vae.model.VAE -->`` in a page becomes a table of every option of
that model (the keys of ``--set`` and of ``lz.VAE(...)``) with its type, default, allowed range
and description, read from the pydantic ``Config`` of the class (or from a config class named
directly); ``<!-- metrics: latentzoo.vae.model.VAE -->`` becomes the table of the metrics the class
declares (``METRICS``). The pages therefore cannot disagree with the code.
"""

from __future__ import annotations

import importlib
import re
import typing

import annotated_types

from latentzoo.spec import ENGINE_METRICS

MARKER = re.compile(r"^<!-- (options|metrics): ([\w.]+) -->$", re.MULTILINE)
BOUNDS = ((annotated_types.Gt, ">"), (annotated_types.Ge, "≥"), (annotated_types.Lt, "<"), (annotated_types.Le, "≤"))


def on_page_markdown(markdown: str, **kwargs) -> str:
    return MARKER.sub(lambda m: TABLES[m.group(1)](_object(m.group(2))), markdown)


def _object(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def options_table(cls) -> str:
    """The Markdown table of the options of a model class (or of a config class)."""
    config = cls if hasattr(cls, "model_fields") else cls.Config
    rows = ["| option | type | default | range | description |", "|---|---|---|---|---|"]
    for key, field in config.model_fields.items():
        cells = (f"`{key}`", _type(field.annotation), f"`{field.default!r}`", _range(field.metadata),
                 _description(config, key))
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + ("\n\nThe defaults are the class's; for an option you do not set, the model's recipe "
                              "for your data may choose another value (the shapes of your data, say).")


def metrics_table(cls) -> str:
    """The Markdown table of the metrics a model class declares (keys of ``metrics.json``)."""
    rows = ["| metric | unit | better | what it measures |", "|---|---|---|---|"]
    for metric in cls.METRICS:
        key = f"**`{metric.key}`**" if metric.headline else f"`{metric.key}`"
        cells = (key, metric.unit, metric.better or "", metric.note)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n\nIn bold: the headline metrics. Every run also has " + ", ".join(
        f"`{m.key}`" for m in ENGINE_METRICS) + "."


TABLES = {"options": options_table, "metrics": metrics_table}


def _type(annotation) -> str:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return " or ".join(f"`{a!r}`" for a in args)
    if args:  # a union such as float | None
        return " or ".join(_type(a) for a in args)
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def _range(metadata: list) -> str:
    parts = []
    for item in metadata:
        for kind, sign in BOUNDS:
            if isinstance(item, kind):
                parts.append(f"{sign} {getattr(item, kind.__name__.lower())}")
    return ", ".join(parts)


def _description(config, key: str) -> str:
    """The field's description, or that of the base class's field it overrides (a new default only)."""
    for cls in config.__mro__:
        field = getattr(cls, "model_fields", {}).get(key)
        if field is not None and field.description:
            return field.description
    return ""
