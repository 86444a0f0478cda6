r"""Beyond the seed — the denoising autoencoder (Vincent et al. 2008).

The code is constrained by what it must undo: the encoder sees a corrupted example
x̃ ∼ C(x̃ | x) and the decoder must return the clean one,

    L(x) = ‖x − g(f(x̃))‖²       (sum over features, mean over the batch; fresh x̃ every step)

with C either additive Gaussian noise, x̃ = x + s·ε, ε ∼ N(0, I) (``corruption=gaussian``,
``noise`` = s in the data's units), or masking, x̃ = x ⊙ m, mᵢ ∼ Bernoulli(1 − p)
(``corruption=mask``, ``noise`` = p, the fraction of features set to 0).

Metrics: ``test_recon_mse`` (clean inputs), ``test_denoising_mse`` = mean ‖x − g(f(x̃))‖² on
corrupted test inputs (a fixed corruption, seed 0), and ``test_corrupted_mse`` = mean ‖x − x̃‖²,
the error of doing nothing, for comparison.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from latentzoo import distributed
from latentzoo.autoencoders.base import NetworkAEConfig, NetworkAutoencoder, in_chunks, squared_error
from latentzoo.data.lazy_view import in_memory_view
from latentzoo.errors import UserError
from latentzoo.spec import Metric


class DenoisingAEConfig(NetworkAEConfig):
    corruption: Literal["gaussian", "mask"] = Field("gaussian", description="additive Gaussian noise or masking")
    noise: float = Field(0.2, gt=0, description="Gaussian: std in data units; mask: fraction of features zeroed")


def corrupt(x: torch.Tensor, corruption: str, noise: float, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""x̃ = x + s·ε (gaussian) or x ⊙ m with mᵢ ∼ Bernoulli(1 − p) (mask).

    From ``generator``, or else from torch's RNG drawn for the whole global batch, this rank's
    rows kept (:func:`latentzoo.distributed.sharded`): the same corruption as one process.
    """
    draw = torch.randn if corruption == "gaussian" else torch.rand
    if generator is not None:
        r = draw(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    else:
        r = distributed.sharded(lambda m: draw((m, *x.shape[1:]), device=x.device, dtype=x.dtype), x.shape[0])
    if corruption == "gaussian":
        return x + noise * r                                         # x + s·ε
    return x * (r >= noise)                                          # x ⊙ m, mᵢ = 1[uᵢ ≥ p]


class DenoisingAutoencoder(NetworkAutoencoder):
    r"""Encoder–decoder trained on ‖x − g(f(x̃))‖² (see the module docstring)."""

    name = "denoising-ae"
    METRICS = NetworkAutoencoder.METRICS + (
        Metric("test_denoising_mse", "error of g(f(x̃)) against the clean x", "per example", "lower", headline=True),
        Metric("test_corrupted_mse", "error of the corrupted x̃ itself (what denoising starts from)", "per example"),
        Metric("noise", "corruption strength"),
    )
    Config = DenoisingAEConfig

    @classmethod
    def recipe(cls, data):
        # Gaussian noise at half the data's standard deviation, whatever its units.
        return {**super().recipe(data), "noise": round(0.5 * float(in_memory_view(data).x_train.std()), 4) or 0.1}

    @classmethod
    def check(cls, config, data):
        if config.corruption == "mask" and config.noise >= 1:
            raise UserError(f"denoising-ae: with corruption=mask, noise is the fraction of features zeroed "
                            f"and must be < 1, got {config.noise:g}")

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return corrupt(x, self.config.corruption, self.config.noise, generator)

    def training_loss(self, x):
        error = squared_error(x, self.decode(self.encode(self.corrupt(x))))   # ‖x − g(f(x̃))‖²
        return error, {}

    def _fixed_corruption(self, x: torch.Tensor) -> torch.Tensor:
        generator = torch.Generator(device=x.device).manual_seed(0)
        return self.corrupt(x, generator)

    def extra_metrics(self, x, codes, recon):
        corrupted = self._fixed_corruption(x)
        denoised = in_chunks(lambda c: self.decode(self.encode(c)), corrupted)
        return {
            "test_denoising_mse": float(squared_error(x, denoised).mean()),
            "test_corrupted_mse": float(squared_error(x, corrupted).mean()),
            "noise": self.config.noise,
        }

    def example_rows(self, x):
        corrupted = self._fixed_corruption(x)
        return ([x, corrupted, self.decode(self.encode(corrupted)), self.decode(self.encode(x))],
                ["input", "corrupted", "denoised", "reconstruction"])
