"""The ``latentzoo`` command.

    latentzoo fit MODEL [--data NAME|PATH] [--out DIR] [--epochs N] [--seed S] [--config FILE.yaml]
                        [--set key=value ...] [--resume] [--force] [--devices N] [--num-nodes N]
                        [--strategy S] [--accelerator A] [--precision P] [--max-time T] [--compile]
    latentzoo eval DIR [--json] [--gradient-variance]
    latentzoo sample DIR [-n N] [--out FILE.npy|FILE.png]   (default: DIR/samples.png)
    latentzoo embed DIR [--data D] [--split train|test] --out FILE.npy
    latentzoo report DIR [DIR ...] [--out FILE.html]
    latentzoo tour [--quick] [--out DIR]
    latentzoo list

Exit codes: 0 success, 2 a user error (one line on stderr, no traceback), 1 an internal
error or a run that diverged, 130 interrupted (a checkpoint was saved first).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import click

from latentzoo.errors import TrainingFailed, UserError

MAX_PICTURED = 4096   # samples drawn into one .png grid


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="latentzoo")
def cli():
    """latentzoo: learn latent representations without labels (autoencoders, VAE, GAN, SimCLR)."""


@cli.command()
@click.argument("model", required=False)
@click.option("--data", help="built-in dataset name or a path (IDX folder, CIFAR folder, image folder, .npz/.npy)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="run directory (default runs/MODEL-DATA)")
@click.option("--epochs", type=click.IntRange(min=1), help="passes over the training split")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True)
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="YAML file of options")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="set an option (repeatable)")
@click.option("--resume", is_flag=True, help="continue the run in --out from its last checkpoint")
@click.option("--trust-run", "trust", is_flag=True, help="allow options of the run's config.yaml that name code to run")
@click.option("--force", is_flag=True, help="replace an existing run in --out")
@click.option("--devices", default="1", show_default=True, help="devices per node (an integer, or 'auto')")
@click.option("--num-nodes", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--strategy", default="auto", show_default=True, help="Fabric strategy: auto, ddp, ddp_spawn, fsdp, ...")
@click.option("--accelerator", default="auto", show_default=True, help="cpu, cuda, mps, gpu or auto")
@click.option("--precision", default="auto", show_default=True,
              help="auto (bf16-mixed where the model prefers it and the CPU computes bfloat16 natively, else "
                   "32-true), 32-true, bf16-mixed, 16-mixed, ...")
@click.option("--max-time", "max_time", metavar="DURATION",
              help="train for this long (90s, 15m, 2h or minutes); schedules are planned for it")
@click.option("--deterministic", is_flag=True, help="use deterministic algorithms (slower on GPU)")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads per process (default: PyTorch's)")
@click.option("--quiet", is_flag=True, help="no progress bar")
@click.option("--compile", "compile_", is_flag=True, help="run the networks under torch.compile (slower start)")
def fit(model, data, out_dir, epochs, seed, config_file, sets, resume, trust, force, devices, num_nodes, strategy,
        accelerator, precision, max_time, deterministic, threads, quiet, compile_):
    """Train MODEL and write its run directory (see `latentzoo list` for models and datasets)."""
    from latentzoo.config import parse_overrides
    from latentzoo.engine import default_data
    from latentzoo.engine import fit as run_fit
    from latentzoo.registry import model_class

    if not resume and not model:
        raise UserError("fit needs a MODEL (see `latentzoo list`), or --resume --out DIR")
    if resume and out_dir is None:
        raise UserError("--resume needs --out DIR, the run to continue")
    if out_dir is None:
        cls = model_class(model)
        out_dir = Path("runs") / f"{model}-{Path(data or default_data(cls)).stem}"
    devices = _devices(devices)
    metrics = run_fit(model, data, out_dir, overrides=parse_overrides(sets), config_file=config_file, seed=seed,
                      epochs=epochs, resume=resume, force=force, accelerator=accelerator, devices=devices,
                      num_nodes=num_nodes, strategy=strategy, precision=precision, progress=not quiet,
                      deterministic=deterministic, threads=threads, trust=trust,
                      max_time=max_time, compile=compile_)
    if metrics:
        _print_metrics(metrics)
        click.echo(f"run written to {out_dir}")


def _devices(devices: str):
    if devices == "auto":
        return "auto"
    try:
        value = int(devices)
    except ValueError:
        raise UserError(f"--devices must be a positive integer or 'auto', got {devices!r}") from None
    if value < 1:
        raise UserError(f"--devices must be a positive integer or 'auto', got {devices!r}")
    return value


def _print_metrics(metrics: dict) -> None:
    width = max(len(k) for k in metrics)
    for k, v in metrics.items():
        if isinstance(v, float):
            v = f"{v:.6g}"
        elif isinstance(v, list):
            v = json.dumps(v)[:200]
        click.echo(f"  {k:<{width}}  {v}")


@cli.command("eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the metrics as JSON")
@click.option("--gradient-variance", is_flag=True,
              help="VAE: variance of the reparameterised and score-function gradient estimators")
@click.option("--trust-run", "trust", is_flag=True, help="allow options of the run's config.yaml that name code to run")
def eval_command(run_dir, as_json, gradient_variance, trust):
    """Evaluate a trained run on its test split."""
    from latentzoo import io
    from latentzoo.engine import load_run

    model, dataset, config = load_run(run_dir, trust=trust)
    stored = io.read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").is_file() else {}
    history = io.read_json(run_dir / "logs" / "history.json") if (run_dir / "logs" / "history.json").is_file() else []
    metrics = {k: stored[k] for k in ("model", "dataset", "epochs", "seed", "train_seconds", "samples_per_second")
               if k in stored}
    metrics.update(model.evaluate(dataset, history))
    if gradient_variance:
        if "gradient_variance" not in model.extra_evaluations:
            raise UserError(f"--gradient-variance applies to the vae, not to {model.name}")
        metrics.update(model.gradient_variance(dataset))
    if stored:
        io.write_json(run_dir / "metrics.json", {**stored, **metrics})
    if as_json:
        click.echo(json.dumps(metrics, default=float))
    else:
        _print_metrics(metrics)


SAMPLES = "samples.png"                            # `latentzoo sample DIR` without --out writes DIR/samples.png
SAMPLES_RECORD = Path("logs") / "samples.json"     # ... and records its SHA-256 here: it overwrites only that file


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("-n", "count", type=click.IntRange(min=1, max=1_000_000), default=64, show_default=True)
@click.option("--out", "out_file", type=click.Path(path_type=Path),
              help=f"FILE.npy or FILE.png (default: RUN_DIR/{SAMPLES})")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True)
@click.option("--trust-run", "trust", is_flag=True, help="allow options of the run's config.yaml that name code to run")
def sample(run_dir, count, out_file, seed, trust):
    """Draw new examples from a generative model (vae, gan)."""
    import numpy as np

    from latentzoo import io, plots
    from latentzoo.engine import load_run

    if out_file is not None and out_file.suffix not in (".npy", ".png"):
        raise UserError(f"--out must end in .npy or .png, got {out_file}")
    model, dataset, _ = load_run(run_dir, trust=trust)
    default = out_file is None
    if default:
        out_file = run_dir / SAMPLES
        _check_samples_are_ours(run_dir, out_file)
    if out_file.suffix == ".png" and count > MAX_PICTURED:
        raise UserError(f"-n {count} is too many samples for one picture (at most {MAX_PICTURED:,}); "
                        "write them to a .npy file instead")
    x = model.sample(count, seed=seed)
    if out_file.suffix == ".npy":
        import io as _io

        buf = _io.BytesIO()
        np.save(buf, x.numpy())
        io.write_bytes(out_file, buf.getvalue())
    else:
        pictures = plots.as_images(x, dataset.kind, dataset.shape)
        if pictures is not None:
            plots.image_grid(pictures, out_file, f"{count} samples from {model.name}")
        else:
            plots.examples_figure([x], ["samples"], dataset.kind, dataset.shape, out_file,
                                  f"{count} samples from {model.name}")
    if default:
        io.write_json(run_dir / SAMPLES_RECORD, {"file": SAMPLES, "count": count, "seed": seed,
                                                 "sha256": _sha256(out_file)})
    click.echo(f"{count} samples written to {out_file}")


def _check_samples_are_ours(run_dir: Path, path: Path) -> None:
    """Refuse to replace ``path`` unless it is the file an earlier ``latentzoo sample`` wrote there, unchanged."""
    import os

    from latentzoo import io
    from latentzoo.errors import printable

    if not os.path.lexists(path):
        return
    record = run_dir / SAMPLES_RECORD
    written = io.read_json(record).get("sha256") if record.is_file() and not record.is_symlink() else None
    if path.is_symlink() or not path.is_file() or written is None or written != _sha256(path):
        raise UserError(f"{printable(str(path))} exists and was not written by `latentzoo sample` (or was changed "
                        "since); latentzoo never overwrites files it did not write: pass --out FILE")


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--data", help="embed another dataset with the same example shape (default: the run's)")
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True)
@click.option("--out", "out_file", type=click.Path(path_type=Path), required=True, help="FILE.npy")
@click.option("--trust-run", "trust", is_flag=True, help="allow options of the run's config.yaml that name code to run")
def embed(run_dir, data, split, out_file, trust):
    """Write the learned representation of each example (codes, VAE means, SimCLR's h)."""
    import io as _io

    import numpy as np

    from latentzoo import io
    from latentzoo.data import load_dataset
    from latentzoo.engine import load_run

    if out_file.suffix != ".npy":
        raise UserError(f"--out must end in .npy, got {out_file}")
    model, dataset, _ = load_run(run_dir, trust=trust)
    if data is not None:
        dataset = load_dataset(data, 0)
        if dataset.shape != tuple(model.data_shape):
            raise UserError(f"{data}: examples of shape {dataset.shape}, but the model was trained on "
                            f"{tuple(model.data_shape)}")
    x = dataset.x_train if split == "train" else dataset.x_test
    h = model.embed(x).cpu()
    buf = _io.BytesIO()
    np.save(buf, h.numpy())
    io.write_bytes(out_file, buf.getvalue())
    click.echo(f"{tuple(h.shape)} representation of the {split} split written to {out_file}")


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_file", type=click.Path(path_type=Path),
              help="HTML file (default DIR/report.html, or comparison.html beside the first run)")
