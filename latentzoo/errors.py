r"""Errors that the command line turns into one clear line on stderr, and the text rules they obey.

``UserError`` (exit code 2) is raised for anything the user can fix: a bad path, a
malformed file, an unknown option, an impossible value. ``TrainingFailed`` (exit
code 1) is raised when a run stops for a reason found during training, such as a
loss that became NaN; its message names the step, the likely cause and the fix.

Messages echo user data (file names, keys found inside files, option values), and a
terminal acts on control characters: ``ESC [ ... m`` (CSI) recolours or moves the
cursor, ``ESC ] ... BEL`` (OSC) sets the window title or writes the clipboard. So the
message of both errors is always :func:`one_line` and :func:`printable`: every control
character is shown as an escape (``\x1b``), never sent raw. :func:`short_repr` is the
only way a value of unbounded size enters a message: at most ~80 characters, computed
in bounded time whatever the value's size or depth.
"""

from __future__ import annotations

import reprlib
import unicodedata

#: Characters that reorder the text shown around them (bidirectional overrides, isolates, marks).
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Unicode categories written as escapes: controls (C0, DEL, C1), lone surrogates, line/paragraph separators.
_ESCAPED_CATEGORIES = ("Cc", "Cs", "Zl", "Zp")


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text, limit: int | None = None) -> str:
    r"""``str(text)`` with every terminal-control character written as an escape sequence.

    C0 controls (``\x00``–``\x1f``, ESC included), DEL, C1 controls (``\x80``–``\x9f``, CSI
    and OSC included) become ``\xNN``; line and paragraph separators, bidirectional
    overrides and lone surrogates (undecodable bytes of a file name) become ``\uNNNN``.
    Every other character, non-ASCII letters included, is kept. With ``limit``, the result is
    cut to at most that many characters (see :func:`shorten`).
    """
    if limit is not None:
        return shorten(text, limit)
    text = str(text)
    if text.isprintable():
        return text
    return "".join(_escape(c) if c in _BIDI_CONTROLS or unicodedata.category(c) in _ESCAPED_CATEGORIES else c
                   for c in text)


def one_line(text) -> str:
    r"""Collapse whitespace (newlines from third-party messages included) into single spaces."""
    return " ".join(str(text).split())


class _ShortRepr(reprlib.Repr):
    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 3, 40, 40, 40
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = 4

    def repr_int(self, x, level):
        if x.bit_length() > 128:  # repr of a huge int costs quadratic time (and may be refused)
            return f"<{x.bit_length()}-bit integer>"
        return super().repr_int(x, level)


def shorten(text, limit: int = 80) -> str:
    r""":func:`printable` ``text`` cut to at most ``limit`` characters (ending in ``...`` when cut)."""
    text = printable(str(text)[:4 * limit])  # an escape is 4-10 characters: 4 × limit is always enough
    return text if len(text) <= limit else text[:limit - 3] + "..."


def short_repr(value, limit: int = 80) -> str:
    r"""A printable repr of ``value`` of at most ``limit`` characters, in time bounded by its first items."""
    try:
        text = _ShortRepr().repr(value)
    except Exception:  # noqa: BLE001 - a value whose __repr__ fails is still described
        text = f"<{type(value).__name__}>"
    return shorten(text, limit)


class UserError(ValueError):
    """A problem with the user's input; the CLI prints it on one line and exits 2 (from Python: a ValueError).

    The message is stored as :func:`one_line` then :func:`printable`, so it can be echoed
    to a terminal as it is.
    """

    exit_code = 2

    def __init__(self, message: object = ""):
        super().__init__(printable(one_line(message)))


class TrainingFailed(Exception):
    """A run that had to stop (divergence); the CLI prints it on one line and exits 1."""

    exit_code = 1

    def __init__(self, message: object = ""):
        super().__init__(printable(one_line(message)))
