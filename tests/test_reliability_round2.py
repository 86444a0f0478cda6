"""Reliability round 2 (issue 14), the engine's and the command line's share: each class of fault injected.

Run directories are latentzoo's alone (marker; --force never deletes a user's folders), the lock is
not followed through a symbolic link, bad values are one line and exit 2 before training, a resumed
run refuses another model or fewer epochs, logs stay whole across resumes, a GAN killed mid-epoch
resumes to identical weights *and* diagnosis signals, and a run directory cannot name code to run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from cli_helpers import cli_command
from safetensors.torch import load_file

from latentzoo.cli import main
from latentzoo.engine import fit, load_checkpoint

TINY = ["--data", "digits", "--epochs", "1", "--quiet"]


def one_line_error(capsys, argv, *fragments):
    """Run the CLI in-process: exit 2, one line on stderr holding every fragment, no traceback."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def lin_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("r2") / "lin"
    fit("linear-ae", "digits", out, overrides={"epochs": 3}, progress=False)
    return out


# ---- 3. --force deletes only what is latentzoo's -------------------------------------------------
def test_force_on_a_user_folder_refuses_and_touches_nothing(tmp_path, capsys):
    for name in ("logs", "figures", "checkpoints"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "mine.txt").write_text("user data")
    (tmp_path / "metrics.json").write_text('{"mine": 1}')
    one_line_error(capsys, ["fit", "linear-ae", *TINY, "--out", tmp_path, "--force"], "not a latentzoo run directory")
    assert all((tmp_path / n / "mine.txt").read_text() == "user data" for n in ("logs", "figures", "checkpoints"))
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"mine": 1}


def test_user_report_is_not_overwritten_without_force(tmp_path, capsys):
    (tmp_path / "report.html").write_text("<p>my report</p>")
    one_line_error(capsys, ["fit", "linear-ae", *TINY, "--out", tmp_path], "report.html")
    assert (tmp_path / "report.html").read_text() == "<p>my report</p>"


def test_force_replaces_a_marked_run(lin_run, tmp_path):
    out = tmp_path / "run"
    assert main(["fit", "linear-ae", *TINY, "--out", str(out)]) == 0
    (out / "figures" / "extra.png").write_bytes(b"old")
    assert main(["fit", "linear-ae", *TINY, "--out", str(out), "--force"]) == 0
    assert not (out / "figures" / "extra.png").exists() and (out / "metrics.json").is_file()


# ---- 4. the lock is never followed through a link ------------------------------------------------
def test_lock_symlink_is_refused_and_its_target_untouched(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["fit", "linear-ae", *TINY, "--out", str(out)]) == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / ".lock").unlink(missing_ok=True)
    (out / ".lock").symlink_to(victim)
    one_line_error(capsys, ["fit", "linear-ae", *TINY, "--out", out, "--force"], "lock")
    assert victim.read_text() == "precious"


# ---- 9. input at fault: exit 2, found before training ----------------------------------------------
@pytest.mark.parametrize("argv, fragment", [
    (["fit", "linear-ae", *TINY, "--set", "lr=inf"], "lr"),
    (["fit", "linear-ae", *TINY, "--set", "lr=1e309"], "lr"),
    (["fit", "linear-ae", *TINY, "--seed", "1e23"], "seed"),
    (["fit", "linear-ae", *TINY, "--seed", str(10**23)], "seed"),
    (["fit", "linear-ae", *TINY, "--precision", "64"], "precision"),
])
def test_bad_values_are_one_line_before_training(tmp_path, capsys, argv, fragment):
    out = tmp_path / "run"
    one_line_error(capsys, [*argv, "--out", out], fragment)
    assert not (out / "metrics.json").exists()


def test_too_many_samples_for_a_picture(tmp_path, capsys):
    out = tmp_path / "vae"
    assert main(["fit", "vae", *TINY, "--out", str(out)]) == 0
    one_line_error(capsys, ["sample", out, "-n", "1000000", "--out", tmp_path / "x.png"], ".npy")


