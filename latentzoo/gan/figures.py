"""The GAN's figures: samples over training, the players' losses and gradient norms, the diagnosis."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch

from latentzoo.gan.metrics import EVAL_SEED
from latentzoo.io import save_figure
from latentzoo.plots import as_images, examples_figure, image_grid


def mixture_snapshots(snapshots: dict[int, torch.Tensor], modes: torch.Tensor, mode_std: float,
                      path: Path, title: str = "") -> Path:
    """One scatter panel per snapshot epoch: samples (blue) over the modes and their 3-std circles (red)."""
    epochs = sorted(snapshots)
    fig, axes = plt.subplots(1, len(epochs), figsize=(2.6 * len(epochs), 2.8), squeeze=False)
    modes = modes.cpu().numpy()
    span = abs(modes).max() * 1.4 + 0.2
    for ax, e in zip(axes[0], epochs):
        p = snapshots[e].reshape(-1, 2).numpy()
        ax.scatter(p[:, 0], p[:, 1], s=1.5, alpha=0.4, color="#4477aa")
        for m in modes:
            ax.add_patch(plt.Circle(m, 3 * mode_std, fill=False, color="#cc3311", lw=0.6))
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
        ax.set_aspect("equal")
        ax.set_title(f"epoch {e}", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.suptitle(title or "samples over training (circles: 3 std around each mode)", fontsize=9)
    return save_figure(fig, path)


def diagnosis_panel(diagnosis: list[dict], path: Path, signals: dict | None = None) -> Path:
    """The four findings as a table (red = detected), beside the signals they were read from."""
    signals = signals or {}
    fig = plt.figure(figsize=(11, 5.2))
    text_ax = fig.add_axes([0.0, 0.0, 0.58, 1.0])
    text_ax.set_axis_off()
    y = 0.97
    for f in diagnosis:
        colour = "#cc3311" if f["detected"] else "#228833"
        state = "DETECTED" if f["detected"] else "ok"
        text_ax.text(0.02, y, f"{f['name'].replace('_', ' ')}: {state}", color=colour, fontsize=10,
                     weight="bold", va="top", transform=text_ax.transAxes)
        y -= 0.055
        for label, body in (("evidence", f["evidence"]), ("remedy", f["remedy"])):
            for line in textwrap.wrap(f"{label}: {body}", 95)[:4]:
                text_ax.text(0.04, y, line, fontsize=7, va="top", transform=text_ax.transAxes)
                y -= 0.04
        y -= 0.02
    panels = [("generator_grad_norm", "generator gradient norm", True), ("d_win", "D ranking accuracy", False),
              ("fake_logit", "mean D(G(eta))", False)]
    for i, (key, label, logy) in enumerate(panels):
        ax = fig.add_axes([0.66, 0.72 - 0.32 * i, 0.32, 0.22])
        values = signals.get(key) or []
        if values:
            ax.plot(values, lw=0.6)
        if logy and values and min(values) > 0:
            ax.set_yscale("log")
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=6)
    ax.set_xlabel("generator step", fontsize=7)
    return save_figure(fig, path)


def gan_figures(model, data, history: list[dict], figure_dir: Path) -> list[Path]:
    """Write every GAN figure into ``figure_dir`` and return the paths."""
    figure_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    final = model.sample(1000 if model.mixture is not None else 64, torch.Generator().manual_seed(EVAL_SEED)).cpu()
    snapshots = dict(model.snapshots) or {len(history): final}
    if model.mixture is not None:
        paths.append(mixture_snapshots(snapshots, *model.mixture, figure_dir / "samples_over_training.png"))
    else:
        pictures = as_images(final, data.kind, data.shape)
        if pictures is not None:
            paths.append(image_grid(pictures, figure_dir / "samples.png", title="samples (EMA generator)"))
            rows = [snapshots[e][:10] for e in sorted(snapshots)]
            paths.append(examples_figure(rows, [f"epoch {e}" for e in sorted(snapshots)], data.kind, data.shape,
                                         figure_dir / "samples_over_training.png", title="samples over training"))
        else:
            paths.append(examples_figure([data.x_test[:6], final[:6]], ["real", "generated"], data.kind,
                                         data.shape, figure_dir / "samples.png", title="real and generated"))
    diagnosis = model.diagnosis if model.diagnosis is not None else model.diagnose(history)
    paths.append(diagnosis_panel(diagnosis, figure_dir / "diagnosis.png", model.signals(history)))
    return paths
