"""What a run carries from step to step, and how it goes to and from a checkpoint.

:class:`TrainState` holds the counters and the history; a checkpoint holds it beside the
model, the optimizers, the schedulers and every random-number state, so that ``--resume``
replays the run exactly (bitwise on CPU). Checkpoints are written atomically and loaded with
``weights_only=True``: loading one never runs code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from latentzoo import io
from latentzoo.errors import UserError, printable
from latentzoo.io import read_regular_file

CHECKPOINT = Path("checkpoints") / "last.ckpt"
FORMAT = "latentzoo-checkpoint-1"
MAX_CHECKPOINT_BYTES = 1 << 34  # 16 GiB: far above any model here, far below what would exhaust memory


@dataclass
class TrainState:
    """Counters of a run: where it is (epoch, batch inside the epoch, global step) and what it measured."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    history: list = field(default_factory=list)
    running: dict = field(default_factory=dict)     # per-epoch (sum, count) of every logged value
    train_seconds: float = 0.0
    samples: int = 0
    epoch_seconds: float = 0.0                       # time already spent in the current epoch (mid-epoch resume)

    def to_checkpoint(self) -> dict:
        return {**asdict(self), "running": {k: (float(s), n) for k, (s, n) in self.running.items()}}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> TrainState:
        return cls(**{k: ckpt[k] for k in cls.__dataclass_fields__})


def save_checkpoint(path: Path, state: TrainState, model, optimizers: dict, schedulers: list,
                    loader_rng: torch.Tensor, device: torch.device) -> None:
    """Everything a resume needs, written atomically."""
    io.torch_save({
        "format": FORMAT,
        "model": model.state_dict(),
        "optimizers": {p: o.state_dict() for p, o in optimizers.items() if o is not None},
        "schedulers": [s.state_dict() for s in schedulers],
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "loader_rng": loader_rng,
        **state.to_checkpoint(),
    }, path)


def restore_checkpoint(path: Path, model, optimizers: dict, schedulers: list, device: torch.device) -> tuple:
    """Load ``path`` into the model, optimizers and schedulers; return (state, loader RNG state)."""
    ckpt = load_checkpoint(path)
    try:
        model.load_state_dict(ckpt["model"])
        for p, sd in ckpt["optimizers"].items():
            if optimizers.get(p) is not None:
                optimizers[p].load_state_dict(sd)
        for s, sd in zip(schedulers, ckpt["schedulers"]):
            s.load_state_dict(sd)
        state = TrainState.from_checkpoint(ckpt)
        torch.set_rng_state(ckpt["torch_rng"])
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise UserError(f"{printable(str(path))}: a checkpoint of a different model or configuration "
                        f"({type(e).__name__}: {printable(str(e), 160)})") from None
    if ckpt.get("cuda_rng") is not None and device.type == "cuda":
        torch.cuda.set_rng_state(ckpt["cuda_rng"], device)
    return state, ckpt["loader_rng"]


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint without unpickling arbitrary objects (``weights_only=True``)."""
    raw = read_regular_file(path, MAX_CHECKPOINT_BYTES)
    import io as _io

    try:
        ckpt = torch.load(_io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure here means an unusable file
        raise UserError(f"{printable(str(path))}: not a loadable latentzoo checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise UserError(f"{printable(str(path))}: not a latentzoo checkpoint")
    return ckpt


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """The trained weights as safetensors (a format that cannot carry code)."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    io.write_bytes(path, save(tensors))


def load_weights(model: torch.nn.Module, run_dir: Path) -> None:
    """Load ``weights.safetensors`` (or the last checkpoint of an unfinished run) into ``model``."""
    weights = run_dir / "weights.safetensors"
    if weights.is_file():
        from safetensors.torch import load

        try:
            state = load(read_regular_file(weights, MAX_CHECKPOINT_BYTES))
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001
            raise UserError(f"{printable(str(weights))}: unreadable weights ({type(e).__name__})") from None
    elif (run_dir / CHECKPOINT).is_file():
        state = load_checkpoint(run_dir / CHECKPOINT)["model"]
    else:
        raise UserError(f"{printable(str(run_dir))} has no trained weights yet (no weights.safetensors or checkpoint)")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = printable(str(e).strip().splitlines()[0], 160)
        raise UserError(f"{printable(str(run_dir))}: weights do not fit the model ({first})") from None
