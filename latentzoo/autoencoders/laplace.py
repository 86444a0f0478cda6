r"""Seed question 1.3 — the probabilistic sparse autoencoder with a Laplace prior on the code.

p_encoder(h|x) = p_model(h|x) is a point mass at h = f(x); the decoder is
p_decoder(x|h) = p_model(x|h) = N(x; g(h), σ²I) and the prior is factorised Laplace,
p(hᵢ) = (λ/2)·e^{−λ|hᵢ|}. The loss of one example is the joint negative log-density at the code:

    L(x) = −log p_decoder(x | h) − log p_model(h),   h = f(x)
         = [‖x − g(h)‖² / (2σ²) + (d/2) log(2πσ²)] + Σᵢ (λ|hᵢ| − log(λ/2))

in nats, every constant included (mean over the batch). Up to the constants and the factor
1/(2σ²) this is the sparse autoencoder's ‖x − x̂‖² + λ'‖h‖₁: the ℓ₁ penalty *is* a Laplace prior.
σ is fixed or learned by maximum likelihood with the networks, with a floor σ ≥ ``min_sigma``
(a deterministic code can make a reconstruction exact, where the density is unbounded). As in
sparse coding the decoder's atoms are held to ‖W_j‖₂ ≤ 1.

**Learning λ.** With a point-mass encoder the joint density is unbounded in λ: the codes can
all collapse to 0 at a finite reconstruction cost while −log p(h) = −k log(λ/2) → −∞ as λ → ∞
(the maximum-likelihood rate for given codes is λ* = k / Σᵢ|hᵢ|, infinite for zero codes).
So λ is fixed by default (the seed's Ω(h) = λ‖h‖₁ with a constant λ). With ``learn_lam`` it is
learned by maximum likelihood together with the networks, and during training the prior is
evaluated at a noisy code h̃ = f(x) + τε, ε ∼ N(0, I), τ = ``code_noise`` > 0 (a stochastic
encoder of fixed spread): E|h̃ᵢ| ≥ τ√(2/π) bounds λ* ≤ 1/(τ√(2/π)) and removes the degenerate
optimum. Evaluation uses the clean code h = f(x) (which keeps its exact zeros) and reports the
learned ``lam`` beside ``lam_ml`` = k / mean Σᵢ|hᵢ|, the closed-form maximum-likelihood rate of
the clean test codes.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from latentzoo import distributed
from latentzoo.autoencoders.base import NetworkAEConfig, NetworkAutoencoder
from latentzoo.autoencoders.losses import gaussian_nll, laplace_prior_nll
from latentzoo.autoencoders.sparse import ShrinkActivation
from latentzoo.model import adam
from latentzoo.spec import Metric


class LaplaceAEConfig(NetworkAEConfig):
    lam: float = Field(10.0, gt=0, description="λ of the Laplace prior (its start when learn_lam)")
    learn_lam: bool = Field(False, description="fit λ by maximum likelihood with the networks")
    code_noise: float = Field(0.05, gt=0, description="τ, spread of the training code when learn_lam")
    sigma: float = Field(0.1, gt=0, description="σ of the Gaussian decoder (its start when learn_sigma)")
    learn_sigma: bool = Field(True, description="fit σ by maximum likelihood with the networks")
    min_sigma: float = Field(1e-3, gt=0, description="floor on σ")
    decoder: Literal["network", "linear"] = Field("linear", description="linear: x̂ = Wh + b, columns = atoms")


class LaplaceAutoencoder(NetworkAutoencoder):
    r"""Deterministic encoder, Gaussian decoder, Laplace prior; loss −log p(x|h) − log p(h)."""

    name = "laplace-ae"
    METRICS = NetworkAutoencoder.METRICS + (
        Metric("laplace_nll", "−log p(x|h) − log p(h) under the Laplace prior", "nats per example", "lower",
               headline=True),
        Metric("decoder_nll", "−log p_decoder(x|h)", "nats per example", "lower"),
        Metric("prior_nll", "−log p(h) = Σᵢ (λ|hᵢ| − log(λ/2))", "nats per example", "lower"),
        Metric("lam_ml", "maximum-likelihood λ of the test codes, k / mean Σ|hᵢ|"),
        Metric("sigma", "the decoder's noise scale σ"),
    )
    Config = LaplaceAEConfig
    bounded_atoms = True
    reports_sparsity = True

    def setup(self, config: LaplaceAEConfig, data):
        super().setup(config, data)
        # Signed codes with exact zeros: the soft threshold (the MAP code of a Laplace prior is one).
        self.activation = ShrinkActivation(config.latent_dim)
        self.log_lam = nn.Parameter(torch.tensor(math.log(config.lam)), requires_grad=config.learn_lam)
        self.log_sigma = nn.Parameter(torch.tensor(math.log(config.sigma)), requires_grad=config.learn_sigma)

    @classmethod
    def default_latent_dim(cls, data) -> int:
        return max(8, min(128, 2 * data.dim))

    @classmethod
    def check(cls, config, data):
        if config.sigma < config.min_sigma:
            from latentzoo.errors import UserError

            raise UserError(f"laplace-ae: sigma={config.sigma:g} is below min_sigma={config.min_sigma:g}")

    @property
    def lam(self) -> torch.Tensor:
        return self.log_lam.exp()                                    # λ = e^{log λ} > 0

    @property
    def sigma(self) -> torch.Tensor:
        return self.log_sigma.exp().clamp_min(self.config.min_sigma)  # σ ≥ min_sigma

    def code_activation(self, a):
        return self.activation(a)

    def configure_optimizers(self, total_steps):
        # λ and σ are two scalars whose maximum-likelihood values may lie orders of magnitude
        # from their start: they learn in log space at 10× the networks' rate.
        c = self.config
        scalars = [self.log_lam, self.log_sigma]
        networks = [p for p in self.parameters() if all(p is not s for s in scalars)]
        opt = adam([{"params": networks, "weight_decay": c.weight_decay},
                    {"params": scalars, "lr": 10 * c.lr, "weight_decay": 0.0}], c.lr, c.weight_decay, self.device)
        return {"main": opt}, []

    def negative_log_joint(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""(−log p(x|h), −log p(h)) per example, in nats."""
        decoder_nll = gaussian_nll(x, self.decode(h), self.sigma)    # ‖x − g(h)‖²/(2σ²) + (d/2) log(2πσ²)
        prior_nll = laplace_prior_nll(h, self.lam)                   # Σᵢ (λ|hᵢ| − log(λ/2))
        return decoder_nll, prior_nll

    def training_loss(self, x):
        h = self.encode(x)
        if self.config.learn_lam:                                    # h̃ = f(x) + τε (see the module docstring)
            eps = distributed.sharded(lambda m: torch.randn(m, *h.shape[1:], device=h.device, dtype=h.dtype),
                                      h.shape[0])            # ε of the global batch, this rank's rows
            h = h + self.config.code_noise * eps
        decoder_nll, prior_nll = self.negative_log_joint(x, h)
        return decoder_nll + prior_nll, {"decoder_nll": decoder_nll, "prior_nll": prior_nll,
                                         "lam": self.lam.expand(x.shape[0]), "sigma": self.sigma.expand(x.shape[0])}

    def extra_metrics(self, x, codes, recon):
        decoder_nll, prior_nll = self.negative_log_joint(x, codes)
        return {
            "laplace_nll": float((decoder_nll + prior_nll).mean()),  # −log p(x|h) − log p(h), nats/example
            "decoder_nll": float(decoder_nll.mean()),
            "prior_nll": float(prior_nll.mean()),
            "lam": float(self.lam),
            "lam_ml": float(codes[0].numel() / codes.abs().sum(1).mean().clamp_min(1e-30)),  # k / mean Σ|hᵢ|
            "sigma": float(self.sigma),
        }
