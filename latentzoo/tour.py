"""The tour: one model per seed question, trained on built-in data, with one index page.

``latentzoo tour`` fits ``linear-ae`` and ``sparse-coding`` (Q1), ``vae`` (Q2), ``gan`` on
``ring8`` (Q3) and ``simclr`` on ``mnist1d`` (Q4) with their default recipes (about ten
minutes together on two CPU cores), writes each run's report, and an index page with the
headline metrics beside the published anchors they are measured against. ``--quick`` trains
each for a tenth of its epochs (about a minute), to show the whole path works.
"""

from __future__ import annotations

import math
from pathlib import Path

from latentzoo.errors import UserError

# (run name, model, data): what each stop shows is declared by the model (spec, METRICS, FIGURES)
STOPS = [("linear-ae", "linear-ae", "digits"), ("sparse-coding", "sparse-coding", "patches"),
         ("vae", "vae", "digits"), ("gan", "gan", "ring8"), ("simclr", "simclr", "mnist1d")]


def _planned_steps(model: str, data: str, quick: bool) -> tuple[int, dict]:
    """Optimizer steps of a stop and its overrides (quick: a tenth of the epochs)."""
    from latentzoo.config import build_config
    from latentzoo.data import load_dataset
    from latentzoo.registry import model_class

    cls = model_class(model)
    dataset = load_dataset(data, 0)
    config = build_config(cls, dataset)
    overrides = {"epochs": max(1, math.ceil(config.epochs / 10))} if quick else {}
    epochs = overrides.get("epochs", config.epochs)
    per_epoch = max(1, len(dataset.x_train) // min(config.batch_size, len(dataset.x_train)))
    return epochs * per_epoch, overrides


def run_tour(out_dir: Path, quick: bool = False, force: bool = False, data: str | None = None,
             max_time=None, bar=None) -> Path:
    """Train every stop of the tour into ``out_dir`` and return the index page's path; with ``data``
    (a built-in name or a path), every stop trains on that data instead of its own built-in set; with
    ``max_time``, each stop trains for that budget. ``bar``: a tqdm-like progress bar to count the planned
    steps on (default: a new one on the terminal)."""
    import contextlib

    from tqdm.auto import tqdm

    from latentzoo.engine import fit
    from latentzoo.report import index_page

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"tour output {out_dir} exists and is not a directory")
    if (out_dir / "index.html").exists() and not force:
        raise UserError(f"{out_dir} already holds a tour; use --force to replace it")
    stops = STOPS if data is None else [(name, model, _data_spec(data)) for name, model, _ in STOPS]
    plans = [(stop, *_planned_steps(stop[1], stop[2], quick)) for stop in stops]
    entries = []
    total = sum(p[1] for p in plans)
    with (contextlib.nullcontext(bar) if bar is not None else
          tqdm(total=total, desc="tour", unit="step", mininterval=0.5, dynamic_ncols=True)) as bar:
        bar.total = total
        for (name, model, data), planned, overrides in plans:
            bar.set_description(f"tour: {model} on {data}")
            run_dir = out_dir / name
            share = _StopShare(bar, planned)
            metrics = fit(model, data, run_dir, overrides=overrides, force=True, progress=share, max_time=max_time)
            share.finish()                  # a stop that ends early (converged, budget) still fills its share
            entries.append(_entry(model, data, run_dir, out_dir, metrics))
    return index_page(entries, out_dir / "index.html")


class _StopShare:
    """One stop's part of the tour's bar: the stop's own steps, out of its own plan (which a time budget
    re-aims through ``total``), advance the tour's bar through the ``planned`` steps of that stop."""

    def __init__(self, bar, planned: int):
        self.bar, self.planned, self.total, self.n, self.shown = bar, planned, planned, 0, 0

    def update(self, n: int = 1) -> None:
        self.n += n
        self._show(min(self.planned, round(self.planned * self.n / max(1, self.total))))

    def finish(self) -> None:
        self._show(self.planned)

    def _show(self, count: int) -> None:
        if count > self.shown:
            self.bar.update(count - self.shown)
            self.shown = count

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.bar.set_postfix_str(s, refresh=refresh)

    def refresh(self) -> None:
        self.bar.refresh()


def _entry(model: str, data: str, run_dir: Path, out_dir: Path, metrics: dict) -> dict:
    """The index card of one stop, from the model's own declarations."""
    from latentzoo.registry import model_class, spec

    entry, cls = spec(model), model_class(model)
    keys = [m.key for m in cls.METRICS if m.headline and metrics.get(m.key) is not None]
    card = next((f.file for f in cls.FIGURES if f.card and (run_dir / "figures" / f.file).is_file()), None)
    return {
        "title": f"{model} on {data}", "family": model,
        "seed_question": f"{entry.tag} {entry.question_title.lower() if entry.question != 'Q4' else 'SimCLR'}",
        "report": str((run_dir / "report.html").relative_to(out_dir)),
        "metrics": {k: metrics[k] for k in keys}, "anchors": entry.anchor,
        "train_seconds": metrics.get("train_seconds"),
        **({"figure": run_dir / "figures" / card} if card else {}),
    }


def _data_spec(data: str) -> str:
    """A path given to the tour, made absolute (the runs record it); built-in names unchanged."""
    from latentzoo.data.builtin import BUILTIN

    if data in BUILTIN or not data.strip():
        return data
    path = Path(data)
    return str(path.resolve()) if path.exists() else data
