r"""The seed's four GAN training problems, detected from cheap signals collected while training.

Each detector is a pure function of recorded signals and returns one finding::

    {"name": ..., "detected": bool, "evidence": "what was measured", "remedy": "what to change"}

Signals (recorded per generator update by :class:`latentzoo.gan.model.GAN`, or by
:func:`latentzoo.gan.dirac.dirac_gan`):

* ``generator_grad_norm`` ‖∇_{w̃} L_G‖₂, the generator's gradient norm;
* ``d_win`` the discriminator's soft ranking accuracy, mean over pairs of σ(D(y_i) − D(G(η_j)))
  (½ when it cannot tell real from fake, → 1 when it separates them confidently);
* ``discriminator_loss``, ``generator_loss``, ``real_logit``, ``fake_logit`` the players' losses and outputs;
* per epoch: ``modes_covered`` (mixtures) or ``diversity_ratio`` (mean pairwise distance of
  samples / the same for real data);
* time spent in the discriminator's step, the generator's step and outside both (data, loop),
  and per resolution trained (``resolution`` in the history) or probed.

Two detectors are statistical tests with a stated error rate, measured on simulated runs whose
state is known (``tests/gan/test_diagnosis_rates.py`` recomputes the counts written in
:data:`OSCILLATION_MEASURED` and :data:`COLLAPSE_MEASURED` and checks them):

* oscillation: a spectral peak tested against a red-noise (AR(1)) null fitted to each signal,
  Holm's correction over the signals, family-wise false-alarm rate :data:`FAMILY_ALPHA`;
* mode collapse: a shortfall in coverage (or diversity) counts as collapse only when a one-sided
  Mann–Kendall test finds no upward trend over the last epochs; while it still rises the run is
  reported as under-trained (``detected=False``, evidence and remedy say "train longer").

The other thresholds are constants of this module, stated beside each detector.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

NAMES = ("vanishing_gradients", "oscillation", "mode_collapse", "slow_training")

# vanishing gradients: late generator gradient below this fraction of its peak while D wins
VANISH_RATIO = 0.05
D_WINS = 0.9
# oscillation: family-wise false-alarm rate over all signals (Holm), slowest frequency tested
# (cycles over the series), shortest series tested, and the share of its amplitude that the
# oscillation must keep from the first half of the series to the second
FAMILY_ALPHA = 0.02
MIN_CYCLES = 4
MIN_STEPS = 64
PERSIST_RATIO = 0.5
# mode collapse: coverage below total, or sample diversity below this share of the data's (or
# of its own best); "still rising" is a one-sided Mann–Kendall test at TREND_ALPHA over the second
# half of the epochs, at least TREND_MIN_EPOCHS of them
DIVERSITY_FLOOR = 0.5
DIVERSITY_DROP = 0.7
TREND_ALPHA = 0.05
TREND_MIN_EPOCHS = 4
# slow training: full resolution from which progressive growing is recommended, and the largest
# exponent β of time per image ∝ pixels^β that the pixel count warrants
PROGRESSIVE_MIN = 32
PIXEL_EXPONENT = 1.0

# Rates measured by tests/gan/test_diagnosis_rates.py (seeded; the test recomputes these counts).
# Oscillation: runs of 4 signals, 200 runs per model, lengths 256/512/1024/4096 steps in turn;
# nulls hold no oscillation in any signal (see the test's docstring for "skewed_ar1_0.9" and
# "decaying_trend"); "detect_*": one signal holds A·sin(2πt/T + φ) plus
# noise of std A (T log-uniform in [8, min(128, N/16)] steps), the other three AR(1) ρ = 0.99.
OSCILLATION_RUNS = 200
OSCILLATION_MEASURED = {"white": 0, "ar1_0.9": 7, "ar1_0.99": 4, "random_walk": 4, "skewed_ar1_0.9": 2,
                        "decaying_trend": 1, "detect_white": 200, "detect_ar1_0.9": 199, "detect_ar1_0.99": 200}
# Mode collapse: 200 runs per model, 20/50/154 epochs in turn. Coverage (8 or 25 modes in turn):
# "plateau" rises to a level below the total by mid-training and stays there, "rising" rises
# steadily to 50-90% of the total at the end; noise: 0-2 modes missed per epoch, Binomial(2, 0.15).
# Diversity: "plateau" at 0.2-0.45 from mid-training, "rising" from 0.1 to 0.2-0.45 at the end;
# noise N(0, 0.03²) per epoch.
COLLAPSE_RUNS = 200
COLLAPSE_MEASURED = {"coverage_plateau_reported_undertrained": 6, "coverage_rising_reported_collapse": 5,
                     "diversity_plateau_reported_undertrained": 6, "diversity_rising_reported_collapse": 15}


def _finding(name: str, detected: bool, evidence: str, remedy: str) -> dict:
    return {"name": name, "detected": bool(detected), "evidence": evidence, "remedy": remedy}


def _array(x) -> np.ndarray:
    a = np.asarray(x if x is not None else [], dtype=np.float64).reshape(-1)
    return a[np.isfinite(a)]


def _smooth(a: np.ndarray, parts: int = 20) -> np.ndarray:
    """Means of ``parts`` consecutive blocks (fewer when the series is short)."""
    parts = max(1, min(parts, len(a)))
    return np.array([b.mean() for b in np.array_split(a, parts)])


def detect_vanishing_gradients(generator_grad_norm, d_win, peak: float | None = None) -> dict:
    r"""Vanishing generator gradients: ‖∇L_G‖ collapses while the discriminator wins.

    Detected when the mean generator gradient norm over the last tenth of training is below
    ``VANISH_RATIO`` (5%) of its peak (block means over hundredths) and the discriminator's
    soft ranking accuracy over that last tenth is above ``D_WINS`` (0.9). A converging game
    also has shrinking gradients, but there the discriminator cannot separate the players (½).
    ``peak`` adds a peak measured elsewhere (e.g. per-epoch means over a run longer than the series).
    """
    g, w = _array(generator_grad_norm), _array(d_win)
    name = "vanishing_gradients"
    remedy = ("use the non-saturating generator loss (loss=nonsaturating) or a Wasserstein/hinge loss with "
              "gp/spectral_norm; weaken the discriminator (lower lr_d, n_critic=1, r1>0)")
    if len(g) < 10 or len(w) == 0:
        return _finding(name, False, "too few generator steps recorded to judge", remedy)
    tail = max(1, len(g) // 10)
    peak, late = max(_smooth(g, parts=100).max(), peak or 0.0), g[-tail:].mean()
    win = w[-max(1, len(w) // 10):].mean()
    ratio = late / peak if peak > 0 else 1.0
    detected = ratio < VANISH_RATIO and win > D_WINS
    evidence = (f"generator gradient norm fell to {late:.3g} ({100 * ratio:.2g}% of its peak {peak:.3g}); "
                f"discriminator ranking accuracy {win:.3f} at the end")
    return _finding(name, detected, evidence, remedy)

def red_noise_residuals(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    r"""Detrend a series and whiten it under the red-noise null; returns ``(w, e, rho)``.

    The null hypothesis is an AR(1) process around a line, x_t = a + b·t + w_t with
    w_t = ρ·w_{t−1} + ε_t, ε white (ρ = 0 white noise, ρ → 1 a random walk)::

        w_t = x_t − (â + b̂·t)                                   least-squares line removed, t = 0..N−1
        ρ̂   = Σ_{t≥1} w_t·w_{t−1} / Σ_{t≥1} w_{t−1}²            AR(1) coefficient fitted to the signal
        e_t = w_t − ρ̂·w_{t−1} − mean,  t = 1..N−1                the innovations ε_t: white under the null

    An oscillation A·sin(2πft) passes the filter 1 − ρ̂·B as a sinusoid of the same frequency
    (gain |1 − ρ̂·e^{−2πif}|), the noise's innovations come out white, so the test needs no
    model of the noise's colour beyond ρ̂.
    """
    t = np.arange(len(x), dtype=np.float64)
    t -= t.mean()
    w = x - x.mean()
    w = w - (w @ t / (t @ t)) * t
    lagged = w[:-1] @ w[:-1]
    rho = float(w[1:] @ w[:-1] / lagged) if lagged > 0 else 0.0
    e = w[1:] - rho * w[:-1]
    return w, e - e.mean(), rho


def _fisher_g(e: np.ndarray, offset: float) -> tuple[float, float, bool]:
    r"""Fisher's g test for one hidden periodicity in the white series ``e`` (length M).

    On the frequency grid f_k = (k + offset)/M (offset 0: Fourier frequencies; ½: halfway between,
    where an oscillation between two Fourier frequencies puts its power), over the K frequencies
    with MIN_CYCLES ≤ k + offset < M/2::

        I_k = |Σ_t e_t·exp(−2πi·f_k·t)|²                  periodogram, iid exponential for white e
        g   = max_k I_k / Σ_k I_k
        P(g > x) ≤ K·(1 − x)^{K−1}                         first term of Fisher's (1929) exact law

    Returns (p, f of the maximum in cycles per step, whether the maximum is a local peak, i.e.
    above both neighbours on the grid: the slope of a smooth trend's spectrum has no peak).
    """
    m = len(e)
    z = e * np.exp(-1j * np.pi * np.arange(m) / m) if offset else e     # shift the grid by ½ bin
    power = np.abs(np.fft.fft(z)) ** 2
    k = np.arange(m) + offset
    band = np.flatnonzero((k >= MIN_CYCLES) & (k < m / 2))
    if len(band) < 2 or power[band].sum() <= 0:
        return 1.0, 0.0, False
    i = band[np.argmax(power[band])]
    g = power[i] / power[band].sum()
    p = min(1.0, len(band) * (1.0 - g) ** (len(band) - 1))
    return p, k[i] / m, bool(power[i] > power[i - 1] and power[i] > power[(i + 1) % m])


def _amplitude(w: np.ndarray, f: float) -> float:
    """Amplitude of the frequency ``f`` (cycles per step) in ``w``: (2/L)·|Σ_t (w_t − w̄)·exp(−2πift)|."""
    phase = np.exp(-2j * np.pi * f * np.arange(len(w)))
    return float(2.0 * np.abs((w - w.mean()) @ phase) / len(w))


def oscillation_test(series) -> dict | None:
    r"""Test one signal for a persistent oscillation against the red-noise null; None if untestable.

    The whole series is detrended and whitened (:func:`red_noise_residuals`), and the residuals
    e are tested with Fisher's g on two grids (:func:`_fisher_g`, Bonferroni over the two)::

        p = min(1, 2·min(p_0, p_½))

    which, for white Gaussian innovations, is a valid p-value: P(p ≤ α) ≤ α. Also returned:
    ``period`` 1/f in steps; ``peak`` whether the maximum stands above its neighbours;
    ``persistence`` the oscillation's amplitude (:func:`_amplitude` at f, on the detrended
    series) in the second half over the first (≈ 1 sustained, → 0 dying out); ``rho`` = ρ̂.
    Untestable: fewer than ``MIN_STEPS`` finite values, or no variation around the line.
    """
    x = _array(series)
    if len(x) < MIN_STEPS:
        return None
    w, e, rho = red_noise_residuals(x)
    if not np.any(e) or not np.isfinite(e).all():
        return None
    (p0, f0, peak0), (p1, f1, peak1) = _fisher_g(e, 0.0), _fisher_g(e, 0.5)
    p, f, peak = (p0, f0, peak0) if p0 <= p1 else (p1, f1, peak1)
    half = len(w) // 2
    first, second = _amplitude(w[:half], f), _amplitude(w[half:], f)
    persistence = second / first if first > 0 else (math.inf if second > 0 else 0.0)
    return {"p": float(min(1.0, 2.0 * p)), "period": float(1.0 / f) if f > 0 else math.inf, "peak": peak,
            "persistence": float(persistence), "rho": rho, "steps": len(x)}


def _p_text(p: float) -> str:
    return f"p = {p:.2g}" if p >= 1e-16 else "p < 1e-16"


def _oscillation_rates() -> str:
    m, n = OSCILLATION_MEASURED, OSCILLATION_RUNS
    return (f"test: AR(1) red-noise null fitted to each signal, Fisher's g, Holm at family-wise "
            f"{100 * FAMILY_ALPHA:.0f}%; measured false alarms {m['ar1_0.99']}/{n} on AR(1) ρ=0.99, "
            f"{m['ar1_0.9']}/{n} on ρ=0.9, {m['random_walk']}/{n} on random walks; detected "
            f"{m['detect_ar1_0.99']}/{n}, {m['detect_ar1_0.9']}/{n}, {m['detect_white']}/{n} oscillations "
            f"in AR(1) 0.99, 0.9, white noise of their amplitude")


def detect_oscillation(series: dict, alpha: float = FAMILY_ALPHA) -> dict:
    r"""Oscillation / non-convergence: a persistent periodic swing in any signal, at a known error rate.

    Each signal is tested with :func:`oscillation_test` (p-value p_j against an AR(1) null fitted
    to it). Holm's step-down over the m testable signals: sort p_(1) ≤ … ≤ p_(m), reject
    p_(i) while p_(i) ≤ α/(m − i + 1). A rejected signal is reported as oscillating when its
    spectral maximum is a local peak and its amplitude persists (second half ≥ ``PERSIST_RATIO``
    of the first). Any report needs p_(1) ≤ α/m, so the family-wise false-alarm rate over all
    signals is ≤ α (:data:`FAMILY_ALPHA`) whatever the signals' dependence, on any null that is AR(1)
    (ρ ∈ [0, 1], random walks included) up to the fit of ρ̂; :data:`OSCILLATION_MEASURED` holds
    the rates measured on such nulls. A converging spiral loses its amplitude (persistence → 0).
    """
    name = "oscillation"
    remedy = ("regularise the discriminator (r1=1 to 10, or gp=10), lower the learning rates or use TTUR "
              "(lr_d > lr_g), average the generator (ema=0.999)")
    tested = {k: r for k, r in ((k, oscillation_test(v)) for k, v in series.items()) if r is not None}
    if not tested:
        return _finding(name, False, f"no signal with {MIN_STEPS} steps or more that varies; not tested", remedy)
    order = sorted(tested, key=lambda k: tested[k]["p"])
    m = len(order)
    rejected = []
    for i, key in enumerate(order):                      # Holm: p_(i) ≤ α/(m − i + 1), i from 1
        if tested[key]["p"] > alpha / (m - i):
            break
        rejected.append(key)
    found = [k for k in rejected if tested[k]["peak"] and tested[k]["persistence"] >= PERSIST_RATIO]
    if found:
        head = "persistent periodic swings in " + ", ".join(
            f"{k} (period {tested[k]['period']:.3g} steps, {_p_text(tested[k]['p'])}, "
            f"amplitude kept {100 * min(tested[k]['persistence'], 9.99):.0f}%)" for k in found)
    else:
        best = tested[order[0]]
        head = (f"no persistent periodic swing (smallest {_p_text(best['p'])} in {order[0]}, period "
                f"{best['period']:.3g} steps; Holm needs p ≤ {alpha / m:.2g} over {m} signals)")
        dying = [k for k in rejected if k not in found]
        if dying:
            head += "; swings that die out or are no spectral peak in " + ", ".join(dying)
    return _finding(name, bool(found), head + "; " + _oscillation_rates(), remedy)


def rising_trend(values) -> dict | None:
    r"""One-sided Mann–Kendall test of an upward trend over the second half of a per-epoch series.

    Over the last n = max(``TREND_MIN_EPOCHS``, ⌈E/2⌉) of the E values, c_1..c_n::

        S    = Σ_{i<j} sign(c_j − c_i)
        τ_b  = S / √((n₀ − n_c)(n₀ − n_t)),  n₀ = n(n−1)/2, n_c = 0 (epochs never tie), n_t tied pairs of c
        H₀: no trend (the values are exchangeable),  H₁: rising;  p = P(τ_b ≥ observed | H₀)

    (:func:`scipy.stats.kendalltau` with ``alternative="greater"``: exact without ties, normal
    approximation with ties). Returns ``{"tau", "p", "epochs", "rising": p < TREND_ALPHA}``, or
    None with fewer than ``TREND_MIN_EPOCHS`` values; a constant window has p = 1.
    """
    c = _array(values)
    if len(c) < TREND_MIN_EPOCHS:
        return None
    window = c[-max(TREND_MIN_EPOCHS, math.ceil(len(c) / 2)):]
    if np.all(window == window[0]):
        return {"tau": 0.0, "p": 1.0, "epochs": len(window), "rising": False}
    tau, p = stats.kendalltau(np.arange(len(window)), window, alternative="greater")
    p = 1.0 if not np.isfinite(p) else float(p)
    return {"tau": float(tau), "p": p, "epochs": len(window), "rising": p < TREND_ALPHA}


def _collapse_rates(what: str) -> str:
    m, n, key = COLLAPSE_MEASURED, COLLAPSE_RUNS, "coverage" if what == "coverage" else "diversity"
    return (f"test: one-sided Mann–Kendall at {100 * TREND_ALPHA:.0f}% over the second half of the epochs; "
            f"measured collapse reported on {m[key + '_rising_reported_collapse']}/{n} runs whose {what} "
            f"still rose, missed (called under-trained) on {m[key + '_plateau_reported_undertrained']}/{n} "
            f"plateaued ones")


def _judge_shortfall(name: str, values: np.ndarray, head: str, what: str, remedy: str) -> dict:
    """A shortfall is collapse when ``values`` stopped rising, under-training while they still rise."""
    trend = rising_trend(values)
    if trend is None:
        if values[-1] < values.max():
            return _finding(name, True, f"{head}: {what} fell from its best; {_collapse_rates(what)}", remedy)
        return _finding(name, False, f"{head}: too few epochs ({len(values)}) to tell collapse from under-training; "
                        "train longer and watch whether it rises", "train longer; " + remedy)
    trend_text = f"Kendall τ = {trend['tau']:.2f}, p = {trend['p']:.2g} over the last {trend['epochs']} epochs"
    if trend["rising"]:
        return _finding(name, False, f"{head}: under-trained, not collapsed: {what} still rising "
                        f"({trend_text}); {_collapse_rates(what)}",
                        f"train longer (more epochs): {what} is still rising")
    return _finding(name, True, f"{head}: {what} stopped rising ({trend_text}); {_collapse_rates(what)}", remedy)


def detect_mode_collapse(modes_covered=None, modes_total: int | None = None, diversity_ratio=None) -> dict:
    r"""Mode collapse: modes missing, or samples much less diverse than the data, and no longer improving.

    ``modes_covered`` is the per-epoch (last = final) number of covered modes; a shortfall is a
    final count below ``modes_total``. ``diversity_ratio`` is the per-epoch mean pairwise distance
    of generated samples over that of real samples; a shortfall is a final ratio below
    ``DIVERSITY_FLOOR`` (0.5), or below ``DIVERSITY_DROP`` (70%) of its best value. A shortfall is
    reported as collapse only when it stopped rising (:func:`rising_trend` finds no upward trend
    over the second half of the epochs); while it still rises the finding is ``detected=False``
    with "under-trained" in the evidence and "train longer" as the remedy. With fewer than
    ``TREND_MIN_EPOCHS`` epochs, only a fall from the best value counts as collapse.
    """
    name = "mode_collapse"
    remedy = ("pack samples for the discriminator (pack=2..4, PacGAN), add r1 or gp, lower the learning "
              "rates, average the generator (ema)")
    cov = _array(modes_covered)
    if len(cov) and modes_total:
        final, best = int(cov[-1]), int(cov.max())
        head = f"{final}/{modes_total} modes covered at the end" + (f" (best {best} during training)"
                                                                    if best != final else "")
        if final >= modes_total:
            return _finding(name, False, head, remedy)
        return _judge_shortfall(name, cov, head, "coverage", remedy)
    div = _array(diversity_ratio)
    if len(div):
        final, best = div[-1], div.max()
        head = f"sample diversity {final:.2f}× the data's at the end (best {best:.2f}×)"
        if final >= DIVERSITY_FLOOR and final >= DIVERSITY_DROP * best:
            return _finding(name, False, head, remedy)
        return _judge_shortfall(name, div, head, "diversity", remedy)
    return _finding(name, False, "no coverage or diversity signal recorded", remedy)


def seconds_per_image(resolutions: dict | None) -> dict[int, float]:
    """{resolution: seconds per image} from {resolution: (seconds, images)} (resolutions without images dropped)."""
    return {int(r): s / n for r, (s, n) in sorted((resolutions or {}).items()) if n > 0 and s > 0}


def pixel_exponent(per_image: dict[int, float]) -> float | None:
    r"""β of t ∝ pixels^β: least-squares slope of log(s/image) on log(r²) over the resolutions r.

    β = 1: the time per image grows as the pixel count does; β > 1: faster than it warrants.
    None with fewer than two resolutions."""
    if len(per_image) < 2:
        return None
    x = np.log(np.array(list(per_image), dtype=np.float64) ** 2)
    y = np.log(np.array(list(per_image.values()), dtype=np.float64))
    x = x - x.mean()
    return float(x @ (y - y.mean()) / (x @ x))


def detect_slow_training(data_seconds: float, discriminator_seconds: float, generator_seconds: float,
                         samples: int, n_critic: int = 1, resolutions: dict | None = None,
                         full_resolution: int | None = None, progressive: bool = False) -> dict:
    r"""Slow training of high-resolution models: seconds per image at each resolution, and its growth.

    ``resolutions`` maps a resolution r (image height) to (seconds, images) trained or probed at r;
    t_r = seconds/images. The growth exponent β (:func:`pixel_exponent`, t_r ∝ (r²)^β) tells
    whether the time per image grows faster than the pixel count warrants. Detected when the
    run's full resolution is at least ``PROGRESSIVE_MIN`` (32) and β > ``PIXEL_EXPONENT`` (1):
    for a run that is not progressive the remedy is progressive growing (most images then cost
    a fraction of the full resolution's time) with ``channels_last`` and ``--precision
    bf16-mixed``; for a progressive one, the last two. The evidence also gives the throughput
    and the shares of time in data/loop, discriminator and generator.
    """
    name = "slow_training"
    total = data_seconds + discriminator_seconds + generator_seconds
    if total <= 0 or samples <= 0:
        return _finding(name, False, "no timing recorded", "")
    share = {k: v / total for k, v in (("data/loop", data_seconds), ("discriminator", discriminator_seconds),
                                        ("generator", generator_seconds))}
    evidence = f"{samples / total:,.0f} samples/s; time: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in share.items())
    per_image = seconds_per_image(resolutions)
    if per_image:
        evidence += "; s/image at " + ", ".join(f"{r}×{r} {t:.3g}" for r, t in per_image.items())
    beta = pixel_exponent(per_image)
    tools = "channels_last=true and --precision bf16-mixed (on GPUs with bfloat16)"
    if beta is None:
        return _finding(name, False, evidence + "; growth with resolution not measured (one resolution)",
                        ("progressive=true for images of 32×32 or more; " if not progressive else "") + tools)
    evidence += f"; time per image ∝ pixels^{beta:.2f}"
    high = (full_resolution or max(per_image)) >= PROGRESSIVE_MIN
    detected = high and beta > PIXEL_EXPONENT
    if progressive:
        return _finding(name, detected, evidence + " (progressive growing on)", tools)
    remedy = ("progressive growing (progressive=true, progressive_stages=epochs per resolution): most images are "
              "then trained at a fraction of the full resolution's cost; " + tools)
    return _finding(name, detected, evidence, remedy)


def diagnose(signals: dict, modes_covered=None, modes_total=None, diversity_ratio=None,
             timing: dict | None = None, n_critic: int = 1, g_grad_peak: float | None = None,
             resolutions: dict | None = None, full_resolution: int | None = None,
             progressive: bool = False) -> list[dict]:
    """All four findings, in the order of the seed (see :data:`NAMES`)."""
    osc_keys = [k for k in ("fake_logit", "real_logit", "discriminator_loss", "generator_loss", "generator_output") if k in signals]
    timing = timing or {}
    return [
        detect_vanishing_gradients(signals.get("generator_grad_norm"), signals.get("d_win"), g_grad_peak),
        detect_oscillation({k: signals[k] for k in osc_keys}),
        detect_mode_collapse(modes_covered, modes_total, diversity_ratio),
        detect_slow_training(timing.get("data", 0.0), timing.get("discriminator", 0.0),
                             timing.get("generator", 0.0), timing.get("samples", 0), n_critic,
                             resolutions, full_resolution, progressive),
    ]
