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
are split from the seed. A batch must be a regular file (a FIFO named ``data_batch_1``
is refused, never read) small enough that it, its unpickled copy and its float32 images
fit in :func:`~latentzoo.data.file_checks.memory_limit`; labels must be class indices
below ``MAX_CLASSES``.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import torch

from latentzoo.data.dataset import MAX_CLASSES, Dataset
from latentzoo.data.file_checks import (
    bad,
    check_inside,
    class_indices,
    make_dataset,
    memory_limit,
    read_bytes,
)
from latentzoo.data.restricted_pickle import load_plain_pickle, plain_array
from latentzoo.errors import short_repr

#: Bytes of memory a batch of n bytes may take while read: the file (n), the unpickled copy of
#: its data (≤ n) and the float32 images (4 bytes per uint8 value, ≤ 4n).
_MEMORY_PER_FILE_BYTE = 6

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
    batch = load_plain_pickle(read_bytes(path, memory_limit()[0] // _MEMORY_PER_FILE_BYTE), path)
    if not isinstance(batch, dict):
        raise bad(path, f"expected a pickled dict, got {type(batch).__name__}")
    batch = {(k.decode("latin-1") if isinstance(k, bytes) else k): v for k, v in batch.items()}
    for key in ("data", label_key):
        if key not in batch:
            raise bad(path, f"has no '{key}' entry (found: {_some_keys(batch)})")
    data = plain_array(batch["data"], path, "'data'")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] == 0:
        raise bad(path, f"'data' must be uint8 of shape (n, 3072), got {data.dtype} {data.shape}")
    labels = batch[label_key]
    if isinstance(labels, list):
        wrong = [v for v in labels if not (type(v) is int and 0 <= v < MAX_CLASSES)][:1]
        if wrong:
            raise bad(path, f"'{label_key}' must be a list of non-negative integer class indices "
                            f"below {MAX_CLASSES}, found {short_repr(wrong[0])}")
        labels = np.array(labels, dtype=np.int64) if labels else np.zeros(0, dtype=np.int64)
    else:
        labels = plain_array(labels, path, f"'{label_key}'")
        if labels.dtype.kind not in "iu" or labels.ndim != 1:
            raise bad(path, f"'{label_key}' must be 1-D integers, got {labels.dtype} {labels.shape}")
    if labels.shape[0] != data.shape[0]:
        raise bad(path, f"has {data.shape[0]} images but {labels.shape[0]} labels")
    # Row = 1024 R, 1024 G, 1024 B of a 32×32 image → (n, 3, 32, 32); x / 255 in [0, 1].
    images = torch.from_numpy(np.divide(data.reshape(-1, 3, 32, 32), np.float32(255), dtype=np.float32))
    return images, class_indices(path, labels, f"'{label_key}'")


def _some_keys(batch: dict, shown: int = 6) -> str:
    r"""The first keys of a batch, each shortened: a file may hold millions of keys, or huge ones."""
    keys = sorted(short_repr(k, 40) for k in itertools.islice(batch, 1000))
    more = f", and {len(batch) - shown} more" if len(batch) > shown else ""
    return (", ".join(keys[:shown]) + more) or "nothing"


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
