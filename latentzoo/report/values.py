r"""Values as the pages show them: numbers formatted, everything else bounded in length.

Nothing read from a run reaches a page unbounded: text is cut at :data:`TEXT_LIMIT`
characters, nested values are shown as JSON cut at :data:`JSON_LIMIT` characters, names at
:data:`NAME_LIMIT`, and control characters are escaped (:func:`~latentzoo.report.files.printable`).
The templates escape what they insert (Jinja2 autoescaping), so these are plain strings.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from latentzoo.report.declared import is_number
from latentzoo.report.files import clip, printable

TEXT_LIMIT = 1000
JSON_LIMIT = 300
NAME_LIMIT = 120


def format_number(value) -> str:
    r"""A number as people read it: ``1.30037 → 1.3``, ``15357.5 → 15,357.5``, ``3e-06 → 3.000e-06``.

    Integers get thousands separators; floats 4 significant digits, with scientific notation
    below 1e-3 and from 1e6 up; booleans are yes/no; NaN and infinities are spelled out.
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return clip(f"{value:,}", 40)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        a = abs(value)
        if value == 0:
            return "0"
        if a < 1e-3 or a >= 1e6:
            return f"{value:.3e}"
        if a >= 1000:
            return f"{value:,.1f}"
        return f"{value:.4g}"
    return text(value)


def text(value, limit: int = TEXT_LIMIT) -> str:
    """Any value as bounded, printable text."""
    return printable(value, limit)


def name(value) -> str:
    """A key or a file name as bounded, printable text."""
    return printable(value, NAME_LIMIT)


def as_json(value, limit: int = JSON_LIMIT) -> str:
    """A nested value as compact JSON, cut at ``limit`` characters."""
    try:
        dumped = json.dumps(value, default=str, ensure_ascii=False)
    except (ValueError, RecursionError):
        dumped = type(value).__name__
    return printable(dumped, limit)


@dataclass(frozen=True)
class Shown:
    """One value on a page: ``kind`` picks the markup (none, num, text, code), ``title`` the hover text."""

    kind: str
    text: str = ""
    title: str = ""


def shown(value) -> Shown:
    """A metric value for a table cell: numbers formatted (full value on hover), others bounded."""
    if value is None:
        return Shown("none")
    if is_number(value) or isinstance(value, bool):
        return Shown("num", format_number(value), clip(repr(value), 40))
    if isinstance(value, (list, tuple)) and all(is_number(v) or isinstance(v, str) for v in value):
        return Shown("text", text(", ".join(format_number(v) for v in value[:100])))
    if isinstance(value, (list, dict)):
        return Shown("code", as_json(value))
    return Shown("text", text(value))


def option(value) -> Shown:
    """A configuration value: ``none``, ``true``/``false``, a number or code."""
    if value is None:
        return Shown("none", "none")
    if isinstance(value, bool):
        return Shown("num", "true" if value else "false")
    if is_number(value):
        return Shown("num", clip(str(value), 40))
    if isinstance(value, (dict, list)):
        return Shown("code", as_json(value))
    return Shown("code", text(value))


def is_findings(value) -> bool:
    """A list of ``{name, detected, ...}`` records (the GAN's diagnosis)."""
    return (isinstance(value, list) and bool(value)
            and all(isinstance(v, dict) and "name" in v and "detected" in v for v in value))


def is_structured(value) -> bool:
    """Lists of dicts and dicts get a panel of their own, not a table cell."""
    return isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict) for v in value))


def findings(records: list[dict]) -> dict:
    """A diagnosis as the page shows it: a summary line and one card per finding."""
    detected = sum(bool(f.get("detected")) for f in records)
    summary = (f"{detected} of {len(records)} problems detected" if detected
               else f"none of the {len(records)} problems checked was detected")
    cards = []
    for f in records:
        parts = [(part, text(f[part])) for part in ("evidence", "remedy") if f.get(part)]
        extra = [(name(k), shown(v)) for k, v in f.items() if k not in ("name", "detected", "evidence", "remedy")]
        cards.append({"name": name(str(f["name"]).replace("_", " ")), "hit": bool(f.get("detected")),
                      "parts": parts, "extra": extra})
    return {"summary": summary, "cards": cards}


def structured(value) -> dict:
    """A dict as key/value rows, a list of dicts as a table over the union of their keys."""
    if isinstance(value, dict):
        return {"kind": "kv", "rows": [(name(k), shown(v)) for k, v in value.items()]}
    rows = [v if isinstance(v, dict) else {"value": v} for v in value]
    cols = list(dict.fromkeys(k for r in rows for k in r))
    return {"kind": "grid", "cols": [name(c) for c in cols],
            "rows": [[shown(r.get(c)) for c in cols] for r in rows]}


def seconds(value) -> str | None:
    """A duration as people read it: ``0.239 s``, ``3 min 12 s``, ``1 h 4 min``."""
    if not is_number(value) or not math.isfinite(value):
        return None
    if value < 60:
        return f"{value:.3g} s"
    minutes, secs = divmod(value, 60)
    if minutes < 60:
        return f"{int(minutes)} min {secs:.0f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)} h {int(minutes)} min"
