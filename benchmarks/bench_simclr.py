r"""SimCLR with its default recipe on MNIST-1D and digits: probes on h against the raw inputs.

    .venv/bin/python benchmarks/bench_simclr.py                     # both data sets
    .venv/bin/python benchmarks/bench_simclr.py --data mnist1d --epochs 20

Every run uses ``latentzoo.engine.fit`` with no labels in pre-training; the probes use the
labels of the training split only, and are scored on the test split. Reference points for
MNIST-1D (Greydanus 2020): SimCLR 82.1% linear probe, raw-input linear model 32%,
supervised CNN 94%. Target: ``linear_probe_acc`` ≥ 90% within 10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from latentzoo.engine import fit

ROWS = [("linear probe", "linear_probe_acc"), ("weighted k-NN", "knn_acc"),
        ("linear, 10% labels", "linear_probe_acc_10pct"), ("linear, 1% labels", "linear_probe_acc_1pct")]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", default=["mnist1d", "digits"])
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="keep the run directories here")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    root = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="bench_simclr_"))
    print(f"torch {torch.__version__}, {a.threads} threads; runs in {root}\n")
    results = {}
    for name in a.data:
        tic = time.perf_counter()
        m = fit("simclr", name, root / name, epochs=a.epochs, seed=a.seed, progress=False, force=True)
        m["wall_seconds"] = time.perf_counter() - tic
        results[name] = m
    print("| data | epochs | train s | total s | probe | on h = f(x) | on raw input |")
    print("|---|---|---|---|---|---|---|")
    for name, m in results.items():
        for i, (label, key) in enumerate(ROWS):
            raw = m.get(key.replace("_acc", "_acc_raw"))
            lead = f"| {name} | {m['epochs']} | {m['train_seconds']:.0f} | {m['wall_seconds']:.0f} |" if i == 0 \
                else "| | | | |"
            print(f"{lead} {label} | {m[key]:.1%} | {'—' if raw is None else f'{raw:.1%}'} |")
    if "mnist1d" in results:
        m = results["mnist1d"]
        ok = m["linear_probe_acc"] >= 0.90 and m["wall_seconds"] <= 600
        print(f"\nmnist1d target (linear probe >= 90% within 600 s): {'met' if ok else 'not met'} "
              f"({m['linear_probe_acc']:.1%} in {m['wall_seconds']:.0f} s; published SimCLR 82.1%)")


if __name__ == "__main__":
    main()
