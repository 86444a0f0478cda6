"""Sparse coding side by side with scikit-learn, in one process, on 8×8 ``patches``.

    python benchmarks/bench_sparse_coding.py [--n 20000] [--atoms 100] [--lam 1.0]
                                             [--budgets 10 30] [--threads 1] [--repeats 3]

Objective everywhere: F = ‖X − UD‖²_F + λ‖U‖₁ (scikit-learn's α = λ/2), reported per example.
Data: the first ``--n`` training patches, contrast-normalised exactly as ``sparse-coding``
does by default (each patch minus its mean, divided by √(var + ε)).

1. ``sparse_encode`` vs ``sklearn.decomposition.sparse_encode(algorithm="lasso_cd", alpha=λ/2)``
   on the same dictionary (a 100-atom dictionary learned by scikit-learn's
   MiniBatchDictionaryLearning; and, harder, 100 random normalised patches). Target: objective
   within 0.1% of lasso_cd's in at most a third of its time.
2. Dictionary learning at equal wall time: our online learner (the ``sparse-coding`` model's
   update) and ``MiniBatchDictionaryLearning.partial_fit``, both fed the same shuffled batches
   of 256 until the time budget is spent; each dictionary is then scored by the exact lasso
   objective (codes from ``sparse_encode`` to a relative gap of 1e-6) on the training patches
   and on held-out test patches. Target: our objective lower at equal time.

Both run single-threaded by default (``--threads``): scikit-learn's coordinate descent is
single-threaded, and the test machine is shared.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from latentzoo.autoencoders import sparse_encode
from latentzoo.config import build_config
from latentzoo.data import Dataset, load_dataset
from latentzoo.losses import sparse_coding_objective
from latentzoo.registry import model_class


def per_example_objective(x, dictionary, lam):
    codes = sparse_encode(x.double(), dictionary.double(), lam, tol=1e-6, max_iter=20000)
    return float(sparse_coding_objective(x.double(), codes, dictionary.double(), lam)) / len(x)


def our_learner(x, atoms, lam, seed):
    """The sparse-coding model, set up on already-preprocessed data (preprocess=none)."""
    data = Dataset("bench", "vector", x, x[:10])
    cls = model_class("sparse-coding")
    config = build_config(cls, data, {}, {"latent_dim": atoms, "lam": lam, "preprocess": "none", "batch_size": 256})
    torch.manual_seed(seed)
    model = cls(config, data)
    model.on_train_start(data)
    return model.train()


def learn_for(budget, x, atoms, lam, seed, which):
    """Train for ``budget`` seconds on shuffled batches of 256; return (dictionary, batches, seconds)."""
    from sklearn.decomposition import MiniBatchDictionaryLearning

    g = torch.Generator().manual_seed(seed)
    if which == "ours":
        model = our_learner(x, atoms, lam, seed)
    else:
        sk = MiniBatchDictionaryLearning(n_components=atoms, alpha=lam / 2, batch_size=256, random_state=seed)
    xn = x.numpy().astype(np.float64)
    steps, tic = 0, time.perf_counter()
    while time.perf_counter() - tic < budget:
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - 255, 256):
            idx = perm[i:i + 256]
            if which == "ours":
                model(x[idx])
            else:
                sk.partial_fit(xn[idx.numpy()])
            steps += 1
            if time.perf_counter() - tic >= budget:
                break
    seconds = time.perf_counter() - tic
    dictionary = model.dictionary.clone() if which == "ours" else torch.from_numpy(sk.components_).float()
    return dictionary, steps, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--atoms", type=int, default=100)
    parser.add_argument("--lam", type=float, default=1.0)
    parser.add_argument("--budgets", type=float, nargs="+", default=[10.0, 30.0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timings of part 1 (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")  # scikit-learn's per-target ConvergenceWarnings
    from sklearn.decomposition import sparse_encode as sk_sparse_encode

    data = load_dataset("patches", args.seed)
    cls = model_class("sparse-coding")
    model = cls(build_config(cls, data, {}, {}), data)
    model.on_train_start(data)  # computes ε of the contrast normalisation from the training split
    x = model.preprocess(data.x_train[:args.n])
    x_test = model.preprocess(data.x_test)
    lam = args.lam
    print(f"patches: {len(x)} train × {x.shape[1]}, {len(x_test)} test; {args.atoms} atoms; λ = {lam} "
          f"(α = {lam / 2}); torch {torch.__version__}, {torch.get_num_threads()} thread(s)\n")

    # ---- 2. dictionary learning at equal wall time (its sklearn dictionary serves part 1) ----
    rows, sk_dictionary = [], None
    for budget in args.budgets:
        result = {}
        for which in ("sklearn", "ours"):
            dictionary, steps, seconds = learn_for(budget, x, args.atoms, lam, args.seed, which)
            result[which] = (dictionary, steps, seconds, per_example_objective(x, dictionary, lam),
                             per_example_objective(x_test, dictionary, lam))
        sk_dictionary = result["sklearn"][0]
        rows.append((budget, result))

    # ---- 1. sparse_encode vs lasso_cd ------------------------------------------------------------
    print("### sparse_encode vs scikit-learn lasso_cd (same data, same dictionary)\n")
    print("| dictionary | solver | seconds | objective / example | vs lasso_cd | time ratio | sparsity |")
    print("|---|---|---|---|---|---|---|")
    g = torch.Generator().manual_seed(args.seed)
    random_patches = x[torch.randperm(len(x), generator=g)[:args.atoms]]
    random_patches = random_patches / random_patches.norm(dim=1, keepdim=True)
    for name, dictionary in (("MiniBatchDictionaryLearning", sk_dictionary), ("random patches", random_patches)):
        xn, dn = x.numpy().astype(np.float64), dictionary.numpy().astype(np.float64)
        times_sk, times, ours = [], {1e-3: [], 1e-4: []}, {}
        sparse_encode(x[:512], dictionary, lam)  # warm-up
        for _ in range(args.repeats):  # alternate the solvers; report the median time of each
            tic = time.perf_counter()
            theirs = torch.from_numpy(sk_sparse_encode(xn, dn, algorithm="lasso_cd", alpha=lam / 2))
            times_sk.append(time.perf_counter() - tic)
            for tol, spent in times.items():
                tic = time.perf_counter()
                ours[tol] = sparse_encode(x, dictionary, lam, tol=tol)
                spent.append(time.perf_counter() - tic)
        t_sk = float(np.median(times_sk))
        f_sk = float(sparse_coding_objective(x.double(), theirs, dictionary.double(), lam)) / len(x)
        print(f"| {name} | sklearn lasso_cd | {t_sk:.2f} | {f_sk:.6f} | — | 1 | {float((theirs == 0).double().mean()):.3f} |")
        for tol, codes in ours.items():
            t = float(np.median(times[tol]))
            f = float(sparse_coding_objective(x.double(), codes.double(), dictionary.double(), lam)) / len(x)
            print(f"| {name} | sparse_encode tol={tol:g} | {t:.2f} | {f:.6f} | {f / f_sk - 1:+.2e} | {t / t_sk:.2f} "
                  f"| {float((codes == 0).float().mean()):.3f} |")

    print("\n### Dictionary learning at equal wall time (batches of 256)\n")
    print("| budget s | learner | batches | seconds | train objective / example | test objective / example | ours lower |")
    print("|---|---|---|---|---|---|---|")
    for budget, result in rows:
        for which in ("sklearn", "ours"):
            _, steps, seconds, f_train, f_test = result[which]
            lower = ""
            if which == "ours":
                lower = "yes" if f_train < result["sklearn"][3] and f_test < result["sklearn"][4] else "no"
            label = "MiniBatchDictionaryLearning" if which == "sklearn" else "latentzoo online BCD"
            print(f"| {budget:g} | {label} | {steps} | {seconds:.1f} | {f_train:.5f} | {f_test:.5f} | {lower} |")


if __name__ == "__main__":
    main()
