r"""The VAE model: its −ELBO against slow loops from the formula, the importance-sampled likelihood
against the exact one of probabilistic PCA, the two gradient estimators, and short trainings."""

import json
import math

import pytest
import torch
from torch import nn
from torch.distributions import MultivariateNormal

from latentzoo.config import build_config
from latentzoo.data import Dataset, load_dataset
from latentzoo.engine import fit, load_run
from latentzoo.errors import UserError
from latentzoo.vae.losses import gaussian_log_likelihood, iwae_bound, standard_normal_log_density
from latentzoo.vae.model import VAE, VAEConfig

LOG_2PI = math.log(2 * math.pi)


def vector_data(n=40, d=4, seed=0, unit=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=g) if unit else torch.randn(n, d, generator=g) * 2
    return Dataset("tiny", "vector", x[: n // 2], x[n // 2:])


def tiny_model(likelihood, **options):
    data = vector_data(unit=likelihood == "bernoulli")
    torch.manual_seed(0)
    config = VAEConfig(likelihood=likelihood, conv=False, latent_dim=2, hidden=3, depth=1, **options)
    model = VAE(config, data).double()
    if likelihood == "gaussian":
        with torch.no_grad():
            model.decoder_logvar.copy_(torch.tensor([0.3, -0.5, 0.1, 0.8]))
    return model, data.x_train.double()


def slow_log_px_given_z(model, out, x):
    """log p(x|z) of one example from the decoder's output, one feature at a time."""
    total = 0.0
    for j in range(x.numel()):
        xj, oj = float(x[j]), float(out[j])
        if model.config.likelihood == "bernoulli":
            p = 1 / (1 + math.exp(-oj))
            total += xj * math.log(p) + (1 - xj) * math.log(1 - p)  # x log p + (1 − x) log(1 − p)
        else:
            lv = float(model.decoder_logvar[j])
            total += -0.5 * (LOG_2PI + lv + (xj - oj) ** 2 / math.exp(lv))  # log N(x; f, σ²)
    return total


def slow_log_normal(z, mu, logvar):
    return sum(-0.5 * (LOG_2PI + float(lv) + (float(zj) - float(m)) ** 2 / math.exp(float(lv)))
               for zj, m, lv in zip(z, mu, logvar))


@pytest.mark.parametrize("likelihood,beta", [("bernoulli", 1.0), ("gaussian", 1.0), ("bernoulli", 3.0)])
def test_training_loss_equals_slow_loop_with_same_noise(likelihood, beta):
    r"""forward's loss = (1/n) Σ_i [ −log p(x_i|z_i) + β·½Σ_j(μ² + σ² − 1 − log σ²) ], z_i = μ_i + σ_i ε_i."""
    model, x = tiny_model(likelihood, beta=beta)
    torch.manual_seed(11)
    loss, logs = model(x)
    torch.manual_seed(11)
    eps = torch.randn(len(x), 2, dtype=torch.float64)  # the same ε the model drew
    total, total_kl = 0.0, 0.0
    with torch.no_grad():
        h = model.encoder(x)
        for i in range(len(x)):
            mu, logvar = h[i, :2], h[i, 2:]
            z = mu + (0.5 * logvar).exp() * eps[i]
            out = model.decoder(z[None])[0]
            kl = sum(0.5 * (float(m) ** 2 + math.exp(float(lv)) - 1 - float(lv)) for m, lv in zip(mu, logvar))
            total += -slow_log_px_given_z(model, out, x[i]) + beta * kl
            total_kl += kl
    assert float(loss.detach()) == pytest.approx(total / len(x), rel=1e-10)
    assert float(logs["kl"]) == pytest.approx(total_kl / len(x), rel=1e-10)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_neg_elbo_matches_monte_carlo_of_the_seed_formula(likelihood):
    r"""−ELBO(x) = −E_q[log p(x|z) + log p(z) − log q(z|x)]: a slow Monte-Carlo loop over samples,
    against the model's estimate (Monte-Carlo reconstruction + closed-form KL), within 4 standard errors."""
    model, x = tiny_model(likelihood)
    x = x[:3]
    n_samples = 1500
    terms = model.likelihood_terms(x, 20_000, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        h = model.encoder(x)
        for i in range(len(x)):
            mu, logvar = h[i, :2], h[i, 2:]
            z = mu + (0.5 * logvar).exp() * torch.randn(n_samples, 2, generator=g, dtype=torch.float64)
            out = model.decoder(z)
            values = torch.tensor([
                slow_log_px_given_z(model, out[s], x[i]) + slow_log_normal(z[s], [0, 0], [0, 0])
                - slow_log_normal(z[s], mu, logvar) for s in range(n_samples)])
            estimate, se = -float(values.mean()), float(values.std()) / math.sqrt(n_samples)
            assert abs(float(terms["neg_elbo"][i]) - estimate) < 4 * se + 1e-9, (terms["neg_elbo"][i], estimate, se)
            # the IWAE estimate is never above the −ELBO of the same samples
            assert float(terms["nll_iwae"][i]) <= float(terms["neg_elbo"][i]) + 1e-9


def test_iwae_training_loss_is_the_bound_of_its_samples():
    model, x = tiny_model("bernoulli", iwae_k=7)
    torch.manual_seed(3)
    loss, logs = model(x)
    torch.manual_seed(3)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        z = mu + (0.5 * logvar).exp() * torch.randn(7, len(x), 2, dtype=torch.float64)
        log_px = model.log_px_given_z(model.decode(z), x)
        expected = -iwae_bound(log_px, standard_normal_log_density(z), gaussian_log_likelihood(mu, logvar, z)).mean()
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-12)
    assert float(logs["neg_iwae_bound"]) == pytest.approx(float(expected), rel=1e-12)


# ---- probabilistic PCA: the exact log-likelihood is known ------------------------------------
def ppca_model(scale_mean=1.0, add_logvar=0.0):
    r"""A VAE whose decoder is PPCA, p(x|z) = N(Wz + b, σ²I), with W's columns orthogonal so that
    the exact posterior N(Mᵀ... ) is diagonal: Σ_post = diag(σ²/(σ² + s_j²)), μ_post = diag(1/(σ²+s_j²)) Wᵀ(x − b).
    ``scale_mean`` and ``add_logvar`` perturb the encoder away from the exact posterior."""
    d, latent, sigma2 = 5, 2, 0.3
    g = torch.Generator().manual_seed(4)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    s = torch.tensor([2.0, 0.8], dtype=torch.float64)
    w = q[:, :latent] * s  # W = Q diag(s): WᵀW = diag(s²)
    b = torch.randn(d, generator=g, dtype=torch.float64)
    x = (torch.randn(300, latent, generator=g, dtype=torch.float64) @ w.T + b
         + math.sqrt(sigma2) * torch.randn(300, d, generator=g, dtype=torch.float64))
    data = Dataset("ppca", "vector", x[:150].float(), x[150:].float())
    model = VAE(VAEConfig(likelihood="gaussian", gaussian_variance="scalar", conv=False, latent_dim=latent,
                          hidden=4, depth=1), data).double()
    a = (1 / (sigma2 + s**2))[:, None] * w.T  # μ_post = A (x − b)
    encoder, decoder = nn.Linear(d, 2 * latent).double(), nn.Linear(latent, d).double()
    with torch.no_grad():
        encoder.weight.copy_(torch.cat([scale_mean * a, torch.zeros(latent, d, dtype=torch.float64)]))
        encoder.bias.copy_(torch.cat([-scale_mean * a @ b, torch.log(sigma2 / (sigma2 + s**2)) + add_logvar]))
        decoder.weight.copy_(w)
        decoder.bias.copy_(b)
        model.decoder_logvar.fill_(math.log(sigma2))
    model.encoder, model.decoder = encoder, decoder
    exact = MultivariateNormal(b, w @ w.T + sigma2 * torch.eye(d, dtype=torch.float64)).log_prob(x[150:])
    return model, x[150:], exact


def test_importance_sampling_is_exact_with_the_true_posterior():
    model, x, exact = ppca_model()
    terms = model.likelihood_terms(x, 1, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(terms["nll_iwae"], -exact)  # every weight equals p(x): zero variance


def test_importance_sampling_converges_to_exact_ppca_likelihood():
    model, x, exact = ppca_model(scale_mean=0.6)
    exact_nll = float(-exact.mean())
    gaps = []
    for k in (1, 10, 100, 1000):
        # a small max_rows exercises both the example chunks and the sample chunks (k > max_rows)
        terms = model.likelihood_terms(x, k, generator=torch.Generator().manual_seed(k), max_rows=256)
        gaps.append(float(terms["nll_iwae"].mean()) - exact_nll)
        if k == 1000:  # the −ELBO gap is KL(q(z|x) ‖ p(z|x)) > 0, and the IWAE bound lies between
            assert float(terms["neg_elbo"].mean()) - exact_nll > gaps[-1]
    assert gaps[0] > 0.5, gaps  # the perturbed encoder is a poor proposal
    assert gaps[0] > gaps[1] > gaps[2] > 0.05, gaps  # L_K increases with K (while far above the noise)
    assert abs(gaps[-1]) < 0.03 * gaps[0], gaps  # and tends to log p(x)


def test_pathwise_and_score_gradients_agree_in_expectation():
    model, x = tiny_model("bernoulli")
    n = 4000
    pathwise, score = model.encoder_gradient_estimates(x[:8], n, generator=torch.Generator().manual_seed(5))
    diff = pathwise.mean(0) - score.mean(0)
    se = (pathwise.var(0) / n + score.var(0) / n).sqrt()
    live = se > 0  # parameters behind a dead ReLU get no gradient from either estimator
    assert live.sum() > 10 and (diff[~live] == 0).all()
    z = diff[live] / se[live]
    assert z.abs().max() < 4.5, z  # every coordinate within a few standard errors
    assert z.pow(2).mean() < 2.0, z  # and on average as a χ² with one degree of freedom per coordinate
    assert score.var(0).sum() > 5 * pathwise.var(0).sum()


# ---- configuration -------------------------------------------------------------------------
def test_impossible_options_are_refused():
    signals = vector_data(unit=False)
    with pytest.raises(UserError, match="likelihood=gaussian"):
        build_config(VAE, signals, {}, {"likelihood": "bernoulli"})
    with pytest.raises(UserError, match="beta=1"):
        build_config(VAE, vector_data(), {}, {"iwae_k": 5, "beta": 2.0})
    assert build_config(VAE, signals, {}, {}).likelihood == "gaussian"


# ---- short trainings through the engine ------------------------------------------------------
def untrained_metrics(data_name, overrides):
    data = load_dataset(data_name, 0)
    config = build_config(VAE, data, {}, overrides)
    torch.manual_seed(0)  # the engine's initial weights for seed 0
    return VAE(config, data).evaluate(data, []), data


def test_fit_digits_improves_elbo_and_reports_metrics(tmp_path):
    overrides = {"epochs": 3, "eval_samples": 50}
    before, data = untrained_metrics("digits", overrides)
    metrics = fit("vae", "digits", tmp_path / "run", overrides=overrides, progress=False)
    assert metrics["eval_iwae_k"] == 50
    assert metrics["test_neg_elbo"] < before["test_neg_elbo"] - 5, (before, metrics)
    assert metrics["test_nll_iwae"] <= metrics["test_neg_elbo"]
    assert metrics["test_neg_elbo"] == pytest.approx(metrics["test_recon"] + metrics["test_kl"], rel=1e-5)
    history = json.loads((tmp_path / "run" / "logs" / "history.json").read_text())
    assert history[-1]["test_neg_elbo"] < history[0]["test_neg_elbo"]
    names = {p.name for p in (tmp_path / "run" / "figures").iterdir()}
    assert {"samples.png", "reconstructions.png", "interpolation.png", "traversal.png", "latent.png",
            "curves.png"} <= names

    model, data, _ = load_run(tmp_path / "run")
    variance = model.gradient_variance(data, n_estimates=30)
    assert variance["grad_var_ratio"] > 10, variance  # the seed's "why": REINFORCE is far noisier
    samples = model.sample(16, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (16, 1, 8, 8) and 0 <= samples.min() and samples.max() <= 1


def test_fit_mnist1d_gaussian_improves_elbo(tmp_path):
    overrides = {"epochs": 2, "eval_samples": 50}
    before, _ = untrained_metrics("mnist1d", overrides)
    metrics = fit("vae", "mnist1d", tmp_path / "run", overrides=overrides, progress=False)
    assert metrics["likelihood"] == "gaussian"
    assert metrics["test_neg_elbo"] < before["test_neg_elbo"] - 5, (before, metrics)
    assert metrics["test_nll_iwae"] <= metrics["test_neg_elbo"]


@pytest.mark.parametrize("likelihood,variance", [("bernoulli", "feature"), ("gaussian", "feature"),
                                                 ("gaussian", "scalar")])
def test_decoder_starts_at_the_best_model_that_ignores_z(likelihood, variance):
    r"""After on_train_start, with the last layer's weights at 0, −log p(x|z) on the training data is the
    maximum-likelihood independent model: Σ_j H(Bernoulli(m_j)) or ½ Σ_j (log 2π s_j² + 1); moving the
    bias either way only makes it worse."""
    data = vector_data(n=200, d=4, unit=likelihood == "bernoulli")
    torch.manual_seed(0)
    model = VAE(VAEConfig(likelihood=likelihood, gaussian_variance=variance, conv=False, latent_dim=2, hidden=3,
                          depth=1), data).double()
    model.on_train_start(data)
    last = model.decoder[-1]
    with torch.no_grad():
        last.weight.zero_()
    x = data.x_train.double()
    z = torch.randn(len(x), 2, dtype=torch.float64)

    def recon():
        with torch.no_grad():
            return float(-model.log_px_given_z(model.decode(z), x).mean())

    m = x.mean(0)
    if likelihood == "bernoulli":
        expected = float(-(m * m.log() + (1 - m) * (1 - m).log()).sum())
    else:
        s2 = x.var(0, unbiased=False)  # the model's variance: s_j² (feature) or their mean s̄² (scalar)
        model_var = s2 if variance == "feature" else s2.mean().expand_as(s2)
        expected = float(0.5 * (LOG_2PI + model_var.log() + s2 / model_var).sum())  # ½ Σ_j log 2πσ_j² + s_j²/σ_j²
    assert recon() == pytest.approx(expected, rel=1e-9)
    for shift in (-0.05, 0.05):
        with torch.no_grad():
            last.bias += shift
        assert recon() > expected
        with torch.no_grad():
            last.bias -= shift
