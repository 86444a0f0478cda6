r"""Self-contained HTML reports of runs: one page per run, a comparison page, a tour index.

A report is a single ``.html`` file that opens in any browser without a network or a
server: every figure is embedded as a ``data:image/png;base64,...`` URI, the style sheet
and the few lines of script are inline, and only system fonts are named.

* ``write_report([run_dir])`` writes ``run_dir/report.html``: the title (model, dataset,
  the seed question the model answers), headline numbers, the GAN diagnosis as a panel of
  findings, the full metrics table, the training curves (drawn from ``logs/history.json``
  and also saved as ``figures/curves.png``), every PNG of ``figures/`` grouped by what it
  shows, and the configuration with the command that reproduces the run.
* ``write_report([dir_a, dir_b, ...])`` also writes each run's report and a comparison
  page (``comparison.html`` beside the first run, or ``out_file``): metrics side by side
  over the union of their keys, the curves of each history key overlaid across runs, the
  options that differ, and links to each run's report.
* ``index_page(entries, out_file)`` writes the summary page of the tour.

All files are written atomically (:func:`latentzoo.io.write_text`). A missing run
directory or an unreadable ``metrics.json`` raises :class:`~latentzoo.errors.UserError`
with one line naming the path.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import yaml
from matplotlib.ticker import MaxNLocator

from latentzoo import io
from latentzoo.errors import UserError

__all__ = ["comparison_curves", "history_curves", "index_page", "load_run_record", "write_report"]

# ---------------------------------------------------------------------------------------
# What the page knows about names: seed questions, metrics, figures
# ---------------------------------------------------------------------------------------
SEED_QUESTIONS = {
    "Q1": "Autoencoders and constraints on the latent variable",
    "Q2": "Variational autoencoder",
    "Q3": "Generative adversarial network",
    "Q4": "SimCLR: contrastive learning of visual representations",
}

# One line per metric of DESIGN.md, shown beside the value.
METRIC_NOTES = {
    "epochs": "passes over the training split",
    "seed": "random seed of the run",
    "train_seconds": "wall-clock training time, seconds",
    "samples_per_second": "training throughput",
    "latent_dim": "dimension k of the code",
    "test_recon_mse": "test reconstruction error: mean over examples of Σ (x − x̂)²",
    "pca_recon_mse": "the same error for PCA with k components, the linear optimum",
    "subspace_angle_deg": "largest principal angle between the decoder's and PCA's subspaces, degrees",
    "code_sparsity": "fraction of code entries exactly zero",
    "objective": "sparse-coding objective ‖X − UD‖²_F + λ‖U‖₁",
    "laplace_nll": "−log p(h) under the Laplace prior, Σᵢ (λ|hᵢ| − log(λ/2))",
    "test_neg_elbo": "test −ELBO, nats per example",
    "test_recon": "test −E log p(x|z), nats per example",
    "test_kl": "test KL(q(z|x) ‖ p(z)), nats per example",
    "test_nll_iwae": "importance-weighted bound on −log p(x), nats per example",
    "iwae_k": "importance samples in the IWAE bound",
    "modes_covered": "modes with at least one sample within 3 std",
    "modes_total": "modes of the mixture",
    "high_quality_fraction": "fraction of samples within 3 std of their nearest mode",
    "reverse_kl": "KL(p̂ ‖ uniform) over the modes' shares of samples",
    "frechet_distance": "Fréchet distance between real and generated features",
    "precision": "share of generated samples on the real data's manifold",
    "recall": "share of real samples on the generated data's manifold",
    "linear_probe_acc": "test accuracy of a linear classifier on the representation h",
    "knn_acc": "test accuracy of k-nearest neighbours on the representation h",
    "linear_probe_acc_raw": "the same linear probe on the raw inputs (baseline)",
    "knn_acc_raw": "the same k-NN on the raw inputs (baseline)",
}

# Which way is better, for the comparison page's highlight (only where it is unambiguous).
LOWER_IS_BETTER = {"test_recon_mse", "subspace_angle_deg", "objective", "laplace_nll", "test_neg_elbo",
                   "test_recon", "test_nll_iwae", "reverse_kl", "frechet_distance", "train_seconds"}
HIGHER_IS_BETTER = {"modes_covered", "high_quality_fraction", "precision", "recall", "linear_probe_acc",
                    "knn_acc", "samples_per_second"}

# Metadata shown in the page header rather than as headline numbers.
META_KEYS = ("model", "dataset", "epochs", "seed", "train_seconds", "samples_per_second")

# Figure groups, in page order: (anchor, heading, one-line explanation, words in the file stem).
FIGURE_GROUPS = [
    ("training", "Training", "how the losses and gradients moved while the model trained",
     ("curves", "loss", "grad", "learning_rate", "lr_")),
    ("diagnosis", "Diagnosis and mode coverage", "what went wrong (or right), measured",
     ("diagnos", "mode", "coverage")),
    ("reconstructions", "Reconstructions", "inputs next to what the model gives back",
     ("recon", "denois")),
    ("generation", "Samples, interpolations and traversals", "what the model generates from its latent space",
     ("sample", "generat", "interp", "travers")),
    ("features", "Learned features", "the directions, atoms and filters the model learned",
     ("atom", "dictionar", "principal", "direction", "filter", "weight", "component")),
    ("latent", "Latent space", "where the examples land in the learned representation",
     ("latent", "code", "embed", "scatter", "tsne", "umap", "pca", "hist")),
    ("augmentations", "Augmentations", "the two correlated views the contrastive loss compares",
     ("augment", "view", "pair")),
    ("probes", "Probes", "how much label information the representation holds",
     ("probe", "knn", "accuracy", "confusion")),
    ("other", "Other figures", "", ()),
]

CURVES_FILE = "curves.png"
CURVES_CAPTION = "Training curves from logs/history.json"


# ---------------------------------------------------------------------------------------
# Reading a run directory
# ---------------------------------------------------------------------------------------
def load_run_record(run_dir: str | os.PathLike) -> dict:
    r"""Everything a report shows about one run, read from its directory.

    Returns ``{"dir", "metrics", "config", "history", "figures"}``: the metrics dict of
    ``metrics.json``, the parsed ``config.yaml`` (``{}`` when absent), the list of per-epoch
    dicts of ``logs/history.json`` (``[]`` when absent) and the sorted PNG paths of
    ``figures/``. A missing directory, a missing or unreadable ``metrics.json`` or an
    unreadable ``config.yaml``/``history.json`` raises :class:`UserError` naming the path.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise UserError(f"{metrics_path}: missing; the run has not finished (or {run_dir} is not a run directory)")
    metrics = _read_json(metrics_path)
    if not isinstance(metrics, dict):
        raise UserError(f"{metrics_path}: not a JSON object of metrics")
    config = {}
    config_path = run_dir / "config.yaml"
    if config_path.is_file():
        try:
            config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            raise UserError(f"{config_path}: unreadable run configuration") from None
        if not isinstance(config, dict):
            raise UserError(f"{config_path}: not a mapping of options")
    history = []
    history_path = run_dir / "logs" / "history.json"
    if history_path.is_file():
        history = _read_json(history_path)
        if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
            raise UserError(f"{history_path}: not a list of per-epoch records")
    figure_dir = run_dir / "figures"
    figures = sorted(figure_dir.glob("*.png")) if figure_dir.is_dir() else []
    return {"dir": run_dir, "metrics": metrics, "config": config, "history": history, "figures": figures}


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(f"{path}: unreadable JSON") from None


