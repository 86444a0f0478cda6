r"""How the GAN model uses its losses: each phase's loss, gradient and optimizer step against the seed's
formulas applied by hand to the same D, G and η; the penalty weights at their documented convention
(λ for WGAN-GP, γ/2 for R1); the diagnosis signals' values on runs whose state is known.

The formulas are written out here from the table in :mod:`latentzoo.gan.losses` (not imported), so
that a mistake in how the model calls a loss, or in which loss it calls, changes a number.
"""

import contextlib
import copy
import math

import pytest
import torch
from torch import nn

from latentzoo.data import Dataset
from latentzoo.gan.losses import KINDS
from latentzoo.gan.model import GAN, GANConfig

# F(d) and F̃(d) of V = E F(D(y)) − E F̃(D(G(η))), and the generator's loss, from the table.
REAL_TERM = {
    "minimax": lambda d: torch.log(torch.sigmoid(d)),
    "nonsaturating": lambda d: torch.log(torch.sigmoid(d)),
    "wasserstein": lambda d: d,
    "hinge": lambda d: torch.clamp(d - 1, max=0),
    "least-squares": lambda d: -0.5 * (d - 1) ** 2,
}
FAKE_TERM = {
    "minimax": lambda d: -torch.log(1 - torch.sigmoid(d)),
    "nonsaturating": lambda d: -torch.log(1 - torch.sigmoid(d)),
    "wasserstein": lambda d: d,
    "hinge": lambda d: torch.clamp(1 + d, min=0),
    "least-squares": lambda d: 0.5 * d ** 2,
}
GENERATOR_LOSS = {
    "minimax": lambda d: torch.log(1 - torch.sigmoid(d)).mean(),           # E log(1 − σ(d_f))
    "nonsaturating": lambda d: -torch.log(torch.sigmoid(d)).mean(),        # −E log σ(d_f)
    "wasserstein": lambda d: -d.mean(),                                    # −E d_f
    "hinge": lambda d: -d.mean(),                                          # −E d_f
    "least-squares": lambda d: 0.5 * ((d - 1) ** 2).mean(),                # ½ E (d_f − 1)²
}


