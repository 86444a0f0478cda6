"""Data parallelism that provably equals one process, for every family.

Two processes (gloo on the CPU, ``devices=2, strategy="ddp"``) train each case of
tests/distributed_cases.py for one epoch and must end with the weights of one process to
1e-4 relative, the same weights on both ranks, and logs equal to one process's. The check is
shown to bite: with each rank drawing its own random numbers (the mistake
:func:`latentzoo.distributed.sharded` prevents) the weights differ. Also: two "nodes" under
torchrun, SLURM's environment, ``--num-nodes`` without a launcher, bfloat16 mixed precision
for every family and one gradient scaler per optimizer with float16.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import ROOT, assert_one_line_error, cli_command
from distributed_cases import (
    CASES,
    redundant_keys,
    relative_difference,
    state,
    tiny_data,
    train_case,
    without,
)
from safetensors.torch import load_file

TOLERANCE = 1e-4
METRIC_TOLERANCE = 1e-3    # evaluation metrics computed from weights that agree to TOLERANCE
WORKER = Path(__file__).resolve().parent / "distributed_worker.py"
LAUNCHER_VARIABLES = ("TORCHELASTIC_RUN_ID", "GROUP_RANK", "LOCAL_WORLD_SIZE", "RANK", "LOCAL_RANK", "WORLD_SIZE",
                      "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "KUBERNETES_PORT", "LSB_JOBID")


def child_env() -> dict:
    """The environment of a child process: this worktree's package first, no launcher variables."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES and not k.startswith("SLURM_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def torchrun(*args, timeout=600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(WORKER),
           *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env(), cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def compare(two: dict, one: dict, model) -> tuple[float, str]:
    skip = redundant_keys(model)
    return relative_difference(without(two, skip), without(one, skip))


# ---- one process ≡ two processes, every family ------------------------------------------------
@pytest.fixture(scope="module")
def one_process():
    """Each case trained in this process: (weights, model)."""
    out = {}
    for name in CASES:
        model = train_case(name, devices=1)
        out[name] = (state(model), model)
    return out


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp") / "weights.pt"
    torchrun(path, *CASES)
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize("name", list(CASES))
def test_two_processes_train_like_one(name, one_process, two_processes):
    weights, model = one_process[name]
    got = two_processes[name]
    assert got["ranks_differ"] == [], f"ranks hold different {got['ranks_differ']}"
    difference, key = compare(got["weights"], weights, model)
    assert difference <= TOLERANCE, f"{name}: {key} differs by {difference:.2e} (relative)"
    # What is left out is only what no loss determines (see redundant_keys): biases and running means.
    assert all(k.endswith((".bias", ".running_mean")) for k in redundant_keys(model))


def test_rank_dependent_draws_would_be_caught(tmp_path, one_process):
    """Each rank drawing only its own batch's numbers (η, ε, corruption, augmentations) is detected."""
    cases = ["vae-iwae", "gan-gp", "denoising-ae", "laplace-ae", "simclr-signal"]
    path = tmp_path / "weights.pt"
    torchrun(path, *cases, "--unsharded")
    got = torch.load(path, weights_only=True)
    for name in cases:
        weights, model = one_process[name]
        difference, _ = compare(got[name]["weights"], weights, model)
        assert difference > 100 * TOLERANCE, (name, difference)


# ---- the CLI: Fabric's own launcher, two nodes under torchrun -----------------------------------
VAE_ARGS = ["fit", "vae", "--epochs", "1", "--accelerator", "cpu", "--quiet", "--set", "batch_size=32",
            "--set", "latent_dim=4", "--set", "hidden=8", "--set", "eval_samples=10"]


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    data = tiny_data("image")
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x=data.x_train[:, 0].numpy(), x_test=data.x_test[:, 0].numpy())
    return path


def run(cmd, timeout=300):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env(), cwd=ROOT)


@pytest.fixture(scope="module")
def cli_one(tmp_path_factory, npz):
    out = tmp_path_factory.mktemp("one") / "run"
    proc = run(cli_command(*VAE_ARGS, "--data", npz, "--out", out))
    assert proc.returncode == 0, proc.stderr
    return out


def assert_same_run(two: Path, one: Path) -> None:
    from latentzoo.engine import load_model

    model = load_model(one)
    difference, key = compare(load_file(str(two / "weights.safetensors")),
                              load_file(str(one / "weights.safetensors")), model)
    assert difference <= TOLERANCE, (key, difference)
    # the logs are global-batch means, as one process logs them
    h2, h1 = (json.loads((d / "logs" / "history.json").read_text())[-1] for d in (two, one))
    for k in ("loss", "recon", "kl"):
        assert h2[k] == pytest.approx(h1[k], rel=TOLERANCE), k
    # the test −ELBO is computed afterwards from those weights (784 log-likelihood terms per image), so it
    # may differ a little more than they do: 1.0001e-4 was seen on a 2-core AMD EPYC; a wrong split of the
    # data or of the gradients moves the weights by over 100 × TOLERANCE (test_rank_dependent_draws_would_be_caught)
    assert h2["test_neg_elbo"] == pytest.approx(h1["test_neg_elbo"], rel=METRIC_TOLERANCE)
    m2, m1 = (json.loads((d / "metrics.json").read_text()) for d in (two, one))
    assert m2["test_neg_elbo"] == pytest.approx(m1["test_neg_elbo"], rel=METRIC_TOLERANCE)