# ---------------------------------------------------------------------------------------
# Curves (matplotlib → PNG)
# ---------------------------------------------------------------------------------------
PALETTE = ["#4f46e5", "#e11d48", "#0891b2", "#d97706", "#16a34a", "#9333ea", "#475569", "#db2777"]
_CURVE_STYLE = {
    "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#94a3b8",
    "axes.labelcolor": "#334155", "xtick.color": "#475569", "ytick.color": "#475569",
    "axes.grid": True, "grid.color": "#e2e8f0", "grid.linewidth": 0.8, "font.size": 9,
    "axes.titlesize": 10, "axes.titleweight": "bold", "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "legend.frameon": False, "figure.facecolor": "white",
}
_SKIP_CURVE_KEYS = {"epoch", "seconds", "step"}
MAX_PANELS = 12


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _series(history: list[dict], key: str) -> tuple[list, list]:
    """(epochs, values) of one history key, finite numbers only."""
    xs, ys = [], []
    for i, record in enumerate(history):
        v = record.get(key)
        if _is_number(v) and math.isfinite(v):
            epoch = record.get("epoch", i + 1)
            xs.append(epoch if _is_number(epoch) else i + 1)
            ys.append(float(v))
    return xs, ys


def _curve_keys(histories: list[list[dict]]) -> list[str]:
    """Numeric history keys in order of first appearance (bookkeeping keys left out)."""
    keys: dict[str, None] = {}
    for history in histories:
        for record in history:
            for k, v in record.items():
                if k not in _SKIP_CURVE_KEYS and _is_number(v):
                    keys.setdefault(k, None)
    return [k for k in keys if any(_series(h, k)[1] for h in histories)]


def _panels(keys: list[str]) -> list[tuple[str, list[str]]]:
    """Group keys into panels: all training losses together, all gradient norms together, the rest alone."""
    losses = [k for k in keys if k == "loss" or (k.endswith("_loss") and not k.startswith(("test_", "val_")))]
    grads = [k for k in keys if "grad_norm" in k and k not in losses]
    panels = []
    if losses:
        panels.append(("training loss", losses))
    if grads:
        panels.append(("gradient norm", grads))
    panels += [(k.replace("_", " "), [k]) for k in keys if k not in losses and k not in grads]
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


def history_curves(history: list[dict], path: str | os.PathLike, title: str = "") -> tuple[Path, list[str]] | None:
    r"""Draw every numeric key of a run's per-epoch ``history`` against the epoch; save a PNG at ``path``.

    Training losses share one panel, gradient norms another, every other key (test
    metrics computed at each epoch's end, ...) gets its own. A panel whose positive values
    span more than 1.5 decades uses a log y-axis. At most 12 panels are drawn. Returns
    (path, keys drawn), or None when the history holds no numeric series.
    """
    keys = _curve_keys([history])
    if not keys:
        return None
    panels = _panels(keys)[:MAX_PANELS]
    with plt.rc_context(_CURVE_STYLE):
        fig, axes = _grid(len(panels))
        for ax, (name, panel_keys) in zip(axes, panels):
            everything = []
            for key in panel_keys:
                xs, ys = _series(history, key)
                everything += ys
                ax.plot(xs, ys, lw=1.8, marker="o" if len(xs) <= 25 else None, ms=3, label=key)
            if _log_scale(everything):
                ax.set_yscale("log")
            ax.set_title(name + (" (log scale)" if _log_scale(everything) else ""), loc="left")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if len(panel_keys) > 1:
                ax.legend(fontsize=8)
        if title:
            fig.suptitle(title, fontsize=11, x=0.01, ha="left")
        fig.tight_layout()
        saved = io.save_figure(fig, path)
    return saved, [k for _, ks in panels for k in ks]


def comparison_curves(histories: list[list[dict]], labels: list[str], path: str | os.PathLike) -> Path | None:
    r"""Overlay each numeric history key across runs: one panel per key, one line per run.

    Keys present in only some runs are drawn for those runs. At most 12 panels; returns the
    PNG path, or None when no run has a numeric history.
    """
    keys = _curve_keys(histories)[:MAX_PANELS]
    if not keys:
        return None
    with plt.rc_context(_CURVE_STYLE):
        fig, axes = _grid(len(keys))
        for ax, key in zip(axes, keys):
            everything = []
            for i, history in enumerate(histories):
                xs, ys = _series(history, key)
                everything += ys
                if ys:
                    ax.plot(xs, ys, lw=1.8, color=PALETTE[i % len(PALETTE)])
            if _log_scale(everything):
                ax.set_yscale("log")
            ax.set_title(key.replace("_", " ") + (" (log scale)" if _log_scale(everything) else ""), loc="left")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        handles = [plt.Line2D([], [], color=PALETTE[i % len(PALETTE)], lw=2.2) for i in range(len(labels))]
        fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 4), fontsize=9,
                   bbox_to_anchor=(0.5, 1.0))
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight() * math.ceil(len(labels) / 4)))
        return io.save_figure(fig, path)


