"""The one training loop, on Lightning Fabric, shared by every model.

``fit`` resolves the configuration, prepares the run directory, and runs one flat loop::

    for epoch:                                  # data: a fresh permutation per epoch
        for batch:
            for phase in model.phases_for_step(step):
                forward  -> loss, logs          # the model's training loss for this phase
                check    -> loss finite?        # else stop, keep the last good checkpoint
                backward -> fabric.backward     # skipped when the phase has no optimizer
                clip     -> gradient norm       # measured always, clipped if grad_clip
                step     -> optimizer.step(); model.after_optimizer_step(phase)
            schedulers.step()
            interrupted? -> checkpoint mid-epoch, exit
        end of epoch -> history, log, atomic checkpoint
    evaluate -> metrics.json, weights.safetensors, figures/

Devices, nodes, strategy and precision go straight to Fabric, so the same command runs on
one CPU, several GPUs or several nodes. Checkpoints hold the model, optimizers, schedulers,
every RNG state, the epoch, and the position inside the epoch; ``resume`` replays from there
so that final weights equal those of an uninterrupted run (bitwise on CPU).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import shutil
import signal
import time
from pathlib import Path

import torch
import yaml

from latentzoo import io
from latentzoo.config import build_config, read_config_file
from latentzoo.data import load_dataset
from latentzoo.data.batching import TensorBatches
from latentzoo.errors import TrainingFailed, UserError
from latentzoo.registry import model_class

CHECKPOINT = Path("checkpoints") / "last.ckpt"
GRAD_CHECK_EVERY = 10  # steps between checks that the gradient norm is finite (when not clipping)
RUN_FILES = ("config.yaml", "metrics.json", "weights.safetensors", "report.html")
RUN_DIRS = ("checkpoints", "logs", "figures")


class Interrupted(Exception):
    """Raised after SIGINT/SIGTERM once a checkpoint has been saved."""

    exit_code = 130


# ---------------------------------------------------------------------------------------
# Run directory: refuse to clobber, and lock against a second run
# ---------------------------------------------------------------------------------------
def check_run_dir(out_dir: Path, resume: bool, force: bool) -> None:
    """Refuse a path that is a file, a finished run without --resume/--force, a resume of nothing."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"output path {out_dir} exists and is not a directory")
    holds_run = out_dir.is_dir() and any((out_dir / f).exists() for f in ("config.yaml", "checkpoints"))
    if holds_run and not (resume or force):
        raise UserError(f"{out_dir} already holds a run; use --resume to continue it or --force to replace it")
    if resume and not (out_dir / "config.yaml").is_file():
        raise UserError(f"nothing to resume in {out_dir}: it has no config.yaml")


def prepare_run_dir(out_dir: Path, resume: bool, force: bool) -> None:
    check_run_dir(out_dir, resume, force)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output directory {out_dir}: {e.strerror or e}") from None
    if not os.access(out_dir, os.W_OK):
        raise UserError(f"output directory {out_dir} is not writable")


