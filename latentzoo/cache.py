r"""A cache folder for results that depend only on the data (the raw-input probe baselines).

Entries are small JSON files named by a BLAKE2 hash of the arrays they were computed from and of
the name of the computation, so a changed dataset (or a changed computation) never reads a stale
entry. The folder is ``$LATENTZOO_CACHE``, else ``$XDG_CACHE_HOME/latentzoo``, else
``~/.cache/latentzoo`` — never a run directory. A cache that cannot be read or written is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch


def cache_dir() -> Path:
    if os.environ.get("LATENTZOO_CACHE"):
        return Path(os.environ["LATENTZOO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "latentzoo"


def data_key(name: str, tensors) -> str:
    """A hash of ``name`` and of the tensors' dtypes, shapes and bytes (None counts as absent)."""
    h = hashlib.blake2b(name.encode(), digest_size=20)
    for t in tensors:
        if t is None:
            h.update(b"none")
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).reshape(-1).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def cached(name: str, tensors, compute: Callable[[], dict]) -> dict:
    """``compute()`` once per (name, tensors): later calls read the stored JSON."""
    path = cache_dir() / f"{name}-{data_key(name, tensors)}.json"
    with contextlib.suppress(OSError, ValueError):
        if path.is_file() and not path.is_symlink():
            value = json.loads(path.read_text())
            if isinstance(value, dict):
                return value
    value = compute()
    with contextlib.suppress(OSError, ValueError):
        from latentzoo import io

        io.write_json(path, value)
    return value


def cached_tensors(name: str, tensors, compute: Callable[[], tuple[dict, dict]],
                   key: str | None = None) -> tuple[dict, dict]:
    """``compute()`` → (tensors by name, string metadata), once per (name, ``tensors``); stored as safetensors.
    ``key`` is ``data_key(name, tensors)`` when the caller has already computed it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open, save_file

    path = cache_dir() / f"{name}-{key or data_key(name, tensors)}.safetensors"
    with contextlib.suppress(OSError, ValueError, SafetensorError):
        if path.is_file() and not path.is_symlink():
            with safe_open(str(path), "pt") as f:
                meta = dict(f.metadata() or {})
            return load_file(str(path)), meta
    values, meta = compute()
    with contextlib.suppress(OSError, ValueError, SafetensorError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        save_file({k: v.detach().cpu().contiguous() for k, v in values.items()}, str(tmp), metadata=meta)
        os.replace(tmp, path)
    return values, meta
