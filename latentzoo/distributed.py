r"""What makes W processes compute what one process computes (data parallelism, mixed precision).

The contract, relied on by the engine and every family:

* **Batches.** Every rank draws the same permutation of the training split each epoch; the
  i-th global batch is the slice ``perm[i·B : (i+1)·B]`` of one process, and rank r holds its
  r-th contiguous block of b = B/W examples. Global position p of the batch is p = r·b + j
  for row j of rank r, so concatenating the ranks' tensors in rank order (:func:`gather`)
  gives back the one-process batch in its order.
* **Randomness.** No rank is reseeded: every rank's torch generator follows the same stream.
  A random draw for the batch is made for the whole global batch on every rank and each rank
  keeps its own block (:func:`sharded`), so the numbers a step uses, and the state the
  generator is left in, do not depend on W. With W = 1 the draw is exactly the one-process
  draw (same call, same shape), so single-process runs are unchanged bit for bit.
* **Gradients.** A loss that is a mean over the local batch, averaged over ranks by DDP, is
  the mean over the global batch (every rank holds the same number of examples).
  Normalisation layers see the statistics of the global batch (:func:`convert_sync_batchnorm`).
* **Other updates** (an online dictionary, a ring buffer of diagnostics) use global sums
  (:func:`all_sum`) or the gathered batch, so every rank holds the same state after each step.

Precision: :func:`upcast` and :func:`full_precision` keep losses and penalties in float32
while the networks run in bfloat16 or float16 under autocast.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable

import torch
from torch import nn

from latentzoo.errors import UserError

__all__ = ["all_max", "all_mean", "all_sum", "check_launcher", "configure_ddp", "convert_sync_batchnorm", "destroy_at_exit", "full_precision",
           "gather", "is_distributed", "local", "on_global_batch", "rank_world", "sharded", "upcast"]


# ---- ranks ---------------------------------------------------------------------------------
def rank_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) without an initialised process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_distributed() -> bool:
    """True under an initialised process group of more than one rank."""
    return rank_world()[1] > 1


_EXIT_HOOK = []


def destroy_at_exit() -> None:
    """Destroy the process group when the interpreter exits (registered once).

    A process that exits with its gloo process group still alive is sometimes aborted by C++
    during teardown ("terminate called without an active exception", exit code -6) after all
    its work is done: a successful run would report failure to its launcher. Destroying the
    group first prevents it, and doing it at exit keeps it usable for later runs in the process.
    """
    if _EXIT_HOOK:
        return
    import atexit

    def destroy():
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()

    atexit.register(destroy)
    _EXIT_HOOK.append(destroy)


# ---- random numbers of the global batch ----------------------------------------------------
def sharded(draw: Callable[[int], torch.Tensor], n: int, dim: int = 0) -> torch.Tensor:
    r"""This rank's block of a random draw made for the whole global batch.

    ``draw(m)`` must return a tensor with m rows along ``dim`` (e.g. ``lambda m: torch.randn(m, k)``).
    Every rank calls ``draw(W·n)`` — the same call one process makes for the global batch, from
    the same generator state — and keeps rows [r·n, (r+1)·n) along ``dim``: the numbers of its
    own examples. With one process it is ``draw(n)`` itself.
    """
    rank, world = rank_world()
    if world == 1:
        return draw(n)
    return draw(world * n).narrow(dim, rank * n, n)


# ---- collectives (no gradient) -------------------------------------------------------------
def gather(x: torch.Tensor) -> torch.Tensor:
    """The global batch: ``x`` (same shape on every rank) of every rank, concatenated in rank order.

    No gradient flows back; ``x`` itself is returned with one process.
    """
    import torch.distributed as dist

    if not is_distributed():
        return x
    x = x.detach().contiguous()
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x)
    return torch.cat(parts)


def local(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """This rank's block of a tensor of the global batch (the inverse of :func:`gather`)."""
    rank, world = rank_world()
    if world == 1:
        return x
    n = x.shape[dim] // world
    return x.narrow(dim, rank * n, n)


