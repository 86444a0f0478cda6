r"""Reading the user's files: latentzoo's guarded readers against the usual unguarded ways, in one process.

Run in the peer environment (torchvision)::

    .peervenv/bin/python benchmarks/bench_data_readers.py
    .peervenv/bin/python benchmarks/bench_data_readers.py --mnist-n 10000 --images 500

What is compared (same synthetic files, written once to a temporary folder):

* IDX, MNIST-sized (60 000 × 28 × 28 uint8 + labels), raw and ``.gz``: ``load_path`` (header
  checked against the file size, chunked bounded reads, x / 255 to float32) against
  torchvision's ``read_image_file``/``read_label_file`` (raw) or ``gzip.open(...).read()`` +
  ``np.frombuffer`` (gz), each followed by the same x / 255 conversion;
* CIFAR-10-sized (5 × 10 000 + 10 000 test rows of 3072 uint8): the restricted unpickler
  (opcode scan + allow-listed globals) against plain ``pickle.load(encoding="latin1")``, as
  torchvision's ``CIFAR10`` does, each followed by reshape + x / 255;
* a folder of 32 × 32 RGB PNGs in 10 classes: ``load_path`` (two passes, Pillow) against
  torchvision's ``ImageFolder`` with ``ToTensor`` stacked into one tensor;
* ``.npz`` (70 000 × 784 float32, stored): ``load_path`` against ``np.load`` + torch.from_numpy.

Each number is the best of ``--repeats`` runs; the ratio is latentzoo / peer (below 1: faster).
``load_path`` returns a validated, split ``Dataset``; the peers only read arrays, so the
column "of which Dataset() checks" (re-building the Dataset from the loaded tensors: the
NaN/inf scan of ``Dataset.__post_init__``) shows how much of the gap is validation, not reading.
"""

from __future__ import annotations

import argparse
import gzip
import pickle
import struct
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up (file cache, imports)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()


def write_files(root: Path, args) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    paths = {}
    images = rng.integers(0, 256, (args.mnist_n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, args.mnist_n, dtype=np.uint8)
    for name, gz in (("idx", False), ("idx_gz", True)):
        folder = root / name
        folder.mkdir()
        suffix = ".gz" if gz else ""
        for fname, array in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels),
                             ("t10k-images-idx3-ubyte", images[:10000]), ("t10k-labels-idx1-ubyte", labels[:10000])):
            data = idx_bytes(array)
            (folder / (fname + suffix)).write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
        paths[name] = folder
    cifar = root / "cifar"
    cifar.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"batch_label": name, "data": rng.integers(0, 256, (10000, 3072), dtype=np.uint8),
                 "labels": [int(v) for v in rng.integers(0, 10, 10000)],
                 "filenames": [f"img_{i}.png" for i in range(10000)]}
        (cifar / name).write_bytes(pickle.dumps(batch, protocol=2))
    paths["cifar"] = cifar
    from PIL import Image

    folder = root / "images"
    for i in range(args.images):
        path = folder / f"class{i % 10}" / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
    paths["images"] = folder
    np.savez(root / "arrays.npz", x=rng.random((args.npz_n, 784), dtype=np.float32),
             y=rng.integers(0, 10, args.npz_n))
    paths["npz"] = root / "arrays.npz"
    return paths


def peers(paths: dict[str, Path]) -> dict[str, callable]:
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.mnist import read_image_file, read_label_file
    from torchvision.transforms import ToTensor

    def idx_raw():
        folder = paths["idx"]
        for split in ("train", "t10k"):
            x = read_image_file(str(folder / f"{split}-images-idx3-ubyte")).float().div_(255).unsqueeze(1)
            y = read_label_file(str(folder / f"{split}-labels-idx1-ubyte")).long()
        return x, y

    def idx_gz():
        folder = paths["idx_gz"]
        for split in ("train", "t10k"):
            with gzip.open(folder / f"{split}-images-idx3-ubyte.gz") as f:
                raw = f.read()
            n, h, w = struct.unpack(">III", raw[4:16])
            x = torch.from_numpy(np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, h, w).astype(np.float32) / 255)
            with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz") as f:
                y = torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64))
        return x, y

    def cifar():
        xs, ys = [], []
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            with open(paths["cifar"] / name, "rb") as f:
                batch = pickle.load(f, encoding="latin1")
            xs.append(batch["data"])
            ys += batch["labels"]
        return torch.from_numpy(np.concatenate(xs).reshape(-1, 3, 32, 32).astype(np.float32) / 255), ys

    def images():
        dataset = ImageFolder(str(paths["images"]), transform=ToTensor())
        return torch.stack([dataset[i][0] for i in range(len(dataset))])

    def npz():
        with np.load(paths["npz"]) as f:
            return torch.from_numpy(f["x"]), torch.from_numpy(f["y"])

    return {"idx": idx_raw, "idx_gz": idx_gz, "cifar": cifar, "images": images, "npz": npz}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mnist-n", type=int, default=60000)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--npz-n", type=int, default=70000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from latentzoo.data import Dataset
    from latentzoo.data.files import load_path

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_files(Path(tmp), args)
        theirs = peers(paths)
        labels = {"idx": "IDX raw (MNIST size)", "idx_gz": "IDX .gz (MNIST size)",
                  "cifar": "CIFAR-10 python (6 batches)", "images": f"image folder ({args.images} PNG 32x32)",
                  "npz": f".npz ({args.npz_n} x 784 float32)"}
        peer_names = {"idx": "torchvision read_image_file", "idx_gz": "gzip.read + np.frombuffer",
                      "cifar": "pickle.load (torchvision)", "images": "torchvision ImageFolder",
                      "npz": "np.load"}
        print("| data | latentzoo load_path (s) | of which Dataset() checks (s) | peer | peer (s) | ratio |")
        print("|---|---:|---:|---|---:|---:|")
        for key, label in labels.items():
            ours = best_of(lambda key=key: load_path(paths[key], 0), args.repeats)
            d = load_path(paths[key], 0)
            checks = best_of(lambda d=d: Dataset(d.name, d.kind, d.x_train, d.x_test, d.y_train, d.y_test),
                             args.repeats)
            peer = best_of(theirs[key], args.repeats)
            print(f"| {label} | {ours:.3f} | {checks:.3f} | {peer_names[key]} | {peer:.3f} | {ours / peer:.2f} |")


if __name__ == "__main__":
    main()
