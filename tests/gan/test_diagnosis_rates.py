r"""The diagnoses' error rates, measured on simulated runs whose state is known.

Each test rebuilds its seeded runs, counts how often the detector reports, checks the count
against the figure written in :mod:`latentzoo.gan.diagnostics` (which the evidence text quotes)
and against the target: at most 5% false alarms on the nulls, at least 90% detections.

Oscillation (4 signals per run, like the GAN's fake_logit, real_logit, d_loss, g_loss; lengths
256, 512, 1024, 4096 steps in turn, 50 runs each):

* nulls, no oscillation anywhere: white noise; AR(1) x_t = ρ·x_{t−1} + ε_t, stationary, ρ = 0.9
  and 0.99; random walks x_t = x_{t−1} + ε_t; AR(1) 0.9 driven by skewed, heavy-tailed
  ε ~ Exp(1)² (loss spikes); a decaying loss curve 5·exp(−t/(τN)), τ ~ U(0.05, 1), over AR(1)
  0.5 noise. Any report on any of the 4 signals is a false alarm (family-wise).
* detection: signal 0 is A·sin(2πt/T + φ) + noise of std A (white, AR(1) 0.9 or 0.99), with
  T log-uniform in [8, min(128, N/16)] steps (≥ 16 cycles), φ uniform, A log-uniform in
  [10⁻³, 10³]; signals 1-3 are AR(1) ρ = 0.99 nulls of std A.

Mode collapse (per-epoch coverage or diversity, 20/50/154 epochs in turn): see the comment above
``COLLAPSE_MEASURED`` in the module.
"""

import numpy as np
import pytest
from scipy.signal import lfilter

from latentzoo.gan import diagnostics

LENGTHS = (256, 512, 1024, 4096)
SIGNALS = 4
RUNS = diagnostics.OSCILLATION_RUNS
MAX_FALSE_ALARMS = int(0.05 * RUNS)          # 5% family-wise
MIN_DETECTIONS = int(np.ceil(0.9 * RUNS))    # 90%


def ar1(rng, shape, rho: float, std: float = 1.0) -> np.ndarray:
    """Stationary AR(1) rows: x_0 ~ N(0, std²), x_t = ρ x_{t−1} + ε_t, ε_t ~ N(0, std²(1 − ρ²))."""
    eps = rng.standard_normal(shape) * std * np.sqrt(1 - rho ** 2)
    eps[..., 0] = rng.standard_normal(shape[:-1]) * std
    return lfilter([1.0], [1.0, -rho], eps, axis=-1)


def null_signals(rng, model: str, runs: int, n: int) -> np.ndarray:
    shape = (runs, SIGNALS, n)
    if model == "random_walk":
        return np.cumsum(rng.standard_normal(shape), axis=-1)        # x_t = x_{t−1} + ε_t
    if model == "skewed_ar1_0.9":                                    # loss-like spikes: ε ~ Exp(1)², heavy right tail
        return lfilter([1.0], [1.0, -0.9], rng.exponential(1.0, shape) ** 2, axis=-1)
    if model == "decaying_trend":                                    # a loss curve 5·exp(−t/(τN)) over AR(1) 0.5 noise
        tau = rng.uniform(0.05, 1.0, (runs, SIGNALS, 1))
        return 5.0 * np.exp(-np.arange(n) / n / tau) + ar1(rng, shape, 0.5)
    return ar1(rng, shape, {"white": 0.0, "ar1_0.9": 0.9, "ar1_0.99": 0.99}[model])


def oscillating_signals(rng, noise: str, runs: int, n: int) -> np.ndarray:
    rho = {"white": 0.0, "ar1_0.9": 0.9, "ar1_0.99": 0.99}[noise]
    amplitude = 10.0 ** rng.uniform(-3, 3, (runs, 1))
    period = np.exp(rng.uniform(np.log(8), np.log(min(128, n / 16)), (runs, 1)))
    phase = rng.uniform(0, 2 * np.pi, (runs, 1))
    x = amplitude[:, :, None] * ar1(rng, (runs, SIGNALS, n), 0.99)
    x[:, 0] = amplitude * (np.sin(2 * np.pi * np.arange(n) / period + phase) + ar1(rng, (runs, n), rho))
    return x


