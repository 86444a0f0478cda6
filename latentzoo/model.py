"""What every model supplies to the one training loop (:mod:`latentzoo.engine`).

A model is a plain ``nn.Module`` with a typed configuration. The engine owns devices,
batching, checkpoints, logging and the loop; the model owns its loss, its optimizers,
its evaluation and its figures. The loop, per batch ``x`` (examples only, no labels)::

    for phase in model.phases_for_step(step):          # ("main",) or ("discriminator", "generator")
        loss, logs = model(x, phase=phase)               # forward computes the training loss
        optimizer[phase].zero_grad(); backward(loss); clip; optimizer[phase].step()
        model.after_optimizer_step(phase)                # projections, EMA updates, ...

The loss is computed inside ``forward`` so that distributed wrappers (DDP) see the
call and synchronise gradients. A model whose update is not a gradient step (the
online dictionary update of sparse coding) returns no optimizer for that phase and
performs its update inside ``forward`` under ``torch.no_grad``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from latentzoo.errors import UserError
from latentzoo.spec import Figure, Metric

if TYPE_CHECKING:
    from latentzoo.data import Dataset


class ModelConfig(BaseModel):
    """Options shared by every model; each family subclasses it with its own keys.

    Unknown keys are refused (``extra="forbid"``), values are type-checked and
    range-checked, so that ``--set`` mistakes fail before training starts.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    epochs: int = Field(20, gt=0, description="passes over the training split")
    batch_size: int = Field(128, gt=0, description="examples per optimizer step (global, over all devices)")
    lr: float = Field(1e-3, gt=0, description="learning rate")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay")
    grad_clip: float | None = Field(None, gt=0, description="clip the gradient norm to this value")
    latent_dim: int = Field(8, gt=0, description="size of the latent code")
    hidden: int = Field(256, gt=0, description="width of hidden layers")
    depth: int = Field(2, gt=0, description="number of hidden layers")


def adam(params, lr: float, weight_decay: float = 0.0, device: torch.device | None = None,
         betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Adam:
    """Adam, fused into one kernel where PyTorch supports it (CPU and CUDA float tensors)."""
    fused = device is not None and device.type in ("cpu", "cuda")
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, betas=betas, fused=fused or None)


class LatentModel(nn.Module):
    """Base class of every model; see the module docstring for the training contract."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    phases: ClassVar[tuple[str, ...]] = ("main",)
    # What the model declares about itself (read by the engine, report, tour and CLI).
    METRICS: ClassVar[tuple[Metric, ...]] = ()
    FIGURES: ClassVar[tuple[Figure, ...]] = ()
    can_embed: ClassVar[bool] = True
    can_reconstruct: ClassVar[bool] = False
    can_sample: ClassVar[bool] = False
    extra_evaluations: ClassVar[dict[str, str]] = {}   # method name → what it measures

    def __init__(self, config: ModelConfig, data: Dataset):
        super().__init__()
        self.config = config
        self.data_kind = data.kind
        self.data_shape = data.shape

    # ---- configuration -------------------------------------------------------------
    @classmethod
    def recipe(cls, data: Dataset) -> dict:
        """The default configuration for this kind of data (overridden by the user's)."""
        return {}

    @classmethod
    def check(cls, config: ModelConfig, data: Dataset) -> None:
        """Refuse impossible combinations of options and data with a :class:`UserError`."""

    # ---- training ------------------------------------------------------------------
    def forward(self, x: torch.Tensor, phase: str = "main") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss of a batch for ``phase`` and a dict of values to log."""
        raise NotImplementedError

    def configure_optimizers(self, total_steps: int) -> tuple[dict, list]:
        """``({phase: optimizer or None}, [schedulers stepped once per step])``."""
        c = self.config
        return {"main": adam(self.parameters(), c.lr, c.weight_decay, self.device)}, []

    def phases_for_step(self, step: int) -> tuple[str, ...]:
        """Which phases run on the batch of global step ``step`` (all by default)."""
        return self.phases

    def on_train_start(self, data: Dataset) -> None:
        """Data-dependent set-up before the first step (e.g. a PCA start); runs once, not on resume."""

    def after_optimizer_step(self, phase: str) -> None:
        """Called after each optimizer step (projection onto constraints, EMA, ...)."""

    def on_epoch_end(self, epoch: int, data: Dataset) -> dict:
        """Values to add to the epoch's history (cheap diagnostics); default none."""
        return {}

    # ---- use after training --------------------------------------------------------
    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    def evaluate(self, data: Dataset, history: list[dict]) -> dict:
        """Test metrics, flat JSON-able values (see DESIGN.md for the keys)."""
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The learned representation of each example, shape (n, latent)."""
        raise UserError(f"{self.name} has no representation to embed")

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new examples, shape (n, *data_shape)."""
        raise UserError(f"{self.name} is not a generative model: it cannot sample")

    def figures(self, data: Dataset, history: list[dict], figure_dir: Path) -> list[Path]:
        """Write this family's figures as PNG files and return their paths."""
        return []
