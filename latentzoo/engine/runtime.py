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


def native_bf16(accelerator: str) -> bool:
    """True when a run on ``accelerator`` lands on a CPU whose matrix units compute bfloat16 natively
    (Intel AMX-BF16: Sapphire Rapids and later). There, bf16-mixed was measured 1.6–2× faster than
    float32 for the 28×28 convolutional recipes (benchmarks/RESULTS.md); elsewhere on CPUs bf16 is
    emulated and slower. GPUs keep float32 under ``auto`` until it is measured there."""
    if accelerator not in ("cpu", "auto") or (accelerator == "auto" and (torch.cuda.is_available() or _has_mps())):
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return "amx_bf16" in line.split()
    except OSError:
        return False
    return False


def resolve_precision(precision: str, model, config, data, accelerator: str, saved: dict | None = None) -> str:
    """``precision="auto"``: a resumed run's saved precision, else bf16-mixed where the model prefers it and
    the hardware computes it natively (:meth:`LatentModel.prefers_bf16`, :func:`native_bf16`), else 32-true.
    Any other value is the user's choice, kept as given."""
    if str(precision) != "auto":
        return precision
    if saved is not None:
        return str(saved.get("fabric", {}).get("precision", "32-true"))
    if data is not None and type(model).prefers_bf16(config, data) and native_bf16(accelerator):
        return "bf16-mixed"
    return "32-true"
