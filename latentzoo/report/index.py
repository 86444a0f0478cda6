r"""The summary page of several runs (the tour's ``index.html``, ``templates/index.html``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import latentzoo.report.values as values
from latentzoo import io
from latentzoo.errors import UserError
from latentzoo.report.files import read_figure_file
from latentzoo.report.render import data_uri, render


def _link(value) -> str:
    """A link to a report: a relative path or an http(s) address (a ``javascript:`` URL is dropped)."""
    link = values.text(value, 2000)
    scheme = re.match(r"\s*([a-zA-Z][a-zA-Z0-9+.-]*):", link)
    return "" if scheme and scheme.group(1).lower() not in ("http", "https", "file") else link


def _entry(i: int, entry) -> dict:
    if not isinstance(entry, dict):
        raise UserError(f"index entry {i} is not a mapping")
    headline = entry.get("headline", entry.get("metrics")) or {}
    png = read_figure_file(entry["figure"]) if entry.get("figure") else None
    return {"title": values.name(entry.get("title", f"run {i + 1}")),
            "family": values.text(entry.get("family", ""), 200),
            "question": values.text(entry.get("seed_question", "")),
            "link": _link(entry.get("report", "")),
            "headline": [(values.name(k), values.shown(v)) for k, v in headline.items()],
            "anchors": values.text(entry.get("anchors", "")),
            "status": values.text(entry["status"]) if entry.get("status") else "",
            "picture": data_uri(png) if png else ""}


def index_page(entries: list[dict], out_file: str | os.PathLike, title: str = "latentzoo tour",
               intro: str = "") -> Path:
    r"""Write a summary page linking several runs' reports (the tour's ``index.html``); return its path.

    ``entries`` is a list of dicts, one per run, each with:

    * ``title`` (str): the run's name, e.g. ``"linear-ae on digits"``;
    * ``family`` (str): e.g. ``"Q1 autoencoders"``;
    * ``seed_question`` (str): the question of the seed the run answers;
    * ``report`` (str): link to the run's ``report.html``, relative to ``out_file``'s folder;
    * ``headline`` (dict, name → number or text): the run's headline metrics
      (``metrics`` is accepted as an alias);
    * ``anchors`` (str): the published reference values they are measured against;
    * optional ``figure`` (path to a PNG): a picture shown on the run's card, embedded (a
      symbolic link, a file that is not a regular PNG or one over 32 MB is left out);
    * optional ``status`` (str): e.g. ``"failed: ..."``, shown instead of a clean result.

    The page holds a card per run and a summary table (run, family, headline metrics,
    anchors, link); it is self-contained like the reports. ``intro`` is an optional paragraph.
    """
    out_file = Path(out_file)
    runs = [_entry(i, entry) for i, entry in enumerate(entries)]
    page = render("index.html", title=values.text(title, 200), intro=values.text(intro), runs=runs,
                  nav=[("runs", "Runs"), ("summary", "Summary")])
    io.write_text(out_file, page)
    return out_file
