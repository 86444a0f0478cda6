r"""Shared guards for the file readers: one-line errors, folder confinement, bounded reads.

Every reader in ``latentzoo.data`` treats the user's files as untrusted input. The
rules they share live here:

* every problem is a :class:`~latentzoo.errors.UserError` whose message is one line,
  ``"<file>: <problem>"``, so the CLI can print it and exit 2;
* a path inside a dataset folder must resolve (symbolic links followed) to a place
  inside that folder;
* a file is opened only when it is a regular file (:func:`open_regular`): a FIFO, a
  device or a socket named like a data file is refused, never read (a FIFO would block);
* no reader allocates more than :func:`memory_limit` bytes (:data:`MAX_BYTES`, or less on a
  machine with less memory) for one array, counted at the element size really read, and
  every size a header claims is checked against the bytes really present before allocating;
* a compressed stream may inflate to at most :func:`inflation_limit` bytes, checked against
  the size its header claims before decompressing;
* labels are class indices 0 .. ``MAX_CLASSES`` − 1, checked in their own dtype;
* NumPy and Pillow warnings are silenced inside the readers (:func:`quiet`): the reader
  checks every value itself and reports one line.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import torch

from latentzoo.data.dataset import MAX_CLASSES, Dataset, split_train_test
from latentzoo.errors import UserError, one_line, printable

#: Largest amount of memory (in bytes) a reader may allocate for one array: 16 GiB.
MAX_BYTES = 16 * 2**30

#: A compressed stream may inflate to at most MAX_INFLATION_RATIO × its size, or INFLATION_ALLOWANCE
#: bytes when that is more (small, very compressible files stay readable). Deflate itself allows
#: 1032-fold (RFC 1951: 258 bytes from ~2 bits); real data sets inflate 2–10-fold (MNIST: 4.8).
MAX_INFLATION_RATIO = 100
INFLATION_ALLOWANCE = 64 * 2**20


def bad(path, problem: str) -> UserError:
    r"""The error every reader raises: ``UserError("<path>: <problem>")`` on one printable line.

    The path is escaped first (:func:`latentzoo.errors.printable`), so a newline or an
    escape sequence in a file name is shown as ``\x0a``/``\x1b``, never collapsed or sent raw.
    """
    return UserError(f"{printable(path)}: {problem}")


@contextlib.contextmanager
def quiet():
    r"""Silence Python warnings and NumPy floating-point reports inside a reader.

    A reader checks every value itself and raises one :class:`UserError` line; a NumPy
    ``RuntimeWarning`` (overflow in a cast) or a Pillow note printed first would make
    stderr more than that line.
    """
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def gib(n_bytes: int) -> str:
    r"""``n_bytes`` as GiB with one decimal, e.g. ``"29.8 GiB"``."""
    return f"{n_bytes / 2**30:.1f} GiB"


def _machine_memory() -> int | None:
    r"""Physical memory, or the cgroup (container) limit when lower; None when unknown."""
    sizes = []
    with contextlib.suppress(ValueError, OSError, AttributeError):
        sizes.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    with contextlib.suppress(ValueError, OSError):
        sizes.append(int(Path("/sys/fs/cgroup/memory.max").read_text().strip()))  # "max" → ValueError
    return min(sizes) if sizes else None


def memory_limit() -> tuple[int, str]:
    r"""(bytes, its description): :data:`MAX_BYTES`, or the machine's memory when that is less."""
    machine = _machine_memory()
    if machine is not None and machine < MAX_BYTES:
        return machine, f"this machine's {gib(machine)} of memory"
    return MAX_BYTES, f"the {MAX_BYTES // 2**30} GiB limit"


def inflation_limit(compressed_size: int) -> int:
    r"""Most bytes a compressed stream of ``compressed_size`` bytes may inflate to (see the constants)."""
    return max(INFLATION_ALLOWANCE, MAX_INFLATION_RATIO * compressed_size)


def inflation_problem(claimed: int, compressed_size: int) -> str | None:
    r"""Why ``claimed`` inflated bytes from ``compressed_size`` compressed ones are refused, or None."""
    if claimed <= inflation_limit(compressed_size):
        return None
    return (f"claims {claimed} bytes once decompressed, more than its {compressed_size} compressed bytes may "
            f"inflate to ({MAX_INFLATION_RATIO}-fold, or {INFLATION_ALLOWANCE // 2**20} MiB); refused as corrupt "
            f"or a decompression bomb (save such data uncompressed)")


