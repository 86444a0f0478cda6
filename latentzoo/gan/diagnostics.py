r"""The seed's four GAN training problems, detected from cheap signals collected while training.

Each detector is a pure function of recorded signals and returns one finding::

    {"name": ..., "detected": bool, "evidence": "what was measured", "remedy": "what to change"}

Signals (recorded per generator update by :class:`latentzoo.gan.model.GAN`, or by
:func:`latentzoo.gan.dirac.dirac_gan`):

* ``g_grad_norm`` ‖∇_{w̃} L_G‖₂, the generator's gradient norm;
* ``d_win`` the discriminator's soft ranking accuracy, mean over pairs of σ(D(y_i) − D(G(η_j)))
  (½ when it cannot tell real from fake, → 1 when it separates them confidently);
* ``d_loss``, ``g_loss``, ``real_logit``, ``fake_logit`` the players' losses and outputs;
* per epoch: ``modes_covered`` (mixtures) or ``diversity_ratio`` (mean pairwise distance of
  samples / the same for real data);
* time spent in the discriminator's step, the generator's step and outside both (data, loop).

Thresholds are constants of this module, stated beside each detector.
"""

from __future__ import annotations

import math

import numpy as np

NAMES = ("vanishing_gradients", "oscillation", "mode_collapse", "slow_training")

# vanishing gradients: late generator gradient below this fraction of its peak while D wins
VANISH_RATIO = 0.05
D_WINS = 0.9
# oscillation: the dominant frequency holds this share of the late signal's power, the late
# swings keep this share of their amplitude, and the window holds this many cycles at least
PERIODIC_POWER = 0.3
PERSIST_RATIO = 0.5
MIN_CYCLES = 3
# mode collapse: coverage below total, or sample diversity below this share of the data's
DIVERSITY_FLOOR = 0.5
DIVERSITY_DROP = 0.7
# slow training: share of time outside the two players, and discriminator/generator time ratio
OVERHEAD_SHARE = 0.5
D_OVER_G = 5.0


def _finding(name: str, detected: bool, evidence: str, remedy: str) -> dict:
    return {"name": name, "detected": bool(detected), "evidence": evidence, "remedy": remedy}


def _array(x) -> np.ndarray:
    a = np.asarray([float(v) for v in x], dtype=np.float64) if x is not None else np.zeros(0)
    return a[np.isfinite(a)]


def _smooth(a: np.ndarray, parts: int = 20) -> np.ndarray:
    """Means of ``parts`` consecutive blocks (fewer when the series is short)."""
    parts = max(1, min(parts, len(a)))
    return np.array([b.mean() for b in np.array_split(a, parts)])


def detect_vanishing_gradients(g_grad_norm, d_win, peak: float | None = None) -> dict:
    r"""Vanishing generator gradients: ‖∇L_G‖ collapses while the discriminator wins.

    Detected when the mean generator gradient norm over the last tenth of training is below
    ``VANISH_RATIO`` (5%) of its peak (block means over hundredths) and the discriminator's
    soft ranking accuracy over that last tenth is above ``D_WINS`` (0.9). A converging game
    also has shrinking gradients, but there the discriminator cannot separate the players (½).
    ``peak`` adds a peak measured elsewhere (e.g. per-epoch means over a run longer than the series).
    """
    g, w = _array(g_grad_norm), _array(d_win)
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


