r"""Learning-rate schedules shared by the families: factors for ``torch.optim.lr_scheduler.LambdaLR``,
one scheduler step per optimizer step."""

from __future__ import annotations

import math


class WarmupCosine:
    r"""Learning-rate factor at step s: s/W for s < W (linear warm-up), then
    ½(1 + cos(π (s − W)/(S − W))) (cosine decay to 0 at the last step S)."""

    def __init__(self, warmup: int, total: int):
        self.warmup, self.total = warmup, max(total, 1)
        self.warmup_fraction = warmup / self.total

    def retarget(self, total: int) -> None:
        """End the schedule at step ``total`` instead (a time budget); the warm-up keeps its fraction."""
        self.total = max(total, 1)
        self.warmup = round(self.warmup_fraction * self.total)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup                          # reaches 1 at the end of warm-up
        span = max(self.total - self.warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(step - self.warmup, span) / span))


class LinearDecay:
    r"""Learning-rate factor 1 − s/S at step s (linear decay to 0 at the last step S)."""

    def __init__(self, total: int):
        self.total = max(1, total)

    def retarget(self, total: int) -> None:
        """End the decay at step ``total`` instead (a time budget)."""
        self.total = max(1, total)

    def __call__(self, step: int) -> float:
        return max(0.0, 1.0 - step / self.total)                     # lr_t = lr · (1 − t / T)