def points(seed=0, n=64, centre=(1.0, -0.5), spread=0.5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g) * spread + torch.tensor(centre)
    return Dataset("points", "points", x[: 3 * n // 4], x[3 * n // 4:])


def tiny_gan(seed=0, data=None, standardise=True, **options):
    """A small GAN on 2-D points; the training split's standardisation applied as in training."""
    data = data or points(seed)
    networks = {k: options.pop(k) for k in ("generator", "discriminator") if k in options}
    torch.manual_seed(seed)
    config = GANConfig(**{"hidden": 8, "depth": 1, "latent_dim": 3, "ema": 0.0, "batch_size": 16,
                          "lr_g": 1e-3, "lr_d": 4e-3, **options})
    model = GAN(**networks).build(config, data)
    if standardise:
        model.on_train_start(data)
    return model, data


@contextlib.contextmanager
def recorded_noise(model):
    """Every η the model draws, recorded (whatever the source of its randomness)."""
    drawn, draw = [], model.noise

    def recording(n, generator=None):
        drawn.append(draw(n, generator))
        return drawn[-1]

    model.noise = recording
    try:
        yield drawn
    finally:
        del model.noise


@contextlib.contextmanager
def fixed_noise(model, eta):
    """η fixed to the rows of ``eta``, so that two forward passes see the same fake batch."""
    model.noise = lambda n, generator=None: eta[:n]
    try:
        yield
    finally:
        del model.noise


def standardised(data, y):
    """(y − mean)/std with the training split's per-feature mean and one scalar std, computed here."""
    x = data.x_train.double()
    return ((y.double() - x.mean(0)) / x.std()).float()


def adam_step(params, grads, lr, betas):
    """One step of a fresh Adam from ``grads``, applied to ``params`` in place."""
    for p, g in zip(params, grads):
        p.grad = g.clone()
    optimizer = torch.optim.Adam(params, lr=lr, betas=betas)
    optimizer.step()


@pytest.mark.parametrize("kind", KINDS)
def test_generator_step_follows_its_loss(kind):
    r"""The generator's loss, its gradient with respect to G's weights and one step of its optimizer
    (Adam, lr_g) equal the generator column of the table applied by hand to D(G(η)), same D, G and η."""
    model, data = tiny_gan(loss=kind)
    generator, discriminator = copy.deepcopy(model.generator), copy.deepcopy(model.discriminator.net)
    x = data.x_train[:16]
    optimizers, _ = model.configure_optimizers(100)
    with recorded_noise(model) as drawn:
        loss, _ = model(x, phase="generator")
    optimizers["generator"].zero_grad()
    loss.backward()
    grads = [p.grad.clone() for p in model.generator.parameters()]
    optimizers["generator"].step()

    (eta,) = drawn
    hand = GENERATOR_LOSS[kind](discriminator(generator(eta)).reshape(-1))  # G's output is what D judges
    hand_grads = torch.autograd.grad(hand, list(generator.parameters()))
    assert float(loss.detach()) == pytest.approx(float(hand.detach()), rel=1e-5, abs=1e-7)
    for got, expected in zip(grads, hand_grads):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-7)
    adam_step(list(generator.parameters()), hand_grads, lr=1e-3, betas=(model.config.beta1, model.config.beta2))
    for got, expected in zip(model.generator.parameters(), generator.parameters()):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_discriminator_step_follows_its_loss(kind):
    r"""−V = −E F(D(ŷ)) + E F̃(D(G(η))) on the standardised real batch ŷ = (y − mean)/std and a fake batch
    G(η): the value, D's gradient, one step of D's optimizer (lr_d), and the logged logits and win rate."""
    model, data = tiny_gan(loss=kind)
    generator, discriminator = copy.deepcopy(model.generator), copy.deepcopy(model.discriminator.net)
    y = data.x_train[:16]
    optimizers, _ = model.configure_optimizers(100)
    with recorded_noise(model) as drawn:
        loss, logs = model(y, phase="discriminator")
    optimizers["discriminator"].zero_grad()
    loss.backward()
    grads = [p.grad.clone() for p in model.discriminator.parameters()]
    optimizers["discriminator"].step()

    (eta,) = drawn
    with torch.no_grad():
        fake = generator(eta)
    d_real, d_fake = discriminator(standardised(data, y)).reshape(-1), discriminator(fake).reshape(-1)
    hand = -REAL_TERM[kind](d_real).mean() + FAKE_TERM[kind](d_fake).mean()
    hand_grads = torch.autograd.grad(hand, list(discriminator.parameters()))
    assert float(loss.detach()) == pytest.approx(float(hand.detach()), rel=1e-5, abs=1e-7)
    for got, expected in zip(grads, hand_grads):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-7)
    adam_step(list(discriminator.parameters()), hand_grads, lr=4e-3, betas=(model.config.beta1, model.config.beta2))
    for got, expected in zip(model.discriminator.net.parameters(), discriminator.parameters()):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # the logged signals: mean logits, and the win rate over all (real, fake) pairs
    assert float(logs["real_logit"]) == pytest.approx(float(d_real.detach().mean()), rel=1e-5, abs=1e-7)
    assert float(logs["fake_logit"]) == pytest.approx(float(d_fake.detach().mean()), rel=1e-5, abs=1e-7)
    wins = [1 / (1 + math.exp(-(float(r) - float(f)))) for r in d_real.detach() for f in d_fake.detach()]  # σ(D(y_i) − D(G(η_j)))
    assert float(logs["d_win"]) == pytest.approx(sum(wins) / len(wins), rel=1e-5)


def test_r1_weight_is_half_gamma():
    r"""loss(r1=γ) − loss(r1=0) = (γ/2)·E‖∇_y D(y)‖², the squared gradient norm computed one example at a
    time at the standardised real points, and the logged penalty is the unweighted E‖∇_y D(y)‖²."""
    gamma = 3.0
    model, data = tiny_gan(r1=gamma)
    discriminator = copy.deepcopy(model.discriminator.net)
    y = data.x_train[:16]
    eta = torch.randn(16, 3, generator=torch.Generator().manual_seed(1))
    with fixed_noise(model, eta):
        with_r1, logs = model(y, phase="discriminator")
        model.config.r1 = 0.0
        without, _ = model(y, phase="discriminator")
    squared_norms = []
    for row in standardised(data, y):
        point = row[None].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(discriminator(point).sum(), point)
        squared_norms.append(float(grad.pow(2).sum()))                      # ‖∇_y D(y_i)‖²
    r1 = sum(squared_norms) / len(squared_norms)
    assert float(logs["r1_penalty"]) == pytest.approx(r1, rel=1e-4)
    assert float((with_r1 - without).detach()) == pytest.approx(gamma / 2 * r1, rel=1e-4)


