"""Every file format read back from small files written here: values, labels, kinds and splits."""

from __future__ import annotations

import pickle
import struct
import warnings

import numpy as np
import pytest
import torch

from latentzoo.data import load_dataset
from latentzoo.data.files import load_path


def _rows(x: torch.Tensor) -> list[bytes]:
    return sorted(r.numpy().tobytes() for r in x.reshape(len(x), -1))


# ---------------------------------------------------------------- IDX

@pytest.mark.parametrize("gz", [False, True])
def test_idx_train_and_test_round_trip(tmp_path, write, gz):
    folder, arrays = write.mnist_folder(tmp_path / "mnist", gz=gz)
    data = load_dataset(str(folder), seed=0)
    images, labels = arrays["train"]
    assert data.kind == "image" and data.shape == (1, 6, 5)
    torch.testing.assert_close(data.x_train, torch.from_numpy(images).float().unsqueeze(1) / 255.0)
    assert data.y_train.tolist() == labels.tolist()
    test_images, test_labels = arrays["test"]
    torch.testing.assert_close(data.x_test, torch.from_numpy(test_images).float().unsqueeze(1) / 255.0)
    assert data.y_test.tolist() == test_labels.tolist()
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert float(data.x_train.max()) <= 1.0 and float(data.x_train.min()) >= 0.0


def test_idx_extreme_pixels_map_to_0_and_1(tmp_path, write):
    images = np.array([[[0, 255], [128, 1]]] * 3, dtype=np.uint8)
    write.idx(tmp_path / "d" / "train-images-idx3-ubyte", images)
    data = load_dataset(str(tmp_path / "d"), seed=0)
    values = torch.cat([data.x_train, data.x_test]).unique().tolist()
    assert values == pytest.approx([0.0, 1 / 255, 128 / 255, 1.0])
    assert data.y_train is None


def test_idx_single_pair_is_split_from_the_seed(tmp_path, write):
    folder, arrays = write.mnist_folder(tmp_path / "k", n_train=20, n_test=0, prefix=("kmnist-train", ""))
    a, b, c = (load_path(folder, seed) for seed in (3, 3, 4))
    assert len(a.x_train) == 16 and len(a.x_test) == 4
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_test, c.x_test)
    images, _ = arrays["train"]
    # Train and test together are exactly the file's images, each once.
    assert _rows(torch.cat([a.x_train, a.x_test])) == _rows(torch.from_numpy(images).float().unsqueeze(1) / 255)


def test_idx_raw_file_preferred_over_its_gz_and_emnist_names(tmp_path, write):
    rng = np.random.default_rng(1)
    folder = tmp_path / "torchvision_raw"
    raw = rng.integers(0, 256, (4, 3, 3), dtype=np.uint8)
    write.idx(folder / "emnist-letters-train-images-idx3-ubyte", raw)
    write.idx(folder / "emnist-letters-train-images-idx3-ubyte.gz", raw[:2])  # stale copy, must be ignored
    write.idx(folder / "emnist-letters-test-images-idx3-ubyte.gz", raw[:3])
    data = load_path(folder, 0)
    assert len(data.x_train) == 4 and len(data.x_test) == 3


def test_idx_kaggle_style_names(tmp_path, write):
    rng = np.random.default_rng(2)
    folder = tmp_path / "kaggle"
    write.idx(folder / "train-images.idx3-ubyte", rng.integers(0, 256, (5, 2, 2), dtype=np.uint8))
    write.idx(folder / "train-labels.idx1-ubyte", np.arange(5, dtype=np.uint8))
    data = load_path(folder, 0)
    assert sorted(torch.cat([data.y_train, data.y_test]).tolist()) == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------- CIFAR

