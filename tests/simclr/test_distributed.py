r"""Negatives gathered across processes: two gloo ranks on CPU equal one process on the whole batch."""

import socket
import sys
from pathlib import Path

import torch
import torch.multiprocessing as mp

from latentzoo.simclr.losses import nt_xent

sys.path.insert(0, str(Path(__file__).parent))   # spawned ranks import the worker by name
import simclr_dist_worker as worker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gathered_loss_and_gradients_equal_one_process_on_the_global_batch(tmp_path):
    world = len(worker.SIZES)
    mp.spawn(worker.run_rank, args=(world, _free_port(), str(tmp_path)), nprocs=world, join=True)
    results = {rank: torch.load(tmp_path / f"rank{rank}.pt") for rank in range(world)}

    x_i, x_j, layer = worker.data()
    z_i, z_j = layer(x_i), layer(x_j)
    z_i.retain_grad()
    loss = nt_xent(z_i, z_j, worker.TEMPERATURE)
    loss.backward()
    grads = torch.cat([layer.weight.grad.flatten(), layer.bias.grad])
    for rank in range(world):
        rank_loss, rank_grads, rank_z_grad = results[rank]
        assert abs(rank_loss - loss.item()) < 1e-6
        torch.testing.assert_close(rank_grads, grads, rtol=1e-5, atol=1e-6)
        # the gather's backward sums the W ranks' identical gradients: W · ∂L/∂z_local
        start = sum(worker.SIZES[:rank])
        torch.testing.assert_close(rank_z_grad, world * z_i.grad[start:start + worker.SIZES[rank]], rtol=1e-5, atol=1e-6)
