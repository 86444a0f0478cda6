r"""Worker of tests/simclr/test_distributed.py, importable by name in spawned processes."""

import os

import torch
import torch.distributed as dist

from latentzoo.simclr.losses import nt_xent

SIZES = (3, 5)          # examples per rank (unequal on purpose); global batch of 8 pairs
TEMPERATURE = 0.3


def data():
    g = torch.Generator().manual_seed(0)
    x_i, x_j = torch.randn(sum(SIZES), 6, generator=g), torch.randn(sum(SIZES), 6, generator=g)
    layer = torch.nn.Linear(6, 4)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(4, 6, generator=g))
        layer.bias.copy_(torch.randn(4, generator=g))
    return x_i, x_j, layer


def run_rank(rank: int, world: int, port: int, out_dir: str):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        x_i, x_j, layer = data()
        start = sum(SIZES[:rank])
        mine = slice(start, start + SIZES[rank])
        # this rank's examples through the (replicated) network, as under DDP
        z_i, z_j = layer(x_i[mine]), layer(x_j[mine])
        z_i.retain_grad()
        loss = nt_xent(z_i, z_j, TEMPERATURE, gather_distributed=True)
        loss.backward()
        grads = torch.cat([layer.weight.grad.flatten(), layer.bias.grad])
        dist.all_reduce(grads)                       # DDP: average parameter gradients over ranks
        grads /= world
        torch.save((loss.item(), grads, z_i.grad.clone()), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