@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar10_round_trip(tmp_path, write, protocol):
    folder, x, y, xt, yt = write.cifar10_folder(tmp_path / "cifar-10-batches-py", protocol=protocol)
    data = load_path(folder, 0)
    assert data.kind == "image" and data.shape == (3, 32, 32)
    expected = torch.from_numpy(x).float().reshape(-1, 3, 32, 32) / 255.0
    torch.testing.assert_close(data.x_train, expected)
    assert data.y_train.tolist() == y.tolist() and data.y_test.tolist() == yt.tolist()
    # Row layout: the first 1024 values are the red plane, row-major.
    assert data.x_test[1, 0, 0, 1] == pytest.approx(xt[1, 1] / 255.0)
    assert data.x_test[1, 2, 31, 31] == pytest.approx(xt[1, 3071] / 255.0)


def test_cifar100_fine_labels_with_bytes_keys_like_the_python2_files(tmp_path, write):
    rng = np.random.default_rng(3)
    folder = tmp_path / "cifar-100-python"
    train = rng.integers(0, 256, (5, 3072), dtype=np.uint8)
    test = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
    write.cifar_batch(folder / "train", train, [0, 99, 5, 7, 7], label_key="fine_labels", bytes_keys=True)
    write.cifar_batch(folder / "test", test, np.array([42, 1]), label_key="fine_labels", bytes_keys=True)
    (folder / "meta").write_bytes(b"ignored")
    data = load_path(folder, 0)
    assert data.y_train.tolist() == [0, 99, 5, 7, 7] and data.y_test.tolist() == [42, 1]
    assert data.num_classes == 100


def test_cifar_without_test_batch_is_split_from_the_seed(tmp_path, write):
    folder, x, *_ = write.cifar10_folder(tmp_path / "c", n_batches=3, n_per_batch=4)
    (folder / "test_batch").unlink()
    a, b = load_path(folder, 7), load_path(folder, 7)
    assert len(a.x_train) + len(a.x_test) == 12 and torch.equal(a.x_test, b.x_test)
    assert _rows(torch.cat([a.x_train, a.x_test])) == _rows(torch.from_numpy(x).float().reshape(-1, 3, 32, 32) / 255)


# ---------------------------------------------------------------- image folders

def test_image_folder_grey_round_trip_and_labels(tmp_path, write):
    folder, content = write.image_folder(tmp_path / "imgs", classes=("b_dog", "a_cat"), per_class=4)
    data = load_path(folder, 0)
    assert data.kind == "image" and data.shape == (1, 4, 5)
    everything = torch.cat([data.x_train, data.x_test])
    labels = torch.cat([data.y_train, data.y_test])
    # Labels are the index of the class folder in sorted order: a_cat → 0, b_dog → 1.
    for label, name in enumerate(("a_cat", "b_dog")):
        expected = torch.from_numpy(np.stack(content[name])).float().unsqueeze(1) / 255.0
        assert _rows(everything[labels == label]) == _rows(expected)


def test_image_folder_mixed_grey_and_rgb_becomes_rgb(tmp_path, write):
    rng = np.random.default_rng(4)
    folder = tmp_path / "mixed"
    grey = rng.integers(0, 256, (3, 2), dtype=np.uint8)
    colour = rng.integers(0, 256, (3, 2, 3), dtype=np.uint8)
    write.image(folder / "a" / "grey.png", grey)
    write.image(folder / "a" / "colour.bmp", colour)
    write.image(folder / "b" / "colour.png", colour)
    data = load_path(folder, 0)
    assert data.shape == (3, 3, 2)
    everything = torch.cat([data.x_train, data.x_test])
    grey_as_rgb = torch.from_numpy(grey).float().expand(3, 3, 2) / 255.0
    assert any(torch.equal(img, grey_as_rgb) for img in everything)
    colour_chw = torch.from_numpy(colour).float().permute(2, 0, 1) / 255.0
    assert sum(torch.equal(img, colour_chw) for img in everything) == 2


