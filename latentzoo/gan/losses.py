r"""Seed question 3: the GAN objective written as the seed writes it, and its regularisers.

The seed's game, with logits :math:`d = D(\cdot)` (the discriminator's output before any sigmoid):

.. math::

    \min_{\tilde w}\ \max_{w}\ V = \mathbb{E}_{y\sim P_{real}} F(D(y; w))
                                 - \mathbb{E}_{\eta\sim P_{simple}} \tilde F(D(G(\eta; \tilde w); w)).

The discriminator minimises :math:`-V`; the generator minimises :math:`-\mathbb{E}\tilde F(D(G(\eta)))`
(its only part of :math:`V`) in the zero-sum games, or a replacement in the non-zero-sum variants.
Every expectation is the mean over the batch; nothing is summed over features (a logit is a
scalar per example, or per pack of examples with PacGAN).

==============  =============================  ================================  ==================================
kind            :math:`F(d)`                   :math:`\tilde F(d)`               generator minimises
==============  =============================  ================================  ==================================
minimax         :math:`\log\sigma(d)`          :math:`-\log(1-\sigma(d))`        :math:`\mathbb{E}\log(1-\sigma(d_f))`
nonsaturating   :math:`\log\sigma(d)`          :math:`-\log(1-\sigma(d))`        :math:`-\mathbb{E}\log\sigma(d_f)`
wasserstein     :math:`d`                      :math:`d`                         :math:`-\mathbb{E} d_f`
hinge           :math:`\min(0, d-1)`           :math:`\max(0, 1+d)`              :math:`-\mathbb{E} d_f`
least-squares   :math:`-\tfrac12(d-1)^2`       :math:`\tfrac12 d^2`              :math:`\tfrac12\mathbb{E}(d_f-1)^2`
==============  =============================  ================================  ==================================

Numerical stability: :math:`\log\sigma(d) = -\mathrm{softplus}(-d)` and
:math:`-\log(1-\sigma(d)) = \mathrm{softplus}(d)`; no logarithm of a sigmoid is ever taken.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F_

KINDS = ("minimax", "nonsaturating", "wasserstein", "hinge", "least-squares")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown GAN loss {kind!r}; choose one of: {', '.join(KINDS)}")


def real_term(d: torch.Tensor, kind: str) -> torch.Tensor:
    r"""Elementwise :math:`F(d)` of the seed's objective for ``kind`` (see the module table)."""
    _check_kind(kind)
    if kind in ("minimax", "nonsaturating"):
        return -F_.softplus(-d)                      # F(d) = log σ(d) = −softplus(−d)
    if kind == "wasserstein":
        return d                                     # F(d) = d
    if kind == "hinge":
        return torch.clamp(d - 1, max=0)             # F(d) = min(0, d − 1)
    return -0.5 * (d - 1) ** 2                       # F(d) = −½(d − 1)²


def fake_term(d: torch.Tensor, kind: str) -> torch.Tensor:
    r"""Elementwise :math:`\tilde F(d)` of the seed's objective for ``kind`` (see the module table)."""
    _check_kind(kind)
    if kind in ("minimax", "nonsaturating"):
        return F_.softplus(d)                        # F̃(d) = −log(1 − σ(d)) = softplus(d)
    if kind == "wasserstein":
        return d                                     # F̃(d) = d
    if kind == "hinge":
        return torch.clamp(1 + d, min=0)             # F̃(d) = max(0, 1 + d)
    return 0.5 * d ** 2                              # F̃(d) = ½d²


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    r"""The scalar the discriminator minimises: :math:`-V = -\mathbb{E}F(D(y)) + \mathbb{E}\tilde F(D(G(\eta)))`.

    * minimax / nonsaturating (Goodfellow et al. 2014): F(d) = log σ(d), F̃(d) = −log(1 − σ(d));
      loss = E softplus(−d_r) + E softplus(d_f)  (= 2 log 2 when D = 0 everywhere).
    * wasserstein (Arjovsky et al. 2017): F(d) = F̃(d) = d; loss = −E d_r + E d_f.
      Meaningful only with a Lipschitz constraint (``gradient_penalty`` or spectral norm).
    * hinge (Lim & Ye 2017; Miyato et al. 2018): F(d) = min(0, d − 1), F̃(d) = max(0, 1 + d);
      loss = E max(0, 1 − d_r) + E max(0, 1 + d_f).
    * least-squares (Mao et al. 2017, targets a = 0, b = 1): F(d) = −½(d − 1)², F̃(d) = ½d²;
      loss = ½E(d_r − 1)² + ½E d_f².

    Parameters
    ----------
    real_logits : Tensor, shape (n,) or (n, 1)
        D(y) on real examples (or packs), before any sigmoid.
    fake_logits : Tensor, shape (m,) or (m, 1)
        D(G(η)) on generated examples (or packs).
    kind : str
        One of ``minimax``, ``nonsaturating``, ``wasserstein``, ``hinge``, ``least-squares``.

    Returns
    -------
    Tensor, scalar: mean over the real batch of −F plus mean over the fake batch of F̃.
    """
    _check_kind(kind)
    # −V = −E_y F(D(y)) + E_η F̃(D(G(η)))
    return -real_term(real_logits, kind).mean() + fake_term(fake_logits, kind).mean()


