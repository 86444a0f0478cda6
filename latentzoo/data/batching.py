"""Fast batching of in-memory tensors: one random permutation per epoch, batches by indexing.

No per-item ``__getitem__`` and no collate function: the whole split lives on the training
device and a batch is ``x[indices]``. The permutation comes from the loader's own
``torch.Generator``; saving its state at the start of an epoch is enough to replay the
epoch exactly (used to resume a run in the middle of an epoch).

Under data parallelism every rank draws the same permutation. The i-th global batch is the
slice ``perm[i·B : (i+1)·B]`` that one process would take, and rank r takes its r-th
contiguous block of b = B/W examples: the ranks' i-th batches, concatenated in rank order,
are exactly the one-process i-th batch in its order (global position p = r·b + j for row j
of rank r; see :mod:`latentzoo.distributed`).
"""

from __future__ import annotations

import torch


class TensorBatches:
    """Shuffled mini-batches of ``x`` for one rank.

    Parameters
    ----------
    x : Tensor
        (n, ...) examples, already on the training device.
    batch_size : int
        Examples per batch on this rank (global batch / world size).
    seed : int
        Seeds the permutation generator.
    rank, world_size : int
        This rank's position among the data-parallel ranks.
    """

    def __init__(self, x: torch.Tensor, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        self.x = x
        self.rank, self.world_size = rank, world_size
        per_rank = x.shape[0] // world_size
        self.batch_size = max(1, min(batch_size, per_rank))
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch_start_state = self.generator.get_state()
        self._indices: torch.Tensor | None = None

    def __len__(self) -> int:
        """Batches per epoch (the last incomplete batch is dropped)."""
        return (self.x.shape[0] // self.world_size) // self.batch_size

    def start_epoch(self, generator_state: torch.Tensor | None = None) -> None:
        """Draw this epoch's permutation (from ``generator_state`` when replaying an epoch)."""
        if generator_state is not None:
            self.generator.set_state(generator_state)
        self.epoch_start_state = self.generator.get_state()
        perm = torch.randperm(self.x.shape[0], generator=self.generator)
        b, world = self.batch_size, self.world_size
        used = perm[:len(self) * b * world].reshape(len(self), world, b)   # [batch i, rank r, row j]
        self._indices = used[:, self.rank].reshape(-1).to(self.x.device)   # this rank's blocks, batch after batch

    def batches(self, start: int = 0):
        """Yield (batch_index, batch) from ``start`` to the end of the epoch."""
        assert self._indices is not None, "call start_epoch() first"
        b = self.batch_size
        for i in range(start, len(self)):
            yield i, self.x[self._indices[i * b:(i + 1) * b]]
