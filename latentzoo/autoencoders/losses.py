r"""Seed question 1 — the losses of autoencoders with constraints on the latent variable.

* :func:`sparse_coding_objective` — ‖X − UD‖²_F + λ‖U‖₁, the sparse-coding objective (Q1.2).
* :func:`laplace_prior_nll` — −log p(h) = Σᵢ (λ|hᵢ| − log(λ/2)) for the Laplace prior of the
  probabilistic sparse autoencoder (Q1.3).
* :func:`gaussian_nll` — −log N(x; x̂, σ²I), the decoder likelihood of the probabilistic
  sparse autoencoder, constants included.
* :func:`contractive_penalty` — λ‖∂f(x)/∂x‖²_F, the contractive autoencoder's penalty (beyond the seed).

Conventions: examples are rows (batch first); "per sample" means the sum over features
and a tensor of shape (batch,) is returned; scalar objectives state their reduction.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sparse_coding_objective(x: torch.Tensor, codes: torch.Tensor, dictionary: torch.Tensor,
                            lam: float | torch.Tensor) -> torch.Tensor:
    r"""The sparse-coding objective in the row convention of DESIGN.md:

        F(U, D) = ‖X − UD‖²_F + λ‖U‖₁ = Σₙ ( ‖xₙ − uₙD‖² + λ Σₖ |uₙₖ| )

    The seed writes ‖X − DU‖² + λ‖U‖₁ with samples as columns; here samples are rows, so the
    product is UD. The reduction is a plain **sum** over examples and features (divide by n for
    a per-example value). scikit-learn minimises ½‖X − UD‖² + α‖U‖₁, so α = λ/2.

    Parameters
    ----------
    x : Tensor (n, d)
        Examples as rows.
    codes : Tensor (n, k)
        The codes U, one row per example.
    dictionary : Tensor (k, d)
        The dictionary D, one atom per row.
    lam : float or scalar Tensor
        λ ≥ 0, the weight of the ℓ₁ penalty.

    Returns
    -------
    Tensor, scalar.
    """
    if x.ndim != 2 or codes.ndim != 2 or dictionary.ndim != 2:
        raise ValueError(f"expected x (n, d), codes (n, k), dictionary (k, d); got shapes "
                         f"{tuple(x.shape)}, {tuple(codes.shape)}, {tuple(dictionary.shape)}")
    if codes.shape[0] != x.shape[0] or codes.shape[1] != dictionary.shape[0] or dictionary.shape[1] != x.shape[1]:
        raise ValueError(f"shapes do not agree: x {tuple(x.shape)}, codes {tuple(codes.shape)}, "
                         f"dictionary {tuple(dictionary.shape)}")
    residual = x - codes @ dictionary                        # X − UD
    return residual.pow(2).sum() + lam * codes.abs().sum()   # ‖X − UD‖²_F + λ‖U‖₁


def laplace_prior_nll(h: torch.Tensor, lam: float | torch.Tensor) -> torch.Tensor:
    r"""Negative log-density of a factorised Laplace prior, per sample.

        p(hᵢ) = (λ/2) e^{−λ|hᵢ|}   ⇒   −log p(h) = Σᵢ (λ|hᵢ| − log(λ/2))

    The sum runs over every code unit i (all axes after the first); the constant
    −log(λ/2) per unit is included, so the value is an exact negative log-density in nats
    and λ can be fitted by maximum likelihood (its optimum is λ* = k / Σᵢ|hᵢ| for k units).

    Parameters
    ----------
    h : Tensor (batch, k) or (batch, ...)
        Codes.
    lam : float or Tensor broadcastable to ``h``
        λ > 0, the rate of the prior (a scalar, or one value per unit).

    Returns
    -------
    Tensor (batch,).
    """
    lam = torch.as_tensor(lam, dtype=h.dtype, device=h.device)
    if (lam <= 0).any():
        raise ValueError("the Laplace rate lam must be > 0")
    per_unit = lam * h.abs() - torch.log(lam / 2)            # λ|hᵢ| − log(λ/2)
    return per_unit.expand_as(h).reshape(h.shape[0], -1).sum(1)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    r"""Negative log-density of an isotropic Gaussian decoder, per sample, constants included.

        −log N(x; x̂, σ²I) = ‖x − x̂‖² / (2σ²) + (d/2) log(2πσ²)

    summed over the d features of each example (all axes after the first).

    Returns
    -------
    Tensor (batch,).
    """
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    squared = (x - mean).pow(2).reshape(x.shape[0], -1)
    d = squared.shape[1]
    return squared.sum(1) / (2 * sigma**2) + 0.5 * d * torch.log(2 * math.pi * sigma**2)


class SigmoidEncoder(nn.Module):
    r"""The one-layer sigmoid encoder of the contractive autoencoder: h = σ(W x + b).

    Its Jacobian is ∂hⱼ/∂xᵢ = hⱼ(1 − hⱼ) Wⱼᵢ, so the contractive penalty has the closed form
    ‖J‖²_F = Σⱼ (hⱼ(1 − hⱼ))² Σᵢ Wⱼᵢ² (Rifai et al. 2011), which :func:`contractive_penalty` uses.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x.reshape(x.shape[0], -1)))  # h = σ(Wx + b)