def on_global_batch(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    r"""``fn`` applied to the global batch, this rank's rows kept: ``local(fn(gather(x)))``.

    For a transform that draws per-example random numbers or uses batch statistics (SimCLR's
    augmentations): the result on every rank is exactly its share of the one-process result.
    Costs W times the transform's own work (not the network's).
    """
    return local(fn(gather(x))) if is_distributed() else fn(x)


def all_sum(x: torch.Tensor) -> torch.Tensor:
    """Σ over ranks of ``x`` (a new tensor; no gradient); ``x`` itself with one process."""
    import torch.distributed as dist

    if not is_distributed():
        return x
    x = x.detach().clone()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def all_max(x: torch.Tensor) -> torch.Tensor:
    """The largest value over ranks of ``x`` (e.g. elapsed time: one clock, the slowest rank's, for
    decisions every rank must take together); ``x`` itself with one process."""
    import torch.distributed as dist

    if not is_distributed():
        return x
    x = x.detach().clone()
    dist.all_reduce(x, op=dist.ReduceOp.MAX)
    return x


def all_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean over ranks of ``x``; ``x`` itself with one process."""
    _, world = rank_world()
    return x if world == 1 else all_sum(x) / world


# ---- batch normalisation over the global batch ---------------------------------------------
class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    r"""Batch normalisation with the statistics of the global batch, for devices that
    :class:`torch.nn.SyncBatchNorm` does not serve (the CPU, with gloo).

    The per-channel sums are all-reduced with gradients (``torch.distributed.nn.functional.all_reduce``,
    whose backward sums over ranks): μ = Σ x / n, σ² = Σ (x − μ)² / n over the n values of a channel
    in the global batch, y = γ (x − μ) / √(σ² + ε) + β; the running variance takes the unbiased
    σ² n/(n − 1). With one process, or in eval mode, it is :class:`torch.nn.BatchNorm2d` itself.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(input)
        from torch.distributed.nn.functional import all_reduce

        x = upcast(input)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = x.new_tensor([x.numel() / x.shape[1]])
        total = all_reduce(torch.cat([x.sum(dims), count]))           # Σ x per channel, and n
        n = total[-1]
        mean = total[:-1] / n                                          # μ
        centred = x - mean.reshape(shape)
        var = all_reduce(centred.pow(2).sum(dims)) / n                 # σ² (biased, for normalising)
        y = centred * torch.rsqrt(var + self.eps).reshape(shape)       # (x − μ)/√(σ² + ε)
        if self.affine:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)   # γ·… + β
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach() * n / (n - 1).clamp_min(1))
        return y.to(input.dtype)

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased_var.to(self.running_var.dtype), factor)


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every ``BatchNorm*d`` of ``module`` normalising with the global batch's statistics.

    :class:`torch.nn.SyncBatchNorm` on CUDA, :class:`GlobalBatchNorm` elsewhere; the same
    parameters, buffers and state-dict keys, so the weights load into the unconverted model.
    """
    if device.type in ("cuda", "hpu", "xpu"):
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        out = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        if module.track_running_stats:
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
        out.training = module.training
        return out
    for name, child in module.named_children():
        converted = convert_sync_batchnorm(child, device)
        if converted is not child:
            setattr(module, name, converted)
    return module


def configure_ddp(strategy, phases: int) -> None:
    """Options of a DDP strategy before it wraps the model (no effect on other strategies).

    ``find_unused_parameters`` when a model has several phases (each leaves the other
    player's parameters without gradients); ``broadcast_buffers=False``: every buffer is
    updated identically on every rank (global batch statistics, global sums), so copying
    rank 0's buffers before each forward would only cost time — and would hide a buffer
    that is not, which the equivalence tests must see.
    """
    from lightning.fabric.strategies import DDPStrategy

    if isinstance(strategy, DDPStrategy):
        kwargs = strategy._ddp_kwargs
        kwargs.setdefault("find_unused_parameters", phases > 1)
        if "forward_sync_buffers" in inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters:
            kwargs.setdefault("forward_sync_buffers", False)
        else:
            kwargs.setdefault("broadcast_buffers", False)


# ---- launchers -----------------------------------------------------------------------------
def check_launcher(num_nodes: int) -> None:
    """Refuse ``num_nodes > 1`` when nothing starts the other nodes (it would wait forever)."""
    if num_nodes <= 1:
        return
    from lightning.fabric.plugins.environments import (
        LSFEnvironment,
        SLURMEnvironment,
        TorchElasticEnvironment,
    )

    launched = TorchElasticEnvironment.detect() or SLURMEnvironment.detect() or LSFEnvironment.detect()
    by_hand = "MASTER_ADDR" in os.environ and ("NODE_RANK" in os.environ or "RANK" in os.environ)  # or Kubeflow
    if launched or by_hand:
        return
    raise UserError(f"--num-nodes {num_nodes} needs a launcher that starts this command on every node: "
                    f"torchrun --nnodes {num_nodes} --node-rank I --master-addr HOST --master-port PORT -m "
                    "latentzoo.cli fit ..., srun under SLURM, or MASTER_ADDR, MASTER_PORT and NODE_RANK set on "
                    "each node")


# ---- precision -----------------------------------------------------------------------------
def upcast(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 when autocast made it bfloat16 or float16; any other tensor unchanged."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


def full_precision(like: torch.Tensor):
    """A context without autocast on ``like``'s device: losses and penalties in their inputs' dtype."""
    return torch.autocast(like.device.type, enabled=False)
