r"""Beyond the seed — the contractive autoencoder (Rifai et al. 2011).

The code is constrained to change little when the input does: the loss adds the squared
Frobenius norm of the encoder's Jacobian,

    L(x) = ‖x − g(f(x))‖² + λ ‖∂f(x)/∂x‖²_F      (sums over features, mean over the batch)

computed exactly by :func:`latentzoo.losses.contractive_penalty`: in closed form for the
classic one-layer sigmoid encoder h = σ(Wx + b) (``encoder=sigmoid``, the default),
‖J‖²_F = Σⱼ (hⱼ(1 − hⱼ))² Σᵢ Wⱼᵢ², and by autograd for a deeper encoder (``encoder=network``,
an MLP followed by a sigmoid; batch normalisation is not used, so J is per example).

Metrics: ``test_recon_mse``, ``test_jacobian_frobenius`` = mean ‖J‖²_F on the test split and
``test_contractive_penalty`` = λ times it.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from latentzoo.autoencoders.base import NetworkAEConfig, NetworkAutoencoder, squared_error
from latentzoo.autoencoders.losses import SigmoidEncoder, contractive_penalty
from latentzoo.distributed import full_precision
from latentzoo.nets import MLP
from latentzoo.spec import Metric


class ContractiveAEConfig(NetworkAEConfig):
    lam: float = Field(0.1, ge=0, description="λ, the weight of ‖∂f/∂x‖²_F")
    encoder: Literal["sigmoid", "network"] = Field(
        "sigmoid", description="sigmoid: h = σ(Wx + b), analytic penalty; network: MLP + sigmoid, autograd penalty")


class SigmoidMLP(nn.Sequential):
    """An MLP (no normalisation layers) followed by a sigmoid: codes in (0, 1)."""

    def __init__(self, in_features, out_features, hidden, depth):
        super().__init__(MLP(in_features, out_features, hidden, depth), nn.Sigmoid())


class ContractiveAutoencoder(NetworkAutoencoder):
    r"""Encoder–decoder trained on ‖x − g(f(x))‖² + λ‖∂f(x)/∂x‖²_F (see the module docstring)."""

    name = "contractive-ae"
    METRICS = NetworkAutoencoder.METRICS + (
        Metric("test_jacobian_frobenius", "‖∂f(x)/∂x‖²_F on the test split", "per example", "lower", headline=True),
        Metric("test_contractive_penalty", "λ‖∂f(x)/∂x‖²_F on the test split", "per example", "lower"),
    )
    Config = ContractiveAEConfig

    def build_encoder(self, config, data):
        if config.encoder == "sigmoid":
            return SigmoidEncoder(data.dim, config.latent_dim)
        return SigmoidMLP(data.dim, config.latent_dim, config.hidden, config.depth)

    def jacobian_frobenius(self, x: torch.Tensor, h: torch.Tensor | None = None,
                           create_graph: bool = True) -> torch.Tensor:
        r"""‖∂f(x)/∂x‖²_F per example (batch,), exact."""
        return contractive_penalty(x, self.encoder, 1.0, h=h, create_graph=create_graph)

    def training_loss(self, x):
        h = self.encode(x)
        reconstruction = squared_error(x, self.decode(h))               # ‖x − g(f(x))‖²
        with full_precision(x):                                         # the penalty in float32 under autocast
            jacobian = self.jacobian_frobenius(x, h)                    # ‖∂f/∂x‖²_F
        return (reconstruction + self.config.lam * jacobian,
                {"reconstruction": reconstruction, "jacobian_frobenius": jacobian})

    def extra_metrics(self, x, codes, recon):
        jacobian = torch.cat([self.jacobian_frobenius(x[i:i + 1024], create_graph=False).detach()
                              for i in range(0, len(x), 1024)])
        return {
            "test_jacobian_frobenius": float(jacobian.mean()),
            "test_contractive_penalty": float(self.config.lam * jacobian.mean()),
            "lam": self.config.lam,
        }
