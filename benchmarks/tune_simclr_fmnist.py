r"""The measurements behind SimCLR's 28×28 recipe: variants of augmentation, precision and width of h,
each trained for the same number of epochs on Fashion-MNIST and scored by the run's own linear probe and
k-NN on h (issue 12, item 2).

::

    python benchmarks/tune_simclr_fmnist.py [--data DIR] [--epochs 4] [--variants former,jitter,...] [--jobs 2]

Each variant runs ``lz.fit("simclr", data, epochs=E, ...)`` in its own process with one torch thread;
``--jobs`` of them run at once (two on a 2-core machine: the quality of a variant does not depend on
its speed at a fixed number of epochs, and samples/s are comparable only between variants that ran side
by side). Printed: one markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DEBIAN_FMNIST = "/usr/share/datasets/fashion-mnist"
ROOT = Path(__file__).resolve().parent.parent
FORMER = {"noise": 0.1, "erase": 0.25, "jitter": 0.0, "latent_dim": 128}    # the recipe before this tuning
VARIANTS = {
    "former": ({**FORMER}, "32-true", "crop 0.3, flip, blur, noise 0.1, erasing 0.25; h ∈ R^128; float32"),
    "jitter": ({"noise": 0.0, "erase": 0.0, "jitter": 0.8, "latent_dim": 128}, "32-true",
               "brightness/contrast jitter 0.8 instead of noise and erasing; h ∈ R^128; float32"),
    "jitter-bf16": ({"latent_dim": 128}, "auto", "the same, in precision auto (bf16-mixed on an AMX CPU)"),
    "recipe": ({}, "auto", "the same with h ∈ R^512 (the recipe of 2026-12-01)"),
    "head-bn": ({"head_norm": True}, "auto", "the same with batch norm in the head, g(h) = W₂ ReLU(BN(W₁h))"),
    "tau-0.5": ({"temperature": 0.5}, "auto", "the recipe with τ = 0.5"),
    "crop-0.2": ({"crop_min": 0.2}, "auto", "the recipe with crops down to 0.2 of the area"),
    "lr-4e-3": ({"lr": 4e-3}, "auto", "the recipe with Adam's lr 4e-3"),
    "blur-13": ({"blur_kernel": 13}, "auto", "the recipe with a 13×13 blur kernel (±3σ at σ = 2, as PIL's blur in lightly)"),
    "blur-7": ({"blur_kernel": 7}, "auto", "the recipe with a 7×7 blur kernel"),
    "batch-128": ({"batch_size": 128}, "auto", "the recipe with batches of 128 (twice the steps per epoch)"),
    "h-bn-relu": ({"h_bn_relu": True}, "auto", "the recipe with h = ReLU(BN(f₀(x))) (the recipe of 2026-12-07)"),
    "h-bn": ({"h_tail": ["bn"]}, "auto", "h = BN(f₀(x)): batch norm on the CNN's linear output, no ReLU"),
    "h-relu": ({"h_tail": ["relu"]}, "auto", "h = ReLU(f₀(x)): ReLU on the CNN's linear output, no batch norm"),
}
# Every variant above was measured with h the CNN's linear output (h_bn_relu off, the recipe before
# 2026-12-07), and runs so unless it says otherwise.
BEFORE_H_BN_RELU = {"h_bn_relu": False}

RECIPE_OF_2026_12_01 = ("former", "jitter", "jitter-bf16", "recipe")    # the variants behind the recipe's choice

CELL = r"""
import json, sys, time, torch
torch.set_num_threads(1)
import latentzoo as lz
from latentzoo.data import load_dataset
from latentzoo.engine.runtime import resolve_precision
data = load_dataset(sys.argv[1], 0)
options, precision, epochs = json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
h_tail = options.pop("h_tail", None)
if h_tail is not None:     # the recipe's CNN f₀ with layers after it, passed as the user's backbone
    from latentzoo.nets import backbone_for
    torch.manual_seed(0)
    layers = {"bn": lambda: torch.nn.BatchNorm1d(512), "relu": torch.nn.ReLU}
    options["backbone"] = torch.nn.Sequential(backbone_for("cnn", data.kind, tuple(data.shape), 512, 64, 2),
                                              *(layers[k]() for k in h_tail))
tic = time.perf_counter()
m = lz.fit("simclr", data, progress=False, seed=0, epochs=epochs, precision=precision, **options)
keys = ("linear_probe_acc", "knn_acc", "train_seconds", "samples_per_second", "eval_seconds")
out = {k: m.metrics.get(k) for k in keys}
out.update(whole=time.perf_counter() - tic, precision=resolve_precision(precision, m, m.config, data, "cpu"))
print("RESULT " + json.dumps(out), flush=True)
"""


def run(data: str, name: str, epochs: int) -> dict:
    options, precision, _ = VARIANTS[name]
    options = {**BEFORE_H_BN_RELU, **options}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", CELL, data, json.dumps(options), precision, str(epochs)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = [t for t in done.stderr.splitlines() if t.strip()][-1:] or ["no output"]
    return {"error": tail[0][:200]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEBIAN_FMNIST)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--variants", default=",".join(RECIPE_OF_2026_12_01),
                        help=f"comma-separated, among {', '.join(VARIANTS)} (default: the table of 2026-12-01)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    names = [v for v in args.variants.split(",") if v]
    if set(names) - set(VARIANTS):
        parser.error(f"variants must be among {', '.join(VARIANTS)}")
    if not Path(args.data).is_dir():
        sys.exit(f"error: --data {args.data} is not a folder; `apt-get install dataset-fashion-mnist` or pass --data")
    with ThreadPoolExecutor(args.jobs) as pool:
        results = dict(zip(names, pool.map(lambda n: run(str(Path(args.data).resolve()), n, args.epochs), names)))
    print(f"\n| variant | what changes | precision | linear probe on h | k-NN on h | samples/s (1 thread, "
          f"{args.jobs} at once) | evaluation, s |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        if "error" in r:
            print(f"| {name} | {VARIANTS[name][2]} | — | failed: {r['error']} | | | |")
            continue
        print(f"| {name} | {VARIANTS[name][2]} | {r['precision']} | {r['linear_probe_acc']:.3f} | {r['knn_acc']:.3f} "
              f"| {r['samples_per_second']:,.0f} | {r['eval_seconds']:.0f} |")
    print(f"\nCommand: `python benchmarks/tune_simclr_fmnist.py {' '.join(sys.argv[1:] if argv is None else argv)}`")


if __name__ == "__main__":
    main()
