r"""Throughput at the floor (issue 12, item 4): ``lz.fit`` against a bare PyTorch loop, per family.

::

    python benchmarks/bench_floor.py [--data DIR] [--steps 200] [--families simclr,vae,gan,linear-ae,sparse-coding]
                                     [--repeats 3] [--threads N] [--compile]

For each family, on Fashion-MNIST (``--data``; default where Debian's ``dataset-fashion-mnist`` puts it):

* latentzoo: ``lz.fit(family, data, epochs=E)`` on the first ``epoch_steps × batch_size`` training examples
  (``--epoch-steps``, 40: a small split keeps the evaluation after training short) for E epochs, so that
  ``--steps`` optimizer steps are taken (linear-ae may stop earlier, on convergence), with the family's
  default recipe; the figure is the engine's ``samples_per_second`` (examples over the seconds of the
  training loop, from metrics).
* the floor: a bare loop written here in the precision ``lz.fit`` picks by default (``precision="auto"``:
  ``torch.autocast`` to bfloat16 where the model prefers it and the CPU has AMX), with the same networks (built by the same model class with the same
  configuration and seed), the same augmentations and loss (the model's ``forward``), the same optimizers
  (``configure_optimizers``), the same batch size and number of steps — a shuffled index into the tensor,
  ``zero_grad``/``backward``/``step``, nothing else: no logging, no finiteness or gradient-norm checks,
  no schedulers, no checkpoints, no progress bar. Timed from the first step to the end of the last.

``--compile`` adds ``lz.fit(..., compile=True)``: its samples/s over the same steps (the compilation falls
in the first steps, so this is the start-up cost and the speed-up together; more ``--steps`` separate
them) and its whole call. The ratio latentzoo / floor is the share of the bare loop's speed that the engine keeps (target ≥ 0.9).
The two alternate ``--repeats`` times; the table gives the medians. Runs single-process, on this CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

DEBIAN_FMNIST = "/usr/share/datasets/fashion-mnist"   # apt-get install dataset-fashion-mnist
FAMILIES = ("simclr", "vae", "gan", "linear-ae", "sparse-coding")


def subset(data, n_train: int, n_test: int):
    from latentzoo.data import Dataset

    return Dataset(data.name, data.kind, data.x_train[:n_train], data.x_test[:n_test],
                   None if data.y_train is None else data.y_train[:n_train],
                   None if data.y_test is None else data.y_test[:n_test], data.extras)


def floor(family: str, data, config, seed: int) -> float:
    """Samples per second of the bare loop (see the module docstring)."""
    from latentzoo.registry import model_class

    torch.manual_seed(seed)
    model = model_class(family)(config, data)
    model.on_train_start(data)
    model.train()
    per_epoch = len(data.x_train) // config.batch_size
    optimizers, _ = model.configure_optimizers(config.epochs * per_epoch)
    x_all, b, step = data.x_train, config.batch_size, 0
    from latentzoo.engine.runtime import resolve_precision

    bf16 = resolve_precision("auto", model, config, data, "cpu") == "bf16-mixed"   # as lz.fit's default
    tic = time.perf_counter()
    for _ in range(config.epochs):
        perm = torch.randperm(len(x_all))                 # a fresh order every epoch, as the engine's
        for i in range(per_epoch):
            x = x_all[perm[i * b:(i + 1) * b]]
            for phase in model.phases_for_step(step):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss, _ = model(x, phase=phase)
                opt = optimizers.get(phase)
                if opt is not None:
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                model.after_optimizer_step(phase)
            step += 1
    return step * b / (time.perf_counter() - tic)


def ours(family: str, data, seed: int, epochs: int, compile: bool = False) -> tuple[float, float]:
    """(the engine's samples_per_second, seconds of the whole lz.fit call)."""
    import latentzoo as lz

    if compile:
        torch._dynamo.reset()                       # every compiled run pays its own compilation
    tic = time.perf_counter()
    model = lz.fit(family, data, epochs=epochs, progress=False, seed=seed, compile=compile)
    return model.metrics["samples_per_second"], time.perf_counter() - tic


def measure(family: str, full, args) -> dict:
    from latentzoo.config import build_config
    from latentzoo.registry import model_class

    cls = model_class(family)
    batch = build_config(cls, full, {}, {}).batch_size
    per_epoch = min(args.steps, args.epoch_steps)      # a small split keeps lz.fit's evaluation short
    epochs = -(-args.steps // per_epoch)
    data = subset(full, per_epoch * batch, args.n_test)
    config = build_config(cls, data, {}, {"epochs": epochs})
    runs = {"floor": [], "ours": [], "whole": [], "compiled": [], "compiled_whole": []}
    for _ in range(args.repeats):
        runs["floor"].append(floor(family, data, config, args.seed))
        rate, whole = ours(family, data, args.seed, epochs)
        runs["ours"].append(rate)
        runs["whole"].append(whole)
        if args.compile:
            rate, whole = ours(family, data, args.seed, epochs, compile=True)
            runs["compiled"].append(rate)
            runs["compiled_whole"].append(whole)
    med = {k: statistics.median(v) if v else None for k, v in runs.items()}
    return {**med, "ratio": med["ours"] / med["floor"], "batch": batch, "steps": epochs * per_epoch}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEBIAN_FMNIST, help="folder of Fashion-MNIST IDX files (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps per measurement")
    parser.add_argument("--epoch-steps", type=int, default=40,
                        help="steps per epoch: the first epoch_steps × batch_size training examples are used")
    parser.add_argument("--n-test", type=int, default=1000, help="test examples (only lz.fit's evaluation reads them)")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true",
                        help="also lz.fit(compile=True): its samples/s (compilation included) and whole call")
    args = parser.parse_args(argv)
    families = [f for f in args.families.split(",") if f]
    if set(families) - set(FAMILIES):
        parser.error(f"families must be among {', '.join(FAMILIES)}")
    if not Path(args.data).is_dir():
        sys.exit(f"error: --data {args.data} is not a folder; `apt-get install dataset-fashion-mnist` or pass --data")
    if args.threads:
        torch.set_num_threads(args.threads)
    import logging

    logging.getLogger("latentzoo").setLevel(logging.ERROR)
    from latentzoo.data import load_dataset

    full = load_dataset(str(Path(args.data).resolve()), args.seed)
    results = {f: measure(f, full, args) for f in families}
    print(f"\n### Throughput at the floor on Fashion-MNIST ({args.steps} steps per run, median of {args.repeats}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads)\n")
    extra = (" lz.fit compile=True, samples/s (compilation included) | its whole call, s |", "---|---|") \
        if args.compile else ("", "")
    print("| family | batch | steps | bare loop, samples/s | lz.fit training loop, samples/s | ratio | "
          f"lz.fit whole call, s |{extra[0]}")
    print(f"|---|---|---|---|---|---|---|{extra[1]}")
    for f, r in results.items():
        more = f" {r['compiled']:,.0f} | {r['compiled_whole']:.1f} |" if args.compile else ""
        print(f"| {f} | {r['batch']} | {r['steps']} | {r['floor']:,.0f} | {r['ours']:,.0f} | **{r['ratio']:.2f}** | "
              f"{r['whole']:.1f} |{more}")


if __name__ == "__main__":
    main()
