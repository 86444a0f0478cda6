r"""Loss modules for people who write their own training loop (issue 11, item 3).

Each class is a small ``nn.Module`` over one of latentzoo's loss functions: it stores and
validates its settings once, in ``__init__`` (a bad argument raises one ``ValueError`` that
names it), and its ``forward`` calls the function. The value is the function's value; no
second implementation lives here. All are re-exported from :mod:`latentzoo.losses`.

=====================  ============================================================  ==============================
module                 value of ``forward``                                          wraps
=====================  ============================================================  ==============================
NTXentLoss             NT-Xent of SimCLR, mean over the 2N views (lightly's value)   ``simclr.losses.nt_xent``
ELBOLoss               mean over the batch of −log p(x|z) + β KL(q(z|x) ‖ N(0, I))   ``vae.losses.negative_elbo``
DiscriminatorLoss      −E F(D(y)) + E F̃(D(G(η)))                                    ``gan.losses.discriminator_loss``
GeneratorLoss          the generator's objective of the chosen game                  ``gan.losses.generator_loss``
R1Penalty              (γ/2) E ‖∇_y D(y)‖²                                           ``gan.losses.r1_penalty``
GradientPenalty        λ E (‖∇D(x̂)‖₂ − 1)²                                           ``gan.losses.gradient_penalty``
SparseCodingLoss       ‖X − UD‖²_F + λ‖U‖₁                                           ``sparse_coding_objective``
=====================  ============================================================  ==============================

A typical loop::

    criterion = latentzoo.losses.NTXentLoss(temperature=0.5)
    for x0, x1 in loader:                      # two augmented views of a batch
        loss = criterion(model(x0), model(x1))
        loss.backward(); optimizer.step(); optimizer.zero_grad()
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from latentzoo.autoencoders.losses import sparse_coding_objective
from latentzoo.gan.losses import KINDS, discriminator_loss, generator_loss, gradient_penalty, r1_penalty
from latentzoo.simclr.losses import nt_xent
from latentzoo.vae.losses import bernoulli_log_likelihood, gaussian_log_likelihood, negative_elbo

__all__ = ["NTXentLoss", "ELBOLoss", "DiscriminatorLoss", "GeneratorLoss", "R1Penalty", "GradientPenalty",
           "SparseCodingLoss"]

LIKELIHOODS = ("bernoulli", "gaussian")
REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------------------
# Validation at the boundary: one ValueError that names the argument
# ---------------------------------------------------------------------------------------

def _number(name: str, value, *, positive: bool = False) -> float:
    r"""``value`` as a finite float ≥ 0 (> 0 with ``positive``), else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")
    return value


