"""Progressive growing (the seed's fourth GAN problem, slow training at high resolution): time to
reach a Fréchet distance with and without growing, on 32×32 images.

Fashion-MNIST (IDX files, read with latentzoo's reader), a subset padded from 28×28 to 32×32.
Three runs with the same options and step budget:

* ``dcgan``: the default convolutional networks (``progressive=false``);
* ``fixed``: the progressive networks trained at 32×32 from the start (``progressive_stages=0``),
  the ablation of growing alone;
* ``progressive``: the same networks grown 4→8→16→32, ``--stages`` epochs per resolution.

After every epoch the Fréchet distance of 512 samples (the trained generator) to 512 test images
is measured in the space of 4×4-averaged pixels (:func:`latentzoo.gan.progressive.pooled_pixels`,
64 features); the clock is the training time only (data + discriminator + generator steps, as the
engine times them), not the evaluation. The table gives, per run, the time per image at each
resolution and the training time to first reach each Fréchet-distance target.

    python benchmarks/bench_progressive.py --idx PATH_TO_FASHION_MNIST_FOLDER
    python benchmarks/bench_progressive.py --idx DIR --train 256 --epochs 6 --stages 1 --hidden 8
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from latentzoo.data import Dataset
from latentzoo.data.idx import idx_files, read_idx
from latentzoo.engine import train_model
from latentzoo.gan import metrics
from latentzoo.gan.model import GAN
from latentzoo.gan.progressive import pooled_pixels


def fashion32(folder: Path, n_train: int, n_test: int) -> Dataset:
    files = {(prefix, what): p for (prefix, what), p in idx_files(folder).items()}
    images = {prefix: p for (prefix, what), p in files.items() if what == "images"}
    train = next(p for prefix, p in images.items() if "train" in prefix)
    test = next(p for prefix, p in images.items() if "t10k" in prefix or "test" in prefix)
    load = lambda p, n: F.pad(torch.from_numpy(read_idx(p)[:n].copy()).float().div(255).unsqueeze(1), (2, 2, 2, 2))  # noqa: E731
    return Dataset("fashion-mnist-32", "image", load(train, n_train), load(test, n_test))


def run(data: Dataset, options: dict, seed: int) -> dict:
    real = pooled_pixels(data.x_test[:512])
    original = GAN.on_epoch_end

    def on_epoch_end(self, epoch, d):
        record = original(self, epoch, d)
        fake = self.generator(self.noise(512, torch.Generator().manual_seed(0))).detach().cpu()
        record["bench_fd"] = metrics.frechet_distance(real.double(), pooled_pixels(fake).double())
        return record

    GAN.on_epoch_end = on_epoch_end
    try:
        torch.manual_seed(seed)
        tic = time.perf_counter()
        model = train_model("gan", data, None, overrides=options, seed=seed, progress=False)
        wall = time.perf_counter() - tic
    finally:
        GAN.on_epoch_end = original
    clock, curve, per_res = 0.0, [], {}
    for h in model.history:
        seconds = h["time_data"] + h["time_discriminator"] + h["time_generator"]
        clock += seconds
        curve.append((clock, h["bench_fd"], h["resolution"]))
        s, n = per_res.get(h["resolution"], (0.0, 0))
        per_res[h["resolution"]] = (s + seconds, n + h["timed_samples"])
    slow = model.metrics["diagnosis"][3]
    return {"curve": curve, "per_image": {r: s / n for r, (s, n) in per_res.items()}, "wall": wall,
            "slow_training": slow}


def first_time(curve, target):
    return next((t for t, fd, _ in curve if fd <= target), None)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--idx", type=Path, required=True, help="folder of Fashion-MNIST IDX files")
    p.add_argument("--train", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--stages", type=int, default=2)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--targets", type=float, nargs="*", default=None)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: on a shared machine more are slower)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    data = fashion32(a.idx, a.train, 512)
    base = {**GAN.recipe(data), "epochs": a.epochs, "hidden": a.hidden, "latent_dim": 32, "batch_size": 64,
            "lr": 1e-3, "ema": 0.0, "r1": 1.0, "feature_extractor": "latentzoo.gan.progressive:pooled_pixels"}
    arms = {"dcgan": {}, "fixed": {"progressive": True, "progressive_stages": 0},
            "progressive": {"progressive": True, "progressive_stages": a.stages}}
    results = {name: run(data, {**base, **extra}, a.seed) for name, extra in arms.items()}
    finals = [r["curve"][-1][1] for r in results.values()]
    targets = a.targets or sorted({round(max(finals) * f, 2) for f in (2.0, 1.5, 1.1)}, reverse=True)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {a.train} train images, {a.epochs} epochs, hidden {a.hidden}")
    print("| run | s/image per resolution | final FD | " + " | ".join(f"time to FD ≤ {t:g} (s)" for t in targets)
          + " | train s | slow_training detected |")
    print("|---|---|---|" + "---|" * len(targets) + "---|---|")
    for name, r in results.items():
        per = ", ".join(f"{k}: {v * 1e3:.2f} ms" for k, v in sorted(r["per_image"].items()))
        times = [first_time(r["curve"], t) for t in targets]
        print(f"| {name} | {per} | {r['curve'][-1][1]:.3f} | "
              + " | ".join("-" if t is None else f"{t:.0f}" for t in times)
              + f" | {r['curve'][-1][0]:.0f} | {r['slow_training']['detected']} |")
    for name, r in results.items():
        print(name, "curve (train s, FD, resolution):",
              ", ".join(f"({t:.0f}, {fd:.2f}, {res})" for t, fd, res in r["curve"]))
        print(name, "slow_training:", r["slow_training"]["evidence"])
    if a.json:
        a.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
