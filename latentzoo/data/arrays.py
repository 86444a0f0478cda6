r"""NumPy ``.npy`` and ``.npz`` files, read without pickle and without trusting their headers.

A ``.npz`` holds the arrays ``x`` (required), ``y`` (integer labels), and optionally
``x_test`` / ``y_test``, which are then the test split (else the split is drawn from
the seed); a ``.npy`` holds ``x`` alone. Save them with ``np.savez(path, x=..., y=...)``.

The kind of data follows from the shape of ``x``:

    (n, 2)                          points   (2-D points)
    (n, d), d ≠ 2                   vector
    (n, H, W)                       image, grey → (n, 1, H, W)
    (n, C, H, W) or (n, H, W, C)    image with C ∈ {1, 3} (channels-first wins a tie)

Allowed dtypes are bool, integers and floats; integer images must lie in 0..255 and
are scaled x / 255, float images must already lie in [0, 1]. Labels must be 1-D
integers. Object arrays (which only pickle can load) are refused, as are complex,
string, structured and date dtypes.

Safety: each array's header is parsed with ``numpy.lib.format`` (header size capped by
numpy at 10 000 bytes); its shape must be a tuple of at most 32 non-negative integers
(``True`` is not a size) and its claimed size, prod(shape) × itemsize, must equal the
bytes present — the file size for ``.npy``, the member's size for ``.npz``, whose
members must be stored or deflated, with a declared size within
:func:`~latentzoo.data.file_checks.inflation_limit` of the compressed size — and fit in
memory at its real element size plus its float32 copy, all before anything that size is
allocated. Labels must be class indices below ``MAX_CLASSES``; float values must fit in
float32.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from latentzoo.data.dataset import Dataset
from latentzoo.data.file_checks import (
    allocation_problem,
    bad,
    class_indices,
    describe_exception,
    inflation_problem,
    make_dataset,
    open_regular,
    read_at_most,
    read_into_buffer,
)
from latentzoo.errors import UserError, short_repr, shorten

NPZ_KEYS = ("x", "y", "x_test", "y_test")
_PLAIN_KINDS = "biuf"
#: Most dimensions an array may have (NumPy's own limit is 64 in NumPy 2, 32 before).
MAX_NDIM = 32
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _read_npy_stream(stream, total_size: int, size_is_real: bool) -> np.ndarray:
    r"""Parse one ``.npy`` stream of ``total_size`` bytes; raise ValueError (or _Refused) when malformed."""
    shape, fortran, dtype, _ = npy_header(stream, total_size)
    count = math.prod(shape)
    expected = count * dtype.itemsize
    # ... and what reading it needs: its own bytes, then a float32 copy unless it is float32 already.
    converted = dtype != np.dtype(np.float32)
    problem = allocation_problem(count, f"shape {shape} of {dtype}", dtype.itemsize, converted)
    if problem:
        raise _Refused(f"is too large: {problem}")
    if size_is_real:  # a raw file or a stored member: total_size is what the file really holds
        data = read_into_buffer(stream, expected)
        if stream.read(1):
            data = None
    else:  # a deflated member: its declared size is only a claim
        data = read_at_most(stream, expected + 1)
    if data is None or len(data) != expected:
        raise _Refused(f"does not hold the {expected} bytes of data its header claims")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def npy_header(stream, total_size: int) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    r"""(shape, fortran order, dtype, data offset) of a ``.npy`` stream, checked against its ``total_size``."""
    fmt = np.lib.format
    version = fmt.read_magic(stream)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
    try:
        shape, fortran, dtype = read_header(stream)
    except Exception as error:  # noqa: BLE001 - numpy's header parser (ast, tokenize) on untrusted text
        raise ValueError(f"malformed .npy header ({describe_exception(error)})") from None
    if dtype.hasobject:
        raise _Refused("is an object array, which only pickle can load; refused "
                       "(save numbers, e.g. x.astype(np.float32))")
    if dtype.kind not in _PLAIN_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise _Refused(f"has dtype {dtype}; only bool, integer or float arrays are allowed")
    # numpy's parser accepts any int subclass, so (True, 4) passes it; sizes must be plain ints.
    if len(shape) > MAX_NDIM or not all(type(d) is int and d >= 0 for d in shape):
        raise _Refused(f"has shape {short_repr(shape)} in its header; expected at most {MAX_NDIM} "
                       f"non-negative integer sizes")
    count = 1
    for d in shape:
        count *= d
    header = stream.tell()
    expected = count * dtype.itemsize
    # The claim is checked against the bytes present BEFORE allocating anything that size.
    if header + expected != total_size:
        problem = "truncated" if header + expected > total_size else "has extra bytes after the data"
        raise _Refused(f"{problem}: its header claims shape {shape} of {dtype} "
                       f"({header + expected} bytes) but it has {total_size} bytes")
    return shape, fortran, dtype, header


class _Refused(ValueError):
    r"""A well-formed array that we refuse, with a message for the user."""


def read_npy(path: Path) -> np.ndarray:
    r"""One ``.npy`` file → array (see the module docstring for the checks)."""
    try:
        with open_regular(path) as stream:
            return _read_npy_stream(stream, os.fstat(stream.fileno()).st_size, size_is_real=True)
    except _Refused as error:
        raise bad(path, str(error)) from None
    except UserError:  # a refusal of ours (a ValueError too) passes through unchanged
        raise
    except (OSError, ValueError, EOFError) as error:
        raise bad(path, f"is not a valid .npy file ({describe_exception(error)})") from None


def read_npz(path: Path) -> dict[str, np.ndarray]:
    r"""The arrays of a ``.npz`` file keyed by name, refusing unknown names and unsafe members."""
    arrays: dict[str, np.ndarray] = {}
    try:
        with open_regular(path) as file, zipfile.ZipFile(file) as archive:
            size = os.fstat(file.fileno()).st_size
            infos = archive.infolist()
            names = [info.filename for info in infos]
            for info in infos:
                key = info.filename.removesuffix(".npy")
                if key not in NPZ_KEYS:
                    raise bad(path, f"holds an array named '{shorten(key, 60)}'; expected only {', '.join(NPZ_KEYS)} "
                                    f"(save with np.savez(file, x=..., y=...))")
                if names.count(info.filename) > 1:
                    raise bad(path, f"holds two arrays named '{key}'")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise bad(path, f"array '{key}' uses zip compression method {info.compress_type}; "
                                    f"only stored or deflated arrays (np.savez, np.savez_compressed) are read")
                if info.compress_size > size:
                    raise bad(path, f"array '{key}' claims {info.compress_size} compressed bytes in a "
                                    f"{size}-byte file; the file is corrupt")
                inflation = inflation_problem(info.file_size, info.compress_size)
                if info.compress_type == zipfile.ZIP_DEFLATED and inflation:
                    raise bad(path, f"array '{key}' {inflation}")
                if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
                    raise bad(path, f"array '{key}' is stored uncompressed but claims {info.file_size} bytes "
                                    f"in {info.compress_size}; the file is corrupt")
                try:
                    with archive.open(info) as stream:
                        arrays[key] = _read_npy_stream(stream, info.file_size,
                                                        size_is_real=info.compress_type == zipfile.ZIP_STORED)
                except _Refused as error:
                    raise bad(path, f"array '{key}' {error}") from None
    except UserError:  # a refusal of ours (a ValueError too) passes through unchanged
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, zlib.error,
            NotImplementedError, RuntimeError, OverflowError) as error:
        # RuntimeError: encrypted member; NotImplementedError: unsupported zip feature.
        raise bad(path, f"is not a valid .npz file ({describe_exception(error)})") from None
    return arrays


def _examples(path: Path, key: str, array: np.ndarray) -> tuple[torch.Tensor, str]:
    r"""Array ``key`` of the file → (float32 tensor, kind), images as (n, C, H, W) in [0, 1]."""
    if array.ndim < 2 or array.shape[0] == 0 or 0 in array.shape:
        raise bad(path, f"array '{key}' must have shape (n, features...) with n > 0, got {array.shape}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise bad(path, f"array '{key}' contains NaN or infinite values")
    if array.dtype.kind == "f" and array.dtype.itemsize > 4:
        lo, hi = float(array.min()), float(array.max())
        if max(-lo, hi) > _FLOAT32_MAX:
            raise bad(path, f"array '{key}' has values {lo:g}..{hi:g}, beyond the float32 range "
                            f"±{_FLOAT32_MAX:.1e} it is trained in")
    kind, layout = array_layout(path, key, array.shape)
    array = to_layout(array, layout)
    if kind == "image" and array.dtype.kind in "iu":
        lo, hi = array.min(), array.max()
        if lo < 0 or hi > 255:
            raise bad(path, f"integer image array '{key}' has values {lo}..{hi}; expected 0..255")
        values = np.divide(array, np.float32(255), dtype=np.float32)  # x / 255 into [0, 1]
    else:  # no copy when the data already is writable float32
        values = array.astype(np.float32, copy=not array.flags.writeable)
    if kind == "image" and array.dtype.kind == "f":
        lo, hi = float(values.min()), float(values.max())
        if lo < 0 or hi > 1:
            raise bad(path, f"float image array '{key}' has values {lo:g}..{hi:g}; expected [0, 1] "
                            "(or save uint8 values 0..255)")
    return torch.from_numpy(np.ascontiguousarray(values)), kind


def array_layout(path: Path, key: str, shape: tuple[int, ...]) -> tuple[str, str]:
    r"""(kind, layout) of an array of ``shape``: layout ``plain``, ``grey`` (n, H, W) or ``nhwc``."""
    if len(shape) == 2:
        return ("points" if shape[1] == 2 else "vector"), "plain"
    if len(shape) == 3:
        return "image", "grey"
    if len(shape) == 4 and shape[1] in (1, 3):
        return "image", "plain"
    if len(shape) == 4 and shape[3] in (1, 3):
        return "image", "nhwc"
    raise bad(path, f"cannot tell the kind of data from the shape {shape} of '{key}': expected "
                    "(n, d), (n, H, W), (n, C, H, W) or (n, H, W, C) with C = 1 or 3")


def to_layout(array: np.ndarray, layout: str) -> np.ndarray:
    r"""Rows of an array in ``layout`` as (n, C, H, W) images or (n, d) rows (a view, no copy)."""
    if layout == "grey":
        return array[:, None]  # (n, H, W) → (n, 1, H, W)
    if layout == "nhwc":
        return array.transpose(0, 3, 1, 2)  # (n, H, W, C) → (n, C, H, W)
    return array


def _labels(path: Path, key: str, array: np.ndarray, n: int, x_key: str) -> torch.Tensor:
    if array.dtype.kind not in "iu" or array.ndim != 1:
        raise bad(path, f"labels '{key}' must be a 1-D integer array, got {array.dtype} of shape {array.shape}")
    if array.shape[0] != n:
        raise bad(path, f"labels '{key}' has {array.shape[0]} entries but '{x_key}' has {n} examples")
    return class_indices(path, array, f"labels '{key}'")


def load_array_file(path: Path, seed: int) -> Dataset:
    r"""Read a ``.npy`` or ``.npz`` file (see the module docstring)."""
    if path.suffix.lower() == ".npy":
        arrays = {"x": read_npy(path)}
    else:
        arrays = read_npz(path)
    if "x" not in arrays:
        found = ", ".join(sorted(arrays)) or "no arrays"
        raise bad(path, f"has no array named 'x' (found: {found}); save with np.savez(file, x=..., y=...)")
    if "y_test" in arrays and "x_test" not in arrays:
        raise bad(path, "has 'y_test' but no 'x_test'")
    if "x_test" in arrays and ("y" in arrays) != ("y_test" in arrays):
        raise bad(path, "has labels for only one split: give both 'y' and 'y_test', or neither")
    x_train, kind = _examples(path, "x", arrays["x"])
    x_test = y_train = y_test = None
    if "x_test" in arrays:
        x_test, test_kind = _examples(path, "x_test", arrays["x_test"])
        if test_kind != kind or x_test.shape[1:] != x_train.shape[1:]:
            raise bad(path, f"'x_test' examples have shape {tuple(x_test.shape[1:])} but 'x' examples "
                            f"{tuple(x_train.shape[1:])}")
    if "y" in arrays:
        y_train = _labels(path, "y", arrays["y"], x_train.shape[0], "x")
    if "y_test" in arrays:
        y_test = _labels(path, "y_test", arrays["y_test"], x_test.shape[0], "x_test")
    return make_dataset(path, kind, x_train, x_test, y_train, y_test, seed)
