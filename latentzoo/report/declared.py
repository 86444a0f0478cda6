r"""What the report knows about a model: only what the model declares (see :mod:`latentzoo.spec`).

The registry entry gives the seed question, its title, the one-line summary and the
published anchor; the class gives its metrics (note, unit, better direction, headline) and
its figures (group, caption). The engine's own metrics and figures (``ENGINE_METRICS``,
``ENGINE_FIGURES``) apply to every run. A run whose model is not registered still gets a
page, with the engine's declarations only: the name read from a run's files is looked up in
the registry and never imported by itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from latentzoo import registry
from latentzoo.spec import ENGINE_FIGURES, ENGINE_METRICS, FIGURE_GROUPS, Figure, Metric

HEADER_KEYS = ("model", "dataset", "epochs", "seed", "train_seconds", "samples_per_second")
FALLBACK_HEADLINES = 4


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class Declarations:
    """A model's declarations as the report uses them (empty for an unregistered model)."""

    name: str
    known: bool = False
    tag: str = ""
    question_title: str = ""
    summary: str = ""
    anchor: str = ""
    metrics: dict[str, Metric] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)

    def note(self, key: str) -> str:
        """The metric's note, with its unit: ``"test −ELBO = … (nats per example)"``; ``""`` if undeclared."""
        metric = self.metrics.get(key)
        if metric is None:
            return ""
        return f"{metric.note} ({metric.unit})" if metric.unit else metric.note

    def better(self, key: str) -> str | None:
        metric = self.metrics.get(key)
        return metric.better if metric else None

    def headline_keys(self, metrics: dict) -> list[str]:
        """The declared headline metrics present in ``metrics``, in declared order.

        A model that declares none (or none of which was measured) falls back to the first
        four numeric metrics that are not bookkeeping.
        """
        keys = [k for k, m in self.metrics.items() if m.headline and k in metrics]
        if keys:
            return keys
        return [k for k, v in metrics.items() if k not in HEADER_KEYS and k not in self.metrics_of_engine()
                and is_number(v)][:FALLBACK_HEADLINES]

    @staticmethod
    def metrics_of_engine() -> set[str]:
        return {m.key for m in ENGINE_METRICS}

    def figure(self, file_name: str) -> Figure:
        """The figure's declaration; an undeclared one goes to "other" with a caption from its name."""
        return self.figures.get(file_name) or Figure(file_name, "other", caption_for(file_name))


def declarations(model) -> Declarations:
    """What the registry and the model's class declare about ``model`` (a name read from a run)."""
    engine_metrics = {m.key: m for m in ENGINE_METRICS}
    engine_figures = {f.file: f for f in ENGINE_FIGURES}
    name = model if isinstance(model, str) else ""
    entry = registry.MODELS.get(name)
    if entry is None:
        return Declarations(name or str(model), metrics=engine_metrics, figures=engine_figures)
    try:
        cls = registry.model_class(name)
    except (ImportError, AttributeError):  # a registered family that does not import: the page still renders
        cls = None
    metrics = {**engine_metrics, **{m.key: m for m in getattr(cls, "METRICS", ())}}
    figures = {**engine_figures, **{f.file: f for f in getattr(cls, "FIGURES", ())}}
    return Declarations(name, True, entry.tag, entry.question_title, entry.summary, entry.anchor,
                        metrics, figures)


def merged(decls: list[Declarations]) -> Declarations:
    """One set of declarations for a comparison page: for each key, the first run's model that declares it."""
    metrics: dict[str, Metric] = {}
    for d in decls:
        for key, metric in d.metrics.items():
            metrics.setdefault(key, metric)
    return Declarations("comparison", metrics=metrics)


def caption_for(path) -> str:
    r"""A caption from a figure's file name: ``samples_over_training.png → "Samples over training"``."""
    stem = re.sub(r"[_\-]+", " ", Path(str(path)).stem).strip()
    return stem[:1].upper() + stem[1:] if stem else Path(str(path)).name


def group_figures(names: list[str], decls: Declarations) -> list[tuple[tuple[str, str, str], list[str]]]:
    r"""Figure file names grouped as declared, groups in page order (``FIGURE_GROUPS``), empty ones dropped.

    Within a group, declared figures come in declared order (the engine's ``curves.png``
    first), then undeclared ones by name.
    """
    order = {file: i for i, file in enumerate(decls.figures)}
    buckets: dict[str, list[str]] = {g[0]: [] for g in FIGURE_GROUPS}
    for name in names:
        buckets[decls.figure(name).group].append(name)
    for names_in_group in buckets.values():
        names_in_group.sort(key=lambda n: (order.get(n, len(order)), n))
    return [(g, buckets[g[0]]) for g in FIGURE_GROUPS if buckets[g[0]]]