def periodicity(series) -> dict:
    """Spectral summary of the second half of a series: dominant cycles, its power share, persistence.

    The late half is linearly detrended; ``power_share`` is the share of its (non-constant)
    power in the strongest frequency and its two neighbours; ``cycles`` that frequency as
    whole cycles in the window; ``persistence`` the RMS of the last quarter over the RMS of the
    quarter before it (1 for sustained swings, → 0 when they die out).
    """
    a = _array(series)
    if len(a) < 32:
        return {"power_share": 0.0, "cycles": 0, "persistence": 0.0, "amplitude": 0.0}
    late = a[len(a) // 2:]
    t = np.arange(len(late))
    late = late - np.polyval(np.polyfit(t, late, 1), t)
    power = np.abs(np.fft.rfft(late)) ** 2
    power[0] = 0.0
    total = power.sum()
    if total <= 0:
        return {"power_share": 0.0, "cycles": 0, "persistence": 0.0, "amplitude": 0.0}
    peak = int(np.argmax(power))
    share = power[max(peak - 1, 1):peak + 2].sum() / total
    quarter = len(late) // 2
    rms_a = np.sqrt(np.mean(late[:quarter] ** 2))
    rms_b = np.sqrt(np.mean(late[quarter:] ** 2))
    return {"power_share": float(share), "cycles": peak, "persistence": float(rms_b / rms_a) if rms_a > 0 else 0.0,
            "amplitude": float(rms_b)}


def detect_oscillation(series: dict) -> dict:
    r"""Oscillation / non-convergence: persistent periodic swings instead of decay.

    For each recorded signal (e.g. the generator's output, the logits, the losses) the late half
    is examined (:func:`periodicity`). Detected when one signal has a dominant frequency holding
    ≥ ``PERIODIC_POWER`` (30%) of its power, at least ``MIN_CYCLES`` (3) cycles in the window, and
    swings that persist (last-quarter RMS ≥ ``PERSIST_RATIO`` = 50% of the quarter before) with an
    amplitude above 10⁻⁶. Stationary noise around an equilibrium has no dominant frequency;
    a converging spiral loses its amplitude.
    """
    name = "oscillation"
    remedy = ("regularise the discriminator (r1=1 to 10, or gp=10), lower the learning rates or use TTUR "
              "(lr_d > lr_g), average the generator (ema=0.999)")
    found, notes = None, []
    for key, values in series.items():
        p = periodicity(values)
        periodic = (p["power_share"] >= PERIODIC_POWER and p["cycles"] >= MIN_CYCLES
                    and p["persistence"] >= PERSIST_RATIO and p["amplitude"] > 1e-6)
        notes.append(f"{key}: {100 * p['power_share']:.0f}% power at {p['cycles']} cycles, "
                     f"persistence {p['persistence']:.2f}")
        if periodic and found is None:
            found = key
    if not notes:
        return _finding(name, False, "no signal recorded", remedy)
    evidence = ("periodic swings in " + found + "; " if found else "no persistent periodic swing; ") + "; ".join(notes)
    return _finding(name, found is not None, evidence, remedy)


def detect_mode_collapse(modes_covered=None, modes_total: int | None = None, diversity_ratio=None) -> dict:
    r"""Mode collapse: missing modes on mixtures, or generated samples much less diverse than the data.

    ``modes_covered`` is the per-epoch (last = final) number of covered modes; detected when the
    final count is below ``modes_total``. ``diversity_ratio`` is the per-epoch mean pairwise
    distance of generated samples over that of real samples; detected when the final ratio is
    below ``DIVERSITY_FLOOR`` (0.5), or below ``DIVERSITY_DROP`` (70%) of its best value.
    """
    name = "mode_collapse"
    remedy = ("pack samples for the discriminator (pack=2..4, PacGAN), add r1 or gp, lower the learning "
              "rates, average the generator (ema); train longer if coverage is still rising")
    cov = _array(modes_covered)
    if len(cov) and modes_total:
        final, best = int(cov[-1]), int(cov.max())
        detected = final < modes_total
        trend = f" (best {best} during training)" if best != final else ""
        return _finding(name, detected, f"{final}/{modes_total} modes covered at the end{trend}", remedy)
    div = _array(diversity_ratio)
    if len(div):
        final, best = div[-1], div.max()
        detected = final < DIVERSITY_FLOOR or final < DIVERSITY_DROP * best
        return _finding(name, detected, f"sample diversity {final:.2f}× the data's at the end (best {best:.2f}×)",
                        remedy)
    return _finding(name, False, "no coverage or diversity signal recorded", remedy)


def detect_slow_training(data_seconds: float, discriminator_seconds: float, generator_seconds: float,
                         samples: int, n_critic: int = 1) -> dict:
    r"""Slow training: throughput, and where the time goes (data and loop, discriminator, generator).

    Detected when the time outside both players' steps (data, loop, logging) is at least
    ``OVERHEAD_SHARE`` (50%) of the total, or when the discriminator's steps take more than
    ``D_OVER_G`` (5×) the generator's.
    """
    name = "slow_training"
    total = data_seconds + discriminator_seconds + generator_seconds
    if total <= 0 or samples <= 0:
        return _finding(name, False, "no timing recorded", "")
    share = {k: v / total for k, v in (("data/loop", data_seconds), ("discriminator", discriminator_seconds),
                                        ("generator", generator_seconds))}
    throughput = samples / total
    d_over_g = discriminator_seconds / generator_seconds if generator_seconds > 0 else math.inf
    evidence = (f"{throughput:,.0f} samples/s; time: " +
                ", ".join(f"{k} {100 * v:.0f}%" for k, v in share.items()) + f"; D/G time {d_over_g:.1f}×")
    if share["data/loop"] >= OVERHEAD_SHARE:
        return _finding(name, True, evidence,
                        "the networks are idle most of the time: use larger batches, keep the data on the "
                        "device, and log less often")
    if d_over_g > D_OVER_G:
        return _finding(name, True, evidence,
                        f"the discriminator dominates (n_critic={n_critic}): use n_critic=1 with TTUR (lr_d > lr_g), "
                        "r1 instead of gp (no interpolates), or a smaller discriminator")
    return _finding(name, False, evidence, "mixed precision or more devices (--devices) if still too slow")


def diagnose(signals: dict, modes_covered=None, modes_total=None, diversity_ratio=None,
             timing: dict | None = None, n_critic: int = 1, g_grad_peak: float | None = None) -> list[dict]:
    """All four findings, in the order of the seed (see :data:`NAMES`)."""
    osc_keys = [k for k in ("fake_logit", "real_logit", "d_loss", "g_loss", "generator_output") if k in signals]
    timing = timing or {}
    return [
        detect_vanishing_gradients(signals.get("g_grad_norm"), signals.get("d_win"), g_grad_peak),
        detect_oscillation({k: signals[k] for k in osc_keys}),
        detect_mode_collapse(modes_covered, modes_total, diversity_ratio),
        detect_slow_training(timing.get("data", 0.0), timing.get("discriminator", 0.0),
                             timing.get("generator", 0.0), timing.get("samples", 0), n_critic),
    ]
