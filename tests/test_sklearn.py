"""latentzoo.sklearn: the estimators pass scikit-learn's own checks, work in a Pipeline, learn what
they claim (PCA's error, the lasso codes of scikit-learn's solver, the VAE's posterior mean), and
refuse bad parameters with one clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA, sparse_encode
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import latentzoo as lz
from latentzoo.sklearn import VAE, DictionaryLearning, LinearAutoencoder


@pytest.fixture(autouse=True)
def one_thread():
    """2 cores shared by several jobs: one intra-op thread avoids oversubscription (as in tests/autoencoders)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x, y


# The checks fit each estimator about 50 times: one epoch and small networks keep that fast.
# n_components=1 for LinearAutoencoder: most checks use 2 features, and k < d is the model's constraint
# (with k = d it would learn the identity, not PCA); fit refuses k >= d with a ValueError naming n_features.
# Expected failures: none — every check of scikit-learn 1.9 passes (expected_failed_checks stays empty).
ESTIMATORS = [
    LinearAutoencoder(n_components=1, max_epochs=1),
    DictionaryLearning(n_components=3, max_epochs=1),
    VAE(n_components=2, hidden=8, depth=1, max_epochs=1, eval_samples=2),
]
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda e: EXPECTED_FAILED_CHECKS.get(type(e).__name__, {}))
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_linear_autoencoder_reaches_pca_error_on_digits(digits):
    x, _ = digits
    ae = LinearAutoencoder(n_components=10, max_epochs=50, random_state=0).fit(x)
    pca = PCA(n_components=10).fit(x)
    error = ((x - ae.inverse_transform(ae.transform(x))) ** 2).sum(1).mean()
    pca_error = ((x - pca.inverse_transform(pca.transform(x))) ** 2).sum(1).mean()
    assert pca_error * (1 - 1e-5) <= error <= 1.01 * pca_error      # PCA is the optimum; gradient descent gets there
    assert ae.components_.shape == (10, 64) and ae.n_features_in_ == 64
    assert np.allclose(ae.mean_, x.mean(0), atol=1e-4)


def test_dictionary_learning_in_a_pipeline(digits):
    x, y = digits
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=0)
    pipe = make_pipeline(StandardScaler(), DictionaryLearning(n_components=32, lam=1.0, max_epochs=2, random_state=0),
                         LogisticRegression(max_iter=500))
    pipe.fit(x_train, y_train)
    codes = pipe[:-1].transform(x_test)
    assert codes.shape == (len(x_test), 32) and (codes == 0).mean() > 0.4   # sparse codes
    assert pipe.score(x_test, y_test) > 0.9                                 # that carry the digits' classes
    assert list(pipe[:-1].get_feature_names_out()[:2]) == ["dictionarylearning0", "dictionarylearning1"]
    pipe.set_params(dictionarylearning__lam=3.0).fit(x_train, y_train)      # parameters reach the estimator
    assert (pipe[:-1].transform(x_test) == 0).mean() > (codes == 0).mean()


def test_dictionary_learning_codes_are_scikit_learns_lasso_solution(digits):
    x = StandardScaler().fit_transform(digits[0][:400])
    lam = 1.0
    dl = DictionaryLearning(n_components=20, lam=lam, max_epochs=2, random_state=0).fit(x)
    codes = dl.transform(x)
    # scikit-learn minimises ½‖x − uD‖² + α‖u‖₁: the same problem for α = λ/2
    reference = sparse_encode(x, dl.components_, algorithm="lasso_cd", alpha=lam / 2, max_iter=5000)
    assert np.allclose(codes, reference, atol=1e-3 * np.abs(reference).max())
    assert np.allclose(dl.inverse_transform(codes), dl.model_.reconstruct(x), atol=1e-4)
    assert (np.linalg.norm(dl.components_, axis=1) <= 1 + 1e-5).all()       # ‖D_k‖ ≤ 1 (preprocess="none")
    assert dl.n_iter_ == 2 * (400 // 256)          # one update per full batch of 256 (the last partial one is dropped)


def test_vae_transform_is_the_posterior_mean(digits):
    x = digits[0][:300] / 16
    vae = VAE(n_components=3, hidden=32, depth=1, max_epochs=3, eval_samples=5, random_state=0).fit(x)
    with torch.no_grad():
        mu = vae.model_.encoder(torch.as_tensor(x, dtype=torch.float32))[:, :3].double().numpy()
    z = vae.transform(x)
    assert z.dtype == np.float64 and np.allclose(z, mu, atol=1e-6)
    assert vae.transform(x.astype(np.float32)).dtype == np.float32
    assert np.allclose(vae.inverse_transform(z), vae.model_.reconstruct(x), atol=1e-5)
    assert vae.model_.config.likelihood == "gaussian" and vae.metrics_["likelihood"] == "gaussian"


def test_random_state_is_the_seed_of_lz_fit(digits):
    x = digits[0][:200]
    a = LinearAutoencoder(n_components=4, max_epochs=2, random_state=5).fit(x)
    b = LinearAutoencoder(n_components=4, max_epochs=2, random_state=5).fit(x)
    c = LinearAutoencoder(n_components=4, max_epochs=2, random_state=6).fit(x)
    assert np.array_equal(a.transform(x), b.transform(x)) and not np.array_equal(a.transform(x), c.transform(x))
    x32 = x.astype(np.float32)
    model = lz.fit("linear-ae", x32, test=x32, seed=5, epochs=2, progress=False, latent_dim=4, batch_size=256,
                   lr=1e-2)
    assert np.array_equal(a.transform(x), model.embed(x32).astype(np.float64))


@pytest.mark.parametrize("estimator, fragment", [
    (LinearAutoencoder(n_components=0), "n_components"),
    (LinearAutoencoder(n_components=64), "n_features=64"),
    (LinearAutoencoder(max_epochs=0), "max_epochs"),
    (LinearAutoencoder(lr=-1.0), "lr"),
    (DictionaryLearning(lam=-1.0), "lam"),
    (DictionaryLearning(preprocess="normalize"), "preprocess"),
    (DictionaryLearning(transform_tol=2.0), "transform_tol"),
    (VAE(likelihood="poisson"), "likelihood"),
    (VAE(n_components=2.5), "n_components"),
], ids=["n_components 0", "k = d", "max_epochs 0", "negative lr", "negative lam", "preprocess", "transform_tol", "likelihood",
        "n_components float"])
def test_bad_parameters_raise_one_clear_error_at_fit(estimator, fragment, digits):
    with pytest.raises(ValueError) as info:
        estimator.fit(digits[0][:50])
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert not hasattr(estimator, "model_")
