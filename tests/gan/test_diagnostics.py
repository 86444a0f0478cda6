"""Each detector fires on a run built to show its problem and stays quiet on a healthy one."""

import math
import re
import time

import numpy as np
import torch
from scipy.signal import lfilter

from latentzoo.gan import diagnostics
from latentzoo.gan.dirac import dirac_gan


def by_name(findings):
    return {f["name"]: f for f in findings}


def test_oscillation_dirac_gan_circles_without_regularisation_and_converges_with_r1():
    circling = dirac_gan("minimax", steps=1500, lr_d=0.1, lr_g=0.1, r1=0.0, theta0=1.0)
    damped = dirac_gan("minimax", steps=1500, lr_d=0.1, lr_g=0.1, r1=1.0, theta0=1.0)
    # the analysis: without R1 θ keeps circling around 0 (amplitude ≈ its start); with R1 it converges
    assert max(abs(t) for t in circling["theta"][-200:]) > 0.5
    assert max(abs(t) for t in damped["theta"][-200:]) < 1e-6
    keys = ("generator_output", "fake_logit", "discriminator_loss")
    bad = diagnostics.detect_oscillation({k: circling[k] for k in keys})
    good = diagnostics.detect_oscillation({k: damped[k] for k in keys})
    assert bad["detected"] and "periodic swings" in bad["evidence"] and "r1" in bad["remedy"]
    assert not good["detected"]


def test_oscillation_stays_quiet_on_stationary_noise():
    noise = torch.randn(2000, generator=torch.Generator().manual_seed(0)).tolist()
    assert not diagnostics.detect_oscillation({"discriminator_loss": noise})["detected"]


def test_oscillation_stays_quiet_on_red_noise_and_random_walks_that_fooled_the_old_detector():
    # the old detector fired on 14 of 30 AR(1) ρ = 0.99 series and 7 of 50 random walks (issue 15);
    # its rule is re-applied to the same series to show they are the hard cases; the new test allows
    # FAMILY_ALPHA = 2% per run (one signal here), the target is ≤ 5%: at most 4 of these 80
    rng = np.random.default_rng(3)
    red = lfilter([1.0], [1.0, -0.99], 0.14 * rng.standard_normal((30, 2000)), axis=-1)
    walks = np.cumsum(rng.standard_normal((50, 2000)), axis=-1)
    old = sum(_old_rule(x) for x in red) + sum(_old_rule(x) for x in walks)
    new = sum(diagnostics.detect_oscillation({"discriminator_loss": x})["detected"] for x in [*red, *walks])
    assert old >= 10 and new <= 4