def test_truncated_and_mismatched_checkpoints_and_tampered_config(lin_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(lin_run, run)
    ckpt = run / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:500])                   # truncated
    one_line_error(capsys, ["fit", "--resume", "--out", run, "--epochs", "4", "--quiet"], "checkpoint")
    shutil.rmtree(run)
    shutil.copytree(lin_run, run)
    config = (run / "config.yaml").read_text().replace("latent_dim: 10", "latent_dim: 9")
    (run / "config.yaml").write_text(config)                    # weights no longer fit the configuration
    one_line_error(capsys, ["fit", "--resume", "--out", run, "--epochs", "4", "--quiet"], "")
    one_line_error(capsys, ["eval", run], "")
    (run / "config.yaml").write_text("model: [1, 2\n")          # not YAML
    one_line_error(capsys, ["eval", run], "config.yaml")
    (run / "config.yaml").write_text("model: linear-ae\nseed: 0\nconfig: {latent_dim: -3}\ndata: digits\n")
    one_line_error(capsys, ["eval", run], "latent_dim")


def test_fewer_training_examples_than_the_code_is_refused_before_training(tmp_path, capsys):
    path = tmp_path / "few.npz"
    np.savez(path, x=np.random.default_rng(0).normal(size=(6, 20)).astype("float32"))
    out = tmp_path / "run"
    one_line_error(capsys, ["fit", "linear-ae", "--data", path, "--set", "latent_dim=8", "--out", out, "--quiet"],
                   "latent_dim")
    assert not (out / "checkpoints").exists()


# ---- 10, 12. resumes: one line, whole logs, the same model, no fewer epochs ------------------------
def test_resume_keeps_logs_whole_and_stderr_quiet(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["fit", "linear-ae", "--data", "digits", "--epochs", "2", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["fit", "--resume", "--out", str(out), "--epochs", "4", "--quiet"]) == 0
    assert capsys.readouterr().err.strip() == ""
    rows = (out / "logs" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4 and rows[1].split(",")[0] == "1"


def test_resume_refuses_another_model_and_fewer_epochs(lin_run, capsys):
    one_line_error(capsys, ["fit", "gan", "--resume", "--out", lin_run, "--quiet"], "linear-ae")
    one_line_error(capsys, ["fit", "--resume", "--out", lin_run, "--epochs", "1", "--quiet"], "3 epochs")
    assert json.loads((lin_run / "metrics.json").read_text())["epochs"] == 3


# ---- 13. a run directory cannot name code to run ---------------------------------------------------
def test_saved_feature_extractor_is_never_imported(lin_run, tmp_path, capsys, monkeypatch):
    import shutil

    marker = tmp_path / "ran.txt"
    (tmp_path / "evil_features.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\ndef f(x): return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    run = tmp_path / "gan"
    assert main(["fit", "gan", "--data", "digits", "--epochs", "1", "--quiet", "--out", str(run),
                 "--set", "hidden=16", "--set", "conv=false"]) == 0
    config = (run / "config.yaml").read_text().replace("feature_extractor: null", "feature_extractor: evil_features:f")
    (run / "config.yaml").write_text(config)
    one_line_error(capsys, ["eval", run], "--trust-run")
    one_line_error(capsys, ["fit", "--resume", "--out", run, "--quiet"], "--trust-run")
    assert not marker.exists()
    shutil.rmtree(run)


# ---- 7. a GAN killed mid-epoch resumes to the same weights and the same diagnosis signals ----------
def test_gan_sigterm_mid_epoch_resumes_bit_exactly(tmp_path):
    points = np.random.default_rng(0).normal(size=(5000, 2)).astype("float32")
    np.savez(tmp_path / "points.npz", x=points)
    args = ["fit", "gan", "--data", tmp_path / "points.npz", "--epochs", "3", "--quiet", "--set", "hidden=32",
            "--set", "batch_size=32", "--set", "ema=0.99"]
    full, cut = tmp_path / "full", tmp_path / "cut"
    subprocess.run(cli_command(*args, "--out", full), check=True, capture_output=True, timeout=300)
    proc = subprocess.Popen(cli_command(*args, "--out", cut), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ckpt = cut / "checkpoints" / "last.ckpt"
    start = time.time()
    while not ckpt.exists() and time.time() - start < 120 and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)                                               # well inside the second epoch
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert load_checkpoint(ckpt)["batch"] > 0                     # a mid-epoch checkpoint
    subprocess.run(cli_command("fit", "--resume", "--out", cut, "--quiet"), check=True, capture_output=True,
                   timeout=300)
    a, b = load_file(str(full / "weights.safetensors")), load_file(str(cut / "weights.safetensors"))
    assert a.keys() == b.keys() and {"signal_buffer", "signal_count"} <= set(a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_one_line_error_helper_is_strict(capsys):
    # the helper itself must be able to fail: a success is not an error line
    with pytest.raises(AssertionError):
        one_line_error(capsys, ["list"], "anything")
    assert sys.executable
