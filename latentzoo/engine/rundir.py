"""The run directory: refuse to clobber what is not latentzoo's, lock against a second run.

A run directory is marked by the file ``.latentzoo-run``, written before anything else.
``--force`` deletes and ``fit`` overwrites only in a marked directory (or one holding a
run saved before the marker existed); a folder of the user's own files that happen to be
called ``metrics.json`` or ``figures/`` is refused, never emptied. The lock file is opened
without following symbolic links.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

from latentzoo.errors import UserError, printable

MARKER = ".latentzoo-run"
RUN_FILES = ("config.yaml", "metrics.json", "weights.safetensors", "report.html")
RUN_DIRS = ("checkpoints", "logs", "figures")


def is_run_dir(out_dir: Path) -> bool:
    """A directory latentzoo made: it has the marker (or a config.yaml and checkpoints of an older run)."""
    if (out_dir / MARKER).is_file() and not (out_dir / MARKER).is_symlink():
        return True
    return (out_dir / "config.yaml").is_file() and (out_dir / "checkpoints").is_dir()


def check_run_dir(out_dir: Path, resume: bool, force: bool) -> None:
    """Refuse a path that is a file, a finished run without --resume/--force, a resume of nothing,
    and a directory holding files of latentzoo's names that latentzoo did not write."""
    shown = printable(str(out_dir))
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise UserError(f"output path {shown} exists and is not a directory")
    if not out_dir.is_dir():
        if resume:
            raise UserError(f"nothing to resume in {shown}: it does not exist")
        return
    ours = is_run_dir(out_dir)
    clashes = [n for n in (*RUN_FILES, *RUN_DIRS) if os.path.lexists(out_dir / n)]
    if clashes and not ours:
        raise UserError(f"{shown} is not a latentzoo run directory but holds {', '.join(clashes)}; "
                        "choose another --out (latentzoo never overwrites files it did not write)")
    if ours and not (resume or force):
        raise UserError(f"{shown} already holds a run; use --resume to continue it or --force to replace it")
    if resume and not (out_dir / "config.yaml").is_file():
        raise UserError(f"nothing to resume in {shown}: it has no config.yaml")


def prepare_run_dir(out_dir: Path, resume: bool, force: bool) -> None:
    """Check, create and mark the run directory."""
    check_run_dir(out_dir, resume, force)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output directory {printable(str(out_dir))}: {e.strerror or e}") from None
    if not os.access(out_dir, os.W_OK):
        raise UserError(f"output directory {printable(str(out_dir))} is not writable")
    if not (out_dir / MARKER).is_file():
        from latentzoo import io

        io.write_text(out_dir / MARKER, "a latentzoo run directory: fit --force may replace what is here\n")


@contextlib.contextmanager
def run_lock(out_dir: Path):
    """An exclusive lock on the run directory, released by the OS if the process dies."""
    path = out_dir / ".lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as e:
        raise UserError(f"cannot lock {printable(str(out_dir))}: {e.strerror or e} ({path.name} must be a "
                        "regular file)") from None
    with os.fdopen(fd, "r+") as handle:
        if not _is_regular(fd):
            raise UserError(f"cannot lock {printable(str(out_dir))}: {path.name} is not a regular file")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = printable(handle.read(32).strip()) or "another process"
            raise UserError(f"{printable(str(out_dir))} is in use by another latentzoo run (pid {holder}); "
                            "wait for it to finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def _is_regular(fd: int) -> bool:
    import stat

    return stat.S_ISREG(os.fstat(fd).st_mode)


def clear_run(out_dir: Path) -> None:
    """Remove the outputs of a previous run (``--force``): only in a run directory, only latentzoo's names."""
    if not is_run_dir(out_dir):
        return
    for name in RUN_FILES:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            (out_dir / name).unlink()
    for name in RUN_DIRS:
        path = out_dir / name
        if path.is_symlink():
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)
