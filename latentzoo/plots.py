"""Figure helpers shared by every family: image grids, curves, labelled scatters.

Each function draws one figure and saves it as PNG (atomically) at ``path``.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from latentzoo.io import save_figure  # noqa: E402


def as_images(x: torch.Tensor, kind: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """Examples as displayable images (n, H, W) or (n, H, W, 3); None for data that is not pictured.

    Images keep their shape; flat vectors that are perfect squares (e.g. 64 → 8×8) are
    shown as square grey images. Signals and points return None (plotted as curves).
    """
    x = x.detach().float().cpu()
    if kind == "image":
        x = x.reshape(-1, *shape)
        if shape[0] == 1:
            return x[:, 0].numpy()
        return x.permute(0, 2, 3, 1).clamp(0, 1).numpy()
    d = int(np.prod(shape))
    side = int(math.isqrt(d))
    if kind == "vector" and side * side == d:
        return x.reshape(-1, side, side).numpy()
    return None


def image_grid(images: np.ndarray, path: str | Path, title: str = "", ncol: int | None = None,
               rows_titles: list[str] | None = None, normalize_each: bool = False,
               cmap: str = "gray") -> Path:
    """A grid of images (n, H, W) or (n, H, W, 3), drawn as one mosaic (one ``imshow``, fast).

    ``normalize_each`` scales each image to [−1, 1] by its own largest magnitude and uses a
    diverging colour map (for dictionary atoms and decoder columns, whose sign and scale are
    arbitrary); otherwise values are shown on [0, 1].
    """
    images = np.asarray(images, dtype=np.float64)
    n = len(images)
    ncol = ncol or min(n, int(math.ceil(math.sqrt(n))))
    nrow = int(math.ceil(n / ncol))
    h, w = images.shape[1:3]
    colour = images.ndim == 4
    pad = 1
    background = 0.0 if normalize_each else 1.0
    mosaic = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad) + ((3,) if colour else ()), background)
    for i, img in enumerate(images):
        if normalize_each:
            img = img / max(np.abs(img).max(), 1e-12)
        r, c = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        mosaic[top:top + h, left:left + w] = img
    tile = 0.75 if max(h, w) <= 16 else 1.1  # inches per image
    width = min(14.0, max(2.0, ncol * tile))
    fig, ax = plt.subplots(figsize=(width, max(1.0, width * mosaic.shape[0] / mosaic.shape[1])))
    if normalize_each:
        ax.imshow(mosaic, cmap="RdBu_r" if cmap == "gray" else cmap, vmin=-1, vmax=1, interpolation="nearest")
    elif colour:
        ax.imshow(np.clip(mosaic, 0, 1), interpolation="nearest")
    else:
        ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if rows_titles:
        for r, t in enumerate(rows_titles[:nrow]):
            ax.text(-1, pad + r * (h + pad) + h / 2, t, ha="right", va="center", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


def _rows_as_image_grid(rows, row_names, kind, shape, path, title) -> Path | None:
    """Rows of pictured examples as one grid (a row per tensor); None when the data is not pictured."""
    pictures = [as_images(r, kind, shape) for r in rows]
    if not all(p is not None for p in pictures):
        return None
    k = min(len(p) for p in pictures)
    stacked = np.concatenate([p[:k] for p in pictures])
    return image_grid(stacked, path, title=title, ncol=k, rows_titles=row_names)


def examples_figure(rows: list[torch.Tensor], row_names: list[str], kind: str, shape: tuple[int, ...],
                    path: str | Path, title: str = "") -> Path:
    """Rows of examples (e.g. inputs above reconstructions): images as a grid, signals as curves,
    points as a scatter."""
    if (grid := _rows_as_image_grid(rows, row_names, kind, shape, path, title)) is not None:
        return grid
    if kind == "points":
        fig, ax = plt.subplots(figsize=(4, 4))
        for r, name in zip(rows, row_names):
            p = r.detach().cpu().reshape(-1, 2).numpy()
            ax.scatter(p[:, 0], p[:, 1], s=3, alpha=0.5, label=name)
        ax.legend(fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_aspect("equal")
        return save_figure(fig, path)
    k = min(6, *(len(r) for r in rows))
    fig, axes = plt.subplots(1, k, figsize=(2.2 * k, 2), squeeze=False)
    for j in range(k):
        for r, name in zip(rows, row_names):
            axes[0, j].plot(r[j].detach().cpu().reshape(-1).numpy(), lw=1, label=name)
        axes[0, j].set_xticks([])
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def curves(history: list[dict], keys: list[str], path: str | Path, title: str = "",
           xlabel: str = "epoch", logy: bool = False) -> Path:
    """One line per key of the per-epoch ``history`` (keys missing from the history are skipped)."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for key in keys:
        pts = [(i + 1, h[key]) for i, h in enumerate(history) if key in h and h[key] is not None]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, label=key)
    ax.set_xlabel(xlabel)
    if logy:
        ax.set_yscale("symlog")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def scatter_2d(points: np.ndarray, labels: np.ndarray | None, path: str | Path, title: str = "") -> Path:
    """2-D points coloured by label (a latent space, a t-SNE/PCA projection)."""
    fig, ax = plt.subplots(figsize=(4.5, 4))
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=4, alpha=0.6)
    else:
        sc = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=4, alpha=0.8)
        fig.colorbar(sc, ax=ax, fraction=0.046)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def histogram(values: np.ndarray, path: str | Path, title: str = "", bins: int = 80,
              logy: bool = True) -> Path:
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.hist(values.reshape(-1), bins=bins, color="#4477aa")
    if logy:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def sequences_figure(rows: list[torch.Tensor], row_names: list[str], kind: str, shape: tuple[int, ...],
                     path: str | Path, title: str = "") -> Path:
    """Ordered sequences of examples, one row each (interpolations, latent traversals).

    Each row is a tensor (steps, *shape). Images: a grid, one row per sequence, steps
    left to right. Signals and vectors: one panel per sequence, the curves coloured from
    the first step (dark) to the last (light). Points: each sequence a path in the plane.
    """
    if (grid := _rows_as_image_grid(rows, row_names, kind, shape, path, title)) is not None:
        return grid
    if kind == "points":
        fig, ax = plt.subplots(figsize=(4.5, 4))
        for r, name in zip(rows, row_names):
            p = r.detach().float().cpu().reshape(-1, 2).numpy()
            ax.plot(p[:, 0], p[:, 1], lw=0.8, alpha=0.6)
            ax.scatter(p[:, 0], p[:, 1], c=np.linspace(0, 1, len(p)), cmap="viridis", s=10, label=name)
        ax.set_aspect("equal")
        ax.legend(fontsize=6)
        ax.set_title(title, fontsize=9)
        return save_figure(fig, path)
    n = len(rows)
    ncol = min(n, 4)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 1.9 * nrow), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, r, name in zip(axes.flat, rows, row_names):
        ax.set_axis_on()
        r = r.detach().float().cpu().reshape(len(r), -1).numpy()
        colours = plt.cm.viridis(np.linspace(0, 0.9, len(r)))
        for step, c in zip(r, colours):
            ax.plot(step, lw=0.9, color=c)
        ax.set_xticks([])
        ax.set_title(name, fontsize=7)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def atoms_figure(atoms: torch.Tensor, kind: str, shape: tuple[int, ...], path: str | Path, title: str = "",
                 max_atoms: int = 100) -> Path:
    """Dictionary atoms or decoder columns (n, *shape), whose sign and scale are arbitrary.

    Images: a grid, each atom scaled to its own range (red positive, blue negative).
    Signals and vectors: small panels of curves. Points (2-D): arrows from the origin.
    """
    atoms = atoms.detach().float().cpu()[:max_atoms]
    pictures = as_images(atoms, kind, shape)
    if pictures is not None and pictures.ndim == 3:
        return image_grid(pictures, path, title=title, normalize_each=True)
    flat = atoms.reshape(len(atoms), -1).numpy()
    if flat.shape[1] == 2:
        fig, ax = plt.subplots(figsize=(4, 4))
        lim = max(np.abs(flat).max(), 1e-12) * 1.1
        for a in flat:
            ax.annotate("", xy=(a[0], a[1]), xytext=(0, 0), arrowprops={"arrowstyle": "->", "lw": 0.8})
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        ax.set_title(title, fontsize=9)
        return save_figure(fig, path)
    n = len(flat)
    ncol = min(n, 8)
    nrow = int(math.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.3 * ncol, 0.9 * nrow + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.plot(flat[i], lw=0.8, color="#4477aa")
            ax.axhline(0, lw=0.4, color="grey")
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)
