r"""Linear probe on representations written by ``latentzoo embed`` (the CLI acceptance of issue 12).

    latentzoo fit simclr --data /usr/share/datasets/fashion-mnist --max-time 15m --out runs/fmnist-simclr
    latentzoo embed runs/fmnist-simclr --split train --out runs/fmnist-simclr/h_train.npy
    latentzoo embed runs/fmnist-simclr --split test --out runs/fmnist-simclr/h_test.npy
    .venv/bin/python benchmarks/probe_embedding.py runs/fmnist-simclr/h_train.npy runs/fmnist-simclr/h_test.npy

The labels come from the same folder through latentzoo's reader (the same split ``embed`` used).
Two probes on h, trained on the train split and scored on the test split: scikit-learn's
multinomial ``LogisticRegression`` on standardised features (an independent referee, lbfgs up to
1,000 iterations) and latentzoo's own ``linear_probe_acc`` (the probe of the run's report).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("h_train", help="FILE.npy written by `latentzoo embed --split train`")
    ap.add_argument("h_test", help="FILE.npy written by `latentzoo embed --split test`")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="the run's data (labels)")
    a = ap.parse_args()

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from latentzoo.data import load_dataset
    from latentzoo.probes import linear_probe_acc

    data = load_dataset(a.data, 0)
    h_train, h_test = np.load(a.h_train), np.load(a.h_test)
    y_train, y_test = data.y_train.numpy(), data.y_test.numpy()
    if len(h_train) != len(y_train) or len(h_test) != len(y_test):
        raise SystemExit(f"error: {len(h_train)}/{len(h_test)} rows of h against {len(y_train)}/{len(y_test)} labels")

    t = time.perf_counter()
    scaler = StandardScaler().fit(h_train)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf = LogisticRegression(max_iter=1000).fit(scaler.transform(h_train), y_train)
    sk = float((clf.predict(scaler.transform(h_test)) == y_test).mean())
    sk_s = time.perf_counter() - t
    t = time.perf_counter()
    ours = linear_probe_acc(torch.from_numpy(h_train).float(), data.y_train,
                            torch.from_numpy(h_test).float(), data.y_test)
    ours_s = time.perf_counter() - t
    converged = "did not converge" if caught else "converged"
    print(f"h: {h_train.shape[1]}-d, {len(h_train)} train / {len(h_test)} test")
    print(f"scikit-learn LogisticRegression: {sk:.4f} ({sk_s:.0f} s, {converged})")
    print(f"latentzoo linear_probe_acc:      {ours:.4f} ({ours_s:.0f} s)")


if __name__ == "__main__":
    main()
