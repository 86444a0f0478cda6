"""One rank of a data-parallel test run, started by ``torchrun`` from tests/test_distributed.py.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/distributed_worker.py OUT CASE... \
        [--precision P] [--accelerator A] [--unsharded]

Every rank trains each case with ``devices=2, strategy="ddp"`` (``accelerator="cpu"`` unless
``--accelerator`` says otherwise), checks that every rank ends with the same weights, and rank 0 saves the weights of every case to OUT (``torch.save``) for the test to
compare with one process. ``--unsharded`` replaces :func:`latentzoo.distributed.sharded`,
``gather`` and ``local`` by the mistake they exist to prevent — each rank drawing the random
numbers of its own batch only, and augmenting its own batch only — so that the test can show
the comparison would catch it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distributed_cases import state, train_case  # noqa: E402

from latentzoo import distributed  # noqa: E402


def same_on_every_rank(weights: dict) -> list[str]:
    """Keys whose tensor differs between this rank and rank 0 (bitwise)."""
    differing = []
    for k, v in weights.items():
        mine = v.contiguous()
        theirs = mine.clone()
        dist.broadcast(theirs, src=0)
        if not torch.equal(mine, theirs):
            differing.append(k)
    return differing


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("cases", nargs="+")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--unsharded", action="store_true", help="draw each rank's numbers locally (a bug)")
    args = parser.parse_args()
    if args.unsharded:   # every rank on its own batch only: its own draws, its own augmentations
        distributed.sharded = lambda draw, n, dim=0: draw(n)
        distributed.gather = distributed.local = lambda x, dim=0: x
    results = {}
    for name in args.cases:
        model = train_case(name, strategy="ddp", precision=args.precision, devices=2,
                           accelerator=args.accelerator)
        weights = state(model)
        results[name] = {"weights": weights, "ranks_differ": same_on_every_rank(weights)}
    if dist.get_rank() == 0:
        torch.save(results, args.out)
    dist.barrier()


if __name__ == "__main__":
    main()
