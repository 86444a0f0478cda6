r"""Data larger than memory: a ``.npy``, an IDX folder or an image folder read batch by batch, never whole.

A dataset whose float32 copy would take more than a quarter of :func:`memory_limit` (or any of
them when ``LATENTZOO_STREAM=1``; never when ``LATENTZOO_STREAM=0``) is read lazily: a ``.npy``
with ``np.memmap``, IDX images memory-mapped at their header's offset (a ``.gz`` one decompressed
once into a temporary file first: :func:`latentzoo.data.idx.map_idx`), an image folder decoded
file by file when a batch needs it (:class:`latentzoo.data.image_folder.ImageFiles`, in
``DataLoader`` workers: :func:`loader_workers`). Its train and test splits are :class:`LazyRows`:
the source plus an index array (the same permutation :func:`latentzoo.data.split_train_test`
draws), so splitting copies nothing. Indexing gathers the rows in file order (locality),
puts them back in the order asked for, and converts them exactly as the in-memory reader
does (float32, integer images x / 255), so a batch holds the same float32 values as the
in-memory path's and training gives the same weights. Labels are read whole (8 bytes an example).

Memory: pages of the map are file-backed (the kernel drops them under pressure); anonymous
memory holds one batch, or one chunk of :data:`CHUNK_BYTES` in the streaming passes
(:func:`column_mean`, :func:`covariance`, the finiteness check), whatever the file's size.

:class:`StreamingBatches` has the interface of :class:`latentzoo.data.batching.TensorBatches`
(one permutation per epoch from its own generator, rank r takes perm[r::world]), so under
data parallelism each rank reads only its own rows.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from latentzoo.data.file_checks import bad, describe_exception, memory_limit, open_regular
from latentzoo.errors import UserError, printable

#: Bytes of float32 values one chunk of a streaming pass holds (also its float64 working copy, ×2).
CHUNK_BYTES = 32 * 2**20
#: ``LATENTZOO_STREAM``: "1" streams every ``.npy``, IDX folder and image folder, "0" none; unset: those
#: whose float32 values take over a quarter of memory.
STREAM_ENV = "LATENTZOO_STREAM"
#: ``LATENTZOO_WORKERS``: DataLoader workers decoding an image folder's batches (0: the main process decodes).
WORKERS_ENV = "LATENTZOO_WORKERS"


def loader_workers() -> int:
    """Worker processes for decoding image batches: ``LATENTZOO_WORKERS``, else min(4, CPUs − 1)."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if not value:
        return min(4, max(0, (os.cpu_count() or 1) - 1))
    if not value.isdigit():
        raise UserError(f"{WORKERS_ENV} must be a whole number of worker processes (0 or more), got {value!r}")
    return int(value)


