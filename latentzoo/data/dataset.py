"""The in-memory dataset every model trains on: train/test tensors, labels, kind; and the seeded split."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from latentzoo.errors import UserError, printable

KINDS = ("vector", "image", "signal", "points")

#: Labels are class indices 0 .. MAX_CLASSES − 1: metrics size tables and classifier heads by the
#: largest label, so a label of 10¹² would ask for terabytes. ImageNet-21k has 21,841 classes.
MAX_CLASSES = 65536


@dataclass
class Dataset:
    """An in-memory dataset split into train and test.

    Attributes
    ----------
    name : str
        Built-in name or the path it was read from.
    kind : str
        One of ``vector``, ``image``, ``signal``, ``points``.
    x_train, x_test : Tensor or LazyRows
        float32, shape (n, *shape); a ``.npy`` larger than memory allows is read lazily
        (:class:`latentzoo.data.streaming.LazyRows`: indexing reads those rows from the file).
    y_train, y_test : Tensor or None
        int64 class labels, shape (n,), when the data has them.
    extras : dict
        Facts some metrics need, e.g. ``modes`` and ``mode_std`` of a Gaussian mixture.
    """

    name: str
    kind: str
    x_train: torch.Tensor
    x_test: torch.Tensor
    y_train: torch.Tensor | None = None
    y_test: torch.Tensor | None = None
    extras: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        name = printable(self.name)
        for split in ("x_train", "x_test"):
            x = getattr(self, split)
            if x.ndim < 2 or x.shape[0] == 0:
                raise UserError(f"{name}: {split} is empty or has no feature axis")
            # min and max carry any NaN or infinity, and cost far less than a full isfinite mask;
            # rows read lazily from a file (data.streaming.LazyRows) know theirs from a chunked pass
            if not torch.isfinite(torch.stack(x.aminmax() if is_lazy(x) else torch.aminmax(x))).all():
                raise UserError(f"{name}: {split} contains NaN or infinite values")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise UserError(
                f"{name}: train examples have shape {tuple(self.x_train.shape[1:])} "
                f"but test examples {tuple(self.x_test.shape[1:])}"
            )
        for xs, ys in (("x_train", "y_train"), ("x_test", "y_test")):
            y = getattr(self, ys)
            if y is None:
                continue
            if y.shape[0] != getattr(self, xs).shape[0]:
                raise UserError(f"{name}: {getattr(self, xs).shape[0]} examples but {y.shape[0]} labels in {ys[2:]}")
            _check_class_indices(name, y, ys[2:])

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example."""
        return tuple(self.x_train.shape[1:])

    @property
    def dim(self) -> int:
        """Number of features of one example once flattened."""
        return int(torch.tensor(self.shape).prod())

    @property
    def num_classes(self) -> int | None:
        if self.y_train is None:
            return None
        ys = self.y_train if self.y_test is None else torch.cat([self.y_train, self.y_test])
        return int(ys.max()) + 1

    @property
    def in_unit_interval(self) -> bool:
        """True when every value lies in [0, 1] (a Bernoulli likelihood then fits)."""
        lo = min(self.x_train.min(), self.x_test.min())
        hi = max(self.x_train.max(), self.x_test.max())
        return bool(lo >= 0 and hi <= 1)

    def describe(self) -> str:
        labels = f"{self.num_classes} classes" if self.num_classes else "no labels"
        return (
            f"{self.name}: {self.kind}, example shape {self.shape}, "
            f"{len(self.x_train)} train / {len(self.x_test)} test, {labels}"
        )


def is_lazy(x) -> bool:
    """True for examples read from a file batch by batch (:class:`latentzoo.data.streaming.LazyRows`)."""
    return getattr(x, "is_lazy", False)


def _check_class_indices(name: str, y: torch.Tensor, split: str) -> None:
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool or y.ndim != 1:
        raise UserError(f"{name}: labels of {split} must be a 1-D tensor of integers, got {y.dtype} {tuple(y.shape)}")
    if y.numel():
        lo, hi = (int(v) for v in torch.aminmax(y))
        if lo < 0:
            raise UserError(f"{name}: labels must be non-negative class indices, found {lo} in {split}")
        if hi >= MAX_CLASSES:
            raise UserError(f"{name}: labels must be class indices below {MAX_CLASSES}, found {hi} in {split}")


def split_train_test(x, y, seed: int, test_fraction: float = 0.2):
    """Deterministic random split (same seed, same split)."""
    train, test = split_indices(x.shape[0], seed, test_fraction)
    return x[train], x[test], (None if y is None else y[train]), (None if y is None else y[test])


def split_indices(n: int, seed: int, test_fraction: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) row indices of :func:`split_train_test`: a permutation drawn from ``seed``."""
    if n < 2:
        raise UserError(f"need at least 2 examples to split into train and test, got {n}")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    n_test = max(1, int(round(n * test_fraction)))
    return perm[n_test:], perm[:n_test]
