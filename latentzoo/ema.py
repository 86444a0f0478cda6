r"""Exponential moving averages of weights, for any family (the GAN's generator today).

w̄ ← β·w̄ + (1 − β)·w after each optimizer step, with the warm-up β_t = min(β, (1 + t)/(10 + t))
at the t-th update (Tan & Le's schedule, as in Karras et al.'s code), so that the average does
not sit near its random start for the first ~1/(1 − β) steps. Buffers (batch-norm statistics)
are copied, not averaged.
"""

from __future__ import annotations

import torch
from torch import nn


def warmup_decay(decay: float, updates: int) -> float:
    r"""β_t = min(β, (1 + t)/(10 + t)) for the t-th update."""
    return min(decay, (1 + updates) / (10 + updates))


@torch.no_grad()
def update_average(average: nn.Module, model: nn.Module, decay: float) -> None:
    r"""w̄ ← w̄ + (1 − β)(w − w̄) for every parameter; buffers copied."""
    torch._foreach_lerp_(list(average.parameters()), [p.detach() for p in model.parameters()], 1 - decay)
    for b_avg, b in zip(average.buffers(), model.buffers()):
        b_avg.copy_(b)
