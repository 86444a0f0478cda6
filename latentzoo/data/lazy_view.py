r"""What a model sees of data read lazily, besides its training batches: a capped in-memory view.

Training reads every example of a :class:`~latentzoo.data.streaming.LazyRows` split batch by
batch (:class:`~latentzoo.data.streaming.StreamingBatches`). Everything else a model does with
the data — start-of-training statistics (data means, scales, initial atoms), per-epoch measures,
test metrics, probes, IWAE, Fréchet distance, k-NN, figures — runs on :func:`in_memory_view`:
the same dataset with each split cut to its first :func:`capped_rows` examples, read once into
memory. The splits are random permutations of the file (:func:`latentzoo.data.split_indices`),
so these are uniform random subsamples of each split.

The cap: at most :data:`VIEW_ROWS` examples and :data:`VIEW_BYTES` bytes of float32 values per
split (so at most 2 × 256 MiB for train and test together, whatever the file's size). Below the
cap the view holds every example, and a model computes exactly what it computes on the file
read whole. Above it, metrics and statistics are those of the subsample; the metrics then say
so (``eval_examples``, ``eval_of``), and a warning is logged. :class:`~latentzoo.autoencoders.
linear.LinearAutoencoder` (``streams = True``) needs no view: its mean, PCA and test error come
from chunked passes over every row.
"""

from __future__ import annotations

import logging
import math

from latentzoo.data.dataset import Dataset, is_lazy

#: The most examples of one split a view holds (k-NN and probes are quadratic or iterative in n).
VIEW_ROWS = 100_000
#: The most bytes of float32 values of one split a view holds.
VIEW_BYTES = 256 * 2**20

_log = logging.getLogger(__name__)


def capped_rows(x) -> int:
    """How many of the first examples of ``x`` a view holds: all of them up to the cap."""
    row_bytes = 4 * max(1, math.prod(x.shape[1:]))
    return max(1, min(len(x), VIEW_ROWS, VIEW_BYTES // row_bytes))


def in_memory_view(data):
    """``data`` itself when it is held in memory, else its capped in-memory view (built once, kept on ``data``)."""
    if not (is_lazy(data.x_train) or is_lazy(data.x_test)):
        return data
    cached = getattr(data, "_in_memory_view", None)
    if cached is not None:
        return cached
    splits = {}
    for xs, ys in (("x_train", "y_train"), ("x_test", "y_test")):
        x, y = getattr(data, xs), getattr(data, ys)
        n = capped_rows(x)
        splits[xs], splits[ys] = x[:n], (None if y is None else y[:n])
    sizes = {"train": (len(splits["x_train"]), len(data.x_train)), "test": (len(splits["x_test"]), len(data.x_test))}
    for split, (kept, total) in sizes.items():
        if kept < total:
            _log.warning("%s: evaluation and statistics use %d of the %d %s examples (a random subsample; "
                         "the file is read lazily and the view is capped at %d examples / %d MiB)",
                         data.name, kept, total, split, VIEW_ROWS, VIEW_BYTES // 2**20)
    view = Dataset(data.name, data.kind, splits["x_train"], splits["x_test"], splits["y_train"], splits["y_test"],
                   {**data.extras, "view_of": sizes})
    data._in_memory_view = view
    return view


def model_view(model, data):
    """The data a model's statistics, metrics and figures read: ``data`` itself for a model that streams."""
    return data if getattr(model, "streams", False) else in_memory_view(data)


def subsample_metrics(data) -> dict:
    """``eval_examples``/``eval_of`` when the test metrics come from a capped subsample, else nothing."""
    sizes = data.extras.get("view_of") if hasattr(data, "extras") else None
    if not sizes or sizes["test"][0] == sizes["test"][1]:
        return {}
    return {"eval_examples": sizes["test"][0], "eval_of": sizes["test"][1]}
