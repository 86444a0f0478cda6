"""Where the loop runs: Lightning Fabric, or — for one process on one device at 32-bit precision —
a local runtime with the same few members, so that such a run never imports Lightning (seconds of
start-up that a user waits for on every call, for wrappers that would do nothing there).
"""

from __future__ import annotations

import importlib.util
import os
from types import SimpleNamespace

import torch

LAUNCHER_VARIABLES = ("LOCAL_RANK", "NODE_RANK", "RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS")


class LocalRuntime:
    """One process, one device, plain float32: what the engine uses of Fabric, without Fabric."""

    world_size, global_rank, is_global_zero, num_nodes = 1, 0, True, 1
    loggers: list = []
    strategy = SimpleNamespace(precision=SimpleNamespace(scaler=None))

    def __init__(self, device: torch.device):
        self.device = device

    def launch(self):
        return None

    def barrier(self):
        return None

    def broadcast(self, obj, src: int = 0):
        return obj

    def log_dict(self, metrics: dict, step: int | None = None):
        return None


def local_device(options: dict) -> torch.device | None:
    """The device of a run that needs no Fabric, or None when Fabric is needed (several devices or
    nodes, a launcher's environment, another precision or strategy, an accelerator other than CPU/CUDA,
    TensorBoard logging)."""
    if str(options["devices"]) != "1" or options["num_nodes"] != 1:
        return None
    if options["strategy"] not in ("auto", "single_device") or str(options["precision"]) not in ("32-true", "32"):
        return None
    if any(v in os.environ for v in LAUNCHER_VARIABLES) or importlib.util.find_spec("tensorboard") is not None:
        return None
    accelerator = options["accelerator"]
    if accelerator == "cpu":
        return torch.device("cpu")
    if accelerator in ("cuda", "gpu") and torch.cuda.is_available():
        return torch.device("cuda", 0)
    if accelerator == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else None if _has_mps() else torch.device("cpu")
    return None


def _has_mps() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
