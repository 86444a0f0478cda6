"""The training engine: resume is bitwise exact after real kills, runs are locked, divergence stops
cleanly, two processes train like one, and the same seed gives the same metrics."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
import torch
from cli_helpers import assert_one_line_error, cli_command, run_cli
from safetensors.torch import load_file

from latentzoo.engine import fit, load_checkpoint

# linear-ae on patches: 20,000 examples, so epochs are long enough to be killed inside one.
LONG = ["fit", "linear-ae", "--data", "patches", "--epochs", "6", "--set", "batch_size=32", "--quiet"]


def weights(run_dir):
    return load_file(str(run_dir / "weights.safetensors"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    run_cli(*LONG, "--out", out, check=True)
    return out


def _wait_for_checkpoint(out, proc, min_epoch=1, timeout=120):
    ckpt = out / "checkpoints" / "last.ckpt"
    start = time.time()
    while time.time() - start < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"run ended before the kill: {proc.stderr.read()}")
        if ckpt.exists():
            try:
                if load_checkpoint(ckpt)["epoch"] >= min_epoch:
                    return
            except Exception:  # noqa: BLE001 - being replaced right now; look again
                pass
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared")


@pytest.mark.parametrize("sig, min_epoch, delay", [
    (signal.SIGKILL, 1, 0.0),    # right after an epoch's checkpoint (possibly during the next write)
    (signal.SIGKILL, 2, 0.25),   # in the middle of an epoch
    (signal.SIGINT, 1, 0.3),     # Ctrl-C: a mid-epoch checkpoint is saved before exiting
    (signal.SIGTERM, 3, 0.1),
])
def test_killed_run_resumes_to_identical_weights(tmp_path, uninterrupted, sig, min_epoch, delay):
    out = tmp_path / "run"
    proc = subprocess.Popen(cli_command(*LONG, "--out", out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    _wait_for_checkpoint(out, proc, min_epoch)
    time.sleep(delay)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    if sig is signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130, proc.stderr.read()
        saved = load_checkpoint(out / "checkpoints" / "last.ckpt")
        assert saved["batch"] > 0 or saved["epoch"] > min_epoch  # the interruption itself was saved
    load_checkpoint(out / "checkpoints" / "last.ckpt")  # loadable whatever the moment of the kill
    run_cli("fit", "--resume", "--out", out, "--quiet", check=True)
    resumed, full = weights(out), weights(uninterrupted)
    assert resumed.keys() == full.keys()
    for k in full:
        assert torch.equal(resumed[k], full[k]), k
    a = json.loads((out / "metrics.json").read_text())
    b = json.loads((uninterrupted / "metrics.json").read_text())
    assert a["test_recon_mse"] == b["test_recon_mse"]


def test_second_run_on_same_directory_is_refused_while_first_holds_it(tmp_path):
    out = tmp_path / "run"
    slow = [a if a != "6" else "200" for a in LONG]  # long enough to still be running
    first = subprocess.Popen(cli_command(*slow, "--out", out), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_checkpoint(out, first, 0)
        second = run_cli(*LONG, "--out", out, "--force")
        assert_one_line_error(second, "in use")
    finally:
        first.kill()
        first.wait()
    # A killed run leaves no stuck lock: the directory can be resumed at once (one epoch more than saved;
    # how far the first run got before the kill depends on the machine's speed).
    done = load_checkpoint(out / "checkpoints" / "last.ckpt")["epoch"]
    proc = run_cli("fit", "--resume", "--out", out, "--epochs", str(done + 1), "--quiet")
    assert proc.returncode == 0, proc.stderr


def test_nan_loss_stops_with_step_cause_and_fix(tmp_path):
    proc = run_cli("fit", "linear-ae", "--data", "digits", "--out", tmp_path / "r", "--epochs", "3",
                   "--set", "lr=1e30", "--quiet")
    assert proc.returncode == 1
    line = proc.stderr.strip().splitlines()[-1]
    assert "step" in line and "lr=" in line and "grad_clip" in line
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_same_seed_same_metrics_and_different_seed_differs(tmp_path):
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        metrics = fit("linear-ae", "digits", tmp_path / name, overrides={"epochs": 3}, seed=seed, progress=False)
        runs[name] = {k: v for k, v in metrics.items() if k not in ("train_seconds", "samples_per_second", "eval_seconds")}
    assert runs["a"] == runs["b"]
    assert runs["a"]["test_recon_mse"] != runs["c"]["test_recon_mse"]


def test_two_process_ddp_matches_one_process(tmp_path):
    common = ["fit", "linear-ae", "--data", "digits", "--epochs", "20", "--quiet", "--accelerator", "cpu"]
    run_cli(*common, "--out", tmp_path / "one", check=True, timeout=900)   # two processes share 2 cores
    run_cli(*common, "--out", tmp_path / "two", "--devices", "2", "--strategy", "ddp", check=True, timeout=900)
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())["test_recon_mse"]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())["test_recon_mse"]
    assert abs(one - two) <= 0.01 * one, (one, two)


def test_linear_ae_default_recipe_reaches_pca_on_digits(tmp_path):
    metrics = fit("linear-ae", "digits", tmp_path / "lin", progress=False)
    assert metrics["subspace_angle_deg"] < 1.0
    assert metrics["test_recon_mse"] <= 1.01 * metrics["pca_recon_mse"]
    # the metric can move: an untrained start is far from PCA
    short = fit("linear-ae", "digits", tmp_path / "short", overrides={"epochs": 1, "lr": 1e-4}, progress=False)
    assert short["subspace_angle_deg"] > 10
