"""The training engine on Lightning Fabric: resolve a run, set up devices, train, write the run directory.

``fit`` resolves the model, the data and the configuration (class defaults < the recipe for the
data < a YAML file < ``--set`` / keyword options), prepares and locks the run directory (when
there is one), and runs the one loop of :mod:`latentzoo.engine.loop`. Devices, nodes, strategy
and precision go straight to Fabric, so the same call runs on one CPU, several GPUs or several
nodes. ``load_run`` and ``load_model`` rebuild a trained model from its run directory.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch
import yaml

from latentzoo import io
from latentzoo.config import build_config, read_config_file
from latentzoo.data import load_dataset
from latentzoo.data.lazy_view import model_view
from latentzoo.engine.loop import Interrupted, finish, restore, set_up, train
from latentzoo.engine.rundir import MARKER, check_run_dir, clear_run, prepare_run_dir, run_lock
from latentzoo.engine.state import CHECKPOINT, TrainState, load_checkpoint, load_weights, save_weights
from latentzoo.errors import UserError, printable
from latentzoo.registry import model_class, spec

__all__ = ["CHECKPOINT", "MARKER", "Interrupted", "TrainState", "check_run_dir", "default_data", "fit",
           "load_checkpoint", "load_model", "load_run", "save_weights", "saved_run", "train_model"]

IN_MEMORY = "<in-memory>"   # the data entry of a run whose data came from Python objects


def default_data(cls) -> str:
    """The built-in dataset a model trains on when no ``--data`` is given."""
    return spec(cls.name).default_data if cls.name else "digits"


def resolve_run(model, data, *, overrides, config_file, seed, epochs):
    """(model object, dataset, config, data spec) of a new run; ``model`` a name or a model object."""
    obj = model_class(model)() if isinstance(model, str) else model
    cls = type(obj)
    if obj.built:
        raise UserError(f"this {cls.__name__} is already trained; make a new one to train again")
    if data is None or isinstance(data, str):
        data_spec = data if data is not None else default_data(cls)
        if data_spec.strip() and not _is_builtin(data_spec):
            try:
                if Path(data_spec).exists():
                    data_spec = str(Path(data_spec).resolve())
            except (OSError, ValueError):
                pass  # load_dataset reports it as one line
        dataset = load_dataset(data_spec, seed)
    else:
        dataset, data_spec = data, IN_MEMORY
    options = {**obj.options, **(overrides or {})}
    if epochs is not None:
        options["epochs"] = epochs
    file_options = read_config_file(config_file) if config_file else {}
    return obj, dataset, build_config(cls, dataset, file_options, options), data_spec


def read_saved_config(out_dir: Path) -> dict:
    """The parsed ``config.yaml`` of a run directory (model, data, seed, config, data_info, fabric)."""
    from latentzoo.config import read_yaml_file

    path = out_dir / "config.yaml"
    if not path.is_file():
        raise UserError(f"{printable(str(out_dir))} is not a latentzoo run directory (no config.yaml)")
    saved = read_yaml_file(path, follow_symlinks=False)
    if not (isinstance(saved, dict) and isinstance(saved.get("model"), str) and isinstance(saved.get("config"), dict)
            and isinstance(saved.get("seed"), int) and not isinstance(saved.get("seed"), bool)):
        raise UserError(f"{printable(str(path))}: not a latentzoo run configuration")
    return saved


# options whose value names code to import and run: accepted from the command line or Python, never
# from a saved configuration (a run directory received from someone else must run nothing of theirs)
CODE_OPTIONS = ("feature_extractor",)


def saved_run(out_dir: Path, epochs: int | None = None, *, need_data: bool = True, trust: bool = False):
    """(model class, dataset or None, config, seed, data spec) from a run directory's ``config.yaml``."""
    saved = read_saved_config(out_dir)
    options = dict(saved["config"])
    for key in CODE_OPTIONS:
        if isinstance(options.get(key), str) and not trust:
            raise UserError(f"{printable(str(out_dir / 'config.yaml'))} names code to run ({key}="
                            f"{printable(options[key], 80)}); latentzoo runs no code named by a run directory. "
                            "If you wrote this run yourself, repeat the command with --trust-run")
    if epochs is not None:
        options["epochs"] = epochs
    cls = model_class(saved["model"])
    data_spec, seed = saved.get("data"), saved["seed"]
    dataset = None
    if need_data or "data_info" not in saved:
        if not isinstance(data_spec, str) or data_spec == IN_MEMORY:
            raise UserError(f"{printable(str(out_dir))} was trained on data given in Python; pass that data again")
        dataset = load_dataset(data_spec, seed)
    if dataset is not None:
        config = build_config(cls, dataset, options)
    else:  # a saved configuration is complete: no recipe is needed, only validation
        config = build_config(cls, _info(saved, out_dir), options, use_recipe=False)
    return cls, dataset, config, seed, data_spec, saved