# ---------------------------------------------------------------------------------------
# HTML building blocks
# ---------------------------------------------------------------------------------------
def _e(value) -> str:
    return html.escape(str(value), quote=True)


def format_number(value) -> str:
    r"""A number as people read it: ``1.30037 → 1.3``, ``15357.5 → 15,357.5``, ``3e-06 → 3.000e-06``.

    Integers get thousands separators; floats 4 significant digits, with scientific notation
    below 1e-3 and from 1e6 up; booleans are yes/no; NaN and infinities are spelled out.
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        a = abs(value)
        if value == 0:
            return "0"
        if a < 1e-3 or a >= 1e6:
            return f"{value:.3e}"
        if a >= 1000:
            return f"{value:,.1f}"
        return f"{value:.4g}"
    return str(value)


def _value_html(value) -> str:
    """A metric value as an HTML fragment: numbers formatted (full value on hover), others escaped."""
    if value is None:
        return '<span class="muted">—</span>'
    if _is_number(value) or isinstance(value, bool):
        return f'<span class="num" title="{_e(repr(value))}">{_e(format_number(value))}</span>'
    if isinstance(value, (list, tuple)) and all(_is_number(v) or isinstance(v, str) for v in value):
        return _e(", ".join(format_number(v) for v in value))
    if isinstance(value, (list, dict)):
        return f"<code>{_e(json.dumps(value, default=str)[:300])}</code>"
    return _e(value)


def _is_findings(value) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(v, dict) and "name" in v and "detected" in v for v in value))


def _is_structured(value) -> bool:
    """Lists of dicts and dicts get a panel of their own, not a table cell."""
    return isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict) for v in value))


def _findings_html(key: str, findings: list[dict]) -> str:
    """The GAN diagnosis (or any list of {name, detected, evidence, remedy}) as a panel of cards."""
    detected = sum(bool(f.get("detected")) for f in findings)
    summary = (f"{detected} of {len(findings)} problems detected" if detected
               else f"none of the {len(findings)} problems checked was detected")
    cards = []
    for f in findings:
        hit = bool(f.get("detected"))
        rows = "".join(f'<dt>{_e(part)}</dt><dd>{_e(f[part])}</dd>' for part in ("evidence", "remedy")
                       if f.get(part))
        extra = "".join(f'<dt>{_e(k)}</dt><dd>{_value_html(v)}</dd>' for k, v in f.items()
                        if k not in ("name", "detected", "evidence", "remedy"))
        cards.append(
            f'<article class="finding {"hit" if hit else "ok"}">'
            f'<header><h3>{_e(str(f["name"]).replace("_", " "))}</h3>'
            f'<span class="pill {"pill-hit" if hit else "pill-ok"}">{"detected" if hit else "not detected"}</span>'
            f'</header><dl>{rows}{extra}</dl></article>')
    return (f'<section id="{_e(_anchor(key))}" class="panel"><h2>{_e(_title_case(key))}</h2>'
            f'<p class="lede">{_e(summary)}.</p><div class="findings">{"".join(cards)}</div></section>')


def _structured_html(key: str, value) -> str:
    """A dict as a key/value table, a list of dicts as a table over the union of their keys."""
    if isinstance(value, dict):
        body = "".join(f"<tr><th>{_e(k)}</th><td>{_value_html(v)}</td></tr>" for k, v in value.items())
        table = f'<table class="kv">{body}</table>'
    else:
        rows = [v if isinstance(v, dict) else {"value": v} for v in value]
        cols = list(dict.fromkeys(k for r in rows for k in r))
        head = "".join(f"<th>{_e(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{_value_html(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows)
        table = f'<div class="scroll"><table class="grid"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    return f'<section id="{_e(_anchor(key))}" class="panel"><h2>{_e(_title_case(key))}</h2>{table}</section>'


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "section"


def _title_case(key: str) -> str:
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _data_uri(path: Path) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError:
        raise UserError(f"{path}: unreadable figure") from None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figure_card(path: Path, caption: str | None = None, wide: bool = False, show_file: bool = True) -> str:
    caption = caption or caption_for(path)
    file = f'<span class="file">{_e(Path(path).name)}</span>' if show_file else ""
    return (f'<figure class="card{" wide" if wide else ""}"><div class="frame">'
            f'<img src="{_data_uri(path)}" alt="{_e(caption)}" loading="eager"></div>'
            f'<figcaption><strong>{_e(caption)}</strong>{file}</figcaption></figure>')


def png_size(path: str | os.PathLike) -> tuple[int, int]:
    r"""(width, height) in pixels from a PNG's IHDR chunk (bytes 16–24, big-endian); (0, 0) if not a PNG."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return 0, 0
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return 0, 0
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _is_wide(path: Path) -> bool:
    """Figures shown at their own size on a row of their own: at least 1000 px, or 600 px and 1.8:1."""
    width, height = png_size(path)
    return width >= 1000 or (width >= 600 and width >= 1.8 * max(height, 1))


def caption_for(path: str | os.PathLike) -> str:
    r"""A caption from a figure's file name: ``samples_over_training.png → "Samples over training"``."""
    stem = re.sub(r"[_\-]+", " ", Path(path).stem).strip()
    return stem[:1].upper() + stem[1:] if stem else Path(path).name


