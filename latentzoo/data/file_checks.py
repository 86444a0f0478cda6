r"""Shared guards for the file readers: one-line errors, folder confinement, bounded reads.

Every reader in ``latentzoo.data`` treats the user's files as untrusted input. The
rules they share live here:

* every problem is a :class:`~latentzoo.errors.UserError` whose message is one line,
  ``"<file>: <problem>"``, so the CLI can print it and exit 2;
* a path inside a dataset folder must resolve (symbolic links followed) to a place
  inside that folder;
* no reader allocates more than :data:`MAX_BYTES` for one array, and every size a
  header claims is checked against the bytes really present before allocating.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from latentzoo.data import Dataset, split_train_test
from latentzoo.errors import UserError

#: Largest array (in bytes, as float32 once loaded) any reader will build: 16 GiB.
MAX_BYTES = 16 * 2**30

#: A deflate stream expands its input at most 1032-fold (RFC 1951: 258 bytes from ~2 bits),
#: so n compressed bytes hold at most 1032·n + a small constant bytes of data.
DEFLATE_MAX_RATIO = 1032


def one_line(text: str) -> str:
    r"""Collapse whitespace (newlines from third-party messages included) into single spaces."""
    return " ".join(str(text).split())


def bad(path, problem: str) -> UserError:
    r"""The error every reader raises: ``UserError("<path>: <problem>")`` on one line."""
    return UserError(one_line(f"{path}: {problem}"))


def describe_exception(error: BaseException) -> str:
    r"""Short text for an exception raised by a parser (its type when it has no message)."""
    text = one_line(str(error))
    name = type(error).__name__
    if not text:
        return name
    return f"{text} ({name})" if len(text) < 200 else f"{text[:200]}... ({name})"


def check_inside(root: Path, path: Path) -> Path:
    r"""Return ``path`` resolved, refusing it when it leads outside the folder ``root``.

    ``root`` must already be resolved. Symbolic links are followed, so a link whose
    target lies outside ``root`` (or a link loop) is refused with a message naming it.
    """
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError) as error:  # RuntimeError: symlink loop on Python < 3.13
        raise bad(path, f"cannot be resolved ({describe_exception(error)})") from None
    if resolved != root and root not in resolved.parents:
        raise bad(path, f"leads outside the dataset folder {root} (to {resolved}); refused")
    return resolved


def visible_entries(folder: Path) -> list[os.DirEntry]:
    r"""Entries of ``folder`` whose names do not start with a dot, sorted by name."""
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if not e.name.startswith(".")]
    except OSError as error:
        raise bad(folder, f"cannot list the folder ({describe_exception(error)})") from None
    return sorted(entries, key=lambda e: e.name)


def file_size(path: Path) -> int:
    r"""Size in bytes of a regular file; a clear error for anything else."""
    try:
        st = path.stat()
    except OSError as error:
        raise bad(path, f"cannot read ({describe_exception(error)})") from None
    if not path.is_file():
        raise bad(path, "is not a regular file")
    return st.st_size


def read_bytes(path: Path) -> bytes:
    r"""Whole content of a file, with OS errors turned into one-line user errors."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as error:
        raise bad(path, f"cannot read ({describe_exception(error)})") from None


def read_at_most(stream, n: int, chunk: int = 1 << 18) -> bytes:
    r"""Read up to ``n`` bytes in chunks of 256 KiB: never asks a stream for a claimed size at once.

    ``BufferedReader.read(n)`` and ``GzipFile.read(n)`` allocate ``n`` bytes up front, so
    a lying header could make one call ask for terabytes; reading in chunks keeps the
    memory used proportional to the bytes really there.
    """
    parts, left = [], n
    while left > 0:
        part = stream.read(min(left, chunk))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_into_buffer(stream, n: int, chunk: int = 1 << 18):
    r"""Read ``n`` bytes into one writable buffer allocated up front, 256 KiB per read call.

    Only for a size already proven to be backed by real bytes (a raw file whose size was
    checked, a stored zip member); a shorter result means the stream ended early. Returns
    a uint8 numpy array (any buffer-protocol consumer, e.g. ``np.frombuffer``, can read it). Small
    reads copied into place beat one huge read (no second buffer of size n, fewer page faults).
    """
    import numpy as np

    buffer = np.empty(n, dtype=np.uint8)  # writable, and not zero-filled like bytearray(n)
    view, got = memoryview(buffer), 0
    direct = isinstance(stream, (io.BufferedReader, io.FileIO))  # a plain file: the OS fills the buffer
    while got < n:
        if direct:
            count = stream.readinto(view[got:])
        else:
            part = stream.read(min(chunk, n - got))
            count = len(part)
            view[got:got + count] = part
        if not count:
            break
        got += count
    view.release()
    return buffer if got == n else buffer[:got]


def check_allocation(path, n_values: int, what: str = "data") -> None:
    r"""Refuse an array of ``n_values`` float32 values larger than :data:`MAX_BYTES`."""
    if n_values * 4 > MAX_BYTES:
        raise bad(path, f"{what} would need {n_values * 4 / 2**30:.1f} GiB as float32, "
                        f"more than the {MAX_BYTES // 2**30} GiB limit")


def make_dataset(path, kind: str, x_train, x_test=None, y_train=None, y_test=None,
                 seed: int = 0) -> Dataset:
    r"""Build a :class:`Dataset` named after ``path``; split from ``seed`` when no test split is given.

    The split is :func:`latentzoo.data.split_train_test` (20 % test, a permutation drawn
    from ``torch.Generator().manual_seed(seed)``), so the same seed gives the same split.
    Naming the dataset after the path makes the Dataset's own checks (NaN or infinite
    values, mismatched shapes or label counts) name the file too.
    """
    name = str(path)
    if x_test is None:
        if x_train.shape[0] < 2:
            raise bad(path, f"needs at least 2 examples to split into train and test, got {x_train.shape[0]}")
        x_train, x_test, y_train, y_test = split_train_test(x_train, y_train, seed)
    for x, split in ((x_train, "train"), (x_test, "test")):
        if x.shape[0] == 0:
            raise bad(path, f"the {split} split has no examples")
    if (y_train is None) != (y_test is None):
        raise bad(path, "labels are given for only one of the train and test splits")
    for y in (y_train, y_test):
        if y is not None and y.numel() and int(y.min()) < 0:
            raise bad(path, f"labels must be non-negative class indices, found {int(y.min())}")
    return Dataset(name, kind, x_train.float().contiguous(), x_test.float().contiguous(),
                   None if y_train is None else y_train.long(),
                   None if y_test is None else y_test.long())


def as_tensor(array) -> torch.Tensor:
    r"""A torch tensor owning a native-byte-order copy of a numpy array (read-only buffers too)."""
    import numpy as np

    return torch.from_numpy(np.array(array, dtype=array.dtype.newbyteorder("="), copy=True))
