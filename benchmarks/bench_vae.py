r"""Seed question 2 benchmark: latentzoo's VAE against pythae 0.1.2's VAE, side by side in one process.

Run in the peer environment (pythae needs torchvision, which latentzoo does not)::

    .peervenv/bin/python benchmarks/bench_vae.py [--epochs 20] [--repeats 3] [--threads 1]

Both sides train the same network on ``digits`` (flattened to 64 features, the same
train/test split): encoder 64 → 512 → ReLU → (μ, log σ²) ∈ R^8 × R^8, decoder
8 → 512 → ReLU → 64 Bernoulli probabilities; batch 64, Adam, learning rate 1e-3, 20 epochs.

* Throughput: training examples per second of the training loop only, in wall-clock and in
  process CPU time (robust to other load on a shared machine) (latentzoo: the
  engine's ``samples_per_second``, i.e. ``latentzoo.engine.fit``'s real loop; pythae: the
  time spent in ``BaseTrainer.train_step``, its loop over the DataLoader). Set-up,
  evaluation, checkpoints and figures are excluded on both sides and reported apart as
  the wall-clock time of the whole call.
* Test loss: both report the negative ELBO in nats per example, −E_q log p(x|z) + KL,
  with log p(x|z) the SUM over the 64 pixels of the Bernoulli log-likelihood (pythae:
  sum-BCE + KL, mean over examples, one z per example; averaged here over 200 passes to
  remove sampling noise; latentzoo: 1000 samples per example, closed-form KL).
* NLL: −log p(x) by importance sampling with 1000 samples (latentzoo ``test_nll_iwae``;
  pythae ``VAE.get_nll``).

``--extra`` also trains the default recipes on ``digits`` and ``mnist1d`` and reports
``test_nll_iwae`` and the gradient-variance ratio (score function / pathwise).
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch

HIDDEN, LATENT, BATCH, LR = 512, 8, 64, 1e-3


def ours_overrides(epochs: int) -> dict:
    return {"conv": False, "hidden": HIDDEN, "depth": 1, "latent_dim": LATENT, "likelihood": "bernoulli",
            "batch_size": BATCH, "lr": LR, "epochs": epochs, "eval_samples": 1000}


def run_ours(epochs: int, seed: int, out: Path) -> dict:
    from latentzoo.data.batching import TensorBatches
    from latentzoo.engine import fit

    # CPU seconds of the training loop: the engine iterates TensorBatches.batches once per epoch,
    # and everything of a step happens while that generator is open.
    cpu = []
    original = TensorBatches.batches

    def timed_batches(self, start=0):
        tic = time.process_time()
        yield from original(self, start)
        cpu.append(time.process_time() - tic)

    TensorBatches.batches = timed_batches
    try:
        tic = time.perf_counter()
        metrics = fit("vae", "digits", out, overrides=ours_overrides(epochs), seed=seed, progress=False,
                      force=True)
        wall = time.perf_counter() - tic
    finally:
        TensorBatches.batches = original
    n = metrics["samples_per_second"] * metrics["train_seconds"]
    return {"samples_per_second": metrics["samples_per_second"], "train_seconds": metrics["train_seconds"],
            "cpu_samples_per_second": n / sum(cpu), "wall_seconds": wall,
            "test_neg_elbo": metrics["test_neg_elbo"], "test_nll_iwae": metrics["test_nll_iwae"], "run": out}


def run_pythae(epochs: int, seed: int, x_train: torch.Tensor, x_test: torch.Tensor, out: Path) -> dict:
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from torch import nn

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Sequential(nn.Linear(64, HIDDEN), nn.ReLU())
            self.out = nn.Linear(HIDDEN, 2 * LATENT)  # same single layer as latentzoo's, split in two

        def forward(self, x):
            mu, logvar = self.out(self.hidden(x.reshape(len(x), -1))).chunk(2, dim=-1)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 64), nn.Sigmoid())

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z))

    torch.manual_seed(seed)
    model = VAE(VAEConfig(input_dim=(64,), latent_dim=LATENT, reconstruction_loss="bce"),
                encoder=Encoder(), decoder=Decoder())
    config = BaseTrainerConfig(output_dir=str(out), num_epochs=epochs, learning_rate=LR,
                               per_device_train_batch_size=BATCH, per_device_eval_batch_size=BATCH,
                               optimizer_cls="Adam", no_cuda=True, steps_saving=None, seed=seed)
    step_seconds, step_cpu = [], []
    original = BaseTrainer.train_step

    def timed_train_step(self, epoch):
        tic, cpu = time.perf_counter(), time.process_time()
        result = original(self, epoch)
        step_seconds.append(time.perf_counter() - tic)
        step_cpu.append(time.process_time() - cpu)
        return result

    BaseTrainer.train_step = timed_train_step
    try:
        tic = time.perf_counter()
        pipeline = TrainingPipeline(model=model, training_config=config)
        pipeline(train_data=x_train)
        wall = time.perf_counter() - tic
    finally:
        BaseTrainer.train_step = original
    trained = pipeline.trainer.model.eval()  # the last epoch's weights, as on our side
    with torch.no_grad():
        torch.manual_seed(seed + 1)
        test_loss = statistics.fmean(float(trained({"data": x_test}).loss) for _ in range(200))
        nll = -trained.get_nll(x_test, n_samples=1000, batch_size=1000)  # get_nll returns mean log p(x)
    train_seconds = sum(step_seconds)
    return {"samples_per_second": epochs * len(x_train) / train_seconds, "train_seconds": train_seconds,
            "cpu_samples_per_second": epochs * len(x_train) / sum(step_cpu),
            "wall_seconds": wall, "test_neg_elbo": test_loss, "test_nll_iwae": float(nll),
            "params": sum(p.numel() for p in trained.parameters()), "model": trained}


def extra_rows(seed: int, root: Path, bench_run: Path) -> list[tuple]:
    from latentzoo.engine import fit, load_run

    rows = []
    runs = [("digits", "benchmark network (MLP 512, Bernoulli)", None, bench_run)]
    runs += [("digits", "default recipe (conv, Bernoulli)", {}, root / "digits-default"),
             ("mnist1d", "default recipe (MLP 256x2, Gaussian)", {}, root / "mnist1d-default")]
    for data, what, overrides, out in runs:
        tic = time.perf_counter()
        if overrides is not None:
            fit("vae", data, out, overrides=overrides, seed=seed, progress=False, force=True)
        model, dataset, config = load_run(out)
        import json

        metrics = json.loads((out / "metrics.json").read_text())
        variance = model.gradient_variance(dataset, n_estimates=200)
        rows.append((data, what, config.epochs, metrics["test_neg_elbo"], metrics["test_nll_iwae"],
                     variance["grad_var_reparam"], variance["grad_var_score"], variance["grad_var_ratio"],
                     time.perf_counter() - tic))
    return rows


class _Timers:
    """CPU seconds spent inside chosen functions (patched for the duration of a ``with`` block)."""

    def __init__(self, targets: dict):
        self.targets = targets  # label -> (owner, attribute name)
        self.seconds = {label: 0.0 for label in targets}
        self.calls = {label: 0 for label in targets}

    def __enter__(self):
        self.saved = []
        for label, (owner, name) in self.targets.items():
            original = getattr(owner, name)
            self.saved.append((owner, name, original))

            def timed(*args, __f=original, __label=label, **kwargs):
                tic = time.process_time()
                try:
                    return __f(*args, **kwargs)
                finally:
                    self.seconds[__label] += time.process_time() - tic
                    self.calls[__label] += 1

            setattr(owner, name, timed)
        return self

    def __exit__(self, *exc):
        for owner, name, original in reversed(self.saved):
            setattr(owner, name, original)


def profile_steps(epochs: int, root: Path) -> None:
    r"""Where a training step's CPU time goes on each side (milliseconds per step, one run each)."""
    from lightning.fabric import wrappers
    from pythae.models import VAE as PythaeVAE
    from torch.utils.data import dataloader

    from latentzoo.data import load_dataset
    from latentzoo.vae.model import VAE

    optim = torch.optim.Optimizer
    common = {
        "optimizer: Adam.step (all)": (torch.optim.Adam, "step"),
        "  of which the accelerator check (NVML once lightning is imported)":
            (optim, "_accelerator_graph_capture_health_check"),
        "optimizer: zero_grad": (optim, "zero_grad"),
        "backward: torch.autograd.backward": (torch.autograd, "backward"),
    }
    ours_targets = {
        "forward: Fabric module wrapper (all)": (wrappers._FabricModule, "forward"),
        "  of which the model's forward (loss)": (VAE, "forward"),
        "optimizer: Fabric wrapper step (all)": (wrappers._FabricOptimizer, "step"),
        "engine: gradient-norm check (get_total_norm)": (torch.nn.utils, "get_total_norm"),
        **common,
    }
    theirs_targets = {
        "data: DataLoader next batch (collate)": (dataloader._BaseDataLoaderIter, "__next__"),
        "  of which the model's forward (loss)": (PythaeVAE, "forward"),
        **common,
    }
    data = load_dataset("digits", 0)
    x_train, x_test = data.x_train.reshape(len(data.x_train), -1), data.x_test.reshape(len(data.x_test), -1)
    with _Timers(theirs_targets) as theirs_t:
        theirs = run_pythae(epochs, 0, x_train, x_test, root / "profile-pythae")
    with _Timers(ours_targets) as ours_t:
        ours = run_ours(epochs, 0, root / "profile-ours")
    steps_t, steps_o = theirs_t.calls["optimizer: Adam.step (all)"], ours_t.calls["optimizer: Adam.step (all)"]
    total_t = epochs * len(x_train) / theirs["cpu_samples_per_second"]
    total_o = ours["samples_per_second"] * ours["train_seconds"] / ours["cpu_samples_per_second"]
    print(f"\n### Where the CPU time of a training step goes (ms per step; {steps_t} pythae steps, {steps_o} "
          "latentzoo steps; timers add a little to each)\n")
    print("| component | pythae 0.1.2 | latentzoo |")
    print("|---|---|---|")
    print(f"| **whole step (training loop CPU time / steps)** | **{total_t / steps_t * 1e3:.3f}** | "
          f"**{total_o / steps_o * 1e3:.3f}** |")
    labels = list(dict.fromkeys([*theirs_targets, *ours_targets]))
    for label in labels:
        t = f"{theirs_t.seconds[label] / steps_t * 1e3:.3f}" if label in theirs_targets else "–"
        o = f"{ours_t.seconds[label] / steps_o * 1e3:.3f}" if label in ours_targets else "–"
        print(f"| {label} | {t} | {o} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5, help="alternating runs of each side (seeds 0..R-1)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads for both sides")
    parser.add_argument("--profile", action="store_true", help="also break one run of each side down by component")
    parser.add_argument("--extra", action=argparse.BooleanOptionalAction, default=True,
                        help="also report test_nll_iwae and the gradient-variance ratio of the default recipes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import logging

    logging.getLogger("pythae").setLevel(logging.WARNING)
    from latentzoo.data import load_dataset

    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for r in range(args.repeats):  # alternate the two sides so that machine load hits both alike
            # seed r: the same train/test split as latentzoo's run with seed r (the split depends on the seed)
            data = load_dataset("digits", r)
            x_train, x_test = data.x_train.reshape(len(data.x_train), -1), data.x_test.reshape(len(data.x_test), -1)
            theirs.append(run_pythae(args.epochs, r, x_train, x_test, root / f"pythae-{r}"))
            ours.append(run_ours(args.epochs, r, root / f"ours-{r}"))
        rows = extra_rows(0, root, ours[0]["run"]) if args.extra else []
        if args.profile:
            profile_steps(args.epochs, root)

    def median(side, key):
        return statistics.median(run[key] for run in side)

    def mean_std(side, key):
        values = [run[key] for run in side]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.fmean(values):.3f} ± {sd:.3f}"

    print(f"\n### VAE on digits: latentzoo vs pythae 0.1.2 ({args.epochs} epochs, batch {BATCH}, Adam {LR:g}, "
          f"MLP {HIDDEN}, latent {LATENT}, Bernoulli; torch {torch.__version__}, {args.threads} thread(s), "
          f"{args.repeats} alternating runs, seeds 0..{args.repeats - 1})\n")
    print("| | pythae 0.1.2 | latentzoo | ratio (latentzoo / pythae) |")
    print("|---|---|---|---|")
    for key, what in (("samples_per_second", "wall-clock"), ("cpu_samples_per_second", "CPU-time")):
        ratio = statistics.median(o[key] / t[key] for o, t in zip(ours, theirs))
        print(f"| training throughput, examples per {what} second (median; ratio: median of the "
              f"{args.repeats} paired runs) | {median(theirs, key):,.0f} | {median(ours, key):,.0f} | "
              f"**{ratio:.2f}x** |")
    print(f"| training-loop seconds (median) | {median(theirs, 'train_seconds'):.2f} | "
          f"{median(ours, 'train_seconds'):.2f} | |")
    print(f"| whole call, seconds (median; incl. set-up, eval, saving, ours also figures) | "
          f"{median(theirs, 'wall_seconds'):.2f} | {median(ours, 'wall_seconds'):.2f} | |")
    print(f"| test −ELBO, nats/example (mean ± sd over seeds; lower is better) | {mean_std(theirs, 'test_neg_elbo')} | "
          f"{mean_std(ours, 'test_neg_elbo')} | difference "
          f"{statistics.fmean(o['test_neg_elbo'] - t['test_neg_elbo'] for o, t in zip(ours, theirs)):+.3f} |")
    print(f"| test NLL, IWAE K=1000, nats/example | {mean_std(theirs, 'test_nll_iwae')} | "
          f"{mean_std(ours, 'test_nll_iwae')} | |")
    print(f"\npythae parameters: {theirs[0]['params']:,} (latentzoo's network has the same layers)")
    if rows:
        print("\n### Likelihood bounds and gradient variance (latentzoo, seed 0)\n")
        print("| data | model | epochs | test −ELBO | test NLL (IWAE, K=1000) | Var pathwise | Var score function "
              "| ratio score/pathwise | seconds |")
        print("|---|---|---|---|---|---|---|---|---|")
        for data_name, what, epochs, elbo, nll, vr, vs, ratio, secs in rows:
            print(f"| {data_name} | {what} | {epochs} | {elbo:.3f} | {nll:.3f} | {vr:.4g} | {vs:.4g} | "
                  f"**{ratio:,.0f}** | {secs:.1f} |")
        print("\nVariance = trace of the covariance of the encoder-gradient estimate of the batch-mean −ELBO "
              "(64 test examples, one z each, 200 estimates); both estimators use the closed-form KL.")
    assert all(math.isfinite(run["test_neg_elbo"]) for run in ours + theirs)


if __name__ == "__main__":
    main()
