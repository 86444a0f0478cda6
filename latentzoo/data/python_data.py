r"""Python data as a latentzoo :class:`~latentzoo.data.Dataset`: arrays, tensors, ``(x, y)``, a map-style
``torch.utils.data.Dataset`` or a ``DataLoader`` (what ``lz.fit`` and ``model.evaluate`` accept)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from latentzoo.errors import UserError


def as_dataset(data, test=None, seed: int = 0, name: str = "in-memory data"):
    r"""A latentzoo :class:`~latentzoo.data.Dataset` from Python data (see the module docstring).

    Arrays of shape (n, d) are vectors ((n, 2) points), (n, H, W) or (n, C, H, W) images (uint8
    0..255 or floats in [0, 1]); labels, when given, are integer class indices.
    """
    from latentzoo.data.dataset import Dataset
    from latentzoo.data.file_checks import make_dataset

    if isinstance(data, Dataset):
        return data
    x, y = _arrays(data, "data")
    x_train, kind = _examples(x, "data")
    y_train = _labels(y, len(x_train), "data")
    x_test = y_test = None
    if test is not None:
        xt, yt = _arrays(test, "test")
        x_test, test_kind = _examples(xt, "test")
        if test_kind != kind or x_test.shape[1:] != x_train.shape[1:]:
            raise ValueError(f"test examples have shape {tuple(x_test.shape[1:])} but data examples "
                             f"{tuple(x_train.shape[1:])}")
        y_test = _labels(yt, len(x_test), "test")
        if (y_train is None) != (y_test is None):
            raise ValueError("labels are given for only one of data and test")
    return make_dataset(name, kind, x_train, x_test, y_train, y_test, seed)


def _arrays(data, argument: str):
    """(x, y or None) as NumPy arrays from an array, a tensor, (x, y), a Dataset or a DataLoader."""
    if isinstance(data, (np.ndarray, torch.Tensor)):
        return _numpy(data, argument), None
    if isinstance(data, tuple) and len(data) == 2:
        return _numpy(data[0], f"{argument}[0]"), _numpy(data[1], f"{argument}[1]")
    if isinstance(data, torch.utils.data.DataLoader):
        inner = data.dataset
        if isinstance(inner, torch.utils.data.Dataset) and hasattr(inner, "__len__") and not isinstance(
                inner, torch.utils.data.IterableDataset):   # map-style: read in order, so `seed` alone splits
            return _stack((inner[i] for i in range(len(inner))), argument, batched=False)
        return _stack(iter(data), argument, batched=True)
    if isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__") and hasattr(data, "__getitem__"):
        return _stack((data[i] for i in range(len(data))), argument, batched=False)
    if isinstance(data, (list, tuple)):
        return _numpy(np.asarray(data), argument), None
    raise TypeError(f"{argument} must be a built-in name, a path, an array or tensor, (x, y), a map-style "
                    f"torch Dataset or a DataLoader; got {type(data).__name__}")


def _stack(items, argument: str, batched: bool):
    """Concatenate the items (or batches) of a Dataset (or DataLoader): each ``x`` or ``(x, y)``."""
    xs, ys = [], []
    for item in items:
        if isinstance(item, (tuple, list)) and len(item) == 2:
            x, y = item
            ys.append(_numpy(y, argument))
        elif isinstance(item, (tuple, list)) and len(item) == 1:
            x = item[0]
        else:
            x = item
        xs.append(_numpy(x, argument))
    if not xs:
        raise ValueError(f"{argument} holds no examples")
    if ys and len(ys) != len(xs):
        raise ValueError(f"{argument}: some items carry a label and some do not")
    join = np.concatenate if batched else np.stack
    try:
        return join(xs), (join(ys) if ys else None)
    except ValueError as e:
        raise ValueError(f"{argument}: items of different shapes cannot be stacked ({e})") from None


def _numpy(value, argument: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{argument}: not an array ({e})") from None


def _examples(x: np.ndarray, argument: str):
    from latentzoo.data.arrays import _examples as examples_of

    if x.dtype.kind not in "fiub":
        raise TypeError(f"{argument} must hold numbers, got dtype {x.dtype}")
    try:
        return examples_of(Path(argument), argument, x)
    except UserError as e:
        raise ValueError(str(e)) from None


def _labels(y, n: int, argument: str):
    if y is None:
        return None
    from latentzoo.data.arrays import _labels as labels_of

    y = np.asarray(y).reshape(-1) if np.asarray(y).ndim == 2 and np.asarray(y).shape[1] == 1 else np.asarray(y)
    try:
        return labels_of(Path(argument), f"{argument} labels", y, n, argument)
    except UserError as e:
        raise ValueError(str(e)) from None
