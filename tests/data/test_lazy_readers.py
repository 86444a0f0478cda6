"""IDX folders and image folders read lazily hold exactly the values the in-memory readers hold."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from latentzoo.data import is_lazy, load_dataset
from latentzoo.data.batching import TensorBatches
from latentzoo.data.streaming import StreamingBatches, loader_workers
from latentzoo.engine import train_model
from latentzoo.errors import UserError


def _both(path, monkeypatch):
    monkeypatch.setenv("LATENTZOO_STREAM", "0")
    whole = load_dataset(str(path), 0)
    monkeypatch.setenv("LATENTZOO_STREAM", "1")
    lazy = load_dataset(str(path), 0)
    assert not is_lazy(whole.x_train) and is_lazy(lazy.x_train) and is_lazy(lazy.x_test)
    return whole, lazy


def _differences(whole, lazy) -> list[str]:
    """What the lazy dataset holds differently from the in-memory one (empty when they agree)."""
    out = []
    if (lazy.name, lazy.kind, lazy.shape) != (whole.name, whole.kind, whole.shape):
        out.append("name, kind or shape")
    for split in ("train", "test"):
        a, b = getattr(whole, f"x_{split}"), getattr(lazy, f"x_{split}")
        if not torch.equal(a, b[:]):
            out.append(f"x_{split}")
        if not torch.equal(a[[2, 0, 2]], b[[2, 0, 2]]):
            out.append(f"x_{split} by index")
        ya, yb = getattr(whole, f"y_{split}"), getattr(lazy, f"y_{split}")
        if not ((ya is None and yb is None) or (ya is not None and yb is not None and torch.equal(ya, yb))):
            out.append(f"y_{split}")
    if lazy.in_unit_interval != whole.in_unit_interval or lazy.num_classes != whole.num_classes:
        out.append("in_unit_interval or num_classes")
    return out


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("n_test", [7, 0])   # its own test split, or one drawn from the seed
def test_idx_folder_read_lazily_holds_the_same_values(gz, n_test, write, tmp_path, monkeypatch):
    folder, _ = write.mnist_folder(tmp_path / "mnist", n_train=23, n_test=n_test, gz=gz)
    assert _differences(*_both(folder, monkeypatch)) == []


@pytest.mark.parametrize("rgb", [False, True])
@pytest.mark.parametrize("splits", [False, True])   # train/ and test/ folders, or a split drawn from the seed
def test_image_folder_read_lazily_holds_the_same_values(rgb, splits, write, tmp_path, monkeypatch):
    if splits:
        write.image_folder(tmp_path / "pics" / "train", per_class=6, rgb=rgb)
        write.image_folder(tmp_path / "pics" / "test", per_class=3, rgb=rgb, seed=1)
    else:
        write.image_folder(tmp_path / "pics", classes=("a", "b", "c"), per_class=5, rgb=rgb)
    assert _differences(*_both(tmp_path / "pics", monkeypatch)) == []


@pytest.mark.parametrize("workers", ["0", "2"])
def test_image_batches_decoded_in_workers_equal_the_in_memory_batches(workers, write, tmp_path, monkeypatch):
    write.image_folder(tmp_path / "pics", classes=("a", "b"), per_class=20, rgb=True)
    monkeypatch.setenv("LATENTZOO_WORKERS", workers)
    whole, lazy = _both(tmp_path / "pics", monkeypatch)
    assert lazy.x_train.workers == int(workers)
    for rank in range(2):
        a = TensorBatches(whole.x_train, 4, seed=5, rank=rank, world_size=2)
        b = StreamingBatches(lazy.x_train, 4, seed=5, rank=rank, world_size=2)
        for _ in range(2):                       # two epochs: a new permutation each
            a.start_epoch()
            b.start_epoch()
            got = list(b.batches(1))             # from batch 1, as a resumed epoch does
            assert [i for i, _ in got] == list(range(1, len(a)))
            for (i, x), (j, y) in zip(list(a.batches(1)), got):
                assert i == j and torch.equal(x, y)


def test_a_bad_worker_count_is_one_line(monkeypatch):
    monkeypatch.setenv("LATENTZOO_WORKERS", "many")
    with pytest.raises(UserError, match="LATENTZOO_WORKERS must be a whole number"):
        loader_workers()


def test_a_huge_idx_file_is_mapped_not_read(tmp_path, monkeypatch):
    """32 Gi bytes of images (a sparse file) open lazily: the header is read, the data only when indexed."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    dims = (2**15, 2**10, 2**10)
    header = bytes([0, 0, 8, 3]) + struct.pack(">III", *dims)
    with open(folder / "train-images-idx3-ubyte", "wb") as f:
        f.write(header)
        f.truncate(len(header) + 2**35)
    monkeypatch.delenv("LATENTZOO_STREAM", raising=False)   # chosen by size, not forced
    data = load_dataset(str(folder), 0)
    assert is_lazy(data.x_train) and len(data.x_train) + len(data.x_test) == 2**15
    assert data.shape == (1, 2**10, 2**10) and torch.equal(data.x_test[:2], torch.zeros(2, 1, 2**10, 2**10))


def test_a_lazy_image_folder_trains_the_same_weights(write, tmp_path, monkeypatch):
    write.image_folder(tmp_path / "pics", classes=("a", "b"), per_class=24, size=(8, 8))
    models = {}
    for stream in ("0", "1"):
        monkeypatch.setenv("LATENTZOO_STREAM", stream)
        monkeypatch.setenv("LATENTZOO_WORKERS", "1")
        models[stream] = train_model("sparse-ae", str(tmp_path / "pics"), None,
                                     overrides={"epochs": 2, "batch_size": 8, "latent_dim": 8}, progress=False)
    a, b = models["0"].state_dict(), models["1"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert models["0"].metrics["test_recon_mse"] == models["1"].metrics["test_recon_mse"]
    assert np.isfinite(models["1"].metrics["test_recon_mse"])
