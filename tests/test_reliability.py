"""Faults injected for real: a full disk, a kill during evaluation, writes that must stay atomic."""

from __future__ import annotations

import hashlib
import json
import resource
import signal
import subprocess
import time

import pytest
from cli_helpers import cli_command, run_cli

from latentzoo import io
from latentzoo.engine import fit, load_checkpoint


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit then fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rel") / "run"
    fit("linear-ae", "digits", out, overrides={"epochs": 2}, progress=False)
    return out


def test_full_disk_gives_a_clear_error_and_keeps_previous_files(small_run):
    before = {p.name: digest(p) for p in (small_run / "metrics.json", small_run / "checkpoints" / "last.ckpt")}
    # The checkpoint (~25 kB) cannot be written under a 2 kB file-size limit: the resumed run must fail
    # cleanly and leave the previous checkpoint and metrics byte for byte.
    proc = subprocess.run(cli_command("fit", "--resume", "--out", small_run, "--epochs", "4", "--quiet"),
                          capture_output=True, text=True, preexec_fn=_limit_file_size(2048), timeout=300)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert "cannot write" in line and "intact" in line and "Traceback" not in proc.stderr
    after = {p.name: digest(p) for p in (small_run / "metrics.json", small_run / "checkpoints" / "last.ckpt")}
    assert after == before
    assert not list(small_run.rglob("*.tmp")), "temporary files left behind"
    assert load_checkpoint(small_run / "checkpoints" / "last.ckpt")["epoch"] == 2


def test_atomic_write_leaves_old_content_when_the_writer_fails(tmp_path):
    target = tmp_path / "metrics.json"
    io.write_json(target, {"a": 1})

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with io.atomic_open(target) as f:
            f.write(b'{"a": ')
            raise Boom
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_kill_during_evaluation_then_resume_finishes(tmp_path):
    out = tmp_path / "run"
    args = ["fit", "linear-ae", "--data", "digits", "--epochs", "2", "--quiet", "--out", out]
    proc = subprocess.Popen(cli_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ckpt = out / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            if ckpt.exists() and load_checkpoint(ckpt)["epoch"] == 2:
                break  # training is over: the process is evaluating and drawing figures now
        except Exception:  # noqa: BLE001 - being replaced; look again
            pass
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    assert not (out / "metrics.json").exists() or json.loads((out / "metrics.json").read_text())
    done = run_cli("fit", "--resume", "--out", out, "--quiet")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["test_recon_mse"] > 0