def fit(model, data, out_dir, *, overrides: dict | None = None, config_file: str | None = None, seed: int = 0,
        epochs: int | None = None, resume: bool = False, force: bool = False, accelerator: str = "auto",
        devices: int | str = 1, num_nodes: int = 1, strategy: str = "auto", precision: str = "auto",
        progress: bool | object = True, deterministic: bool = False, threads: int | None = None,
        trust: bool = False, max_time=None, compile: bool = False) -> dict:
    """Train ``model`` on ``data``, write the run directory ``out_dir`` and return its metrics (the CLI's path)."""
    return train_model(model, data, out_dir, overrides=overrides, config_file=config_file, seed=seed, epochs=epochs,
                       resume=resume, force=force, accelerator=accelerator, devices=devices, num_nodes=num_nodes,
                       strategy=strategy, precision=precision, progress=progress, deterministic=deterministic,
                       threads=threads, trust=trust, max_time=max_time, compile=compile).metrics


def train_model(model, data, out_dir, *, overrides=None, config_file=None, seed=0, epochs=None, resume=False,
                force=False, accelerator="auto", devices=1, num_nodes=1, strategy="auto", precision="auto",
                progress=True, deterministic=False, threads=None, trust=False, max_time=None, compile=False):
    """Train and return the model (with ``.metrics``, ``.history`` and ``.config``); ``out_dir=None`` writes nothing.

    ``model`` is a registered name or a model object; ``data`` a built-in name, a path or a
    :class:`~latentzoo.data.Dataset`. ``progress`` is True (a progress bar), False, or an object with
    ``update(n)`` and ``set_postfix_str(s)`` (an outer progress display, as the tour uses). ``compile=True``
    runs the networks under ``torch.compile`` (:mod:`latentzoo.engine.compiling`).
    """
    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is None and resume:
        raise UserError("resume needs a run directory (out=...)")
    if out_dir is not None and _is_launching_process():  # fail early, before data is loaded
        check_run_dir(out_dir, resume, force)
    _check_precision(precision)
    if compile:   # refused in one line before any data is read where torch.compile cannot work
        from latentzoo.engine.compiling import check_compile_works

        check_compile_works()
    budget_seconds = None
    if max_time is not None:
        from latentzoo.engine.budget import parse_duration

        budget_seconds = parse_duration(max_time)
    fabric_options = {"accelerator": accelerator, "devices": devices, "num_nodes": num_nodes,
                      "strategy": strategy, "precision": precision}
    saved = None
    if resume and (out_dir / "config.yaml").is_file():
        if overrides or config_file:
            raise UserError("--resume continues a run with its saved configuration; drop --set/--config")
        cls, dataset, config, seed, data_spec, saved = saved_run(out_dir, epochs, trust=trust)
        _check_resume_epochs(out_dir, config.epochs)
        if isinstance(model, str) and model != cls.name:
            raise UserError(f"{printable(str(out_dir))} holds a {cls.name} run, not {model}; "
                            f"resume it with `latentzoo fit --resume --out {out_dir}`")
        obj = model if not isinstance(model, (str, type(None))) else cls()
    else:
        obj, dataset, config, data_spec = resolve_run(model, data, overrides=overrides, config_file=config_file,
                                                      seed=seed, epochs=epochs)
    from latentzoo.engine.runtime import resolve_precision

    fabric_options["precision"] = resolve_precision(precision, obj, config, dataset, accelerator, saved)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    fabric = _fabric(fabric_options, len(type(obj).phases), out_dir)
    fabric.launch()
    _set_threads(threads, fabric)
    _prepare_on_rank_zero(fabric, out_dir, resume, force)
    lock = run_lock(out_dir) if (out_dir is not None and fabric.is_global_zero) else contextlib.nullcontext()
    with lock:
        if out_dir is not None and fabric.is_global_zero:
            if force and not resume:
                clear_run(out_dir)
            _write_config(out_dir, obj, data_spec, seed, config, dataset, fabric_options)
        fabric.barrier()
        return _run(fabric, obj, dataset, config, seed, out_dir, resume, progress,
                    (budget_seconds, data_spec, fabric_options), compile)


