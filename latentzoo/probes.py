r"""What a frozen representation is worth: linear and k-NN probes (SimCLR's evaluation).

* :func:`linear_probe_acc` — multinomial logistic regression (scikit-learn, L-BFGS,
  L2 penalty C) on features standardised with the training split's mean and standard
  deviation, fitted on the training split, accuracy on the test split.
* :func:`knn_acc` — the weighted k-NN classifier of Wu et al. (2018): features L2-normalised,
  the k most cosine-similar training examples vote for their class with weight
  exp(cos / T), T = 0.1; k = 200, or fewer when the smallest class of the training split
  has fewer examples (the class-balanced maximum).
* :func:`few_label_probe_acc` — the linear probe trained on a class-stratified fraction
  (1%, 10%) of the training labels, at least one example per class.

All take tensors (n, ...) and int64 labels and return an accuracy in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch


def _features(x: torch.Tensor) -> np.ndarray:
    return x.detach().reshape(x.shape[0], -1).double().cpu().numpy()


def linear_probe_acc(h_train: torch.Tensor, y_train: torch.Tensor, h_test: torch.Tensor,
                     y_test: torch.Tensor, C: float = 1.0, max_iter: int = 1000) -> float:
    r"""Test accuracy of logistic regression on standardised frozen features.

    Minimises ½‖W‖² + C Σ_i −log softmax(W x̂_i + b)_{y_i} over the training split, with
    x̂ = (h − mean_train) / std_train (features of zero spread are left centred).
    """
    from sklearn.linear_model import LogisticRegression

    a, b = _features(h_train), _features(h_test)
    mean, std = a.mean(0), a.std(0)
    std[std < 1e-12] = 1.0
    a, b = (a - mean) / std, (b - mean) / std
    ya, yb = y_train.cpu().numpy(), y_test.cpu().numpy()
    if len(np.unique(ya)) < 2:
        return float((yb == ya[0]).mean())
    clf = LogisticRegression(C=C, max_iter=max_iter)
    clf.fit(a, ya)
    return float((clf.predict(b) == yb).mean())


def knn_k(y_train: torch.Tensor, k: int = 200) -> int:
    r"""k = min(200, size of the smallest class in the training split), at least 1."""
    counts = torch.bincount(y_train.cpu())
    counts = counts[counts > 0]
    return int(max(1, min(k, int(counts.min()), len(y_train))))


def knn_acc(h_train: torch.Tensor, y_train: torch.Tensor, h_test: torch.Tensor, y_test: torch.Tensor,
            k: int | None = None, temperature: float = 0.1, chunk: int = 1024) -> float:
    r"""Weighted k-NN accuracy on L2-normalised features (Wu et al. 2018).

    For a test point q the score of class c is Σ_{i ∈ top-k(q)} 1[y_i = c] · exp(cos(q, h_i)/T),
    T = ``temperature``; the prediction is the arg-max class.
    """
    a = torch.nn.functional.normalize(h_train.detach().reshape(len(h_train), -1).float(), dim=1)
    b = torch.nn.functional.normalize(h_test.detach().reshape(len(h_test), -1).float().to(a.device), dim=1)
    ya = y_train.to(a.device)
    k = knn_k(y_train) if k is None else min(k, len(a))
    classes = int(torch.cat([y_train, y_test]).max()) + 1
    correct = 0
    for s in range(0, len(b), chunk):
        sim = b[s:s + chunk] @ a.T                                  # cos(q, h_i)
        top, idx = sim.topk(k, dim=1)
        weights = (top / temperature).exp()                          # exp(cos / T)
        votes = torch.zeros(len(top), classes, device=a.device)
        votes.scatter_add_(1, ya[idx], weights)
        correct += int((votes.argmax(1).cpu() == y_test[s:s + chunk].cpu()).sum())
    return correct / len(b)


def few_label_subset(y_train: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    r"""Indices of a class-stratified ``fraction`` of the training labels (≥ 1 per class)."""
    g = torch.Generator().manual_seed(seed)
    picked = []
    for c in torch.unique(y_train.cpu()):
        members = torch.nonzero(y_train.cpu() == c).flatten()
        n = max(1, round(fraction * len(members)))
        picked.append(members[torch.randperm(len(members), generator=g)[:n]])
    return torch.cat(picked).sort().values


def few_label_probe_acc(h_train: torch.Tensor, y_train: torch.Tensor, h_test: torch.Tensor,
                        y_test: torch.Tensor, fraction: float, seed: int = 0) -> float:
    r"""The linear probe trained on ``fraction`` of the training labels (stratified)."""
    idx = few_label_subset(y_train, fraction, seed)
    return linear_probe_acc(h_train[idx.to(h_train.device)], y_train[idx.to(y_train.device)], h_test, y_test)