def contractive_penalty(x: torch.Tensor, encoder: nn.Module, lam: float = 1.0,
                        h: torch.Tensor | None = None, create_graph: bool = True) -> torch.Tensor:
    r"""The contractive penalty λ‖∂f(x)/∂x‖²_F of each example (Rifai et al. 2011).

        Ω(x) = λ ‖J_f(x)‖²_F = λ Σⱼ Σᵢ (∂fⱼ(x)/∂xᵢ)²

    Computed exactly, never by sampling:

    * for a one-layer sigmoid encoder (:class:`SigmoidEncoder`, h = σ(Wx + b)) analytically,
      ‖J‖²_F = Σⱼ (hⱼ(1 − hⱼ))² Σᵢ Wⱼᵢ²;
    * for any other encoder by reverse-mode autograd, one batched vector–Jacobian product
      per code unit j (the rows ∂fⱼ/∂x of every example at once). The encoder must treat examples
      independently (no batch normalisation in training mode), otherwise J is not per example.

    Parameters
    ----------
    x : Tensor (batch, ...)
        Inputs.
    encoder : nn.Module
        f, mapping (batch, ...) to codes (batch, k).
    lam : float
        λ ≥ 0.
    h : Tensor (batch, k), optional
        f(x) if already computed (used by the analytic path to avoid a second forward).
    create_graph : bool
        Keep the graph so that the penalty can be minimised (True for training).

    Returns
    -------
    Tensor (batch,): λ‖J_f(xₙ)‖²_F for each example n.
    """
    if isinstance(encoder, SigmoidEncoder):
        if h is None:
            h = encoder(x)
        weight = encoder.linear.weight                       # W (k, d)
        slope = (h * (1 - h)).pow(2)                         # (hⱼ(1 − hⱼ))²
        return lam * slope @ weight.pow(2).sum(1)            # λ Σⱼ (hⱼ(1 − hⱼ))² Σᵢ Wⱼᵢ²
    with torch.enable_grad():
        if not x.requires_grad:                              # a leaf to differentiate against
            x = x.detach().requires_grad_(True)
        out = encoder(x).reshape(x.shape[0], -1)
        k = out.shape[1]
        # Cotangent e_j for every unit j at once (a batched vector–Jacobian product):
        # rows[j, n] = ∂f_j(x_n)/∂x_n.
        cotangents = torch.eye(k, dtype=out.dtype, device=out.device).unsqueeze(1).expand(k, *out.shape)
        (rows,) = torch.autograd.grad(out, x, grad_outputs=cotangents, create_graph=create_graph,
                                      is_grads_batched=True)
        total = rows.reshape(k, x.shape[0], -1).pow(2).sum((0, 2))  # Σⱼ Σᵢ (∂fⱼ/∂xᵢ)²
    return lam * total
