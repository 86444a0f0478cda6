r"""NT-Xent forward + backward on CPU: latentzoo's ``nt_xent`` against lightly's ``NTXentLoss``
and against the bare 2N×2N similarity product with its backward, side by side in one process.

Run in the peer environment (lightly needs torchvision)::

    .peervenv/bin/python benchmarks/bench_ntxent.py                      # speed + memory
    .peervenv/bin/python benchmarks/bench_ntxent.py --sizes 256 512 --memory-n 0

Speed: the best of ``--repeats`` timed runs (after one warm-up) of each contender on the
same z_i, z_j (N, D), τ = 0.5. "bare" is S = Z Zᵀ for Z (2N, D) and ``S.backward(G)`` with a
fixed G: the three products any autograd implementation performs.

Memory: each contender runs alone in a fresh subprocess; the peak resident set size
(VmHWM of /proc/self/status, reset through /proc/self/clear_refs once the inputs exist)
minus the resident size just before the call is the extra peak of forward + backward.
A contender whose expected peak would not fit in the machine's available memory (lightly at
N = 16384 needs ≈ 17 GiB) is not run; its peak is then extrapolated ∝ N² from the largest N
at which it ran, and the table says so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch


def _lightly_loss(temperature):
    try:
        from lightly.loss import NTXentLoss
    except ImportError:
        return None
    return NTXentLoss(temperature=temperature)


def contenders(n: int, dim: int, temperature: float, names: list[str]):
    r"""Closures running forward + backward once for each contender on the same data."""
    from latentzoo.simclr.losses import nt_xent

    g = torch.Generator().manual_seed(0)
    z_i = torch.randn(n, dim, generator=g).requires_grad_()
    z_j = torch.randn(n, dim, generator=g).requires_grad_()
    runs = {}
    if "latentzoo" in names:
        def ours():
            z_i.grad = z_j.grad = None
            nt_xent(z_i, z_j, temperature).backward()
        runs["latentzoo"] = ours
    if "lightly" in names:
        loss = _lightly_loss(temperature)
        if loss is not None:
            def theirs():
                z_i.grad = z_j.grad = None
                loss(z_i, z_j).backward()
            runs["lightly"] = theirs
    if "bare" in names:
        z = torch.randn(2 * n, dim, generator=g).requires_grad_()
        grad_s = torch.randn(2 * n, 2 * n, generator=g)
        def bare():
            z.grad = None
            (z @ z.T).backward(grad_s)                    # S = Z Zᵀ, then ∂/∂Z: G Z + Gᵀ Z
        runs["bare"] = bare
    return runs, (z_i, z_j)


def best_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(name: str, n: int, dim: int, temperature: float, repeats: int) -> dict:
    r"""One contender alone in this process: extra peak RSS and best time."""
    runs, _ = contenders(n, dim, temperature, [name])
    fn = runs[name]
    before = _rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                                       # reset VmHWM to the current RSS
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    peak = _rss_kib("VmHWM")
    times = [first]
    for _ in range(repeats - 1):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"peak_extra_mib": (peak - before) / 1024, "seconds": min(times)}


def run_child(name, n, dim, temperature, repeats):
    cmd = [sys.executable, __file__, "--child", name, "--memory-n", str(n), "--dim", str(dim),
           "--temperature", str(temperature), "--memory-repeats", str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["killed"])[-1][:120]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-n", type=int, nargs="*", default=[4096, 8192, 16384],
                   help="N of the memory tests (none: skip)")
    p.add_argument("--memory-safety", type=float, default=0.6,
                   help="skip a contender whose expected peak exceeds this fraction of MemAvailable")
    p.add_argument("--memory-contenders", nargs="+", default=["latentzoo", "bare", "lightly"])
    p.add_argument("--memory-repeats", type=int, default=2)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.child:
        print(json.dumps(child(a.child, a.memory_n[0], a.dim, a.temperature, a.memory_repeats)))
        return

    print(f"torch {torch.__version__}, {a.threads} threads, D={a.dim}, tau={a.temperature}\n")
    print("| N | latentzoo (ms) | lightly (ms) | bare ZZᵀ fwd+bwd (ms) | lightly / latentzoo | latentzoo / bare |")
    print("|---|---|---|---|---|---|")
    for n in a.sizes:
        runs, (_z_i, _z_j) = contenders(n, a.dim, a.temperature, ["latentzoo", "lightly", "bare"])
        t = {k: best_time(fn, a.repeats) for k, fn in runs.items()}
        ours, bare, lt = t["latentzoo"], t["bare"], t.get("lightly")
        lightly_ms = "—" if lt is None else f"{1e3 * lt:.1f}"
        speedup = "—" if lt is None else f"{lt / ours:.2f}×"
        print(f"| {n} | {1e3 * ours:.1f} | {lightly_ms} | {1e3 * bare:.1f} | {speedup} | {ours / bare:.2f}× |")
    lightly_fit = None                                     # extra peak ≈ c · N², from the largest N measured
    for n in a.memory_n:
        print(f"\nN = {n}, D = {a.dim}: each contender alone in a fresh subprocess\n")
        print("| contender | extra peak RSS (MiB) | time (s) |")
        print("|---|---|---|")
        res = {}
        for name in a.memory_contenders:
            need = _expected_mib(name, n, a.dim, lightly_fit)
            free = _available_mib()
            if need > a.memory_safety * free:
                guess = f"≈ {need:.0f} extrapolated" if name == "lightly" and lightly_fit else "—"
                print(f"| {name} | not run: needs ≈ {need:.0f} MiB, {free:.0f} MiB available; {guess} | — |")
                continue
            res[name] = r = run_child(name, n, a.dim, a.temperature, a.memory_repeats)
            if "error" in r:
                print(f"| {name} | failed: {r['error']} | — |")
            else:
                print(f"| {name} | {r['peak_extra_mib']:.0f} | {r['seconds']:.2f} |")
                if name == "lightly":
                    lightly_fit = r["peak_extra_mib"] / n ** 2
            sys.stdout.flush()
        ours = res.get("latentzoo", {})
        if "seconds" in ours and "seconds" in res.get("bare", {}):
            print(f"\nlatentzoo / bare time: {ours['seconds'] / res['bare']['seconds']:.2f}×")
        lightly_peak = res.get("lightly", {}).get("peak_extra_mib")
        source = "measured"
        if lightly_peak is None and lightly_fit:
            lightly_peak, source = lightly_fit * n ** 2, "extrapolated ∝ N² from the largest N measured"
        if "peak_extra_mib" in ours and lightly_peak:
            print(f"latentzoo / lightly peak memory: {ours['peak_extra_mib'] / lightly_peak:.4f} (lightly {source})")


def _available_mib() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def _expected_mib(name: str, n: int, dim: int, lightly_fit: float | None) -> float:
    r"""A conservative guess of a contender's extra peak, to avoid starving a shared machine."""
    matrix = (2 * n) ** 2 * 4 / 2 ** 20                   # one float32 2N×2N matrix
    if name == "lightly":
        return lightly_fit * n ** 2 * 1.1 if lightly_fit else 5 * matrix
    if name == "bare":
        return 2.2 * matrix
    return 200 + 2 * 1024 * 2 * n * 4 / 2 ** 20

if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
