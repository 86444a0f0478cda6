"""The one training loop, shared by every model, with its named steps.

::

    run = set_up(...)                                   # model on device, batches, optimizers, Fabric wrappers
    state = restore(run) if resume else TrainState()
    for epoch:                                          # data: a fresh permutation per epoch
        for batch:
            for phase in model.phases_for_step(step):   # ("main",) or ("discriminator", "generator")
                train_step(run, state, x, phase)        # forward, finite?, backward, clip, optimizer step
            end_step(run, state, x)                     # schedulers, counters; on Ctrl-C: checkpoint, exit
        end_epoch(run, state, epoch)                    # history, log, atomic checkpoint
    finish(run, state)                                  # evaluate, weights, history, figures, metrics.json

The engine times every phase (``time_<phase>`` in the history, ``time_data`` for the rest of
the loop), so that models never time themselves.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from latentzoo import io
from latentzoo.data.batching import TensorBatches
from latentzoo.data.lazy_view import subsample_metrics
from latentzoo.distributed import all_mean, configure_ddp, convert_sync_batchnorm, destroy_at_exit
from latentzoo.engine.state import CHECKPOINT, TrainState, restore_checkpoint, save_checkpoint, save_weights
from latentzoo.errors import TrainingFailed, UserError, printable


class Interrupted(Exception):
    """Raised after SIGINT/SIGTERM once a checkpoint has been saved."""

    exit_code = 130


@dataclass
class Run:
    """Everything the loop touches, set up once by :func:`set_up`."""

    fabric: object
    model: torch.nn.Module
    wrapped: torch.nn.Module          # the model behind Fabric's wrapper (DDP), or the model itself
    dataset: object
    config: object
    batches: TensorBatches            # or data.streaming.StreamingBatches (same interface)
    optimizers: dict
    schedulers: list
    backward: object
    out_dir: Path | None
    bar: object = None
    check_grads: bool = True
    timer: dict = field(default_factory=dict)
    budget: object = None             # a time budget (engine.budget.Budget), or None
    budget_start_step: int = 0
    scalers: dict = field(default_factory=dict)   # phase → GradScaler (float16 mixed precision only)

    @property
    def prefix(self):
        return (lambda phase: "") if len(self.model.phases) == 1 else (lambda phase: f"{phase}_")


def set_up(fabric, model, dataset, config, seed: int, out_dir: Path | None, sync_batchnorm: bool = True) -> Run:
    """The model on its device, the batches of this rank, the optimizers, Fabric's wrappers.

    Every rank keeps the same random stream (no per-rank seed): the families draw the random
    numbers of the whole global batch and keep their own share (:mod:`latentzoo.distributed`),
    so W processes train exactly like one. With W > 1 every batch normalisation layer uses the
    statistics of the global batch (``sync_batchnorm``).
    """
    world = fabric.world_size
    if config.batch_size % world:
        raise UserError(f"batch_size={config.batch_size} must be divisible by the number of processes ({world})")
    if world > 1:
        destroy_at_exit()
        if sync_batchnorm:
            convert_sync_batchnorm(model, fabric.device)
    model = model.to(fabric.device)
    batches = _batches(fabric, model, dataset, config.batch_size // world, seed)
    optimizers, schedulers = model.configure_optimizers(config.epochs * len(batches))
    active = [o for o in optimizers.values() if o is not None]
    scalers = {}
    if _plain(fabric) or not active:
        # One device at 32-bit precision: Fabric's wrappers would do nothing but cost time per step.
        # A model without optimizers (exact updates in forward, under no_grad) is never wrapped:
        # DDP has no gradient to average and autocast would lower its float32 solvers.
        wrapped, backward = model, (lambda loss: loss.backward())
    else:
        configure_ddp(fabric.strategy, len(model.phases))
        _keep_input_dtype(fabric)
        wrapped, *set_up_optimizers = fabric.setup(model, *active)
        it = iter(set_up_optimizers)
        optimizers = {p: (next(it) if o is not None else None) for p, o in optimizers.items()}
        backward = fabric.backward
        scalers = _scalers_per_optimizer(fabric, optimizers)
    return Run(fabric, model, wrapped, dataset, config, batches, optimizers, schedulers, backward, out_dir,
               check_grads=not scalers, scalers=scalers)


def _keep_input_dtype(fabric) -> None:
    """Mixed precision without lowering the data: autocast runs the networks' operations in bfloat16 or
    float16, but the batch itself stays float32, so that the losses compare against the exact examples
    (Fabric would otherwise cast every input to the low precision)."""
    from lightning.fabric.plugins.precision.amp import MixedPrecision

    precision = fabric.strategy.precision
    if isinstance(precision, MixedPrecision):
        precision.convert_input = lambda data: data


def _scalers_per_optimizer(fabric, optimizers: dict) -> dict:
    """float16 mixed precision: one gradient scaler per optimizer instead of Fabric's single one.

    With two players (a GAN) a shared scale would be lowered for both whenever one overflows,
    and Fabric would update it after each player's step. Each optimizer gets its own
    ``torch.amp.GradScaler``; Fabric's plugin keeps autocast but scales nothing.
    """
    precision = fabric.strategy.precision
    if getattr(precision, "scaler", None) is None:
        return {}
    precision.scaler = None
    return {p: torch.amp.GradScaler(fabric.device.type) for p, o in optimizers.items() if o is not None}


def _batches(fabric, model, dataset, batch_size: int, seed: int):
    """This rank's batches: of the split on the device, or read from the file batch by batch when lazy
    (every model trains on lazy data; what else it reads of the data comes from
    :func:`latentzoo.data.lazy_view.model_view`)."""
    from latentzoo.data import is_lazy

    world, rank = fabric.world_size, fabric.global_rank
    if not is_lazy(dataset.x_train):
        return TensorBatches(dataset.x_train.to(fabric.device), batch_size, seed, rank, world)
    from latentzoo.data.streaming import StreamingBatches

    return StreamingBatches(dataset.x_train, batch_size, seed, rank, world, fabric.device)


def restore(run: Run) -> TrainState:
    """The state of the run's last checkpoint (and the model, optimizers, RNGs as they were)."""
    path = run.out_dir / CHECKPOINT
    if not path.is_file():
        return TrainState()
    state, loader_rng = restore_checkpoint(path, run.model, run.optimizers, run.schedulers, run.fabric.device)
    run.batches.generator.set_state(loader_rng)  # mid-epoch: the epoch's start, replayed
    return state


