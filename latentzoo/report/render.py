r"""Rendering pages from the package's Jinja2 templates, with the style sheet and script inlined.

The templates (``templates/*.html``), the style sheet (``static/style.css``) and the script
(``static/report.js``) are package data; every page inlines the last two and embeds its
figures as ``data:image/png;base64,…`` URIs, so it is one self-contained file. Autoescaping
is on for every template: a value from a run's files is always inserted as text.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
from importlib import resources

import jinja2
from markupsafe import Markup

from latentzoo.report.files import read_figure_file

PACKAGE = "latentzoo.report"


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader(PACKAGE, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@functools.lru_cache(maxsize=None)
def _static(name: str) -> str:
    return resources.files(PACKAGE).joinpath("static", name).read_text(encoding="utf-8")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("latentzoo")
    except Exception:  # noqa: BLE001 - not installed: the page only shows it
        return "dev"


def render(template: str, **context) -> str:
    """The page of ``template`` (a file of ``templates/``) with ``context``; CSS and script inlined."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return _environment().get_template(template).render(
        css=Markup(_static("style.css")), script=Markup(_static("report.js")),
        version=_version(), stamp=stamp, **context)


def data_uri(png: bytes) -> str:
    """A PNG's bytes as a ``data:`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def png_size(png: bytes | str) -> tuple[int, int]:
    r"""(width, height) in pixels from a PNG's IHDR chunk (bytes 16–24, big-endian); (0, 0) if not a PNG.

    ``png`` is the file's bytes, or a path (read without following a final symbolic link).
    """
    if not isinstance(png, (bytes, bytearray)):
        png = read_figure_file(png) or b""
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n":
        return 0, 0
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def is_wide(png: bytes) -> bool:
    """Figures shown at their own size on a row of their own: at least 1000 px, or 600 px and 1.8:1."""
    width, height = png_size(png)
    return width >= 1000 or (width >= 600 and width >= 1.8 * max(height, 1))
