r"""What the autoencoders of seed question 1 share: networks, evaluation, figures.

:class:`NetworkAutoencoder` is the base of the four network autoencoders (sparse, Laplace,
denoising, contractive). It builds the encoder f and decoder g from :mod:`latentzoo.nets`
for the data's kind, evaluates the reconstruction error on the test split and draws the
figures; a subclass supplies only its loss (:meth:`NetworkAutoencoder.training_loss`), its
code non-linearity and its extra metrics. Sparse coding (:mod:`.sparse_coding`) is not a
network but reuses :func:`code_sparsity`, :func:`in_chunks` and :func:`autoencoder_figures`.

Reconstruction error everywhere: ‖x − x̂‖² summed over the features of one example;
``test_recon_mse`` is its mean over the test examples (DESIGN.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from latentzoo import plots
from latentzoo.distributed import upcast
from latentzoo.model import LatentModel, ModelConfig
from latentzoo.nets import decoder_for, encoder_for, flatten
from latentzoo.spec import Figure, Metric


def code_sparsity(codes: torch.Tensor) -> float:
    r"""Fraction of code entries that are exactly 0 (not merely small)."""
    return float((codes == 0).float().mean()) if codes.numel() else 0.0


def squared_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    r"""‖x − x̂‖² per example, summed over features: shape (batch,)."""
    return (flatten(x) - flatten(x_hat)).pow(2).sum(1)


def in_chunks(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, size: int = 4096) -> torch.Tensor:
    """``fn`` applied to consecutive chunks of ``x`` (bounded memory), results concatenated."""
    return torch.cat([fn(x[i:i + size]) for i in range(0, x.shape[0], size)]) if len(x) else fn(x)


def autoencoder_figures(figure_dir: Path, data, name: str, *,
                        example_rows: list[torch.Tensor], row_names: list[str], atoms: torch.Tensor | None,
                        atoms_title: str, codes: torch.Tensor) -> list[Path]:
    r"""The three figures of every Q1 autoencoder run (the training curves are the report's ``curves.png``).

    ``reconstructions.png`` (inputs beside reconstructions, or
    any other rows such as corrupted inputs), ``atoms.png`` (dictionary atoms / decoder columns)
    and ``code_histogram.png`` (code values on the test split; exact zeros are counted apart
    in the title, since a spike at 0 would hide the rest on any scale).
    """
    figure_dir = Path(figure_dir)
    paths = [
        plots.examples_figure(example_rows, row_names, data.kind, data.shape,
                              figure_dir / "reconstructions.png", f"{name}: test examples"),
    ]
    if atoms is not None:
        paths.append(plots.atoms_figure(atoms, data.kind, data.shape, figure_dir / "atoms.png", atoms_title))
    values = codes.detach().float().cpu().reshape(-1)
    nonzero = values[values != 0]
    title = f"{name}: code values, {1 - len(nonzero) / max(1, len(values)):.1%} exactly 0 (not drawn)"
    paths.append(plots.histogram((nonzero if len(nonzero) else values).numpy(),
                                 figure_dir / "code_histogram.png", title))
    return paths


class NetworkAEConfig(ModelConfig):
    """Options shared by the network autoencoders."""

    latent_dim: int = Field(32, gt=0, description="k, the number of code units")
    conv: bool = Field(True, description="convolutional encoder (and decoder) for images and signals")
    decoder: Literal["network", "linear"] = Field(
        "network", description="decoder g: a network, or one linear map x̂ = Wh + b (its columns are atoms)")
    epochs: int = Field(60, gt=0)
    batch_size: int = Field(128, gt=0)


class LinearDecoder(nn.Module):
    r"""x̂ = W h + b, W ∈ R^{d×k}: column j of W is the atom of code unit j."""

    def __init__(self, latent_dim: int, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)
        self.linear = nn.Linear(latent_dim, math.prod(shape))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(h).reshape(-1, *self.shape)


class NetworkAutoencoder(LatentModel):
    r"""Encoder f, code non-linearity, decoder g: x̂ = g(f(x)); the subclass defines the loss.

    Subclasses set :attr:`bounded_atoms` when their loss penalises the size of the code (ℓ₁
    or a Laplace prior). Such a loss could otherwise be lowered for free by shrinking h and
    growing the decoder; as in sparse coding, the columns of the decoder's first linear map
    are then projected onto the unit ball, ‖W_j‖₂ ≤ 1, after every optimizer step. (For a
    deep decoder this removes the rescaling of its first layer only.)
    """

    Config = NetworkAEConfig
    METRICS = (
        Metric("test_recon_mse", "test reconstruction error: mean over examples of Σ (x − x̂)²", "per example",
               "lower", headline=True),
        Metric("code_sparsity", "fraction of code entries exactly zero", "", "higher", headline=True),
        Metric("latent_dim", "dimension k of the code"),
        Metric("lam", "weight λ of the penalty on the code"),
    )
    FIGURES = (
        Figure("reconstructions.png", "reconstructions", "test inputs above their reconstructions", card=True),
        Figure("atoms.png", "features", "the decoder's atoms, most active unit first"),
        Figure("code_histogram.png", "latent", "code values on the test split (exact zeros counted apart)"),
    )
    can_reconstruct = True
    bounded_atoms: bool = False
    reports_sparsity: bool = False

    networks = ("encoder", "decoder")

    def setup(self, config: NetworkAEConfig, data):
        self.encoder = self.network("encoder", lambda: self.build_encoder(config, data))
        if config.decoder == "linear":
            default = lambda: LinearDecoder(config.latent_dim, data.shape)  # noqa: E731
        else:
            default = lambda: decoder_for(data.kind, data.shape, config.latent_dim, config.hidden,  # noqa: E731
                                          config.depth, conv=config.conv)
        self.decoder = self.network("decoder", default)

    # ---- networks ------------------------------------------------------------------------
    def build_encoder(self, config, data) -> nn.Module:
        """f before the code non-linearity: the network that fits the data's kind."""
        return encoder_for(data.kind, data.shape, config.latent_dim, config.hidden, config.depth, conv=config.conv)

    def code_activation(self, a: torch.Tensor) -> torch.Tensor:
        """The non-linearity that turns the encoder's output into the code (identity here)."""
        return a

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return upcast(self.code_activation(self.encoder(x)))   # float32 under autocast: losses in float32

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        return upcast(self.decoder(h))

    def _embed(self, x):
        return self.encode(x)

    def _reconstruct(self, x):
        return self.decode(self.encode(x))

    @classmethod
    def recipe(cls, data):
        # About 1,200 optimizer steps of 128 examples, whatever the size of the training split.
        # Convolutions only for images of at least 16×16 (an MLP is as good and far cheaper on
        # 8×8 digits); never for signals: the 1-D encoder pools over time, which suits
        # classification but loses the positions a reconstruction needs.
        epochs = max(5, min(150, math.ceil(1200 * 128 / len(data.x_train))))
        conv = data.kind == "image" and min(data.shape[-2:]) >= 16
        return {"epochs": epochs, "latent_dim": cls.default_latent_dim(data), "conv": conv}

    @classmethod
    def default_latent_dim(cls, data) -> int:
        return {"image": 32, "signal": 16, "vector": 16, "points": 8}[data.kind]

    def first_decoder_linear(self) -> nn.Linear | None:
        """The decoder's first linear map from the code (the one whose columns are bounded)."""
        for m in self.decoder.modules():
            if isinstance(m, nn.Linear) and m.in_features == self.config.latent_dim:
                return m
        return None

    def on_train_start(self, data):
        # Start the bias of a linear decoder at the data mean, so that codes explain deviations.
        if isinstance(self.decoder, LinearDecoder):
            with torch.no_grad():
                self.decoder.linear.bias.copy_(flatten(data.x_train).mean(0).to(self.device))
        self.after_optimizer_step("main")

    def after_optimizer_step(self, phase):
        if self.bounded_atoms and (layer := self.first_decoder_linear()) is not None:
            with torch.no_grad():  # W_j ← W_j / max(1, ‖W_j‖): projection onto the unit ball
                layer.weight.div_(layer.weight.norm(dim=0, keepdim=True).clamp_min(1.0))

    # ---- training ------------------------------------------------------------------------
    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        r"""Per-example loss (batch,) and per-example terms to log; the subclass's objective."""
        raise NotImplementedError

    def forward(self, x, phase="main"):
        per_example, terms = self.training_loss(x)
        return per_example.mean(), {k: v.mean().detach() for k, v in terms.items()}

    # ---- evaluation ----------------------------------------------------------------------
    def extra_metrics(self, x: torch.Tensor, codes: torch.Tensor, recon: torch.Tensor) -> dict:
        """Family-specific test metrics; ``codes`` and ``recon`` are those of the clean test inputs."""
        return {}

    @torch.no_grad()
    def evaluate(self, data, history):
        x = data.x_test.to(self.device)
        codes = in_chunks(self.encode, x)
        recon = in_chunks(self.decode, codes)
        metrics = {"test_recon_mse": float(squared_error(x, recon).mean())}
        if self.reports_sparsity:
            metrics["code_sparsity"] = code_sparsity(codes)
        metrics.update(self.extra_metrics(x, codes, recon))
        metrics["latent_dim"] = self.config.latent_dim
        return metrics

    # ---- figures -------------------------------------------------------------------------
    def example_rows(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[str]]:
        """Rows of the examples figure: inputs and their reconstructions."""
        return [x, self.decode(self.encode(x))], ["input", "reconstruction"]

    def atoms(self, codes: torch.Tensor) -> tuple[torch.Tensor, str]:
        r"""The decoder's atoms: its columns when linear, otherwise g(sⱼeⱼ) − g(0), the change
        of the output when unit j alone takes a typical value sⱼ (its mean non-zero |code|)."""
        if isinstance(self.decoder, LinearDecoder):
            return self.decoder.linear.weight.T.reshape(-1, *self.data_shape), "decoder columns W_j"
        k = self.config.latent_dim
        magnitude = codes.abs().sum(0) / (codes != 0).sum(0).clamp_min(1)
        magnitude = torch.where(magnitude > 0, magnitude, torch.ones_like(magnitude))
        probes = torch.cat([torch.zeros(1, k, device=codes.device), torch.diag(magnitude)])
        out = self.decode(probes)
        return out[1:] - out[:1], "decoder responses g(s_j e_j) − g(0)"

    @torch.no_grad()
    def figures(self, data, history, figure_dir):
        x = data.x_test.to(self.device)
        codes = in_chunks(self.encode, x)
        atoms, atoms_title = self.atoms(codes)
        # Most active units first (by the variance of their code); units whose code never
        # varies on the test split (dead units, still at their random start) are left out.
        spread = codes.var(0)
        order = torch.argsort(spread, descending=True)
        alive = order[spread[order] > 0]
        if 0 < len(alive) < len(order):
            atoms_title += f", most active first ({len(order) - len(alive)} unused units not shown)"
            atoms = atoms[alive]
        else:
            atoms, atoms_title = atoms[order], atoms_title + ", most active first"
        rows, names = self.example_rows(x[:10])
        return autoencoder_figures(Path(figure_dir), data, self.name,
                                   example_rows=rows, row_names=names, atoms=atoms,
                                   atoms_title=f"{self.name}: {atoms_title}", codes=codes)
