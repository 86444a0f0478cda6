"""Q1 losses: each against a slow loop written from its formula, a closed form, and gradcheck."""

import math

import pytest
import torch
from torch import nn

from latentzoo.autoencoders.losses import SigmoidEncoder, gaussian_nll
from latentzoo.losses import contractive_penalty, laplace_prior_nll, sparse_coding_objective


# ---- sparse_coding_objective: ‖X − UD‖²_F + λ‖U‖₁ ----------------------------------------------
def slow_sparse_coding_objective(x, u, d, lam):
    total = 0.0
    for n in range(x.shape[0]):
        for j in range(x.shape[1]):
            xhat = sum(float(u[n, k]) * float(d[k, j]) for k in range(d.shape[0]))
            total += (float(x[n, j]) - xhat) ** 2
        total += lam * sum(abs(float(u[n, k])) for k in range(d.shape[0]))
    return total


@pytest.mark.parametrize("n,d,k,lam", [(1, 3, 2, 0.5), (5, 4, 7, 1.3), (7, 6, 3, 0.0)])
def test_sparse_coding_objective_matches_loop(n, d, k, lam):
    g = torch.Generator().manual_seed(n + d + k)
    x, u, dic = (torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, k, generator=g, dtype=torch.float64),
                 torch.randn(k, d, generator=g, dtype=torch.float64))
    assert float(sparse_coding_objective(x, u, dic, lam)) == pytest.approx(slow_sparse_coding_objective(x, u, dic, lam), rel=1e-12)


def test_sparse_coding_objective_closed_forms():
    x = torch.tensor([[3.0, 4.0]])
    dic = torch.eye(2)
    # zero codes: ‖X‖²; exact codes: λ‖U‖₁ only
    assert float(sparse_coding_objective(x, torch.zeros(1, 2), dic, 2.0)) == pytest.approx(25.0)
    assert float(sparse_coding_objective(x, x.clone(), dic, 2.0)) == pytest.approx(14.0)
    # scikit-learn's ½‖X − UD‖² + α‖U‖₁ with α = λ/2 is exactly half of ours
    u = torch.tensor([[1.0, -2.0]])
    sk = 0.5 * (x - u @ dic).pow(2).sum() + (2.0 / 2) * u.abs().sum()
    assert float(sparse_coding_objective(x, u, dic, 2.0)) == pytest.approx(2 * float(sk))


def test_sparse_coding_objective_gradcheck():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    u = (torch.randn(4, 3, generator=g, dtype=torch.float64) + 0.5).requires_grad_(True)  # away from the kink at 0
    dic = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: sparse_coding_objective(a, b, c, 0.7), (x, u, dic))


def test_sparse_coding_objective_refuses_bad_shapes():
    with pytest.raises(ValueError):
        sparse_coding_objective(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(5, 3), 1.0)


# ---- laplace_prior_nll: Σᵢ (λ|hᵢ| − log(λ/2)) ----------------------------------------------------
@pytest.mark.parametrize("lam", [0.1, 1.0, 2.0, 7.5])
@pytest.mark.parametrize("k", [1, 3, 16])
def test_laplace_prior_nll_matches_loop(lam, k):
    h = torch.randn(5, k, generator=torch.Generator().manual_seed(k), dtype=torch.float64)
    slow = [sum(lam * abs(float(v)) - math.log(lam / 2) for v in row) for row in h]
    out = laplace_prior_nll(h, lam)
    assert out.shape == (5,)
    assert out.tolist() == pytest.approx(slow, rel=1e-12)
    # the same as the density of torch's Laplace(0, b = 1/λ)
    zero = torch.zeros((), dtype=torch.float64)
    ref = -torch.distributions.Laplace(zero, zero + 1.0 / lam).log_prob(h).sum(1)
    assert torch.allclose(out, ref, rtol=1e-12)


