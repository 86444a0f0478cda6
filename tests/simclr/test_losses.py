r"""NT-Xent against the seed's formula, closed forms, symmetry and float64 gradchecks."""

import itertools
import math

import pytest
import torch

from latentzoo.losses import nt_xent as exported
from latentzoo.simclr.losses import nt_xent


def slow_nt_xent(z_i, z_j, temperature):
    r"""Straight from DESIGN.md Q4, with the seed's interleaved numbering: views 2k−1 and 2k
    (1-based) are x_k's two views; ℓ_{i,j} = −log exp(sim(z_i,z_j)/τ) / Σ_{k≠i} exp(sim(z_i,z_k)/τ);
    L = 1/(2N) Σ_k [ℓ_{2k−1,2k} + ℓ_{2k,2k−1}]. Pure Python loops in float64."""
    n = z_i.shape[0]
    views = []
    for k in range(n):
        views += [z_i[k].double(), z_j[k].double()]

    def sim(u, v):
        return float(u @ v) / (float(u.norm()) * float(v.norm()))

    def ell(i, j):
        denominator = sum(math.exp(sim(views[i], views[k]) / temperature) for k in range(2 * n) if k != i)
        return -math.log(math.exp(sim(views[i], views[j]) / temperature) / denominator)

    return sum(ell(2 * k, 2 * k + 1) + ell(2 * k + 1, 2 * k) for k in range(n)) / (2 * n)


def dense_autograd_nt_xent(z_i, z_j, temperature):
    r"""The textbook dense version (2N×2N matrix, masked diagonal, cross-entropy), for gradients."""
    z = torch.nn.functional.normalize(torch.cat([z_i, z_j]), dim=1)
    n = z_i.shape[0]
    s = z @ z.T / temperature
    s = s.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return torch.nn.functional.cross_entropy(s, target)


@pytest.mark.parametrize("n,d,temperature", list(itertools.product([1, 2, 5, 9], [1, 3, 16], [0.05, 0.1, 0.5, 2.0]))
                         + [(6, 4, 0.01), (7, 5, 0.005)])
def test_matches_the_slow_loop(n, d, temperature):
    g = torch.Generator().manual_seed(n * 100 + d)
    z_i, z_j = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    expected = slow_nt_xent(z_i, z_j, temperature)
    for block in (None, 1, 3, 4):      # one block, and strips that cut the matrix unevenly
        got = float(nt_xent(z_i, z_j, temperature, block_size=block))
        assert got == pytest.approx(expected, rel=2e-5, abs=2e-5), block
    assert float(nt_xent(z_i.double(), z_j.double(), temperature, block_size=2)) == pytest.approx(expected, rel=1e-10)


def test_identical_embeddings_give_log_2n_minus_1():
    for n in (1, 2, 7, 300):
        z = torch.randn(1, 5).repeat(n, 1)
        for temperature in (0.05, 0.5, 3.0):
            assert float(nt_xent(z, 2 * z, temperature, block_size=64)) == pytest.approx(math.log(2 * n - 1), abs=1e-4)


def test_closed_form_orthogonal_pairs():
    r"""Pairs (e_k, e_k) on orthonormal axes: every negative has sim 0, so
    L = −log(e^{1/τ} / (e^{1/τ} + 2N − 2)) = log(1 + (2N − 2) e^{−1/τ})."""
    n, temperature = 4, 0.3
    e = torch.eye(n)
    expected = math.log(1 + (2 * n - 2) * math.exp(-1 / temperature))
    assert float(nt_xent(e, 3 * e, temperature)) == pytest.approx(expected, rel=1e-6)


def test_symmetric_in_its_arguments_and_scale_invariant():
    g = torch.Generator().manual_seed(1)
    z_i, z_j = torch.randn(33, 8, generator=g), torch.randn(33, 8, generator=g)
    a = nt_xent(z_i, z_j, 0.2, block_size=10)
    assert float(nt_xent(z_j, z_i, 0.2, block_size=10)) == pytest.approx(float(a), rel=1e-6)
    assert float(nt_xent(5 * z_i, 0.1 * z_j, 0.2)) == pytest.approx(float(a), rel=1e-5)
    perm = torch.randperm(33, generator=g)
    assert float(nt_xent(z_i[perm], z_j[perm], 0.2)) == pytest.approx(float(a), rel=1e-6)
    assert torch.equal(exported(z_i, z_j, 0.2), nt_xent(z_i, z_j, 0.2))


@pytest.mark.parametrize("temperature", [0.5, 0.07, 0.01])   # fast path (shared exp) and max-shifted path
@pytest.mark.parametrize("block", [None, 2, 3])
def test_gradcheck_float64(temperature, block):
    g = torch.Generator().manual_seed(2)
    z_i = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    z_j = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: nt_xent(a, b, temperature, block_size=block), (z_i, z_j))


def test_gradient_equals_dense_autograd_and_is_scaled_by_the_incoming_gradient():
    g = torch.Generator().manual_seed(3)
    z_i = torch.randn(50, 12, generator=g, requires_grad=True)
    z_j = torch.randn(50, 12, generator=g, requires_grad=True)
    for temperature in (0.5, 0.1, 0.02):
        ref = torch.autograd.grad(dense_autograd_nt_xent(z_i, z_j, temperature), (z_i, z_j))
        got = torch.autograd.grad(3.0 * nt_xent(z_i, z_j, temperature, block_size=16), (z_i, z_j))
        for r, o in zip(ref, got):
            torch.testing.assert_close(o, 3.0 * r, rtol=1e-4, atol=1e-6)


def test_stable_for_tiny_temperature():
    g = torch.Generator().manual_seed(4)
    z_i, z_j = torch.randn(20, 6, generator=g), torch.randn(20, 6, generator=g)
    z_i.requires_grad_()
    loss = nt_xent(z_i, z_j, 1e-3, block_size=7)
    loss.backward()
    loss = loss.detach()
    assert math.isfinite(float(loss)) and torch.isfinite(z_i.grad).all()
    assert float(loss) == pytest.approx(float(dense_autograd_nt_xent(z_i.detach().double(), z_j.double(), 1e-3)), rel=1e-4)


def test_rejects_bad_arguments():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(z, torch.randn(5, 3))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(z, z, 0.0)
    with pytest.raises(ValueError, match="block_size"):
        nt_xent(z, z, 0.5, block_size=0)