@pytest.mark.parametrize("penalty, weight", [("gp", 10.0), ("r1", 3.0)])
def test_penalty_weights_on_a_linear_discriminator(penalty, weight):
    r"""D(v) = wᵀv + b has ∇D = w everywhere: the WGAN-GP term is λ(‖w‖ − 1)² whatever the interpolation
    ε, the R1 term (γ/2)‖w‖² — the closed forms of the documented weights."""
    w = torch.tensor([[1.5, -2.0]])
    linear = nn.Linear(2, 1)
    with torch.no_grad():
        linear.weight.copy_(w)
    model, data = tiny_gan(discriminator=linear, loss="wasserstein", **{penalty: weight})
    y = data.x_train[:16]
    eta = torch.randn(16, 3, generator=torch.Generator().manual_seed(2))
    with fixed_noise(model, eta):
        penalised, _ = model(y, phase="discriminator")
        setattr(model.config, penalty, 0.0)
        plain, _ = model(y, phase="discriminator")
    norm = float(w.norm())                                                    # ‖w‖ = 2.5
    expected = weight * (norm - 1) ** 2 if penalty == "gp" else weight / 2 * norm ** 2
    assert float((penalised - plain).detach()) == pytest.approx(expected, rel=1e-5)


def known_state(score: float):
    r"""Real points at y₁ ≈ +2, a generator that puts every sample at (−2, 0), and D(v) = score·v₁:
    D(y) ≈ 2·score, D(G(η)) = −2·score exactly. No standardisation (mean 0, std 1)."""
    data = points(0, centre=(2.0, 0.0), spread=0.1)
    generator, discriminator = nn.Linear(3, 2), nn.Linear(2, 1)
    with torch.no_grad():
        generator.weight.zero_()
        generator.bias.copy_(torch.tensor([-2.0, 0.0]))
        discriminator.weight.copy_(torch.tensor([[score, 0.0]]))
        discriminator.bias.zero_()
    model, _ = tiny_gan(data=data, standardise=False, generator=generator, discriminator=discriminator)
    return model.train(), data


@pytest.mark.parametrize("score, win", [(5.0, 1.0), (-5.0, 0.0), (0.0, 0.5)])
def test_diagnosis_signals_on_known_states(score, win):
    r"""A D that scores real ≫ fake wins (d_win ≈ 1), one that prefers the fakes loses (≈ 0), a constant
    D is a coin (0.5 exactly); every recorded signal equals its value computed here, and the names
    :mod:`latentzoo.gan.diagnostics` reads carry them."""
    model, data = known_state(score)
    y = data.x_train[:16]
    d_real = score * y[:, 0]
    d_fake = torch.full((16,), -2.0 * score)
    d_loss, _ = model(y, phase="discriminator")
    g_loss, _ = model(y, phase="generator")
    model.zero_grad()
    g_loss.backward()
    model.after_optimizer_step("generator")

    signals = model.signals([])
    assert signals["d_win"] == [pytest.approx(win, abs=1e-6)]
    assert signals["real_logit"] == [pytest.approx(float(d_real.mean()), rel=1e-6, abs=1e-6)]
    assert signals["fake_logit"] == [pytest.approx(-2.0 * score, abs=1e-6)]
    softplus = torch.nn.functional.softplus
    assert signals["discriminator_loss"] == [pytest.approx(float(softplus(-d_real).mean() + softplus(d_fake).mean()), rel=1e-5)]
    assert signals["generator_loss"] == [pytest.approx(float(softplus(-d_fake).mean()), rel=1e-5)]
    # ∂/∂(G's weights) of E softplus(−D(G(η))), by hand on a copy, from the same gradients the step used
    grads = [p.grad for p in model.generator.parameters()]
    assert signals["generator_grad_norm"] == [pytest.approx(float(torch.cat([g.reshape(-1) for g in grads]).norm()),
                                                    rel=1e-5)]
    expected_bias_grad = -torch.sigmoid(-d_fake).mean() * torch.tensor([score, 0.0])  # −E σ(−d_f)·∇_v D
    torch.testing.assert_close(model.generator.bias.grad, expected_bias_grad)


def test_signals_are_recorded_in_training_only():
    """Evaluation passes (eval mode) leave the diagnosis signals alone."""
    model, data = known_state(5.0)
    model.eval()
    model(data.x_train[:16], phase="discriminator")
    model(data.x_train[:16], phase="generator")
    assert int(model.signal_count.sum()) == 0
    model.train()
    model(data.x_train[:16], phase="discriminator")
    assert model.signals([])["d_win"] == [pytest.approx(1.0, abs=1e-6)]
