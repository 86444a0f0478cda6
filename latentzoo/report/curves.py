r"""Training curves drawn from ``logs/history.json``: one figure per run, one overlay per comparison.

``curves.png`` is the one figure of a run's training curves, for every family: the
training losses share a panel (with their ``test_``/``val_`` counterparts), the gradient
norms share one, the per-phase times share one, keys that end in the same word
(``real_logit``, ``fake_logit``) share one, and every other numeric key of the history
gets its own (``test_neg_elbo`` beside ``neg_elbo``, ``positive_cosine``, ``modes_covered``,
…). The families therefore draw no loss figures of their own.
"""

from __future__ import annotations

import io as _io
import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from latentzoo import io
from latentzoo.report.declared import is_number
from latentzoo.report.files import printable

PALETTE = ["#4f46e5", "#e11d48", "#0891b2", "#d97706", "#16a34a", "#9333ea", "#475569", "#db2777"]
_CURVE_STYLE = {
    "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#94a3b8",
    "axes.labelcolor": "#334155", "xtick.color": "#475569", "ytick.color": "#475569",
    "axes.grid": True, "grid.color": "#e2e8f0", "grid.linewidth": 0.8, "font.size": 9,
    "axes.titlesize": 10, "axes.titleweight": "bold", "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "legend.frameon": False, "figure.facecolor": "white",
}
_SKIP_CURVE_KEYS = {"epoch", "seconds", "step", "timed_samples", "resolution"}
_HELD_OUT = ("test_", "val_")
MAX_PANELS = 12


def _text(value, limit: int = 60) -> str:
    """A name from a run's files as matplotlib text: printable, short, ``$`` not read as mathtext."""
    return printable(value, limit).replace("$", r"\$")


def _series(history: list[dict], key: str) -> tuple[list, list]:
    """(epochs, values) of one history key, finite numbers only."""
    xs, ys = [], []
    for i, record in enumerate(history):
        v = record.get(key)
        if is_number(v) and math.isfinite(v):
            epoch = record.get("epoch", i + 1)
            xs.append(epoch if is_number(epoch) and math.isfinite(epoch) else i + 1)
            ys.append(float(v))
    return xs, ys


def _curve_keys(histories: list[list[dict]]) -> list[str]:
    """Numeric history keys in order of first appearance (bookkeeping keys left out)."""
    keys: dict[str, None] = {}
    for history in histories:
        for record in history:
            for k, v in record.items():
                if isinstance(k, str) and k not in _SKIP_CURVE_KEYS and not k.startswith("probe_") and is_number(v):
                    keys.setdefault(k, None)
    return [k for k in keys if any(_series(h, k)[1] for h in histories)]


def _panels(keys: list[str]) -> list[tuple[str, list[str]]]:
    """Group keys into panels (see the module docstring); a held-out key joins its training key."""
    used: set[str] = set()
    panels: list[tuple[str, list[str]]] = []

    def add(title: str, members: list[str]) -> None:
        members = [k for k in members if k not in used]
        members += [p + k for k in members for p in _HELD_OUT if p + k in keys and p + k not in used]
        if members:
            panels.append((title, members))
            used.update(members)

    add("training loss", [k for k in keys if (k == "loss" or k.endswith("_loss")) and not k.startswith(_HELD_OUT)])
    add("gradient norm", [k for k in keys if "grad_norm" in k])
    add("seconds per phase", [k for k in keys if k.startswith("time_")])
    by_last_word: dict[str, list[str]] = {}
    for k in keys:
        if "_" in k and not k.startswith(_HELD_OUT):
            by_last_word.setdefault(k.rsplit("_", 1)[1], []).append(k)
    for k in keys:
        if k in used:
            continue
        group = by_last_word.get(k.rsplit("_", 1)[-1], []) if "_" in k else []
        members = group if len(group) > 1 and k in group else [k]
        add(" / ".join(m.replace("_", " ") for m in members if m not in used), members)
    return panels


def _log_scale(values: list[float]) -> bool:
    """Log y-axis when every value is positive and they span more than 1.5 decades."""
    return bool(values) and min(values) > 0 and max(values) / min(values) > 10 ** 1.5