def report(run_dirs, out_file):
    """Write a self-contained HTML report of one run, or a comparison of several."""
    from latentzoo.report import write_report

    path = write_report(list(run_dirs), out_file)
    click.echo(f"report written to {path}")


@cli.command()
@click.option("--quick", is_flag=True, help="a smaller tour in about a minute")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("runs/tour"), show_default=True)
@click.option("--force", is_flag=True, help="replace an earlier tour in --out")
@click.option("--data", help="run every stop on this dataset (a built-in name or a path) instead of the built-ins")
@click.option("--max-time", "max_time", metavar="DURATION", help="train each stop for this long (90s, 15m, ...)")
def tour(quick, out_dir, force, data, max_time):
    """Train one model of each family on built-in data (or --data) and write OUT/index.html."""
    from latentzoo.tour import run_tour

    index = run_tour(out_dir, quick=quick, force=force, data=data, max_time=max_time)
    click.echo(f"tour written to {index}")


@cli.command()
@click.argument("model")
@click.option("--data", help="show the value the recipe picks for this dataset (default: the model's own)")
def options(model, data):
    """Every option of MODEL: type, range, default, the recipe's value for the data, description."""
    from latentzoo.config import describe_options
    from latentzoo.data import load_dataset
    from latentzoo.engine import default_data
    from latentzoo.registry import model_class

    cls = model_class(model)
    data = data if data is not None else default_data(cls)
    rows = describe_options(cls, load_dataset(data, 0))
    click.echo(f"options of {model} (recipe for {data}); set with --set key=value")
    header = ("option", "type", "range", "default", "recipe", "description")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        click.echo("  " + "  ".join(c.ljust(w) for c, w in zip(row[:5], widths)) + "  " + row[5])