def _run(fabric, obj, dataset, config, seed, out_dir, resume, progress, budget=(None, None, None), compile=False):
    torch.manual_seed(seed)  # same initial weights on every rank
    obj.build(config, dataset)
    run = set_up(fabric, obj, dataset, config, seed, out_dir)
    run.dataset = model_view(obj, dataset)  # data read lazily: a capped in-memory view besides the batches
    state = restore(run) if resume and out_dir is not None else TrainState()
    if state.step == 0 and state.epoch == 0:
        obj.on_train_start(run.dataset)
    if budget[0] is not None:
        from latentzoo.engine.budget import plan

        run.budget, run.budget_start_step = plan(run, state, budget[0]), state.step
        if out_dir is not None and fabric.is_global_zero:   # the planned epochs (a cap) are the run's epochs
            _write_config(out_dir, obj, budget[1], seed, config, dataset, budget[2])
    if compile:   # after the budget's calibration (which copies the model), so the copy stays eager
        from latentzoo.engine.compiling import compile_networks

        compile_networks(obj)
    # with a budget the bar counts to the planned steps (re-aimed with the plan), not to the epochs' cap
    total = run.budget.planned_steps if run.budget is not None else config.epochs * len(run.batches)
    run.bar = _progress(progress, fabric.is_global_zero, total, state.step, obj.name)
    try:
        train(run, state)
    finally:
        if run.bar is not None and progress is True:
            run.bar.close()
    for logger in fabric.loggers:
        logger.finalize("success")
    finish(run, state, seed, dataset.name)
    if out_dir is not None and fabric.is_global_zero:
        from latentzoo.report import write_report

        write_report([out_dir])
    fabric.barrier()
    return obj


PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "bf16-true", "16-mixed", "16-true", "transformer-engine")


def _check_precision(precision) -> None:
    """Refuse precisions the models cannot run in (float64: the data and every network are float32)."""
    if str(precision) not in PRECISIONS:
        raise UserError(f"--precision {printable(str(precision), 40)} is not supported; choose one of: "
                        + ", ".join(PRECISIONS[:-1]))


def _check_resume_epochs(out_dir: Path, epochs: int) -> None:
    """A resumed run cannot end before the epochs it has already trained."""
    path = out_dir / CHECKPOINT
    if path.is_file():
        done = int(load_checkpoint(path).get("epoch", 0))
        if epochs < done:
            raise UserError(f"{printable(str(out_dir))} has already trained {done} epochs; --epochs {epochs} "
                            f"would end before that (give --epochs {done} or more, or omit it)")


def _prepare_on_rank_zero(fabric, out_dir, resume, force) -> None:
    """Rank 0 owns the directory; the others learn whether it succeeded."""
    if out_dir is None:
        return
    problem = None
    if fabric.is_global_zero:
        try:
            prepare_run_dir(out_dir, resume, force)
        except UserError as e:
            problem = str(e)
    problem = fabric.broadcast(problem, src=0) if fabric.world_size > 1 else problem
    if problem:
        raise UserError(problem)


def _write_config(out_dir, obj, data_spec, seed, config, dataset, fabric_options) -> None:
    from latentzoo.data.info import DataInfo

    io.write_text(out_dir / "config.yaml", yaml.safe_dump({
        "model": obj.name, "data": data_spec, "seed": seed, "config": config.model_dump(),
        "data_info": DataInfo.of(dataset).to_dict(),
        "fabric": {k: (v if isinstance(v, (str, int, float)) else str(v)) for k, v in fabric_options.items()},
    }, sort_keys=False))


