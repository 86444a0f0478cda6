r"""Seed question 1.1 — the linear autoencoder, whose constraint k < d makes it PCA.

Encoder h = W_enc (x − μ), decoder x̂ = μ + W_dec h, with W_enc ∈ R^{k×d}, W_dec ∈ R^{d×k},
k < d and μ the training mean (PCA is defined on centred data). The loss is

    L(W_enc, W_dec) = (1/n) Σᵢ ‖xᵢ − x̂ᵢ‖²          (sum over features, mean over examples)

For centred data its unique global minimum (up to an invertible k×k transform A:
W_enc → A W_enc, W_dec → W_dec A⁻¹) is the orthogonal projection onto the top-k principal
subspace, and every other critical point is a saddle (Baldi & Hornik 1989): plain gradient
descent from a random start therefore finds PCA. Because the weights are fixed only up to A
we compare subspaces, by their largest principal angle, never weights.

With tied weights (W_enc = W_decᵀ = Wᵀ, W ∈ R^{d×k}) and orthonormal W the loss is
tr Σ − tr(Wᵀ Σ W), Σ the covariance: minimising it maximises the variance kept.

Training stops on convergence, with ``epochs`` as a cap. The decoder's subspace settles fast;
the encoder is slow along directions of small variance, so "the loss has stopped moving" alone
stops too early (6.9% above PCA's test error on a low-rank set, with the right subspace). After
each epoch the model measures, on the training split, how far each half is from the best one
for the other half (both are least-squares problems, so the gaps are exact):

    encoder excess  L(W_enc, W_dec) − L(W_dec⁺, W_dec)  = (1/n) Σᵢ ‖W_dec (W_dec⁺ − W_enc)(xᵢ − μ)‖²
    decoder excess  L(W_enc, W_dec) − L(W_enc, W_dec*)  = (1/n) Σᵢ ‖(W_dec* − W_dec) hᵢ‖²,
                    W_dec* = (Σᵢ (xᵢ − μ) hᵢᵀ)(Σᵢ hᵢ hᵢᵀ)⁻¹

(W_dec⁺ the pseudo-inverse: the best encoder makes W_enc W_dec = I on the code space, and no
leak from the directions the decoder does not span). It stops when both, relative to the loss,
are below ``tol`` and the loss changed by less than ``tol`` (relative) over the last
``WINDOW`` epochs. The decoder's learning rate is halved when its excess stops falling (no new low
in ``PATIENCE`` epochs; :class:`torch.optim.lr_scheduler.ReduceLROnPlateau`): its mini-batch
noise is what keeps the loss above the optimum. The encoder's stays at ``lr``: its noise lies
mostly along the directions of small variance, where it costs little, and those directions are
the slow ones that need its large steps. (Measured at a constant lr = 10⁻² on a low-rank set: the
decoder's excess stayed near 10⁻², the encoder's fell to 10⁻⁴–10⁻³; with the encoder's rate halved
as well, training needed 1.4–3.5× more epochs.)
"""

from __future__ import annotations

import logging
import math
import weakref
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from latentzoo import plots
from latentzoo.data import is_lazy
from latentzoo.data.streaming import chunks_of, column_mean, covariance
from latentzoo.errors import UserError
from latentzoo.model import LatentModel, ModelConfig, adam
from latentzoo.nets import flatten
from latentzoo.spec import Figure, Metric

PATIENCE = 10        # epochs without a new low (by 1%) of the decoder's excess before its learning rate is halved
MIN_LR_FACTOR = 1 / 64   # the decoder's learning rate is never halved below lr/64
WINDOW = 10          # epochs over which the loss must have stopped changing
SCATTER_MAX_DIM = 4096   # up to this many features the per-epoch measures come from the d×d scatter matrix
HIGH_DIM = 256       # inputs of more features than this get the recipe for many features (larger batches)


