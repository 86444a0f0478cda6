r"""CIFAR-10 and CIFAR-100 in their "python version" folders, read without running code.

Layouts (https://www.cs.toronto.edu/~kriz/cifar.html):

* CIFAR-10: ``data_batch_1`` … ``data_batch_5`` and ``test_batch``, each a pickled dict
  ``{b"data": uint8 (n, 3072), b"labels": [n ints], ...}``;
* CIFAR-100: ``train`` and ``test``, dicts with ``b"data"`` and ``b"fine_labels"``.

Each row of ``data`` is 1024 red, then 1024 green, then 1024 blue values of a 32×32
image in row-major order, so ``data.reshape(n, 3, 32, 32)`` is (n, C, H, W); values are
scaled x / 255 into [0, 1]. Files are unpickled with
:func:`latentzoo.data.restricted_pickle.load_plain_pickle`: anything but plain data is
refused, naming the global and the file. Without ``test_batch`` the training batches
are split from the seed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from latentzoo.data import Dataset
from latentzoo.data.file_checks import bad, check_inside, make_dataset, read_bytes
from latentzoo.data.restricted_pickle import load_plain_pickle, plain_array

_TRAIN_BATCH = re.compile(r"^data_batch_(\d+)$")


def cifar_layout(folder: Path) -> tuple[list[Path], Path | None, str] | None:
    r"""(train files, test file or None, label key) when ``folder`` looks like CIFAR, else None."""
    names = {p.name: p for p in folder.iterdir()}
    batches = sorted((int(m[1]), p) for name, p in names.items() if (m := _TRAIN_BATCH.match(name)))
    if batches:
        return [p for _, p in batches], names.get("test_batch"), "labels"
    if "train" in names and names["train"].is_file() and "test" in names and names["test"].is_file():
        return [names["train"]], names["test"], "fine_labels"
    return None


def read_batch(path: Path, label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One CIFAR batch file → images (n, 3, 32, 32) in [0, 1] and int64 labels (n,)."""
    batch = load_plain_pickle(read_bytes(path), path)
    if not isinstance(batch, dict):
        raise bad(path, f"expected a pickled dict, got {type(batch).__name__}")
    batch = {(k.decode("latin-1") if isinstance(k, bytes) else k): v for k, v in batch.items()}
    for key in ("data", label_key):
        if key not in batch:
            found = ", ".join(sorted(str(k) for k in batch)) or "nothing"
            raise bad(path, f"has no '{key}' entry (found: {found})")
    data = plain_array(batch["data"], path, "'data'")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] == 0:
        raise bad(path, f"'data' must be uint8 of shape (n, 3072), got {data.dtype} {data.shape}")
    labels = batch[label_key]
    if isinstance(labels, list):
        if not all(type(v) is int and 0 <= v < 2**62 for v in labels):
            raise bad(path, f"'{label_key}' must be a list of non-negative integer class indices")
        labels = np.array(labels, dtype=np.int64) if labels else np.zeros(0, dtype=np.int64)
    else:
        labels = plain_array(labels, path, f"'{label_key}'")
        if labels.dtype.kind not in "iu" or labels.ndim != 1:
            raise bad(path, f"'{label_key}' must be 1-D integers, got {labels.dtype} {labels.shape}")
    if labels.shape[0] != data.shape[0]:
        raise bad(path, f"has {data.shape[0]} images but {labels.shape[0]} labels")
    if labels.size and labels.min() < 0:
        raise bad(path, f"labels must be non-negative class indices, found {labels.min()}")
    # Row = 1024 R, 1024 G, 1024 B of a 32×32 image → (n, 3, 32, 32); x / 255 in [0, 1].
    images = torch.from_numpy(np.divide(data.reshape(-1, 3, 32, 32), np.float32(255), dtype=np.float32))
    return images, torch.from_numpy(labels.astype(np.int64))


def load_cifar_folder(folder: Path, seed: int) -> Dataset:
    r"""Read a CIFAR-10 or CIFAR-100 python-format folder (see the module docstring)."""
    root = folder.resolve()
    layout = cifar_layout(folder)
    if layout is None:
        raise bad(folder, "is not a CIFAR folder (no data_batch_N, nor train and test files)")
    train_files, test_file, label_key = layout
    parts = []
    for path in train_files:
        check_inside(root, path)
        parts.append(read_batch(path, label_key))
    x_train = torch.cat([x for x, _ in parts])
    y_train = torch.cat([y for _, y in parts])
    x_test = y_test = None
    if test_file is not None:
        check_inside(root, test_file)
        x_test, y_test = read_batch(test_file, label_key)
    return make_dataset(folder, "image", x_train, x_test, y_train, y_test, seed)
