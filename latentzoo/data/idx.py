r"""MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST, EMNIST), raw or gzip-compressed.

The IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/) is a header and
then the values, big-endian:

    bytes 0-1   0x00 0x00                      (magic: two zero bytes)
    byte  2     dtype code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                            0x0D float32, 0x0E float64
    byte  3     ndim, the number of dimensions
    then        ndim × uint32 sizes, then prod(sizes) values.

Images are uint8 of ndim 3, (n, H, W); labels integer of ndim 1, (n,), class indices
below ``MAX_CLASSES``. The header is checked before any data is read: the dtype and
number of dimensions a file must have (images or labels; at most 32 in any case), then
the size it claims, prod(sizes) × itemsize bytes, against the bytes really present —
exactly equal for a raw file, within
:func:`~latentzoo.data.file_checks.inflation_limit` of the compressed size for a
``.gz`` file — and against the memory limit at the real element size. A gzip stream is
decompressed in chunks, never more than the claimed size + 1 bytes, so a bomb or a
lying header cannot exhaust memory. Only regular files are opened (a FIFO is refused).

A folder is recognised by its file names, ``<prefix>images<sep>idx3<sep>ubyte[.gz]`` and
``<prefix>labels<sep>idx1<sep>ubyte[.gz]`` (separators ``-``, ``_`` or ``.``): a prefix
containing ``train`` is the training split, one containing ``t10k`` or ``test`` the test
split; a folder with a single images file (and its labels) is split from the seed.

Images larger than memory allows (:func:`latentzoo.data.streaming.wants_streaming`) are not read
but memory-mapped (:func:`map_idx`): a raw file at its header's offset, a ``.gz`` one after
decompressing it once into an unnamed temporary file (a gzip stream cannot be mapped or indexed).
"""

from __future__ import annotations

import gzip
import math
import os
import re
import tempfile
import zlib
from pathlib import Path

import numpy as np
import torch

from latentzoo.data.dataset import Dataset
from latentzoo.data.file_checks import (
    allocation_problem,
    bad,
    check_inside,
    class_indices,
    describe_exception,
    inflation_problem,
    make_dataset,
    open_regular,
    read_at_most,
    read_into_buffer,
)
from latentzoo.data.streaming import wants_streaming
from latentzoo.errors import printable, short_repr

#: IDX dtype code → big-endian numpy dtype.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
INTEGER_CODES = (0x08, 0x09, 0x0B, 0x0C)
#: Most dimensions an IDX file may announce (the header allows 255; NumPy arrays stop at 64).
MAX_NDIM = 32

IDX_NAME = re.compile(r"^(?P<prefix>.*?)(?P<what>images|labels)[-_.]idx(?P<ndim>\d)[-_.]ubyte(?P<gz>\.gz)?$",
                      re.IGNORECASE)


def idx_files(folder: Path) -> dict[tuple[str, str], Path]:
    r"""IDX files of a folder keyed by (prefix, "images"|"labels"); a raw file wins over its ``.gz``."""
    found: dict[tuple[str, str], Path] = {}
    for entry in sorted(folder.iterdir()):
        match = IDX_NAME.match(entry.name)
        if match is None or entry.name.startswith("."):
            continue
        key = (match["prefix"].lower(), match["what"].lower())
        if key in found and not found[key].name.lower().endswith(".gz"):
            continue  # keep the raw file when both it and its .gz are present
        found[key] = entry
    return found


def read_idx(path: Path, role: str | None = None) -> np.ndarray:
    r"""Parse one IDX file (raw or ``.gz``) into a numpy array, refusing anything malformed.

    The header's claimed data size is checked against the file before allocating it
    (see the module docstring); a truncated or over-long file, a wrong magic number, an
    unknown dtype code and a zero ndim are each refused with a one-line message. With
    ``role`` ``"images"`` or ``"labels"`` the dtype and ndim that role needs are checked
    from the header too, before the data is read.
    """
    return _with_stream(path, lambda stream, size, compressed: _parse(path, stream, size, compressed, role))


def idx_shape(path: Path, role: str | None = None) -> tuple[int, ...]:
    """The sizes an IDX file's header announces, checked as :func:`read_idx` checks them; no data is read."""
    return _with_stream(path, lambda stream, size, compressed: _header(path, stream, size, compressed, role)[1])


