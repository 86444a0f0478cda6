"""One rank of the lazy-data DDP test (tests/test_distributed.py), started by ``torchrun``.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/distributed_lazy_worker.py OUT DATA CASE

Trains case CASE of tests/distributed_cases.py on the file DATA read lazily (``LATENTZOO_STREAM=1``)
with ``devices=2, strategy="ddp"``, recording the file rows each rank's training batches read;
rank 0 saves the weights and every rank's rows to OUT.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distributed_cases import CASES, COMMON, state  # noqa: E402

from latentzoo.data.streaming import StreamingBatches  # noqa: E402

READ: list[np.ndarray] = []


def recording(batches):
    """StreamingBatches.batches, noting the file rows of every batch it reads."""
    def wrapper(self, start=0):
        for i, x in batches(self, start):
            b = self.batch_size
            READ.append(self.x.rows[self._indices[i * b:(i + 1) * b]])
            yield i, x
    return wrapper


def main() -> None:
    out, data, case = sys.argv[1:4]
    os.environ["LATENTZOO_STREAM"] = "1"
    StreamingBatches.batches = recording(StreamingBatches.batches)
    from latentzoo.engine import train_model
    from latentzoo.registry import model_class

    model_name, _, options = CASES[case]
    model = model_class(model_name)()
    model.evaluate = lambda data, history: {}
    model = train_model(model, data, None, overrides={**COMMON, **options}, seed=0, progress=False,
                        accelerator="cpu", devices=2, strategy="ddp")
    rows = torch.from_numpy(np.concatenate(READ))
    gathered = [torch.empty_like(rows) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, rows)
    if dist.get_rank() == 0:
        torch.save({"weights": state(model), "rows": gathered}, out)
    dist.barrier()


if __name__ == "__main__":
    main()