def group_figures(paths: list[Path]) -> list[tuple[tuple, list[Path]]]:
    r"""Figures grouped by what they show (``FIGURE_GROUPS``), groups in page order, empty groups dropped.

    A figure joins the first group one of whose words occurs in its lower-case file stem;
    one that matches none goes to "Other figures". ``curves.png`` leads the training group.
    """
    buckets: dict[str, list[Path]] = {g[0]: [] for g in FIGURE_GROUPS}
    for path in paths:
        stem = path.stem.lower()
        group = next((g for g in FIGURE_GROUPS if any(w in stem for w in g[3])), FIGURE_GROUPS[-1])
        buckets[group[0]].append(path)
    for group in FIGURE_GROUPS:  # within a group: in the order of its words, then by name
        words = group[3]
        buckets[group[0]].sort(key=lambda p, words=words: (
            p.name != CURVES_FILE, min([i for i, w in enumerate(words) if w in p.stem.lower()] or [len(words)]),
            p.name))
    return [(g, buckets[g[0]]) for g in FIGURE_GROUPS if buckets[g[0]]]


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("latentzoo")
    except Exception:  # noqa: BLE001 - not installed: the page only shows it
        return "dev"


def _question(model: str) -> tuple[str, str, str]:
    """(Q tag, the seed question's title, the registry's one-line summary) of a model."""
    from latentzoo.registry import MODELS

    entry = MODELS.get(model)
    if entry is None:
        return "", "", ""
    return entry.tag, entry.question_title, entry.summary


def _page(title: str, body: str, nav: list[tuple[str, str]] | None = None) -> str:
    links = "".join(f'<a href="#{_e(a)}">{_e(t)}</a>' for a, t in (nav or []))
    nav_html = f'<nav class="toc">{links}</nav>' if links else ""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="latentzoo {_e(_version())}">
<title>{_e(title)}</title>
<link rel="icon" href="data:,">
<style>{CSS}</style>
</head>
<body>
{nav_html}
<div class="page">
{body}
<footer>Made by latentzoo {_e(_version())} on {stamp}. This page is self-contained: figures are embedded, nothing is fetched.</footer>
</div>
<div id="lightbox" class="lightbox" hidden></div>
<script>{SCRIPT}</script>
</body>
</html>
"""


# ---------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------
def _headline_keys(metrics: dict, limit: int = 4) -> list[str]:
    """The run's main numbers: the first numeric metrics that are not bookkeeping."""
    return [k for k, v in metrics.items() if k not in META_KEYS and _is_number(v)][:limit]


def _run_report(record: dict, out_file: Path) -> str:
    metrics, config, history, run_dir = record["metrics"], record["config"], record["history"], record["dir"]
    model = str(metrics.get("model") or config.get("model") or "model")
    dataset = str(metrics.get("dataset") or config.get("data") or "data")
    tag, question, description = _question(model)

    # curves: drawn from the history, saved beside the family's figures
    curves = history_curves(history, run_dir / "figures" / CURVES_FILE) if history else None
    figures = sorted(set(record["figures"]) | ({curves[0]} if curves else set()))

    # header
    facts = [("seed", metrics.get("seed", config.get("seed"))), ("epochs", metrics.get("epochs")),
             ("trained in", _seconds(metrics.get("train_seconds"))),
             ("throughput", f'{format_number(metrics["samples_per_second"])} samples/s'
              if _is_number(metrics.get("samples_per_second")) else None)]
    fact_html = "".join(f'<div><dt>{_e(k)}</dt><dd>{_e(format_number(v))}</dd></div>' for k, v in facts
                        if v is not None)
    eyebrow = " · ".join(x for x in ("latentzoo report", tag, question) if x)
    hero = (f'<header class="hero"><p class="eyebrow">{_e(eyebrow)}</p>'
            f'<h1>{_e(model)} <span class="on">on</span> {_e(dataset)}</h1>'
            f'<p class="question">{_e(description)}</p><dl class="facts">{fact_html}</dl>'
            f'<p class="path">{_e(run_dir.resolve())}</p></header>')

    # headline numbers
    stats = "".join(
        f'<div class="stat"><div class="stat-value" title="{_e(repr(metrics[k]))}">{_e(format_number(metrics[k]))}</div>'
        f'<div class="stat-key">{_e(k)}</div><div class="stat-note">{_e(METRIC_NOTES.get(k, ""))}</div></div>'
        for k in _headline_keys(metrics))
    sections = [hero]
    nav = []
    if stats:
        sections.append(f'<section class="stats">{stats}</section>')

    # structured metrics (the GAN diagnosis first)
    for key, value in metrics.items():
        if _is_findings(value):
            sections.append(_findings_html(key, value))
            nav.append((_anchor(key), _title_case(key)))
    # the metrics table
    rows = "".join(
        f'<tr><th><code>{_e(k)}</code></th><td class="v">{_value_html(v)}</td>'
        f'<td class="note">{_e(METRIC_NOTES.get(k, ""))}</td></tr>'
        for k, v in metrics.items() if k not in ("model", "dataset") and not _is_structured(v))
    sections.append(f'<section id="metrics" class="panel"><h2>Metrics</h2>'
                    f'<p class="lede">from <code>metrics.json</code>, measured on the test split after training.</p>'
                    f'<table class="metrics">{rows}</table></section>')
    nav.append(("metrics", "Metrics"))
    for key, value in metrics.items():
        if _is_structured(value) and not _is_findings(value):
            sections.append(_structured_html(key, value))
            nav.append((_anchor(key), _title_case(key)))

    # figures: the training group as its own panel, the others packed in a grid of groups
    groups = []
    for (anchor, heading, explanation, _), paths in group_figures(figures):
        wide = [(curves is not None and p == curves[0]) or _is_wide(p) for p in paths]
        cards = "".join(_figure_card(p, CURVES_CAPTION if curves and p == curves[0] else None, wide=w)
                        for p, w in zip(paths, wide))
        lede = f'<p class="lede">{_e(explanation)}.</p>' if explanation else ""
        if anchor == "training":
            sections.append(f'<section id="fig-{anchor}" class="panel"><h2>{_e(heading)}</h2>{lede}'
                            f'<div class="cards">{cards}</div></section>')
        else:
            big = any(png_size(p)[0] >= 1000 for p in paths) or len(paths) + sum(wide) > 2
            span = " span-all" if big else " span-two" if len(paths) + sum(wide) == 2 else ""
            groups.append(f'<div id="fig-{anchor}" class="group{span}">'
                          f'<h3>{_e(heading)}</h3>{lede}<div class="cards">{cards}</div></div>')
        nav.append((f"fig-{anchor}", heading))
    if groups:
        sections.append('<section id="figures" class="panel"><h2>Figures</h2><p class="lede">written by the '
                        'model in <code>figures/</code>; click a figure to enlarge it.</p>'
                        f'<div class="groups">{"".join(groups)}</div></section>')
    if not figures:
        sections.append('<section class="panel"><h2>Figures</h2><p class="lede">This run has no figures '
                        '(no <code>figures/*.png</code> and no <code>logs/history.json</code>).</p></section>')

    # configuration
    if config:
        sections.append(_config_html(config, run_dir))
        nav.append(("configuration", "Configuration"))
    return _page(f"{model} on {dataset} · latentzoo report", "\n".join(sections), nav)


