r"""The Python API: ``lz.fit`` and ``lz.load``, over the same engine as the command line.

::

    import latentzoo as lz
    vae = lz.fit("vae", x_train, latent_dim=16, epochs=20)          # x_train: a NumPy array (n, ...)
    codes = vae.embed(x_test)                                        # NumPy in → NumPy out
    gan = lz.fit(lz.GAN(generator=G, discriminator=D), loader)       # your own networks, a DataLoader
    model = lz.load("runs/vae")                                      # a trained run directory

``data`` may be a built-in name, a path, an array or tensor (n, …), a tuple ``(x, y)``, a
map-style :class:`torch.utils.data.Dataset` (items ``x`` or ``(x, y)``) or a
:class:`torch.utils.data.DataLoader` (its batch size is then the batch size). Unless ``test=`` is
given, 20% of the examples are held out for evaluation, chosen by ``seed``, as on the command line.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from latentzoo.errors import UserError

__all__ = ["as_dataset", "fit", "load"]


def fit(model, data=None, *, test=None, out=None, epochs: int | None = None, seed: int = 0, devices=1,
        num_nodes: int = 1, strategy: str = "auto", accelerator: str = "auto", precision: str = "32-true",
        max_time=None, progress: bool = True, resume: bool = False, force: bool = False, threads: int | None = None,
        **options):
    r"""Train ``model`` on ``data`` and return the trained model (an ``nn.Module``).

    Parameters
    ----------
    model : str or LatentModel
        A registered name (``"vae"``, see ``latentzoo list``) or a model object such as
        ``lz.VAE(latent_dim=16, encoder=..., decoder=...)``.
    data : str, path, array, tensor, (x, y), Dataset or DataLoader
        The training data (see the module docstring); ``None`` takes the model's default built-in set.
    test : same forms as data, optional
        Held-out data for the evaluation; by default 20% of ``data``.
    out : path, optional
        Write the usual run directory there (config, checkpoints, weights, metrics, figures,
        report); ``None`` trains without writing anything.
    epochs : int, optional
        Passes over the training data; by default the model's recipe for the data.
    seed : int
        Seed of the split, the initialisation and the batches, as ``--seed``.
    devices, num_nodes : int
        Devices per node and nodes, for Lightning Fabric (as ``--devices``, ``--num-nodes``).
    strategy, accelerator, precision : str
        For Lightning Fabric (as ``--strategy``, ``--accelerator``, ``--precision``).
    progress : bool
        Show a progress bar.
    resume : bool
        Continue the interrupted run in ``out`` (as ``--resume``).
    force : bool
        Replace a finished run in ``out`` (as ``--force``).
    max_time : str or float, optional
        A training budget (``"90s"``, ``"15m"``, ``"2h"`` or minutes): the schedules are planned for it,
        training stops when it is spent, and evaluation follows.
    threads : int, optional
        CPU threads of this process.
    **options
        The model's options, the keys of ``--set`` (``latent_dim=16``, ``lr=1e-3``, ...).

    Returns
    -------
    LatentModel
        Trained, in eval mode, with ``.metrics`` (the dict of ``metrics.json``), ``.history`` and ``.config``.
    """
    from latentzoo.engine import train_model
    from latentzoo.model import LatentModel

    if not isinstance(model, (str, LatentModel)):
        raise TypeError(f"model must be a registered name or a latentzoo model, got {type(model).__name__}")
    _check_int("seed", seed)
    if epochs is not None:
        _check_int("epochs", epochs, minimum=1)
    dataset, batch_size = _training_data(data, test, seed)
    if batch_size is not None and "batch_size" not in options:
        options["batch_size"] = batch_size
    if isinstance(model, str):
        from latentzoo.registry import model_class

        model = model_class(model)(**options)
        options = {}
    trained = train_model(model, dataset, out, overrides=options, seed=seed, epochs=epochs, resume=resume, force=force,
                          accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy,
                          precision=precision, progress=progress, max_time=max_time, threads=threads)
    return trained.eval()


def load(run_dir, device: str | torch.device = "cpu", **networks):
    r"""The trained model of the run directory ``run_dir``, in eval mode (its dataset is not read).

    A model trained with your own networks needs them again, as untrained modules of the same
    classes: ``lz.load("runs/my-vae", encoder=MyEncoder(), decoder=MyDecoder())``. Loading runs
    no code from the run directory: weights are safetensors, the configuration is plain YAML.
    """
    from latentzoo.engine import load_model

    if not isinstance(run_dir, (str, os.PathLike)):
        raise TypeError(f"run_dir must be a path, got {type(run_dir).__name__}")
    return load_model(Path(run_dir), device, **networks)


def _check_int(name: str, value, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _training_data(data, test, seed: int):
    """(data for the engine: a name/path string or a Dataset, the DataLoader's batch size or None)."""
    if data is None or isinstance(data, (str, os.PathLike)):
        if test is not None:
            raise ValueError("test= needs data given as arrays, tensors, a Dataset or a DataLoader, not a name or path")
        return (None if data is None else os.fspath(data)), None
    batch_size = getattr(data, "batch_size", None) if isinstance(data, torch.utils.data.DataLoader) else None
    return as_dataset(data, test=test, seed=seed), batch_size


def as_dataset(data, test=None, seed: int = 0, name: str = "in-memory data"):
    r"""A latentzoo :class:`~latentzoo.data.Dataset` from Python data (see the module docstring).

    Arrays of shape (n, d) are vectors ((n, 2) points), (n, H, W) or (n, C, H, W) images (uint8
    0..255 or floats in [0, 1]); labels, when given, are integer class indices.
    """
    from latentzoo.data import Dataset
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
