r"""scikit-learn estimators over latentzoo's models: ``fit`` / ``transform`` / ``inverse_transform``.

::

    from latentzoo.sklearn import DictionaryLearning
    from sklearn.pipeline import make_pipeline
    from sklearn.linear_model import LogisticRegression
    clf = make_pipeline(DictionaryLearning(n_components=64, lam=1.0), LogisticRegression())
    clf.fit(X_train, y_train).score(X_test, y_test)

* :class:`LinearAutoencoder` — ``linear-ae``: h = W_enc (x − μ), x̂ = μ + W_dec h, trained on
  (1/n) Σᵢ ‖xᵢ − x̂ᵢ‖²; with k < d it learns PCA's principal subspace.
* :class:`DictionaryLearning` — ``sparse-coding``: min_{U, D} ‖X − UD‖²_F + λ‖U‖₁ with ‖D_k‖₂ ≤ 1
  (scikit-learn's ``DictionaryLearning`` minimises ½‖X − UD‖²_F + α‖U‖₁: α = λ/2).
* :class:`VAE` — ``vae``: a Gaussian encoder q(z|x) = N(μ(x), diag σ²(x)) and a Gaussian (or
  Bernoulli) decoder, trained on the negative ELBO; ``transform`` gives the posterior mean μ(x).

They follow scikit-learn's conventions: the constructor only stores its arguments; ``fit(X, y=None)``
validates X, trains with :func:`latentzoo.api.fit` (``progress=False``) and returns ``self``;
fitted attributes end in ``_`` (``model_``, the trained latentzoo model; ``metrics_``; ``n_features_in_``;
``components_`` where it means something); ``random_state`` (an int is ``lz.fit``'s ``seed``) makes
``fit`` reproducible. ``max_epochs=None`` takes the number of epochs latentzoo's recipe picks for the data.

**All of X trains.** ``fit`` passes ``test=X``: no example is held out (an estimator must learn from
all of the data it is given, and work with as few as 2 examples), so ``metrics_`` are measured on
the training data. Computation is in float32; ``transform`` returns X's float dtype.

All of scikit-learn's estimator checks pass (tests/test_sklearn.py lists no expected failure).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6: the same check as a private method
    def validate_data(estimator, X, **kwargs):
        return estimator._validate_data(X, **kwargs)

__all__ = ["VAE", "DictionaryLearning", "LinearAutoencoder"]

FLOATS = [np.float64, np.float32]


def _seed(random_state) -> int:
    """``lz.fit``'s seed: an int as given; from None or a RandomState, one draw (sklearn's convention)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool) and random_state >= 0:
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _check_count(name: str, value, allow_none: bool = False) -> None:
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")


