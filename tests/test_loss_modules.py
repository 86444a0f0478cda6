r"""The loss modules of latentzoo.losses: each equals the function it wraps and a slow loop from
its formula, closed forms, float64 gradchecks where the module adds a computation, one clear
ValueError per bad argument, and NTXentLoss against lightly's NTXentLoss (skipped without lightly)."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from latentzoo.losses import (
    DiscriminatorLoss,
    ELBOLoss,
    GeneratorLoss,
    GradientPenalty,
    NTXentLoss,
    R1Penalty,
    SparseCodingLoss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    nt_xent,
    r1_penalty,
    sparse_coding_objective,
)

KINDS = ("minimax", "nonsaturating", "wasserstein", "hinge", "least-squares")


# ---------------------------------------------------------------------------------------
# NT-Xent
# ---------------------------------------------------------------------------------------

def slow_lightly_nt_xent(out0, out1, temperature):
    r"""lightly's definition written as a loop: for each of the 2N views a, the cross-entropy over
    the logits sim(a, k)/τ, k ≠ a, with the other view of the same example as the target; mean over a."""
    z = [F.normalize(v.double(), dim=0) for v in torch.cat([out0, out1])]
    n2 = len(z)
    total = 0.0
    for a in range(n2):
        positive = (a + n2 // 2) % n2
        logits = {k: float(z[a] @ z[k]) / temperature for k in range(n2) if k != a}
        log_denominator = math.log(sum(math.exp(v) for v in logits.values()))
        total += log_denominator - logits[positive]            # −log softmax at the positive
    return total / n2


@pytest.mark.parametrize("n,d,temperature", [(1, 3, 0.5), (4, 2, 0.1), (7, 16, 0.07), (5, 1, 2.0)])
def test_ntxent_module_equals_function_and_slow_loop(n, d, temperature):
    g = torch.Generator().manual_seed(n + 10 * d)
    out0, out1 = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    got = NTXentLoss(temperature)(out0, out1)
    assert float(got) == float(nt_xent(out0, out1, temperature))
    assert float(got) == pytest.approx(slow_lightly_nt_xent(out0, out1, temperature), rel=1e-5, abs=1e-6)
    # without a process group, gathering over ranks changes nothing
    assert float(NTXentLoss(temperature, gather_distributed=True)(out0, out1)) == float(got)


def test_ntxent_identical_views_give_log_2n_minus_1():
    z = torch.randn(1, 6).repeat(5, 1)
    assert float(NTXentLoss(0.3)(z, z)) == pytest.approx(math.log(2 * 5 - 1), abs=1e-5)


def test_ntxent_default_temperature_is_lightlys():
    out0, out1 = torch.randn(6, 4), torch.randn(6, 4)
    assert NTXentLoss().temperature == 0.5
    assert float(NTXentLoss()(out0, out1)) == float(nt_xent(out0, out1, 0.5))


def _lightly_grid():
    return list(itertools.product([1, 2, 8, 33], [1, 3, 16, 128], [0.07, 0.1, 0.5, 1.0]))


@pytest.mark.parametrize("n,d,temperature", _lightly_grid())
def test_ntxent_equals_lightly(n, d, temperature):
    lightly_loss = pytest.importorskip("lightly.loss")
    g = torch.Generator().manual_seed(1000 * n + d)
    out0, out1 = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    ours, theirs = NTXentLoss(temperature=temperature), lightly_loss.NTXentLoss(temperature=temperature)
    # float32, as users call it: the same value
    assert float(ours(out0, out1)) == pytest.approx(float(theirs(out0, out1)), rel=1e-5, abs=1e-6)
    # float64: the same value and the same gradients, to rounding
    ours_in = [out0.double().requires_grad_(), out1.double().requires_grad_()]
    theirs_in = [out0.double().requires_grad_(), out1.double().requires_grad_()]
    mine, other = ours(*ours_in), theirs(*theirs_in)
    assert float(mine.detach()) == pytest.approx(float(other.detach()), rel=1e-12, abs=1e-12)
    mine.backward()
    other.backward()
    for a, b in zip(ours_in, theirs_in):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------
# ELBO
# ---------------------------------------------------------------------------------------

def slow_neg_elbo(x, out, mu, logvar, likelihood, beta, decoder_logvar=0.0):
    r"""−log p(x|z) + β ½ Σ (μ² + σ² − 1 − log σ²) per example, one Python loop per example and feature."""
    values = []
    for b in range(x.shape[0]):
        xs, os = x[b].reshape(-1).tolist(), out[b].reshape(-1).tolist()
        lv = torch.as_tensor(decoder_logvar, dtype=torch.float64).expand(x.shape[1:]).reshape(-1).tolist()
        nll = 0.0
        for j, (xj, oj) in enumerate(zip(xs, os)):
            if likelihood == "bernoulli":
                p = 1 / (1 + math.exp(-oj))
                nll -= xj * math.log(p) + (1 - xj) * math.log(1 - p)
            else:
                nll += 0.5 * (math.log(2 * math.pi) + lv[j] + (xj - oj) ** 2 / math.exp(lv[j]))
        kl = 0.5 * sum(m * m + math.exp(v) - 1 - v for m, v in zip(mu[b].tolist(), logvar[b].tolist()))
        values.append(nll + beta * kl)
    return torch.tensor(values, dtype=torch.float64)


def _vae_batch(shape=(5, 2, 3), latent=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=torch.float64)
    out = torch.randn(shape, generator=g, dtype=torch.float64)
    mu, logvar = torch.randn(shape[0], latent, generator=g, dtype=torch.float64), \
        0.5 * torch.randn(shape[0], latent, generator=g, dtype=torch.float64)
    return x, out, mu, logvar


@pytest.mark.parametrize("likelihood,beta", [("bernoulli", 1.0), ("bernoulli", 4.0), ("gaussian", 1.0),
                                             ("gaussian", 0.0)])
def test_elbo_equals_slow_loop_with_every_reduction(likelihood, beta):
    x, out, mu, logvar = _vae_batch()                       # images (B, C, W): features flattened
    expected = slow_neg_elbo(x, out, mu, logvar, likelihood, beta)
    per_example = ELBOLoss(likelihood, beta, reduction="none")(x, out, mu, logvar)
    torch.testing.assert_close(per_example, expected, rtol=1e-10, atol=1e-10)
    assert float(ELBOLoss(likelihood, beta)(x, out, mu, logvar)) == pytest.approx(float(expected.mean()), rel=1e-10)
    assert float(ELBOLoss(likelihood, beta, "sum")(x, out, mu, logvar)) == pytest.approx(float(expected.sum()),
                                                                                         rel=1e-10)


def test_elbo_gaussian_decoder_logvar_per_feature_and_broadcast():
    x, out, mu, logvar = _vae_batch()
    per_channel = torch.tensor([[0.3], [-0.7]], dtype=torch.float64)          # (C, 1) broadcast over W
    expected = slow_neg_elbo(x, out, mu, logvar, "gaussian", 1.0, per_channel)
    got = ELBOLoss("gaussian", reduction="none")(x, out, mu, logvar, decoder_logvar=per_channel)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    scalar = ELBOLoss("gaussian", reduction="none")(x, out, mu, logvar, decoder_logvar=0.3)
    torch.testing.assert_close(scalar, slow_neg_elbo(x, out, mu, logvar, "gaussian", 1.0, 0.3))


def test_elbo_sample_axis_is_the_monte_carlo_mean():
    x, _, mu, logvar = _vae_batch()
    outs = torch.randn(3, *x.shape, dtype=torch.float64)
    loss = ELBOLoss("bernoulli", reduction="none")
    expected = torch.stack([loss(x, o, mu, logvar) for o in outs]).mean(0)    # KL identical in every sample
    torch.testing.assert_close(loss(x, outs, mu, logvar), expected)


def test_elbo_closed_forms():
    d, latent = 6, 3
    zeros = torch.zeros(4, latent)
    x = torch.rand(4, d)
    # logits 0 (p = ½) and q = prior: −log p(x|z) = d log 2 for any x, KL = 0
    assert float(ELBOLoss()(x, torch.zeros(4, d), zeros, zeros)) == pytest.approx(d * math.log(2), rel=1e-6)
    # a perfect gaussian mean with σ_x = 1: ½ d log 2π; μ = 1 adds β·½·latent
    assert float(ELBOLoss("gaussian", beta=2.0)(x, x, zeros + 1, zeros)) == pytest.approx(
        0.5 * d * math.log(2 * math.pi) + 2.0 * 0.5 * latent, rel=1e-6)


def test_elbo_gradcheck_float64():
    x, out, mu, logvar = _vae_batch(shape=(3, 4), latent=2, seed=1)
    decoder_logvar = torch.randn(4, dtype=torch.float64)
    for likelihood in ("bernoulli", "gaussian"):
        loss = ELBOLoss(likelihood, beta=0.7)
        extra = (decoder_logvar.clone().requires_grad_(),) if likelihood == "gaussian" else ()
        inputs = (out.clone().requires_grad_(), mu.clone().requires_grad_(), logvar.clone().requires_grad_())
        assert torch.autograd.gradcheck(lambda o, m, v, *e: loss(x, o, m, v, *e), inputs + extra)


# ---------------------------------------------------------------------------------------
# GAN
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_gan_modules_equal_functions(kind):
    g = torch.Generator().manual_seed(3)
    real, fake = torch.randn(9, 1, generator=g), torch.randn(7, 1, generator=g)
    assert float(DiscriminatorLoss(kind)(real, fake)) == float(discriminator_loss(real, fake, kind))
    assert float(GeneratorLoss(kind)(fake)) == float(generator_loss(fake, kind))


def test_gan_closed_form_and_default_kind():
    zeros = torch.zeros(5)
    assert DiscriminatorLoss().kind == GeneratorLoss().kind == "nonsaturating"
    assert float(DiscriminatorLoss()(zeros, zeros)) == pytest.approx(2 * math.log(2))   # D = 0: 2 log 2
    assert float(GeneratorLoss("hinge")(torch.tensor([1.0, 3.0]))) == pytest.approx(-2.0)  # −E d_f


def _linear_discriminator(w):
    return lambda y: y.reshape(y.shape[0], -1) @ w                               # D(y) = wᵀy, ∇_y D = w


@pytest.mark.parametrize("gamma", [0.0, 0.1, 10.0])
def test_r1_module_is_gamma_over_two_times_the_penalty(gamma):
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    real = torch.randn(6, 3, dtype=torch.float64)
    d = _linear_discriminator(w)
    expected = 0.5 * gamma * float(w @ w)                                         # (γ/2)‖w‖², closed form
    assert float(R1Penalty(gamma)(d, real)) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert float(R1Penalty(gamma)(d, real)) == pytest.approx(0.5 * gamma * float(r1_penalty(d, real)), rel=1e-12)
    real_grad = real.clone().requires_grad_()
    assert float(R1Penalty(gamma)(d, real_grad, d(real_grad))) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_r1_gradcheck_float64_through_the_discriminator_weights():
    real = torch.randn(5, 3, dtype=torch.float64)

    def penalty(w):                                   # D(y) = Σ tanh(y W): a penalty that depends on y
        return R1Penalty(gamma=3.0)(lambda y: torch.tanh(y @ w).sum(1), real)

    assert torch.autograd.gradcheck(penalty, (torch.randn(3, 2, dtype=torch.float64, requires_grad=True),))


@pytest.mark.parametrize("weight", [0.0, 1.0, 10.0])
def test_gradient_penalty_module_is_weight_times_the_penalty(weight):
    w = torch.tensor([0.0, 3.0, 4.0])                                           # ‖w‖ = 5
    real, fake = torch.randn(4, 3), torch.randn(4, 3)
    eps = torch.rand(4)
    d = _linear_discriminator(w)
    assert float(GradientPenalty(weight)(d, real, fake, eps)) == pytest.approx(weight * 16.0, rel=1e-6)  # λ(5 − 1)²
    assert float(GradientPenalty(weight)(d, real, fake, eps)) == pytest.approx(
        weight * float(gradient_penalty(d, real, fake, eps)), rel=1e-6)
    assert GradientPenalty().weight == 10.0


# ---------------------------------------------------------------------------------------
# Sparse coding
# ---------------------------------------------------------------------------------------

def test_sparse_coding_module_equals_function_and_slow_loop():
    g = torch.Generator().manual_seed(5)
    x, codes, dictionary = (torch.randn(6, 4, generator=g, dtype=torch.float64),
                            torch.randn(6, 3, generator=g, dtype=torch.float64),
                            torch.randn(3, 4, generator=g, dtype=torch.float64))
    lam = 0.3
    slow = 0.0
    for n in range(6):                                                        # Σₙ ‖xₙ − uₙD‖² + λ Σₖ |uₙₖ|
        for j in range(4):
            slow += (float(x[n, j]) - sum(float(codes[n, k] * dictionary[k, j]) for k in range(3))) ** 2
        slow += lam * sum(abs(float(codes[n, k])) for k in range(3))
    got = SparseCodingLoss(lam)(x, codes, dictionary)
    assert float(got) == float(sparse_coding_objective(x, codes, dictionary, lam))
    assert float(got) == pytest.approx(slow, rel=1e-12)
    assert float(SparseCodingLoss(lam, reduction="mean")(x, codes, dictionary)) == pytest.approx(slow / 6, rel=1e-12)


# ---------------------------------------------------------------------------------------
# Bad arguments: one ValueError that names the argument
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("make,name", [
    (lambda: NTXentLoss(temperature=0.0), "temperature"),
    (lambda: NTXentLoss(temperature=-0.5), "temperature"),
    (lambda: NTXentLoss(temperature=float("nan")), "temperature"),
    (lambda: NTXentLoss(temperature="0.5"), "temperature"),
    (lambda: NTXentLoss(gather_distributed="yes"), "gather_distributed"),
    (lambda: ELBOLoss(likelihood="poisson"), "likelihood"),
    (lambda: ELBOLoss(beta=-1.0), "beta"),
    (lambda: ELBOLoss(beta=float("inf")), "beta"),
    (lambda: ELBOLoss(reduction="max"), "reduction"),
    (lambda: DiscriminatorLoss("wgan"), "kind"),
    (lambda: GeneratorLoss("Hinge"), "kind"),
    (lambda: R1Penalty(gamma=-1.0), "gamma"),
    (lambda: R1Penalty(gamma=True), "gamma"),
    (lambda: GradientPenalty(weight=-10.0), "weight"),
    (lambda: SparseCodingLoss(lam=-0.1), "lam"),
    (lambda: SparseCodingLoss(lam=None), "lam"),
    (lambda: SparseCodingLoss(lam=0.1, reduction="none"), "reduction"),
])
def test_bad_constructor_arguments_raise_value_error_naming_them(make, name):
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize("call,name", [
    (lambda: NTXentLoss()(torch.randn(4, 3), torch.randn(5, 3)), "out0 and out1"),
    (lambda: NTXentLoss()(torch.randn(4), torch.randn(4)), "out0 and out1"),
    (lambda: ELBOLoss()(torch.rand(4, 3), torch.rand(4, 2), torch.zeros(4, 2), torch.zeros(4, 2)), "decoder_output"),
    (lambda: ELBOLoss()(torch.rand(4), torch.rand(4), torch.zeros(4, 2), torch.zeros(4, 2)), "x must"),
    (lambda: ELBOLoss()(torch.rand(4, 3), torch.rand(4, 3), torch.zeros(4, 2), torch.zeros(4, 3)), "mu and logvar"),
    (lambda: ELBOLoss()(torch.rand(4, 3), torch.rand(4, 3), torch.zeros(5, 2), torch.zeros(5, 2)), "mu and logvar"),
    (lambda: ELBOLoss()(torch.rand(4, 3), torch.rand(4, 3), torch.zeros(4, 2), torch.zeros(4, 2), 0.0),
     "decoder_logvar"),
    (lambda: ELBOLoss("gaussian")(torch.rand(4, 3), torch.rand(4, 3), torch.zeros(4, 2), torch.zeros(4, 2),
                                  torch.zeros(2)), "decoder_logvar"),
    (lambda: R1Penalty(1.0)(_linear_discriminator(torch.ones(3)), torch.randn(2, 3), torch.zeros(2)), "real_logits"),
])
def test_bad_call_arguments_raise_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=name):
        call()
