"""Hostile dataset files (issue 14) for the bad-input table of ``tests/data/test_bad_inputs.py``.

Each case builds its input under ``tmp_path`` and returns (what to load, the file or folder the
message must name, a word the message must contain), like the cases of that table. Huge files
are sparse (``truncate``), so they cost no disk; FIFOs are real FIFOs (``os.mkfifo``).
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import zipfile
import zlib

import numpy as np

RNG = np.random.default_rng(1)
BIG = 2**64 - 1


def _u8(*shape):
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def _cifar(tmp_path, raw: bytes, name="data_batch_1", folder="cifar"):
    path = tmp_path / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path.parent, path


def _batch(**entries):
    batch = {"data": _u8(3, 3072), "labels": [1, 2, 3]}
    batch.update(entries)
    return pickle.dumps(batch, protocol=2)


def deep_tuple_key_pickle(depth: int) -> bytes:
    """A CIFAR batch whose extra dict key is ((...(None,)...),) nested ``depth`` levels (1 byte a level)."""
    head = pickle.dumps({"data": _u8(3, 3072), "labels": [1, 2, 3]}, protocol=2)[:-1]  # drop STOP
    return head + b"N" + b"\x85" * depth + b"K\x01s."  # SETITEM(key=nested tuple, value=1), STOP


# ------------------------------------------------------------------ nesting (item 1)

def cifar_key_nested_5000_deep(tmp_path, write):
    folder, f = _cifar(tmp_path, deep_tuple_key_pickle(5000))
    return folder, f, "nested more than 32"


def cifar_list_in_a_cycle(tmp_path, write):
    # PROTO 2, EMPTY_DICT, "data", EMPTY_LIST, BINPUT 0, BINGET 0, APPEND (the list holds itself), SETITEM
    folder, f = _cifar(tmp_path, b"\x80\x02}X\x04\x00\x00\x00data]q\x00h\x00as.")
    return folder, f, "cycle"


# ------------------------------------------------------------------ special files (item 8)

def cifar_fifo_batch(tmp_path, write):
    folder = tmp_path / "cifar"
    folder.mkdir()
    os.mkfifo(folder / "data_batch_1")
    return folder, folder / "data_batch_1", "not a regular file"


def idx_fifo_images(tmp_path, write):
    folder = tmp_path / "mnist"
    folder.mkdir()
    os.mkfifo(folder / "train-images-idx3-ubyte")
    return folder, folder / "train-images-idx3-ubyte", "not a regular file"


# ------------------------------------------------------------------ labels (items 9, 12)

def cifar_uint64_label_max(tmp_path, write):
    folder, f = _cifar(tmp_path, _batch(labels=np.array([1, BIG, 3], dtype=np.uint64)))
    return folder, f, str(BIG)


def cifar_label_1e12(tmp_path, write):
    folder, f = _cifar(tmp_path, _batch(labels=[1, 10**12, 3]))
    return folder, f, "below 65536, found 1000000000000"


def cifar_label_none(tmp_path, write):
    folder, f = _cifar(tmp_path, _batch(labels=[1, None, 3]))
    return folder, f, "found None"


def npz_label_1e12(tmp_path, write):
    path = tmp_path / "big_labels.npz"
    np.savez(path, x=np.ones((5, 3)), y=np.array([0, 1, 10**12, 0, 1]))
    return path, path, "below 65536"


def npz_uint64_label_max(tmp_path, write):
    path = tmp_path / "u64.npz"
    np.savez(path, x=np.ones((5, 3)), y=np.array([0, 1, BIG, 0, 1], dtype=np.uint64))
    return path, path, str(BIG)


def idx_label_1e9(tmp_path, write):
    folder = tmp_path / "m"
    write.idx(folder / "train-images-idx3-ubyte", _u8(3, 2, 2))
    labels = write.idx(folder / "train-labels-idx1-ubyte", np.array([0, 10**9, 1], dtype=np.int32))
    return folder, labels, "below 65536"


# ------------------------------------------------------------------ shapes (item 9)

def idx_65_dimensions(tmp_path, write):
    folder = tmp_path / "mnist"
    folder.mkdir()
    f = folder / "train-images-idx3-ubyte"
    f.write_bytes(bytes([0, 0, 8, 65]) + struct.pack(">I", 1) * 65 + b"\x07")
    return folder, f, "65 dimensions"


def _npy_header(shape, dtype=np.float32) -> bytes:
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1), dtype=dtype))
    header["shape"] = shape
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def npy_shape_with_true(tmp_path, write):
    path = tmp_path / "bool_shape.npy"
    path.write_bytes(_npy_header((True, 4)) + bytes(16))
    return path, path, "non-negative integer sizes"


def npy_40_dimensions(tmp_path, write):
    path = tmp_path / "deep.npy"
    path.write_bytes(_npy_header((1,) * 40) + bytes(4))
    return path, path, "at most 32"


def npz_float64_beyond_float32(tmp_path, write):
    # Cast to float32 these become inf (and NumPy warned "overflow encountered in cast").
    path = tmp_path / "huge_values.npz"
    np.savez(path, x=np.full((5, 3), 1e300))
    return path, path, "float32 range"


# ------------------------------------------------------------------ sizes (item 6)

def _sparse(path, header: bytes, total: int):
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(total)  # a hole: no disk used, reads as zeros
    return path


def npy_float64_sparse_32_gib(tmp_path, write):
    # 2^32 float64 values: 16 GiB as float32 (the old check's unit) but 32 GiB as read, then 16 more.
    path = tmp_path / "sparse.npy"
    header = _npy_header((2**32,), np.float64)
    _sparse(path, header, len(header) + 8 * 2**32)
    return path, path, "would need"


def idx_uint8_sparse_huge(tmp_path, write):
    folder = tmp_path / "mnist"
    folder.mkdir()
    dims = (2**15, 2**10, 2**10)  # 32 Gi values of 1 byte, then 4 bytes each as float32
    header = bytes([0, 0, 8, 3]) + struct.pack(">III", *dims)
    f = _sparse(folder / "train-images-idx3-ubyte", header, len(header) + 2**35)
    return folder, f, "would need"


def idx_float64_images_sparse(tmp_path, write):
    # Refused from the header alone (images must be uint8), before 8 GiB are read.
    folder = tmp_path / "mnist"
    folder.mkdir()
    dims = (2**10, 2**10, 2**10)
    header = bytes([0, 0, 0x0E, 3]) + struct.pack(">III", *dims)
    f = _sparse(folder / "train-images-idx3-ubyte", header, len(header) + 8 * 2**30)
    return folder, f, "uint8"


def cifar_batch_sparse_20_gib(tmp_path, write):
    folder = tmp_path / "cifar"
    folder.mkdir()
    f = _sparse(folder / "data_batch_1", b"\x80\x02", 20 * 2**30)
    return folder, f, "is read whole"


def gz_inflates_1000_fold(tmp_path, write):
    # ~70 kB of gzip that really inflates to 72 MiB of images: 1000-fold (deflate allows 1032).
    n = 72 * 2**20
    header = bytes([0, 0, 8, 3]) + struct.pack(">III", n // 1024, 32, 32)
    folder = tmp_path / "mnist"
    folder.mkdir()
    f = folder / "train-images-idx3-ubyte.gz"
    # Two gzip members, the header then the zeros: a gzip reader joins them into one stream.
    f.write_bytes(gzip.compress(header) + _gzip_member_of_zeros(n))
    return folder, f, "decompression bomb"


def _gzip_member_of_zeros(n: int) -> bytes:
    packer, parts, crc, chunk = zlib.compressobj(9, zlib.DEFLATED, -15), [], 0, bytes(2**20)
    for start in range(0, n, len(chunk)):
        piece = chunk[:min(len(chunk), n - start)]
        parts.append(packer.compress(piece))
        crc = zlib.crc32(piece, crc)
    parts.append(packer.flush())
    header = b"\x1f\x8b\x08\x00" + b"\x00" * 4 + b"\x00\xff"  # magic, deflate, no flags, mtime, OS
    return header + b"".join(parts) + struct.pack("<II", crc, n % 2**32)


def npz_member_inflates_1000_fold(tmp_path, write):
    n = 72 * 2**20
    path = tmp_path / "bomb.npz"
    header = _npy_header((n // 4, 1), np.float32)
    chunk = bytes(2**20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            member.write(header)
            for _ in range(n // len(chunk)):
                member.write(chunk)
    return path, path, "decompression bomb"


# ------------------------------------------------------------------ names echoed (item 11)

ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x9b31m"  # OSC (window title), CSI erase screen, C1 CSI


def file_name_with_escape_sequences(tmp_path, write):
    folder = tmp_path / f"evil{ESCAPES}"
    folder.mkdir()
    path = folder / f"x{ESCAPES}.npy"
    path.write_bytes(b"not an array")
    return path, path, "not a valid .npy"


def cifar_keys_with_escape_sequences(tmp_path, write):
    raw = pickle.dumps({"data": _u8(3, 3072), ESCAPES: 1, b"\x1b[31m": 2}, protocol=2)
    folder, f = _cifar(tmp_path, raw)
    return folder, f, "no 'labels' entry"


def cifar_huge_and_many_keys(tmp_path, write):
    # 5,000 keys, one of them 100 kB long: the message lists a few, each shortened.
    batch = {f"k{i}": i for i in range(5000)}
    batch["data"] = _u8(3, 3072)
    batch["z" * 100_000] = 0
    folder, f = _cifar(tmp_path, pickle.dumps(batch, protocol=2))
    return folder, f, "more"


def path_too_long(tmp_path, write):
    path = tmp_path / ("x" * 5000)
    return path, path, "cannot be read"


HOSTILE_CASES = [
    cifar_key_nested_5000_deep, cifar_list_in_a_cycle,
    cifar_fifo_batch, idx_fifo_images,
    cifar_uint64_label_max, cifar_label_1e12, cifar_label_none, npz_label_1e12, npz_uint64_label_max, idx_label_1e9,
    idx_65_dimensions, npy_shape_with_true, npy_40_dimensions, npz_float64_beyond_float32,
    npy_float64_sparse_32_gib, idx_uint8_sparse_huge, idx_float64_images_sparse, cifar_batch_sparse_20_gib,
    gz_inflates_1000_fold, npz_member_inflates_1000_fold,
    file_name_with_escape_sequences, cifar_keys_with_escape_sequences, cifar_huge_and_many_keys, path_too_long,
]


def npz_member_with_a_long_hostile_name(tmp_path, write):
    path = tmp_path / "names.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{ESCAPES}{'n' * 60_000}.npy", b"")
    return path, path, "holds an array named"


HOSTILE_CASES.append(npz_member_with_a_long_hostile_name)
