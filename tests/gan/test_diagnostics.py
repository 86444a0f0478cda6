"""Each detector fires on a run built to show its problem and stays quiet on a healthy one."""

import time

import torch

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
    keys = ("generator_output", "fake_logit", "d_loss")
    bad = diagnostics.detect_oscillation({k: circling[k] for k in keys})
    good = diagnostics.detect_oscillation({k: damped[k] for k in keys})
    assert bad["detected"] and "periodic swings" in bad["evidence"] and "r1" in bad["remedy"]
    assert not good["detected"]


def test_oscillation_stays_quiet_on_stationary_noise():
    noise = torch.randn(2000, generator=torch.Generator().manual_seed(0)).tolist()
    assert not diagnostics.detect_oscillation({"d_loss": noise})["detected"]


def test_vanishing_gradients_minimax_against_a_winning_discriminator():
    # data at 0, G at θ = 4, a fast discriminator: ψθ → −∞ and the minimax gradient σ(ψθ)ψ → 0
    setup = {"steps": 1500, "lr_d": 1.0, "lr_g": 0.01, "theta0": 4.0, "n_critic": 5}
    saturated = dirac_gan("minimax", **setup)
    healthy = dirac_gan("nonsaturating", **setup)
    assert abs(saturated["theta"][-1] - 4.0) < 0.01                # the generator is stuck
    assert abs(healthy["theta"][-1]) < 0.5                         # the non-saturating one reaches the data
    bad = diagnostics.detect_vanishing_gradients(saturated["g_grad_norm"], saturated["d_win"])
    good = diagnostics.detect_vanishing_gradients(healthy["g_grad_norm"], healthy["d_win"])
    assert bad["detected"] and "nonsaturating" in bad["remedy"]
    assert not good["detected"]


def test_vanishing_gradients_not_confused_with_convergence():
    # with R1 the generator's gradient also goes to 0, but because the game converged (D at ½)
    converged = dirac_gan("minimax", steps=1500, lr_d=0.1, lr_g=0.1, r1=1.0)
    assert not diagnostics.detect_vanishing_gradients(converged["g_grad_norm"], converged["d_win"])["detected"]


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


def test_slow_training_when_the_input_pipeline_dominates():
    fast = _timed_gan_steps(0.0)
    per_step = (fast["discriminator"] + fast["generator"]) / 12
    slow = _timed_gan_steps(2 * per_step)                         # the batch takes twice the step's compute
    bad = diagnostics.detect_slow_training(slow["data"], slow["discriminator"], slow["generator"], slow["samples"])
    good = diagnostics.detect_slow_training(fast["data"], fast["discriminator"], fast["generator"], fast["samples"])
    assert bad["detected"] and "data/loop" in bad["evidence"] and "samples/s" in bad["evidence"]
    assert not good["detected"]


def test_slow_training_when_the_critic_dominates():
    bad = diagnostics.detect_slow_training(0.1, 8.0, 1.0, 1000, n_critic=5)
    assert bad["detected"] and "n_critic=5" in bad["remedy"]
    assert not diagnostics.detect_slow_training(0.1, 2.0, 1.0, 1000)["detected"]


def test_diagnose_returns_the_four_findings_in_order():
    s = dirac_gan("nonsaturating", steps=300)
    findings = diagnostics.diagnose(s, [8], 8, None, {"data": 0.1, "discriminator": 1, "generator": 1, "samples": 10})
    assert [f["name"] for f in findings] == list(diagnostics.NAMES)
    assert all(set(f) == {"name", "detected", "evidence", "remedy"} for f in findings)
