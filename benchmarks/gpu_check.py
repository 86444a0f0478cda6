r"""Every family on CUDA in one command: speed, the metrics the CPU runs report, and checks.

    bash benchmarks/gpu_check.sh [--steps 300] [--out gpu_check_runs] [--families vae,gan]

Per family (its default data and recipe, ``--steps`` optimizer steps):

* runs on the CPU, on 1 GPU, on 1 GPU with ``bf16-mixed`` (the GAN also with ``16-mixed``: one
  gradient scaler per player) and, with 2 GPUs or more, on 2 GPUs (DDP) — each through the CLI,
  a run directory each — and prints samples/s and the family's headline metrics side by side;
* compares them. A mismatch is a metric outside the tolerance below; the script then exits 1.

Tolerances (a few hundred steps on different hardware do not give the same numbers bit for bit,
but they give the same model): fractions and accuracies (values in [0, 1]) within 0.05 absolute;
``modes_covered`` within 1; every other number within 15% relative (GAN runs: 35%, their
metrics after a few hundred steps move more from run to run). 2 GPUs against 1 GPU also runs the
exact check of tests/test_distributed.py: each case of tests/distributed_cases.py trained for one
epoch on 1 and on 2 GPUs must end with the same weights to 1e-4 relative.

Exit codes: 0 all checks passed, 1 a mismatch (listed at the end), 2 no CUDA device.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

# family → default data; every family's own recipe for that data, --steps steps
FAMILIES = {"linear-ae": "digits", "sparse-coding": "digits", "sparse-ae": "digits", "laplace-ae": "digits",
            "denoising-ae": "digits", "contractive-ae": "digits", "vae": "digits", "gan": "ring8",
            "simclr": "digits"}
FRACTION_TOL, RELATIVE_TOL, GAN_RELATIVE_TOL, TOLERANCE = 0.05, 0.15, 0.35, 1e-4


def cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def epochs_for(family: str, data: str, steps: int) -> int:
    """Epochs of the family's default recipe on ``data`` that make about ``steps`` optimizer steps."""
    from latentzoo.engine import resolve_run

    _, dataset, config, _ = resolve_run(family, data, overrides={}, config_file=None, seed=0, epochs=None)
    per_epoch = max(1, len(dataset.x_train) // config.batch_size)
    return max(1, math.ceil(steps / per_epoch))


def fit(family: str, data: str, epochs: int, out: Path, accelerator: str, devices: int = 1,
        precision: str = "32-true") -> dict:
    """One CLI run; its metrics.json (or ``{"error": ...}``)."""
    cmd = [sys.executable, "-m", "latentzoo.cli", "fit", family, "--data", data, "--epochs", str(epochs),
           "--out", str(out), "--force", "--quiet", "--accelerator", accelerator, "--devices", str(devices),
           "--precision", precision]
    if devices > 1:
        cmd += ["--strategy", "ddp"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]}
    return json.loads((out / "metrics.json").read_text())


def headline(family: str) -> list[str]:
    from latentzoo.registry import model_class

    return [m.key for m in model_class(family).METRICS if m.headline]