def save(run: Run, state: TrainState) -> None:
    """An atomic checkpoint (rank 0; nothing when training without a run directory)."""
    if run.out_dir is None or not run.fabric.is_global_zero:
        return
    b = run.batches
    save_checkpoint(run.out_dir / CHECKPOINT, state, run.model, run.optimizers, run.schedulers,
                    b.epoch_start_state if state.batch else b.generator.get_state(), run.fabric.device)


def train_step(run: Run, state: TrainState, x: torch.Tensor, phase: str) -> None:
    """One optimizer step of ``phase``: forward, check the loss, backward, check/clip the gradient, step."""
    loss, logs = run.wrapped(x, phase=phase)                      # the model's loss for this phase
    value = float(loss.detach())
    if not math.isfinite(value):
        _diverged("loss", value, state, phase, run)
    optimizer = run.optimizers.get(phase)
    if optimizer is not None:
        optimizer.zero_grad(set_to_none=True)
        scaler = run.scalers.get(phase)
        if scaler is not None:   # float16: scale the loss, unscale the gradients before measuring them
            optimizer = getattr(optimizer, "optimizer", optimizer)   # the scaler acts on the optimizer itself
            run.backward(scaler.scale(loss))
            scaler.unscale_(optimizer)
        else:
            run.backward(loss)
        norm = _check_and_clip(run, state, optimizer, phase)
        if norm is not None:
            logs = {**logs, f"{run.prefix(phase)}grad_norm": norm}
        if scaler is not None:
            scaler.step(optimizer)   # skipped when a gradient overflowed; the scale then shrinks
            scaler.update()
        else:
            optimizer.step()
    run.model.after_optimizer_step(phase)
    _accumulate(state.running, {f"{run.prefix(phase)}loss": value, **logs})


def _check_and_clip(run: Run, state: TrainState, optimizer, phase: str):
    """The gradient norm when it is measured (every ``model.grad_norm_every`` steps, or to clip), else None."""
    clip = run.config.grad_clip
    check = run.check_grads and state.step % run.model.grad_norm_every == 0
    params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    if not params or not (check or clip):
        return None
    norm = torch.nn.utils.get_total_norm([p.grad for p in params])
    if run.check_grads and not torch.isfinite(norm):
        _diverged("gradient norm", float(norm), state, phase, run)
    if clip:
        torch.nn.utils.clip_grads_with_norm_(params, clip, norm)
    return norm


