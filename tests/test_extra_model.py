"""Adding a model family touches one folder and one registry line: a tiny model defined in the
test suite is registered, then trained, evaluated, listed and reported by the unchanged CLI."""

from __future__ import annotations

import json

import pytest

import latentzoo as lz
from latentzoo.cli import main
from latentzoo.registry import MODELS, register, unregister
from latentzoo.spec import ModelSpec


@pytest.fixture
def tiny_registered():
    register(ModelSpec("tiny-ae", "extra_model", "TinyAutoencoder", "Q1", "a tiny linear autoencoder",
                       default_data="digits", anchor="PCA's error on the same split"))
    yield
    unregister("tiny-ae")


def test_registered_model_trains_evaluates_and_reports_through_the_cli(tiny_registered, tmp_path, capsys):
    run = tmp_path / "tiny"
    assert main(["fit", "tiny-ae", "--epochs", "3", "--out", str(run), "--quiet"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == "tiny-ae" and metrics["test_recon_mse"] > 0
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test_recon_mse"] == pytest.approx(metrics["test_recon_mse"])
    page = (run / "report.html").read_text()
    # the report reads the model's own declarations: headline note, figure caption, seed question
    assert "test error of the tiny autoencoder" in page
    assert "the tiny model&#39;s codes of the test split" in page or "the tiny model's codes of the test split" in page
    assert "a tiny linear autoencoder" in page
    assert main(["list"]) == 0 and "tiny-ae" in capsys.readouterr().out
    assert main(["options", "tiny-ae"]) == 0 and "latent_dim" in capsys.readouterr().out


def test_registered_model_trains_better_than_untrained_from_python(tiny_registered):
    from latentzoo.data import load_dataset

    data = load_dataset("digits", 0)
    short = lz.fit("tiny-ae", data, epochs=1, progress=False, lr=1e-5)
    trained = lz.fit("tiny-ae", data, epochs=5, progress=False)
    assert trained.metrics["test_recon_mse"] < 0.9 * short.metrics["test_recon_mse"]


def test_unregistered_name_is_one_clear_error():
    assert "tiny-ae" not in MODELS
    with pytest.raises(ValueError, match="unknown model 'tiny-ae'"):
        lz.fit("tiny-ae", "digits", progress=False)
