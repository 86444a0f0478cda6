"""The GAN objective against the seed's F/F̃ formulas, closed forms, gradcheck; penalties vs finite differences."""

import math

import pytest
import torch

from latentzoo.gan.losses import KINDS, discriminator_loss, generator_loss, gradient_penalty, r1_penalty
from latentzoo.losses import discriminator_loss as reexported


def sig(d):
    return 1.0 / (1.0 + math.exp(-d))


# F and F̃ written straight from the table in DESIGN.md, on Python floats.
F = {
    "minimax": lambda d: math.log(sig(d)),
    "nonsaturating": lambda d: math.log(sig(d)),
    "wasserstein": lambda d: d,
    "hinge": lambda d: min(0.0, d - 1),
    "least-squares": lambda d: -0.5 * (d - 1) ** 2,
}
F_TILDE = {
    "minimax": lambda d: -math.log(1 - sig(d)),
    "nonsaturating": lambda d: -math.log(1 - sig(d)),
    "wasserstein": lambda d: d,
    "hinge": lambda d: max(0.0, 1 + d),
    "least-squares": lambda d: 0.5 * d ** 2,
}
G_LOSS = {
    "minimax": lambda d: math.log(1 - sig(d)),
    "nonsaturating": lambda d: -math.log(sig(d)),
    "wasserstein": lambda d: -d,
    "hinge": lambda d: -d,
    "least-squares": lambda d: 0.5 * (d - 1) ** 2,
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_real,n_fake,scale", [(1, 1, 1.0), (7, 5, 3.0), (32, 64, 0.3)])
def test_losses_match_the_seed_formula(kind, n_real, n_fake, scale):
    g = torch.Generator().manual_seed(n_real * 100 + n_fake)
    real = scale * torch.randn(n_real, generator=g, dtype=torch.float64)
    fake = scale * torch.randn(n_fake, generator=g, dtype=torch.float64)
    # −V = −(1/n) Σ F(D(y)) + (1/m) Σ F̃(D(G(η)))
    slow_d = -sum(F[kind](float(d)) for d in real) / n_real + sum(F_TILDE[kind](float(d)) for d in fake) / n_fake
    slow_g = sum(G_LOSS[kind](float(d)) for d in fake) / n_fake
    assert float(discriminator_loss(real, fake, kind)) == pytest.approx(slow_d, rel=1e-12, abs=1e-12)
    assert float(generator_loss(fake, kind)) == pytest.approx(slow_g, rel=1e-12, abs=1e-12)
    assert float(reexported(real.unsqueeze(1), fake.unsqueeze(1), kind)) == pytest.approx(slow_d, rel=1e-12)


@pytest.mark.parametrize("kind,d_value,g_value", [
    ("minimax", 2 * math.log(2), -math.log(2)),
    ("nonsaturating", 2 * math.log(2), math.log(2)),
    ("wasserstein", 0.0, 0.0),
    ("hinge", 2.0, 0.0),
    ("least-squares", 0.5, 0.5),
])
def test_closed_form_when_discriminator_is_zero_everywhere(kind, d_value, g_value):
    zeros = torch.zeros(10)
    assert float(discriminator_loss(zeros, zeros, kind)) == pytest.approx(d_value, abs=1e-7)
    assert float(generator_loss(zeros, kind)) == pytest.approx(g_value, abs=1e-7)


def test_minimax_generator_minimises_its_part_of_v_and_saturates():
    # the minimax generator loss is exactly −E F̃(D(G(η))); its gradient vanishes as D(G(η)) → −∞
    d = torch.tensor([-30.0, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    loss = generator_loss(d, "minimax")
    assert float(loss.detach()) == pytest.approx(-sum(F_TILDE["minimax"](float(v)) for v in d.detach()) / 3, rel=1e-12)
    (grad,) = torch.autograd.grad(loss, d)
    assert abs(float(grad[0])) < 1e-12 < abs(float(grad[1]))          # −σ(d)/3 ≈ 0 at d = −30
    d2 = d.detach().requires_grad_(True)
    (grad_ns,) = torch.autograd.grad(generator_loss(d2, "nonsaturating"), d2)
    assert float(grad_ns[0]) == pytest.approx(-1 / 3, rel=1e-9)       # −σ(−d)/3 ≈ −1/3: not saturated


@pytest.mark.parametrize("kind", KINDS)
def test_stable_for_extreme_logits(kind):
    d = torch.tensor([-1e4, -80.0, 80.0, 1e4], requires_grad=True)
    for loss in (discriminator_loss(d, d, kind), generator_loss(d, kind)):
        (grad,) = torch.autograd.grad(loss, d)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck(kind):
    g = torch.Generator().manual_seed(3)
    # away from the kinks of the hinge at ±1
    real = (torch.rand(6, generator=g, dtype=torch.float64) * 3 - 1.5).requires_grad_(True)
    fake = (torch.rand(5, generator=g, dtype=torch.float64) * 3 - 1.5).requires_grad_(True)
    if kind == "hinge":
        real = (real.detach() + 0.05 * (real.detach() - 1).abs().lt(0.05)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda r, f: discriminator_loss(r, f, kind), (real, fake))
    assert torch.autograd.gradcheck(lambda f: generator_loss(f, kind), (fake,))


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(ValueError, match="minimax, nonsaturating, wasserstein, hinge, least-squares"):
        discriminator_loss(torch.zeros(2), torch.zeros(2), "vanilla")
    with pytest.raises(ValueError, match="choose one of"):
        generator_loss(torch.zeros(2), "wgan")


# ---------------------------------------------------------------- penalties
def small_discriminator():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()


@torch.no_grad()
def finite_difference_input_gradient(D, x, h=1e-6):
    grads = torch.zeros_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            e = torch.zeros_like(x[i])
            e[j] = h
            grads[i, j] = (D(x[i] + e).sum() - D(x[i] - e).sum()) / (2 * h)
    return grads


def test_r1_penalty_matches_finite_differences():
    D = small_discriminator()
    real = torch.randn(5, 3, dtype=torch.float64)
    grads = finite_difference_input_gradient(D, real)
    expected = grads.pow(2).sum(1).mean()                       # E ‖∇_y D(y)‖²
    assert float(r1_penalty(D, real).detach()) == pytest.approx(float(expected), rel=1e-7)


def test_gradient_penalty_matches_finite_differences():
    D = small_discriminator()
    real, fake = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64) + 2
    eps = torch.rand(6, dtype=torch.float64)
    x_hat = eps[:, None] * real + (1 - eps[:, None]) * fake     # x̂ = εy + (1−ε)x̃
    grads = finite_difference_input_gradient(D, x_hat)
    expected = ((grads.norm(dim=1) - 1) ** 2).mean()            # E (‖∇D(x̂)‖ − 1)²
    assert float(gradient_penalty(D, real, fake, eps).detach()) == pytest.approx(float(expected), rel=1e-7)


def test_penalties_closed_form_for_a_linear_discriminator():
    w = torch.tensor([3.0, 4.0], dtype=torch.float64)          # ‖∇D‖ = ‖w‖ = 5 everywhere
    D = lambda x: x @ w  # noqa: E731
    x = torch.randn(4, 2, dtype=torch.float64)
    assert float(r1_penalty(D, x)) == pytest.approx(25.0)
    assert float(gradient_penalty(D, x, x + 1)) == pytest.approx(16.0)


def test_penalties_are_differentiable_in_the_weights():
    D = small_discriminator()
    real, fake = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    eps = torch.rand(4, dtype=torch.float64)
    params = tuple(p.detach().clone().requires_grad_(True) for p in D.parameters())

    def as_function(fn):
        names = [n for n, _ in D.named_parameters()]

        def f(*ps):
            return fn(lambda x: torch.func.functional_call(D, dict(zip(names, ps)), (x,)))
        return f

    assert torch.autograd.gradcheck(as_function(lambda d: r1_penalty(d, real)), params)
    assert torch.autograd.gradcheck(as_function(lambda d: gradient_penalty(d, real, fake, eps)), params)


def test_r1_penalty_from_precomputed_logits_is_the_same():
    D = small_discriminator()
    real = torch.randn(5, 3, dtype=torch.float64).requires_grad_(True)
    logits = D(real)
    assert float(r1_penalty(D, real, logits).detach()) == pytest.approx(float(r1_penalty(D, real).detach()), rel=1e-12)
