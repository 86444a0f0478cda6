"""Every family trains on a file read lazily exactly as on the same file read whole.

The batches are the same float32 values in the same order (tests/data/test_streaming.py), and
below the view's cap (latentzoo.data.lazy_view) every statistic, metric and figure reads the
same examples: weights and metrics must be identical, not merely close.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from latentzoo.data import lazy_view
from latentzoo.engine import train_model

FAMILIES = {   # model → (data fixture, a few short options)
    "sparse-coding": ("vectors", {"epochs": 2, "latent_dim": 6, "batch_size": 32}),
    "sparse-ae": ("vectors", {"epochs": 2, "batch_size": 32}),
    "laplace-ae": ("vectors", {"epochs": 2, "batch_size": 32}),
    "denoising-ae": ("vectors", {"epochs": 2, "batch_size": 32}),
    "contractive-ae": ("vectors", {"epochs": 2, "batch_size": 32}),
    "vae": ("images", {"epochs": 2, "batch_size": 32}),
    "gan": ("vectors", {"epochs": 2, "batch_size": 32}),
    "simclr": ("vectors", {"epochs": 2, "batch_size": 32}),
}


@pytest.fixture
def vectors(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "vectors.npy"
    np.save(path, (rng.standard_normal((160, 10)) @ rng.standard_normal((10, 10))).astype(np.float32))
    return path


@pytest.fixture
def images(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, np.random.default_rng(1).integers(0, 256, (120, 8, 8), dtype=np.uint8))
    return path


def _train(model, path, options, stream, out, monkeypatch):
    monkeypatch.setenv("LATENTZOO_STREAM", "1" if stream else "0")
    return train_model(model, str(path), out, overrides=dict(options), progress=False)


def _same_numbers(a: dict, b: dict) -> None:
    skip = {"train_seconds", "samples_per_second", "eval_seconds", "diagnosis"}   # timings (diagnosis: samples/s)
    assert a.keys() == b.keys()
    for key in a.keys() - skip:
        if isinstance(a[key], float) and math.isnan(a[key]):
            assert math.isnan(b[key]), key
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("model", sorted(FAMILIES))
def test_streaming_trains_the_same_weights_and_metrics(model, request, monkeypatch, tmp_path):
    fixture, options = FAMILIES[model]
    path = request.getfixturevalue(fixture)
    whole = _train(model, path, options, False, tmp_path / "whole", monkeypatch)
    lazy = _train(model, path, options, True, tmp_path / "lazy", monkeypatch)
    a, b = whole.state_dict(), lazy.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    _same_numbers(whole.metrics, lazy.metrics)
    figures = sorted(p.name for p in (tmp_path / "whole" / "figures").iterdir())
    assert figures == sorted(p.name for p in (tmp_path / "lazy" / "figures").iterdir())


def test_over_the_cap_metrics_come_from_a_stated_subsample(vectors, monkeypatch, tmp_path):
    """Above the view's cap the metrics say how many test examples they read, and of how many."""
    monkeypatch.setattr(lazy_view, "VIEW_ROWS", 20)
    lazy = _train("sparse-ae", vectors, {"epochs": 1, "batch_size": 32}, True, None, monkeypatch)
    assert lazy.metrics["eval_examples"] == 20 and lazy.metrics["eval_of"] == 32   # 160 × 0.2 test examples
    whole = _train("sparse-ae", vectors, {"epochs": 1, "batch_size": 32}, False, None, monkeypatch)
    assert "eval_examples" not in whole.metrics


def test_embed_reads_lazy_rows_batch_by_batch(vectors, monkeypatch):
    """``model.embed`` (the CLI's ``embed`` too) takes a split read lazily and returns what the tensor gives."""
    from latentzoo.data import load_dataset

    model = _train("sparse-ae", vectors, {"epochs": 1, "batch_size": 32}, True, None, monkeypatch)
    lazy = load_dataset(str(vectors), 0)
    monkeypatch.setenv("LATENTZOO_STREAM", "0")
    whole = load_dataset(str(vectors), 0)
    assert torch.equal(model.embed(lazy.x_test), model.embed(whole.x_test))
    assert torch.equal(model.reconstruct(lazy.x_train), model.reconstruct(whole.x_train))