def open_regular(path: Path):
    r"""Open ``path`` for binary reading when it is a regular file; a one-line error otherwise.

    Opened with ``O_NONBLOCK`` first, so that a FIFO (which would block until a writer
    comes) or a device opens at once and is refused by ``fstat``, with no race between
    the check and the read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except UserError:  # a refusal of ours (a ValueError too) passes through unchanged
        raise
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the name
        raise bad(path, f"cannot read ({describe_exception(error)})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise bad(path, f"is not a regular file (a {_file_kind(mode)}); refused")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
             (stat.S_ISSOCK, "socket"), (stat.S_ISDIR, "folder"))
    return next((name for test, name in kinds if test(mode)), "special file")


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
    r"""Size in bytes of a regular file; a clear error for anything else (FIFOs and devices included)."""
    try:
        st = path.stat()
    except UserError:  # a refusal of ours (a ValueError too) passes through unchanged
        raise
    except (OSError, ValueError) as error:
        raise bad(path, f"cannot read ({describe_exception(error)})") from None
    if not stat.S_ISREG(st.st_mode):
        raise bad(path, f"is not a regular file (a {_file_kind(st.st_mode)}); refused")
    return st.st_size


def read_bytes(path: Path, max_bytes: int) -> bytes:
    r"""Whole content of a regular file of at most ``max_bytes`` bytes, checked before reading."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise bad(path, f"is {gib(size)}; a file of this kind is read whole, so it may have at most "
                            f"{gib(max_bytes)} (a share of {memory_limit()[1]})")
        try:
            data = read_at_most(f, max_bytes + 1)
        except OSError as error:
            raise bad(path, f"cannot read ({describe_exception(error)})") from None
    if len(data) > max_bytes:  # the file grew while being read
        raise bad(path, f"grew past {gib(max_bytes)} while being read")
    return data


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
    try:
        buffer = np.empty(n, dtype=np.uint8)  # writable, and not zero-filled like bytearray(n)
    except MemoryError:
        raise MemoryError(f"{gib(n)} for {n} bytes of data could not be allocated") from None
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


def allocation_problem(n_values: int, what: str = "data", itemsize: int = 4, converted: bool = False) -> str | None:
    r"""Why ``n_values`` values read at ``itemsize`` bytes (then copied to float32 when ``converted``)
    do not fit in :func:`memory_limit`; None when they fit.

    Counted at the element size really read — a float64 array holds 8 bytes a value
    before its float32 copy holds 4 more — so the check precedes every allocation.
    """
    need = n_values * (itemsize + (4 if converted else 0))
    limit, where = memory_limit()
    if need <= limit:
        return None
    how = f"{itemsize}-byte values" + (" and their float32 copy" if converted else "")
    return f"{what} would need {gib(need)} ({n_values} {how}), more than {where}"


def check_allocation(path, n_values: int, what: str = "data", itemsize: int = 4, converted: bool = False) -> None:
    r"""Raise :func:`bad` with :func:`allocation_problem`'s reason when the values do not fit."""
    problem = allocation_problem(n_values, what, itemsize, converted)
    if problem:
        raise bad(path, problem)


def class_indices(path, array: np.ndarray, what: str = "labels") -> torch.Tensor:
    r"""Integer labels → int64 tensor; values must lie in 0 .. ``MAX_CLASSES`` − 1.

    The range is checked in the array's own dtype, before the conversion, so a uint64
    label of 2⁶⁴ − 1 is reported as such (not as −1 after wrapping to int64).
    """
    if array.size:
        lo, hi = array.min(), array.max()
        if lo < 0:
            raise bad(path, f"{what} must be non-negative class indices, found {lo}")
        if hi >= MAX_CLASSES:
            raise bad(path, f"{what} must be class indices below {MAX_CLASSES}, found {hi}")
    return torch.from_numpy(array.astype(np.int64))


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
    return Dataset(name, kind, x_train.float().contiguous(), x_test.float().contiguous(),
                   None if y_train is None else y_train.long(),
                   None if y_test is None else y_test.long())


def as_tensor(array) -> torch.Tensor:
    r"""A torch tensor owning a native-byte-order copy of a numpy array (read-only buffers too)."""
    return torch.from_numpy(np.array(array, dtype=array.dtype.newbyteorder("="), copy=True))
