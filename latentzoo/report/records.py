r"""What a report shows about one run, read from its directory (see :mod:`latentzoo.report.files`).

Refusals: ``metrics.json``, ``config.yaml`` and ``logs/history.json`` that are links, FIFOs,
devices, over their size limit (16 MB, 1 MB, 16 MB), malformed or nested too deeply raise
:class:`~latentzoo.errors.UserError` with one line naming the path — the report is not
written. A figure that is refused (a link, not a regular file, over 32 MB, not a PNG, or
past the page's 128 MB of figures) is *skipped*: the page says which file and why, and the
rest of the report is still written.
"""

from __future__ import annotations

import os
from pathlib import Path

from latentzoo.errors import UserError
from latentzoo.report.files import (
    PAGE_FIGURES_LIMIT,
    Refused,
    list_pngs,
    printable,
    read_json,
    read_png,
    read_yaml,
)

FIGURE_DIR = "figures"
HISTORY_FILE = "logs/history.json"


def load_run_record(run_dir: str | os.PathLike) -> dict:
    r"""Everything a report shows about one run, read from its directory.

    Returns ``{"dir", "metrics", "config", "history", "figures", "skipped"}``: the metrics
    dict of ``metrics.json``, the parsed ``config.yaml`` (``{}`` when absent), the list of
    per-epoch dicts of ``logs/history.json`` (``[]`` when absent), the sorted PNG paths of
    ``figures/`` and a list of ``(name, reason)`` for what of ``figures/`` was refused. A
    missing directory, a missing or unreadable ``metrics.json``, an unreadable
    ``config.yaml``/``history.json`` or any of them refused (see the module docstring)
    raises :class:`UserError` naming the path.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{printable(run_dir)}: no such run directory")
    metrics_path = run_dir / "metrics.json"
    metrics = read_json(run_dir, "metrics.json")
    if metrics is None:
        raise UserError(f"{printable(metrics_path)}: missing; the run has not finished "
                        f"(or {printable(run_dir)} is not a run directory)")
    if not isinstance(metrics, dict):
        raise UserError(f"{printable(metrics_path)}: not a JSON object of metrics")
    config = read_yaml(run_dir, "config.yaml")
    if config is None:  # absent or empty
        config = {}
    if not isinstance(config, dict):
        raise UserError(f"{printable(run_dir / 'config.yaml')}: not a mapping of options")
    history = read_json(run_dir, HISTORY_FILE)
    if history is None:
        history = []
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise UserError(f"{printable(run_dir / HISTORY_FILE)}: not a list of per-epoch records")
    names, refused = list_pngs(run_dir, FIGURE_DIR)
    skipped = [(FIGURE_DIR + "/", refused)] if refused else []
    return {"dir": run_dir, "metrics": metrics, "config": config, "history": history,
            "figures": [run_dir / FIGURE_DIR / name for name in names], "skipped": skipped}


class FigureBudget:
    """Reads a page's figures, skipping (with a reason) what is refused or past the page's total size."""

    def __init__(self, limit: int = PAGE_FIGURES_LIMIT):
        self.left = limit
        self.skipped: list[tuple[str, str]] = []

    def read(self, run_dir: Path, name: str) -> bytes | None:
        """The bytes of ``run_dir/figures/name``, or ``None`` (noted in ``skipped``) when refused."""
        try:
            data = read_png(run_dir, f"{FIGURE_DIR}/{name}")
        except Refused as e:
            self.skipped.append((f"{FIGURE_DIR}/{name}", str(e)))
            return None
        return self.take(f"{FIGURE_DIR}/{name}", data)

    def take(self, label: str, data: bytes) -> bytes | None:
        """Count ``data`` against the page's total; ``None`` (noted) once the total is spent."""
        if len(data) > self.left:
            self.skipped.append((label, f"the page already embeds {PAGE_FIGURES_LIMIT // (1 << 20)} MB of figures"))
            return None
        self.left -= len(data)
        return data