def end_step(run: Run, state: TrainState, x: torch.Tensor, stop, epoch: int, batch_index: int, tic: float) -> None:
    """Schedulers and counters; on SIGINT/SIGTERM a mid-epoch checkpoint, then :class:`Interrupted`."""
    for s in run.schedulers:
        s.step()
    state.step += 1
    state.samples += x.shape[0] * run.fabric.world_size
    if run.bar is not None:
        run.bar.update(1)
    if not _should_stop(run, stop):
        return
    pause(run, state, epoch, batch_index, tic)
    where = f"; continue with: latentzoo fit --resume --out {run.out_dir}" if run.out_dir else ""
    raise Interrupted(f"interrupted at epoch {epoch + 1}, step {state.step}: checkpoint saved in "
                      f"{run.out_dir / CHECKPOINT if run.out_dir else 'nothing (no run directory)'}{where}")


def pause(run: Run, state: TrainState, epoch: int, batch_index: int, tic: float) -> None:
    """A mid-epoch checkpoint (after batch ``batch_index``): time, running logs and position saved."""
    elapsed = time.perf_counter() - tic
    state.train_seconds += elapsed
    state.epoch_seconds += elapsed
    state.running = _global_running(run, _floats(state.running))
    state.epoch, state.batch = epoch, batch_index + 1
    save(run, state)


def budget_spent(run: Run, state: TrainState, epoch: int, batch_index: int, tic: float) -> bool:
    """With a time budget: True (after a mid-epoch checkpoint) once it is spent."""
    from latentzoo.engine.budget import over_budget

    if run.budget is None or not over_budget(run, state, state.train_seconds + time.perf_counter() - tic):
        return False
    pause(run, state, epoch, batch_index, tic)
    return True


def end_epoch(run: Run, state: TrainState, epoch: int, tic: float) -> None:
    """The epoch's record (means of the logs, phase times, the model's own values), its log line, a checkpoint."""
    seconds = time.perf_counter() - tic + state.epoch_seconds
    state.train_seconds += time.perf_counter() - tic
    state.running = _global_running(run, state.running)
    record = {"epoch": epoch + 1, **{k: s / n for k, (s, n) in _floats(state.running).items()}, "seconds": seconds}
    record.update({f"time_{k}": v for k, v in run.timer.items()}, timed_samples=len(run.batches) * run.batches.batch_size * run.fabric.world_size)
    run.timer.clear()
    run.model.eval()
    record.update(run.model.on_epoch_end(epoch, run.dataset) or {})
    run.model.train()
    state.history.append(record)
    state.epoch, state.batch, state.running, state.epoch_seconds = epoch + 1, 0, {}, 0.0
    if run.out_dir is not None and run.fabric.is_global_zero:
        run.fabric.log_dict({k: v for k, v in record.items() if isinstance(v, (int, float))}, step=state.step)
        io.write_text(run.out_dir / "logs" / "metrics.csv", history_csv(state.history))
    if run.bar is not None:
        of = (f"/{run.config.epochs}" if run.budget is None   # with a budget, epochs is only a cap
              else f" of ~{run.budget.planned_steps / max(1, len(run.batches)):.3g}")
        run.bar.set_postfix_str(f"epoch {epoch + 1}{of} " + _postfix(record, state))
    save(run, state)


@contextlib.contextmanager
def timed(run: Run, name: str):
    """Add the wall-clock time of the block to ``run.timer[name]`` (seconds)."""
    tic = time.perf_counter()
    try:
        yield
    finally:
        run.timer[name] = run.timer.get(name, 0.0) + time.perf_counter() - tic


def train(run: Run, state: TrainState) -> TrainState:
    """The loop itself: epochs of batches of phases, each a named step above."""
    model, config = run.model, run.config
    run.wrapped.train()
    with StopFlag() as stop:
        for epoch in range(state.epoch, config.epochs):
            run.batches.start_epoch()
            tic = time.perf_counter()
            loop_tic = tic
            for batch_index, x in run.batches.batches(state.batch):
                run.timer["data"] = run.timer.get("data", 0.0) + time.perf_counter() - loop_tic
                for phase in model.phases_for_step(state.step):
                    with timed(run, phase):
                        train_step(run, state, x, phase)
                end_step(run, state, x, stop, epoch, batch_index, tic)
                if budget_spent(run, state, epoch, batch_index, tic):
                    return state                          # --max-time: stop here, evaluation follows
                loop_tic = time.perf_counter()
            end_epoch(run, state, epoch, tic)
            if model.converged(state.history):           # e.g. the linear AE at PCA's optimum: stop early
                break
    return state