def wants_streaming(float32_bytes: int) -> bool:
    """Whether a file whose float32 values take ``float32_bytes`` is read lazily."""
    forced = os.environ.get(STREAM_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return float32_bytes > memory_limit()[0] // 4


class LazyRows:
    """Examples ``rows`` of a memory-mapped array, read as float32 tensors when indexed.

    Parameters
    ----------
    source : np.ndarray
        The whole file, memory-mapped, in its own dtype and shape.
    rows : np.ndarray
        int64 indices into ``source``: example i of this split is ``source[rows[i]]``.
    layout, scale : str, bool
        How a raw row becomes an example (see :func:`latentzoo.data.arrays.to_layout`), and
        whether integer images are scaled x / 255.
    bounds : (float, float)
        The smallest and largest float32 value of the whole file (NaN when one is not finite),
        or bounds known from the format (uint8 / 255 lies in [0, 1]).
    workers : int
        ``torch.utils.data.DataLoader`` worker processes that read the training batches (0: the
        main process reads them). Image folders decode in workers (:func:`loader_workers`).
    """

    is_lazy = True
    dtype = torch.float32
    device = torch.device("cpu")

    def __init__(self, source: np.ndarray, rows: np.ndarray, layout: str, scale: bool, bounds: tuple,
                 workers: int = 0):
        from latentzoo.data.arrays import to_layout

        self.source, self.rows, self.layout, self.scale, self.bounds = source, rows, layout, scale, bounds
        self.workers = workers
        example = to_layout(source[:1], layout).shape[1:]
        self.shape = torch.Size((len(rows), *example))

    def __len__(self) -> int:
        return len(self.rows)

    def __getattr__(self, name: str):
        """Tensor methods a model might call on the whole split (``x.std()``): one clear line, not a traceback."""
        if name.startswith("_"):
            raise AttributeError(name)
        raise LazyDataUnsupported(
            f"{printable(str(getattr(self.source, 'filename', 'the data')))} is read lazily (larger than memory), "
            f"and x_train.{name}() of the whole split was asked for; read it through "
            f"latentzoo.data.lazy_view.in_memory_view (or set {STREAM_ENV}=0 to load it whole)")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def aminmax(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tensor(self.bounds[0]), torch.tensor(self.bounds[1])

    def min(self) -> torch.Tensor:
        return self.aminmax()[0]

    def max(self) -> torch.Tensor:
        return self.aminmax()[1]

    def __getitem__(self, key) -> torch.Tensor:
        """``x[i]`` one example; ``x[a:b]``, ``x[indices]`` a float32 batch (a copy of those rows only)."""
        if isinstance(key, (int, np.integer)):
            return self.take(np.array([range(len(self))[key]]))[0]
        if isinstance(key, slice):
            return self.take(np.arange(*key.indices(len(self))))
        return self.take(np.asarray(key.cpu() if isinstance(key, torch.Tensor) else key, dtype=np.int64))

    def take(self, positions: np.ndarray) -> torch.Tensor:
        """Examples at ``positions`` of this split, read from the file in row order."""
        from latentzoo.data.arrays import to_layout

        file_rows = self.rows[positions]
        order = np.argsort(file_rows, kind="stable")
        raw = self.source[file_rows[order]]           # one gather, ascending: near-sequential reads
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        raw = to_layout(raw[back], self.layout)       # the order asked for
        return torch.from_numpy(np.ascontiguousarray(as_float32(raw, self.scale)))

    def chunk_rows(self) -> int:
        """Examples per chunk of a streaming pass."""
        return max(1, CHUNK_BYTES // (4 * math.prod(self.shape[1:])))

    def chunks(self):
        """The examples in order, as float32 tensors of :meth:`chunk_rows` examples."""
        step = self.chunk_rows()
        for start in range(0, len(self), step):
            yield self.take(np.arange(start, min(start + step, len(self))))


class LazyDataUnsupported(UserError, AttributeError):
    """A model asked lazy rows for something only a tensor in memory has."""


def as_float32(raw: np.ndarray, scale: bool) -> np.ndarray:
    """The values the in-memory reader would hold: x / 255 for integer images, else a float32 cast."""
    if scale:
        return np.divide(raw, np.float32(255), dtype=np.float32)  # x / 255 into [0, 1]
    return raw.astype(np.float32, copy=False)  # raw is already a copy of the rows (or a read-only view)


def chunks_of(x, rows: int | None = None):
    """Consecutive chunks of ``x`` (a tensor or :class:`LazyRows`) as float32 tensors."""
    if isinstance(x, LazyRows):
        yield from x.chunks()
        return
    step = rows or max(1, CHUNK_BYTES // (4 * max(1, math.prod(x.shape[1:]))))
    for start in range(0, x.shape[0], step):
        yield x[start:start + step]


def column_mean(x, device=None) -> torch.Tensor:
    """Mean of the rows of ``x`` (n, ...) flattened, summed chunk by chunk in float64, as float32."""
    total = None
    for chunk in chunks_of(x):
        part = chunk.to(device).reshape(chunk.shape[0], -1).double().sum(0)
        total = part if total is None else total + part
    return (total / x.shape[0]).float()


def covariance(x, mean: torch.Tensor, device=None) -> torch.Tensor:
    r"""Σ = (1/(n − 1)) Σᵢ (xᵢ − μ)(xᵢ − μ)ᵀ in float64, one chunk at a time (X_cᵀ X_c summed)."""
    mu = mean.double().to(device)
    d = mu.shape[0]
    total = torch.zeros(d, d, dtype=torch.float64, device=mu.device)
    for chunk in chunks_of(x):
        c = chunk.to(device).reshape(chunk.shape[0], -1).double() - mu
        total += c.T @ c
    return total / max(1, x.shape[0] - 1)


class StreamingBatches:
    """Shuffled mini-batches of a :class:`LazyRows` for one rank, read from the file as they are needed.

    Same permutation, same strides and same batches as
    :class:`~latentzoo.data.batching.TensorBatches` with the same seed; each batch is
    gathered from the file and moved to ``device``.
    """

    def __init__(self, x: LazyRows, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 device=None):
        self.x, self.device = x, device
        self.rank, self.world_size = rank, world_size
        per_rank = x.shape[0] // world_size
        self.batch_size = max(1, min(batch_size, per_rank))
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch_start_state = self.generator.get_state()
        self._indices: np.ndarray | None = None

    def __len__(self) -> int:
        """Batches per epoch (the last incomplete batch is dropped)."""
        return (self.x.shape[0] // self.world_size) // self.batch_size

    def start_epoch(self, generator_state: torch.Tensor | None = None) -> None:
        """Draw this epoch's permutation (from ``generator_state`` when replaying an epoch)."""
        if generator_state is not None:
            self.generator.set_state(generator_state)
        self.epoch_start_state = self.generator.get_state()
        perm = torch.randperm(self.x.shape[0], generator=self.generator)
        b, world = self.batch_size, self.world_size          # as TensorBatches: rank r takes block r of batch i
        used = perm[:len(self) * b * world].reshape(len(self), world, b)
        self._indices = used[:, self.rank].reshape(-1).numpy()

    def batches(self, start: int = 0):
        """Yield (batch_index, batch) from ``start`` to the end of the epoch."""
        assert self._indices is not None, "call start_epoch() first"
        b = self.batch_size
        wanted = [self._indices[i * b:(i + 1) * b] for i in range(start, len(self))]
        if self.x.workers and wanted:   # decoded in worker processes, handed back in order
            from torch.utils.data import DataLoader

            reader = DataLoader(_Reader(self.x), sampler=wanted, batch_size=None,
                                num_workers=min(self.x.workers, len(wanted)))
            for i, batch in enumerate(reader, start):
                yield i, batch.to(self.device)
            return
        for i, positions in enumerate(wanted, start):
            yield i, self.x.take(positions).to(self.device)


class _Reader:
    """A map-style dataset whose item ``positions`` is the batch of those examples (for DataLoader workers)."""

    def __init__(self, x: LazyRows):
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, positions) -> torch.Tensor:
        return self.x.take(np.asarray(positions, dtype=np.int64))


def open_npy_lazily(path: Path, seed: int):
    """The :class:`~latentzoo.data.Dataset` of a ``.npy`` read lazily, or None when it is better read whole."""
    from latentzoo.data.arrays import _Refused, array_layout, npy_header

    try:
        with open_regular(path) as stream:
            shape, fortran, dtype, offset = npy_header(stream, os.fstat(stream.fileno()).st_size)
    except _Refused as error:
        raise bad(path, str(error)) from None
    except UserError:  # a refusal of ours (a ValueError too) passes through unchanged
        raise
    except (OSError, ValueError, EOFError) as error:
        raise bad(path, f"is not a valid .npy file ({describe_exception(error)})") from None
    count = math.prod(shape)
    if fortran or len(shape) < 2 or not count or not wants_streaming(4 * count):
        return None  # the in-memory reader handles it (and reports what is wrong with it)
    kind, layout = array_layout(path, "x", shape)
    source = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
    scale = kind == "image" and dtype.kind in "iu"
    bounds = _checked_bounds(path, source, kind, scale)
    return lazy_dataset(path, kind, {"train": (source, None)}, layout, scale, bounds, seed)


def lazy_dataset(path, kind: str, parts: dict, layout: str, scale: bool, bounds: tuple, seed: int,
                 workers: int = 0):
    """A :class:`~latentzoo.data.Dataset` of :class:`LazyRows`, split as ``make_dataset`` splits in memory.

    ``parts`` maps "train" (and "test", when the data has its own test split) to (source, labels or
    None). Without a test split the rows are split by :func:`latentzoo.data.split_indices` from
    ``seed``: the same examples, labels and order as the in-memory reader's split.
    """
    from latentzoo.data.dataset import Dataset, split_indices

    source, y = parts["train"]
    if "test" in parts:
        rows = {split: (src, np.arange(len(src), dtype=np.int64), labels) for split, (src, labels) in parts.items()}
    else:
        if len(source) < 2:
            raise bad(path, f"needs at least 2 examples to split into train and test, got {len(source)}")
        train, test = split_indices(len(source), seed)
        rows = {split: (source, idx.numpy().astype(np.int64), None if y is None else y[idx])
                for split, idx in (("train", train), ("test", test))}
    for split, (_, r, _) in rows.items():
        if len(r) == 0:
            raise bad(path, f"the {split} split has no examples")
    if (rows["train"][2] is None) != (rows["test"][2] is None):
        raise bad(path, "labels are given for only one of the train and test splits")
    x = {split: LazyRows(src, r, layout, scale, bounds, workers) for split, (src, r, _) in rows.items()}
    y = {split: None if labels is None else labels.long() for split, (_, _, labels) in rows.items()}
    return Dataset(str(path), kind, x["train"], x["test"], y["train"], y["test"])


def _checked_bounds(path: Path, source: np.ndarray, kind: str, scale: bool) -> tuple[float, float]:
    """(min, max) of the float32 values, from one chunked pass; the in-memory reader's checks on the way."""
    lo, hi = math.inf, -math.inf
    row_bytes = source.itemsize * math.prod(source.shape[1:])
    step = max(1, CHUNK_BYTES // max(1, row_bytes))
    for start in range(0, source.shape[0], step):
        raw = np.asarray(source[start:start + step])
        if raw.dtype.kind == "f" and not np.isfinite(raw).all():
            raise bad(path, "array 'x' contains NaN or infinite values")
        if raw.dtype.kind == "f" and raw.dtype.itemsize > 4 and np.abs(raw).max() > np.finfo(np.float32).max:
            raise bad(path, "array 'x' has values beyond the float32 range it is trained in")
        if scale and (raw.min() < 0 or raw.max() > 255):
            raise bad(path, f"integer image array 'x' has values {raw.min()}..{raw.max()}; expected 0..255")
        values = as_float32(raw, scale)
        lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
    if kind == "image" and not scale and (lo < 0 or hi > 1):
        raise bad(path, f"float image array 'x' has values {lo:g}..{hi:g}; expected [0, 1] "
                        "(or save uint8 values 0..255)")
    return lo, hi
