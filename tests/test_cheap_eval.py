"""Cheap evaluation: the torch probe solves scikit-learn's problem, raw baselines are computed once per dataset."""

from __future__ import annotations

import pytest
import torch

from latentzoo import probes
from latentzoo.data import load_dataset


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", 0)


def test_torch_probe_matches_scikit_learn_within_half_a_point(digits):
    d = digits
    ours = probes.linear_probe_acc(d.x_train, d.y_train, d.x_test, d.y_test, solver="torch", max_iter=300)
    ref = probes.linear_probe_acc(d.x_train, d.y_train, d.x_test, d.y_test, solver="sklearn")
    assert abs(ours - ref) <= 0.005, (ours, ref)
    assert ref > 0.9  # the fixture is informative: a broken probe cannot pass by chance


def test_logistic_regression_reaches_the_optimum():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g, dtype=torch.float64)
    y = (x[:, 0] + 0.5 * torch.randn(200, generator=g, dtype=torch.float64) > 0).long()
    w = probes.fit_logistic_regression(x, y, 2, C=1.0).requires_grad_(True)
    loss = 0.5 * w[:-1].pow(2).sum() + torch.nn.functional.cross_entropy(x @ w[:-1] + w[-1], y, reduction="sum")
    loss.backward()
    assert w.grad.abs().max() / len(x) < 1e-4   # the gradient of the objective vanishes at the solution


def test_raw_baselines_are_reused_and_invalidated_when_the_data_changes(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTZOO_CACHE", str(tmp_path))
    calls = []
    real = probes.linear_probe_acc

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(probes, "linear_probe_acc", counting)
    first = probes.raw_baselines(digits)
    n = len(calls)
    assert n > 0 and list(tmp_path.glob("raw-probes-*.json"))
    assert probes.raw_baselines(digits) == first and len(calls) == n          # reused: nothing recomputed
    changed = load_dataset("digits", 0)
    changed.x_train = changed.x_train.clone()
    changed.x_train[0, 0, 0, 0] += 1.0
    probes.raw_baselines(changed)
    assert len(calls) > n                                                     # a changed dataset is recomputed
    assert len(list(tmp_path.glob("raw-probes-*.json"))) == 2


def test_gan_feature_classifier_is_trained_once_per_dataset(digits, tmp_path, monkeypatch):
    """The Fréchet distance's classifier: trained on the first call, read from the cache folder afterwards
    (a fresh process: the in-process copy cleared) with the same weights and accuracy; other data retrains."""
    from latentzoo.data import Dataset
    from latentzoo.gan import metrics

    monkeypatch.setenv("LATENTZOO_CACHE", str(tmp_path))
    monkeypatch.setattr(metrics, "_CLASSIFIERS", {})
    small = Dataset("d", "image", digits.x_train[:300], digits.x_test[:100], digits.y_train[:300],
                    digits.y_test[:100])
    first, accuracy = metrics.train_feature_classifier(small)
    assert accuracy > 0.5
    trained = metrics._train_classifier
    monkeypatch.setattr(metrics, "_CLASSIFIERS", {})
    monkeypatch.setattr(metrics, "_train_classifier", lambda *a: pytest.fail("trained again"))
    again, accuracy_again = metrics.train_feature_classifier(small)
    assert accuracy_again == accuracy
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    calls = []
    monkeypatch.setattr(metrics, "_train_classifier", lambda *a: calls.append(1) or trained(*a))
    changed = Dataset("d", "image", digits.x_train[:300].flip(0), digits.x_test[:100], digits.y_train[:300].flip(0),
                      digits.y_test[:100])
    metrics.train_feature_classifier(changed)
    assert calls == [1]
