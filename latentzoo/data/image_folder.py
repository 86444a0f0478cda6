r"""A folder of images with one sub-folder per class, read with Pillow.

    my_data/
      cat/  001.png  002.png ...
      dog/  001.png  ...

The label of an image is the index of its class folder among the class folders sorted
by name. If the folder holds exactly ``train/`` and ``test/``, each laid out as above,
those are the splits (test classes must also be train classes); otherwise the split is
drawn from the seed. Images are png, jpg/jpeg, bmp, gif (first frame) or webp; they
must all have the same width and height. The dataset is grey, (n, 1, H, W), when every
image is single-channel, else RGB, (n, 3, H, W) (grey images are then repeated over the
three channels, an alpha channel is dropped); 8-bit values are scaled x / 255 and
16-bit ones x / 65535 into [0, 1].

Untrusted-input rules: files and folders whose names start with ``.`` are ignored; a
file with another extension, a file Pillow cannot decode, an empty class folder and
an image of a different size are refused, each naming the file; a symbolic link is
followed only when it leads to a file inside the dataset folder (links to folders are
refused, so no loops); Pillow may use only the five decoders named above, and its
decompression-bomb warning (more than ``Image.MAX_IMAGE_PIXELS`` pixels) is an error.
Files are read twice — sizes and modes first, pixels second — and each is closed
before the next is opened. A folder whose pixels would not fit in memory
(:func:`latentzoo.data.streaming.wants_streaming`) keeps only its file names and modes after
the first pass; the pixels of each batch are decoded when it is needed (:class:`ImageFiles`).
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np
import torch

from latentzoo.data.dataset import Dataset
from latentzoo.data.file_checks import (
    bad,
    check_allocation,
    check_inside,
    describe_exception,
    make_dataset,
    open_regular,
    visible_entries,
)
from latentzoo.data.streaming import wants_streaming
from latentzoo.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
PILLOW_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
_EIGHT_BIT_GREY = ("1", "L", "LA")
_SIXTEEN_BIT_GREY = ("I", "I;16", "I;16L", "I;16B", "I;16N")


def is_image_folder(folder: Path) -> bool:
    r"""True when ``folder`` has at least one visible sub-folder (then it is read as class folders)."""
    return any(e.is_dir() for e in visible_entries(folder))


def _class_folders(folder: Path, root: Path) -> list[tuple[str, Path]]:
    classes = []
    for entry in visible_entries(folder):
        path = Path(entry.path)
        if entry.is_symlink():
            check_inside(root, path)
            raise bad(path, "is a symbolic link to a folder; class folders must be real folders")
        if not entry.is_dir(follow_symlinks=False):
            raise bad(path, "is a file where only class sub-folders are expected")
        classes.append((entry.name, path))
    if not classes:
        raise bad(folder, "is empty: expected one sub-folder of images per class")
    return classes


def _image_files(class_folder: Path, root: Path) -> list[Path]:
    r"""Image files under one class folder (sub-folders included), sorted; refuses anything else."""
    files, pending = [], [class_folder]
    while pending:
        folder = pending.pop()
        for entry in visible_entries(folder):
            path = Path(entry.path)
            if entry.is_symlink():
                target = check_inside(root, path)
                if target.is_dir():
                    raise bad(path, "is a symbolic link to a folder; such links are not followed")
            elif entry.is_dir(follow_symlinks=False):
                pending.append(path)
                continue
            if not path.is_file():
                raise bad(path, "is not a regular file")
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                raise bad(path, f"is not an image file (expected one of {', '.join(IMAGE_EXTENSIONS)})")
            files.append(path)
    if not files:
        raise bad(class_folder, "is an empty class folder: it holds no images")
    return sorted(files)


@contextlib.contextmanager
def _open(path: Path):
    r"""The image at ``path``, opened only when it is a regular file (FIFOs and devices are refused)."""
    from PIL import Image

    with open_regular(path) as file, Image.open(file, formats=PILLOW_FORMATS) as image:
        yield image


def _probe(path: Path) -> tuple[tuple[int, int], str]:
    r"""(width, height) and Pillow mode of an image, reading only its header."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _open(path) as image:
                return image.size, image.mode
    except UserError:
        raise
    except Exception as error:  # noqa: BLE001 - a decoder failing on an untrusted file
        raise bad(path, f"cannot be read as an image ({describe_exception(error)})") from None


