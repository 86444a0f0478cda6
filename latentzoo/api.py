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

from latentzoo.data.python_data import as_dataset

__all__ = ["as_dataset", "fit", "load"]


def fit(model, data=None, *, test=None, out=None, epochs: int | None = None, seed: int = 0, devices=1,
        num_nodes: int = 1, strategy: str = "auto", accelerator: str = "auto", precision: str = "auto",
        max_time=None, progress: bool = True, resume: bool = False, force: bool = False, threads: int | None = None,
        compile: bool = False, **options):
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
        For Lightning Fabric (as ``--strategy``, ``--accelerator``, ``--precision``). ``precision="auto"``
        runs the models that prefer it (convolutional networks on images of 16 pixels a side or more) in
        bf16-mixed on CPUs that compute bfloat16 natively (AMX), and everything else in 32-true.
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
    compile : bool
        Run the networks under ``torch.compile`` (as ``--compile``; the same weights, a slower start).
    **options
        The model's options, the keys of ``--set`` (``latent_dim=16``, ``lr=1e-3``, ...).

    Returns
    -------
    LatentModel
        Trained, in eval mode, with ``.metrics`` (the dict of ``metrics.json``), ``.history`` and ``.config``.
    """
    from latentzoo.engine import train_model
    from latentzoo.registry import model_class

    _check_arguments(model, seed, epochs)
    dataset, batch_size = _training_data(data, test, seed)
    options = options if batch_size is None else {"batch_size": batch_size, **options}
    if isinstance(model, str):
        model = model_class(model)(**options)
        options = {}
    fabric = {"accelerator": accelerator, "devices": devices, "num_nodes": num_nodes, "strategy": strategy}
    return train_model(model, dataset, out, overrides=options, seed=seed, epochs=epochs, resume=resume, force=force,
                       precision=precision, progress=progress, max_time=max_time, threads=threads, compile=compile,
                       **fabric).eval()


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


def _check_arguments(model, seed, epochs) -> None:
    from latentzoo.model import LatentModel

    if not isinstance(model, (str, LatentModel)):
        raise TypeError(f"model must be a registered name or a latentzoo model, got {type(model).__name__}")
    _check_int("seed", seed)
    if epochs is not None:
        _check_int("epochs", epochs, minimum=1)


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
