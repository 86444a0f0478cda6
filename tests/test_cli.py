"""The command line end to end: fit → eval → embed → sample, and one clear line for bad input."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, run_cli

from latentzoo.cli import main


@pytest.fixture(scope="module")
def lin_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "lin"
    proc = run_cli("fit", "linear-ae", "--data", "digits", "--out", out, "--epochs", "5", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "test_recon_mse" in proc.stdout
    return out


def test_fit_writes_the_run_directory(lin_run):
    for name in ("config.yaml", "metrics.json", "weights.safetensors", "checkpoints/last.ckpt",
                 "logs/history.json", "logs/metrics.csv", "figures/reconstructions.png"):
        assert (lin_run / name).is_file(), name
    metrics = json.loads((lin_run / "metrics.json").read_text())
    for key in ("model", "dataset", "epochs", "train_seconds", "samples_per_second", "test_recon_mse",
                "pca_recon_mse", "subspace_angle_deg"):
        assert key in metrics
    history = json.loads((lin_run / "logs" / "history.json").read_text())
    assert len(history) == 5 and history[-1]["loss"] < history[0]["loss"]


def test_eval_json_recomputes_the_stored_metrics(lin_run):
    proc = run_cli("eval", lin_run, "--json", check=True)
    printed = json.loads(proc.stdout)
    stored = json.loads((lin_run / "metrics.json").read_text())
    assert printed["test_recon_mse"] == pytest.approx(stored["test_recon_mse"], rel=1e-6)
    assert printed["subspace_angle_deg"] == pytest.approx(stored["subspace_angle_deg"], rel=1e-5)


def test_embed_writes_codes_of_the_split(lin_run, tmp_path):
    out = tmp_path / "codes.npy"
    run_cli("embed", lin_run, "--split", "train", "--out", out, check=True)
    codes = np.load(out)
    assert codes.shape == (1438, 10)
    assert np.abs(codes).sum() > 0 and np.isfinite(codes).all()


def test_sample_refused_for_a_model_that_cannot_sample(lin_run, tmp_path):
    assert_one_line_error(run_cli("sample", lin_run, "--out", tmp_path / "s.npy"), "not a generative model")


def test_config_file_and_set_are_resolved_and_saved(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("latent_dim: 3\nlr: 0.02\n")
    out = tmp_path / "r"
    run_cli("fit", "linear-ae", "--data", "digits", "--out", out, "--epochs", "2", "--config", cfg,
            "--set", "lr=0.005", "--set", "tied=true", "--quiet", check=True)
    import yaml

    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["config"]["latent_dim"] == 3          # from the file
    assert saved["config"]["lr"] == 0.005              # --set beats the file
    assert saved["config"]["tied"] is True
    assert saved["config"]["epochs"] == 2              # --epochs


@pytest.mark.parametrize("args, fragments", [
    (["fit", "linear-ae", "--data", "/no/such/place"], ["/no/such/place"]),
    (["fit", "no-such-model"], ["unknown model"]),
    (["fit", "linear-ae", "--set", "nonsense=1"], ["unknown option", "nonsense"]),
    (["fit", "linear-ae", "--set", "lr=fast"], ["lr"]),
    (["fit", "linear-ae", "--set", "lr=-1"], ["lr", "greater than 0"]),
    (["fit", "linear-ae", "--set", "latent_dim=64"], ["latent_dim", "64"]),
    (["fit", "linear-ae", "--set", "epochs=0"], ["epochs"]),
    (["fit", "linear-ae", "--set", "noequals"], ["key=value"]),
    (["fit", "linear-ae", "--epochs", "0"], ["epochs"]),
    (["fit", "linear-ae", "--devices", "zero"], ["--devices"]),
    (["fit", "linear-ae", "--config", "/no/such.yaml"], ["/no/such.yaml"]),
    (["fit", "--resume"], ["--out"]),
    (["fit"], ["MODEL"]),
    (["eval", "/no/such/run"], ["/no/such/run"]),
    (["embed", "/no/such/run", "--out", "x.npy"], ["/no/such/run"]),
    (["fit", "linear-ae", "--bogus-flag"], ["--bogus-flag"]),
])
def test_bad_command_lines_give_one_line_and_exit_2(tmp_path, capsys, monkeypatch, args, fragments):
    # In-process (the same main() the console script calls), so the table stays fast.
    monkeypatch.chdir(tmp_path)
    if args[0] == "fit" and "--out" not in args and args != ["fit", "--resume"]:
        args = [*args, "--out", str(tmp_path / "o")]
    code = main(args)
    captured = capsys.readouterr()
    assert_one_line_error(subprocess.CompletedProcess(args, code, captured.out, captured.err), *fragments)


def test_the_console_script_itself_reports_one_line(tmp_path):
    assert_one_line_error(run_cli("fit", "linear-ae", "--data", "/no/such/place", "--out", tmp_path / "o"),
                          "/no/such/place")


def test_output_path_that_is_a_file_and_existing_run(tmp_path, lin_run):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert_one_line_error(run_cli("fit", "linear-ae", "--out", a_file), "not a directory")
    assert_one_line_error(run_cli("fit", "linear-ae", "--out", lin_run), "--force")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("lr: [1, 2\n")
    assert_one_line_error(run_cli("fit", "linear-ae", "--out", tmp_path / "q", "--config", bad_yaml), "bad.yaml")