def test_cli_devices_2_ddp_equals_one_process(tmp_path, npz, cli_one):
    out = tmp_path / "two"
    proc = run(cli_command(*VAE_ARGS, "--data", npz, "--out", out, "--devices", "2", "--strategy", "ddp"))
    assert proc.returncode == 0, proc.stderr
    assert_same_run(out, cli_one)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_under_torchrun_equal_one_process(tmp_path, npz, cli_one):
    out, port = tmp_path / "nodes", free_port()
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(rank), "--nproc-per-node",
         "1", "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "latentzoo.cli",
         *VAE_ARGS, "--data", str(npz), "--out", str(out), "--devices", "1", "--num-nodes", "2", "--strategy", "ddp"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT) for rank in (0, 1)]
    try:
        results = [p.communicate(timeout=300) for p in nodes]
    finally:
        for p in nodes:
            p.kill()
    assert [p.returncode for p in nodes] == [0, 0], [err[-2000:] for _, err in results]
    assert_same_run(out, cli_one)


def test_num_nodes_without_a_launcher_fails_at_once(npz):
    proc = run(cli_command("fit", "linear-ae", "--data", npz, "--num-nodes", "2", "--accelerator", "cpu",
                           "--strategy", "ddp", "--quiet"), timeout=120)
    assert_one_line_error(proc, "--num-nodes 2", "torchrun", "srun")