def test_laplace_prior_nll_closed_form_and_errors():
    # h = 0: −k log(λ/2); at λ = 2 the density at 0 is 1, so the value is 0
    assert laplace_prior_nll(torch.zeros(2, 4), 2.0).tolist() == pytest.approx([0.0, 0.0], abs=1e-7)
    assert laplace_prior_nll(torch.zeros(1, 3), 1.0).tolist() == pytest.approx([3 * math.log(2)])
    with pytest.raises(ValueError):
        laplace_prior_nll(torch.zeros(1, 3), 0.0)


def test_laplace_prior_nll_gradcheck_in_h_and_lam():
    h = (torch.rand(3, 4, dtype=torch.float64) + 0.1).requires_grad_(True)
    lam = torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(laplace_prior_nll, (h, lam))
    # its maximum-likelihood rate is k / Σ|hᵢ|
    with torch.no_grad():
        star = h.numel() / h.abs().sum()
    lam_ = star.clone().requires_grad_(True)
    laplace_prior_nll(h.detach(), lam_).sum().backward()
    assert abs(float(lam_.grad)) < 1e-9


def test_gaussian_nll_matches_normal_density_and_gradcheck():
    x, mean = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    ref = -torch.distributions.Normal(mean, 0.3).log_prob(x).sum(1)
    assert torch.allclose(gaussian_nll(x, mean, 0.3), ref, rtol=1e-12)
    sigma = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gaussian_nll, (x.requires_grad_(True), mean.requires_grad_(True), sigma))


# ---- contractive_penalty: λ‖∂f(x)/∂x‖²_F ----------------------------------------------------------
@torch.no_grad()
def finite_difference_jacobian_frobenius(f, x, eps=1e-6):
    out = []
    for n in range(x.shape[0]):
        xn = x[n:n + 1]
        total = 0.0
        for i in range(xn.shape[1]):
            e = torch.zeros_like(xn)
            e[0, i] = eps
            column = (f(xn + e) - f(xn - e)) / (2 * eps)   # ∂f/∂xᵢ
            total += float(column.pow(2).sum())
        out.append(total)
    return torch.tensor(out, dtype=x.dtype)


def test_contractive_penalty_sigmoid_analytic_matches_loop_and_finite_differences():
    torch.manual_seed(0)
    enc = SigmoidEncoder(5, 3).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    out = contractive_penalty(x, enc, lam=0.3)
    h = enc(x).detach()
    w = enc.linear.weight.detach()
    slow = [0.3 * sum((float(h[n, j]) * (1 - float(h[n, j]))) ** 2 * sum(float(w[j, i]) ** 2 for i in range(5))
                      for j in range(3)) for n in range(4)]
    assert out.tolist() == pytest.approx(slow, rel=1e-10)
    fd = finite_difference_jacobian_frobenius(enc, x)
    assert torch.allclose(out, 0.3 * fd, rtol=1e-6)


def test_contractive_penalty_autograd_matches_finite_differences_and_analytic():
    torch.manual_seed(1)
    mlp = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4), nn.Sigmoid()).double()
    x = torch.randn(5, 6, dtype=torch.float64)
    assert torch.allclose(contractive_penalty(x, mlp, lam=2.0), 2.0 * finite_difference_jacobian_frobenius(mlp, x),
                          rtol=1e-6)
    # the generic autograd path agrees with the closed form on a one-layer sigmoid encoder
    enc = SigmoidEncoder(6, 4).double()
    generic = nn.Sequential(enc.linear, nn.Sigmoid())
    assert torch.allclose(contractive_penalty(x, generic), contractive_penalty(x, enc), rtol=1e-10)


def test_contractive_penalty_gradcheck_both_paths():
    torch.manual_seed(2)
    enc = SigmoidEncoder(4, 3).double()
    mlp = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: contractive_penalty(a, enc, 0.5), (x,))
    assert torch.autograd.gradcheck(lambda a: contractive_penalty(a, mlp, 0.5), (x,))
    # and with respect to the encoder's weights (what training differentiates)
    w = enc.linear.weight

    def of_weight(weight):
        h = torch.sigmoid(x.detach() @ weight.T + enc.linear.bias)
        return ((h * (1 - h)).pow(2) @ weight.pow(2).sum(1))
    assert torch.autograd.gradcheck(of_weight, (w.detach().clone().requires_grad_(True),))
