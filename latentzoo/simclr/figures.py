r"""SimCLR's figures: pairs of augmented views, a 2-D projection of h, the loss, the probe table."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from latentzoo import plots


def pca_2d(h: torch.Tensor) -> torch.Tensor:
    r"""Projection of the centred rows of h onto their top two principal directions."""
    centred = h.double() - h.double().mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    return (centred @ v[:2].T).float()


def views_figure(model, data, path: Path, n: int = 8, seed: int = 0) -> Path:
    r"""Rows: originals, view t(x), view t′(x) for ``n`` test examples."""
    rng = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        x = data.x_test[:n].to(model.device)
        a, b = model.augment(x), model.augment(x)
    finally:
        torch.set_rng_state(rng)
    return plots.examples_figure([x.cpu(), a.cpu(), b.cpu()], ["x", "t(x)", "t'(x)"], data.kind, data.shape,
                                 path, title="SimCLR: two augmented views of each example")


def probe_table_figure(metrics: dict, path: Path) -> Path:
    r"""Bar chart of the probe accuracies on h and on the raw inputs."""
    import matplotlib.pyplot as plt

    from latentzoo.io import save_figure

    rows = [("linear", "linear_probe_acc"), ("k-NN", "knn_acc"),
            ("linear, 10% labels", "linear_probe_acc_10pct"), ("linear, 1% labels", "linear_probe_acc_1pct")]
    rows = [(name, key) for name, key in rows if metrics.get(key) is not None]
    fig, ax = plt.subplots(figsize=(5.5, 3))
    ys = range(len(rows))
    ax.barh([y + 0.2 for y in ys], [metrics[k] for _, k in rows], height=0.4, label="h = f(x)", color="#4477aa")
    raw = [metrics.get(k.replace("_acc", "_acc_raw")) or 0.0 for _, k in rows]
    ax.barh([y - 0.2 for y in ys], raw, height=0.4, label="raw input", color="#bbbbbb")
    for y, (_, k), r in zip(ys, rows, raw):
        ax.text(metrics[k] + 0.01, y + 0.2, f"{metrics[k]:.1%}", va="center", fontsize=7)
        ax.text(r + 0.01, y - 0.2, f"{r:.1%}", va="center", fontsize=7)
    ax.set_yticks(list(ys), [name for name, _ in rows], fontsize=8)
    ax.set_xlim(0, 1.15)
    ax.set_xlabel("test accuracy")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Probes on the frozen representation", fontsize=9)
    return save_figure(fig, path)


def simclr_figures(model, data, history: list[dict], figure_dir: Path) -> list[Path]:
    r"""Every SimCLR figure; the probe chart reads the run's metrics when they exist."""
    paths = [views_figure(model, data, figure_dir / "views.png")]
    x = data.x_test[:2000]
    h = model.embed(x)
    labels = None if data.y_test is None else data.y_test[:2000].numpy()
    paths.append(plots.scatter_2d(pca_2d(h).numpy(), labels, figure_dir / "representation_pca.png",
                                  title="h = f(x) of test examples, first two principal components"))
    metrics = getattr(model, "last_metrics", None)                # the evaluate() that just ran
    metrics_path = figure_dir.parent / "metrics.json"
    if metrics is None and metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text())
    if metrics is None and data.y_train is not None:
        metrics = model.evaluate(data, history)
    if metrics and metrics.get("linear_probe_acc") is not None:
        paths.append(probe_table_figure(metrics, figure_dir / "probes.png"))
    return paths