@contextlib.contextmanager
def run_lock(out_dir: Path):
    """An exclusive lock on the run directory, released by the OS if the process dies."""
    path = out_dir / ".lock"
    try:
        handle = open(path, "a+")
    except OSError as e:
        raise UserError(f"cannot lock {out_dir}: {e.strerror or e}") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UserError(f"{out_dir} is in use by another latentzoo run (pid {holder}); wait for it to finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def clear_run(out_dir: Path) -> None:
    """Remove the outputs of a previous run (``--force``)."""
    for name in RUN_FILES:
        with contextlib.suppress(FileNotFoundError):
            (out_dir / name).unlink()
    for name in RUN_DIRS:
        shutil.rmtree(out_dir / name, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------
def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint without unpickling arbitrary objects (``weights_only=True``)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure here means an unusable file
        raise UserError(f"{path}: not a loadable latentzoo checkpoint ({type(e).__name__})") from None


def save_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    io.write_bytes(path, save(tensors))


class _StopFlag:
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


# ---------------------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------------------
def resolve_run(model: str | None, data: str | None, out_dir: Path, *, overrides, config_file, seed,
                epochs, resume):
    """(model class, dataset, config, seed, data spec) of a new or resumed run."""
    if resume:
        if overrides or config_file:
            raise UserError("--resume continues a run with its saved configuration; drop --set/--config")
        return saved_run(out_dir, epochs)
    cls = model_class(model)
    data_spec = data if data is not None else default_data(cls)
    if data_spec not in _builtin_names() and Path(data_spec).exists():
        data_spec = str(Path(data_spec).resolve())
    dataset = load_dataset(data_spec, seed)
    options = dict(overrides or {})
    if epochs is not None:
        options["epochs"] = epochs
    file_options = read_config_file(config_file) if config_file else {}
    return cls, dataset, build_config(cls, dataset, file_options, options), seed, data_spec


def saved_run(out_dir: Path, epochs: int | None = None):
    """(model class, dataset, config, seed, data spec) from a run directory's ``config.yaml``."""
    cfg_path = out_dir / "config.yaml"
    if not cfg_path.is_file():
        raise UserError(f"{out_dir} is not a latentzoo run directory (no config.yaml)")
    try:
        saved = yaml.safe_load(cfg_path.read_text())
        name, data, seed, options = saved["model"], saved["data"], saved["seed"], dict(saved["config"])
    except (yaml.YAMLError, KeyError, TypeError):
        raise UserError(f"{cfg_path}: not a latentzoo run configuration") from None
    if epochs is not None:
        options["epochs"] = epochs
    cls = model_class(name)
    dataset = load_dataset(data, seed)
    return cls, dataset, build_config(cls, dataset, options), seed, data


def _is_launching_process() -> bool:
    """True in the process the user started (not in a rank that a launcher started)."""
    return all(os.environ.get(v, "0") == "0" for v in ("LOCAL_RANK", "NODE_RANK", "RANK", "SLURM_PROCID"))


def _builtin_names():
    from latentzoo.data.builtin import BUILTIN

    return BUILTIN


def default_data(cls) -> str:
    """The built-in dataset a model trains on when no ``--data`` is given."""
    return {"gan": "ring8", "simclr": "mnist1d", "sparse-coding": "patches"}.get(cls.name, "digits")


def fit(model: str | None, data: str | None, out_dir, *, overrides: dict | None = None,
        config_file: str | None = None, seed: int = 0, epochs: int | None = None, resume: bool = False,
        force: bool = False, accelerator: str = "auto", devices: int | str = 1, num_nodes: int = 1,
        strategy: str = "auto", precision: str = "32-true", progress: bool | object = True,
        deterministic: bool = False, threads: int | None = None) -> dict:
    """Train ``model`` on ``data``, write the run directory ``out_dir`` and return its metrics.

    ``progress`` is True (a progress bar), False, or an object with ``update(n)`` and
    ``set_postfix_str(s)`` (an outer progress display, as the tour uses).
    """
    nvml_check_set = "PYTORCH_NVML_BASED_CUDA_CHECK" in os.environ
    from lightning.fabric import Fabric

    if not nvml_check_set:  # lightning sets it on import; it slows every optimizer step when no GPU is present
        os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
    out_dir = Path(out_dir)
    if _is_launching_process():  # fail early, before data is loaded; other ranks leave this to rank 0
        check_run_dir(out_dir, resume, force)
    cls, dataset, config, seed, data_spec = resolve_run(
        model, data, out_dir, overrides=overrides, config_file=config_file, seed=seed, epochs=epochs,
        resume=resume and (out_dir / "config.yaml").is_file())
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    loggers = _loggers(out_dir)
    if strategy == "ddp" and len(cls.phases) > 1:
        # each phase's forward leaves the other player's parameters without gradients
        from lightning.fabric.strategies import DDPStrategy

        strategy = DDPStrategy(find_unused_parameters=True)
    try:
        fabric = Fabric(accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy,
                        precision=precision, loggers=loggers)
    except (ValueError, RuntimeError, TypeError) as e:
        raise UserError(f"cannot set up devices: {str(e).splitlines()[0]}") from None
    fabric.launch()
    _set_threads(threads, fabric)

    # Rank 0 owns the directory; the others learn whether it succeeded.
    problem = None
    if fabric.is_global_zero:
        try:
            prepare_run_dir(out_dir, resume, force)
        except UserError as e:
            problem = str(e)
    problem = fabric.broadcast(problem, src=0) if fabric.world_size > 1 else problem
    if problem:
        raise UserError(problem)

    lock = run_lock(out_dir) if fabric.is_global_zero else contextlib.nullcontext()
    with lock:
        if fabric.is_global_zero:
            if force and not resume:
                clear_run(out_dir)
            io.write_text(out_dir / "config.yaml", yaml.safe_dump({
                "model": cls.name, "data": data_spec, "seed": seed,
                "config": config.model_dump(),
                "fabric": {"accelerator": accelerator, "devices": devices, "num_nodes": num_nodes,
                           "strategy": strategy, "precision": precision},
            }, sort_keys=False))
        fabric.barrier()
        return _train(fabric, cls, dataset, config, seed, out_dir, resume, progress)


def _set_threads(threads: int | None, fabric) -> None:
    """CPU threads per process: ``threads`` if given; with several processes on one CPU machine,
    the cores shared out among them (unless OMP_NUM_THREADS says otherwise)."""
    if threads:
        torch.set_num_threads(threads)
    elif fabric.device.type == "cpu" and fabric.world_size > 1 and "OMP_NUM_THREADS" not in os.environ:
        local = max(1, fabric.world_size // max(1, fabric.num_nodes))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))


def _loggers(out_dir: Path) -> list:
    from lightning.fabric.loggers import CSVLogger

    loggers = [CSVLogger(str(out_dir), name="logs", version="")]
    try:
        import tensorboard  # noqa: F401
        from lightning.fabric.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(str(out_dir), name="logs", version="tensorboard"))
    except ImportError:
        pass
    return loggers


def _train(fabric, cls, dataset, config, seed, out_dir: Path, resume: bool, progress) -> dict:
    world, rank = fabric.world_size, fabric.global_rank
    if config.batch_size % world:
        raise UserError(f"batch_size={config.batch_size} must be divisible by the number of processes ({world})")

    # ---- model, data, optimizers --------------------------------------------------------
    torch.manual_seed(seed)  # same initial weights on every rank
    model = cls(config, dataset).to(fabric.device)
    batches = TensorBatches(dataset.x_train.to(fabric.device), config.batch_size // world, seed, rank, world)
    total_steps = config.epochs * len(batches)
    model.on_train_start(dataset)
    optimizers, schedulers = model.configure_optimizers(total_steps)
    phase_names = list(optimizers)
    active = [optimizers[p] for p in phase_names if optimizers[p] is not None]
    if not active and world > 1:
        raise UserError(f"{cls.name} does not train by gradient steps and runs in one process only; drop --devices")
    if _plain(fabric):
        # One device at 32-bit precision: Fabric's wrappers would do nothing but cost time per step.
        wrapped, backward = model, (lambda loss: loss.backward())
    else:
        wrapped, *set_up = fabric.setup(model, *active) if active else (fabric.setup_module(model),)
        it = iter(set_up)
        optimizers = {p: (next(it) if optimizers[p] is not None else None) for p in phase_names}
        backward = fabric.backward
    if rank:
        torch.manual_seed(seed + 7919 * rank)  # different augmentations / noise on each rank

    # ---- resume -------------------------------------------------------------------------
    state = {"epoch": 0, "batch": 0, "step": 0, "history": [], "running": {}, "train_seconds": 0.0,
             "samples": 0, "epoch_seconds": 0.0}
    ckpt_path = out_dir / CHECKPOINT
    if resume and ckpt_path.is_file():
        ckpt = load_checkpoint(ckpt_path)
        model.load_state_dict(ckpt["model"])
        for p, sd in ckpt["optimizers"].items():
            if optimizers.get(p) is not None:
                optimizers[p].load_state_dict(sd)
        for s, sd in zip(schedulers, ckpt["schedulers"]):
            s.load_state_dict(sd)
        state.update({k: ckpt[k] for k in state})
        torch.set_rng_state(ckpt["torch_rng"])
        if torch.cuda.is_available() and ckpt.get("cuda_rng") is not None and fabric.device.type == "cuda":
            torch.cuda.set_rng_state(ckpt["cuda_rng"], fabric.device)
        batches.generator.set_state(ckpt["loader_rng"])  # mid-epoch: the epoch's start, replayed

    def checkpoint(epoch: int, batch: int):
        if not fabric.is_global_zero:
            return
        io.torch_save({
            "format": "latentzoo-checkpoint-1",
            "model": model.state_dict(),
            "optimizers": {p: o.state_dict() for p, o in optimizers.items() if o is not None},
            "schedulers": [s.state_dict() for s in schedulers],
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(fabric.device) if fabric.device.type == "cuda" else None,
            "loader_rng": batches.epoch_start_state if batch else batches.generator.get_state(),
            **{k: state[k] for k in ("history", "running", "train_seconds", "samples", "step", "epoch_seconds")},
            "epoch": epoch, "batch": batch,
        }, out_dir / CHECKPOINT)

    # ---- the loop ---------------------------------------------------------------------------
    bar = _progress(progress, fabric.is_global_zero, total_steps, state["step"], cls.name)
    grad_clip = config.grad_clip
    check_grads = not _uses_scaler(fabric)  # a loss scaler skips steps with non-finite gradients itself
    def prefix(phase):
        return "" if len(model.phases) == 1 else f"{phase}_"

    wrapped.train()
    with _StopFlag() as stop:
        for epoch in range(state["epoch"], config.epochs):
            start_batch = state["batch"]
            batches.start_epoch()
            running = state["running"] if start_batch else {}
            tic = time.perf_counter()
            for batch_index, x in batches.batches(start_batch):
                for phase in model.phases_for_step(state["step"]):
                    # forward: the model's loss for this phase
                    loss, logs = wrapped(x, phase=phase)
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        _diverged("loss", value, epoch, state["step"], phase, config, out_dir)
                    optimizer = optimizers.get(phase)
                    if optimizer is not None:
                        # backward, clip, step
                        optimizer.zero_grad(set_to_none=True)
                        backward(loss)
                        check = check_grads and state["step"] % GRAD_CHECK_EVERY == 0
                        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
                        if params and (check or grad_clip):
                            norm = torch.nn.utils.get_total_norm([p.grad for p in params])
                            if check_grads and not torch.isfinite(norm):  # measured here anyway
                                _diverged("gradient norm", float(norm), epoch, state["step"], phase, config, out_dir)
                            if grad_clip:
                                torch.nn.utils.clip_grads_with_norm_(params, grad_clip, norm)
                            logs = {**logs, f"{prefix(phase)}grad_norm": norm}
                        optimizer.step()
                    model.after_optimizer_step(phase)
                    # log: running sums of every value (the model names its own logs)
                    _accumulate(running, {f"{prefix(phase)}loss": value, **logs})
                for s in schedulers:
                    s.step()
                state["step"] += 1
                state["samples"] += x.shape[0] * world
                if bar is not None:
                    bar.update(1)
                if stop.signum is not None:
                    state["train_seconds"] += time.perf_counter() - tic
                    state["epoch_seconds"] += time.perf_counter() - tic
                    state["running"] = _floats(running)
                    checkpoint(epoch, batch_index + 1)
                    raise Interrupted(
                        f"interrupted at epoch {epoch + 1}, step {state['step']}: checkpoint saved in "
                        f"{out_dir / CHECKPOINT}; continue with: latentzoo fit --resume --out {out_dir}")
            # ---- end of epoch: history, log, checkpoint -------------------------------------
            seconds = time.perf_counter() - tic + state["epoch_seconds"]
            state["train_seconds"] += time.perf_counter() - tic
            record = {"epoch": epoch + 1, **{k: s / n for k, (s, n) in _floats(running).items()}, "seconds": seconds}
            model.eval()
            record.update(model.on_epoch_end(epoch, dataset) or {})
            model.train()
            state["history"].append(record)
            state.update(epoch=epoch + 1, batch=0, running={}, epoch_seconds=0.0)
            fabric.log_dict({k: v for k, v in record.items() if isinstance(v, (int, float))}, step=state["step"])
            if bar is not None:
                bar.set_postfix_str(f"epoch {epoch + 1}/{config.epochs} " + _postfix(record, state))
            checkpoint(epoch + 1, 0)
    if bar is not None and progress is True:
        bar.close()
    for logger in fabric.loggers:
        logger.finalize("success")

    # ---- evaluate and write the run's files ------------------------------------------------
    metrics = {}
    if fabric.is_global_zero:
        model.eval()
        metrics = {
            "model": cls.name, "dataset": dataset.name, "epochs": config.epochs,
            "seed": seed,
            "train_seconds": round(state["train_seconds"], 3),
            "samples_per_second": round(state["samples"] / max(state["train_seconds"], 1e-9), 1),
            **model.evaluate(dataset, state["history"]),
        }
        save_weights(model, out_dir / "weights.safetensors")
        io.write_json(out_dir / "logs" / "history.json", state["history"])
        model.figures(dataset, state["history"], out_dir / "figures")
        io.write_json(out_dir / "metrics.json", metrics)
        from latentzoo.report import write_report

        write_report([out_dir])
    fabric.barrier()
    return metrics


def _uses_scaler(fabric) -> bool:
    return getattr(fabric.strategy.precision, "scaler", None) is not None


def _accumulate(running: dict, values: dict) -> None:
    """Running (sum, count) per logged value; tensors stay tensors (no device sync per step)."""
    for k, v in values.items():
        v = v.detach() if isinstance(v, torch.Tensor) else v
        s, n = running.get(k, (0.0, 0))
        running[k] = (s + v, n + 1)


def _floats(running: dict) -> dict:
    return {k: (float(s), n) for k, (s, n) in running.items()}


def _plain(fabric) -> bool:
    """True on a single device with the plain 32-bit precision plugin."""
    from lightning.fabric.plugins import Precision
    from lightning.fabric.strategies import SingleDeviceStrategy

    return (fabric.world_size == 1 and isinstance(fabric.strategy, SingleDeviceStrategy)
            and type(fabric.strategy.precision) is Precision)


def _postfix(record: dict, state: dict) -> str:
    loss = {k: v for k, v in record.items() if k.endswith("loss")}
    shown = " ".join(f"{k}={v:.4g}" for k, v in list(loss.items())[:2])
    rate = state["samples"] / max(state["train_seconds"], 1e-9)
    return f"{shown} {rate:,.0f} samples/s"


def _progress(progress, is_zero: bool, total: int, done: int, name: str):
    if not is_zero or progress is False:
        return None
    if progress is True:
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=done, desc=f"fit {name}", unit="step", mininterval=0.5,
                    dynamic_ncols=True, leave=True)
    return progress


def _diverged(what: str, value: float, epoch: int, step: int, phase: str, config, out_dir: Path):
    where = f" ({phase})" if phase != "main" else ""
    raise TrainingFailed(
        f"the {what} became {value} at epoch {epoch + 1}, step {step + 1}{where}: the weights diverged, most "
        f"likely because the learning rate (lr={config.lr:g}) is too high or gradients exploded; try "
        f"--set lr={config.lr / 10:g} or --set grad_clip=1.0; the last good checkpoint is kept in "
        f"{out_dir / CHECKPOINT}")


# ---------------------------------------------------------------------------------------
# load a finished run
# ---------------------------------------------------------------------------------------
def load_run(out_dir, device: str | torch.device = "cpu"):
    """(model in eval mode with its trained weights, dataset, config) of a run directory."""
    out_dir = Path(out_dir)
    cls, dataset, config, _, _ = saved_run(out_dir)
    model = cls(config, dataset)
    weights = out_dir / "weights.safetensors"
    if weights.is_file():
        from safetensors.torch import load_file

        try:
            state = load_file(str(weights))
        except Exception as e:  # noqa: BLE001
            raise UserError(f"{weights}: unreadable weights ({type(e).__name__})") from None
    elif (out_dir / CHECKPOINT).is_file():
        state = load_checkpoint(out_dir / CHECKPOINT)["model"]
    else:
        raise UserError(f"{out_dir} has no trained weights yet (no weights.safetensors or checkpoint)")
    model.load_state_dict(state)
    return model.to(device).eval(), dataset, config
