"""Every Q1 model: a short run through the engine's ``fit`` whose metric must improve on the
untrained model, plus the properties each model promises (exact zeros, bounded atoms, ...)."""

import json

import pytest
import torch

from latentzoo.config import build_config
from latentzoo.data import load_dataset
from latentzoo.engine import fit, load_run
from latentzoo.registry import model_class


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", 0)


def untrained(name, data, overrides, seed=0):
    """Metrics of the model as ``fit`` starts it (same seed, same data-dependent set-up)."""
    cls = model_class(name)
    config = build_config(cls, data, {}, overrides)
    torch.manual_seed(seed)
    model = cls(config, data)
    model.on_train_start(data)
    return model.eval().evaluate(data, [])


def run(name, tmp_path, overrides, data="digits"):
    metrics = fit(name, data, tmp_path / name, overrides=overrides, progress=False)
    figures = sorted(p.name for p in (tmp_path / name / "figures").iterdir())
    assert {"curves.png", "reconstructions.png", "code_histogram.png"} <= set(figures)
    assert json.loads((tmp_path / name / "metrics.json").read_text())["model"] == name
    return metrics


def test_linear_ae_from_random_start_finds_pca(tmp_path, digits):
    m = run("linear-ae", tmp_path, {})
    assert m["subspace_angle_deg"] < 1.0
    assert m["test_recon_mse"] <= 1.01 * m["pca_recon_mse"]
    assert untrained("linear-ae", digits, {})["subspace_angle_deg"] > 30  # it really started at random


def test_sparse_coding_lowers_its_objective(tmp_path, digits):
    overrides = {"epochs": 4, "latent_dim": 48}
    before = untrained("sparse-coding", digits, overrides)
    m = run("sparse-coding", tmp_path, overrides)
    assert m["objective"] < 0.95 * before["objective"]
    assert m["code_sparsity"] > 0.5
    model, _, _ = load_run(tmp_path / "sparse-coding")
    assert (model.dictionary.norm(dim=1) <= 1 + 1e-5).all()          # ‖D_k‖ ≤ 1
    assert (tmp_path / "sparse-coding" / "figures" / "atoms.png").is_file()


def test_sparse_ae_learns_exactly_sparse_codes(tmp_path, digits):
    overrides = {"epochs": 12}
    before = untrained("sparse-ae", digits, overrides)
    m = run("sparse-ae", tmp_path, overrides)
    assert m["test_recon_mse"] < 0.5 * before["test_recon_mse"]
    assert m["code_sparsity"] > 0.4
    model, _, _ = load_run(tmp_path / "sparse-ae")
    assert (model.decoder.linear.weight.norm(dim=0) <= 1 + 1e-5).all()


def test_laplace_ae_lowers_its_negative_log_likelihood(tmp_path, digits):
    overrides = {"epochs": 12}
    before = untrained("laplace-ae", digits, overrides)
    m = run("laplace-ae", tmp_path, overrides)
    assert m["laplace_nll"] < before["laplace_nll"] - 50
    assert m["laplace_nll"] == pytest.approx(m["decoder_nll"] + m["prior_nll"], rel=1e-5)
    assert m["code_sparsity"] > 0.05 and m["lam"] == 10.0


def test_laplace_ae_learns_lam(tmp_path):
    m = run("laplace-ae", tmp_path, {"epochs": 8, "learn_lam": True, "lam": 1.0})
    assert m["lam"] > 2.0                     # moved from its start towards the codes' ML rate
    assert m["lam"] < 1 / (0.05 * (2 / torch.pi) ** 0.5) + 1e-3


def test_denoising_ae_removes_noise(tmp_path, digits):
    overrides = {"epochs": 30}
    before = untrained("denoising-ae", digits, overrides)
    m = run("denoising-ae", tmp_path, overrides)
    assert m["test_denoising_mse"] < 0.5 * before["test_denoising_mse"]
    assert m["test_denoising_mse"] < m["test_corrupted_mse"]          # better than doing nothing
    m2 = run("denoising-ae", tmp_path / "mask", {"epochs": 30, "corruption": "mask", "noise": 0.3})
    assert m2["test_denoising_mse"] < m2["test_corrupted_mse"]


@pytest.mark.parametrize("encoder", ["sigmoid", "network"])
def test_contractive_ae_trains_with_exact_penalty(tmp_path, digits, encoder):
    overrides = {"epochs": 6, "encoder": encoder, "lam": 0.5}
    before = untrained("contractive-ae", digits, overrides)
    m = run("contractive-ae", tmp_path, overrides)
    assert m["test_recon_mse"] < 0.5 * before["test_recon_mse"]
    assert m["test_contractive_penalty"] == pytest.approx(0.5 * m["test_jacobian_frobenius"], rel=1e-5)


def test_user_errors():
    from latentzoo.errors import UserError

    digits = load_dataset("digits", 0)
    with pytest.raises(UserError):
        build_config(model_class("denoising-ae"), digits, {}, {"corruption": "mask", "noise": 1.5})
    with pytest.raises(UserError):
        build_config(model_class("linear-ae"), digits, {}, {"latent_dim": 64})
    with pytest.raises(UserError):
        build_config(model_class("sparse-coding"), digits, {}, {"lam": -1})
