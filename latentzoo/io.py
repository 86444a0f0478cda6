"""Atomic file writes: every file latentzoo writes goes to a temporary file in the
same folder, is flushed to disk, then renamed over the target. A crash at any moment
leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import stat
import tempfile
from pathlib import Path

from latentzoo.errors import UserError


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb"):
    """Open a temporary file beside ``path``; on success it replaces ``path`` atomically."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        os.fchmod(fd, 0o644 & ~_umask())  # mkstemp makes 0600; give the file ordinary permissions
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        reason = "disk full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        raise UserError(f"cannot write {path}: {reason}; the previous file is left intact") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def torch_save(obj, path) -> None:
    """``torch.save`` to a temporary file, then rename."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getvalue())


def save_figure(fig, path) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
    return Path(path)


def read_json(path, limit: int = 1 << 24):
    """A JSON file of a run directory (a regular file, not a link, at most ``limit`` bytes); one UserError line
    when it cannot be read."""
    from latentzoo.errors import printable

    try:
        return json.loads(read_regular_file(Path(path), limit).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise UserError(f"{printable(str(path))}: unreadable JSON") from None


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path``: opened without following a symbolic link, a regular file, at most ``limit`` bytes."""
    from latentzoo.errors import printable

    shown = printable(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise UserError(f"{shown}: cannot open ({e.strerror or e}; symbolic links are not followed)") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{shown}: not a regular file")
        if info.st_size > limit:
            raise UserError(f"{shown}: {info.st_size:,} bytes, more than the limit of {limit:,}")
        return f.read(limit + 1)[:limit]
