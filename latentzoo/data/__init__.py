"""The data layer: built-in offline datasets, readers for the user's own files, batching.

Every dataset is a :class:`Dataset`: float32 tensors already split into train and
test, optional integer labels, and a ``kind`` that tells models which networks fit:

``vector``  (n, d) features;            ``image``  (n, C, H, W) in [0, 1];
``signal``  (n, L) one-dimensional;     ``points`` (n, 2) points in the plane.

``load_dataset(name_or_path, seed)`` is the one entry point: a built-in name
(:data:`BUILTIN`) or a path to a file or folder in one of the supported formats.
"""

from __future__ import annotations

import os
from pathlib import Path

from latentzoo.data.dataset import KINDS, MAX_CLASSES, Dataset, is_lazy, split_indices, split_train_test
from latentzoo.errors import UserError, printable

__all__ = ["KINDS", "MAX_CLASSES", "Dataset", "dataset_names", "is_lazy", "load_dataset", "split_indices",
           "split_train_test"]


def load_dataset(name_or_path: str, seed: int = 0) -> Dataset:
    """Load a built-in dataset by name, or the user's data from a file or folder."""
    from latentzoo.data.builtin import BUILTIN
    from latentzoo.data.files import load_path

    known = ", ".join(BUILTIN)
    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
    if not isinstance(name_or_path, str):  # e.g. a list from a tampered config.yaml
        raise UserError(f"the dataset must be a name or a path, got {type(name_or_path).__name__}")
    if not name_or_path.strip():  # Path("") is the current folder: never load it by accident
        raise UserError(f"no dataset given: the name or path is empty (built-in datasets: {known})")
    if name_or_path in BUILTIN:
        return BUILTIN[name_or_path](seed)
    path = Path(name_or_path)
    try:
        path.stat()
    except FileNotFoundError:
        raise UserError(f"no such dataset or path: {name_or_path} (built-in datasets: {known})") from None
    except UserError:  # a refusal of ours (a ValueError too) passes through unchanged
        raise
    except (OSError, ValueError) as error:  # too long a name, a NUL byte, no permission, a loop
        reason = getattr(error, "strerror", None) or str(error)
        raise UserError(f"{printable(name_or_path)}: cannot be read ({reason})") from None
    return load_path(path, seed)


def dataset_names() -> dict[str, str]:
    """Built-in dataset names with a one-line description each."""
    from latentzoo.data.builtin import DESCRIPTIONS

    return dict(DESCRIPTIONS)
