r"""What the VAE's metrics say they are: the test bound's K under its own name, and whether the nats
are those of a normalised density (a Bernoulli likelihood on grey levels is a cross-entropy)."""

import pytest
import torch

from latentzoo.data import Dataset
from latentzoo.vae.model import GREY_LEVELS, VAE, VAEConfig


def evaluated(x, likelihood, **options):
    data = Dataset("tiny", "vector", x[:20], x[20:])
    torch.manual_seed(0)
    model = VAE(VAEConfig(likelihood=likelihood, conv=False, latent_dim=2, hidden=4, depth=1, eval_samples=7,
                          **options), data)
    return model, model.evaluate(data, [])


@pytest.mark.parametrize("values, likelihood, density", [
    ("binary", "bernoulli", "normalised"),
    ("grey", "bernoulli", GREY_LEVELS),
    ("grey", "gaussian", "normalised"),
])
def test_density_says_what_the_nats_are(values, likelihood, density):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 6, generator=g)
    if values == "binary":
        x = (x > 0.5).float()
    _, metrics = evaluated(x, likelihood)
    assert metrics["density"] == density
    assert metrics["likelihood"] == likelihood


def test_training_and_evaluation_k_have_two_names():
    """``iwae_k`` (an option: the training bound's K) is not a metric; ``eval_iwae_k`` is eval_samples."""
    model, metrics = evaluated(torch.rand(40, 6, generator=torch.Generator().manual_seed(1)), "bernoulli", iwae_k=3)
    assert metrics["eval_iwae_k"] == 7 and "iwae_k" not in metrics
    assert {m.key for m in VAE.METRICS} >= set(metrics)  # every reported key is declared, with its unit
    declared = {m.key: m for m in VAE.METRICS}
    assert "not a normalised density" in declared["density"].note


def test_the_test_bound_is_sized_to_its_cost(monkeypatch):
    """With more test examples than EVAL_DECODES / K, the bounds are averaged over the split's first rows
    (and say how many); a small split is used whole."""
    import latentzoo.vae.model as vae_model

    x = torch.rand(40, 6, generator=torch.Generator().manual_seed(2))
    model, whole = evaluated(x, "gaussian")
    assert whole["eval_iwae_examples"] == 20
    monkeypatch.setattr(vae_model, "EVAL_DECODES", 7 * 5)     # K = 7: five examples
    monkeypatch.setattr(vae_model, "EVAL_MIN_EXAMPLES", 1)
    data = Dataset("tiny", "vector", x[:20], x[20:])
    part = model.evaluate(data, [])
    first = model.evaluate(Dataset("tiny", "vector", x[:20], x[20:25]), [])
    assert part["eval_iwae_examples"] == 5
    assert part["test_nll_iwae"] == pytest.approx(first["test_nll_iwae"], rel=1e-6)
    assert part["test_nll_iwae"] != pytest.approx(whole["test_nll_iwae"], rel=1e-6)