def generator_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    r"""The scalar the generator minimises, mean over the batch of generated examples.

    * minimax: the generator's part of V, :math:`-\mathbb{E}\tilde F(d_f) = \mathbb{E}\log(1-\sigma(d_f))
      = -\mathbb{E}\,\mathrm{softplus}(d_f)`; it saturates (vanishing gradient) when D wins, d_f → −∞.
    * nonsaturating: :math:`-\mathbb{E}\log\sigma(d_f) = \mathbb{E}\,\mathrm{softplus}(-d_f)`.
    * wasserstein: :math:`-\mathbb{E}\tilde F(d_f) = -\mathbb{E} d_f`.
    * hinge: :math:`-\mathbb{E} d_f` (the usual non-zero-sum generator of the hinge GAN).
    * least-squares: :math:`\tfrac12\mathbb{E}(d_f - 1)^2` (target c = 1).

    Parameters
    ----------
    fake_logits : Tensor, shape (m,) or (m, 1)
        D(G(η)) before any sigmoid.
    kind : str
        One of ``minimax``, ``nonsaturating``, ``wasserstein``, ``hinge``, ``least-squares``.
    """
    _check_kind(kind)
    d = fake_logits
    if kind == "minimax":
        return -F_.softplus(d).mean()                # E log(1 − σ(d_f)) = −E softplus(d_f)
    if kind == "nonsaturating":
        return F_.softplus(-d).mean()                # −E log σ(d_f) = E softplus(−d_f)
    if kind in ("wasserstein", "hinge"):
        return -d.mean()                             # −E d_f
    return 0.5 * ((d - 1) ** 2).mean()               # ½ E (d_f − 1)²


def _input_gradient(discriminator: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """∂ Σ_i D(x_i) / ∂x, kept in the graph (create_graph) so that the penalty can be differentiated."""
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    out = discriminator(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.reshape(grad.shape[0], -1)


def gradient_penalty(discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, epsilon: torch.Tensor | None = None) -> torch.Tensor:
    r"""WGAN-GP penalty (Gulrajani et al. 2017), without its weight λ:

    .. math:: \mathbb{E}_{\hat x}\big(\lVert\nabla_{\hat x} D(\hat x)\rVert_2 - 1\big)^2,\qquad
              \hat x = \epsilon\, y + (1-\epsilon)\,\tilde x,\ \epsilon\sim U[0, 1] \text{ per example}.

    The norm is over all features of one example (one row of the discriminator's input, a whole
    pack with PacGAN); the expectation is the mean over the batch. The caller adds ``λ · penalty``
    (λ = 10 in the paper) to the discriminator's loss.

    Parameters
    ----------
    discriminator : callable
        Maps inputs (n, ...) to logits (n,) or (n, 1); each logit must depend only on its own row.
    real, fake : Tensor, shape (n, ...)
        Real and generated inputs of the discriminator (``fake`` detached from the generator).
    epsilon : Tensor, shape (n,), optional
        Interpolation weights; drawn from U[0, 1] with torch's global RNG when omitted.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    n = real.shape[0]
    if epsilon is None:
        epsilon = torch.rand(n, device=real.device, dtype=real.dtype)
    eps = epsilon.reshape(n, *([1] * (real.ndim - 1)))
    interpolates = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)  # x̂ = εy + (1−ε)x̃
    grad = _input_gradient(discriminator, interpolates)
    return ((grad.norm(dim=1) - 1) ** 2).mean()    # E (‖∇D(x̂)‖₂ − 1)²


def r1_penalty(discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
               real_logits: torch.Tensor | None = None) -> torch.Tensor:
    r"""R1 penalty (Mescheder et al. 2018) on real data, without its weight γ/2:

    .. math:: \mathbb{E}_{y\sim P_{real}} \lVert\nabla_y D(y)\rVert_2^2.

    Squared norm summed over all features of one example (or pack), mean over the batch. The
    caller adds ``(γ/2) · penalty`` to the discriminator's loss. With it the Dirac-GAN converges
    instead of circling (Mescheder et al. 2018, Theorem 4.1).

    Parameters
    ----------
    discriminator : callable
        Maps inputs (n, ...) to logits (n,) or (n, 1); each logit must depend only on its own row.
    real : Tensor, shape (n, ...)
        Real inputs of the discriminator.
    real_logits : Tensor, optional
        ``discriminator(real)`` already computed with ``real.requires_grad`` set (saves one forward
        pass inside a training step); computed here when omitted.
    """
    if real_logits is not None:
        (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
        return grad.reshape(grad.shape[0], -1).pow(2).sum(dim=1).mean()
    grad = _input_gradient(discriminator, real.detach())
    return grad.pow(2).sum(dim=1).mean()           # E ‖∇_y D(y)‖²