def finish(run: Run, state: TrainState, seed: int, data_name: str) -> dict:
    """Evaluate on rank 0 and write the run's files: weights, history, figures, metrics.json."""
    if not run.fabric.is_global_zero:
        return {}
    model = run.model
    model.eval()
    tic = time.perf_counter()
    metrics = {
        "model": model.name, "dataset": data_name, "epochs": state.epoch, "seed": seed,
        "train_seconds": round(state.train_seconds, 3),
        "samples_per_second": round(state.samples / max(state.train_seconds, 1e-9), 1),
        **model.evaluate(run.dataset, state.history),
        **subsample_metrics(run.dataset),
    }
    metrics["eval_seconds"] = round(time.perf_counter() - tic, 3)
    if run.budget is not None:
        metrics.update(max_time_seconds=run.budget.seconds, steps=state.step)
    model.metrics, model.history = metrics, state.history
    if run.out_dir is not None:
        save_weights(model, run.out_dir / "weights.safetensors")
        io.write_json(run.out_dir / "logs" / "history.json", state.history)
        model.figures(run.dataset, state.history, run.out_dir / "figures")
        io.write_json(run.out_dir / "metrics.json", metrics)
    return metrics


def history_csv(history: list[dict]) -> str:
    """The per-epoch history as CSV text: one row per epoch, one column per key (blank where absent)."""
    import csv
    import io as _io

    keys = list(dict.fromkeys(k for record in history for k, v in record.items()
                              if isinstance(v, (int, float)) and not isinstance(v, bool)))
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()


class StopFlag:
    """Turns SIGINT/SIGTERM into a flag the loop checks after each step."""

    def __init__(self):
        self.signum = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not in the main thread: leave signals alone
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _accumulate(running: dict, values: dict) -> None:
    """Running (sum, count) per logged value; tensors stay tensors (no device sync per step)."""
    for k, v in values.items():
        v = v.detach() if isinstance(v, torch.Tensor) else v
        s, n = running.get(k, (0.0, 0))
        running[k] = (s + v, n + 1)


def _should_stop(run: Run, stop) -> bool:
    """Whether a stop signal arrived; with several ranks, whether it reached any of them.

    Every rank must leave the loop after the same step (a rank still stepping would wait for
    the others forever), so the flag is combined over ranks at every step.
    """
    if run.fabric.world_size == 1:
        return stop.signum is not None
    flag = torch.tensor([0.0 if stop.signum is None else 1.0], device=run.fabric.device)
    return bool(all_mean(flag) > 0)


def _global_running(run: Run, running: dict) -> dict:
    """The epoch's running sums averaged over ranks: each is a sum of batch means, every rank has the
    same number of them, so the average is the sum of the global batch means (as one process logs)."""
    if run.fabric.world_size == 1 or not running:
        return running
    keys = sorted(running)
    sums = torch.stack([torch.as_tensor(running[k][0], dtype=torch.float64, device=run.fabric.device).reshape(())
                        for k in keys])
    sums = all_mean(sums)
    return {k: (float(v), running[k][1]) for k, v in zip(keys, sums.tolist())}


def _floats(running: dict) -> dict:
    return {k: (float(s), n) for k, (s, n) in running.items()}


def _plain(fabric) -> bool:
    """True on a single device with the plain 32-bit precision plugin."""
    from latentzoo.engine.runtime import LocalRuntime

    if isinstance(fabric, LocalRuntime):
        return True
    from lightning.fabric.plugins import Precision
    from lightning.fabric.strategies import SingleDeviceStrategy

    return (fabric.world_size == 1 and isinstance(fabric.strategy, SingleDeviceStrategy)
            and type(fabric.strategy.precision) is Precision)


def _postfix(record: dict, state: TrainState) -> str:
    loss = {k: v for k, v in record.items() if k.endswith("loss")}
    shown = " ".join(f"{k}={v:.4g}" for k, v in list(loss.items())[:2])
    return f"{shown} {state.samples / max(state.train_seconds, 1e-9):,.0f} samples/s"


def _diverged(what: str, value: float, state: TrainState, phase: str, run: Run):
    where = f" ({phase})" if phase != "main" else ""
    lr = run.config.lr
    kept = (f"the last good checkpoint is kept in {printable(str(run.out_dir / CHECKPOINT))}" if run.out_dir
            else "no checkpoint was written (no run directory)")
    raise TrainingFailed(
        f"the {what} became {value} at epoch {state.epoch + 1}, step {state.step + 1}{where}: the weights diverged, "
        f"most likely because the learning rate (lr={lr:g}) is too high or gradients exploded; try "
        f"--set lr={lr / 10:g} or --set grad_clip=1.0; {kept}")