def _choice(name: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _reduce(per_example: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    return per_example


# ---------------------------------------------------------------------------------------
# Seed question 4: SimCLR
# ---------------------------------------------------------------------------------------

class NTXentLoss(nn.Module):
    r"""NT-Xent, the contrastive loss of SimCLR (Chen et al. 2020, eq. 1), as lightly's
    ``lightly.loss.NTXentLoss``: same call ``loss(out0, out1)``, same value.

    With the 2N views Z = [out0; out1] (row a and row a ± N are the positive pair p(a)),

    .. math::

        L = \frac{1}{2N} \sum_{a=1}^{2N} -\log
            \frac{\exp(\mathrm{sim}(Z_a, Z_{p(a)})/\tau)}
                 {\sum_{k=1}^{2N} 1[k \ne a] \exp(\mathrm{sim}(Z_a, Z_k)/\tau)},
        \qquad \mathrm{sim}(u, v) = \frac{u^\top v}{\lVert u\rVert \lVert v\rVert},

    i.e. the cross-entropy over the cosine-similarity logits divided by τ, with the positive
    view as target and each view's similarity to itself left out, averaged over the 2N views.
    Computed by :func:`latentzoo.simclr.losses.nt_xent` without ever forming the 2N×2N matrix.

    Parameters
    ----------
    temperature : float
        τ > 0 (0.5 by default, as in lightly and the seed).
    gather_distributed : bool
        Under ``torch.distributed`` with several ranks, gather every rank's embeddings (with
        gradients) and use them as negatives. Then every rank returns L of the global batch,
        where lightly returns the mean over its own rank's anchors; the mean of lightly's values
        over the ranks is this L, and the gradients after DDP's averaging are the same.

    Shapes
    ------
    out0, out1 : (N, D), the projections of the two views; any floating dtype.
    Returns a scalar tensor (nats).
    """

    def __init__(self, temperature: float = 0.5, gather_distributed: bool = False):
        super().__init__()
        self.temperature = _number("temperature", temperature, positive=True)
        if not isinstance(gather_distributed, bool):
            raise ValueError(f"gather_distributed must be True or False, got {gather_distributed!r}")
        if gather_distributed and not torch.distributed.is_available():
            raise ValueError("gather_distributed=True needs torch.distributed, which this build of torch lacks")
        self.gather_distributed = gather_distributed

    def forward(self, out0: torch.Tensor, out1: torch.Tensor) -> torch.Tensor:
        if out0.ndim != 2 or out0.shape != out1.shape:
            raise ValueError(f"out0 and out1 must have the same shape (N, D); "
                             f"got {tuple(out0.shape)} and {tuple(out1.shape)}")
        return nt_xent(out0, out1, self.temperature, gather_distributed=self.gather_distributed)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, gather_distributed={self.gather_distributed}"


# ---------------------------------------------------------------------------------------
# Seed question 2: the VAE
# ---------------------------------------------------------------------------------------

class ELBOLoss(nn.Module):
    r"""The negative evidence lower bound of a VAE with your own encoder and decoder (β-VAE with β ≠ 1).

    .. math::

        \ell(x) = -\log p(x \mid z) + \beta\, \mathrm{KL}\big(N(\mu, \mathrm{diag}\, e^{\mathrm{logvar}})
                  \,\|\, N(0, I)\big),\qquad z = \mu + e^{\mathrm{logvar}/2} \odot \varepsilon,

        \mathrm{KL} = \tfrac12 \textstyle\sum_j (\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2),

    with log p(x|z) SUMMED over every feature of an example (all axes after the batch axis),
    every constant kept, so ℓ is in nats per example; the reduction is then over examples
    (the mean by default). ``likelihood``:

    * ``"bernoulli"``: ``decoder_output`` are logits f(z), p(x|z) = Π_j Bernoulli(x_j; σ(f_j)),
      −log p(x|z) = Σ_j BCE-with-logits(f_j, x_j) (data in [0, 1]);
    * ``"gaussian"``: ``decoder_output`` is the mean m(z), p(x|z) = N(x; m, diag σ_x²),
      −log p(x|z) = ½ Σ_j [log 2π + log σ_x² + (x_j − m_j)²/σ_x²], with log σ_x² given as
      ``decoder_logvar`` (a number or a tensor broadcastable to the features, e.g. your own
      ``nn.Parameter``; 0, i.e. σ_x = 1, when omitted).

    Parameters
    ----------
    likelihood : str
        ``"bernoulli"`` (default) or ``"gaussian"``.
    beta : float
        β ≥ 0, the weight of the KL term; 1 gives the true bound.
    reduction : str
        ``"mean"`` over examples (default), ``"sum"``, or ``"none"`` (one value per example).

    Shapes
    ------
    x : (B, *F), the data. decoder_output : (B, *F), or (S, B, *F) for S samples of z per
    example (the Monte-Carlo mean over S is taken). mu, logvar : (B, latent), the encoder's
    q(z|x). Returns a scalar, or (B,) with ``reduction="none"``.
    Wraps :func:`latentzoo.vae.losses.negative_elbo`.
    """

    def __init__(self, likelihood: str = "bernoulli", beta: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.likelihood = _choice("likelihood", likelihood, LIKELIHOODS)
        self.beta = _number("beta", beta)
        self.reduction = _choice("reduction", reduction, REDUCTIONS)

    def forward(self, x: torch.Tensor, decoder_output: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                decoder_logvar: float | torch.Tensor | None = None) -> torch.Tensor:
        batch = x.shape[0] if x.ndim else 0
        if x.ndim < 2:
            raise ValueError(f"x must have a batch axis and features, shape (B, *F); got {tuple(x.shape)}")
        samples = decoder_output.ndim == x.ndim + 1                 # (S, B, *F): S samples of z
        if decoder_output.shape[samples:] != x.shape:
            raise ValueError(f"decoder_output must have the shape of x {tuple(x.shape)} (or (S, *that)); "
                             f"got {tuple(decoder_output.shape)}")
        if mu.ndim != 2 or mu.shape[0] != batch or mu.shape != logvar.shape:
            raise ValueError(f"mu and logvar must both be (B, latent) with B = {batch}; "
                             f"got {tuple(mu.shape)} and {tuple(logvar.shape)}")
        if decoder_logvar is not None and self.likelihood != "gaussian":
            raise ValueError("decoder_logvar is the log-variance of the gaussian likelihood; "
                             "likelihood='bernoulli' has none")
        flat_x = x.reshape(batch, -1)                               # features on the last axis
        flat_out = decoder_output.reshape(*decoder_output.shape[:samples], batch, -1)
        if self.likelihood == "bernoulli":
            log_px = bernoulli_log_likelihood(flat_out, flat_x)     # Σ_j log Bernoulli(x_j; σ(f_j))
        else:
            log_sigma2 = torch.as_tensor(0.0 if decoder_logvar is None else decoder_logvar,
                                         dtype=flat_out.dtype, device=flat_out.device)
            try:                                                    # one log σ_x² per feature
                log_sigma2 = log_sigma2.expand(x.shape[1:]).reshape(-1)
            except RuntimeError:
                raise ValueError(f"decoder_logvar must broadcast to the features {tuple(x.shape[1:])}; "
                                 f"got shape {tuple(log_sigma2.shape)}") from None
            log_px = gaussian_log_likelihood(flat_out, log_sigma2, flat_x)  # Σ_j log N(x_j; m_j, σ_x²)
        per_example = negative_elbo(log_px, mu, logvar, beta=self.beta)  # −E_q log p(x|z) + β KL
        return _reduce(per_example, self.reduction)

    def extra_repr(self) -> str:
        return f"likelihood={self.likelihood!r}, beta={self.beta}, reduction={self.reduction!r}"


# ---------------------------------------------------------------------------------------
# Seed question 3: the GAN
# ---------------------------------------------------------------------------------------

class DiscriminatorLoss(nn.Module):
    r"""The scalar the discriminator minimises, −V of the seed's game:

    .. math:: -\mathbb{E}_{y} F(D(y)) + \mathbb{E}_{\eta} \tilde F(D(G(\eta))),

    with (F, F̃) of ``kind`` (logits d, before any sigmoid): minimax and nonsaturating
    (log σ(d), −log(1 − σ(d))), wasserstein (d, d), hinge (min(0, d − 1), max(0, 1 + d)),
    least-squares (−½(d − 1)², ½d²). Each expectation is the mean over its own batch.

    Shapes
    ------
    real_logits : (n,) or (n, 1); fake_logits : (m,) or (m, 1). Returns a scalar.
    Wraps :func:`latentzoo.gan.losses.discriminator_loss`.
    """

    def __init__(self, kind: str = "nonsaturating"):
        super().__init__()
        self.kind = _choice("kind", kind, KINDS)

    def forward(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return discriminator_loss(real_logits, fake_logits, self.kind)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


class GeneratorLoss(nn.Module):
    r"""The scalar the generator minimises, mean over the generated batch (logits d_f = D(G(η))):

    minimax E log(1 − σ(d_f)); nonsaturating −E log σ(d_f); wasserstein and hinge −E d_f;
    least-squares ½ E (d_f − 1)².

    Shapes
    ------
    fake_logits : (m,) or (m, 1). Returns a scalar.
    Wraps :func:`latentzoo.gan.losses.generator_loss`.
    """

    def __init__(self, kind: str = "nonsaturating"):
        super().__init__()
        self.kind = _choice("kind", kind, KINDS)

    def forward(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return generator_loss(fake_logits, self.kind)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


class R1Penalty(nn.Module):
    r"""The R1 penalty of Mescheder et al. (2018), weight included, in their γ/2 convention:

    .. math:: \frac{\gamma}{2}\, \mathbb{E}_{y \sim P_{real}} \lVert \nabla_y D(y) \rVert_2^2,

    the squared norm summed over all features of one example (or pack), the mean over the
    batch. Add it to the discriminator's loss; the graph is kept (``create_graph``), so it
    can be minimised.

    Parameters
    ----------
    gamma : float
        γ ≥ 0 (the value of latentzoo's ``r1`` option; StyleGAN uses 10 on images).

    Shapes
    ------
    ``forward(discriminator, real, real_logits=None)``: ``discriminator`` maps (n, ...) to
    logits (n,) or (n, 1), each depending only on its own row; real : (n, ...).
    ``real_logits``: ``discriminator(real)`` already computed with ``real.requires_grad``
    set (saves a forward pass). Returns a scalar.
    Wraps :func:`latentzoo.gan.losses.r1_penalty`.
    """

    def __init__(self, gamma: float = 1.0):
        super().__init__()
        self.gamma = _number("gamma", gamma)

    def forward(self, discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                real_logits: torch.Tensor | None = None) -> torch.Tensor:
        if real_logits is not None and not real.requires_grad:
            raise ValueError("real_logits given but real does not require grad: compute them as "
                             "discriminator(real.requires_grad_()) or leave real_logits out")
        return 0.5 * self.gamma * r1_penalty(discriminator, real, real_logits)   # (γ/2) E‖∇_y D(y)‖²

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}"


class GradientPenalty(nn.Module):
    r"""The WGAN-GP penalty of Gulrajani et al. (2017), weight included:

    .. math:: \lambda\, \mathbb{E}_{\hat x} \big(\lVert \nabla_{\hat x} D(\hat x) \rVert_2 - 1\big)^2,
              \qquad \hat x = \epsilon y + (1 - \epsilon) \tilde x,\ \epsilon \sim U[0, 1] \text{ per example},

    the norm over all features of one example, the mean over the batch.

    Parameters
    ----------
    weight : float
        λ ≥ 0 (10 in the paper).

    Shapes
    ------
    ``forward(discriminator, real, fake, epsilon=None)``: real and fake (n, ...) of the same
    shape (fake detached from the generator); epsilon (n,) the interpolation weights, drawn
    from torch's global RNG when omitted. Returns a scalar.
    Wraps :func:`latentzoo.gan.losses.gradient_penalty`.
    """

    def __init__(self, weight: float = 10.0):
        super().__init__()
        self.weight = _number("weight", weight)

    def forward(self, discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                fake: torch.Tensor, epsilon: torch.Tensor | None = None) -> torch.Tensor:
        return self.weight * gradient_penalty(discriminator, real, fake, epsilon)  # λ E(‖∇D(x̂)‖ − 1)²

    def extra_repr(self) -> str:
        return f"weight={self.weight}"


# ---------------------------------------------------------------------------------------
# Seed question 1: sparse coding
# ---------------------------------------------------------------------------------------

class SparseCodingLoss(nn.Module):
    r"""The sparse-coding objective (seed question 1.2), examples as rows:

    .. math:: F(U, D) = \lVert X - UD \rVert_F^2 + \lambda \lVert U \rVert_1
                      = \sum_n \Big( \lVert x_n - u_n D \rVert^2 + \lambda \sum_k |u_{nk}| \Big).

    scikit-learn's ``DictionaryLearning`` minimises ½‖X − UD‖² + α‖U‖₁, so α = λ/2.

    Parameters
    ----------
    lam : float
        λ ≥ 0, the weight of the ℓ₁ penalty.
    reduction : str
        ``"sum"`` over examples (default; the value of
        :func:`latentzoo.autoencoders.losses.sparse_coding_objective`) or ``"mean"`` (divided by n).

    Shapes
    ------
    x : (n, d); codes U : (n, k); dictionary D : (k, d), one atom per row. Returns a scalar.
    """

    def __init__(self, lam: float, reduction: str = "sum"):
        super().__init__()
        self.lam = _number("lam", lam)
        self.reduction = _choice("reduction", reduction, ("sum", "mean"))

    def forward(self, x: torch.Tensor, codes: torch.Tensor, dictionary: torch.Tensor) -> torch.Tensor:
        total = sparse_coding_objective(x, codes, dictionary, self.lam)   # ‖X − UD‖²_F + λ‖U‖₁
        return total / x.shape[0] if self.reduction == "mean" else total

    def extra_repr(self) -> str:
        return f"lam={self.lam}, reduction={self.reduction!r}"
