"""GAN benchmark (seed question 3): mode coverage on ring8/grid25 and fidelity on digits.

Our default recipe (``latentzoo fit gan --data ring8`` with no ``--set``) over several seeds,
beside the plain GAN with the same networks and the same step budget (minimax and
non-saturating losses, no R1, no packing, no EMA, constant learning rate), and the published
PacGAN anchors (Lin et al. 2018, Table 1, PacGAN4). No peer library ships a GAN (lightly and
pythae have none), so the anchors are the comparison; ratios are ours / anchor.

    python benchmarks/bench_gan.py                          # full: 5 seeds each
    python benchmarks/bench_gan.py --seeds 1 --baseline-seeds 1 --datasets ring8
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from latentzoo.data import load_dataset
from latentzoo.engine import fit
from latentzoo.gan.model import GAN

TARGETS = {"ring8": (8, 0.97, 0.02), "grid25": (25, 0.95, 0.02)}
ANCHORS = {"ring8": (7.8, 0.959, 0.07), "grid25": (24.8, 0.936, 0.04)}   # PacGAN4, Table 1
PLAIN = {"r1": 0.0, "gp": 0.0, "pack": 1, "ema": 0.0, "spectral_norm": False, "lr_schedule": "constant"}


def run(data: str, overrides: dict, seed: int, root: Path) -> dict:
    out = root / f"{data}_{overrides.get('loss', 'default')}_{len(overrides)}_{seed}"
    tic = time.perf_counter()
    metrics = fit("gan", data, out, overrides=overrides, seed=seed, progress=False, force=True)
    metrics["wall_seconds"] = time.perf_counter() - tic
    return metrics


def mean_sd(values):
    m = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return m, sd


def mixture_rows(data: str, name: str, results: list[dict]) -> str:
    modes, hq, rkl = (mean_sd([r[k] for r in results]) for k in ("modes_covered", "high_quality_fraction", "reverse_kl"))
    secs = max(r["train_seconds"] for r in results)
    t_modes, t_hq, t_rkl = TARGETS[data]
    a_modes, a_hq, a_rkl = ANCHORS[data]
    met = modes[0] >= t_modes and hq[0] >= t_hq and rkl[0] <= t_rkl and secs <= 180
    diag = sorted({f["name"] for r in results for f in r["diagnosis"] if f["detected"]})
    return (f"| {data} | {name} | {len(results)} | {modes[0]:.2f} ± {modes[1]:.2f} | {100 * hq[0]:.1f} ± {100 * hq[1]:.1f} "
            f"| {rkl[0]:.4f} ± {rkl[1]:.4f} | {modes[0] / a_modes:.3f} / {hq[0] / a_hq:.3f} / {rkl[0] / a_rkl:.3f} "
            f"| {secs:.0f} | {'yes' if met else 'no'} | {', '.join(diag) or '-'} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5, help="seeds of the default recipe")
    p.add_argument("--baseline-seeds", type=int, default=5, help="seeds of each plain baseline (0 = skip)")
    p.add_argument("--datasets", nargs="+", default=["ring8", "grid25"])
    p.add_argument("--digits", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (every run)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core CPU)")
    p.add_argument("--out", default=None, help="keep the run directories here (default: a temp dir)")
    p.add_argument("--json", default=None, help="also write all results to this JSON file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.out or tempfile.mkdtemp(prefix="bench_gan_"))
    everything = {}
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, threads {args.threads}\n")
    lines = [("| data | recipe | seeds | modes covered | high quality % | reverse KL | ratio to PacGAN4 (modes / HQ / rKL) "
              "| max train s | target met | problems diagnosed |"), "|" + "---|" * 10]
    for data in args.datasets:
        recipe = GAN.recipe(load_dataset(data))
        runs = {"default": ({}, args.seeds)}
        if args.baseline_seeds:
            runs["plain minimax"] = ({**PLAIN, "loss": "minimax"}, args.baseline_seeds)
            runs["plain nonsaturating"] = ({**PLAIN, "loss": "nonsaturating"}, args.baseline_seeds)
        for name, (overrides, n) in runs.items():
            if args.epochs:
                overrides = {**overrides, "epochs": args.epochs}
            results = [run(data, overrides, seed, root) for seed in range(n)]
            everything[f"{data}/{name}"] = results
            lines.append(mixture_rows(data, name, results))
            print(lines[-1], flush=True)
        a_modes, a_hq, a_rkl = ANCHORS[data]
        lines.append(f"| {data} | PacGAN4 (published) | 10 | {a_modes} | {100 * a_hq:.1f} | {a_rkl} | 1 / 1 / 1 | - | - | - |")
        lines.append(f"| {data} | recipe | | {json.dumps(recipe)} | | | | | | |")
    if args.digits:
        lines += ["", "| data | recipe | Fréchet distance | precision | recall | train s | feature space |", "|---|---|---|---|---|---|---|"]
        for name, overrides in (("default", {}), ("plain nonsaturating", {**PLAIN, "loss": "nonsaturating"})):
            r = run("digits", overrides, 0, root)
            everything[f"digits/{name}"] = [r]
            lines.append(f"| digits | {name} | {r['frechet_distance']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} "
                         f"| {r['train_seconds']:.0f} | {r['feature_space']} |")
            print(lines[-1], flush=True)
    print()
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1, default=str))


if __name__ == "__main__":
    main()
