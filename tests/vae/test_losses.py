r"""The VAE's losses against slow loops written from the formulas, closed forms, and gradcheck."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from latentzoo import losses
from latentzoo.vae.losses import (
    bernoulli_log_likelihood,
    gaussian_kl,
    gaussian_log_likelihood,
    iwae_bound,
    negative_elbo,
    reparameterize,
    score_function_surrogate,
    standard_normal_log_density,
)


def test_reexported_from_losses():
    assert losses.gaussian_kl is gaussian_kl
    assert losses.negative_elbo is negative_elbo
    assert losses.iwae_bound is iwae_bound


# ---- gaussian_kl --------------------------------------------------------------------------
@pytest.mark.parametrize("batch,latent", [(1, 1), (5, 3), (17, 8)])
def test_gaussian_kl_matches_torch_distributions(batch, latent):
    g = torch.Generator().manual_seed(batch * latent)
    mu = torch.randn(batch, latent, generator=g, dtype=torch.float64) * 2
    logvar = torch.randn(batch, latent, generator=g, dtype=torch.float64)
    q = Normal(mu, (0.5 * logvar).exp())
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = kl_divergence(q, p).sum(dim=-1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)


def test_gaussian_kl_slow_loop_and_closed_forms():
    mu = torch.tensor([[0.3, -1.2], [0.0, 2.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.1, -0.7], [1.5, 0.0]], dtype=torch.float64)
    slow = [sum(0.5 * (mu[i, j] ** 2 + math.exp(logvar[i, j]) - 1 - logvar[i, j]) for j in range(2)) for i in range(2)]
    torch.testing.assert_close(gaussian_kl(mu, logvar), torch.tensor(slow, dtype=torch.float64))
    # q = p gives 0; a shifted unit Gaussian gives ½‖μ‖²; a centred N(0, s²) gives ½(s² − 1 − log s²) per dimension.
    zeros = torch.zeros(3, 4, dtype=torch.float64)
    assert torch.equal(gaussian_kl(zeros, zeros), torch.zeros(3, dtype=torch.float64))
    m = torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    torch.testing.assert_close(gaussian_kl(m, torch.zeros_like(m)), torch.tensor([12.5], dtype=torch.float64))
    s2 = 4.0
    lv = torch.full((1, 5), math.log(s2), dtype=torch.float64)
    expected = 5 * 0.5 * (s2 - 1 - math.log(s2))
    torch.testing.assert_close(gaussian_kl(torch.zeros_like(lv), lv), torch.tensor([expected], dtype=torch.float64))


def test_gaussian_kl_gradcheck_and_shape_error():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gaussian_kl, (mu, logvar))
    with pytest.raises(ValueError, match="same shape"):
        gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))


# ---- log-likelihoods -----------------------------------------------------------------------
def slow_gaussian_log_likelihood(mean, logvar, x):
    out = []
    for i in range(x.shape[0]):
        total = 0.0
        for j in range(x.shape[1]):
            var = math.exp(float(logvar[j] if logvar.numel() > 1 else logvar.reshape(-1)[0]))
            total += -0.5 * math.log(2 * math.pi) - 0.5 * math.log(var) - (float(x[i, j] - mean[i, j]) ** 2) / (2 * var)
        out.append(total)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("variance", ["feature", "scalar"])
def test_gaussian_log_likelihood_slow_loop_and_torch(variance):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 5, generator=g, dtype=torch.float64)
    mean = torch.randn(6, 5, generator=g, dtype=torch.float64)
    logvar = torch.randn(5 if variance == "feature" else 1, generator=g, dtype=torch.float64)
    got = gaussian_log_likelihood(mean, logvar, x)
    torch.testing.assert_close(got, slow_gaussian_log_likelihood(mean, logvar, x))
    expected = Normal(mean, (0.5 * logvar).exp().expand_as(mean)).log_prob(x).sum(dim=-1)
    torch.testing.assert_close(got, expected)


def test_gaussian_log_likelihood_closed_form_and_gradcheck():
    # x = mean, unit variance, d features: −(d/2) log 2π exactly (every constant is kept).
    x = torch.zeros(2, 7, dtype=torch.float64)
    torch.testing.assert_close(gaussian_log_likelihood(x, torch.zeros(7, dtype=torch.float64), x),
                               torch.full((2,), -3.5 * math.log(2 * math.pi), dtype=torch.float64))
    torch.testing.assert_close(standard_normal_log_density(x), torch.full((2,), -3.5 * math.log(2 * math.pi),
                                                                          dtype=torch.float64))
    g = torch.Generator().manual_seed(2)
    args = [torch.randn(*s, generator=g, dtype=torch.float64, requires_grad=True) for s in [(3, 4), (4,), (3, 4)]]
    assert torch.autograd.gradcheck(gaussian_log_likelihood, args)
    z = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(standard_normal_log_density, (z,))
    torch.testing.assert_close(standard_normal_log_density(z), Normal(0.0, 1.0).log_prob(z).sum(-1))


def test_bernoulli_log_likelihood_slow_loop_binary_and_grey():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 6, generator=g, dtype=torch.float64) * 3
    for x in (torch.randint(0, 2, (4, 6), generator=g).double(), torch.rand(4, 6, generator=g, dtype=torch.float64)):
        slow = []
        for i in range(4):
            total = 0.0
            for j in range(6):
                p = 1 / (1 + math.exp(-float(logits[i, j])))
                total += float(x[i, j]) * math.log(p) + (1 - float(x[i, j])) * math.log(1 - p)
            slow.append(total)
        torch.testing.assert_close(bernoulli_log_likelihood(logits, x), torch.tensor(slow, dtype=torch.float64))
    binary = (torch.rand(4, 6, generator=g) > 0.5).double()
    torch.testing.assert_close(bernoulli_log_likelihood(logits, binary),
                               Bernoulli(logits=logits).log_prob(binary).sum(-1))


def test_bernoulli_log_likelihood_closed_form_stable_and_gradcheck():
    # logit 0 is p = ½: log p(x) = d·log ½ for any x in [0, 1].
    x = torch.rand(3, 10, dtype=torch.float64)
    torch.testing.assert_close(bernoulli_log_likelihood(torch.zeros_like(x), x),
                               torch.full((3,), 10 * math.log(0.5), dtype=torch.float64))
    # Huge logits that agree with the data: log p → 0, finite; that disagree: ≈ −|logit|.
    big = torch.tensor([[200.0, -200.0]])
    torch.testing.assert_close(bernoulli_log_likelihood(big, torch.tensor([[1.0, 0.0]])), torch.tensor([0.0]))
    torch.testing.assert_close(bernoulli_log_likelihood(big, torch.tensor([[0.0, 1.0]])), torch.tensor([-400.0]))
    logits = torch.randn(3, 10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda lg: bernoulli_log_likelihood(lg, x), (logits,))


# ---- negative ELBO --------------------------------------------------------------------------
def test_negative_elbo_slow_loop_beta_and_samples():
    g = torch.Generator().manual_seed(4)
    mu = torch.randn(5, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(5, 3, generator=g, dtype=torch.float64)
    log_px = -torch.rand(7, 5, generator=g, dtype=torch.float64) * 50  # 7 samples per example
    for beta in (1.0, 0.0, 4.0):
        slow = []
        for i in range(5):
            recon = -sum(float(log_px[s, i]) for s in range(7)) / 7  # −(1/S) Σ_s log p(x|z_s)
            kl = sum(0.5 * (float(mu[i, j]) ** 2 + math.exp(float(logvar[i, j])) - 1 - float(logvar[i, j]))
                     for j in range(3))
            slow.append(recon + beta * kl)
        torch.testing.assert_close(negative_elbo(log_px, mu, logvar, beta=beta), torch.tensor(slow, dtype=torch.float64))
    # one sample (no samples axis) is the same as a samples axis of size 1
    torch.testing.assert_close(negative_elbo(log_px[0], mu, logvar), negative_elbo(log_px[:1], mu, logvar))
    args = (log_px[0].clone().requires_grad_(), mu.clone().requires_grad_(), logvar.clone().requires_grad_())
    assert torch.autograd.gradcheck(lambda a, b, c: negative_elbo(a, b, c, beta=0.5), args)


# ---- IWAE bound -----------------------------------------------------------------------------
def test_iwae_bound_slow_loop_closed_form_and_gradcheck():
    g = torch.Generator().manual_seed(5)
    log_px, log_pz, log_q = (torch.randn(6, 4, generator=g, dtype=torch.float64) * 3 for _ in range(3))
    slow = []
    for i in range(4):
        weights = [math.exp(float(log_px[k, i] + log_pz[k, i] - log_q[k, i])) for k in range(6)]
        slow.append(math.log(sum(weights) / 6))  # log (1/K) Σ_k w_k
    torch.testing.assert_close(iwae_bound(log_px, log_pz, log_q), torch.tensor(slow, dtype=torch.float64))
    # K equal weights give log w; K = 1 is the single-sample ELBO.
    same = torch.full((9, 2), -3.0, dtype=torch.float64)
    torch.testing.assert_close(iwae_bound(same, torch.zeros_like(same), torch.zeros_like(same)),
                               torch.full((2,), -3.0, dtype=torch.float64))
    torch.testing.assert_close(iwae_bound(log_px[:1], log_pz[:1], log_q[:1]), (log_px + log_pz - log_q)[0])
    # Weights far below exp(−745) (zero in float64) stay finite thanks to log-sum-exp.
    tiny = torch.tensor([[-5000.0], [-5000.0 + math.log(3)]], dtype=torch.float64)
    torch.testing.assert_close(iwae_bound(tiny, torch.zeros_like(tiny), torch.zeros_like(tiny)),
                               torch.tensor([-5000.0 + math.log(2)], dtype=torch.float64))
    # L_K ≥ mean_k log w_k (Jensen): the bound is never below the ELBO of the same samples.
    assert (iwae_bound(log_px, log_pz, log_q) >= (log_px + log_pz - log_q).mean(0)).all()
    args = tuple(t.clone().requires_grad_() for t in (log_px, log_pz, log_q))
    assert torch.autograd.gradcheck(iwae_bound, args)


# ---- reparameterisation and the score function ---------------------------------------------
def test_reparameterize_moments_gradient_and_generator():
    mu = torch.tensor([[1.0, -2.0]], dtype=torch.float64, requires_grad=True)
    logvar = torch.tensor([[0.0, math.log(0.25)]], dtype=torch.float64, requires_grad=True)
    g = torch.Generator().manual_seed(6)
    z = reparameterize(mu, logvar, generator=g, n_samples=200_000)  # (S, 1, 2)
    assert z.shape == (200_000, 1, 2)
    torch.testing.assert_close(z.mean(0), mu.detach(), atol=0.01, rtol=0)
    torch.testing.assert_close(z.var(0), logvar.detach().exp(), atol=0.01, rtol=0)
    # z = μ + exp(½ logvar)·ε: ∂z/∂μ = 1, ∂z/∂logvar = ½ σ ε — a pathwise gradient exists.
    g = torch.Generator().manual_seed(7)
    z = reparameterize(mu, logvar, generator=g)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    torch.testing.assert_close(z, mu + (0.5 * logvar).exp() * eps)
    d_mu, d_logvar = torch.autograd.grad(z.sum(), (mu, logvar))
    torch.testing.assert_close(d_mu, torch.ones_like(mu))
    torch.testing.assert_close(d_logvar, 0.5 * (0.5 * logvar).exp().detach() * eps)
    assert torch.autograd.gradcheck(lambda m, lv: reparameterize(m, lv, generator=torch.Generator().manual_seed(8)),
                                    (mu, logvar))


def test_pathwise_and_score_function_agree_with_closed_form_gradient():
    r"""f(z) = z², z ∼ N(μ, σ²): E f = μ² + σ², so ∂/∂μ = 2μ and ∂/∂logvar = σ² (exact).

    Both estimators are averaged over many samples and must be within 4 standard errors
    of the exact gradient; the score function's variance is the larger one.
    """
    mu0, logvar0, n = 0.7, math.log(0.5), 40_000
    exact = torch.tensor([2 * mu0, math.exp(logvar0)], dtype=torch.float64)
    mu = torch.full((n, 1), mu0, dtype=torch.float64, requires_grad=True)
    logvar = torch.full((n, 1), logvar0, dtype=torch.float64, requires_grad=True)
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(9))
    f = z.pow(2).sum(-1)
    # per-sample gradients: each row of mu/logvar belongs to one sample only
    pathwise = torch.cat(torch.autograd.grad(f.sum(), (mu, logvar), retain_graph=True), dim=1)
    log_q = gaussian_log_likelihood(mu, logvar, z.detach())
    score = torch.cat(torch.autograd.grad(score_function_surrogate(log_q, f).sum(), (mu, logvar)), dim=1)
    for est in (pathwise, score):
        se = est.std(0) / math.sqrt(n)
        assert ((est.mean(0) - exact).abs() < 4 * se).all(), (est.mean(0), exact, se)
    assert (score.var(0) > 2 * pathwise.var(0)).all()
    args = (log_q.detach()[:5].clone().requires_grad_(), f.detach()[:5].clone())
    assert torch.autograd.gradcheck(score_function_surrogate, args)
