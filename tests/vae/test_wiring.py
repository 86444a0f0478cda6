r"""How the VAE model uses its losses: the training step's gradient is the pathwise gradient of the
seed's objective (the encoder is reached through z = μ + σ ⊙ ε, not only through the KL term), and on
digits a short training keeps KL(q(z|x) ‖ p(z)) well above 0 (a z cut from the encoder collapses it).

The objective is written out here, one example at a time, from the formulas (not imported), and
compared on the same ε the model drew.
"""

import contextlib
import math

import pytest
import torch

import latentzoo.vae.model as vae_model
from latentzoo.data import Dataset
from latentzoo.engine import train_model
from latentzoo.vae.model import VAE, VAEConfig

LOG_2PI = math.log(2 * math.pi)


@contextlib.contextmanager
def recorded_noise():
    """Every ε the VAE draws in ``reparameterize``, recorded (whatever the source of its randomness)."""
    drawn, draw = [], vae_model.reparameterize

    def recording(mu, logvar, generator=None, n_samples=None, eps=None):
        if eps is None:
            shape = mu.shape if n_samples is None else (n_samples, *mu.shape)
            eps = torch.randn(shape, generator=generator, device=mu.device, dtype=mu.dtype)
        drawn.append(eps)
        return draw(mu, logvar, eps=eps)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vae_model, "reparameterize", recording)
        yield drawn


def tiny_vae(likelihood, **options):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 5, generator=g) if likelihood == "bernoulli" else 2 * torch.randn(40, 5, generator=g)
    data = Dataset("tiny", "vector", x[:20], x[20:])
    torch.manual_seed(0)
    model = VAE(VAEConfig(likelihood=likelihood, conv=False, latent_dim=2, hidden=6, depth=1, **options), data)
    model = model.double()
    model.on_train_start(data)
    return model, data.x_train.double()


def log_px_given_z(model, x, z):
    """log p(x|z) of one example, summed over features one at a time."""
    out = model.decoder(z[None])[0]
    total = 0.0
    for j in range(len(x)):
        if model.config.likelihood == "bernoulli":
            p = torch.sigmoid(out[j])
            total = total + x[j] * torch.log(p) + (1 - x[j]) * torch.log(1 - p)      # x log p + (1 − x) log(1 − p)
        else:
            lv = model.decoder_logvar[j]
            total = total - 0.5 * (LOG_2PI + lv + (x[j] - out[j]) ** 2 / torch.exp(lv))  # log N(x; f, σ²)
    return total


def log_normal(z, mu, logvar):
    return sum(-0.5 * (LOG_2PI + lv + (zj - m) ** 2 / torch.exp(lv)) for zj, m, lv in zip(z, mu, logvar))


def objective_by_hand(model, x, eps, beta=1.0):
    r"""Mean over examples of −log p(x|z) + β·½Σ(μ² + σ² − 1 − log σ²) with z = μ + σ ⊙ ε (one ε per example),
    or of −L_K = −[logsumexp_k log w_k − log K] with log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x)."""
    h = model.encoder(x)
    total = 0.0
    for i in range(len(x)):
        mu, logvar = h[i, :2], h[i, 2:]
        if eps.ndim == 2:
            z = mu + torch.exp(0.5 * logvar) * eps[i]
            kl = 0.5 * (mu ** 2 + torch.exp(logvar) - 1 - logvar).sum()
            total = total - log_px_given_z(model, x[i], z) + beta * kl
        else:
            log_w = []
            for k in range(eps.shape[0]):
                z = mu + torch.exp(0.5 * logvar) * eps[k, i]
                zero = torch.zeros_like(z)
                log_w.append(log_px_given_z(model, x[i], z) + log_normal(z, zero, zero) - log_normal(z, mu, logvar))
            total = total - (torch.logsumexp(torch.stack(log_w), 0) - math.log(eps.shape[0]))
    return total / len(x)


@pytest.mark.parametrize("likelihood, options", [("bernoulli", {}), ("gaussian", {}), ("bernoulli", {"beta": 3.0}),
                                                 ("bernoulli", {"iwae_k": 4})])
def test_training_gradient_is_the_pathwise_gradient(likelihood, options):
    r"""∇ of the model's training loss with respect to every encoder and decoder weight equals ∇ of the
    objective written out by hand with the same ε, the gradient flowing through z = μ(x) + σ(x) ⊙ ε;
    the reconstruction term alone (total minus KL) reaches the encoder."""
    model, x = tiny_vae(likelihood, **options)
    with recorded_noise() as drawn:
        loss, _ = model(x)
    names = [n for n, _ in model.named_parameters()]
    grads = torch.autograd.grad(loss, list(model.parameters()))
    (eps,) = drawn
    hand = objective_by_hand(model, x, eps, beta=options.get("beta", 1.0))
    hand_grads = torch.autograd.grad(hand, list(model.parameters()))
    assert float(loss.detach()) == pytest.approx(float(hand.detach()), rel=1e-10)
    for name, got, expected in zip(names, grads, hand_grads):
        torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-12, msg=name)
    # the pathwise part: what the encoder receives beyond the gradient of the closed-form β·KL (none with IWAE)
    beta = 0.0 if "iwae_k" in options else options.get("beta", 1.0)
    mu, logvar = model.encode(x)
    kl = beta * 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1).mean()
    kl_grads = dict(zip(names, torch.autograd.grad(kl, list(model.parameters()), allow_unused=True,
                                                   materialize_grads=True)))
    through_z = [g - kl_grads[name] for name, g in zip(names, grads) if name.startswith("encoder.")]
    assert through_z and sum(float(g.abs().sum()) for g in through_z) > 1e-3


@pytest.mark.slow
def test_short_training_on_digits_keeps_kl_well_above_zero():
    r"""Six epochs on digits: the test KL is well above 0 and grows (1.6 nats; with z detached from the
    encoder it is 0.000 from the first epoch, the encoder learning only to match the prior)."""
    overrides = {"conv": False, "hidden": 128, "batch_size": 32, "epochs": 6, "eval_samples": 10}
    model = train_model("vae", "digits", None, overrides=overrides, progress=False)
    assert model.metrics["test_kl"] > 0.5, model.metrics
    kl = [h["kl"] for h in model.history]
    assert kl[-1] > 0.5 and kl[-1] > 5 * kl[0], kl