def test_slurm_environment_is_read(monkeypatch):
    """The variables srun sets for task 3 of 4 (2 nodes × 2 tasks), as Lightning's own tests set them."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    from latentzoo.distributed import check_launcher
    from latentzoo.engine import _fabric, _is_launching_process

    # Lightning's SLURMEnvironment writes MASTER_ADDR/MASTER_PORT into os.environ as it reads them;
    # the whole environment is restored afterwards, or a later DDP run would wait for "node7" forever.
    monkeypatch.setattr(os, "environ", os.environ.copy())
    for k in LAUNCHER_VARIABLES:
        monkeypatch.delenv(k, raising=False)
    for k, v in {"SLURM_NTASKS": "4", "SLURM_NTASKS_PER_NODE": "2", "SLURM_PROCID": "3", "SLURM_LOCALID": "1",
                 "SLURM_NODEID": "1", "SLURM_JOB_NAME": "latentzoo", "SLURM_JOB_ID": "77",
                 "SLURM_NODELIST": "node[7-8]"}.items():
        monkeypatch.setenv(k, v)
    check_launcher(2)                                    # srun is a launcher: no error
    fabric = _fabric({"accelerator": "cpu", "devices": 2, "num_nodes": 2, "strategy": "ddp",
                      "precision": "32-true"}, 1, None)
    env = fabric.strategy.cluster_environment
    assert isinstance(env, SLURMEnvironment)
    assert (fabric.world_size, fabric.global_rank, fabric.local_rank, fabric.node_rank) == (4, 3, 1, 1)
    assert env.main_address == "node7"
    assert not _is_launching_process()                   # the run directory is checked by task 0 only


def test_launchers_are_recognised(monkeypatch):
    from latentzoo.distributed import check_launcher
    from latentzoo.errors import UserError

    for k in (*LAUNCHER_VARIABLES, *[k for k in os.environ if k.startswith("SLURM_")]):
        monkeypatch.delenv(k, raising=False)
    check_launcher(1)
    with pytest.raises(UserError, match="--num-nodes 3"):
        check_launcher(3)
    for k, v in {"TORCHELASTIC_RUN_ID": "x", "RANK": "0", "GROUP_RANK": "0", "LOCAL_RANK": "0",
                 "LOCAL_WORLD_SIZE": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(k, v)
    check_launcher(2)                                    # torchrun


# ---- batches -------------------------------------------------------------------------------------
@pytest.mark.parametrize("world", [2, 3])
def test_rank_batches_concatenate_to_the_one_process_batch(world):
    from latentzoo.data.batching import TensorBatches

    x = torch.arange(100.0)[:, None]
    one = TensorBatches(x, 6 * world, seed=3)
    ranks = [TensorBatches(x, 6, seed=3, rank=r, world_size=world) for r in range(world)]
    for epoch in range(2):
        for b in (one, *ranks):
            b.start_epoch()
        assert all(len(b) == len(one) for b in ranks)
        for (i, batch), *parts in zip(one.batches(), *(b.batches() for b in ranks)):
            assert torch.equal(torch.cat([p for _, p in parts]), batch), (epoch, i)


# ---- mixed precision -----------------------------------------------------------------------------
BF16_CASES = ["linear-ae", "sparse-coding", "sparse-ae", "laplace-ae", "denoising-ae", "contractive-ae", "vae",
              "gan-r1", "simclr"]


@pytest.mark.parametrize("name", BF16_CASES)
def test_bf16_mixed_trains_every_family_with_float32_losses(name, one_process):
    model = train_case(name, devices=1, precision="bf16-mixed")
    reference = one_process[name][1]
    assert all(torch.isfinite(v).all() for v in state(model).values() if v.is_floating_point())
    # the epoch's losses follow the float32 run's to 1% (they agree to about 0.1%)
    losses = {k: v for k, v in model.history[-1].items() if k.endswith("loss")}
    assert losses and losses.keys() == {k for k in reference.history[-1] if k.endswith("loss")}
    for k, v in losses.items():
        assert v == pytest.approx(reference.history[-1][k], rel=1e-2), k
    # every loss and logged value the model returns under autocast is float32
    x = tiny_data(CASES[name][1]).x_train[:32]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for phase in model.phases:
            loss, logs = model.train()(x, phase=phase)
            assert loss.dtype == torch.float32, phase
            assert all(v.dtype == torch.float32 for v in logs.values() if isinstance(v, torch.Tensor)), logs


def test_float16_has_one_gradient_scaler_per_optimizer():
    """A GAN under float16 mixed precision: the discriminator overflowing skips its own step and lowers
    its own scale only; the generator keeps stepping at its scale."""
    from lightning.fabric import Fabric
    from lightning.fabric.plugins import MixedPrecision

    from latentzoo.engine.loop import set_up, train_step
    from latentzoo.engine.state import TrainState
    from latentzoo.registry import model_class

    _, kind, options = CASES["gan-gp"]
    data = tiny_data(kind)
    fabric = Fabric(accelerator="cpu", devices=1, plugins=MixedPrecision("16-mixed", "cpu"))
    model = model_class("gan")()
    config = model.Config.model_validate({**options, "epochs": 1, "batch_size": 32, "gp": 0.0,
                                          "loss": "nonsaturating"})
    torch.manual_seed(0)
    model.build(config, data)
    model.on_train_start(data)
    run = set_up(fabric, model, data, config, 0, None)
    assert sorted(run.scalers) == ["discriminator", "generator"]
    assert run.scalers["discriminator"] is not run.scalers["generator"]
    assert fabric.strategy.precision.scaler is None      # Fabric's single scaler is out of the way
    x = data.x_train[:32]
    state_ = TrainState()
    for phase in ("discriminator", "generator"):          # one ordinary step each
        train_step(run, state_, x, phase)
    d_scaler, g_scaler = run.scalers["discriminator"], run.scalers["generator"]
    d_scaler.update(2.0 ** 126)                          # the discriminator's float16 gradients will overflow
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]
    g_before = [p.detach().clone() for p in model.generator.parameters()]
    g_scale = g_scaler.get_scale()
    train_step(run, state_, x, "discriminator")
    train_step(run, state_, x, "generator")
    assert all(torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters()))   # skipped
    assert d_scaler.get_scale() == 2.0 ** 125                                                     # backed off
    assert not all(torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))  # stepped
    assert g_scaler.get_scale() == g_scale


def test_gpu_check_refuses_a_machine_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: run benchmarks/gpu_check.sh itself")
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True,
                          timeout=120, env={**child_env(), "PYTHON": sys.executable})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no CUDA device" in lines[0] and "Traceback" not in proc.stderr


# ---- data read lazily from a file: each rank reads only its own rows ---------------------------
LAZY_WORKER = Path(__file__).resolve().parent / "distributed_lazy_worker.py"


def test_lazy_data_two_processes_train_like_one(tmp_path, monkeypatch):
    """A .npy read lazily (LATENTZOO_STREAM=1) under DDP: each rank's batches read only its own rows of the
    file (disjoint, together the epoch's rows), and the weights equal one process's on the file read whole."""
    from distributed_cases import N_TEST, N_TRAIN, train_case

    data = tiny_data("image")
    path = tmp_path / "tiny.npy"
    np.save(path, torch.cat([data.x_train, data.x_test])[:, 0].numpy())   # (n, 8, 8) grey images in [0, 1]
    out = tmp_path / "lazy.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(LAZY_WORKER),
           str(out), str(path), "vae"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=child_env(), cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = torch.load(out, weights_only=True)
    rank0, rank1 = (set(r.tolist()) for r in got["rows"])
    assert len(rank0) == len(rank1) == len(got["rows"][0]) > 0 and not rank0 & rank1
    n_train = (N_TRAIN + N_TEST) - round(0.2 * (N_TRAIN + N_TEST))
    assert len(rank0 | rank1) == n_train // 32 * 32            # every full global batch of the epoch, once

    monkeypatch.setenv("LATENTZOO_STREAM", "0")
    import distributed_cases

    monkeypatch.setattr(distributed_cases, "tiny_data", lambda kind: str(path))   # the same file, read whole
    one = train_case("vae", devices=1)
    difference, key = compare(got["weights"], state(one), one)
    assert difference <= TOLERANCE, f"{key} differs by {difference:.2e} (relative)"