def _seconds(value) -> str | None:
    if not _is_number(value):
        return None
    if value < 60:
        return f"{value:.3g} s"
    minutes, seconds = divmod(value, 60)
    if minutes < 60:
        return f"{int(minutes)} min {seconds:.0f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)} h {int(minutes)} min"


def _config_html(config: dict, run_dir: Path) -> str:
    options = config.get("config") if isinstance(config.get("config"), dict) else {}
    fabric = config.get("fabric") if isinstance(config.get("fabric"), dict) else {}
    top = {k: v for k, v in config.items() if k not in ("config", "fabric")}

    def table(d: dict) -> str:
        return '<table class="kv">' + "".join(
            f"<tr><th>{_e(k)}</th><td>{_config_value(v)}</td></tr>" for k, v in d.items()) + "</table>"

    cards = [f'<div class="cfg"><h3>Run</h3>{table(top)}</div>']
    if options:
        cards.append(f'<div class="cfg"><h3>Model and training options</h3>{table(options)}</div>')
    if fabric:
        cards.append(f'<div class="cfg"><h3>Devices (Fabric)</h3>{table(fabric)}</div>')
    command = "latentzoo fit {m} --data {d} --seed {s} --config {c} --out NEW_DIR".format(
        m=config.get("model", "MODEL"), d=config.get("data", "DATA"), s=config.get("seed", 0),
        c=run_dir / "config.yaml")
    return (f'<section id="configuration" class="panel"><h2>Configuration</h2>'
            f'<p class="lede">from <code>config.yaml</code>. To train this run again:</p>'
            f'<pre class="cmd">{_e(command)}</pre><div class="cfgs">{"".join(cards)}</div></section>')


def _config_value(value) -> str:
    if value is None:
        return '<span class="muted">none</span>'
    if isinstance(value, (dict, list)):
        return f"<code>{_e(json.dumps(value, default=str))}</code>"
    if isinstance(value, bool):
        return f'<span class="num">{"true" if value else "false"}</span>'
    if _is_number(value):
        return f'<span class="num">{_e(value)}</span>'
    return f"<code>{_e(value)}</code>"


# ---------------------------------------------------------------------------------------
# Several runs
# ---------------------------------------------------------------------------------------
def _labels(dirs: list[Path]) -> list[str]:
    """Short distinct names: each directory's name, with parents added until they differ."""
    parts = [d.resolve().parts for d in dirs]
    depth = 1
    while depth < max(len(p) for p in parts):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
        depth += 1
    return [str(d) for d in dirs]


def _best(key: str, values: list) -> set[int]:
    """Indices of the best value of a metric whose direction is known (none when all are equal)."""
    numbers = [(i, v) for i, v in enumerate(values) if _is_number(v) and math.isfinite(v)]
    if len(numbers) < 2 or len({v for _, v in numbers}) == 1:
        return set()
    if key in LOWER_IS_BETTER:
        target = min(v for _, v in numbers)
    elif key in HIGHER_IS_BETTER:
        target = max(v for _, v in numbers)
    else:
        return set()
    return {i for i, v in numbers if v == target}


def _cell(value) -> str:
    if _is_findings(value):
        hits = [str(f["name"]).replace("_", " ") for f in value if f.get("detected")]
        if not hits:
            return '<span class="pill pill-ok">none detected</span>'
        return " ".join(f'<span class="pill pill-hit">{_e(h)}</span>' for h in hits)
    return _value_html(value)