def _old_rule(x) -> bool:
    """The detector before issue 15: ≥ 30% of the detrended late half's power at one frequency
    (± a neighbour) with ≥ 3 cycles, late-quarter RMS ≥ 50% of the quarter before."""
    late = np.asarray(x)[len(x) // 2:]
    t = np.arange(len(late))
    late = late - np.polyval(np.polyfit(t, late, 1), t)
    power = np.abs(np.fft.rfft(late)) ** 2
    power[0] = 0.0
    k = int(np.argmax(power))
    share = power[max(k - 1, 1):k + 2].sum() / power.sum()
    q = len(late) // 2
    return share >= 0.3 and k >= 3 and np.sqrt(np.mean(late[q:] ** 2)) >= 0.5 * np.sqrt(np.mean(late[:q] ** 2))


def test_oscillation_test_finds_the_period_and_sees_a_dying_swing():
    t = np.arange(1024)
    noise = np.random.default_rng(4).standard_normal(1024)
    steady = diagnostics.oscillation_test(np.sin(2 * np.pi * t / 50) + noise)
    dying = diagnostics.oscillation_test(np.exp(-t / 200) * 5 * np.sin(2 * np.pi * t / 50) + 0.1 * noise)
    assert steady["p"] < 1e-10 and abs(steady["period"] - 50) < 1 and steady["peak"]
    assert 0.7 < steady["persistence"] < 1.4
    # a converging spiral: significant, but its amplitude in the second half is e^{-512/200}·… of the first
    assert dying["p"] < 1e-10 and dying["persistence"] < 0.2
    assert not diagnostics.detect_oscillation({"generator_loss": np.exp(-t / 200) * 5 * np.sin(2 * np.pi * t / 50)
                                               + 0.1 * noise})["detected"]
    assert diagnostics.oscillation_test(np.ones(1024)) is None           # nothing to test
    assert diagnostics.oscillation_test(noise[:40]) is None              # too short


def test_oscillation_holm_correction_counts_every_tested_signal():
    # a white-noise series whose p-value lies between α/4 and α: alone it is reported, among four not
    rng = np.random.default_rng(5)
    alpha = diagnostics.FAMILY_ALPHA
    for _ in range(2000):
        x = rng.standard_normal(512)
        r = diagnostics.oscillation_test(x)
        if alpha / 4 < r["p"] <= alpha and r["peak"] and r["persistence"] >= diagnostics.PERSIST_RATIO:
            break
    else:
        raise AssertionError("no white-noise series with p in (α/4, α] found")
    others = {f"quiet{i}": rng.standard_normal(512) for i in range(3)}
    assert all(diagnostics.oscillation_test(v)["p"] > alpha for v in others.values())
    assert diagnostics.detect_oscillation({"discriminator_loss": x})["detected"]
    family = diagnostics.detect_oscillation({"discriminator_loss": x, **others})
    assert not family["detected"] and "over 4 signals" in family["evidence"]


def test_vanishing_gradients_minimax_against_a_winning_discriminator():
    # data at 0, G at θ = 4, a fast discriminator: ψθ → −∞ and the minimax gradient σ(ψθ)ψ → 0
    setup = {"steps": 1500, "lr_d": 1.0, "lr_g": 0.01, "theta0": 4.0, "n_critic": 5}
    saturated = dirac_gan("minimax", **setup)
    healthy = dirac_gan("nonsaturating", **setup)
    assert abs(saturated["theta"][-1] - 4.0) < 0.01                # the generator is stuck
    assert abs(healthy["theta"][-1]) < 0.5                         # the non-saturating one reaches the data
    bad = diagnostics.detect_vanishing_gradients(saturated["generator_grad_norm"], saturated["d_win"])
    good = diagnostics.detect_vanishing_gradients(healthy["generator_grad_norm"], healthy["d_win"])
    assert bad["detected"] and "nonsaturating" in bad["remedy"]
    assert not good["detected"]


def test_vanishing_gradients_not_confused_with_convergence():
    # with R1 the generator's gradient also goes to 0, but because the game converged (D at ½)
    converged = dirac_gan("minimax", steps=1500, lr_d=0.1, lr_g=0.1, r1=1.0)
    assert not diagnostics.detect_vanishing_gradients(converged["generator_grad_norm"], converged["d_win"])["detected"]


def test_mode_collapse_from_coverage_and_from_diversity():
    modes = torch.tensor([[float(i), 0.0] for i in range(8)])
    from latentzoo.gan.metrics import mode_metrics, sample_diversity

    full = modes.repeat(50, 1)
    collapsed = modes[:3].repeat(50, 1)
    cov_full = [mode_metrics(full, modes, 0.01)["modes_covered"]]
    cov_collapsed = [8, 6, mode_metrics(collapsed, modes, 0.01)["modes_covered"]]
    bad = diagnostics.detect_mode_collapse(cov_collapsed, 8)
    assert bad["detected"] and "3/8" in bad["evidence"] and "best 8" in bad["evidence"]
    assert not diagnostics.detect_mode_collapse(cov_full, 8)["detected"]
    # images/vectors: diversity of samples over the data's, per epoch
    real = torch.randn(200, 16, generator=torch.Generator().manual_seed(0))
    ratio_ok = sample_diversity(real[100:]) / sample_diversity(real[:100])
    ratio_collapsed = sample_diversity(real[:1] + 0.05 * real[100:]) / sample_diversity(real[:100])
    assert diagnostics.detect_mode_collapse(diversity_ratio=[0.9, ratio_collapsed])["detected"]
    assert not diagnostics.detect_mode_collapse(diversity_ratio=[0.8, ratio_ok])["detected"]


def test_mode_collapse_only_when_coverage_stopped_rising():
    # still gaining modes: under-trained, not collapsed (detected=False, and it says so)
    rising = diagnostics.detect_mode_collapse([1, 2, 2, 3, 4, 4, 5, 6, 6, 7], 8)
    assert not rising["detected"]
    assert "under-trained" in rising["evidence"] and "still rising" in rising["evidence"]
    assert rising["remedy"].startswith("train longer")
    # the same shortfall after a plateau over the second half: collapse
    plateau = diagnostics.detect_mode_collapse([1, 3, 5, 6, 6, 6, 5, 6, 6, 6], 8)
    assert plateau["detected"] and "stopped rising" in plateau["evidence"] and "6/8" in plateau["evidence"]
    assert "pack=" in plateau["remedy"]
    # all modes covered: nothing to judge
    assert not diagnostics.detect_mode_collapse([1, 3, 5, 8], 8)["detected"]
    # one epoch: cannot tell collapse from under-training
    single = diagnostics.detect_mode_collapse([5], 8)
    assert not single["detected"] and "too few epochs" in single["evidence"]
    # diversity: low and still rising is under-training; low and flat is collapse
    assert not diagnostics.detect_mode_collapse(diversity_ratio=[0.1, 0.15, 0.2, 0.25, 0.3, 0.35])["detected"]
    assert diagnostics.detect_mode_collapse(diversity_ratio=[0.1, 0.3, 0.31, 0.29, 0.3, 0.3])["detected"]


def test_rising_trend_is_the_one_sided_mann_kendall_test_on_the_second_half():
    # second half [3, 4, 5, 6]: S = 6 concordant pairs of 6, τ = 1, exact p = 1/4! = 1/24
    trend = diagnostics.rising_trend([9, 9, 9, 9, 3, 4, 5, 6])
    assert trend["epochs"] == 4 and trend["tau"] == 1.0 and abs(trend["p"] - 1 / 24) < 1e-12 and trend["rising"]
    # slow loop from the definition: S = Σ_{i<j} sign(c_j − c_i) over the last ⌈E/2⌉ values
    c = np.array([2, 5, 3, 3, 4, 6, 5, 7, 7, 6])
    w = c[-5:]
    s = sum(np.sign(w[j] - w[i]) for i in range(5) for j in range(i + 1, 5))
    ties = sum(w[i] == w[j] for i in range(5) for j in range(i + 1, 5))
    tau = s / np.sqrt(10 * (10 - ties))
    assert abs(diagnostics.rising_trend(c)["tau"] - tau) < 1e-12
    assert not diagnostics.rising_trend([5, 6, 6, 6, 6, 6])["rising"]
    assert diagnostics.rising_trend([1, 2, 3]) is None


def _timed_gan_steps(data_delay: float, steps: int = 12) -> dict:
    """Real GAN steps through the engine, which times every phase; ``data_delay`` mimics a slow input pipeline."""
    from unittest import mock

    from latentzoo.data.batching import TensorBatches
    from latentzoo.data.builtin import ring8
    from latentzoo.engine import train_model

    data = ring8(0)
    data.x_train = data.x_train[:steps * 512]          # one epoch of ``steps`` steps
    original = TensorBatches.batches

    def slow_batches(self, start=0):
        for item in original(self, start):
            if data_delay:
                time.sleep(data_delay)                    # fetching the batch
            yield item

    # a step heavy enough (batch 512, width 256) that scheduler noise on a busy machine is small beside it
    with mock.patch.object(TensorBatches, "batches", slow_batches):
        model = train_model("gan", data, None, overrides={"hidden": 256, "batch_size": 512, "epochs": 1},
                            progress=False)
    record = model.history[-1]
    return {"data": record["time_data"], "discriminator": record["time_discriminator"],
            "generator": record["time_generator"], "samples": record["timed_samples"]}


def _share(evidence: str, what: str) -> float:
    return float(re.search(rf"{what} (\d+)%", evidence).group(1))


def test_slow_training_reports_where_the_time_goes_but_a_slow_input_pipeline_is_not_the_seeds_problem():
    fast = _timed_gan_steps(0.0)
    per_step = (fast["discriminator"] + fast["generator"]) / 12
    # the batch takes six times the step's compute (a margin: on a busy machine the slow run's own steps
    # can take twice as long as the fast run's, which must still leave the data its majority)
    slow = _timed_gan_steps(6 * per_step)
    bad = diagnostics.detect_slow_training(slow["data"], slow["discriminator"], slow["generator"], slow["samples"])
    good = diagnostics.detect_slow_training(fast["data"], fast["discriminator"], fast["generator"], fast["samples"])
    assert _share(bad["evidence"], "data/loop") >= 50 > _share(good["evidence"], "data/loop")
    assert not bad["detected"] and not good["detected"]           # one resolution: no growth to judge


def _timing(beta: float, resolutions=(8, 16, 32), images: int = 1000) -> dict:
    """{r: (seconds, images)} with seconds per image 1e-4·(r²/64)^β."""
    return {r: (images * 1e-4 * (r * r / 64) ** beta, images) for r in resolutions}


def test_pixel_exponent_is_the_log_log_slope():
    for beta in (0.6, 1.0, 1.7):
        per_image = diagnostics.seconds_per_image(_timing(beta))
        assert abs(diagnostics.pixel_exponent(per_image) - beta) < 1e-9
    # slow loop from the formula: β = Σ (x − x̄)(y − ȳ) / Σ (x − x̄)², x = log r², y = log t_r
    t = {4: 2.0, 8: 3.0, 32: 50.0}
    xs, ys = [math.log(r * r) for r in t], [math.log(v) for v in t.values()]
    mx, my = sum(xs) / 3, sum(ys) / 3
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    assert abs(diagnostics.pixel_exponent(t) - slope) < 1e-12
    assert diagnostics.pixel_exponent({32: 1.0}) is None


def test_slow_training_recommends_progressive_growing_when_time_grows_faster_than_pixels():
    fast_growth = diagnostics.detect_slow_training(0.1, 1.0, 1.0, 1000, resolutions=_timing(1.5), full_resolution=32)
    assert fast_growth["detected"] and "progressive=true" in fast_growth["remedy"]
    assert "bf16-mixed" in fast_growth["remedy"] and "channels_last" in fast_growth["remedy"]
    assert "pixels^1.50" in fast_growth["evidence"] and "32×32 0.0064" in fast_growth["evidence"]  # 1e-4·16^1.5
    linear = diagnostics.detect_slow_training(0.1, 1.0, 1.0, 1000, resolutions=_timing(0.9), full_resolution=32)
    assert not linear["detected"] and "pixels^0.90" in linear["evidence"]
    small = diagnostics.detect_slow_training(0.1, 1.0, 1.0, 1000, resolutions=_timing(1.5, (4, 8, 16)),
                                             full_resolution=16)
    assert not small["detected"]                                  # below 32×32: not a high-resolution model
    grown = diagnostics.detect_slow_training(0.1, 1.0, 1.0, 1000, resolutions=_timing(1.5), full_resolution=32,
                                             progressive=True)
    assert grown["detected"] and "progressive=true" not in grown["remedy"] and "bf16" in grown["remedy"]
    one = diagnostics.detect_slow_training(0.1, 1.0, 1.0, 1000, resolutions={32: (2.0, 1000)}, full_resolution=32)
    assert not one["detected"] and "not measured" in one["evidence"] and "32×32 0.002" in one["evidence"]


def test_gan_diagnose_reads_seconds_per_image_per_resolution_from_the_history():
    import torch.nn.functional as F

    from latentzoo.data import Dataset
    from latentzoo.data.builtin import digits
    from latentzoo.gan.model import GAN

    d = digits(0)
    x = F.interpolate(d.x_train[:64], size=32)
    data = Dataset("d32", "image", x, x[:16])
    grown = GAN(GAN.Config(**{**GAN.recipe(data), "progressive": True, "hidden": 8}), data)
    history = [{"resolution": r, "time_data": 0.0, "time_discriminator": s, "time_generator": s, "timed_samples": 100}
               for r, s in ((4, 0.01), (8, 0.04), (8, 0.04), (16, 0.16), (32, 1.0))]
    finding = grown.diagnose(history)[3]
    # t_r = 2s/100 per epoch: 4: 2e-4, 8: 8e-4, 16: 3.2e-3, 32: 0.02 → above r² from 16 to 32
    assert "4×4 0.0002, 8×8 0.0008, 16×16 0.0032, 32×32 0.02" in finding["evidence"]
    assert finding["detected"] and "progressive growing on" in finding["evidence"]
    plain = GAN(GAN.Config(**{**GAN.recipe(data), "hidden": 8}), data)
    probe = {"resolution": 32, "time_data": 0.0, "time_discriminator": 1.0, "time_generator": 1.0,
             "timed_samples": 100, "probe_seconds_per_image_8": 1e-4, "probe_seconds_per_image_16": 4e-4,
             "probe_seconds_per_image_32": 1.6e-3}
    finding = plain.diagnose([probe])[3]
    assert "8×8 0.0001, 16×16 0.0004, 32×32 0.0016" in finding["evidence"] and "pixels^1.00" in finding["evidence"]
    assert not finding["detected"] and "progressive=true" in finding["remedy"]
    probe.update(probe_seconds_per_image_32=6.4e-3)            # 16× the pixels of 8×8, 64× the time: β = 1.5
    assert plain.diagnose([probe])[3]["detected"]


def test_diagnose_returns_the_four_findings_in_order():
    s = dirac_gan("nonsaturating", steps=300)
    findings = diagnostics.diagnose(s, [8], 8, None, {"data": 0.1, "discriminator": 1, "generator": 1, "samples": 10})
    assert [f["name"] for f in findings] == list(diagnostics.NAMES)
    assert all(set(f) == {"name", "detected", "evidence", "remedy"} for f in findings)
