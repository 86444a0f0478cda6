r"""Seed question 1.2 — the sparse autoencoder: reconstruction + λ‖h‖₁ on the codes.

    L(x) = ‖x − g(f(x))‖² + λ‖f(x)‖₁        (sum over features and code units, mean over the batch)

The encoder must be able to output exact zeros for the codes to be sparse, not merely small:
h = ReLU(a) (non-negative codes) or the soft threshold h = sign(a)·max(|a| − θ, 0) with a
learned threshold θⱼ > 0 per unit (signed codes; the proximal map of the ℓ₁ norm, as in
LISTA, Gregor & LeCun 2010). The decoder is linear by default, x̂ = Wh + b, so that its columns
are the atoms of a learned dictionary, each held to ‖W_j‖₂ ≤ 1 (else λ‖h‖₁ could be driven to 0
by shrinking h and growing W, exactly as in sparse coding).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from latentzoo.autoencoders.base import NetworkAEConfig, NetworkAutoencoder, squared_error
from latentzoo.autoencoders.sparse_coding import soft_threshold
from latentzoo.spec import Metric


class SparseAEConfig(NetworkAEConfig):
    lam: float = Field(0.1, ge=0, description="λ, the weight of the ℓ₁ penalty on the codes")
    code_activation: Literal["relu", "shrink"] = Field(
        "relu", description="relu: h = max(a, 0); shrink: h = sign(a) max(|a| − θ, 0), θ learned")
    decoder: Literal["network", "linear"] = Field("linear", description="linear: x̂ = Wh + b, columns = atoms")


class ShrinkActivation(nn.Module):
    r"""h = sign(a)·max(|a| − θⱼ, 0) with θⱼ = softplus(ρⱼ) > 0 learned per unit (θ starts at 0.1)."""

    def __init__(self, units: int, start: float = 0.1):
        super().__init__()
        self.raw_threshold = nn.Parameter(torch.full((units,), float(torch.log(torch.expm1(torch.tensor(start))))))

    @property
    def threshold(self) -> torch.Tensor:
        return nn.functional.softplus(self.raw_threshold)

    def forward(self, a):
        return soft_threshold(a, self.threshold)


class SparseAutoencoder(NetworkAutoencoder):
    r"""Encoder–decoder trained on ‖x − g(f(x))‖² + λ‖f(x)‖₁ (see the module docstring)."""

    name = "sparse-ae"
    METRICS = NetworkAutoencoder.METRICS + (
        Metric("test_l1", "mean ‖h‖₁ of the test codes", "per example", "lower"),)
    Config = SparseAEConfig
    bounded_atoms = True
    reports_sparsity = True

    def setup(self, config: SparseAEConfig, data):
        super().setup(config, data)
        self.activation = (ShrinkActivation(config.latent_dim) if config.code_activation == "shrink"
                           else nn.ReLU())

    @classmethod
    def default_latent_dim(cls, data) -> int:
        # Sparse codes may be overcomplete: about twice the input dimension, within [8, 128].
        return max(8, min(128, 2 * data.dim))

    def code_activation(self, a):
        return self.activation(a)

    def training_loss(self, x):
        h = self.encode(x)
        reconstruction = squared_error(x, self.decode(h))           # ‖x − g(f(x))‖²
        l1 = h.abs().reshape(h.shape[0], -1).sum(1)                  # ‖h‖₁
        return reconstruction + self.config.lam * l1, {"reconstruction": reconstruction, "l1": l1}

    def extra_metrics(self, x, codes, recon):
        return {"test_l1": float(codes.abs().sum(1).mean()), "lam": self.config.lam}
