r"""Reading inside a run directory without trusting it.

A run directory may come from someone else (a colleague's results, a download), so every
file the report reads in it is opened the same careful way:

* path components below the run directory are opened one at a time with ``O_NOFOLLOW``
  (``openat`` on the parent's descriptor), so a symbolic link anywhere inside the run —
  ``figures/`` → ``/etc``, ``metrics.json`` → ``/dev/zero`` — is refused, not followed;
* ``O_NONBLOCK``, then ``fstat``: only a regular file is read, so a FIFO cannot hang the
  report and a device cannot feed it forever;
* a size limit per kind of file, checked on the open descriptor before reading, and again
  while reading (at most ``limit + 1`` bytes are ever read).

Every message that echoes a name passes through :func:`printable`: control characters
(ESC, newlines, …) are written as ``\x1b``-style escapes and long names are shortened, so a
hostile file name cannot drive the terminal or break the one-line error.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

from latentzoo.config import safe_yaml_load
from latentzoo.errors import UserError

MB = 1 << 20
JSON_LIMIT = 16 * MB      # metrics.json, logs/history.json
YAML_LIMIT = 1 * MB       # config.yaml: a few hundred bytes in practice, parsed by pure-Python YAML
PNG_LIMIT = 32 * MB       # each figure
PAGE_FIGURES_LIMIT = 128 * MB   # all figures of one page together
MAX_DEPTH = 32            # nesting of JSON/YAML values (a run's files nest 3 levels)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Refused(Exception):
    """A file inside a run directory that the report will not read; ``str`` is the reason."""


def printable(value, limit: int = 200) -> str:
    r"""``value`` as text safe for a terminal line: control characters escaped, at most ``limit`` characters.

    ``"a\x1b[31mb"`` → ``"a\\x1b[31mb"``; a longer text keeps its start and says how much was cut.
    """
    text = value if isinstance(value, str) else str(value)
    shown = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                    for ch in text[:limit])
    if len(text) > limit:
        shown += f"… ({len(text) - limit:,} more characters)"
    return shown


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with a note of how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def _open_below(root: Path, relative: str) -> int:
    """A descriptor of ``root/relative`` opened without following any link below ``root``."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    parts = Path(relative).parts
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            child = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        child = os.open(parts[-1], flags, dir_fd=fd)
    finally:
        os.close(fd)
    return child


def _reason(error: OSError) -> str:
    if error.errno in (errno.ELOOP, errno.EMLINK):
        return "a symbolic link (not followed)"
    if error.errno == errno.ENOTDIR:
        return "a path through something that is not a folder (or a symbolic link to one)"
    return error.strerror or type(error).__name__


def read_bytes(root: str | os.PathLike, relative: str, limit: int) -> bytes | None:
    """The bytes of ``root/relative``, a regular file of at most ``limit`` bytes; ``None`` when it is absent.

    Raises :class:`Refused` (with the reason) for a link, a FIFO, a device, a folder, a file
    over ``limit`` or one that cannot be read.
    """
    try:
        fd = _open_below(Path(root), relative)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise Refused(_reason(e)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a folder" if stat.S_ISDIR(info.st_mode)
                    else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a socket")
            raise Refused(f"{kind}, not a regular file")
        if info.st_size > limit:
            raise Refused(f"{info.st_size:,} bytes, over the limit of {limit:,}")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise Refused(f"grew past the limit of {limit:,} bytes while read")
        return data
    except OSError as e:
        raise Refused(_reason(e)) from None
    finally:
        os.close(fd)


def list_pngs(root: str | os.PathLike, folder: str) -> tuple[list[str], str | None]:
    """Names of the ``*.png`` entries of ``root/folder`` (sorted) and why the folder was refused, if it was."""
    try:
        fd = _open_below(Path(root), folder)
    except FileNotFoundError:
        return [], None
    except OSError as e:
        return [], _reason(e)
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            return [], "not a folder"
        return sorted(name for name in os.listdir(fd) if name.lower().endswith(".png")), None
    finally:
        os.close(fd)


def read_png(root: str | os.PathLike, relative: str) -> bytes:
    """A figure's bytes; :class:`Refused` unless it is a regular file of at most 32 MB that starts as a PNG."""
    data = read_bytes(root, relative, PNG_LIMIT)
    if data is None:
        raise Refused("missing")
    if not data.startswith(PNG_MAGIC):
        raise Refused("not a PNG image")
    return data


def read_json(root: Path, relative: str, limit: int = JSON_LIMIT):
    """Parsed JSON of ``root/relative`` (``None`` when absent); :class:`UserError` naming the path otherwise."""
    path = root / relative
    try:
        data = read_bytes(root, relative, limit)
    except Refused as e:
        raise UserError(f"{printable(path)}: refused: {e}") from None
    if data is None:
        return None
    try:
        value = json.loads(data.decode("utf-8"))
    except UserError:  # a refusal of ours (a ValueError too) passes through unchanged
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise UserError(f"{printable(path)}: unreadable JSON") from None
    _check_depth(value, path)
    return value


def read_yaml(root: Path, relative: str, limit: int = YAML_LIMIT):
    """Parsed YAML of ``root/relative`` (``None`` when absent, ``{}`` when empty); aliases are refused."""
    path = root / relative
    try:
        data = read_bytes(root, relative, limit)
    except Refused as e:
        raise UserError(f"{printable(path)}: refused: {e}") from None
    if data is None:
        return None
    try:
        value = safe_yaml_load(data.decode("utf-8"), printable(path))
    except UnicodeDecodeError:
        raise UserError(f"{printable(path)}: unreadable run configuration (not UTF-8)") from None
    _check_depth(value, path)
    return value


def _check_depth(value, path: Path) -> None:
    """Refuse values nested deeper than :data:`MAX_DEPTH` (they would exhaust the stack when shown)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UserError(f"{printable(path)}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            stack += [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item]


def read_figure_file(path: str | os.PathLike) -> bytes | None:
    """A PNG named by the caller (e.g. an index card's picture), its last component not followed; ``None`` if refused."""
    path = Path(path)
    try:
        return read_png(path.parent, path.name)
    except Refused:
        return None
