"""The online dictionary update (Mairal et al. 2010): each block step is an exact, projected
minimisation of tr(DᵀAD) − 2 tr(DᵀB) under ‖D_k‖ ≤ 1."""

import torch

from latentzoo.autoencoders.sparse_coding import update_dictionary


def surrogate(dictionary, a, b):
    return float(torch.trace(dictionary.T @ a @ dictionary) - 2 * torch.trace(dictionary.T @ b))


def test_unconstrained_optimum_is_reached_when_inside_the_ball():
    # With ‖(A⁻¹B)_k‖ < 1 the constraint is inactive: block-coordinate descent converges to A⁻¹B.
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(50, 6, generator=g, dtype=torch.float64)
    a = codes.T @ codes
    target = torch.randn(6, 9, generator=g, dtype=torch.float64)
    target /= 2 * target.norm(dim=1, keepdim=True)           # rows of norm 1/2
    b = a @ target                                            # so that A⁻¹B = target
    dictionary = torch.zeros(6, 9, dtype=torch.float64)
    for _ in range(300):
        update_dictionary(dictionary, a, b)
    assert torch.allclose(dictionary, target, atol=1e-8)


def test_each_block_step_is_the_projected_closed_form_and_never_increases():
    g = torch.Generator().manual_seed(1)
    codes = torch.randn(30, 5, generator=g, dtype=torch.float64)
    x = 3 * torch.randn(30, 8, generator=g, dtype=torch.float64)
    a, b = codes.T @ codes, codes.T @ x
    dictionary = torch.randn(5, 8, generator=g, dtype=torch.float64)
    dictionary /= dictionary.norm(dim=1, keepdim=True)
    before = surrogate(dictionary, a, b)
    expected = dictionary.clone()
    for j in range(5):  # the loop written from the formula
        others = b[j] - sum(a[j, l] * expected[l] for l in range(5) if l != j)
        atom = others / a[j, j]                               # argmin over D_j of A_jj‖D_j‖² − 2 D_j·(B_j − Σ_{l≠j} A_jl D_l)
        expected[j] = atom / max(1.0, float(atom.norm()))     # projection onto the unit ball
    update_dictionary(dictionary, a, b)
    assert torch.allclose(dictionary, expected, atol=1e-12)
    assert (dictionary.norm(dim=1) <= 1 + 1e-12).all()
    assert surrogate(dictionary, a, b) <= before


def test_unused_atoms_are_left_alone():
    a = torch.diag(torch.tensor([2.0, 0.0]))
    b = torch.tensor([[1.0, 0.0], [5.0, 5.0]])
    dictionary = torch.tensor([[0.0, 1.0], [0.6, 0.8]])
    update_dictionary(dictionary, a, b)
    assert torch.equal(dictionary[1], torch.tensor([0.6, 0.8]))
    assert torch.allclose(dictionary[0], torch.tensor([0.5, 0.0]))   # B_0/A_00 with A_01 = 0
