r"""bfloat16 mixed precision against 32-bit on the CPU: speed and the headline metric, every family.

    python benchmarks/bench_precision.py [--steps 200] [--data digits,mnist1d] [--families vae,gan] [--threads N]

Each family trains its default recipe for the data, cut to about ``--steps`` optimizer steps
(the same number of epochs for both precisions), once with ``--precision 32-true`` and once
with ``bf16-mixed``, in this process and without a run directory; the two are alternated
``--repeats`` times (the repeats without evaluation). Speed is the engine's own
``samples_per_second`` (training loop only; set-up and evaluation excluded), the best of the
repeats; the metric, the family's main test metric, is the first run's (the runs are
deterministic). Prints a markdown table.

Sparse coding has no network: its exact solvers always run in float32, so its two rows measure
the same computation (a control for the machine's noise).
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import torch

FAMILIES = ("linear-ae", "sparse-coding", "sparse-ae", "laplace-ae", "denoising-ae", "contractive-ae", "vae", "gan",
            "simclr")
# the metric shown per family (the first headline metric that the data gives)
METRIC = {"linear-ae": "test_recon_mse", "sparse-coding": "objective", "sparse-ae": "test_recon_mse",
          "laplace-ae": "laplace_nll", "denoising-ae": "test_denoising_mse", "contractive-ae": "test_recon_mse",
          "vae": "test_neg_elbo", "gan": "frechet_distance", "simclr": "linear_probe_acc"}


def epochs_for(family: str, dataset, steps: int) -> int:
    from latentzoo.engine import resolve_run

    _, _, config, _ = resolve_run(family, dataset, overrides={}, config_file=None, seed=0, epochs=None)
    return max(1, math.ceil(steps / max(1, len(dataset.x_train) // config.batch_size)))


def run(family: str, dataset, epochs: int, precision: str, evaluate: bool = True) -> dict:
    from latentzoo.engine import train_model
    from latentzoo.registry import model_class

    model = model_class(family)()
    if not evaluate:                                  # a timing repeat: the metrics are the first run's
        model.evaluate = lambda data, history: {}
    tic = time.perf_counter()
    model = train_model(model, dataset, None, epochs=epochs, seed=0, progress=False, accelerator="cpu",
                        precision=precision)
    return {**model.metrics, "wall": time.perf_counter() - tic}


def measure(family: str, dataset, epochs: int, repeats: int) -> dict[str, dict]:
    """Both precisions, alternated ``repeats`` times; the metrics of the first run, the best speed of all."""
    out = {}
    for i in range(repeats):
        for precision in ("32-true", "bf16-mixed"):
            m = run(family, dataset, epochs, precision, evaluate=i == 0)
            if i == 0:
                out[precision] = m
            else:
                best = max(out[precision]["samples_per_second"], m["samples_per_second"])
                out[precision]["samples_per_second"] = best
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--data", default="digits,mnist1d")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per precision, alternated; the best speed")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from latentzoo.data import load_dataset

    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads, about {args.steps} steps per run\n")
    print("| family | data | epochs | 32-true samples/s | bf16-mixed samples/s | speed-up | metric | 32-true | "
          "bf16-mixed |\n|---|---|---|---|---|---|---|---|---|")
    for data in args.data.split(","):
        dataset = load_dataset(data, 0)
        for family in args.families.split(","):
            epochs = epochs_for(family, dataset, args.steps)
            runs = measure(family, dataset, epochs, args.repeats)
            full, half = runs["32-true"], runs["bf16-mixed"]
            key = METRIC[family]
            a, b = full["samples_per_second"], half["samples_per_second"]
            print(f"| {family} | {data} | {epochs} | {a:,.0f} | {b:,.0f} | {b / a:.2f}× | {key} | "
                  f"{_fmt(full.get(key))} | {_fmt(half.get(key))} |", flush=True)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