def _comparison(records: list[dict], out_file: Path, reports: list[Path]) -> str:
    labels = _labels([r["dir"] for r in records])
    n = len(records)
    colours = [PALETTE[i % len(PALETTE)] for i in range(n)]

    # header cards: one per run, linking its report
    run_cards = []
    for label, record, report, colour in zip(labels, records, reports, colours):
        m = record["metrics"]
        model, dataset = m.get("model", record["config"].get("model", "?")), m.get("dataset", "?")
        link = Path(os.path.relpath(report, out_file.parent)).as_posix()
        run_cards.append(
            f'<a class="run" href="{_e(link)}" style="--c:{colour}"><span class="dot"></span>'
            f'<strong>{_e(label)}</strong><span>{_e(model)} on {_e(dataset)} · seed {_e(m.get("seed", "?"))}'
            f' · {_e(format_number(m.get("epochs", "?")))} epochs</span><em>open report →</em></a>')
    hero = (f'<header class="hero"><p class="eyebrow">latentzoo comparison · {n} runs</p>'
            f'<h1>{_e(" vs ".join(dict.fromkeys(str(r["metrics"].get("model", "?")) for r in records)))}</h1>'
            f'<p class="question">metrics side by side, curves overlaid; the best value of a metric whose '
            f'direction is known is marked.</p><div class="runs">{"".join(run_cards)}</div></header>')

    # metrics side by side (union of keys, first-appearance order)
    keys = list(dict.fromkeys(k for r in records for k in r["metrics"]))
    head = "".join(f'<th style="--c:{c}"><span class="dot"></span>{_e(lab)}</th>' for lab, c in zip(labels, colours))
    rows = []
    for key in keys:
        values = [r["metrics"].get(key) for r in records]
        best = _best(key, values)
        cells = "".join(f'<td class="{"best" if i in best else ""}">{_cell(v)}</td>' for i, v in enumerate(values))
        rows.append(f'<tr><th><code>{_e(key)}</code><div class="note">{_e(METRIC_NOTES.get(key, ""))}</div></th>'
                    f'{cells}</tr>')
    sections = [hero, (f'<section id="metrics" class="panel"><h2>Metrics</h2><div class="scroll">'
                      f'<table class="grid compare"><thead><tr><th>metric</th>{head}</tr></thead>'
                      f'<tbody>{"".join(rows)}</tbody></table></div></section>')]
    nav = [("metrics", "Metrics")]

    # curves overlaid: embedded only (the page is the artefact)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        png = comparison_curves([r["history"] for r in records], labels, Path(tmp) / "curves.png")
        if png is not None:
            sections.append(f'<section id="curves" class="panel"><h2>Training curves</h2>'
                            f'<p class="lede">each key of <code>logs/history.json</code>, one line per run.</p>'
                            f'<div class="cards">{_figure_card(png, "Curves overlaid across runs", wide=True, show_file=False)}'
                            f'</div></section>')
            nav.append(("curves", "Curves"))

    # options that differ
    options = [r["config"].get("config", {}) if isinstance(r["config"].get("config"), dict) else {} for r in records]
    flat = [{**{k: v for k, v in r["config"].items() if k not in ("config", "fabric")}, **o}
            for r, o in zip(records, options)]
    all_keys = list(dict.fromkeys(k for f in flat for k in f))
    differ = [k for k in all_keys if len({json.dumps(f.get(k), default=str, sort_keys=True) for f in flat}) > 1]
    if differ:
        rows = "".join(f'<tr><th><code>{_e(k)}</code></th>' + "".join(f"<td>{_config_value(f.get(k))}</td>" for f in flat)
                       + "</tr>" for k in differ)
        sections.append(f'<section id="configuration" class="panel"><h2>Options that differ</h2>'
                        f'<div class="scroll"><table class="grid compare"><thead><tr><th>option</th>{head}</tr>'
                        f'</thead><tbody>{rows}</tbody></table></div></section>')
        nav.append(("configuration", "Options"))
    return _page("latentzoo comparison · " + ", ".join(labels), "\n".join(sections), nav)


# ---------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------
def write_report(run_dirs: list[Path], out_file: Path | None = None) -> Path:
    r"""Write the HTML report of one run, or of several runs and their comparison; return its path.

    One run: ``out_file`` (default ``run_dir/report.html``); the training curves are also
    saved as ``run_dir/figures/curves.png``. Several runs: each run's ``report.html`` is
    written in its directory, then the comparison page at ``out_file`` (default
    ``comparison.html`` beside the first run, i.e. in its parent folder), linking to them
    by relative paths. Every page is self-contained and written atomically.

    Raises :class:`UserError` (one line naming the path) when a directory is missing or its
    ``metrics.json`` is missing or unreadable.
    """
    dirs = list(dict.fromkeys(Path(d) for d in run_dirs))
    if not dirs:
        raise UserError("report needs at least one run directory")
    records = [load_run_record(d) for d in dirs]  # check every run before writing anything
    if len(records) == 1:
        out = Path(out_file) if out_file is not None else dirs[0] / "report.html"
        io.write_text(out, _run_report(records[0], out))
        return out
    reports = []
    for record in records:
        report = record["dir"] / "report.html"
        io.write_text(report, _run_report(record, report))
        reports.append(report)
    out = Path(out_file) if out_file is not None else dirs[0].resolve().parent / "comparison.html"
    io.write_text(out, _comparison(records, out, reports))
    return out


