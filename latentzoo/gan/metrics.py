r"""How good are a GAN's samples: mode metrics on Gaussian mixtures, Fréchet distance and
precision/recall on everything else.

**Mixtures** (``ring8``, ``grid25``; the definitions of VEEGAN and PacGAN, Lin et al. 2018):
each generated sample is assigned to its nearest mode; it is *high quality* when its Euclidean
distance to that mode is at most 3 standard deviations of the mode (3·``mode_std``). A mode is
*covered* when at least one high-quality sample is assigned to it. The *reverse KL* is
:math:`\mathrm{KL}(\hat p\,\|\,u) = \sum_i \hat p_i \log(K \hat p_i)`, where :math:`\hat p_i` is
the share of the high-quality samples that fall on mode i and u is uniform over the K modes.
Empty modes contribute :math:`0\log 0 = 0` (the limit), so no ε is needed and the value lies in
[0, log K]; if there is no high-quality sample at all the reverse KL is reported as log K, its
value for a generator that collapsed onto a single mode. The PacGAN benchmark uses 2,500 samples.

**Images, signals, vectors**: statistics in the feature space φ of a small classifier that
latentzoo trains itself on the labelled training split (:func:`train_feature_classifier`; no
pretrained weights are downloaded, so the numbers are comparable between latentzoo runs on the
same data set, not with Inception-based FID scores of papers). Any other extractor can be used:
a callable, or a ``"package.module:function"`` path given as ``feature_extractor``.

* Fréchet distance (Heusel et al. 2017):
  :math:`\lVert\mu_r-\mu_g\rVert^2 + \mathrm{tr}\big(\Sigma_r+\Sigma_g-2(\Sigma_r\Sigma_g)^{1/2}\big)`.
* Precision and recall with k-nearest-neighbour manifolds (Kynkäänniemi et al. 2019, k = 3):
  the manifold of a set is the union of balls centred on its points with radius the distance to
  the point's k-th nearest neighbour in the same set; precision is the fraction of generated
  samples inside the real manifold, recall the fraction of real samples inside the generated one.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable

import torch
from torch import nn

from latentzoo.errors import UserError

# ---------------------------------------------------------------- Gaussian mixtures
EVAL_SEED = 20180601   # fixed noise for evaluation, snapshots and figures (does not touch the training RNG)


def mode_metrics(samples: torch.Tensor, modes: torch.Tensor, mode_std: float) -> dict:
    r"""``modes_covered``, ``modes_total``, ``high_quality_fraction``, ``reverse_kl`` of ``samples``.

    Parameters
    ----------
    samples : Tensor, shape (n, 2)
        Generated points (2,500 in the benchmark).
    modes : Tensor, shape (K, 2)
        Centres of the mixture's components.
    mode_std : float
        Standard deviation of each (isotropic) component; high quality means distance ≤ 3·std.
    """
    samples = samples.detach().double().cpu().reshape(len(samples), -1)
    modes = torch.as_tensor(modes).double().cpu()
    k = len(modes)
    dist = torch.cdist(samples, modes)                      # (n, K)
    nearest_dist, nearest = dist.min(dim=1)
    high_quality = nearest_dist <= 3.0 * mode_std            # within 3 std of the nearest mode
    counts = torch.bincount(nearest[high_quality], minlength=k).double()
    n_hq = counts.sum()
    if n_hq > 0:
        share = counts / n_hq                                # p̂_i
        nz = share > 0
        reverse_kl = float((share[nz] * torch.log(k * share[nz])).sum())  # Σ p̂ log(p̂ / (1/K))
    else:
        reverse_kl = math.log(k)
    return {
        "modes_covered": int((counts > 0).sum()),
        "modes_total": k,
        "high_quality_fraction": float(high_quality.double().mean()),
        "reverse_kl": max(reverse_kl, 0.0),
    }


# ---------------------------------------------------------------- feature space
def frechet_distance(real_features: torch.Tensor, fake_features: torch.Tensor) -> float:
    r"""‖μ_r − μ_g‖² + tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^{1/2}) of two feature sets (n, f), in float64.

    tr (Σ_r Σ_g)^{1/2} is computed as Σ √λ of the symmetric PSD matrix Σ_r^{1/2} Σ_g Σ_r^{1/2}
    (same eigenvalues as Σ_r Σ_g), so no non-symmetric matrix square root is needed.
    Covariances are unbiased (divide by n − 1).
    """
    a = real_features.detach().double().cpu().reshape(len(real_features), -1)
    b = fake_features.detach().double().cpu().reshape(len(fake_features), -1)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], a.shape[1]), torch.cov(b.T).reshape(b.shape[1], b.shape[1])
    evals, evecs = torch.linalg.eigh(cov_a)
    sqrt_a = evecs @ torch.diag(evals.clamp(min=0).sqrt()) @ evecs.T     # Σ_r^{1/2}
    middle = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    value = (mu_a - mu_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * trace_sqrt
    return float(value.clamp(min=0))


def _kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each row to its k-th nearest other row (the point itself excluded)."""
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))
    return d.kthvalue(k, dim=1).values