def _grid(n: int) -> tuple[plt.Figure, list]:
    ncol = min(3, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.4 * ncol, 3.0 * nrow), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _finish_axes(ax, title: str, values: list[float], xs: list) -> None:
    """Title (with the scale), log y-axis where it helps, integer epochs; one epoch is centred."""
    log = _log_scale(values)
    if log:
        ax.set_yscale("log")
    ax.set_title(title + (" (log scale)" if log else ""), loc="left")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if xs and min(xs) == max(xs):
        ax.set_xlim(xs[0] - 1, xs[0] + 1)


def _png(fig) -> bytes:
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def history_png(history: list[dict], title: str = "") -> tuple[bytes, list[str]] | None:
    """The PNG bytes of a run's curves and the keys drawn; ``None`` when the history has no numeric series."""
    keys = _curve_keys([history])
    if not keys:
        return None
    panels = _panels(keys)[:MAX_PANELS]
    with plt.rc_context(_CURVE_STYLE):
        fig, axes = _grid(len(panels))
        for ax, (name, panel_keys) in zip(axes, panels):
            values, epochs = [], []
            for key in panel_keys:
                xs, ys = _series(history, key)
                values += ys
                epochs += xs
                ax.plot(xs, ys, lw=1.8, marker="o" if len(xs) <= 25 else None, ms=3, label=_text(key),
                        ls="--" if key.startswith(_HELD_OUT) else "-")
            _finish_axes(ax, _text(name, 80), values, epochs)
            if len(panel_keys) > 1:
                ax.legend(fontsize=8)
        if title:
            fig.suptitle(_text(title, 120), fontsize=11, x=0.01, ha="left")
        fig.tight_layout()
        return _png(fig), [k for _, ks in panels for k in ks]


def history_curves(history: list[dict], path: str | os.PathLike, title: str = "") -> tuple[Path, list[str]] | None:
    r"""Draw every numeric key of a run's per-epoch ``history`` against the epoch; save a PNG at ``path``.

    Panels as in the module docstring; a panel whose positive values span more than 1.5
    decades uses a log y-axis; at most 12 panels. Returns (path, keys drawn), or None when
    the history holds no numeric series. The file is written atomically.
    """
    drawn = history_png(history, title)
    if drawn is None:
        return None
    io.write_bytes(path, drawn[0])
    return Path(path), drawn[1]


def comparison_png(histories: list[list[dict]], labels: list[str]) -> bytes | None:
    """The PNG bytes of each numeric history key overlaid across runs; ``None`` when no run has one."""
    keys = _curve_keys(histories)[:MAX_PANELS]
    if not keys:
        return None
    with plt.rc_context(_CURVE_STYLE):
        fig, axes = _grid(len(keys))
        for ax, key in zip(axes, keys):
            values, epochs = [], []
            for i, history in enumerate(histories):
                xs, ys = _series(history, key)
                values += ys
                epochs += xs
                if ys:
                    ax.plot(xs, ys, lw=1.8, color=PALETTE[i % len(PALETTE)], marker="o" if len(xs) <= 25 else None,
                            ms=3)
            _finish_axes(ax, _text(key.replace("_", " ")), values, epochs)
        handles = [plt.Line2D([], [], color=PALETTE[i % len(PALETTE)], lw=2.2) for i in range(len(labels))]
        fig.legend(handles, [_text(label) for label in labels], loc="upper center", ncol=min(len(labels), 4), fontsize=9,
                   bbox_to_anchor=(0.5, 1.0))
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight() * math.ceil(len(labels) / 4)))
        return _png(fig)


def comparison_curves(histories: list[list[dict]], labels: list[str], path: str | os.PathLike) -> Path | None:
    r"""Overlay each numeric history key across runs: one panel per key, one line per run; save a PNG at ``path``.

    Keys present in only some runs are drawn for those runs. At most 12 panels; returns the
    PNG path, or None when no run has a numeric history.
    """
    png = comparison_png(histories, labels)
    if png is None:
        return None
    io.write_bytes(path, png)
    return Path(path)
