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

import contextlib
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from latentzoo.data.dataset import is_lazy
from latentzoo.data.lazy_view import model_view
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
    """Base class of every model; see the module docstring for the training contract.

    A model is made in two steps, so that it can be described before any data is seen:

    * ``Model(**options, encoder=..., ...)`` stores the options (validated at once, like
      ``--set``) and any networks the user supplies (the names in :attr:`networks`);
    * :meth:`build` (called by ``fit``, or by ``lz.load``) resolves the configuration for
      the data and creates the networks the user did not supply, sized for the data.

    ``Model(config, data)`` does both at once.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    phases: ClassVar[tuple[str, ...]] = ("main",)
    networks: ClassVar[tuple[str, ...]] = ()          # networks a user may supply: encoder=, decoder=, ...
    grad_norm_every: ClassVar[int] = 10               # steps between the engine's gradient-norm checks (and logs)
    # What the model declares about itself (read by the engine, report, tour and CLI).
    METRICS: ClassVar[tuple[Metric, ...]] = ()
    FIGURES: ClassVar[tuple[Figure, ...]] = ()
    can_embed: ClassVar[bool] = True
    can_reconstruct: ClassVar[bool] = False
    can_sample: ClassVar[bool] = False
    extra_evaluations: ClassVar[dict[str, str]] = {}   # method name → what it measures

    def __init_subclass__(cls, **kwargs):
        """A family's ``evaluate(data, history)`` also takes any data ``lz.fit`` takes (arrays, (x, y), a
        Dataset or DataLoader: split as ``fit`` splits them), in eval mode, with an empty history by default."""
        super().__init_subclass__(**kwargs)
        impl = cls.__dict__.get("evaluate")
        if impl is None or getattr(impl, "_accepts_any_data", False):
            return

        @functools.wraps(impl)
        def evaluate(self, data, history: list[dict] | None = None) -> dict:
            self._require_built()
            with evaluating(self):
                return impl(self, model_view(self, _as_dataset(data)), history or [])

        evaluate._accepts_any_data = True
        cls.evaluate = evaluate

    def __init__(self, config: ModelConfig | None = None, data=None, /, **options):
        super().__init__()
        given = {}
        for key in self.networks:
            if key in self.Config.model_fields and not isinstance(options.get(key), nn.Module):
                continue  # also an option of that name (decoder="linear", encoder="sigmoid"): validated below
            module = options.pop(key, None)
            if module is not None:
                if not isinstance(module, nn.Module):
                    raise TypeError(f"{key}= must be a torch.nn.Module, got {type(module).__name__}")
                given[key] = module
        self.options = validate_options(type(self), options)
        self.given_networks = given   # a plain dict: registered as sub-modules once setup() places them
        self.config = None
        self.metrics: dict = {}
        self.history: list[dict] = []
        if config is not None:
            if data is None:
                raise TypeError(f"{type(self).__name__}(config, data): data is missing")
            self.build(config, data)

    # ---- configuration -------------------------------------------------------------
    @classmethod
    def recipe(cls, data: Dataset) -> dict:
        """The default configuration for this kind of data (overridden by the user's)."""
        return {}

    @classmethod
    def check(cls, config: ModelConfig, data: Dataset) -> None:
        """Refuse impossible combinations of options and data with a :class:`UserError`."""

    @classmethod
    def prefers_bf16(cls, config: ModelConfig, data: Dataset) -> bool:
        """Whether ``precision="auto"`` should run this model in bf16-mixed where the hardware computes
        bfloat16 natively (:func:`latentzoo.engine.runtime.native_bf16`): True only where it was measured
        faster with the same metrics (benchmarks/RESULTS.md)."""
        return False

    def build(self, config: ModelConfig, data) -> LatentModel:
        """Create the networks for ``data`` (a Dataset or a :class:`~latentzoo.data.info.DataInfo`)."""
        from latentzoo.data.info import DataInfo

        self.config = config
        self.data_info = DataInfo.of(data)
        self.data_kind, self.data_shape = self.data_info.kind, self.data_info.shape
        self.setup(config, self.data_info)
        return self

    def setup(self, config: ModelConfig, data) -> None:
        """Create the model's networks and buffers (those the user did not supply)."""

    def network(self, key: str, default: Callable[[], nn.Module]) -> nn.Module:
        """The user's network ``key`` when one was given, else ``default()``."""
        return self.given_networks[key] if key in self.given_networks else default()

    @property
    def built(self) -> bool:
        return self.config is not None

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

    def converged(self, history: list[dict]) -> bool:
        """True to stop training before ``epochs`` (checked after each epoch); default never."""
        return False

    # ---- use after training --------------------------------------------------------
    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    def evaluate(self, data, history: list[dict] | None = None) -> dict:
        """Test metrics, flat JSON-able values (see DESIGN.md for the keys)."""
        raise NotImplementedError

    def embed(self, x):
        """The learned representation of each example, shape (n, latent); NumPy in → NumPy out."""
        if not self.can_embed:
            raise UserError(f"{self.name} has no representation to embed")
        return self._batched(self._embed, x)

    def reconstruct(self, x):
        """The model's reconstruction of each example, shape of ``x``; NumPy in → NumPy out."""
        if not self.can_reconstruct:
            raise UserError(f"{self.name} does not reconstruct its input")
        return self._batched(self._reconstruct, x)

    def sample(self, n: int, seed: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new examples, shape (n, *data_shape), on the CPU; ``seed`` fixes the noise."""
        if not self.can_sample:
            raise UserError(f"{self.name} is not a generative model: it cannot sample")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if isinstance(seed, torch.Generator):
            generator, seed = seed, None
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(int(seed))
        with torch.no_grad(), evaluating(self):
            return self._sample(n, generator).cpu()

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _sample(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError

    def _batched(self, fn, x, batch_size: int = 1024):
        """``fn`` on chunks of ``x`` in eval mode without gradients; NumPy in → NumPy out, torch in → torch out."""
        self._require_built()
        if is_lazy(x):  # rows read from a file: one batch in memory at a time, a tensor out
            with torch.no_grad(), evaluating(self):
                parts = [fn(x[i:i + batch_size].to(self.device)).detach().cpu() for i in range(0, len(x), batch_size)]
            return torch.cat(parts)
        as_numpy = not isinstance(x, torch.Tensor)
        xt = self._as_examples(torch.as_tensor(np.asarray(x) if as_numpy else x))
        device = xt.device
        with torch.no_grad(), evaluating(self):
            parts = [fn(xt[i:i + batch_size].to(self.device)).detach() for i in range(0, len(xt), batch_size)]
        out = torch.cat(parts) if parts else fn(xt[:0].to(self.device)).detach()
        return out.cpu().numpy() if as_numpy else out.to(device)

    def _as_examples(self, xt: torch.Tensor) -> torch.Tensor:
        """Examples in the form the model trained on, from the forms ``fit`` accepts: images (n, H, W) or
        (n, H, W, C) become (n, C, H, W), and integer images 0..255 are scaled into [0, 1] as ``fit`` does."""
        shape = tuple(self.data_shape)
        if self.data_kind == "image" and tuple(xt.shape[1:]) != shape:
            if xt.ndim == 3 and shape[0] == 1:
                xt = xt.unsqueeze(1)                                  # (n, H, W) → (n, 1, H, W)
            elif xt.ndim == 4 and tuple(xt.shape[1:]) == (*shape[1:], shape[0]):
                xt = xt.permute(0, 3, 1, 2)                           # (n, H, W, C) → (n, C, H, W)
        if tuple(xt.shape[1:]) != shape:
            raise ValueError(f"x must have examples of shape {shape}, got {tuple(xt.shape[1:])}")
        if not xt.is_floating_point():
            xt = xt.float() / 255 if self.data_kind == "image" else xt.float()
        return xt.float()

    def _require_built(self) -> None:
        if not self.built:
            raise ValueError(f"this {type(self).__name__} has not been trained yet: call lz.fit(model, data) first")

    def figures(self, data: Dataset, history: list[dict], figure_dir: Path) -> list[Path]:
        """Write this family's figures as PNG files and return their paths."""
        return []


@contextlib.contextmanager
def evaluating(module: nn.Module):
    """Evaluation mode (batch norm on running statistics, no dropout) for the duration, then back."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def _as_dataset(data):
    """A latentzoo Dataset (anything with x_train and x_test passes as it is)."""
    if hasattr(data, "x_train") and hasattr(data, "x_test"):
        return data
    from latentzoo.data.python_data import as_dataset

    return as_dataset(data)


def validate_options(cls, options: dict) -> dict:
    """``options`` checked against ``cls.Config`` (names, types, ranges) as ``--set`` values are."""
    from pydantic import ValidationError

    from latentzoo.config import describe_validation_error

    try:
        cls.Config.model_validate(options)
    except ValidationError as e:
        raise UserError(describe_validation_error(e, cls)) from None
    return dict(options)