def index_page(entries: list[dict], out_file: str | os.PathLike, title: str = "latentzoo tour",
               intro: str = "") -> Path:
    r"""Write a summary page linking several runs' reports (the tour's ``index.html``); return its path.

    ``entries`` is a list of dicts, one per run, each with:

    * ``title`` (str): the run's name, e.g. ``"linear-ae on digits"``;
    * ``family`` (str): e.g. ``"Q1 autoencoders"``;
    * ``seed_question`` (str): the question of the seed the run answers;
    * ``report`` (str): link to the run's ``report.html``, relative to ``out_file``'s folder;
    * ``headline`` (dict, name → number or text): the run's headline metrics
      (``metrics`` is accepted as an alias);
    * ``anchors`` (str): the published reference values they are measured against;
    * optional ``figure`` (path to a PNG): a picture shown on the run's card, embedded;
    * optional ``status`` (str): e.g. ``"failed: ..."``, shown instead of a clean result.

    The page holds a summary table (run, family, headline metrics, anchors, link) and a card
    per run; it is self-contained like the reports. ``intro`` is an optional paragraph.
    """
    out_file = Path(out_file)
    rows, cards = [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise UserError(f"index entry {i} is not a mapping")
        name = str(entry.get("title", f"run {i + 1}"))
        link = str(entry.get("report", ""))
        headline = entry.get("headline", entry.get("metrics")) or {}
        metrics_html = "".join(f'<div class="hm"><span>{_e(k)}</span><b>{_value_html(v)}</b></div>'
                               for k, v in headline.items())
        status = entry.get("status")
        status_html = f'<span class="pill pill-hit">{_e(status)}</span>' if status else ""
        name_html = f'<a href="{_e(link)}">{_e(name)}</a>' if link else _e(name)
        rows.append(f'<tr><th>{name_html}{status_html}</th><td>{_e(entry.get("family", ""))}</td>'
                    f'<td class="hms">{metrics_html}</td><td class="note">{_e(entry.get("anchors", ""))}</td></tr>')
        picture = ""
        if entry.get("figure") and Path(entry["figure"]).is_file():
            picture = f'<div class="frame"><img src="{_data_uri(Path(entry["figure"]))}" alt="{_e(name)}"></div>'
        open_link = f'<a class="open" href="{_e(link)}">open the report →</a>' if link else ""
        cards.append(f'<article class="card tour">{picture}<div class="body"><p class="eyebrow">'
                     f'{_e(entry.get("family", ""))}</p><h3>{_e(name)}</h3>{status_html}'
                     f'<p class="question">{_e(entry.get("seed_question", ""))}</p>'
                     f'<div class="hms">{metrics_html}</div>{open_link}</div></article>')
    intro_html = f'<p class="question">{_e(intro)}</p>' if intro else ""
    body = (f'<header class="hero"><p class="eyebrow">latentzoo · {len(entries)} runs</p><h1>{_e(title)}</h1>'
            f'{intro_html}</header>'
            f'<section id="runs" class="panel"><h2>Runs</h2><div class="cards">{"".join(cards)}</div></section>'
            f'<section id="summary" class="panel"><h2>Summary</h2><p class="lede">headline metrics of each run beside '
            f'the published values they are measured against.</p><div class="scroll"><table class="grid index">'
            f'<thead><tr><th>run</th><th>family</th><th>headline metrics</th><th>published anchors</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div></section>')
    io.write_text(out_file, _page(title, body, [("runs", "Runs"), ("summary", "Summary")]))
    return out_file


# ---------------------------------------------------------------------------------------
# Style and script (inline: the page fetches nothing)
# ---------------------------------------------------------------------------------------
CSS = """
:root{--bg:#f6f7fb;--fg:#0f172a;--muted:#64748b;--card:#fff;--line:#e2e8f0;--accent:#4f46e5;
--accent-soft:#eef2ff;--hit:#b91c1c;--hit-soft:#fef2f2;--ok:#15803d;--ok-soft:#f0fdf4;--shadow:0 1px 2px rgba(15,23,42,.06),0 4px 16px rgba(15,23,42,.06)}
@media (prefers-color-scheme:dark){:root{--bg:#0b1020;--fg:#e2e8f0;--muted:#94a3b8;--card:#131a2e;--line:#263048;
--accent:#818cf8;--accent-soft:#1e2444;--hit:#f87171;--hit-soft:#2a1518;--ok:#4ade80;--ok-soft:#0f2418;--shadow:none}}
*{box-sizing:border-box}
html{scroll-behavior:smooth;scroll-padding-top:56px}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;-webkit-font-smoothing:antialiased}
code,pre,.num,.file{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
code{font-size:.88em}
.page{max-width:1240px;margin:0 auto;padding:24px 28px 48px}
.toc{position:sticky;top:0;z-index:5;display:flex;gap:4px;flex-wrap:wrap;padding:10px 28px;background:color-mix(in srgb,var(--bg) 85%,transparent);backdrop-filter:blur(8px);border-bottom:1px solid var(--line)}
.toc a{color:var(--muted);text-decoration:none;font-size:13px;font-weight:600;padding:4px 10px;border-radius:999px}
.toc a:hover{background:var(--accent-soft);color:var(--accent)}
.hero{padding:28px 32px;border-radius:18px;background:linear-gradient(135deg,#312e81 0%,#4f46e5 55%,#0891b2 100%);color:#fff;box-shadow:var(--shadow);margin-bottom:22px}
.hero h1{margin:.1em 0 .15em;font-size:34px;line-height:1.15;letter-spacing:-.02em}
.hero .on{font-weight:400;opacity:.75}
.eyebrow{margin:0;font-size:12px;font-weight:700;letter-spacing:.08em;text-transform:uppercase;opacity:.8}
.hero .question{margin:.2em 0 1em;font-size:17px;opacity:.95;max-width:60em}
.facts{display:flex;flex-wrap:wrap;gap:10px 28px;margin:0}
.facts div{display:flex;flex-direction:column}
.facts dt{font-size:11px;text-transform:uppercase;letter-spacing:.06em;opacity:.7}
.facts dd{margin:0;font-size:18px;font-weight:600}
.path{margin:14px 0 0;font-size:12px;opacity:.65;word-break:break-all;font-family:ui-monospace,Menlo,Consolas,monospace}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(210px,1fr));gap:14px;margin-bottom:22px}
.stat{background:var(--card);border:1px solid var(--line);border-radius:14px;padding:16px 18px;box-shadow:var(--shadow)}
.stat-value{font-size:30px;font-weight:700;letter-spacing:-.02em;color:var(--accent);font-variant-numeric:tabular-nums}
.stat-key{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;font-weight:600}
.stat-note{font-size:12.5px;color:var(--muted);margin-top:2px}
.panel{background:var(--card);border:1px solid var(--line);border-radius:16px;padding:22px 24px;margin-bottom:22px;box-shadow:var(--shadow)}
.panel h2{margin:0 0 4px;font-size:20px;letter-spacing:-.01em}
.lede{margin:0 0 16px;color:var(--muted);font-size:14px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:8px 12px;border-bottom:1px solid var(--line)}
tr:last-child th,tr:last-child td{border-bottom:0}
table.metrics th{width:1%;white-space:nowrap;font-weight:600}
table.metrics td.v{width:1%;white-space:nowrap;text-align:right;font-weight:600;font-variant-numeric:tabular-nums}
td.note,.note{color:var(--muted);font-size:13px}
th .note{font-weight:400}
table.metrics tr:hover,table.grid tbody tr:hover{background:var(--accent-soft)}
table.grid thead th{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);border-bottom:2px solid var(--line);white-space:nowrap}
table.compare th:first-child{width:40%}
table.compare td{font-variant-numeric:tabular-nums;white-space:nowrap}
table.compare td.best{background:var(--ok-soft);color:var(--ok);font-weight:700}
table.compare td.best::after{content:" ★";font-size:11px}
.scroll{overflow-x:auto}
.muted{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:18px}
.card{margin:0;background:var(--card);border:1px solid var(--line);border-radius:14px;overflow:hidden;display:flex;flex-direction:column;transition:box-shadow .15s,transform .15s}
.card:hover{box-shadow:0 8px 28px rgba(15,23,42,.12);transform:translateY(-1px)}
.card.wide{grid-column:1/-1}
.frame{background:#fff;display:flex;align-items:center;justify-content:center;padding:12px;flex:1;border-bottom:1px solid var(--line)}
.frame img{max-width:100%;height:auto;display:block;cursor:zoom-in;image-rendering:auto}
.card:not(.wide) .frame img{width:100%}
.groups{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));grid-auto-flow:row dense;gap:22px 18px}
.group.span-all{grid-column:1/-1}
.group.span-two{grid-column:span 2}
@media (max-width:820px){.group.span-two{grid-column:1/-1}}
.group h3{margin:0 0 2px;font-size:16px}
.group .lede{margin-bottom:10px;font-size:13.5px}
figcaption{padding:10px 14px;display:flex;justify-content:space-between;gap:12px;align-items:baseline}
figcaption strong{font-size:14px}
.file{font-size:11.5px;color:var(--muted)}
.findings{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:14px}
.finding{border:1px solid var(--line);border-left:5px solid var(--ok);border-radius:12px;padding:14px 16px;background:var(--card)}
.finding.hit{border-left-color:var(--hit);background:var(--hit-soft)}
.finding header{display:flex;justify-content:space-between;align-items:center;gap:8px}
.finding h3{margin:0;font-size:15px;text-transform:capitalize}
.finding dl{margin:8px 0 0;font-size:13.5px}
.finding dt{font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);margin-top:6px}
.finding dd{margin:2px 0 0}
.pill{display:inline-block;font-size:11.5px;font-weight:700;padding:2px 9px;border-radius:999px;white-space:nowrap;margin:1px 2px}
.pill-hit{background:var(--hit);color:#fff}
.pill-ok{background:var(--ok-soft);color:var(--ok);border:1px solid currentColor}
.cfgs{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:16px}
.cfg h3{margin:0 0 6px;font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
table.kv th{font-weight:500;color:var(--muted);width:45%}
table.kv td,table.kv th{padding:5px 8px;font-size:13.5px}
pre.cmd{background:#0f172a;color:#e2e8f0;padding:12px 16px;border-radius:10px;overflow-x:auto;font-size:13px;margin:0 0 18px}
.runs{display:grid;grid-template-columns:repeat(auto-fill,minmax(240px,1fr));gap:12px}
.run{display:flex;flex-direction:column;gap:2px;padding:12px 14px;border-radius:12px;background:rgba(255,255,255,.12);color:#fff;text-decoration:none;border:1px solid rgba(255,255,255,.25)}
.run:hover{background:rgba(255,255,255,.2)}
.run span{font-size:13px;opacity:.85}
.run em{font-style:normal;font-size:12.5px;font-weight:700;margin-top:4px}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;background:var(--c);margin-right:6px;box-shadow:0 0 0 2px rgba(255,255,255,.7)}
.run .dot{margin-bottom:2px}
.card.tour .frame{height:240px;flex:none}
.card.tour .frame img{width:auto;max-width:100%;max-height:100%;object-fit:contain}
.card.tour .body{padding:14px 16px;display:flex;flex-direction:column;flex:1}
.card.tour .open{margin-top:auto;padding-top:12px}
table.index th .pill{margin-left:8px}
.card.tour .body .pill{align-self:flex-start;margin:2px 0 4px}
.card.tour h3{margin:2px 0 4px;font-size:18px}
.card.tour .eyebrow{color:var(--accent)}
.card.tour .question{color:var(--muted);margin:0 0 10px;font-size:14px}
.hms{display:flex;flex-wrap:wrap;gap:6px}
.hm{display:flex;flex-direction:column;background:var(--accent-soft);border-radius:8px;padding:4px 10px}
.hm span{font-size:11px;color:var(--muted);font-family:ui-monospace,Menlo,Consolas,monospace}
.hm b{font-size:15px}
.open{display:inline-block;margin-top:12px;font-weight:700;color:var(--accent);text-decoration:none}
table.index th a{color:var(--accent);font-weight:700;text-decoration:none}
.lightbox{position:fixed;inset:0;z-index:20;background:rgba(15,23,42,.82);display:flex;align-items:center;justify-content:center;padding:24px;cursor:zoom-out}
.lightbox[hidden]{display:none}
.lightbox figure{margin:0;background:#fff;border-radius:12px;padding:14px;max-width:96vw;max-height:94vh;overflow:auto}
.lightbox img{display:block;max-width:92vw;max-height:84vh;width:auto;height:auto;margin:0 auto}
.lightbox figcaption{color:#0f172a;justify-content:center}
footer{color:var(--muted);font-size:12.5px;text-align:center;margin-top:28px}
@media (max-width:640px){.page{padding:14px}.hero{padding:20px}.hero h1{font-size:26px}.cards{grid-template-columns:1fr}.panel{padding:16px}}
@media print{.toc,.lightbox{display:none}.card,.panel,.stat{box-shadow:none;break-inside:avoid}}
"""

SCRIPT = """
(function(){
  var box=document.getElementById('lightbox');
  function close(){box.hidden=true;box.textContent='';}
  document.querySelectorAll('.frame img').forEach(function(img){
    img.addEventListener('click',function(){
      var fig=document.createElement('figure'),big=document.createElement('img'),cap=document.createElement('figcaption');
      big.src=img.src;big.alt=img.alt;cap.textContent=img.alt;fig.appendChild(big);fig.appendChild(cap);
      box.textContent='';box.appendChild(fig);box.hidden=false;
    });
  });
  box.addEventListener('click',close);
  document.addEventListener('keydown',function(e){if(e.key==='Escape'){close();}});
})();
"""