class LinearAEConfig(ModelConfig):
    latent_dim: int = Field(8, gt=0, description="k, the code size; must be < d")
    tied: bool = Field(False, description="tie the weights: W_enc = W_decᵀ")
    init: Literal["random", "pca"] = Field("random", description="random start, or the closed-form PCA start")
    epochs: int = Field(3000, gt=0, description="the most passes over the training split (it stops on convergence)")
    tol: float = Field(1e-4, gt=0, lt=1, description="converged when the encoder's and decoder's excess loss and "
                                                      "the loss's change over 10 epochs are below tol (relative)")
    batch_size: int = Field(256, gt=0)
    lr: float = Field(1e-2, gt=0)


def _fresh_plateau_state(module, state_dict, prefix, *args) -> None:
    """Weights of a run saved before the plateau state existed load with a fresh one."""
    state_dict.setdefault(prefix + "plateau_state", torch.tensor([math.inf, 0.0], dtype=torch.float64))


def principal_subspace(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k principal directions (d, k) and the variances along them, of rows of ``x`` (n, d)."""
    centred = x - x.mean(0)
    _, s, vh = torch.linalg.svd(centred.double(), full_matrices=False)
    return vh[:k].T.to(x.dtype), (s[:k] ** 2 / (x.shape[0] - 1)).to(x.dtype)


def principal_subspace_streaming(x, k: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`principal_subspace` from Σ = X_cᵀ X_c / (n − 1), summed chunk by chunk (float64), and eigh.

    The eigenvectors of Σ with the k largest eigenvalues span the same subspace as the top-k
    right singular vectors of X_c (eigenvalue λⱼ = sⱼ² / (n − 1)); each column's sign is arbitrary.
    """
    sigma = covariance(x, column_mean(x, device), device)
    values, vectors = torch.linalg.eigh(sigma)                  # ascending
    top = values.flip(0)[:k].clamp_min(0)
    return vectors.flip(1)[:, :k].float(), top.float()


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between the column spaces of a (d, k) and b (d, m).

    With orthonormal bases Q_a, Q_b the cosines of the angles are the singular values of
    Q_aᵀ Q_b (Björck & Golub 1973). The largest angle is 0 exactly when the subspaces agree.
    """
    qa, _ = torch.linalg.qr(a.double())
    qb, _ = torch.linalg.qr(b.double())
    cosines = torch.linalg.svdvals(qa.T @ qb).clamp(-1, 1)
    return torch.arccos(cosines).flip(0)


class LinearAutoencoder(LatentModel):
    r"""Linear encoder and decoder trained by gradient descent on (1/n) Σᵢ ‖xᵢ − x̂ᵢ‖²."""

    name = "linear-ae"
    Config = LinearAEConfig
    METRICS = (
        Metric("test_recon_mse", "test reconstruction error: mean over examples of Σ (x − x̂)²", "per example",
               "lower", headline=True),
        Metric("pca_recon_mse", "the same error for PCA with k components, the linear optimum", "per example",
               "lower", headline=True),
        Metric("subspace_angle_deg", "largest principal angle between the decoder's and PCA's subspaces", "°",
               "lower", headline=True),
        Metric("latent_dim", "dimension k of the code"),
    )
    FIGURES = (
        Figure("principal_directions.png", "features", "decoder directions (top) against PCA's components (bottom)",
               card=True),
        Figure("reconstructions.png", "reconstructions", "test inputs above their reconstructions"),
        Figure("code_histogram.png", "latent", "code values h on the test split"),
    )
    can_reconstruct = True
    streams = True  # trains on data.streaming.LazyRows: the mean and PCA come from chunked passes

    def setup(self, config: LinearAEConfig, data):
        d, k = data.dim, config.latent_dim
        self.register_buffer("mean", torch.zeros(d))
        # Small random start: away from the saddle at 0, far from any principal subspace.
        self.decoder_weight = nn.Parameter(torch.randn(d, k) / math.sqrt(d))
        self.encoder_weight = None if config.tied else nn.Parameter(torch.randn(k, d) / math.sqrt(d))
        # ReduceLROnPlateau's memory (best excess, epochs without improvement), kept with the weights so
        # that a resumed run halves its learning rate exactly when an uninterrupted one does.
        self.register_buffer("plateau_state", torch.tensor([math.inf, 0.0], dtype=torch.float64))
        self.register_load_state_dict_pre_hook(_fresh_plateau_state)  # weights saved before it existed
        self._plateau = None

    def __getstate__(self):
        """Pickled without the kept scatter matrix and subspace (weak references to a split; rebuilt on use)."""
        state = self.__dict__.copy()
        state.pop("_scatter_cache", None)
        state.pop("_subspace_cache", None)
        return state

    @classmethod
    def recipe(cls, data):
        k = {"image": 10, "signal": 10, "vector": 8, "points": 1}[data.kind]
        # Training stops on convergence (see the module docstring); ``epochs`` is only the cap:
        # 200,000 optimizer steps, between 300 and 3,000 epochs.
        epochs = max(300, min(3000, math.ceil(200_000 * 256 / len(data.x_train))))
        recipe = {"latent_dim": min(k, max(1, data.dim - 1)), "epochs": epochs}
        if data.dim > HIGH_DIM:
            # Many features (784-d Fashion-MNIST): at lr 10⁻², batch 256 Adam's noise kept both excesses
            # near 1% (test error 1.4% above PCA's after 30 epochs, never converging to tol 10⁻⁴ in 368).
            # Batch 1024 and lr 3·10⁻³ reached 0.06% above PCA in 20 epochs (4.5 s) with tol 10⁻³, which
            # bounds the loss to about 0.2% above the optimum (benchmarks/RESULTS.md, Fashion-MNIST).
            recipe.update(batch_size=1024, lr=3e-3, tol=1e-3)
        return recipe

    def configure_optimizers(self, total_steps):
        # Adam; the decoder's learning rate halved on plateaus of its excess (ReduceLROnPlateau, stepped
        # in on_epoch_end, not by the engine), the encoder's kept at lr (its min_lr); see the module
        # docstring. A schedule planned over the epoch cap would still be high at convergence; one that
        # ends at 0 could end before it.
        c = self.config
        groups = [{"params": [self.decoder_weight]}]
        if self.encoder_weight is not None:
            groups.append({"params": [self.encoder_weight]})
        opt = adam(groups, c.lr, c.weight_decay, self.device)
        self._plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", factor=0.5, patience=PATIENCE, threshold=0.01, threshold_mode="rel",
            min_lr=[c.lr * MIN_LR_FACTOR] + [c.lr] * (len(groups) - 1))
        return {"main": opt}, []

    @classmethod
    def check(cls, config, data):
        if config.latent_dim >= len(data.x_train):
            raise UserError(
                f"linear-ae needs latent_dim below the number of training examples ({len(data.x_train)}), got "
                f"latent_dim={config.latent_dim}: PCA of n examples has at most n − 1 directions")
        if config.latent_dim >= data.dim:
            raise UserError(
                f"linear-ae needs latent_dim < input dimension ({data.dim}), got latent_dim={config.latent_dim}; "
                f"the constraint k < d is what makes it learn PCA"
            )

    @property
    def w_enc(self) -> torch.Tensor:
        return self.decoder_weight.T if self.encoder_weight is None else self.encoder_weight

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (flatten(x) - self.mean) @ self.w_enc.T  # h = W_enc (x − μ)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        return (self.mean + h @ self.decoder_weight.T).reshape(-1, *self.data_shape)  # x̂ = μ + W_dec h

    def on_train_start(self, data):
        # μ = (1/n) Σᵢ xᵢ summed in float64 chunk by chunk: the same value whether x is in memory or lazy
        self.mean.copy_(column_mean(data.x_train, self.mean.device))
        if self.config.init == "pca":  # the closed-form optimum: W_dec = V_k, W_enc = V_kᵀ
            v, _ = self._principal_subspace(data.x_train, self.config.latent_dim)
            with torch.no_grad():
                self.decoder_weight.copy_(v)
                if self.encoder_weight is not None:
                    self.encoder_weight.copy_(v.T)

    def forward(self, x, phase="main"):
        x_hat = self.decode(self.encode(x))
        loss = (flatten(x) - flatten(x_hat)).pow(2).sum(1).mean()  # (1/n) Σᵢ ‖xᵢ − x̂ᵢ‖²
        return loss, {}

    @torch.no_grad()
    def convergence_stats(self, x: torch.Tensor) -> dict:
        r"""The training loss and how far the encoder and the decoder are from the best for the other half.

        In float64, from the scatter matrix of ``x`` (n, d) (one pass, kept for the next epochs) when
        d ≤ SCATTER_MAX_DIM, else by one pass; see the module docstring for the two excess losses. Returns
        ``train_recon_mse`` = (1/n) Σᵢ ‖xᵢ − x̂ᵢ‖², ``encoder_excess`` and ``decoder_excess`` relative to
        it, and ``identity_gap`` = ‖W_enc W_dec − I‖_F (0 when the encoder inverts the decoder on its
        subspace; it does not see a leak from the directions the decoder does not span).
        """
        w_dec, w_enc = self.decoder_weight.double(), self.w_enc.double()
        k = w_dec.shape[1]
        best_encoder = torch.linalg.pinv(w_dec)                          # W_dec⁺ = (W_decᵀ W_dec)⁻¹ W_decᵀ
        if w_dec.shape[0] <= SCATTER_MAX_DIM:
            sums, hh, xh = self._stats_from_scatter(self._scatter(x), w_enc, w_dec, best_encoder)
        else:
            sums, hh, xh = self._stats_by_pass(x, w_enc, w_dec, best_encoder)
        delta = xh @ torch.linalg.pinv(hh) - w_dec                                     # W_dec* − W_dec
        decoder_excess = torch.einsum("ik,kl,il->", delta, hh, delta)                  # Σ ‖(W_dec* − W_dec) h‖²
        # relative to the loss, or to 10⁻⁵ of the variance when the data are (almost) exactly of rank k
        scale = float(torch.maximum(sums[0], 1e-5 * sums[2]))
        return {"train_recon_mse": float(sums[0]) / x.shape[0],
                "encoder_excess": float(sums[1]) / scale, "decoder_excess": float(decoder_excess) / scale,
                "identity_gap": float(torch.linalg.matrix_norm(w_enc @ w_dec - torch.eye(k, dtype=w_dec.dtype,
                                                                                          device=w_dec.device)))}

    def _stats_by_pass(self, x, w_enc, w_dec, best_encoder):
        """The sums of :meth:`convergence_stats` by one pass over the rows of ``x``."""
        k = w_dec.shape[1]
        sums = torch.zeros(3, dtype=torch.float64, device=w_dec.device)  # Σ‖x − x̂‖², encoder excess, Σ‖x − μ‖²
        hh = torch.zeros(k, k, dtype=torch.float64, device=w_dec.device)
        xh = torch.zeros(w_dec.shape[0], k, dtype=torch.float64, device=w_dec.device)
        for i in range(0, x.shape[0], 4096):
            xc = flatten(x[i:i + 4096]).to(w_dec.device).double() - self.mean.double()  # x − μ
            h = xc @ w_enc.T                                                           # h = W_enc (x − μ)
            sums[0] += (xc - h @ w_dec.T).pow(2).sum()                                 # ‖x − μ − W_dec h‖²
            sums[1] += (xc @ (best_encoder - w_enc).T @ w_dec.T).pow(2).sum()          # ‖W_dec (W_dec⁺ − W_enc)(x − μ)‖²
            sums[2] += xc.pow(2).sum()
            hh += h.T @ h                                                              # Σ h hᵀ
            xh += xc.T @ h                                                             # Σ (x − μ) hᵀ
        return sums, hh, xh

    @staticmethod
    def _stats_from_scatter(scatter, w_enc, w_dec, best_encoder):
        r"""The same sums from S = Σᵢ (xᵢ − μ)(xᵢ − μ)ᵀ, each quadratic in x − μ, in O(d²k) (no pass over x):

            Σ‖x − μ − W_dec W_enc (x − μ)‖² = tr S − 2 tr(W_enc S W_dec) + tr(W_decᵀ W_dec · W_enc S W_encᵀ)
            Σ‖W_dec A (x − μ)‖² = tr(W_decᵀ W_dec · A S Aᵀ),  A = W_dec⁺ − W_enc
            Σ h hᵀ = W_enc S W_encᵀ,  Σ (x − μ) hᵀ = S W_encᵀ
        """
        gram = w_dec.T @ w_dec                                                         # W_decᵀ W_dec
        xh = scatter @ w_enc.T                                                         # S W_encᵀ
        hh = w_enc @ xh                                                                # W_enc S W_encᵀ
        a = best_encoder - w_enc
        recon = scatter.trace() - 2 * (w_enc @ scatter @ w_dec).trace() + (gram * hh).sum()
        encoder = (gram * (a @ scatter @ a.T)).sum()
        return torch.stack([recon.clamp_min(0), encoder.clamp_min(0), scatter.trace()]), hh, xh

    def _scatter(self, x) -> torch.Tensor:
        """S = Σᵢ (xᵢ − μ)(xᵢ − μ)ᵀ of ``x`` about the model's μ, float64, in one chunked pass; kept for the
        split (and μ) it was computed for, so that every epoch's measures cost O(d²k), not a pass."""
        cached = getattr(self, "_scatter_cache", None)
        if cached is not None and cached[0]() is x and torch.equal(cached[1], self.mean):
            return cached[2]
        scatter = covariance(x, self.mean, self.decoder_weight.device) * max(1, x.shape[0] - 1)
        self._scatter_cache = (weakref.ref(x), self.mean.clone(), scatter)
        return scatter

    def on_epoch_end(self, epoch, data):
        """The measures of :meth:`convergence_stats`, and a plateau step of the decoder's learning rate."""
        stats = self.convergence_stats(data.x_train)
        plateau = self._plateau
        if plateau is not None:  # training (configure_optimizers made it)
            # the decoder's excess (with tied weights: the excess of the one matrix, both halves)
            excess = stats["decoder_excess"] + (stats["encoder_excess"] if self.encoder_weight is None else 0.0)
            plateau.best, plateau.num_bad_epochs = float(self.plateau_state[0]), int(self.plateau_state[1])
            plateau.step(excess)
            self.plateau_state.copy_(torch.tensor([plateau.best, plateau.num_bad_epochs], dtype=torch.float64))
            stats["decoder_lr"] = plateau.optimizer.param_groups[0]["lr"]
        return stats

    def converged(self, history) -> bool:
        """Both halves within ``tol`` of the best for the other, and the loss still for ``WINDOW`` epochs."""
        if len(history) <= WINDOW or "encoder_excess" not in history[-1]:
            return False
        last, before, tol = history[-1], history[-1 - WINDOW], self.config.tol
        if "train_recon_mse" not in before:
            return False
        change = abs(before["train_recon_mse"] - last["train_recon_mse"]) / max(last["train_recon_mse"], 1e-30)
        return last["encoder_excess"] < tol and last["decoder_excess"] < tol and change < tol

    def _embed(self, x):
        return self.encode(x)

    def _reconstruct(self, x):
        return self.decode(self.encode(x))

    def _principal_subspace(self, x, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`principal_subspace` of a split in memory; of lazy rows, from a streaming covariance pass.

        Kept for the last split asked (evaluation and figures both need it; one pass, not two)."""
        key = (k, str(self.device))
        cached = getattr(self, "_subspace_cache", None)
        if cached is not None and cached[0]() is x and cached[1] == key:
            return cached[2]
        if flatten(x[:1]).shape[1] <= SCATTER_MAX_DIM:   # eigh of the kept scatter S = (n − 1) Σ
            values, vectors = torch.linalg.eigh(self._scatter(x))            # ascending
            result = (vectors.flip(1)[:, :k].float(), (values.flip(0)[:k].clamp_min(0) / max(1, len(x) - 1)).float())
        elif not is_lazy(x):
            result = principal_subspace(flatten(x).to(self.device), k)
        else:
            result = principal_subspace_streaming(x, k, self.device)
        self._subspace_cache = (weakref.ref(x), key, result)
        return result

    @torch.no_grad()
    def evaluate(self, data, history):
        if is_lazy(data.x_train) or is_lazy(data.x_test):
            return self._evaluate_streaming(data)
        x_train, x_test = flatten(data.x_train).to(self.device), flatten(data.x_test).to(self.device)
        k = self.config.latent_dim
        recon = flatten(self.decode(self.encode(x_test)))
        # PCA fitted on the training split, scored on the test split, same k.
        v, _ = self._principal_subspace(data.x_train, k)
        mu = x_train.mean(0)
        pca_recon = mu + (x_test - mu) @ v @ v.T
        angle = principal_angles(self.decoder_weight, v).max()
        if history and "encoder_excess" in history[-1] and not self.converged(history):
            last = history[-1]
            logging.getLogger("latentzoo.linear").warning(
                "linear-ae stopped after epochs=%d before converging (encoder excess %.2g, decoder excess "
                "%.2g of the loss; tol=%g): raise --set epochs", len(history), last["encoder_excess"],
                last["decoder_excess"], self.config.tol)
        return {
            "test_recon_mse": float((x_test - recon).pow(2).sum(1).mean()),
            "pca_recon_mse": float((x_test - pca_recon).pow(2).sum(1).mean()),
            "subspace_angle_deg": float(torch.rad2deg(angle)),
            "latent_dim": k,
        }

    @torch.no_grad()
    def _evaluate_streaming(self, data):
        """:meth:`evaluate`'s metrics from chunked passes over lazy rows (training mean, covariance, test)."""
        k = self.config.latent_dim
        v, _ = self._principal_subspace(data.x_train, k)
        mu = column_mean(data.x_train, self.device)
        errors = torch.zeros(2, dtype=torch.float64, device=self.device)
        for x in chunks_of(data.x_test):
            x = flatten(x.to(self.device))
            recon = flatten(self.decode(self.encode(x)))
            pca_recon = mu + (x - mu) @ v @ v.T
            errors += torch.stack([(x - recon).pow(2).sum(), (x - pca_recon).pow(2).sum()]).double()
        errors /= len(data.x_test)                    # (1/n) Σᵢ ‖xᵢ − x̂ᵢ‖² over the test split
        angle = principal_angles(self.decoder_weight, v).max()
        return {"test_recon_mse": float(errors[0]), "pca_recon_mse": float(errors[1]),
                "subspace_angle_deg": float(torch.rad2deg(angle)), "latent_dim": k}

    @torch.no_grad()
    def figures(self, data, history, figure_dir: Path):
        figure_dir = Path(figure_dir)
        x = data.x_test[:10].to(self.device)
        paths = [
            plots.examples_figure([x, self.decode(self.encode(x))], ["input", "reconstruction"],
                                  data.kind, data.shape, figure_dir / "reconstructions.png",
                                  "linear autoencoder reconstructions"),
        ]
        # Principal directions: rotate the decoder's orthonormalised columns onto PCA's basis
        # (orthogonal Procrustes) so that the two rows can be compared one to one.
        k = self.config.latent_dim
        v, _ = self._principal_subspace(data.x_train, k)
        q, _ = torch.linalg.qr(self.decoder_weight.double())
        u, _, wt = torch.linalg.svd(q.T @ v.double())
        aligned = (q @ u @ wt).to(v.dtype)
        pictures = [plots.as_images(m.T, data.kind, data.shape) for m in (aligned, v)]
        if all(p is not None for p in pictures):
            grid = np.concatenate(pictures)
            paths.append(plots.image_grid(grid, figure_dir / "principal_directions.png",
                                          "decoder directions (top) vs PCA components (bottom)",
                                          ncol=k, normalize_each=True))
        else:
            paths.append(plots.examples_figure([aligned.T, v.T], ["decoder", "PCA"], "signal", (v.shape[0],),
                                               figure_dir / "principal_directions.png",
                                               "decoder directions vs PCA components"))
        codes = torch.cat([self.encode(x.to(self.device)).cpu() for x in chunks_of(data.x_test)]).numpy()
        paths.append(plots.histogram(codes, figure_dir / "code_histogram.png", "code values h", logy=False))
        return paths