def test_image_folder_sixteen_bit_grey_scaled_by_65535(tmp_path, write):
    folder = tmp_path / "deep"
    values = np.array([[0, 65535], [32768, 1]], dtype=np.uint16)
    for name in ("a", "b"):
        write.image(folder / name / "x.png", values)
    data = load_path(folder, 0)
    assert data.shape == (1, 2, 2)
    torch.testing.assert_close(data.x_train[0, 0], torch.from_numpy(values.astype(np.float32) / 65535))


def test_image_folder_train_test_layout_hidden_files_and_lossy_formats(tmp_path, write):
    rng = np.random.default_rng(5)
    folder = tmp_path / "split"
    for split, n in (("train", 3), ("test", 2)):
        for cls in ("x", "y"):
            for j in range(n):
                pixels = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
                write.image(folder / split / cls / f"{j}.jpg", pixels)
    (folder / "train" / "x" / ".DS_Store").write_bytes(b"not an image")
    (folder / ".cache").mkdir()
    write.image(folder / "test" / "y" / "extra.gif", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    write.image(folder / "test" / "y" / "extra.WEBP", rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    data = load_path(folder, 0)
    assert len(data.x_train) == 6 and len(data.x_test) == 6
    assert data.y_train.tolist() == [0, 0, 0, 1, 1, 1] and data.y_test.tolist() == [0, 0, 1, 1, 1, 1]
    assert data.shape == (3, 4, 4)


def test_image_folder_symlink_inside_the_folder_is_followed(tmp_path, write):
    folder, _ = write.image_folder(tmp_path / "links", per_class=2)
    (folder / "dog" / "copy.png").symlink_to(folder / "cat" / "000.png")
    data = load_path(folder, 0)
    assert len(data.x_train) + len(data.x_test) == 5


# ---------------------------------------------------------------- .npz / .npy

@pytest.mark.parametrize(
    "shape, dtype, kind, example_shape",
    [
        ((10, 2), np.float64, "points", (2,)),
        ((10, 7), np.float32, "vector", (7,)),
        ((10, 7), np.int16, "vector", (7,)),
        ((10, 4, 5), np.uint8, "image", (1, 4, 5)),
        ((10, 3, 4, 5), np.uint8, "image", (3, 4, 5)),
        ((10, 4, 5, 3), np.uint8, "image", (3, 4, 5)),
        ((10, 4, 5, 1), np.float32, "image", (1, 4, 5)),
    ],
)
def test_npz_kinds_from_shape(tmp_path, shape, dtype, kind, example_shape):
    rng = np.random.default_rng(6)
    integer = np.dtype(dtype).kind in "iu"
    x = (rng.integers(0, 256, shape) if integer else rng.random(shape)).astype(dtype)
    np.savez(tmp_path / "d.npz", x=x)
    data = load_path(tmp_path / "d.npz", 0)
    assert data.kind == kind and data.shape == example_shape
    # Values: images as (n, C, H, W), integer images / 255, everything else unchanged.
    expected = torch.from_numpy(x.astype(np.float32))
    if x.ndim == 3:
        expected = expected.unsqueeze(1)
    if x.ndim == 4 and shape[3] in (1, 3) and shape[1] not in (1, 3):
        expected = expected.permute(0, 3, 1, 2)
    if kind == "image" and np.dtype(dtype).kind in "iu":
        expected = expected / 255.0
    assert _rows(torch.cat([data.x_train, data.x_test])) == _rows(expected)


def test_npz_given_test_split_and_labels(tmp_path):
    rng = np.random.default_rng(7)
    x, xt = rng.random((6, 3)), rng.random((2, 3))
    y, yt = np.array([0, 1, 2, 0, 1, 2], dtype=np.int32), np.array([2, 2], dtype=np.uint8)
    np.savez_compressed(tmp_path / "d.npz", x=x, y=y, x_test=xt, y_test=yt)
    data = load_path(tmp_path / "d.npz", 123)
    torch.testing.assert_close(data.x_train, torch.from_numpy(x).float())
    torch.testing.assert_close(data.x_test, torch.from_numpy(xt).float())
    assert data.y_train.tolist() == y.tolist() and data.y_test.tolist() == [2, 2]
    assert data.y_train.dtype == torch.int64


def test_npy_and_fortran_order(tmp_path):
    x = np.asfortranarray(np.arange(40, dtype=np.float64).reshape(10, 4))
    np.save(tmp_path / "f.npy", x)
    data = load_path(tmp_path / "f.npy", 0)
    assert data.kind == "vector" and data.y_train is None
    expected = torch.from_numpy(np.ascontiguousarray(x)).float()
    assert _rows(torch.cat([data.x_train, data.x_test])) == _rows(expected)


def test_npz_big_endian_and_bool(tmp_path):
    x = np.arange(12, dtype=">f4").reshape(6, 2)
    np.savez(tmp_path / "be.npz", x=x, y=np.arange(6, dtype=">i8"))
    data = load_path(tmp_path / "be.npz", 0)
    assert sorted(torch.cat([data.x_train, data.x_test])[:, 0].tolist()) == [0, 2, 4, 6, 8, 10]
    np.savez(tmp_path / "b.npz", x=np.eye(5, dtype=bool))
    data = load_path(tmp_path / "b.npz", 0)
    assert float(torch.cat([data.x_train, data.x_test]).sum()) == 5.0


# ---------------------------------------------------------------- splits from the seed

def test_split_is_deterministic_from_seed_and_partitions_the_data(tmp_path):
    x = np.arange(50, dtype=np.float32).reshape(25, 2)
    np.savez(tmp_path / "p.npz", x=x, y=np.arange(25))
    first, again, other = (load_path(tmp_path / "p.npz", s) for s in (11, 11, 12))
    assert torch.equal(first.x_train, again.x_train) and torch.equal(first.y_test, again.y_test)
    assert not torch.equal(first.y_test, other.y_test)
    assert len(first.x_test) == 5  # round(25 * 0.2)
    # Labels travel with their examples, and train ∪ test is every example exactly once.
    assert torch.equal(first.x_train[:, 0], 2 * first.y_train.float())
    assert sorted(torch.cat([first.y_train, first.y_test]).tolist()) == list(range(25))


def _python2_cifar_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """Opcodes as Python 2's ``cPickle.dump(batch, f, 2)`` wrote the real CIFAR-10 batches:
    byte strings (SHORT_BINSTRING / BINSTRING) for keys and pixel data, ``numpy.core`` names."""
    def short(s: bytes) -> bytes:
        return b"U" + bytes([len(s)]) + s

    n = data.shape[0]
    array = (b"cnumpy.core.multiarray\n_reconstruct\nq\x02cnumpy\nndarray\nq\x03K\x00\x85" + short(b"b")
             + b"\x87Rq\x04(K\x01M" + struct.pack("<H", n) + b"M\x00\x0c\x86"
             + b"cnumpy\ndtype\nq\x05" + short(b"u1") + b"K\x00K\x01\x87Rq\x06"
             + b"(K\x03" + short(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
             + b"\x89T" + struct.pack("<i", data.nbytes) + data.tobytes() + b"tb")
    label_list = b"]q\x07(" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return b"\x80\x02}q\x01(" + short(b"data") + array + short(b"labels") + label_list + b"u."


def test_cifar_python2_pickle_bytes_like_the_real_files(tmp_path):
    rng = np.random.default_rng(8)
    data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    raw = _python2_cifar_pickle(data, [9, 0, 4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy.core is deprecated under numpy 2
        reference = pickle.loads(raw, encoding="bytes")  # the hand-written bytes are a valid pickle
    assert np.array_equal(reference[b"data"], data) and reference[b"labels"] == [9, 0, 4]
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(raw)
    (folder / "test_batch").write_bytes(raw)
    loaded = load_path(folder, 0)
    torch.testing.assert_close(loaded.x_test, torch.from_numpy(data).float().reshape(3, 3, 32, 32) / 255)
    assert loaded.y_test.tolist() == [9, 0, 4]
