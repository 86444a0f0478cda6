"""The GAN model end to end through the engine: training improves the metrics; options behave as documented."""

import json

import pytest
import torch

from latentzoo.data.builtin import ring8
from latentzoo.engine import fit, load_run
from latentzoo.errors import UserError
from latentzoo.gan.diagnostics import NAMES
from latentzoo.gan.model import GAN

SMALL = {"hidden": 64, "depth": 2, "batch_size": 256, "lr": 2e-3, "beta2": 0.9, "lr_schedule": "linear",
         "latent_dim": 4, "ema": 0.99}


def test_fit_ring8_improves_coverage_and_quality(tmp_path):
    metrics = fit("gan", "ring8", tmp_path / "run", overrides={**SMALL, "epochs": 8}, progress=False)
    history = json.loads((tmp_path / "run" / "logs" / "history.json").read_text())
    first = history[0]
    # after one epoch the samples sit on one or two modes; after eight they spread over (nearly) all
    assert metrics["modes_covered"] >= max(6, first["modes_covered"] + 4) and metrics["modes_total"] == 8
    assert metrics["reverse_kl"] < 0.5 * first["reverse_kl"]
    assert metrics["high_quality_fraction"] > first["high_quality_fraction"]
    assert [f["name"] for f in metrics["diagnosis"]] == list(NAMES)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["diagnosis"] == metrics["diagnosis"]
    figures = {p.name for p in (tmp_path / "run" / "figures").iterdir()}
    assert {"samples_over_training.png", "curves.png", "diagnosis.png"} <= figures
    # the loaded run samples from the averaged generator and reproduces the metric
    model, data, _ = load_run(tmp_path / "run")
    again = model.evaluate(data, history)
    assert again["high_quality_fraction"] == metrics["high_quality_fraction"]
    assert again["diagnosis"] == metrics["diagnosis"]          # the signals are kept with the weights


def test_fit_digits_lowers_the_frechet_distance(tmp_path):
    overrides = {"epochs": 4, "batch_size": 64, "lr": 1e-3, "hidden": 32, "ema": 0.9}
    metrics = fit("gan", "digits", tmp_path / "run", overrides=overrides, progress=False)
    _, data, config = load_run(tmp_path / "run")
    torch.manual_seed(0)
    untrained = GAN(config, data).eval()
    before = untrained.evaluate(data, [])
    assert metrics["frechet_distance"] < 0.7 * before["frechet_distance"]
    assert metrics["recall"] >= before["recall"]
    assert "feature classifier" in metrics["feature_space"]
    assert {p.name for p in (tmp_path / "run" / "figures").iterdir()} >= {"samples.png", "diagnosis.png"}


def test_ema_update_formula_with_warm_up():
    data = ring8(0)
    model = GAN(GAN.Config(**{**GAN.recipe(data), "ema": 0.999}), data)
    before = [p.detach().clone() for p in model.generator_ema.parameters()]
    with torch.no_grad():
        for p in model.generator.parameters():
            p.add_(1.0)
    model._update_ema()                     # t = 0: decay = min(0.999, 1/10) = 0.1
    for b, p, e in zip(before, model.generator.parameters(), model.generator_ema.parameters()):
        torch.testing.assert_close(e, 0.1 * b + 0.9 * p)
    assert int(model.ema_updates) == 1


def test_n_critic_schedule_and_packing():
    data = ring8(0)
    model = GAN(GAN.Config(**{**GAN.recipe(data), "n_critic": 3, "pack": 4}), data)
    assert [model.phases_for_step(s) for s in range(4)] == [
        ("discriminator",), ("discriminator",), ("discriminator", "generator"), ("discriminator",)]
    x = data.x_train[:10]
    packed = model.discriminator.pack_input(x)
    assert packed.shape == (2, 8)           # 10 samples → 2 packs of 4 (the remainder is dropped)
    torch.testing.assert_close(packed[1], x[4:8].reshape(-1))


def median_distance_to_nearest_mode(model, data):
    samples = model.sample(1000, torch.Generator().manual_seed(0))
    return float(torch.cdist(samples, data.extras["modes"]).min(dim=1).values.median())


@pytest.mark.parametrize("options", [{"loss": "wasserstein", "gp": 10.0, "n_critic": 2},
                                     {"loss": "hinge", "spectral_norm": True},
                                     {"loss": "least-squares", "pack": 2, "r1": 1.0}])
def test_other_objectives_and_remedies_move_samples_onto_the_ring(options, tmp_path):
    fit("gan", "ring8", tmp_path / "run", overrides={**SMALL, "epochs": 4, **options}, progress=False)
    model, data, config = load_run(tmp_path / "run")
    torch.manual_seed(0)
    untrained = GAN(config, data).eval()
    assert median_distance_to_nearest_mode(model, data) < 0.75 * median_distance_to_nearest_mode(untrained, data)


def test_spectral_norm_bounds_every_discriminator_layer(tmp_path):
    fit("gan", "ring8", tmp_path / "run", overrides={**SMALL, "epochs": 1, "spectral_norm": True}, progress=False)
    model, _, _ = load_run(tmp_path / "run")
    layers = [m for m in model.discriminator.modules() if isinstance(m, torch.nn.Linear)]
    assert layers
    for layer in layers:   # W / σ(W) with σ from power iteration: top singular value ≈ 1
        assert float(torch.linalg.matrix_norm(layer.weight.detach(), ord=2)) == pytest.approx(1.0, abs=0.05)


def test_impossible_options_are_user_errors():
    data = ring8(0)
    with pytest.raises(UserError, match="Lipschitz"):
        GAN.check(GAN.Config(**{**GAN.recipe(data), "loss": "wasserstein"}), data)
    with pytest.raises(UserError, match="pack=200"):
        GAN.check(GAN.Config(**{**GAN.recipe(data), "pack": 200}), data)
