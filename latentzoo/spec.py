"""How a model describes itself, once: the registry entry, its metrics, its figures.

Everything that the engine, the report, the tour and the CLI need to know about a model
is declared here or on the model class, and nowhere else:

* :class:`ModelSpec` — one per registry entry (``latentzoo.registry.MODELS``): where the
  class lives, the seed question it answers, a one-line summary, the built-in dataset it
  trains on by default, and the published anchor its headline is measured against;
* :class:`Metric` — on the class (``LatentModel.METRICS``): a key of ``metrics.json`` with
  a one-line note, its unit, which direction is better, and whether it is a headline;
* :class:`Figure` — on the class (``LatentModel.FIGURES``): a PNG of ``figures/`` with the
  report group it belongs to and its caption;
* capabilities — on the class: ``can_sample``, ``can_embed``, ``can_reconstruct`` and
  ``extra_evaluations`` (named methods such as ``gradient_variance``).

Adding a model family therefore touches its own folder and one registry line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SEED_QUESTIONS = {
    "Q1": "Autoencoders and constraints on the latent variable",
    "Q2": "Variational autoencoder",
    "Q3": "Generative adversarial network",
    "Q4": "SimCLR: contrastive learning of visual representations",
}

# The report's figure groups, in page order: (group, heading, one-line explanation).
FIGURE_GROUPS = (
    ("training", "Training", "how the losses and gradients moved while the model trained"),
    ("diagnosis", "Diagnosis and mode coverage", "what went wrong (or right), measured"),
    ("reconstructions", "Reconstructions", "inputs next to what the model gives back"),
    ("generation", "Samples, interpolations and traversals", "what the model generates from its latent space"),
    ("features", "Learned features", "the directions, atoms and filters the model learned"),
    ("latent", "Latent space", "where the examples land in the learned representation"),
    ("augmentations", "Augmentations", "the two correlated views the contrastive loss compares"),
    ("probes", "Probes", "how much label information the representation holds"),
    ("other", "Other figures", ""),
)
GROUP_NAMES = tuple(g[0] for g in FIGURE_GROUPS)


@dataclass(frozen=True)
class Metric:
    """One key of ``metrics.json``: what it measures, in which unit, and which way is better."""

    key: str
    note: str
    unit: str = ""
    better: Literal["higher", "lower"] | None = None
    headline: bool = False


@dataclass(frozen=True)
class Figure:
    """One PNG a model writes into ``figures/``: the report group it belongs to and its caption.

    ``card`` marks the picture that stands for the run on the tour's index page.
    """

    file: str
    group: str
    caption: str
    card: bool = False

    def __post_init__(self):
        if self.group not in GROUP_NAMES:
            raise ValueError(f"figure group must be one of {GROUP_NAMES}, got {self.group!r}")


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: ``latentzoo fit NAME`` builds ``module.cls``.

    ``question`` is the seed question (``"Q1"`` … ``"Q4"``); ``beyond_seed`` marks models
    the seed does not ask for but that belong with that question (denoising, contractive).
    ``anchor`` names the published figure the headline metrics are compared with.
    """

    name: str
    module: str
    cls: str
    question: str
    summary: str
    default_data: str = "digits"
    beyond_seed: bool = False
    anchor: str = ""

    @property
    def question_title(self) -> str:
        return SEED_QUESTIONS.get(self.question, "")

    @property
    def tag(self) -> str:
        """``Q1``, or ``Q1+`` for a model beyond the seed."""
        return self.question + ("+" if self.beyond_seed else "")


# Metrics every run has, written by the engine (not by the model).
ENGINE_METRICS = (
    Metric("epochs", "passes over the training split"),
    Metric("seed", "random seed of the run"),
    Metric("train_seconds", "wall-clock time of the training loop", "s", "lower"),
    Metric("samples_per_second", "training throughput (examples per second of the loop)", "1/s", "higher"),
    Metric("eval_seconds", "wall-clock time of the evaluation after training", "s", "lower"),
    # Only for data read lazily whose test split is over the cap of data.lazy_view: the metrics' subsample.
    Metric("eval_examples", "test examples the metrics were computed on (a random subsample, data read lazily)"),
    Metric("eval_of", "test examples in the split the subsample was drawn from"),
)

# Figures every run has, drawn from the history by the report (one figure of all training curves).
ENGINE_FIGURES = (
    Figure("curves.png", "training", "training curves per epoch, from logs/history.json"),
)
