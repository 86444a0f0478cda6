r"""Self-contained HTML reports of runs: one page per run, a comparison page, a tour index.

A report is a single ``.html`` file that opens in any browser without a network or a
server: every figure is embedded as a ``data:image/png;base64,...`` URI, the style sheet
and the few lines of script are inline, and only system fonts are named.

* ``write_report([run_dir])`` writes ``run_dir/report.html``: the title (model, dataset,
  the seed question the model answers), the model's headline metrics as tiles, the GAN
  diagnosis as a panel of findings, the full metrics table with each metric's declared
  note, the training curves (drawn from ``logs/history.json`` and also saved as
  ``figures/curves.png``), every PNG of ``figures/`` in the group its model declares, and
  the configuration with the (shell-quoted) command that trains the run again.
* ``write_report([dir_a, dir_b, ...])`` also writes each run's report and a comparison
  page (``comparison.html`` beside the first run, or ``out_file``): metrics side by side
  over the union of their keys, the curves of each history key overlaid across runs, the
  options that differ, and links to each run's report.
* ``index_page(entries, out_file)`` writes the summary page of the tour.

Layout of the package: :mod:`~latentzoo.report.files` reads inside a run directory
without following links, :mod:`~latentzoo.report.records` gathers a run,
:mod:`~latentzoo.report.declared` reads the model's declarations,
:mod:`~latentzoo.report.curves` draws with matplotlib, :mod:`~latentzoo.report.values`
bounds and formats what is shown, the ``*_page`` modules gather each page's data and
:mod:`~latentzoo.report.render` fills the Jinja2 templates (``templates/``; autoescaped)
and inlines ``static/style.css`` and ``static/report.js``.

Untrusted run directories: a link, FIFO, device or oversized ``metrics.json``,
``config.yaml`` or ``logs/history.json`` is a :class:`~latentzoo.errors.UserError` naming
the path; such a figure is skipped and the page lists it with the reason. ``config.yaml``
is read without YAML aliases. All files are written atomically (:func:`latentzoo.io.write_text`).
"""

from __future__ import annotations

from pathlib import Path

from latentzoo import io
from latentzoo.errors import UserError
from latentzoo.report.comparison import comparison_page
from latentzoo.report.curves import comparison_curves, history_curves
from latentzoo.report.declared import caption_for
from latentzoo.report.index import index_page
from latentzoo.report.records import load_run_record
from latentzoo.report.render import png_size
from latentzoo.report.run_page import draw_curves, run_page
from latentzoo.report.values import format_number

__all__ = ["caption_for", "comparison_curves", "format_number", "history_curves", "index_page",
           "load_run_record", "png_size", "write_report"]


def write_report(run_dirs: list[Path], out_file: Path | None = None) -> Path:
    r"""Write the HTML report of one run, or of several runs and their comparison; return its path.

    One run: ``out_file`` (default ``run_dir/report.html``); the training curves are also
    saved as ``run_dir/figures/curves.png``. Several runs: each run's ``report.html`` is
    written in its directory, then the comparison page at ``out_file`` (default
    ``comparison.html`` beside the first run, i.e. in its parent folder), linking to them
    by relative paths. Every page is self-contained and written atomically.

    Raises :class:`UserError` (one line naming the path) when a directory is missing or its
    ``metrics.json`` is missing, unreadable or refused.
    """
    dirs = list(dict.fromkeys(Path(d) for d in run_dirs))
    if not dirs:
        raise UserError("report needs at least one run directory")
    records = [load_run_record(d) for d in dirs]  # check every run before writing anything
    if len(records) == 1:
        out = Path(out_file) if out_file is not None else dirs[0] / "report.html"
        io.write_text(out, run_page(records[0], draw_curves(records[0])))
        return out
    reports = []
    for record in records:
        report = record["dir"] / "report.html"
        io.write_text(report, run_page(record, draw_curves(record)))
        reports.append(report)
    out = Path(out_file) if out_file is not None else dirs[0].resolve().parent / "comparison.html"
    io.write_text(out, comparison_page(records, out, reports))
    return out
