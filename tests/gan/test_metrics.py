"""Mode metrics on hand-made sample sets; Fréchet distance and precision/recall in closed form."""

import math

import pytest
import torch

from latentzoo.gan.metrics import frechet_distance, mode_metrics, precision_recall, sample_diversity

MODES = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
STD = 0.01


def test_perfect_samples():
    samples = MODES.repeat(25, 1)                                  # 25 samples exactly on each mode
    m = mode_metrics(samples, MODES, STD)
    assert m == {"modes_covered": 4, "modes_total": 4, "high_quality_fraction": 1.0, "reverse_kl": 0.0}


def test_total_collapse_onto_one_mode():
    m = mode_metrics(MODES[:1].repeat(100, 1), MODES, STD)
    assert m["modes_covered"] == 1 and m["high_quality_fraction"] == 1.0
    assert m["reverse_kl"] == pytest.approx(math.log(4))            # KL(δ_i ‖ uniform) = log K


def test_high_quality_threshold_is_three_std_of_the_nearest_mode():
    inside = MODES[0] + torch.tensor([2.9 * STD, 0.0])
    outside = MODES[1] + torch.tensor([0.0, 3.1 * STD])
    far = torch.tensor([0.5, 0.5])                                 # between modes: low quality
    m = mode_metrics(torch.stack([inside, outside, far, MODES[2]]), MODES, STD)
    assert m["high_quality_fraction"] == 0.5
    assert m["modes_covered"] == 2                                 # mode 1 has only a low-quality sample


def test_reverse_kl_of_unequal_shares_and_empty_modes():
    # high-quality shares (3/4, 1/4, 0, 0) plus low-quality samples that do not count
    samples = torch.cat([MODES[0].repeat(30, 1), MODES[1].repeat(10, 1), torch.full((20, 2), 0.5)])
    m = mode_metrics(samples, MODES, STD)
    expected = 0.75 * math.log(4 * 0.75) + 0.25 * math.log(4 * 0.25)  # Σ p̂ log(K p̂), 0 log 0 = 0
    assert m["reverse_kl"] == pytest.approx(expected, rel=1e-12)
    assert m["modes_covered"] == 2 and m["high_quality_fraction"] == pytest.approx(40 / 60)


def test_no_high_quality_sample_reports_log_k():
    m = mode_metrics(torch.full((10, 2), 5.0), MODES, STD)
    assert m["modes_covered"] == 0 and m["high_quality_fraction"] == 0.0
    assert m["reverse_kl"] == pytest.approx(math.log(4))


def test_real_mixture_data_scores_like_the_definition_predicts():
    from latentzoo.data.builtin import grid25

    data = grid25(0)
    m = mode_metrics(data.x_test, data.extras["modes"], data.extras["mode_std"])
    assert m["modes_covered"] == 25
    # P(‖N(0, σ²I₂)‖ ≤ 3σ) = 1 − e^{−9/2} = 0.9889 (Rayleigh)
    assert m["high_quality_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)
    assert m["reverse_kl"] < 0.02


def test_frechet_distance_closed_forms():
    a = torch.randn(2000, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    shift = torch.tensor([1.0, -2.0, 0.0, 0.5, 0.0], dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # same covariance: FD = ‖μ_a − μ_b‖²
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift.pow(2).sum()), rel=1e-9)
    # b = 2a: Σ_b = 4Σ, (Σ Σ_b)^{1/2} = 2Σ, FD = ‖μ‖² + tr(Σ + 4Σ − 4Σ) = ‖μ_a‖² + tr Σ
    cov = torch.cov(a.T)
    assert frechet_distance(a, 2 * a) == pytest.approx(float(a.mean(0).pow(2).sum() + torch.trace(cov)), rel=1e-8)


def test_frechet_distance_of_gaussians_with_known_moments():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(20000, 2, generator=g, dtype=torch.float64)                 # N(0, I)
    b = torch.randn(20000, 2, generator=g, dtype=torch.float64) * torch.tensor([2.0, 0.5]) + 1.0
    # N(1, diag(4, 1/4)): FD = 2 + (1 + 4 − 4) + (1 + 1/4 − 1) = 2 + 1 + 0.25
    assert frechet_distance(a, b) == pytest.approx(3.25, abs=0.08)


def test_precision_recall_known_cases():
    g = torch.Generator().manual_seed(2)
    real = torch.randn(300, 4, generator=g)
    p, r = precision_recall(real, real.clone())
    assert (p, r) == (1.0, 1.0)
    p, r = precision_recall(real, real + 100.0)                      # disjoint
    assert (p, r) == (0.0, 0.0)
    # mode collapse: the generator reproduces only one tight cluster inside the data
    collapsed = real[:1] + 0.001 * torch.randn(300, 4, generator=g)
    p, r = precision_recall(real, collapsed)
    assert p == 1.0 and r < 0.1


def test_precision_recall_slow_definition():
    g = torch.Generator().manual_seed(3)
    real, fake = torch.randn(40, 2, generator=g), torch.randn(30, 2, generator=g) * 1.5
    k = 3

    def radius(points, i):
        d = sorted(float((points[i] - points[j]).norm()) for j in range(len(points)) if j != i)
        return d[k - 1]

    def inside(x, points):
        return any(float((x - points[j]).norm()) <= radius(points, j) for j in range(len(points)))

    precision = sum(inside(f, real) for f in fake) / len(fake)
    recall = sum(inside(r, fake) for r in real) / len(real)
    assert precision_recall(real, fake, k=3) == pytest.approx((precision, recall))


def test_sample_diversity_is_mean_pairwise_distance():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    # pairs: 5, 0, 5 (each counted twice over n(n−1) = 6 ordered pairs) → 20/6
    assert sample_diversity(x) == pytest.approx(20 / 6)