def count_reports(make, seed: int) -> int:
    """Runs (of RUNS, lengths in turn) on which :func:`detect_oscillation` reports an oscillation."""
    rng = np.random.default_rng(seed)
    reports = 0
    for n in LENGTHS:
        for run in make(rng, RUNS // len(LENGTHS), n):
            finding = diagnostics.detect_oscillation({f"signal{j}": run[j] for j in range(SIGNALS)})
            reports += finding["detected"]
    return reports


NULLS = ("white", "ar1_0.9", "ar1_0.99", "random_walk", "skewed_ar1_0.9", "decaying_trend")


@pytest.mark.parametrize("model", NULLS)
def test_oscillation_false_alarms_on_red_noise_and_random_walks(model):
    seed = 150 + NULLS.index(model)                                  # independent draws per null model
    false_alarms = count_reports(lambda rng, runs, n: null_signals(rng, model, runs, n), seed)
    assert false_alarms == diagnostics.OSCILLATION_MEASURED[model]      # the figure the evidence quotes
    assert false_alarms <= MAX_FALSE_ALARMS


NOISES = ("white", "ar1_0.9", "ar1_0.99")


@pytest.mark.parametrize("noise", NOISES)
def test_oscillation_detected_at_equal_signal_and_noise_amplitude(noise):
    seed = 160 + NOISES.index(noise)
    detections = count_reports(lambda rng, runs, n: oscillating_signals(rng, noise, runs, n), seed)
    assert detections == diagnostics.OSCILLATION_MEASURED["detect_" + noise]
    assert detections >= MIN_DETECTIONS


def test_oscillation_p_value_is_uniform_enough_on_white_noise():
    # the test's level, one signal at a time: P(p ≤ α) ≤ α for α = 1%, 5%, 20% (1,000 series of 512)
    rng = np.random.default_rng(17)
    p = np.array([diagnostics.oscillation_test(x)["p"] for x in rng.standard_normal((1000, 512))])
    for level in (0.01, 0.05, 0.2):
        assert np.mean(p <= level) <= level + 2 * np.sqrt(level / 1000)


def test_oscillation_evidence_quotes_the_measured_rates():
    rng = np.random.default_rng(18)
    finding = diagnostics.detect_oscillation({"discriminator_loss": rng.standard_normal(1024)})
    m, n = diagnostics.OSCILLATION_MEASURED, RUNS
    assert not finding["detected"]
    assert f"{m['ar1_0.99']}/{n} on AR(1) ρ=0.99" in finding["evidence"]
    assert f"{m['random_walk']}/{n} on random walks" in finding["evidence"]
    assert f"detected {m['detect_ar1_0.99']}/{n}" in finding["evidence"]


# ---- mode collapse -------------------------------------------------------------------------

EPOCHS = (20, 50, 154)


def coverage_run(rng, kind: str, epochs: int, total: int) -> np.ndarray:
    e = np.arange(1, epochs + 1)
    if kind == "plateau":                                   # rises to `level` by mid-training, stays
        level = rng.integers(total // 4, total)
        mean = np.minimum(level, 1 + (level - 1) * e / (epochs / 2))
    else:                                                   # still rising at the end, to 50-90% of total
        end = rng.uniform(0.5, 0.9) * total
        mean = 1 + (end - 1) * e / epochs
    return np.clip(np.round(mean) - rng.binomial(2, 0.15, epochs), 0, total)   # 0-2 modes missed


def diversity_run(rng, kind: str, epochs: int) -> np.ndarray:
    e = np.arange(1, epochs + 1)
    level = rng.uniform(0.2, 0.45)
    if kind == "plateau":
        mean = np.minimum(level, 0.1 + (level - 0.1) * e / (epochs / 2))
    else:
        mean = 0.1 + (level - 0.1) * e / epochs
    return mean + 0.03 * rng.standard_normal(epochs)


def collapse_reports(signal: str, kind: str, seed: int) -> int:
    rng = np.random.default_rng(seed)
    reports = 0
    for i in range(diagnostics.COLLAPSE_RUNS):
        epochs = EPOCHS[i % len(EPOCHS)]
        if signal == "coverage":
            total = (8, 25)[(i // len(EPOCHS)) % 2]
            finding = diagnostics.detect_mode_collapse(coverage_run(rng, kind, epochs, total), total)
        else:
            finding = diagnostics.detect_mode_collapse(diversity_ratio=diversity_run(rng, kind, epochs))
        reports += finding["detected"]
    return reports


@pytest.mark.parametrize("signal", ["coverage", "diversity"])
def test_mode_collapse_not_reported_while_coverage_still_rises(signal):
    collapse = collapse_reports(signal, "rising", seed=19)
    assert collapse == diagnostics.COLLAPSE_MEASURED[f"{signal}_rising_reported_collapse"]
    assert collapse <= int(0.1 * diagnostics.COLLAPSE_RUNS)


@pytest.mark.parametrize("signal", ["coverage", "diversity"])
def test_mode_collapse_reported_when_coverage_stopped_rising(signal):
    collapse = collapse_reports(signal, "plateau", seed=20)
    missed = diagnostics.COLLAPSE_RUNS - collapse
    assert missed == diagnostics.COLLAPSE_MEASURED[f"{signal}_plateau_reported_undertrained"]
    assert missed <= int(0.1 * diagnostics.COLLAPSE_RUNS)
