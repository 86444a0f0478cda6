r"""The user's own data: pick the reader for a file or folder and run it.

``load_path(path, seed)`` recognises, in this order:

* a ``.npz`` or ``.npy`` file                       → :mod:`latentzoo.data.arrays`
* a folder of MNIST-format IDX files (raw or .gz)   → :mod:`latentzoo.data.idx`
* a CIFAR-10/100 python-format folder               → :mod:`latentzoo.data.cifar`
* a folder with one sub-folder of images per class  → :mod:`latentzoo.data.image_folder`

Anything else is refused. Files are untrusted: every reader checks sizes against the
bytes present before allocating, runs no code from the file (no pickle but the
restricted one for CIFAR), keeps paths inside the dataset folder, and reports every
problem as one :class:`~latentzoo.errors.UserError` line naming the file. When no test
split is given, it is drawn from the seed (:func:`latentzoo.data.split_train_test`).
"""

from __future__ import annotations

from pathlib import Path

from latentzoo.data.dataset import Dataset
from latentzoo.data.file_checks import bad, memory_limit, quiet

ARRAY_SUFFIXES = (".npz", ".npy")
FORMATS = ("a .npz or .npy file", "a folder of MNIST IDX files", "a CIFAR-10/100 python folder",
           "a folder with one sub-folder of images per class")


def load_path(path: Path, seed: int) -> Dataset:
    r"""Read the dataset at ``path`` (file or folder) in the format its names reveal.

    Library warnings are silenced while reading (the readers report every problem as one
    line), and running out of memory is a :class:`UserError` naming the size and the limit.
    """
    path = Path(path)
    try:
        with quiet():
            return _dispatch(path, seed)
    except MemoryError as error:
        detail = f"{error}; " if str(error) else ""
        raise bad(path, f"ran out of memory while loading it ({detail}readers stop at {memory_limit()[1]}); "
                        f"use a smaller dataset or free memory") from None


def _dispatch(path: Path, seed: int) -> Dataset:
    from latentzoo.data.arrays import load_array_file
    from latentzoo.data.cifar import cifar_layout, load_cifar_folder
    from latentzoo.data.idx import idx_files, load_idx_folder
    from latentzoo.data.image_folder import is_image_folder, load_image_folder
    from latentzoo.data.streaming import open_npy_lazily

    if not path.exists():
        raise bad(path, "no such file or folder")
    if path.is_file():
        if path.suffix.lower() in ARRAY_SUFFIXES:
            lazy = open_npy_lazily(path, seed) if path.suffix.lower() == ".npy" else None
            return lazy if lazy is not None else load_array_file(path, seed)  # lazy: larger than memory allows
        raise bad(path, f"unknown file format '{path.suffix or path.name}' (expected {'; '.join(FORMATS)})")
    if not path.is_dir():
        raise bad(path, "is neither a regular file nor a folder")
    try:
        if idx_files(path):
            return load_idx_folder(path, seed)
        if cifar_layout(path) is not None:
            return load_cifar_folder(path, seed)
        if is_image_folder(path):
            return load_image_folder(path, seed)
    except OSError as error:  # e.g. a folder we may not list
        raise bad(path, f"cannot be read ({error.strerror or error})") from None
    raise bad(path, f"matches no dataset format (expected {'; '.join(FORMATS)})")
