"""Table of bad inputs across every format: each gives one UserError line naming the problem and the file.

Each case builds its bad input under ``tmp_path`` and returns (what to load, the file or
folder the message must name, a word the message must contain).
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import warnings

import numpy as np
import pytest
from array_cases import ARRAY_CASES
from hostile_data import HOSTILE_CASES

from latentzoo.data import load_dataset
from latentzoo.errors import UserError, printable

RNG = np.random.default_rng(0)


def u8(*shape):
    return RNG.integers(0, 256, shape, dtype=np.uint8)


# ------------------------------------------------------------------ IDX

def idx_with(tmp_path, write, raw: bytes, name="train-images-idx3-ubyte"):
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / name).write_bytes(raw)
    return folder, folder / name


def idx_truncated_data(tmp_path, write):
    folder, f = idx_with(tmp_path, write, write.idx_bytes(u8(4, 3, 3))[:-5])
    return folder, f, "truncated"


def idx_truncated_header(tmp_path, write):
    folder, f = idx_with(tmp_path, write, b"\x00\x00")
    return folder, f, "truncated IDX header"


def idx_truncated_inside_dims(tmp_path, write):
    folder, f = idx_with(tmp_path, write, bytes([0, 0, 8, 3]) + struct.pack(">I", 4))
    return folder, f, "truncated IDX header"


def idx_wrong_magic(tmp_path, write):
    folder, f = idx_with(tmp_path, write, b"\x08\x03" + write.idx_bytes(u8(4, 3, 3))[2:])
    return folder, f, "magic"


def idx_unknown_dtype_code(tmp_path, write):
    raw = bytearray(write.idx_bytes(u8(4, 3, 3)))
    raw[2] = 0x07
    folder, f = idx_with(tmp_path, write, bytes(raw))
    return folder, f, "dtype code"


def idx_zero_ndim(tmp_path, write):
    folder, f = idx_with(tmp_path, write, bytes([0, 0, 8, 0]))
    return folder, f, "0 dimensions"


def idx_images_of_two_dims(tmp_path, write):
    folder, f = idx_with(tmp_path, write, write.idx_bytes(u8(4, 9)))
    return folder, f, "3 dimensions"


def idx_images_not_uint8(tmp_path, write):
    folder, f = idx_with(tmp_path, write, write.idx_bytes(np.zeros((4, 3, 3), dtype=np.int32)))
    return folder, f, "uint8"


def idx_extra_bytes(tmp_path, write):
    folder, f = idx_with(tmp_path, write, write.idx_bytes(u8(4, 3, 3)) + b"junk")
    return folder, f, "extra bytes"


def idx_no_images(tmp_path, write):
    folder, f = idx_with(tmp_path, write, write.idx_bytes(u8(0, 3, 3)))
    return folder, f, "no images"


def idx_label_count_mismatch(tmp_path, write):
    folder = tmp_path / "m"
    write.idx(folder / "train-images-idx3-ubyte", u8(5, 3, 3))
    labels = write.idx(folder / "train-labels-idx1-ubyte", u8(4))
    return folder, labels, "4 labels"


def idx_labels_not_integers(tmp_path, write):
    folder = tmp_path / "m"
    write.idx(folder / "train-images-idx3-ubyte", u8(5, 3, 3))
    labels = write.idx(folder / "train-labels-idx1-ubyte", np.zeros(5, dtype=np.float32))
    return folder, labels, "integer labels"


def idx_labels_without_images(tmp_path, write):
    folder = tmp_path / "m"
    write.idx(folder / "train-images-idx3-ubyte", u8(5, 3, 3))
    labels = write.idx(folder / "t10k-labels-idx1-ubyte", u8(5))
    return folder, labels, "without a matching images"


def idx_two_train_files(tmp_path, write):
    folder = tmp_path / "ambiguous"
    write.idx(folder / "a-train-images-idx3-ubyte", u8(5, 3, 3))
    write.idx(folder / "b-train-images-idx3-ubyte", u8(5, 3, 3))
    return folder, folder, "cannot tell"


def idx_symlink_escapes(tmp_path, write):
    folder = tmp_path / "m"
    write.idx(folder / "train-images-idx3-ubyte", u8(5, 3, 3))
    outside = write.idx(tmp_path / "elsewhere" / "labels", u8(5))
    link = folder / "train-labels-idx1-ubyte"
    link.symlink_to(outside)
    return folder, link, "outside"


def gz_truncated(tmp_path, write):
    raw = gzip.compress(write.idx_bytes(u8(50, 8, 8)))
    folder, f = idx_with(tmp_path, write, raw[: len(raw) // 2], "train-images-idx3-ubyte.gz")
    return folder, f, "gzip"


def gz_corrupted(tmp_path, write):
    raw = bytearray(gzip.compress(write.idx_bytes(np.zeros((50, 8, 8), dtype=np.uint8))))
    raw[-6] ^= 0xFF  # inside the CRC-32 / size trailer
    folder, f = idx_with(tmp_path, write, bytes(raw), "train-images-idx3-ubyte.gz")
    return folder, f, "gzip"


def gz_not_gzip(tmp_path, write):
    folder, f = idx_with(tmp_path, write, write.idx_bytes(u8(4, 3, 3)), "train-images-idx3-ubyte.gz")
    return folder, f, "gzip"


def gz_header_claims_1e12_items(tmp_path, write):
    raw = gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">III", 10**6, 10**3, 10**3) + bytes(100))
    folder, f = idx_with(tmp_path, write, raw, "train-images-idx3-ubyte.gz")
    return folder, f, "claims"


def raw_header_claims_1e12_items(tmp_path, write):
    folder, f = idx_with(tmp_path, write, bytes([0, 0, 8, 3]) + struct.pack(">III", 10**6, 10**3, 10**3))
    return folder, f, "truncated"


# ------------------------------------------------------------------ CIFAR

def cifar_with(tmp_path, raw: bytes, name="data_batch_1"):
    folder = tmp_path / "cifar"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(raw)
    return folder, folder / name


def batch(data=None, labels=None, **extra):
    b = {"data": u8(3, 3072) if data is None else data, "labels": [1, 2, 3] if labels is None else labels}
    b.update(extra)
    return b


def cifar_symlink_escapes(tmp_path, write):
    outside = tmp_path / "private" / "batch"
    outside.parent.mkdir()
    outside.write_bytes(pickle.dumps(batch(), protocol=2))
    folder = tmp_path / "cifar"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(pickle.dumps(batch(), protocol=2))
    link = folder / "test_batch"
    link.symlink_to(outside)
    return folder, link, "outside"


def cifar_planted_code(tmp_path, write):
    folder, f = cifar_with(tmp_path, write.malicious_pickle(tmp_path / "marker"))
    return folder, f, "refused to unpickle __builtin__.exec"


def cifar_not_a_pickle(tmp_path, write):
    folder, f = cifar_with(tmp_path, b"this is not a pickle at all")
    return folder, f, "not a valid pickle"


def cifar_truncated(tmp_path, write):
    raw = pickle.dumps(batch(), protocol=2)
    folder, f = cifar_with(tmp_path, raw[: len(raw) // 2])
    return folder, f, "not a valid pickle"


def cifar_not_a_dict(tmp_path, write):
    folder, f = cifar_with(tmp_path, pickle.dumps([1, 2, 3], protocol=2))
    return folder, f, "dict"


def cifar_missing_labels(tmp_path, write):
    folder, f = cifar_with(tmp_path, pickle.dumps({"data": u8(3, 3072)}, protocol=2))
    return folder, f, "'labels'"


def cifar_data_wrong_shape(tmp_path, write):
    folder, f = cifar_with(tmp_path, pickle.dumps(batch(data=u8(3, 100)), protocol=2))
    return folder, f, "(n, 3072)"


def cifar_label_count_mismatch(tmp_path, write):
    folder, f = cifar_with(tmp_path, pickle.dumps(batch(labels=[1, 2]), protocol=2))
    return folder, f, "2 labels"


def cifar_object_array(tmp_path, write):
    data = np.array([[1, "a"]] * 3, dtype=object)
    folder, f = cifar_with(tmp_path, pickle.dumps(batch(data=data), protocol=2))
    return folder, f, "object arrays"


def cifar_string_labels(tmp_path, write):
    folder, f = cifar_with(tmp_path, pickle.dumps(batch(labels=["a", "b", "c"]), protocol=2))
    return folder, f, "integer"


def cifar_label_too_large_for_int64(tmp_path, write):
    folder, f = cifar_with(tmp_path, pickle.dumps(batch(labels=[1, 2**70, 3]), protocol=2))
    return folder, f, "class indices"


def cifar_negative_label(tmp_path, write):
    folder, f = cifar_with(tmp_path, pickle.dumps(batch(labels=[1, -2, 3]), protocol=2))
    return folder, f, "non-negative"


def cifar_memo_bomb(tmp_path, write):
    # PROTO 2, NONE, LONG_BINPUT 2^31 - 1, STOP: C pickle would size its memo table to 2^32 entries.
    folder, f = cifar_with(tmp_path, b"\x80\x02Nr\xff\xff\xff\x7f.")
    return folder, f, "memo index"


# ------------------------------------------------------------------ image folders

def images_non_image_file(tmp_path, write):
    folder, _ = write.image_folder(tmp_path / "imgs")
    notes = folder / "cat" / "notes.txt"
    notes.write_text("hello")
    return folder, notes, "not an image"


def images_corrupt_png(tmp_path, write):
    folder, _ = write.image_folder(tmp_path / "imgs")
    bad = folder / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    return folder, bad, "image"


def images_truncated_png(tmp_path, write):
    folder, _ = write.image_folder(tmp_path / "imgs", size=(40, 40))
    cut = folder / "dog" / "001.png"
    cut.write_bytes(cut.read_bytes()[:-60])
    return folder, cut, "001.png"


def images_other_format_renamed(tmp_path, write):
    from PIL import Image

    folder, _ = write.image_folder(tmp_path / "imgs")
    tiff = folder / "cat" / "sneaky.png"
    Image.fromarray(u8(4, 5)).save(tiff, format="TIFF")  # a decoder outside the allowed five
    return folder, tiff, "image"


def images_mixed_sizes(tmp_path, write):
    folder, _ = write.image_folder(tmp_path / "imgs", size=(5, 4))
    odd = write.image(folder / "dog" / "zzz_big.png", u8(9, 9))
    return folder, odd, "same size"


def images_empty_class_folder(tmp_path, write):
    folder, _ = write.image_folder(tmp_path / "imgs")
    empty = folder / "emu"
    empty.mkdir()
    (empty / ".hidden").write_text("ignored")
    return folder, empty, "empty class folder"


def images_stray_top_level_file(tmp_path, write):
    folder, _ = write.image_folder(tmp_path / "imgs")
    stray = folder / "readme.md"
    stray.write_text("hi")
    return folder, stray, "only class sub-folders"


def images_symlink_escapes(tmp_path, write):
    folder, _ = write.image_folder(tmp_path / "imgs")
    outside = write.image(tmp_path / "secret" / "outside.png", u8(4, 5))
    link = folder / "cat" / "link.png"
    link.symlink_to(outside)
    return folder, link, "outside"


def images_symlinked_class_escapes(tmp_path, write):
    folder, _ = write.image_folder(tmp_path / "imgs")
    write.image(tmp_path / "elsewhere" / "a.png", u8(4, 5))
    link = folder / "zebra"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    return folder, link, "outside"


def images_symlink_loop(tmp_path, write):
    folder, _ = write.image_folder(tmp_path / "imgs")
    loop = folder / "cat" / "loop.png"
    os.symlink(loop, loop)
    return folder, loop, "resolved"


def images_test_class_not_in_train(tmp_path, write):
    folder = tmp_path / "split"
    write.image_folder(folder / "train", classes=("a", "b"))
    write.image_folder(folder / "test", classes=("a", "c"))
    return folder, folder / "test" / "c", "no train folder"


# ------------------------------------------------------------------ dispatch

def unknown_extension(tmp_path, write):
    path = tmp_path / "table.csv"
    path.write_text("1,2\n3,4\n")
    return path, path, "unknown file format"


def folder_matching_no_format(tmp_path, write):
    folder = tmp_path / "misc"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    return folder, folder, "matches no dataset format"


def empty_folder(tmp_path, write):
    folder = tmp_path / "nothing"
    folder.mkdir()
    return folder, folder, "matches no dataset format"


def missing_path(tmp_path, write):
    path = tmp_path / "does_not_exist.npz"
    return path, path, "no such"


CASES = [
    idx_truncated_data, idx_truncated_header, idx_truncated_inside_dims, idx_wrong_magic,
    idx_unknown_dtype_code, idx_zero_ndim, idx_images_of_two_dims, idx_images_not_uint8, idx_extra_bytes,
    idx_no_images, idx_label_count_mismatch, idx_labels_not_integers, idx_labels_without_images,
    idx_two_train_files, idx_symlink_escapes, gz_truncated, gz_corrupted, gz_not_gzip, gz_header_claims_1e12_items,
    raw_header_claims_1e12_items,
    cifar_symlink_escapes, cifar_planted_code, cifar_not_a_pickle, cifar_truncated, cifar_not_a_dict, cifar_missing_labels,
    cifar_data_wrong_shape, cifar_label_count_mismatch, cifar_object_array, cifar_string_labels, cifar_label_too_large_for_int64,
    cifar_negative_label, cifar_memo_bomb,
    images_non_image_file, images_corrupt_png, images_truncated_png, images_other_format_renamed,
    images_mixed_sizes, images_empty_class_folder, images_stray_top_level_file, images_symlink_escapes,
    images_symlinked_class_escapes, images_symlink_loop, images_test_class_not_in_train,
    *ARRAY_CASES,  # .npz / .npy (tests/array_cases.py)
    unknown_extension, folder_matching_no_format, empty_folder, missing_path,
    *HOSTILE_CASES,  # issue 14: deep pickles, FIFOs, huge labels and shapes, sparse huge files, bombs, escapes
]


@pytest.mark.timeout(20)  # a FIFO or a decompression bomb must not hang the reader
@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_gives_one_line_naming_the_file(tmp_path, write, case, monkeypatch):
    # The readers that load whole: a huge but valid file would otherwise be read lazily
    # (tests/data/test_lazy_readers.py), and "would need N GiB" is the in-memory refusal.
    monkeypatch.setenv("LATENTZOO_STREAM", "0")
    target, offender, keyword = case(tmp_path, write)
    with warnings.catch_warnings(record=True) as warned, pytest.raises(UserError) as caught:
        warnings.simplefilter("always")
        load_dataset(str(target), seed=0)
    message = str(caught.value)
    assert "\n" not in message and message.strip() == message
    assert message.isprintable(), f"control characters reach the terminal: {message!r}"
    assert len(message) < 600 + len(printable(target)), f"{len(message)}-character message"
    assert printable(offender.name) in message, f"{offender.name!r} not named in: {message}"
    assert keyword.lower() in message.lower(), f"{keyword!r} not in: {message}"
    assert "Traceback" not in message
    assert not warned, f"warnings before the error line: {[str(w.message) for w in warned]}"


def test_the_table_is_large_enough():
    assert len(CASES) >= 40 + len(HOSTILE_CASES) and len(HOSTILE_CASES) >= 20


@pytest.mark.parametrize("name", ["", "   ", None, ["digits"]])
def test_an_empty_or_non_text_dataset_name_is_refused(tmp_path, monkeypatch, name):
    # Path("") is the current folder: "--data ''" must not quietly load whatever lies there.
    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "data.npz", x=np.ones((5, 3)))
    (tmp_path / "train-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">III", 4, 2, 2) + bytes(16))
    with pytest.raises(UserError, match="empty|name or a path"):
        load_dataset(name, seed=0)
