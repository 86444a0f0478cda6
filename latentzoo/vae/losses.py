r"""Seed question 2: the losses of the variational autoencoder, each step of the derivation in code.

The derivation (seed question 2, corrected in DESIGN.md Q2)
------------------------------------------------------------
Let q(x) be the data distribution. The encoder defines the joint E(x, z) = q(x)·q(z|x),
the decoder the joint D(x, z) = p(z)·p(x|z). Training minimises the KL divergence
between the two joints:

.. math::

    KL[E ‖ D] = E_{x∼q(x), z∼q(z|x)} log [ q(z|x) q(x) / (p(x|z) p(z)) ]
              = −E_{x∼q(x)} E_{z∼q(z|x)} [ log p(x|z) + log p(z) − log q(z|x) ] − H[q(x)].

H[q(x)] (the entropy of the data) does not depend on any parameter, so minimising
KL[E ‖ D] is minimising the expected negative evidence lower bound

.. math::

    −ELBO(x) = −E_{z∼q(z|x)} log p(x|z) + KL(q(z|x) ‖ p(z))
             ≥ −log p(x),

whose first term is the reconstruction term and whose second, for a Gaussian encoder
and a standard-normal prior, has the closed form :func:`gaussian_kl`.

Conventions used by every function here
---------------------------------------
* Features lie on the LAST axis; all leading axes are batch axes (examples, and
  importance samples when there are several). Log-densities are SUMMED over the last
  axis and never averaged over the batch: every function returns one value per example
  (and per sample), in nats. The caller takes the mean over the batch.
* Every constant is kept (−½ log 2π per dimension, the variance term), so the numbers
  are log-likelihoods comparable with the papers.
* ``logvar`` is the natural log of the variance σ², so σ = exp(½ logvar).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)  # log 2π ≈ 1.8379


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""KL(N(μ, diag e^{logvar}) ‖ N(0, I)) per example, in closed form.

    .. math::

        KL = ½ Σ_j ( μ_j² + σ_j² − 1 − log σ_j² )

    Parameters
    ----------
    mu, logvar : Tensor, shape (..., latent)
        Mean and log-variance of the diagonal Gaussian q(z|x).

    Returns
    -------
    Tensor, shape (...,)
        The divergence of each example, summed over the latent axis (nats).
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)  # ½ Σ (μ² + σ² − 1 − log σ²)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None,
                   n_samples: int | None = None, eps: torch.Tensor | None = None) -> torch.Tensor:
    r"""Draw z ∼ N(μ, diag σ²) as a differentiable function of μ and σ (the reparameterisation trick).

    Why (seed question 2): drawing z from q(z|x) inside the network is a sampling step;
    it has no derivative with respect to the encoder's parameters, so back-propagation
    stops there. The trick moves the randomness to an input that does not depend on any
    parameter,

    .. math::

        ε ∼ N(0, I),    z = μ(x) + Σ^{1/2}(x) · ε = μ(x) + exp(½ logvar(x)) ⊙ ε,

    and, given x and ε, z is a smooth function of the parameters: the gradient of
    f(z) flows through μ and σ (the pathwise gradient). Without it one must use the
    score-function estimator (:func:`score_function_surrogate`), which is unbiased but
    of far higher variance.

    Parameters
    ----------
    mu, logvar : Tensor, shape (batch, latent)
    generator : torch.Generator, optional
        Source of ε (on the same device as ``mu``); the global RNG when omitted.
    n_samples : int, optional
        Draw this many z per example; the result then has a leading axis of that size.
    eps : Tensor, optional
        The noise ε itself, drawn beforehand (broadcast against ``mu``); ``generator`` and
        ``n_samples`` are then ignored.

    Returns
    -------
    Tensor, shape (batch, latent) or (n_samples, batch, latent)
    """
    if eps is None:
        shape = mu.shape if n_samples is None else (n_samples, *mu.shape)
        eps = torch.randn(shape, generator=generator, device=mu.device, dtype=mu.dtype)  # ε ∼ N(0, I)
    return mu + torch.exp(0.5 * logvar) * eps  # z = μ + σ ⊙ ε


def gaussian_log_likelihood(mean: torch.Tensor, logvar: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r"""log N(x; mean, diag e^{logvar}), summed over the last (feature) axis.

    .. math::

        log p(x) = −½ Σ_j [ log 2π + log σ_j² + (x_j − m_j)² / σ_j² ]

    ``logvar`` broadcasts against ``mean``: one value per feature, or a single scalar
    variance shared by all features. Also the density of a latent code under q(z|x)
    (``x`` = z) and, with mean 0 and logvar 0, under the prior p(z) = N(0, I).

    Returns
    -------
    Tensor, shape ``x.shape[:-1]`` (nats).
    """
    logvar = torch.as_tensor(logvar, dtype=mean.dtype, device=mean.device).expand_as(mean)
    return -0.5 * (LOG_2PI + logvar + (x - mean).pow(2) * torch.exp(-logvar)).sum(dim=-1)


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    r"""log N(z; 0, I) = −½ Σ_j (log 2π + z_j²), summed over the last axis: the prior log p(z)."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(dim=-1)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r"""log p(x|z) for independent Bernoulli pixels with probabilities p = sigmoid(logits).

    .. math::

        log p(x) = Σ_j [ x_j log p_j + (1 − x_j) log(1 − p_j) ]
                 = −Σ_j BCE-with-logits(logits_j, x_j)

    computed from the logits (log-sigmoid), so it stays finite when p is 0 or 1.
    Summed over the last (feature) axis. For x in {0, 1} it is an exact log-probability;
    for grey values x ∈ (0, 1) (e.g. ``digits``) it is the usual cross-entropy, which is
    not a normalised density on [0, 1] (the continuous Bernoulli would add a
    normalising term); the papers report it the same way.

    Returns
    -------
    Tensor, shape ``x.shape[:-1]`` (nats).
    """
    return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(dim=-1)


def negative_elbo(log_px_given_z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  beta: float = 1.0, kl: torch.Tensor | None = None) -> torch.Tensor:
    r"""The negative evidence lower bound of each example (β = 1), or the β-VAE loss.

    From the seed's KL between the encoder joint and the decoder joint (module docstring):

    .. math::

        KL[q(x)q(z|x) ‖ p(z)p(x|z)] = E_{q(x)}[ −ELBO(x) ] − H[q(x)],
        −ELBO(x) = −E_{z∼q(z|x)} log p(x|z) + β · KL(q(z|x) ‖ p(z)),   β = 1.

    The expectation is estimated by Monte Carlo with reparameterised samples
    (:func:`reparameterize`); the KL term is exact (:func:`gaussian_kl`).

    Parameters
    ----------
    log_px_given_z : Tensor, shape (batch,) or (samples, batch)
        log p(x|z) of each example at z ∼ q(z|x) (from :func:`bernoulli_log_likelihood`
        or :func:`gaussian_log_likelihood`); with a leading samples axis the samples are
        averaged, the Monte-Carlo estimate of E_q log p(x|z).
    mu, logvar : Tensor, shape (batch, latent)
        The encoder's q(z|x).
    beta : float
        Weight of the KL term (β-VAE, Higgins et al. 2017); β = 1 gives the true bound.
    kl : Tensor, shape (batch,), optional
        ``gaussian_kl(mu, logvar)`` when the caller has already computed it (it is not
        computed twice).

    Returns
    -------
    Tensor, shape (batch,)
        −ELBO in nats per example (sum over features, no mean over the batch).
    """
    if log_px_given_z.ndim == mu.ndim:  # (samples, batch): Monte-Carlo mean over samples
        log_px_given_z = log_px_given_z.mean(dim=0)
    if kl is None:
        kl = gaussian_kl(mu, logvar)  # KL(q(z|x) ‖ p(z)) = ½ Σ (μ² + σ² − 1 − log σ²)
    return beta * kl - log_px_given_z  # −E_q log p(x|z) + β KL(q ‖ p)


def iwae_bound(log_px_given_z: torch.Tensor, log_pz: torch.Tensor, log_qz_given_x: torch.Tensor) -> torch.Tensor:
    r"""The importance-weighted bound L_K of log p(x) (Burda et al. 2016), per example.

    With K samples z_k ∼ q(z|x) and importance weights w_k = p(x|z_k) p(z_k) / q(z_k|x),

    .. math::

        L_K(x) = log (1/K) Σ_{k=1}^{K} w_k = logsumexp_k(log w_k) − log K  ≤ log p(x).

    L_1 is the ELBO, L_K increases with K and tends to log p(x) as K → ∞, so −L_K for a
    large K (1000 in :class:`latentzoo.vae.model.VAE`'s evaluation) is the negative
    log-likelihood estimate the literature reports. Computed with log-sum-exp, so no
    weight is ever exponentiated on its own (they are e^{−100} and smaller).

    Parameters
    ----------
    log_px_given_z, log_pz, log_qz_given_x : Tensor, shape (K, batch)
        log p(x|z_k), log p(z_k) and log q(z_k|x) of each sample and example.

    Returns
    -------
    Tensor, shape (batch,)
        L_K in nats per example (a log-likelihood bound: higher is better; the NLL
        estimate is its negative).
    """
    log_w = log_px_given_z + log_pz - log_qz_given_x  # log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x)
    k = log_w.shape[0]
    return torch.logsumexp(log_w, dim=0) - math.log(k)  # log (1/K) Σ_k w_k


def score_function_surrogate(log_q: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    r"""A surrogate whose gradient is the score-function (REINFORCE) estimate of ∇_φ E_{q_φ}[f(z)].

    .. math::

        ∇_φ E_{z∼q_φ}[f(z)] = E_{z∼q_φ}[ f(z) ∇_φ log q_φ(z) ]

    (the log-derivative identity ∇q = q ∇log q). The samples z are drawn WITHOUT a path
    to φ (detached), and f is held constant, so back-propagating ``f·log q`` gives
    exactly f(z)∇_φ log q_φ(z): unbiased, needs no derivative of f or of the sampler,
    but its variance grows with |f| — far above that of the pathwise gradient of
    :func:`reparameterize` (measured by ``VAE.gradient_variance``). No baseline
    (control variate) is subtracted here, as in the seed's comparison.

    Parameters
    ----------
    log_q : Tensor, shape (batch,)
        log q_φ(z|x) of detached samples z, differentiable in φ.
    f : Tensor, shape (batch,)
        The integrand at z (detached here), e.g. log p(x|z).

    Returns
    -------
    Tensor, shape (batch,)
        f(z)·log q_φ(z|x) per example; its value is meaningless, only its gradient is used.
    """
    return f.detach() * log_q  # ∇ = f(z) ∇_φ log q_φ(z)