@cli.command("list")
def list_command():
    """The models and built-in datasets."""
    from latentzoo.data import dataset_names
    from latentzoo.registry import MODELS

    click.echo("models:")
    for name, entry in MODELS.items():
        click.echo(f"  {name:<15} {entry.tag} {entry.summary}")
    click.echo("datasets:")
    for name, text in dataset_names().items():
        click.echo(f"  {name:<15} {text}")
    click.echo("  PATH            a folder of MNIST IDX files, a CIFAR python folder, a folder of class "
               "sub-folders of images, or a .npz/.npy file")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; turn every expected failure into one line on stderr and an exit code."""
    try:
        cli.main(args=argv, prog_name="latentzoo", standalone_mode=False)
        return 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.Abort:
        click.echo("latentzoo: aborted", err=True)
        return 130
    except click.UsageError as e:
        click.echo(f"latentzoo: error: {e.format_message()}", err=True)
        return 2
    except click.ClickException as e:
        click.echo(f"latentzoo: error: {e.format_message()}", err=True)
        return 2
    except UserError as e:
        click.echo(f"latentzoo: error: {_one_line(e)}", err=True)
        return 2
    except TrainingFailed as e:
        click.echo(f"latentzoo: training stopped: {_one_line(e)}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("latentzoo: interrupted", err=True)
        return 130
    except Exception as e:  # noqa: BLE001
        from latentzoo.engine import Interrupted

        if isinstance(e, Interrupted):
            click.echo(f"latentzoo: {_one_line(e)}", err=True)
            return 130
        if os.environ.get("LATENTZOO_DEBUG"):
            traceback.print_exc()
        click.echo(f"latentzoo: internal error: {type(e).__name__}: {_one_line(e)} "
                   f"(set LATENTZOO_DEBUG=1 for the traceback)", err=True)
        return 1


def _one_line(e: BaseException) -> str:
    from latentzoo.errors import one_line, printable

    return printable(one_line(e), limit=2000)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
