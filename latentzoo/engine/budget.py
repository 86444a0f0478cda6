r"""Training to a time budget (``--max-time 15m`` / ``max_time="15m"``).

Before training, a few steps of a copy of the model measure the seconds per step on this
machine; the run is planned for the budget (epochs, steps, one line printed), and every
learning-rate schedule is stretched so that it ends at the planned last step. While training,
the plan is revised from the measured speed every few dozen steps, so that warm-up/cosine and
linear-decay schedules reach their final learning rate at the budget; training stops when the
budget is spent (with a checkpoint), and evaluation follows.
"""

from __future__ import annotations

import copy
import math
import re
import time
from dataclasses import dataclass

import torch

from latentzoo.errors import UserError, printable

REPLAN_EVERY = 25          # steps between revisions of the plan from the measured speed
CALIBRATION_STEPS = 6


def parse_duration(value) -> float:
    """Seconds of ``value``: ``"90s"``, ``"15m"``, ``"2h"``, ``"1h30m"``, or a plain number of minutes."""
    if isinstance(value, bool):
        raise UserError(f"max_time must be a duration such as 90s, 15m or 2h, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = 60.0 * value
    else:
        text = str(value).strip().lower()
        parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m(?:in)?)?\s*(?:(\d+(?:\.\d+)?)s)?", text)
        if text and re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = 60.0 * float(text)
        elif text and parts and any(parts.groups()):
            h, m, s = (float(g) if g else 0.0 for g in parts.groups())
            seconds = 3600 * h + 60 * m + s
        else:
            raise UserError(f"max_time must be a duration such as 90s, 15m or 2h, got {printable(str(value), 40)!r}")
    if not math.isfinite(seconds) or seconds <= 0 or seconds > 366 * 86400:
        raise UserError(f"max_time must be a positive duration of at most a year, got {printable(str(value), 40)!r}")
    return seconds


@dataclass
class Budget:
    seconds: float
    seconds_per_step: float = 0.0
    planned_steps: int = 0

    def remaining_steps(self, elapsed: float, rate: float) -> int:
        return max(0, int((self.seconds - elapsed) / max(rate, 1e-9)))


def calibrate(run, steps: int = CALIBRATION_STEPS) -> float:
    """Seconds per optimizer step of this model on this machine, measured on a copy (the run is untouched)."""
    rng = torch.get_rng_state()
    model = copy.deepcopy(run.model)
    optimizers, _ = model.configure_optimizers(1000)
    x = run.batches.x[:run.batches.batch_size]
    times = []
    try:
        model.train()
        for step in range(steps):
            tic = time.perf_counter()
            for phase in model.phases_for_step(step):
                loss, _ = model(x, phase=phase)
                optimizer = optimizers.get(phase)
                if optimizer is not None:
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                model.after_optimizer_step(phase)
            times.append(time.perf_counter() - tic)
    finally:
        torch.set_rng_state(rng)
    later = sorted(times[1:]) or times                      # the first step pays one-off costs
    return later[len(later) // 2]


def stretch_schedules(schedulers: list, total_steps: int) -> None:
    """Make every schedule end at ``total_steps`` (warm-ups keep their fraction of the run)."""
    for s in schedulers:
        if isinstance(s, torch.optim.lr_scheduler.CosineAnnealingLR):
            s.T_max = max(1, total_steps)
        for factor in getattr(s, "lr_lambdas", ()):
            if hasattr(factor, "retarget"):
                factor.retarget(total_steps)


def plan(run, state, seconds: float) -> Budget:
    """The plan for a budget of ``seconds``: measure the speed, set the epochs (a cap) and the schedules."""
    budget = Budget(seconds)
    rate = calibrate(run)
    if run.fabric.world_size > 1:
        rate = float(run.fabric.broadcast(rate, src=0))    # one plan for every rank
    budget.seconds_per_step = rate
    per_epoch = max(1, len(run.batches))
    budget.planned_steps = state.step + budget.remaining_steps(state.train_seconds, rate)
    # the epochs are a cap twice the plan: the budget, not the cap, ends a run on a machine faster than measured
    epochs = max(state.epoch + 1, math.ceil(2 * budget.planned_steps / per_epoch) + 1)
    run.config.epochs = epochs
    stretch_schedules(run.schedulers, budget.planned_steps)
    if run.fabric.is_global_zero:
        print(f"plan for {seconds / 60:.3g} min: about {budget.planned_steps:,} steps "
              f"({budget.planned_steps / per_epoch:.3g} epochs of {per_epoch} steps) at {rate * 1000:.1f} ms/step "
              "measured on this machine", flush=True)
    return budget


def over_budget(run, state, elapsed: float) -> bool:
    """True when the budget is spent; every REPLAN_EVERY steps, the schedules are re-aimed at the budget."""
    budget = run.budget
    if elapsed >= budget.seconds:
        return True
    if state.step % REPLAN_EVERY == 0 and state.step > 0:
        rate = elapsed / max(1, state.step - run.budget_start_step)
        total = state.step + budget.remaining_steps(elapsed, rate)
        if abs(total - budget.planned_steps) > 0.01 * budget.planned_steps:
            budget.planned_steps = total
            stretch_schedules(run.schedulers, total)
            if getattr(run, "bar", None) is not None and hasattr(run.bar, "total"):
                run.bar.total = total                      # the progress bar follows the plan
                run.bar.refresh()
    return False