def map_idx(path: Path, role: str | None = None) -> np.ndarray:
    r"""The values of an IDX file as a read-only memory map, for data larger than memory.

    A raw file is mapped at its header's offset. A gzip stream cannot be mapped: it is
    decompressed once, in chunks of 1 MiB, into an unnamed temporary file (in ``TMPDIR``;
    it needs the decompressed size on that disk and vanishes with the map), which is then
    mapped. The checks are :func:`read_idx`'s.
    """
    def body(stream, size, compressed):
        dtype, dims, header, expected = _header(path, stream, size, compressed, role)
        if not compressed:
            return np.memmap(path, dtype=dtype, mode="r", offset=header, shape=dims)
        copy = tempfile.TemporaryFile(prefix="latentzoo-idx-")
        written = 0
        while written <= expected and (chunk := stream.read(min(1 << 20, expected + 1 - written))):
            copy.write(chunk)
            written += len(chunk)
        if written != expected:
            raise bad(path, f"truncated: IDX header claims {_plural(dims)} ({expected} bytes of data) "
                            f"but only {written} bytes follow" if written < expected else
                            f"has extra bytes after the {expected} bytes of data the IDX header claims")
        copy.flush()
        return np.memmap(copy, dtype=dtype, mode="r", shape=dims)

    return _with_stream(path, body)


def _with_stream(path: Path, body):
    """``body(stream, file size, compressed)`` on the file (decompressed when ``.gz``); read errors as one line."""
    compressed = path.name.lower().endswith(".gz")
    try:
        with open_regular(path) as raw:
            size = os.fstat(raw.fileno()).st_size
            if not compressed:
                return body(raw, size, compressed)
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return body(stream, size, compressed)
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        what = "corrupt gzip data" if compressed else "cannot read"
        raise bad(path, f"{what} ({describe_exception(error)})") from None


