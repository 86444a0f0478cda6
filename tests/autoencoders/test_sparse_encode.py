"""sparse_encode: the lasso's KKT conditions, scikit-learn's lasso_cd objective, closed forms."""

import pytest
import torch

from latentzoo.autoencoders import duality_gap, sparse_encode
from latentzoo.losses import sparse_coding_objective


def problem(n=40, d=12, k=20, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    dictionary = torch.randn(k, d, generator=g, dtype=dtype)
    dictionary /= dictionary.norm(dim=1, keepdim=True)
    codes = torch.randn(n, k, generator=g, dtype=dtype) * (torch.rand(n, k, generator=g, dtype=dtype) < 0.2)
    x = codes @ dictionary + 0.1 * torch.randn(n, d, generator=g, dtype=dtype)
    return x, dictionary


@pytest.mark.parametrize("lam", [0.05, 0.3, 1.0])
def test_codes_satisfy_lasso_kkt(lam):
    r"""∂/∂u of ‖x − uD‖² + λ‖u‖₁ contains 0: with r = x − uD, for every atom i
    |Dᵢ·r| ≤ λ/2 where uᵢ = 0 and Dᵢ·r = (λ/2) sign(uᵢ) where uᵢ ≠ 0."""
    x, dictionary = problem()
    codes, info = sparse_encode(x, dictionary, lam, tol=1e-12, max_iter=20000, return_info=True)
    corr = (x - codes @ dictionary) @ dictionary.T               # Dᵢ·r for every example and atom
    zero = codes == 0
    assert zero.any() and (~zero).any()
    assert (corr.abs()[zero] <= lam / 2 + 1e-6).all()
    assert torch.allclose(corr[~zero], (lam / 2) * torch.sign(codes[~zero]), atol=1e-6)
    assert info["relative_gap"] <= 1e-12 + 1e-15


def test_matches_scikit_learn_lasso_cd_objective():
    from sklearn.decomposition import sparse_encode as sk_sparse_encode

    x, dictionary = problem(n=200, d=16, k=32, seed=3)
    lam = 0.4
    ours = sparse_encode(x.float(), dictionary.float(), lam, tol=1e-5)
    theirs = torch.from_numpy(sk_sparse_encode(x.numpy(), dictionary.numpy(), algorithm="lasso_cd",
                                               alpha=lam / 2, max_iter=5000))
    f_ours = float(sparse_coding_objective(x, ours.double(), dictionary, lam))
    f_theirs = float(sparse_coding_objective(x, theirs, dictionary, lam))
    assert f_ours <= f_theirs * (1 + 1e-4)
    assert f_ours == pytest.approx(f_theirs, rel=1e-4)


def test_orthonormal_dictionary_gives_soft_threshold():
    # D = I: the problem separates, u = sign(x) max(|x| − λ/2, 0)
    x = torch.tensor([[3.0, -0.2, 0.5, -1.0]], dtype=torch.float64)
    codes = sparse_encode(x, torch.eye(4, dtype=torch.float64), 1.0, tol=1e-12)
    assert codes[0].tolist() == pytest.approx([2.5, 0.0, 0.0, -0.5], abs=1e-9)
    # λ/2 ≥ ‖xDᵀ‖_∞: the zero code is optimal and certified at once
    codes, info = sparse_encode(x, torch.eye(4, dtype=torch.float64), 6.0, return_info=True)
    assert (codes == 0).all() and info["iterations"] == 0


def test_certificate_warm_start_and_batch_independence():
    x, dictionary = problem(n=64, seed=5)
    lam = 0.2
    codes = sparse_encode(x, dictionary, lam, tol=1e-8)
    # the duality gap bounds the suboptimality, is ≥ 0, and certifies the answer
    gap = duality_gap(x, codes, dictionary, lam)
    objective = (x - codes @ dictionary).pow(2).sum(1) + lam * codes.abs().sum(1)
    assert (gap >= 0).all() and float(gap.sum()) <= 1e-8 * float(objective.sum()) + 1e-12
    assert float(duality_gap(x, torch.zeros_like(codes), dictionary, lam).sum()) > 1e-3
    # warm-started at the answer: nothing to do
    again, info2 = sparse_encode(x, dictionary, lam, init=codes, tol=1e-8, return_info=True)
    assert info2["iterations"] == 0 and torch.equal(again, codes)
    # each example is its own lasso: solving a subset gives the same codes
    part = sparse_encode(x[:7], dictionary, lam, tol=1e-12, max_iter=20000)
    full = sparse_encode(x, dictionary, lam, tol=1e-12, max_iter=20000)
    assert torch.allclose(part, full[:7], atol=1e-6)


def test_float32_and_plain_fista_reach_the_same_objective():
    x, dictionary = problem(n=100, seed=7)
    lam = 0.3
    best = float(sparse_coding_objective(x, sparse_encode(x, dictionary, lam, tol=1e-12, max_iter=20000), dictionary, lam))
    for kwargs in ({"newton_steps": 0, "max_iter": 5000}, {}):
        codes = sparse_encode(x.float(), dictionary.float(), lam, tol=1e-5, **kwargs)
        assert codes.dtype == torch.float32
        f = float(sparse_coding_objective(x, codes.double(), dictionary, lam))
        assert best <= f <= best * (1 + 1e-4)


def test_bad_arguments():
    x, dictionary = problem(n=3)
    with pytest.raises(ValueError):
        sparse_encode(x, dictionary.T, 0.1)
    with pytest.raises(ValueError):
        sparse_encode(x, dictionary, -1.0)
    with pytest.raises(ValueError):
        sparse_encode(x, dictionary, 0.1, init=torch.zeros(2, 2, dtype=x.dtype))
