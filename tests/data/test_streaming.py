"""Data larger than memory: a .npy read lazily trains exactly as the same file read whole."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentzoo.autoencoders.linear import principal_subspace, principal_subspace_streaming
from latentzoo.data import is_lazy, load_dataset
from latentzoo.data.batching import TensorBatches
from latentzoo.data.streaming import LazyRows, StreamingBatches, column_mean, covariance
from latentzoo.engine import train_model
from latentzoo.errors import UserError


def loaded(path, stream: bool, monkeypatch):
    monkeypatch.setenv("LATENTZOO_STREAM", "1" if stream else "0")
    return load_dataset(str(path), 0)


@pytest.fixture
def vectors(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((203, 12)) @ rng.standard_normal((12, 12)) + 3.0
    path = tmp_path / "vectors.npy"
    np.save(path, x.astype(np.float32))
    return path


@pytest.fixture
def images(tmp_path):
    """uint8 (n, H, W, C) images: the lazy path must scale x / 255 and move the channels first."""
    path = tmp_path / "images.npy"
    np.save(path, np.random.default_rng(1).integers(0, 256, (150, 5, 4, 3), dtype=np.uint8))
    return path


@pytest.mark.parametrize("fixture", ["vectors", "images"])
def test_lazy_splits_hold_the_in_memory_values(fixture, request, monkeypatch):
    path = request.getfixturevalue(fixture)
    whole, lazy = loaded(path, False, monkeypatch), loaded(path, True, monkeypatch)
    assert not is_lazy(whole.x_train) and isinstance(lazy.x_train, LazyRows)
    assert lazy.shape == whole.shape and lazy.kind == whole.kind
    for split in ("x_train", "x_test"):
        a, b = getattr(whole, split), getattr(lazy, split)
        assert len(a) == len(b)
        assert torch.equal(a[:], b[:])
        idx = torch.tensor([7, 0, 3, 3, len(a) - 1])   # unsorted, repeated: the order asked for
        assert torch.equal(a[idx], b[idx])
        assert torch.equal(a[5], b[5])
    assert lazy.in_unit_interval == whole.in_unit_interval


def test_streaming_batches_equal_tensor_batches(vectors, monkeypatch):
    whole, lazy = loaded(vectors, False, monkeypatch), loaded(vectors, True, monkeypatch)
    for rank in range(2):
        a = TensorBatches(whole.x_train, 16, seed=3, rank=rank, world_size=2)
        b = StreamingBatches(lazy.x_train, 16, seed=3, rank=rank, world_size=2)
        assert len(a) == len(b) > 0
        for epoch in range(2):
            a.start_epoch(), b.start_epoch()
            pairs = list(zip(a.batches(), b.batches(), strict=True))
            assert all(i == j and torch.equal(x, y) for (i, x), (j, y) in pairs)


def test_streaming_passes_match_the_closed_forms(vectors, monkeypatch):
    lazy = loaded(vectors, True, monkeypatch)
    monkeypatch.setattr("latentzoo.data.streaming.CHUNK_BYTES", 4 * 12 * 17)  # 17 rows a chunk: many chunks
    x = lazy.x_train[:].double()
    mu = x.mean(0)
    torch.testing.assert_close(column_mean(lazy.x_train).double(), mu, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(covariance(lazy.x_train, mu), torch.cov(x.T), rtol=1e-9, atol=1e-9)
    v_svd, s_svd = principal_subspace(x.float(), 4)
    v_eig, s_eig = principal_subspace_streaming(lazy.x_train, 4)
    torch.testing.assert_close(s_eig, s_svd, rtol=1e-4, atol=1e-5)
    # same subspace: the projections agree (columns' signs are arbitrary)
    torch.testing.assert_close(v_eig @ v_eig.T, v_svd @ v_svd.T, rtol=0, atol=1e-4)


@pytest.mark.parametrize("fixture", ["vectors", "images"])
def test_streaming_path_trains_the_same_weights(fixture, request, monkeypatch, tmp_path):
    path = request.getfixturevalue(fixture)
    models = {}
    for stream in (False, True):
        monkeypatch.setenv("LATENTZOO_STREAM", "1" if stream else "0")
        out = tmp_path / f"run-{stream}"
        models[stream] = train_model("linear-ae", str(path), out, overrides={"epochs": 2, "batch_size": 32},
                                     progress=False)
        assert (out / "figures" / "principal_directions.png").is_file()
    whole, lazy = models[False].state_dict(), models[True].state_dict()
    assert whole.keys() == lazy.keys()
    for key in whole:
        assert torch.equal(whole[key], lazy[key]), key
    a, b = models[False].metrics, models[True].metrics
    for key in ("test_recon_mse", "pca_recon_mse", "subspace_angle_deg"):
        assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-3), key


def test_whole_split_tensor_methods_refuse_in_one_line(vectors, monkeypatch):
    lazy = loaded(vectors, True, monkeypatch)
    with pytest.raises(UserError, match=r"x_train\.std\(\) of the whole split"):
        lazy.x_train.std()


def test_lazy_check_finds_a_nan_in_the_file(tmp_path, monkeypatch):
    x = np.ones((50, 4), np.float32)
    x[37, 2] = np.nan
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(UserError, match="NaN or infinite"):
        loaded(tmp_path / "nan.npy", True, monkeypatch)
