r"""Every family on Fashion-MNIST against its peer, side by side in one run, one markdown table (issue 12).

::

    python benchmarks/bench_fmnist.py [--data DIR] [--budgets 5,15,30] [--families simclr,vae,gan,linear,sparse]
                                      [--peer-python .peervenv/bin/python] [--quick]

``--data`` is a folder of Fashion-MNIST IDX files (default: where Debian's ``dataset-fashion-mnist``
package puts them). Each cell runs in a fresh process (``fmnist_workers.py``): latentzoo, scikit-learn
and the plain PyTorch loops with this interpreter, lightly and pythae with ``--peer-python`` (the peers'
environment; build it with ``python3 -m venv .peervenv && .peervenv/bin/pip install -r
benchmarks/requirements-peers.txt``). The repository root is put first on the workers' ``PYTHONPATH``,
so both sides import this checkout's latentzoo. Cells run one after the other, never in parallel.

Rows (each says what its timer includes):

* SimCLR vs lightly — same backbone (latentzoo's), batch size, optimizer and learning rate (our recipe's;
  lightly's loop keeps it constant, as its examples do), same time budget; linear-probe accuracy on h by
  ``latentzoo.probes.linear_probe_acc`` for both, at each budget.
* VAE vs pythae — same encoder/decoder (latentzoo's), same epochs, batch size and learning rate; training
  samples/s and test NLL by latentzoo's IWAE estimator (same k, same noise) on both trained models.
* GAN vs the PyTorch DCGAN example's loop — same networks, same budget; Fréchet distance in the feature
  space of latentzoo's GAN evaluation, by the same function for both.
* linear-ae vs ``sklearn.decomposition.PCA``; sparse coding vs ``MiniBatchDictionaryLearning`` at equal time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

DEBIAN_FMNIST = "/usr/share/datasets/fashion-mnist"   # apt-get install dataset-fashion-mnist
ROOT = Path(__file__).resolve().parent.parent
WORKERS = Path(__file__).resolve().parent / "fmnist_workers.py"
FAMILIES = ("simclr", "vae", "gan", "linear", "sparse")
QUICK = {"n_train": 2000, "n_test": 500}              # --quick: a few thousand examples, seconds per cell
FAILURES: list[str] = []                              # one line per failed cell, printed under the table


def worker(python: str, name: str, spec: dict, timeout: float) -> dict:
    """Run one cell in a fresh ``python`` process; its result, or ``{"error": ...}`` in one line."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    try:
        done = subprocess.run([python, str(WORKERS), name, json.dumps(spec)], capture_output=True, text=True,
                              env=env, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return failed(f"{name}: no result within {timeout:.0f} s")
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = [t for t in done.stderr.strip().splitlines() if t.strip()][-1:] or ["no output"]
    return failed(f"{name} failed (exit {done.returncode}): {tail[0][:300]}")


def failed(reason: str) -> dict:
    FAILURES.append(reason)
    return {"error": reason}


def peer_python(path: str) -> str | None:
    """The peers' interpreter, or None (with one line saying so) when it is missing."""
    p = Path(path) if Path(path).is_absolute() else ROOT / path
    if p.is_file() and os.access(p, os.X_OK):
        return str(p)
    print(f"note: the peers' interpreter {path} is missing; the lightly and pythae columns are skipped. Build it "
          "with `python3 -m venv .peervenv && .peervenv/bin/pip install -r benchmarks/requirements-peers.txt` "
          "or pass --peer-python", file=sys.stderr)
    return None


def fmt(value, spec: str = ".3f") -> str:
    return "—" if value is None else format(value, spec)


def side(result: dict, key: str, spec: str = ".3f") -> str:
    """A figure of a cell; "—" when the cell failed (its reason is listed under the table)."""
    return "—" if "error" in result else fmt(result.get(key), spec)


def simclr_rows(args, base: dict, peer: str | None) -> list[str]:
    rows = []
    for minutes in args.budgets:
        spec = {**base, "seconds": minutes * 60, "lightly_aug": args.lightly_aug}
        limit = minutes * 60 * 3 + 900
        ours = worker(sys.executable, "simclr_ours", spec, limit)
        theirs = worker(peer, "simclr_lightly", spec, limit) if peer else failed("lightly: no peers' environment")
        rows.append(f"| SimCLR, {minutes:.3g} min | linear-probe accuracy on h (latentzoo.probes, both) | "
                    f"{side(ours, 'probe')} ({side(ours, 'steps', 'd')} steps, {ours.get('precision', '—')}) | "
                    f"lightly 1.6 ({args.lightly_aug} augmentations): {side(theirs, 'probe')} "
                    f"({side(theirs, 'steps', 'd')} steps) | training loop (augmentations included); ours "
                    f"whole call {side(ours, 'whole_seconds', '.0f')} s | "
                    f"ours {side(ours, 'samples_per_second', ',.0f')} vs {side(theirs, 'samples_per_second', ',.0f')}"
                    " samples/s |")
    return rows


def vae_rows(args, base: dict, peer: str | None) -> list[str]:
    spec = {**base, "epochs": args.vae_epochs, "k": args.iwae_k}
    limit = 3600 * 2
    ours = worker(sys.executable, "vae_ours", spec, limit)
    theirs = worker(peer, "vae_pythae", spec, limit) if peer else failed("pythae: no peers' environment")
    ratio = (ours["samples_per_second"] / theirs["samples_per_second"]
             if "error" not in ours and "error" not in theirs else None)
    return [f"| VAE, {args.vae_epochs} epochs | training samples/s | {side(ours, 'samples_per_second', ',.0f')} "
            f"({ours.get('precision', '—')}) | "
            f"pythae 0.1.2: {side(theirs, 'samples_per_second', ',.0f')} | training loop only (ours: engine; "
            f"pythae: BaseTrainer.train_step) | ratio {fmt(ratio, '.2f')}× |",
            f"| VAE, {args.vae_epochs} epochs | test NLL, IWAE k={args.iwae_k} (latentzoo's estimator, both), nats | "
            f"{side(ours, 'nll')} | {side(theirs, 'nll')} | — | whole call: ours {side(ours, 'whole_seconds', '.0f')}"
            f" s, pythae pipeline {side(theirs, 'whole_seconds', '.0f')} s |"]


def gan_rows(args, base: dict) -> list[str]:
    rows = []
    for minutes in args.gan_budgets:
        r = worker(sys.executable, "gan", {**base, "seconds": minutes * 60}, minutes * 60 * 3 + 1800)
        ours, plain = r.get("ours", r), r.get("plain", r)
        ratio = ours["fd"] / plain["fd"] if "error" not in r and plain["fd"] else None
        rows.append(f"| GAN, {minutes:.3g} min | Fréchet distance, latentzoo's classifier features (same function) | "
                    f"{side(ours, 'fd')} ({side(ours, 'steps', 'd')} steps) | plain DCGAN loop: {side(plain, 'fd')} "
                    f"({side(plain, 'steps', 'd')} steps) | training loop only | ratio {fmt(ratio, '.2f')}"
                    + (f"; grids {Path(ours['grid']).name}, {Path(plain['grid']).name}" if ours.get("grid") else "")
                    + " |")
    return rows


def classic_rows(args, base: dict, families) -> list[str]:
    rows = []
    if "linear" in families:
        quick = {"overrides": {"epochs": 30}} if args.quick else {}     # the recipe stops on convergence
        r = worker(sys.executable, "linear", {**base, "k": args.pca_k, **quick}, 3600)
        ours, pca = r.get("ours", r), r.get("pca", r)
        gap = (ours["test_error"] / pca["test_error"] - 1) * 100 if "error" not in r else None
        rows.append(f"| linear-ae, k={args.pca_k} | test error ‖x − x̂‖² per example | {side(ours, 'test_error')} "
                    f"in {side(ours, 'train_seconds', '.1f')} s (whole call {side(ours, 'whole_seconds', '.1f')} s) | "
                    f"PCA: {side(pca, 'test_error')} in {side(pca, 'whole_seconds', '.1f')} s | ours: training loop "
                    f"and whole call; PCA: the whole fit | gap {fmt(gap, '+.2f')}% |")
    if "sparse" in families:
        for seconds in args.sparse_seconds:
            r = worker(sys.executable, "sparse", {**base, "seconds": seconds, "lam": args.lam}, seconds * 3 + 1800)
            ours, sk = r.get("ours", r), r.get("sklearn", r)
            rows.append(f"| sparse coding, {seconds:g} s, λ={args.lam:g} | test ½‖x − uD‖² + λ‖u‖₁ per example | "
                        f"{side(ours, 'objective')} ({side(ours, 'steps', 'd')} batches) | MiniBatchDictionaryLearning:"
                        f" {side(sk, 'objective')} ({side(sk, 'steps', 'd')} batches) | learning loop only, equal "
                        "time | lower is better |")
    return rows


def minutes_list(text: str) -> list[float]:
    return [float(v) for v in str(text).split(",") if v.strip()]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEBIAN_FMNIST, help="folder of Fashion-MNIST IDX files (default: %(default)s)")
    parser.add_argument("--budgets", type=minutes_list, default=[5.0, 15.0, 30.0], help="SimCLR budgets, minutes")
    parser.add_argument("--gan-budgets", type=minutes_list, default=[15.0], help="GAN budgets, minutes")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated subset of %(default)s")
    parser.add_argument("--peer-python", default=".peervenv/bin/python", help="interpreter with lightly and pythae")
    parser.add_argument("--lightly-aug", choices=("lightly", "kornia"), default="lightly",
                        help="lightly's SimCLRTransform on PIL images, or latentzoo's kornia pipeline on tensors")
    parser.add_argument("--vae-epochs", type=int, default=5)
    parser.add_argument("--iwae-k", type=int, default=100)
    parser.add_argument("--pca-k", type=int, default=10, help="latent size of linear-ae and PCA (recipe's: 10)")
    parser.add_argument("--lam", type=float, default=1.0, help="λ of ½‖x − uD‖² + λ‖u‖₁ (scikit-learn's alpha)")
    parser.add_argument("--sparse-seconds", type=minutes_list, default=[60.0], help="equal-time budgets, seconds")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of every worker (default torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figures", help="folder for the GAN sample grids (8×8 samples of each side)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2,000 train / 500 test examples, 10-second budgets, 1 VAE epoch")
    args = parser.parse_args(argv)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        parser.error(f"unknown families {', '.join(unknown)}; choose from {', '.join(FAMILIES)}")
    args.families = families
    if args.quick:
        args.budgets, args.gan_budgets, args.sparse_seconds = [1 / 6], [1 / 6], [5.0]
        args.vae_epochs, args.iwae_k = 1, 10
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if not Path(args.data).is_dir():
        sys.exit(f"error: --data {args.data} is not a folder; install Fashion-MNIST with "
                 "`apt-get install dataset-fashion-mnist` or pass --data DIR")
    base = {"data": str(Path(args.data).resolve()), "seed": args.seed, "threads": args.threads,
            "figures": str(Path(args.figures).resolve()) if args.figures else None,
            **(QUICK if args.quick else {})}
    peer = peer_python(args.peer_python) if {"simclr", "vae"} & set(args.families) else None
    tic, rows = time.perf_counter(), []
    if "simclr" in args.families:
        rows += simclr_rows(args, base, peer)
    if "vae" in args.families:
        rows += vae_rows(args, base, peer)
    if "gan" in args.families:
        rows += gan_rows(args, base)
    rows += classic_rows(args, base, args.families)
    print(f"\n### Fashion-MNIST: latentzoo against the peers ({date.today()}, {platform.machine()}, "
          f"{os.cpu_count()} CPU cores, {platform.python_version()}{', --quick' if args.quick else ''}; "
          f"{time.perf_counter() - tic:.0f} s in all)\n")
    print("| row | measure | latentzoo | peer | what the timer includes | note |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(row)
    for reason in FAILURES:
        print(f"\n— {reason}")
    print(f"\nCommand: `python benchmarks/bench_fmnist.py {' '.join(sys.argv[1:] if argv is None else argv)}`")


if __name__ == "__main__":
    main()
