"""Data larger than memory: linear-ae for one epoch on a 4 GB .npy, read lazily, with bounded memory.

Writes float32 .npy files (rank-16 signal plus noise, generated chunk by chunk, so writing
them needs no more memory than a chunk) in a temporary folder, deleted afterwards, and trains
``linear-ae`` one epoch (the default recipe, ``epochs=1``) on each in a fresh process:

* ``stream-4GB``  : 1,000,000 × 1000 float32 (4.0 GB), ``LATENTZOO_STREAM=1``
* ``memory-200MB``: 50,000 × 1000 float32 (200 MB), the in-memory fast path (``LATENTZOO_STREAM=0``)
* ``stream-200MB``: the same file, streamed
* with ``--idx-rows N``: an MNIST-like IDX folder of N random 28×28 uint8 images (raw, memory-mapped
  when streamed), in memory and streamed (``memory-idx``, ``stream-idx``)
* with ``--image-rows N``: a folder of N random 28×28 grey PNGs in 10 class folders, decoded whole,
  and decoded batch by batch in ``--workers`` DataLoader workers (``memory-images``, ``stream-images``)

Memory is *anonymous* memory (heap, tensors; not the file-backed pages of the memory map,
which the kernel can drop): ``RssAnon`` of ``/proc/self/status`` sampled every 20 ms by a
thread, its maximum reported as ``peak_anon_mb``. ``VmHWM`` (peak resident set, file-backed
pages included) is reported beside it for comparison.

    python benchmarks/bench_streaming.py [--rows 1000000] [--dim 1000] [--small-rows 50000] [--no-big]
                                         [--idx-rows N] [--image-rows N] [--workers W]
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, os, sys, threading, time
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024  # kB → MiB
peak = [0.0]; done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], status("RssAnon")); time.sleep(0.02)
from latentzoo.engine import train_model
base = status("RssAnon")
threading.Thread(target=sample, daemon=True).start()
tic = time.perf_counter()
model = train_model("linear-ae", sys.argv[1], None, overrides={"epochs": 1}, progress=False)
wall = time.perf_counter() - tic
done.set(); peak[0] = max(peak[0], status("RssAnon"))
m = model.metrics
print(json.dumps({"peak_anon_mb": round(peak[0]), "anon_after_imports_mb": round(base),
                  "vm_hwm_mb": round(status("VmHWM")), "epoch_seconds": m["train_seconds"],
                  "samples_per_second": m["samples_per_second"], "eval_seconds": m["eval_seconds"],
                  "wall_seconds": round(wall, 1), "test_recon_mse": m["test_recon_mse"],
                  "pca_recon_mse": m["pca_recon_mse"]}))
"""


def write_npy(path: Path, rows: int, dim: int, chunk: int = 50_000, seed: int = 0) -> None:
    """A float32 (rows, dim) .npy of rank-16 signal plus noise, written chunk by chunk."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((16, dim)).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dim))
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        z = rng.standard_normal((n, 16), dtype=np.float32)
        out[start:start + n] = z @ basis + 0.1 * rng.standard_normal((n, dim), dtype=np.float32)
        out.flush()
    del out


def write_idx(folder: Path, rows: int, size: int = 28, seed: int = 0) -> Path:
    """An MNIST-like IDX folder (raw files) of ``rows`` random uint8 images and labels, written chunk by chunk."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    header = bytes([0, 0, 8, 3]) + struct.pack(">III", rows, size, size)
    with open(folder / "train-images-idx3-ubyte", "wb") as f:
        f.write(header)
        for start in range(0, rows, 50_000):
            f.write(rng.integers(0, 256, (min(50_000, rows - start), size, size), dtype=np.uint8).tobytes())
    labels = rng.integers(0, 10, rows, dtype=np.uint8)
    (folder / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", rows) + labels.tobytes())
    return folder


def write_images(folder: Path, rows: int, size: int = 28, seed: int = 0) -> Path:
    """``rows`` random grey PNGs of size × size in 10 class folders."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(rows):
        target = folder / f"class{i % 10}"
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(target / f"{i:08d}.png")
    return folder


def run(path: Path, stream: bool, workers: int | None = None) -> dict:
    env = {**os.environ, "LATENTZOO_STREAM": "1" if stream else "0"}
    if workers is not None:
        env["LATENTZOO_WORKERS"] = str(workers)
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=1000)
    parser.add_argument("--small-rows", type=int, default=50_000)
    parser.add_argument("--no-big", action="store_true", help="only the small file, in memory and streamed")
    parser.add_argument("--idx-rows", type=int, default=0, help="also an IDX folder of this many images")
    parser.add_argument("--image-rows", type=int, default=0, help="also an image folder of this many PNGs")
    parser.add_argument("--workers", type=int, default=None, help="LATENTZOO_WORKERS for the image folder")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.idx_rows:
            folder = write_idx(Path(tmp) / "idx", args.idx_rows)
            results["memory-idx"], results["stream-idx"] = run(folder, False), run(folder, True)
        if args.image_rows:
            folder = write_images(Path(tmp) / "images", args.image_rows)
            results["memory-images"] = run(folder, False)
            results["stream-images"] = run(folder, True, args.workers)
        small = Path(tmp) / "small.npy"
        write_npy(small, args.small_rows, args.dim)
        results["memory-small"] = run(small, stream=False)
        results["stream-small"] = run(small, stream=True)
        small.unlink()
        if args.no_big:
            print(json.dumps(results, indent=1))
            return
        big = Path(tmp) / "big.npy"
        write_npy(big, args.rows, args.dim)
        results["file_gb"] = round(big.stat().st_size / 1e9, 2)
        results["stream-big"] = run(big, stream=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
