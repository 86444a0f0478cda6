"""A tiny model family defined outside the package: the worked example of ARCHITECTURE.md.

It is registered by tests/test_extra_model.py with one line and then trained, evaluated and
reported by the unchanged engine, CLI and report.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from latentzoo import plots
from latentzoo.model import LatentModel, ModelConfig
from latentzoo.spec import Figure, Metric


class TinyConfig(ModelConfig):
    latent_dim: int = Field(4, gt=0, description="k, the code size")
    epochs: int = Field(3, gt=0)


class TinyAutoencoder(LatentModel):
    r"""h = W(x − μ), x̂ = μ + Vh, trained on (1/n) Σᵢ ‖xᵢ − x̂ᵢ‖²."""

    name = "tiny-ae"
    Config = TinyConfig
    METRICS = (Metric("test_recon_mse", "test error of the tiny autoencoder, Σ (x − x̂)² per example", "",
                      "lower", headline=True),)
    FIGURES = (Figure("tiny_codes.png", "latent", "the tiny model's codes of the test split", card=True),)
    can_reconstruct = True

    def setup(self, config, data):
        self.register_buffer("mean", torch.zeros(data.dim))
        self.encoder = nn.Linear(data.dim, config.latent_dim, bias=False)
        self.decoder = nn.Linear(config.latent_dim, data.dim, bias=False)

    def on_train_start(self, data):
        self.mean.copy_(data.x_train.reshape(len(data.x_train), -1).mean(0))

    def _embed(self, x):
        return self.encoder(x.reshape(len(x), -1) - self.mean)

    def _reconstruct(self, x):
        return (self.mean + self.decoder(self._embed(x))).reshape(x.shape)

    def forward(self, x, phase="main"):
        error = (x - self._reconstruct(x)).pow(2).reshape(len(x), -1).sum(1)   # ‖x − x̂‖²
        return error.mean(), {}

    @torch.no_grad()
    def evaluate(self, data, history=None):
        x = data.x_test.to(self.device)
        return {"test_recon_mse": float((x - self._reconstruct(x)).pow(2).reshape(len(x), -1).sum(1).mean())}

    @torch.no_grad()
    def figures(self, data, history, figure_dir):
        codes = self._embed(data.x_test.to(self.device)).cpu().numpy()
        return [plots.histogram(codes, figure_dir / "tiny_codes.png", "tiny codes", logy=False)]