def _pixels(path: Path, channels: int, mode: str) -> np.ndarray:
    r"""Decoded image as float32 (channels, H, W) in [0, 1]: x / 255, or x / 65535 for 16-bit grey."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # e.g. palette transparency notes
            with _open(path) as image:
                if mode in _SIXTEEN_BIT_GREY:
                    values = np.asarray(image, dtype=np.float64)
                    if values.size and (values.min() < 0 or values.max() > 65535):
                        raise bad(path, "16-bit grey values outside 0..65535")
                    grey = values / 65535.0  # x / 65535
                    array = np.broadcast_to(grey, (channels, *grey.shape))
                elif channels == 1:
                    array = np.asarray(image.convert("L"), dtype=np.float32)[None] / 255.0  # x / 255
                else:
                    array = np.asarray(image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0
    except UserError:
        raise
    except Exception as error:  # noqa: BLE001 - a decoder failing on an untrusted file
        raise bad(path, f"cannot be decoded ({describe_exception(error)})") from None
    return array


def _read_split(folder: Path, root: Path, class_names: list[str] | None):
    r"""(files, labels, class names) of one split; ``class_names`` fixes the label order when given."""
    classes = _class_folders(folder, root)
    names = [name for name, _ in classes]
    if class_names is not None:
        unknown = [n for n in names if n not in class_names]
        if unknown:
            raise bad(folder / unknown[0], "is a test class that has no train folder")
    else:
        class_names = names
    files, labels = [], []
    for name, path in classes:
        found = _image_files(path, root)
        files += found
        labels += [class_names.index(name)] * len(found)
    return files, labels, class_names


def load_image_folder(folder: Path, seed: int) -> Dataset:
    r"""Read a folder of class sub-folders of images (see the module docstring)."""
    root = folder.resolve()
    entries = [e.name for e in visible_entries(folder)]
    if sorted(n.lower() for n in entries) == ["test", "train"]:
        train_dir = folder / next(n for n in entries if n.lower() == "train")
        test_dir = folder / next(n for n in entries if n.lower() == "test")
        train_files, train_labels, names = _read_split(train_dir, root, None)
        test_files, test_labels, _ = _read_split(test_dir, root, names)
    else:
        train_files, train_labels, _ = _read_split(folder, root, None)
        test_files, test_labels = [], []
    files = train_files + test_files

    # Pass 1: headers only — one size for all, grey when every image is single-channel.
    first_size, first_file, modes = None, None, []
    for path in files:
        size, mode = _probe(path)
        if first_size is None:
            first_size, first_file = size, path
        elif size != first_size:
            raise bad(path, f"is {size[0]}x{size[1]} pixels but {first_file} is "
                            f"{first_size[0]}x{first_size[1]}; all images must have the same size")
        modes.append(mode)
    channels = 1 if all(m in _EIGHT_BIT_GREY + _SIXTEEN_BIT_GREY for m in modes) else 3
    width, height = first_size
    y = torch.tensor(train_labels + test_labels, dtype=torch.int64)
    n_train = len(train_files)
    if wants_streaming(4 * len(files) * channels * height * width):
        return _lazy_image_folder(folder, files, modes, y, n_train, (channels, height, width), seed)
    check_allocation(folder, len(files) * channels * height * width, "the images")

    # Pass 2: pixels, one file open at a time, into one preallocated array.
    x = torch.from_numpy(ImageFiles(folder, files, modes, (channels, height, width))[:])
    if test_files:
        return make_dataset(folder, "image", x[:n_train], x[n_train:], y[:n_train], y[n_train:], seed)
    return make_dataset(folder, "image", x, None, y, None, seed)


class ImageFiles:
    """Images decoded on demand: ``images[rows]`` is float32 (len(rows), C, H, W), each file by :func:`_pixels`.

    The in-memory reader decodes the whole folder through it (``images[:]``); a folder larger than
    memory keeps only the file names and modes, and its batches are decoded as they are needed
    (in ``DataLoader`` workers: :class:`latentzoo.data.streaming.StreamingBatches`).
    """

    def __init__(self, folder: Path, files: list[Path], modes: list[str], example: tuple[int, int, int]):
        self.filename, self.files, self.modes = str(folder), files, modes
        self.shape = (len(files), *example)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key) -> np.ndarray:
        rows = np.arange(len(self.files))[key] if isinstance(key, slice) else np.asarray(key, dtype=np.int64)
        out = np.empty((len(rows), *self.shape[1:]), dtype=np.float32)
        for i, row in enumerate(rows):   # one file open at a time
            path = self.files[row]
            array = _pixels(path, self.shape[1], self.modes[row])
            if array.shape != out.shape[1:]:
                raise bad(path, f"decoded to shape {array.shape}, expected {out.shape[1:]}")
            out[i] = array
        return out


def _lazy_image_folder(folder: Path, files, modes, y, n_train: int, example, seed: int) -> Dataset:
    """The folder decoded batch by batch (values x / 255 or x / 65535 lie in [0, 1])."""
    from latentzoo.data.streaming import lazy_dataset, loader_workers

    if n_train < len(files):
        parts = {"train": (ImageFiles(folder, files[:n_train], modes[:n_train], example), y[:n_train]),
                 "test": (ImageFiles(folder, files[n_train:], modes[n_train:], example), y[n_train:])}
    else:
        parts = {"train": (ImageFiles(folder, files, modes, example), y)}
    return lazy_dataset(folder, "image", parts, layout="nchw", scale=False, bounds=(0.0, 1.0), seed=seed,
                        workers=loader_workers())