def _inside_manifold(points: torch.Tensor, reference: torch.Tensor, k: int) -> torch.Tensor:
    radius = _kth_neighbour_radius(reference, k)             # r_j = ‖φ_j − NN_k(φ_j)‖
    d = torch.cdist(points, reference)                       # (n_points, n_reference)
    return (d <= radius.unsqueeze(0)).any(dim=1)             # inside some ball B(φ_j, r_j)


def precision_recall(real_features: torch.Tensor, fake_features: torch.Tensor, k: int = 3) -> tuple[float, float]:
    r"""Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds (default k = 3).

    precision = (1/m) Σ_g 1[φ_g ∈ manifold(real)],  recall = (1/n) Σ_r 1[φ_r ∈ manifold(fake)].
    """
    a = real_features.detach().double().cpu().reshape(len(real_features), -1)
    b = fake_features.detach().double().cpu().reshape(len(fake_features), -1)
    if len(a) <= k or len(b) <= k:
        raise ValueError(f"precision/recall with k={k} need more than {k} samples per set")
    precision = float(_inside_manifold(b, a, k).double().mean())
    recall = float(_inside_manifold(a, b, k).double().mean())
    return precision, recall


class FeatureClassifier(nn.Module):
    """A small classifier whose penultimate layer is the feature space φ of the image metrics.

    Images: two stride-2 convolutions (32, 64 channels) and a 64-unit layer; other data: an MLP
    with two 128-unit layers then 64 units. ``features(x)`` returns the 64-dimensional φ(x).
    """

    def __init__(self, shape: tuple[int, ...], num_classes: int, image: bool):
        super().__init__()
        if image:
            c, h, w = shape
            self.body = nn.Sequential(
                nn.Conv2d(c, 32, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                nn.Linear(64 * math.ceil(h / 4) * math.ceil(w / 4), 64), nn.ReLU(),
            )
        else:
            d = math.prod(shape)
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(d, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                                      nn.Linear(128, 64), nn.ReLU())
        self.head = nn.Linear(64, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


_CLASSIFIERS: dict[str, tuple[FeatureClassifier, float]] = {}


#: optimizer steps of the feature classifier at most (about 7 epochs of Fashion-MNIST; small sets get 30 epochs)
CLASSIFIER_STEPS = 3000


def train_feature_classifier(data, epochs: int = 30, seed: int = 0) -> tuple[FeatureClassifier, float]:
    r"""Train :class:`FeatureClassifier` on ``data``'s labelled training split; return it and its test accuracy.

    Cross-entropy (mean over the batch), Adam lr 1e-3, batch 128, ``epochs`` passes (at most
    :data:`CLASSIFIER_STEPS` steps), on the CPU. Run inside :func:`torch.random.fork_rng` with its
    own seed, so training it neither reads nor changes the caller's random state. The weights are
    cached per data set: in this process, and in the cache folder (:mod:`latentzoo.cache`), keyed by
    a hash of the labelled data, so each data set pays for its classifier once.
    """
    if data.y_train is None:
        raise UserError(f"{data.name} has no labels to train the metrics' feature classifier; "
                        "pass feature_extractor=package.module:function")
    from latentzoo.cache import cached_tensors, data_key

    name = f"feature-classifier-e{epochs}-s{seed}-steps{CLASSIFIER_STEPS}"
    labelled = (data.x_train, data.y_train, data.x_test, data.y_test)
    key = data_key(name, labelled)
    if key in _CLASSIFIERS:
        return _CLASSIFIERS[key]
    model = FeatureClassifier(data.shape, data.num_classes, image=data.kind == "image")
    weights, meta = cached_tensors(name, labelled, lambda: _train_classifier(model, data, epochs, seed), key)
    model.load_state_dict(weights)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    _CLASSIFIERS[key] = (model, float(meta.get("accuracy", "nan")))
    return _CLASSIFIERS[key]


def _train_classifier(model: FeatureClassifier, data, epochs: int, seed: int) -> tuple[dict, dict]:
    """(state dict, {"accuracy": test accuracy}) of ``model`` trained as :func:`train_feature_classifier` says."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x, y = data.x_train.float(), data.y_train
        epochs = min(epochs, math.ceil(CLASSIFIER_STEPS / math.ceil(len(x) / 128)))
        for _ in range(epochs):
            perm = torch.randperm(len(x))
            for i in range(0, len(x), 128):
                idx = perm[i:i + 128]
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = float((model(data.x_test.float()).argmax(1) == data.y_test).float().mean()) \
            if data.y_test is not None else float("nan")
    return model.state_dict(), {"accuracy": repr(accuracy)}


def resolve_feature_extractor(spec: str | Callable | None, data) -> tuple[Callable, str]:
    """The feature map φ to use and its description.

    ``spec`` is a callable (n, *shape) → (n, f), a ``"package.module:function"`` path to one, or
    None: the classifier latentzoo trains on ``data``'s labels, or the raw flattened values
    when the data has no labels.
    """
    if callable(spec):
        return spec, getattr(spec, "__name__", "user feature extractor")
    if isinstance(spec, str):
        module_name, _, attr = spec.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError) as e:
            raise UserError(f"cannot import feature_extractor {spec!r}: {e}") from None
        if not callable(fn):
            raise UserError(f"feature_extractor {spec!r} is not callable")
        return fn, spec
    if data.y_train is None:
        return (lambda x: x.reshape(len(x), -1)), "raw values (data has no labels)"
    model, accuracy = train_feature_classifier(data)
    return model.features, f"latentzoo feature classifier (test accuracy {accuracy:.3f})"


def feature_metrics(real: torch.Tensor, fake: torch.Tensor, features: Callable, k: int = 3,
                    batch: int = 512) -> dict:
    """``frechet_distance``, ``precision``, ``recall`` of ``fake`` against ``real`` in the space ``features``."""
    def embed(x):
        with torch.no_grad():
            return torch.cat([features(x[i:i + batch].float().cpu()) for i in range(0, len(x), batch)])

    fr, ff = embed(real), embed(fake)
    precision, recall = precision_recall(fr, ff, k=k)
    return {"frechet_distance": frechet_distance(fr, ff), "precision": precision, "recall": recall}


def sample_diversity(x: torch.Tensor, max_points: int = 512) -> float:
    """Mean pairwise Euclidean distance between (up to ``max_points``) flattened samples."""
    x = x.detach().double().cpu().reshape(len(x), -1)[:max_points]
    n = len(x)
    if n < 2:
        return 0.0
    return float(torch.cdist(x, x).sum() / (n * (n - 1)))
