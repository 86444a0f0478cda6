"""Writers of small, valid dataset files in every supported format, shared by the data tests.

Tests get them through the session fixture ``write`` (``write.idx(...)``, ``write.cifar_batch(...)``,
...); every writer returns the path it wrote so a test can then corrupt exactly that file.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding straight from the format: 0, 0, dtype code, ndim, big-endian sizes, big-endian data."""
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim])
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def idx(path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in .gz."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def mnist_folder(folder, n_train=12, n_test=5, size=(6, 5), gz=False, seed=0, prefix=("train", "t10k")):
    """An MNIST-like folder; returns (folder, {split: (uint8 images, uint8 labels)})."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    suffix = ".gz" if gz else ""
    arrays = {}
    for split, n, name in (("train", n_train, prefix[0]), ("test", n_test, prefix[1])):
        if n == 0:
            continue
        images = rng.integers(0, 256, (n, *size), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        idx(folder / f"{name}-images-idx3-ubyte{suffix}", images)
        idx(folder / f"{name}-labels-idx1-ubyte{suffix}", labels)
        arrays[split] = (images, labels)
    return folder, arrays


def cifar_batch(path, data: np.ndarray, labels, label_key="labels", protocol=2, bytes_keys=False) -> Path:
    """A CIFAR batch pickle: {data: uint8 (n, 3072), labels: list}, as the real files hold."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = {"batch_label": "testing batch", "data": data, label_key: labels,
             "filenames": [f"img_{i}.png" for i in range(len(data))]}
    if bytes_keys:
        batch = {k.encode(): v for k, v in batch.items()}
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    return path


def cifar10_folder(folder, n_batches=2, n_per_batch=4, n_test=3, seed=0, protocol=2):
    """A CIFAR-10-like folder; returns (folder, train data, train labels, test data, test labels)."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    datas, labels = [], []
    for i in range(1, n_batches + 1):
        d = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, n_per_batch)]
        cifar_batch(folder / f"data_batch_{i}", d, y, protocol=protocol)
        datas.append(d)
        labels += y
    test_data = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    test_labels = [int(v) for v in rng.integers(0, 10, n_test)]
    cifar_batch(folder / "test_batch", test_data, test_labels, protocol=protocol)
    return folder, np.concatenate(datas), np.array(labels), test_data, np.array(test_labels)


def image(path, array: np.ndarray, mode=None) -> Path:
    """Save an (H, W) or (H, W, 3) uint8 array as an image with Pillow (format from the suffix)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


def image_folder(folder, classes=("cat", "dog"), per_class=3, size=(5, 4), rgb=False, seed=0):
    """Class sub-folders of PNG images; returns (folder, {class: [arrays in file-name order]})."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    content = {}
    for name in classes:
        content[name] = []
        for j in range(per_class):
            shape = (size[1], size[0], 3) if rgb else (size[1], size[0])
            array = rng.integers(0, 256, shape, dtype=np.uint8)
            image(folder / name / f"{j:03d}.png", array)
            content[name].append(array)
    return folder, content


def malicious_pickle(marker: Path, protocol: int = 2) -> bytes:
    """A pickle whose loading (by plain pickle) creates ``marker``: its __reduce__ calls builtins.exec."""

    class Planted:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').close()",))

    return pickle.dumps({"data": Planted(), "labels": [0]}, protocol=protocol)


@pytest.fixture(scope="session")
def write():
    """The writers above, as one namespace."""
    return SimpleNamespace(idx=idx, idx_bytes=idx_bytes, mnist_folder=mnist_folder, cifar_batch=cifar_batch,
                           cifar10_folder=cifar10_folder, image=image, image_folder=image_folder,
                           malicious_pickle=malicious_pickle)