class _LatentEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """What the three estimators share: validation, training through ``lz.fit``, transform."""

    _model_name = ""   # the registered latentzoo model

    def _options(self) -> dict:
        """The latentzoo options (``--set`` keys) of this estimator's parameters."""
        raise NotImplementedError

    def _check_params(self, n_features: int) -> None:
        _check_count("n_components", self.n_components)
        _check_count("max_epochs", self.max_epochs, allow_none=True)

    def fit(self, X, y=None):
        """Train on all rows of ``X`` (n_samples, n_features); ``y`` is ignored. Returns ``self``."""
        from latentzoo.api import fit

        X = validate_data(self, X, dtype=FLOATS, ensure_min_samples=2)
        self._check_params(X.shape[1])
        x = np.ascontiguousarray(X, dtype=np.float32)
        self.model_ = fit(self._model_name, x, test=x, epochs=self.max_epochs, seed=_seed(self.random_state),
                          progress=False, **self._options())
        self.metrics_ = dict(self.model_.metrics)
        self._set_fitted_attributes()
        return self

    def _set_fitted_attributes(self) -> None:
        """Fitted attributes beyond ``model_`` and ``metrics_`` (``components_``, ...)."""

    @property
    def _n_features_out(self) -> int:
        return self.n_components

    def transform(self, X):
        """The codes of ``X``: (n_samples, n_components), in X's float dtype."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=FLOATS, reset=False)
        return self.model_.embed(np.ascontiguousarray(X, dtype=np.float32)).astype(X.dtype, copy=False)

    def _codes(self, H) -> np.ndarray:
        """``H`` checked as codes (n_samples, n_components)."""
        check_is_fitted(self)
        H = check_array(H, dtype=FLOATS)
        if H.shape[1] != self.n_components:
            raise ValueError(f"H has {H.shape[1]} columns but {type(self).__name__} has "
                             f"n_components={self.n_components}")
        return H

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]  # X's float dtype comes back
        return tags


class LinearAutoencoder(_LatentEstimator):
    r"""PCA learned by gradient descent: a linear autoencoder with k = ``n_components`` < n_features.

    Encoder h = W_enc (x − μ), decoder x̂ = μ + W_dec h, trained with Adam and a cosine learning rate
    on (1/n) Σᵢ ‖xᵢ − x̂ᵢ‖² (latentzoo's ``linear-ae``). Its global minimum is the projection on
    the top-k principal subspace (Baldi & Hornik 1989): the reconstruction error approaches PCA's.

    Parameters
    ----------
    n_components : int, default=2
        k, the code size; must be smaller than the number of features.
    max_epochs : int or None, default=None
        Passes over the data (None: latentzoo's recipe, at least 100 epochs and about 1,500 steps).
    batch_size : int, default=256
    lr : float, default=1e-2
        Adam's learning rate (decayed to 0 by a cosine schedule).
    tied : bool, default=False
        Tie the weights, W_enc = W_decᵀ.
    init : {"random", "pca"}, default="random"
        A small random start, or the closed-form PCA start.
    random_state : int, RandomState or None, default=None

    Attributes
    ----------
    components_ : ndarray (n_components, n_features)
        The decoder's directions (rows of W_decᵀ): they span the learned subspace, but unlike PCA's
        components they are neither orthonormal nor ordered (the loss fixes W only up to an
        invertible k×k transform). ``inverse_transform(H) = mean_ + H @ components_``.
    mean_ : ndarray (n_features,)
        μ, the training mean.
    model_ : latentzoo.LinearAutoencoder
    metrics_ : dict
        latentzoo's metrics on the training data (``test_recon_mse``, ``pca_recon_mse``, ``subspace_angle_deg``).
    n_features_in_ : int
    """

    _model_name = "linear-ae"

    def __init__(self, n_components=2, *, max_epochs=None, batch_size=256, lr=1e-2, tied=False, init="random",
                 random_state=None):
        self.n_components = n_components
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.tied = tied
        self.init = init
        self.random_state = random_state

    def _check_params(self, n_features: int) -> None:
        super()._check_params(n_features)
        if self.n_components >= n_features:
            raise ValueError(f"n_components={self.n_components} must be smaller than the number of features, "
                             f"n_features={n_features}: the constraint k < d is what makes it learn PCA")

    def _options(self) -> dict:
        return {"latent_dim": self.n_components, "batch_size": self.batch_size, "lr": self.lr, "tied": self.tied,
                "init": self.init}

    def _set_fitted_attributes(self) -> None:
        self.components_ = self.model_.decoder_weight.detach().T.cpu().numpy().astype(np.float64)
        self.mean_ = self.model_.mean.detach().cpu().numpy().astype(np.float64)

    def inverse_transform(self, H):
        """x̂ = μ + W_dec h for codes ``H`` (n_samples, n_components)."""
        H = self._codes(H)
        return (self.mean_ + H @ self.components_).astype(H.dtype, copy=False)


class DictionaryLearning(_LatentEstimator):
    r"""Sparse coding: min_{U, D} ‖X − UD‖²_F + λ‖U‖₁ subject to ‖D_k‖₂ ≤ 1 (latentzoo's ``sparse-coding``).

    ``fit`` learns the dictionary D (k = ``n_components`` atoms) by the online block-coordinate method
    of Mairal et al. (2010); ``transform`` gives the codes U, each row the exact lasso solution
    argmin_u ‖x − uD‖² + λ‖u‖₁ (certified by its duality gap to a relative ``transform_tol``);
    ``inverse_transform`` gives UD. scikit-learn's ``DictionaryLearning(alpha=α)`` solves the same
    problem with α = λ/2.

    Parameters
    ----------
    n_components : int, default=8
        k, the number of atoms (may exceed the number of features).
    lam : float, default=1.0
        λ, the weight of ‖U‖₁.
    max_epochs : int or None, default=None
        Passes over the data (None: latentzoo's recipe, about 800 dictionary updates).
    batch_size : int, default=256
        Examples per dictionary update.
    preprocess : {"none", "scale"}, default="none"
        "scale" divides X by one global RMS before learning (λ then applies to the scaled data).
        latentzoo's per-example centring and contrast normalisation are not offered here: they
        would make ``inverse_transform`` depend on X, not only on the codes.
    tol : float, default=1e-3
        Relative duality-gap tolerance of the codes while learning.
    transform_tol : float, default=1e-5
        Relative duality-gap tolerance of the codes of ``transform``.
    max_iter : int, default=500
        Cap on the FISTA iterations per batch while learning (20× for ``transform``).
    random_state : int, RandomState or None, default=None

    Attributes
    ----------
    components_ : ndarray (n_components, n_features)
        The atoms in the units of X (D times the scale of ``preprocess="scale"``):
        ``inverse_transform(U) = U @ components_``.
    n_iter_ : int
        The number of dictionary updates (one per mini-batch).
    model_ : latentzoo.SparseCoding
    metrics_ : dict
        latentzoo's metrics on the training data (``objective``, ``code_sparsity``, ...).
    n_features_in_ : int
    """

    _model_name = "sparse-coding"

    def __init__(self, n_components=8, lam=1.0, *, max_epochs=None, batch_size=256, preprocess="none", tol=1e-3,
                 transform_tol=1e-5, max_iter=500, random_state=None):
        self.n_components = n_components
        self.lam = lam
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.preprocess = preprocess
        self.tol = tol
        self.transform_tol = transform_tol
        self.max_iter = max_iter
        self.random_state = random_state

    def _check_params(self, n_features: int) -> None:
        super()._check_params(n_features)
        if self.preprocess not in ("none", "scale"):
            raise ValueError(f"preprocess must be 'none' or 'scale', got {self.preprocess!r}")
        if not (isinstance(self.transform_tol, numbers.Real) and 0 < self.transform_tol < 1):
            raise ValueError(f"transform_tol must lie in (0, 1), got {self.transform_tol!r}")

    def _options(self) -> dict:
        return {"latent_dim": self.n_components, "lam": self.lam, "batch_size": self.batch_size,
                "preprocess": self.preprocess, "tol": self.tol, "eval_tol": self.transform_tol,
                "max_iter": self.max_iter}

    def _set_fitted_attributes(self) -> None:
        model = self.model_
        self.components_ = (model.scale * model.dictionary).detach().cpu().numpy().astype(np.float64)  # s·D
        self.n_iter_ = int(model.updates)

    def inverse_transform(self, U):
        """The reconstruction UD (in the units of X) of codes ``U`` (n_samples, n_components)."""
        U = self._codes(U)
        return (U @ self.components_).astype(U.dtype, copy=False)


class VAE(_LatentEstimator):
    r"""A variational autoencoder whose ``transform`` is the posterior mean μ(x) (latentzoo's ``vae``).

    q(z|x) = N(μ(x), diag σ²(x)) and p(x|z) Gaussian N(f(z), diag σ_x²) with a learned variance per
    feature (or Bernoulli for data in [0, 1]), both MLPs; trained on the mean over examples of
    −log p(x|z) + β·KL(q(z|x) ‖ N(0, I)) with z = μ + σ⊙ε (the negative ELBO for β = 1).

    Parameters
    ----------
    n_components : int, default=2
        The latent dimension.
    hidden : int, default=256
        Width of the hidden layers of encoder and decoder.
    depth : int, default=2
        Number of hidden layers.
    likelihood : {"gaussian", "bernoulli"}, default="gaussian"
        The decoder's p(x|z); "bernoulli" needs X in [0, 1].
    beta : float, default=1.0
        Weight of the KL term (β-VAE).
    max_epochs : int or None, default=None
        Passes over the data (None: latentzoo's recipe, 40 epochs for vectors).
    batch_size : int, default=64
    lr : float, default=1e-3
    eval_samples : int, default=100
        Importance samples of the NLL estimate in ``metrics_['test_nll_iwae']``.
    random_state : int, RandomState or None, default=None

    Attributes
    ----------
    model_ : latentzoo.VAE
        Also for sampling: ``model_.sample(n, seed=...)``.
    metrics_ : dict
        latentzoo's metrics on the training data (``test_neg_elbo``, ``test_kl``, ...).
    n_features_in_ : int
    """

    _model_name = "vae"

    def __init__(self, n_components=2, *, hidden=256, depth=2, likelihood="gaussian", beta=1.0, max_epochs=None,
                 batch_size=64, lr=1e-3, eval_samples=100, random_state=None):
        self.n_components = n_components
        self.hidden = hidden
        self.depth = depth
        self.likelihood = likelihood
        self.beta = beta
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.eval_samples = eval_samples
        self.random_state = random_state

    def _options(self) -> dict:
        return {"latent_dim": self.n_components, "hidden": self.hidden, "depth": self.depth,
                "likelihood": self.likelihood, "beta": self.beta, "batch_size": self.batch_size, "lr": self.lr,
                "eval_samples": self.eval_samples, "conv": False}

    def inverse_transform(self, Z):
        """E[x|z], the decoder's mean, for latent codes ``Z`` (n_samples, n_components)."""
        from latentzoo.model import evaluating

        Z = self._codes(Z)
        model = self.model_
        with torch.no_grad(), evaluating(model):
            out = model.mean_of(model.decode(torch.as_tensor(Z, dtype=torch.float32, device=model.device)))
        return out.cpu().numpy().astype(Z.dtype, copy=False)
