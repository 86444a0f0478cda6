"""The built-in datasets match DESIGN.md: sizes, kinds, ranges, labels, mixture geometry, splits."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from latentzoo.data import Dataset, dataset_names, load_dataset
from latentzoo.errors import UserError


@functools.cache
def load(name: str, seed: int = 0) -> Dataset:
    return load_dataset(name, seed)


def _rows(x: torch.Tensor) -> list[bytes]:
    return sorted(r.numpy().tobytes() for r in x.reshape(len(x), -1))


def test_every_builtin_is_listed_with_a_description():
    names = dataset_names()
    assert set(names) == {"digits", "mnist1d", "ring8", "grid25", "patches"}
    assert all(isinstance(text, str) and text and "\n" not in text for text in names.values())


def test_digits_is_sklearn_digits_scaled_to_unit_interval():
    from sklearn.datasets import load_digits

    data = load("digits")
    assert data.kind == "image" and data.shape == (1, 8, 8) and data.dim == 64
    assert len(data.x_train) + len(data.x_test) == 1797
    assert len(data.x_test) == round(1797 * 0.2)
    everything = torch.cat([data.x_train, data.x_test])
    assert float(everything.min()) == 0.0 and float(everything.max()) == 1.0 and data.in_unit_interval
    assert torch.equal(everything * 16, (everything * 16).round())  # pixel counts 0..16, divided by 16
    assert data.num_classes == 10 and set(data.y_train.tolist()) == set(range(10))
    assert data.y_train.dtype == torch.int64
    # Train ∪ test is exactly scikit-learn's set, image with its label.
    bunch = load_digits()
    expected = torch.tensor(bunch.images / 16.0, dtype=torch.float32).unsqueeze(1)
    assert _rows(everything) == _rows(expected)
    labels = torch.cat([data.y_train, data.y_test])
    for digit in (0, 7):
        assert _rows(everything[labels == digit]) == _rows(expected[torch.from_numpy(bunch.target) == digit])


@pytest.mark.parametrize("name", ["digits", "ring8", "grid25", "patches"])
def test_splits_are_deterministic_from_the_seed_and_differ_between_seeds(name):
    first, again, other = load(name, 0), load_dataset(name, 0), load(name, 1)
    assert torch.equal(first.x_train, again.x_train) and torch.equal(first.x_test, again.x_test)
    if first.y_train is not None:
        assert torch.equal(first.y_train, again.y_train)
    assert not torch.equal(first.x_test, other.x_test)
    assert first.x_test.shape == other.x_test.shape


def test_mnist1d_is_fixed_standardised_and_balanced():
    data, other_seed = load("mnist1d", 0), load("mnist1d", 5)
    assert data.kind == "signal" and data.shape == (40,)
    assert (len(data.x_train), len(data.x_test)) == (4000, 1000)
    # Same data for every seed: everybody's MNIST-1D is the published one.
    assert torch.equal(data.x_train, other_seed.x_train) and torch.equal(data.y_test, other_seed.y_test)
    everything = torch.cat([data.x_train, data.x_test]).double()
    assert abs(float(everything.mean())) < 1e-4 and abs(float(everything.std()) - 1) < 1e-3
    counts = torch.bincount(torch.cat([data.y_train, data.y_test]), minlength=10)
    assert data.num_classes == 10 and counts.tolist() == [500] * 10


@pytest.mark.parametrize(
    "name, expected_modes, std",
    [
        ("ring8", [(math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)) for k in range(8)], 0.01),
        ("grid25", [(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)], 0.05),
    ],
)
def test_gaussian_mixtures_have_the_design_modes_and_std(name, expected_modes, std):
    data = load(name)
    modes = data.extras["modes"]
    assert data.kind == "points" and data.shape == (2,)
    assert (len(data.x_train), len(data.x_test)) == (20000, 2500)
    assert data.extras["mode_std"] == std
    assert _rows(modes.float()) == _rows(torch.tensor(expected_modes, dtype=torch.float32))
    assert data.num_classes == len(expected_modes)
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        noise = (x - modes[y]).double()
        # Each coordinate is N(0, std²): sample std within 5 % (n = 20000 gives ~0.5 % error).
        assert noise.std(dim=0).sub(std).abs().max() < 0.05 * std
        assert noise.mean(dim=0).abs().max() < 5 * std / math.sqrt(len(x)) * 3
        # Nearest mode is the labelled one (modes are ≥ 0.76 apart, 76 std for ring8).
        assert torch.equal(torch.cdist(x, modes.float()).argmin(dim=1), y)
    shares = torch.bincount(data.y_train, minlength=len(expected_modes)).double() / len(data.y_train)
    assert (shares - 1 / len(expected_modes)).abs().max() < 0.02
    assert not data.in_unit_interval


def test_patches_are_grey_unit_interval_unlabelled():
    data = load("patches")
    assert data.kind == "image" and data.shape == (1, 8, 8) and data.y_train is None
    assert (len(data.x_train), len(data.x_test)) == (20000, 5000)
    assert data.in_unit_interval and data.num_classes is None
    # Real photograph content, not constant patches.
    assert float(data.x_train.std()) > 0.05
    assert "no labels" in data.describe()


def test_unknown_name_is_a_one_line_user_error():
    with pytest.raises(UserError, match="no such dataset or path: digitz") as caught:
        load_dataset("digitz")
    assert "\n" not in str(caught.value)


def test_dataset_refuses_nan_and_mismatched_shapes():
    x = torch.zeros(4, 3)
    with pytest.raises(UserError, match="NaN"):
        Dataset("mine", "vector", x, torch.tensor([[np.nan, 0.0, 0.0]]))
    with pytest.raises(UserError, match="shape"):
        Dataset("mine", "vector", x, torch.zeros(2, 4))
    with pytest.raises(UserError, match="3 labels"):
        Dataset("mine", "vector", x, x, torch.zeros(3, dtype=torch.int64), torch.zeros(4, dtype=torch.int64))


def test_mnist1d_leaves_the_callers_global_generators_alone():
    import random

    import numpy as np

    from latentzoo.data import load_dataset

    np.random.seed(123)
    random.seed(123)
    expected = (np.random.rand(), random.random())
    np.random.seed(123)
    random.seed(123)
    load_dataset("mnist1d", 0)
    assert (np.random.rand(), random.random()) == expected