def close(name: str, a, b, gan: bool) -> bool:
    """Whether metric ``name`` agrees between two runs (see the module docstring)."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or isinstance(a, bool):
        return a == b
    if name == "modes_covered":
        return abs(a - b) <= 1
    if 0 <= a <= 1 and 0 <= b <= 1 and name != "reverse_kl":
        return abs(a - b) <= FRACTION_TOL
    return abs(a - b) <= (GAN_RELATIVE_TOL if gan else RELATIVE_TOL) * max(abs(a), abs(b), 1e-12)


def runs_of(family: str, gpus: int) -> dict[str, dict]:
    """The runs made for ``family``: label → (accelerator, devices, precision)."""
    runs = {"cpu": ("cpu", 1, "32-true"), "1 gpu": ("cuda", 1, "32-true"), "1 gpu bf16": ("cuda", 1, "bf16-mixed")}
    if family == "gan":
        runs["1 gpu fp16"] = ("cuda", 1, "16-mixed")
    if gpus >= 2:
        runs["2 gpus"] = ("cuda", 2, "32-true")
    return runs


def check_family(family: str, steps: int, out: Path, gpus: int, accelerator: str | None) -> list[str]:
    """Train ``family`` in every configuration, print its rows, return its mismatches."""
    data = FAMILIES[family]
    epochs = epochs_for(family, data, steps)
    keys, results, problems = headline(family), {}, []
    for label, (device, devices, precision) in runs_of(family, gpus).items():
        device = accelerator or device              # --accelerator cpu: the whole pipeline on the CPU
        m = fit(family, data, epochs, out / family / label.replace(" ", "-"), device, devices, precision)
        results[label] = m
        shown = "  ".join(f"{k}={m[k]:.4g}" if isinstance(m.get(k), float) else f"{k}={m.get(k)}"
                          for k in keys if k in m)
        print(f"| {family} | {label} | {epochs} | {m.get('samples_per_second', float('nan')):,.0f} | "
              f"{m.get('error', shown)} |", flush=True)
        if "error" in m:
            problems.append(f"{family} ({label}): {m['error']}")
    base = results.get("1 gpu", {})
    for label, m in results.items():
        against = results["cpu"] if label == "1 gpu" else base
        if label == "cpu" or "error" in m or "error" in against:
            continue
        for k in keys:
            if k in m and k in against and not close(k, m[k], against[k], family == "gan"):
                ref = "cpu" if label == "1 gpu" else "1 gpu"
                problems.append(f"{family}: {k} = {m[k]} on {label}, {against[k]} on {ref}")
    return problems


def exact_two_gpu_check(accelerator: str) -> list[str]:
    """tests/test_distributed.py's equivalence on GPUs: 1 vs 2 devices, one epoch per case, weights ≤ 1e-4."""
    import torch
    from distributed_cases import CASES, redundant_keys, relative_difference, state, train_case, without

    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.pt"
        proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                               "2", str(ROOT / "tests" / "distributed_worker.py"), str(path), *CASES,
                               "--accelerator", accelerator], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            return [f"2-device worker failed: {proc.stderr.strip().splitlines()[-1:]}"]
        two = torch.load(path, weights_only=True)
    for name in CASES:
        model = train_case(name, devices=1, accelerator=accelerator)
        skip = redundant_keys(model)
        d, key = relative_difference(without(two[name]["weights"], skip), without(state(model), skip))
        ok = d <= TOLERANCE and not two[name]["ranks_differ"]
        print(f"| {name} | 2 vs 1 device, 1 epoch | max relative weight difference {d:.1e} ({key}) | "
              f"{'ok' if ok else 'MISMATCH'} |", flush=True)
        if not ok:
            problems.append(f"{name}: 2 devices differ from 1 by {d:.2e} at {key} "
                            f"(ranks differ: {two[name]['ranks_differ'][:3]})")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per run (default 300)")
    parser.add_argument("--out", type=Path, default=Path("gpu_check_runs"), help="where the run directories go")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated subset")
    parser.add_argument("--accelerator", choices=["cpu"], default=None,
                        help="run every configuration on the CPU instead (to try this script without a GPU)")
    args = parser.parse_args()
    gpus = cuda_devices() if args.accelerator is None else 2
    if gpus == 0:
        import torch

        print(f"gpu_check: no CUDA device (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
              "run it on a machine with an NVIDIA GPU and a CUDA build of torch", file=sys.stderr)
        return 2
    print(f"{gpus} device(s); {args.steps} steps per run; runs in {args.out}\n")
    print("| family | run | epochs | samples/s | headline metrics |\n|---|---|---|---|---|")
    problems = []
    for family in [f for f in args.families.split(",") if f]:
        if family not in FAMILIES:
            print(f"gpu_check: unknown family {family!r} (known: {', '.join(FAMILIES)})", file=sys.stderr)
            return 2
        problems += check_family(family, args.steps, args.out, gpus, args.accelerator)
    if gpus >= 2:
        print("\n| case | check | result | |\n|---|---|---|---|")
        problems += exact_two_gpu_check(args.accelerator or "cuda")
    print("\n" + ("all checks passed" if not problems else "MISMATCHES:\n  " + "\n  ".join(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
