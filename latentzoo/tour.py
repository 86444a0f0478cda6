"""The tour: one model per seed question, trained on built-in data, with one index page.

``latentzoo tour`` fits ``linear-ae`` and ``sparse-coding`` (Q1), ``vae`` (Q2), ``gan`` on
``ring8`` (Q3) and ``simclr`` on ``mnist1d`` (Q4) with their default recipes (about ten
minutes together on two CPU cores), writes each run's report, and an index page with the
headline metrics beside the published anchors they are measured against. ``--quick`` trains
each for a tenth of its epochs (about a minute), to show the whole path works.
"""

from __future__ import annotations

import math
from pathlib import Path

from latentzoo.errors import UserError

# (run name, model, data, seed question, headline metric keys, anchor text, card figure)
STOPS = [
    ("linear-ae", "linear-ae", "digits", "Q1 linear autoencoder = PCA",
     ["test_recon_mse", "pca_recon_mse", "subspace_angle_deg"],
     "PCA optimum (Baldi & Hornik 1989): largest principal angle 0°, test MSE equal to PCA's",
     "principal_directions.png"),
    ("sparse-coding", "sparse-coding", "patches", "Q1 sparse coding",
     ["objective", "code_sparsity", "test_recon_mse"],
     "scikit-learn's MiniBatchDictionaryLearning at equal wall time: see benchmarks/RESULTS.md",
     "atoms.png"),
    ("vae", "vae", "digits", "Q2 variational autoencoder",
     ["test_neg_elbo", "test_nll_iwae", "test_kl"],
     "importance-weighted bound (Burda et al. 2016): −log p(x) ≤ −ELBO, nats per example",
     "samples.png"),
    ("gan", "gan", "ring8", "Q3 generative adversarial network",
     ["modes_covered", "modes_total", "high_quality_fraction", "reverse_kl"],
     "PacGAN4 (Lin et al. 2018, Table 1): 7.8/8 modes, 95.9% high quality, reverse KL 0.07",
     "samples_over_training.png"),
    ("simclr", "simclr", "mnist1d", "Q4 SimCLR",
     ["linear_probe_acc", "knn_acc", "linear_probe_acc_raw"],
     "published SimCLR on MNIST-1D: 82.1% linear probe; raw-input linear model 32%",
     "representation_pca.png"),
]


def _planned_steps(model: str, data: str, quick: bool) -> tuple[int, dict]:
    """Optimizer steps of a stop and its overrides (quick: a tenth of the epochs)."""
    from latentzoo.config import build_config
    from latentzoo.data import load_dataset
    from latentzoo.registry import model_class

    cls = model_class(model)
    dataset = load_dataset(data, 0)
    config = build_config(cls, dataset)
    overrides = {"epochs": max(1, math.ceil(config.epochs / 10))} if quick else {}
    epochs = overrides.get("epochs", config.epochs)
    per_epoch = max(1, len(dataset.x_train) // min(config.batch_size, len(dataset.x_train)))
    return epochs * per_epoch, overrides


def run_tour(out_dir: Path, quick: bool = False, force: bool = False) -> Path:
    """Train every stop of the tour into ``out_dir`` and return the index page's path."""
    from tqdm.auto import tqdm

    from latentzoo.engine import fit
    from latentzoo.report import index_page, write_report

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"tour output {out_dir} exists and is not a directory")
    if (out_dir / "index.html").exists() and not force:
        raise UserError(f"{out_dir} already holds a tour; use --force to replace it")
    plans = [(stop, *_planned_steps(stop[1], stop[2], quick)) for stop in STOPS]
    entries = []
    with tqdm(total=sum(p[1] for p in plans), desc="tour", unit="step", mininterval=0.5,
              dynamic_ncols=True) as bar:
        for (name, model, data, question, keys, anchor, figure), _, overrides in plans:
            bar.set_description(f"tour: {model} on {data}")
            run_dir = out_dir / name
            metrics = fit(model, data, run_dir, overrides=overrides, force=True, progress=bar)
            report = write_report([run_dir])
            entries.append({
                "title": f"{model} on {data}", "family": model, "seed_question": question,
                "report": str(report.relative_to(out_dir)),
                "metrics": {k: metrics[k] for k in keys if k in metrics}, "anchors": anchor,
                "train_seconds": metrics.get("train_seconds"),
                **({"figure": run_dir / "figures" / figure} if (run_dir / "figures" / figure).is_file() else {}),
            })
    return index_page(entries, out_dir / "index.html")