def _header(path: Path, stream, size: int, compressed: bool, role: str | None):
    """(dtype, sizes, header bytes, data bytes) from the header, checked against the file's ``size``."""
    magic = read_at_most(stream, 4)
    if len(magic) < 4:
        raise bad(path, f"truncated IDX header: {len(magic)} bytes, expected at least 4")
    if magic[0] != 0 or magic[1] != 0:
        raise bad(path, f"wrong IDX magic number 0x{magic.hex()} (must start with two zero bytes)")
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        raise bad(path, f"unknown IDX dtype code 0x{code:02x} (known: 08, 09, 0b, 0c, 0d, 0e)")
    if ndim == 0 or ndim > MAX_NDIM:
        raise bad(path, f"IDX header says {ndim} dimensions; expected 1 to {MAX_NDIM}")
    raw_dims = read_at_most(stream, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise bad(path, f"truncated IDX header: {ndim} dimensions announced, file ends inside them")
    dims = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
    dtype = np.dtype(IDX_DTYPES[code])
    _check_role(path, role, dtype, dims)
    n_values = 1
    for d in dims:
        n_values *= d
    expected = n_values * dtype.itemsize
    header = 4 + 4 * ndim
    # Check the claim against the bytes present BEFORE allocating anything that size.
    if compressed:
        inflation = inflation_problem(header + expected, size)
        if inflation:
            raise bad(path, f"IDX header of {_plural(dims)} {inflation}")
    elif header + expected != size:
        problem = "truncated" if header + expected > size else "has extra bytes after the data"
        raise bad(path, f"{problem}: IDX header claims {_plural(dims)} ({header + expected} bytes) "
                        f"but the file has {size} bytes")
    return dtype, dims, header, expected


def _parse(path: Path, stream, size: int, compressed: bool, role: str | None) -> np.ndarray:
    dtype, dims, _, expected = _header(path, stream, size, compressed, role)
    n_values = expected // dtype.itemsize
    # Read at its own element size, then copied to float32 (images) or int64 (labels, ≤ 8 bytes).
    problem = allocation_problem(n_values, f"IDX data of {_plural(dims)}", dtype.itemsize, converted=True)
    if problem:
        raise bad(path, problem)
    if compressed:
        view = memoryview(read_at_most(stream, expected + 1))  # at most one byte beyond the claim
        data, extra = view[:expected], view[expected:]
    else:
        data, extra = read_into_buffer(stream, expected), stream.read(1)  # size already checked
    if len(data) < expected:
        raise bad(path, f"truncated: IDX header claims {_plural(dims)} ({expected} bytes of data) "
                        f"but only {len(data)} bytes follow")
    if extra:
        raise bad(path, f"has extra bytes after the {expected} bytes of data the IDX header claims")
    return np.frombuffer(data, dtype=dtype, count=n_values).reshape(dims)


def _plural(dims) -> str:
    return "×".join(str(d) for d in dims) + " values"


def _some_names(names, shown: int = 4) -> str:
    names = sorted(names)
    more = f", and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(short_repr(n, 60) for n in names[:shown]) + more


def _check_role(path: Path, role: str | None, dtype: np.dtype, dims: tuple[int, ...]) -> None:
    r"""Refuse, from the header alone, a dtype or shape that ``role`` ("images", "labels") cannot have."""
    shape = "(" + ", ".join(map(str, dims)) + ")"
    if role == "images" and (dtype != np.uint8 or len(dims) != 3):
        raise bad(path, f"expected uint8 images of 3 dimensions (n, H, W), got {dtype.newbyteorder('=')} "
                        f"of shape {shape}")
    if role == "images" and 0 in dims:
        raise bad(path, f"has no images (shape {shape})")
    if role == "labels" and (len(dims) != 1 or dtype.kind not in "iu"):
        raise bad(path, f"expected integer labels of 1 dimension, got {dtype.newbyteorder('=')} of shape {shape}")


def _images(path: Path) -> torch.Tensor:
    array = read_idx(path, "images")
    # uint8 → float in [0, 1]: x / 255, shape (n, 1, H, W).
    return torch.from_numpy(np.divide(array, np.float32(255), dtype=np.float32)).unsqueeze(1)


def _labels(path: Path, n_images: int, images_path: Path) -> torch.Tensor:
    array = read_idx(path, "labels")
    if array.shape[0] != n_images:
        raise bad(path, f"has {array.shape[0]} labels but {printable(images_path.name)} has {n_images} images")
    return class_indices(path, array)


def load_idx_folder(folder: Path, seed: int) -> Dataset:
    r"""Read a folder of IDX files: a train and a test pair, or one pair split from ``seed``."""
    root = folder.resolve()
    files = idx_files(folder)
    images = {prefix: p for (prefix, what), p in files.items() if what == "images"}
    labels = {prefix: p for (prefix, what), p in files.items() if what == "labels"}
    for prefix, p in labels.items():
        if prefix not in images:
            raise bad(p, "labels file without a matching images file in the same folder")
    if len(images) == 1:
        splits = {"train": next(iter(images))}
    else:
        splits = {}
        for prefix in images:
            split = "test" if ("t10k" in prefix or "test" in prefix) else "train" if "train" in prefix else None
            if split is None or split in splits:
                names = _some_names(p.name for p in images.values())
                raise bad(folder, f"cannot tell which IDX images file is train and which is test ({names})")
            splits[split] = prefix
        if set(splits) != {"train", "test"}:
            raise bad(folder, "several IDX images files but not one train and one t10k/test file")
    pairs = {}
    for split, prefix in splits.items():
        check_inside(root, images[prefix])
        if prefix in labels:
            check_inside(root, labels[prefix])
        pairs[split] = (images[prefix], labels.get(prefix))
    if wants_streaming(4 * sum(math.prod(idx_shape(p, "images")) for p, _ in pairs.values())):
        return _lazy_idx_folder(folder, pairs, seed)
    xs, ys = {}, {}
    for split, (image_path, label_path) in pairs.items():
        xs[split] = _images(image_path)
        ys[split] = None if label_path is None else _labels(label_path, xs[split].shape[0], image_path)
    return make_dataset(folder, "image", xs["train"], xs.get("test"), ys["train"], ys.get("test"), seed)


def _lazy_idx_folder(folder: Path, pairs: dict, seed: int) -> Dataset:
    """The images memory-mapped (:func:`map_idx`), the labels read whole; uint8 / 255 lies in [0, 1]."""
    from latentzoo.data.streaming import lazy_dataset

    parts = {}
    for split, (image_path, label_path) in pairs.items():
        source = map_idx(image_path, "images")
        parts[split] = (source, None if label_path is None else _labels(label_path, source.shape[0], image_path))
    return lazy_dataset(folder, "image", parts, layout="grey", scale=True, bounds=(0.0, 1.0), seed=seed)