def _fabric(options: dict, phases: int, out_dir):
    """A Fabric for ``options`` (or the local runtime when Fabric would do nothing); several phases under
    DDP leave the other player without gradients."""
    from latentzoo.distributed import check_launcher
    from latentzoo.engine.runtime import LocalRuntime, local_device

    check_launcher(options["num_nodes"])  # several nodes and no launcher would wait forever for the others
    device = local_device(options)
    if device is not None:
        return LocalRuntime(device)
    nvml_check_set = "PYTORCH_NVML_BASED_CUDA_CHECK" in os.environ
    from lightning.fabric import Fabric

    if not nvml_check_set:  # lightning sets it on import; it slows every optimizer step when no GPU is present
        os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
    options = dict(options)
    if options["strategy"] == "ddp" and phases > 1:
        from lightning.fabric.strategies import DDPStrategy

        options["strategy"] = DDPStrategy(find_unused_parameters=True)
    try:
        return Fabric(**options, loggers=_loggers(out_dir) if out_dir is not None else [])
    except (ValueError, RuntimeError, TypeError) as e:
        raise UserError(f"cannot set up devices: {printable(str(e).splitlines()[0])}") from None


def _is_launching_process() -> bool:
    """True in the process the user started (not in a rank that a launcher started)."""
    return all(os.environ.get(v, "0") == "0" for v in ("LOCAL_RANK", "NODE_RANK", "RANK", "SLURM_PROCID"))


def _is_builtin(name: str) -> bool:
    from latentzoo.data.builtin import BUILTIN

    return name in BUILTIN


def _set_threads(threads: int | None, fabric) -> None:
    """CPU threads per process: ``threads`` if given; with several processes on one CPU machine,
    the cores shared out among them (unless OMP_NUM_THREADS says otherwise)."""
    if threads:
        torch.set_num_threads(threads)
    elif fabric.device.type == "cpu" and fabric.world_size > 1 and "OMP_NUM_THREADS" not in os.environ:
        local = max(1, fabric.world_size // max(1, fabric.num_nodes))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))


def _loggers(out_dir: Path) -> list:
    """TensorBoard when it is installed (``logs/metrics.csv`` is written by the loop from the history, so
    it stays whole across resumes)."""
    try:
        import tensorboard  # noqa: F401
        from lightning.fabric.loggers import TensorBoardLogger
    except ImportError:
        return []
    return [TensorBoardLogger(str(out_dir), name="logs", version="tensorboard")]


def _progress(progress, is_zero: bool, total: int, done: int, name: str):
    if not is_zero or progress is False:
        return None
    if progress is True:
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=done, desc=f"fit {name}", unit="step", mininterval=0.5,
                    dynamic_ncols=True, leave=True)
    if hasattr(progress, "total"):
        progress.total = total                       # an outer display counts this run's plan
    return progress


def load_model(run_dir, device: str | torch.device = "cpu", trust: bool = False, **networks):
    """The trained model of a run directory, in eval mode, without reading its dataset.

    A model trained with user networks needs them again: pass the same modules (untrained
    instances of the same classes) as keyword arguments, e.g. ``load_model(d, encoder=Enc())``.
    """
    run_dir = Path(run_dir)
    cls, dataset, config, _, _, saved = saved_run(run_dir, need_data=False, trust=trust)
    model = cls(**networks)
    model.build(config, dataset if dataset is not None else _info(saved, run_dir))
    load_weights(model, run_dir)
    metrics_path = run_dir / "metrics.json"
    if metrics_path.is_file():
        import json

        with contextlib.suppress(ValueError, OSError):
            model.metrics = json.loads(metrics_path.read_text())
    return model.to(device).eval()


def _info(saved: dict, out_dir: Path):
    from latentzoo.data.info import DataInfo

    try:
        info = DataInfo.from_dict(saved["data_info"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UserError(f"{printable(str(out_dir / 'config.yaml'))}: its data_info is not valid") from None
    if not info.shape or min(info.shape) < 1 or info.dim > 1 << 31:
        raise UserError(f"{printable(str(out_dir / 'config.yaml'))}: its data_info is not valid")
    return info


def load_run(out_dir, device: str | torch.device = "cpu", trust: bool = False):
    """(model in eval mode with its trained weights, dataset, config) of a run directory."""
    out_dir = Path(out_dir)
    cls, dataset, config, _, _, _ = saved_run(out_dir, trust=trust)
    model = cls(config, dataset)
    load_weights(model, out_dir)
    return model.to(device).eval(), dataset, config
