"""Progressive growing: continuous fade-in, the schedule, resume mid-stage, and a short 32×32 run."""

import pytest
import torch
import torch.nn.functional as F

from latentzoo.data import Dataset
from latentzoo.data.builtin import digits
from latentzoo.engine import train_model
from latentzoo.gan import progressive
from latentzoo.gan.model import GAN
from latentzoo.gan.progressive import ProgressiveDiscriminator, ProgressiveGenerator, schedule


def _digits32(n_train=64, n_test=64):
    d = digits(0)
    up = lambda x: F.interpolate(x, size=32, mode="bilinear", align_corners=False).clamp(0, 1)  # noqa: E731
    return Dataset("digits32", "image", up(d.x_train[:n_train]), up(d.x_test[:n_test]))


def test_levels_and_resolutions():
    assert progressive.levels_for((3, 32, 32)) == 3 and progressive.levels_for((1, 8, 8)) == 1
    assert progressive.levels_for((1, 24, 24)) == 2        # 24 → 12 → 6 (24/8 = 3 < 4)
    g = ProgressiveGenerator(4, (1, 32, 32), hidden=8)
    assert [g.resolution(level) for level in range(4)] == [4, 8, 16, 32]


def test_generator_fade_in_is_continuous_and_ends_at_the_new_layer():
    torch.manual_seed(0)
    g = ProgressiveGenerator(6, (2, 32, 32), hidden=8)
    z = torch.randn(5, 6)
    for level in (1, 2, 3):
        g.set_progress(level - 1, 1.0)
        before = g(z)
        g.set_progress(level, 0.0)
        torch.testing.assert_close(g(z), before)             # α = 0: the old path, upsampled
        g.set_progress(level, 1.0)
        h = g.base(g.project(z).view(-1, *g.start))
        for k in range(1, level + 1):
            h = g.blocks[k](h)
        new = torch.sigmoid(g.to_rgb[level](h))
        expected = F.interpolate(new, scale_factor=2 ** (3 - level), mode="nearest") if level < 3 else new
        torch.testing.assert_close(g(z), expected)           # α = 1: only the new layer
        g.set_progress(level, 0.25)
        torch.testing.assert_close(g(z), 0.75 * before + 0.25 * expected)   # (1 − α)·old + α·new
    assert g(z).shape == (5, 2, 32, 32)


def test_discriminator_fade_in_is_continuous_and_ends_at_the_new_layer():
    torch.manual_seed(0)
    d = ProgressiveDiscriminator((2, 32, 32), hidden=8)
    x = torch.rand(5, 2, 32, 32)
    for level in (1, 2, 3):
        d.set_progress(level - 1, 1.0)
        before = d(x)
        d.set_progress(level, 0.0)
        torch.testing.assert_close(d(x), before)
        d.set_progress(level, 1.0)
        h = d.from_rgb[level](F.avg_pool2d(x, 2 ** (3 - level)) if level < 3 else x)
        for k in range(level, 0, -1):
            h = d.blocks[k](h)
        torch.testing.assert_close(d(x), d.base(h))
    # in between, the features are mixed: (1 − α)·from_rgb_0(pool(x)) + α·block_1(from_rgb_1(x))
    d.set_progress(1, 0.0)
    h0 = d.from_rgb[0](F.avg_pool2d(x, 8))
    h1 = d.blocks[1](d.from_rgb[1](F.avg_pool2d(x, 4)))
    d.set_progress(1, 0.3)
    torch.testing.assert_close(d(x), d.base(0.7 * h0 + 0.3 * h1))


def test_schedule_grows_on_time_and_fades_over_half_a_stage():
    # 10 steps per epoch, 2 epochs per stage, 3 levels: stage s covers steps [20 s, 20 s + 20)
    got = [schedule(step, 10, 2, 3) for step in (0, 19, 20, 25, 30, 39, 40, 50, 60, 75, 1000)]
    assert got == [(0, 1.0), (0, 1.0), (1, 0.0), (1, 0.5), (1, 1.0), (1, 1.0), (2, 0.0), (2, 1.0), (3, 0.0),
                   (3, 1.0), (3, 1.0)]
    assert schedule(5, 0, 2, 3) == (0, 1.0)                  # steps per epoch not yet known
    assert schedule(5, 10, 0, 3) == (3, 1.0)                 # stages=0: full resolution, no growing


def _model(data, **options):
    config = {**GAN.recipe(data), "hidden": 8, "latent_dim": 8, "batch_size": 32, "progressive": True,
              "progressive_stages": 1, "ema": 0.9, **options}
    return GAN(GAN.Config(**config), data)


def test_resume_mid_stage_keeps_resolution_and_alpha():
    data = _digits32()
    model = _model(data, progressive_stages=2)
    model.steps_per_epoch.fill_(10)
    model.grow_steps.fill_(25)                             # stage 1, a quarter in: α = 0.5
    model._grow()
    assert (int(model.generator.level), float(model.generator.alpha)) == (1, 0.5)
    assert (int(model.discriminator.net.level), float(model.generator_ema.alpha)) == (1, 0.5)
    torch.manual_seed(1)
    fresh = _model(data, progressive_stages=2)
    assert int(fresh.generator.level) == 0
    fresh.load_state_dict(model.state_dict())
    for net in (fresh.generator, fresh.generator_ema, fresh.discriminator.net):
        assert (int(net.level), float(net.alpha)) == (1, 0.5)
    z = torch.randn(3, 8)
    torch.testing.assert_close(fresh.generator(z), model.generator(z))
    fresh.after_optimizer_step("discriminator")             # the clock goes on from the checkpoint
    assert int(fresh.grow_steps) == 26 and float(fresh.generator.alpha) == pytest.approx(0.6)


def test_short_32x32_run_grows_on_schedule_and_lowers_the_frechet_distance():
    data = _digits32(128, 128)
    options = {"epochs": 5, "lr": 2e-3, "ema": 0.0, "r1": 1.0, "feature_extractor": "latentzoo.gan.progressive:pooled_pixels"}
    torch.manual_seed(0)
    untrained = _model(data, **options).eval()
    before = untrained.evaluate(data, [])["frechet_distance"]
    model = train_model("gan", data, None, overrides={**GAN.recipe(data), "hidden": 8, "latent_dim": 8,
                                                       "batch_size": 32, "progressive": True,
                                                       "progressive_stages": 1, **options},
                        progress=False)
    assert [h["resolution"] for h in model.history] == [4, 8, 16, 32, 32]
    assert int(model.generator.level) == 3 and float(model.generator.alpha) == 1.0
    assert model.metrics["frechet_distance"] < 0.8 * before
    slow = model.metrics["diagnosis"][3]
    assert "4×4" in slow["evidence"] and "32×32" in slow["evidence"] and "pixels^" in slow["evidence"]


def test_progressive_needs_convolutional_image_networks():
    from latentzoo.data.builtin import ring8
    from latentzoo.errors import UserError

    data = ring8(0)
    with pytest.raises(UserError, match="progressive=true"):
        GAN.check(GAN.Config(**{**GAN.recipe(data), "progressive": True}), data)
    images = _digits32(8, 8)
    with pytest.raises(UserError, match="conv=true"):
        GAN.check(GAN.Config(**{**GAN.recipe(images), "progressive": True, "conv": False}), images)


def test_channels_last_changes_the_memory_format_not_the_function():
    data = _digits32(8, 8)
    torch.manual_seed(0)
    plain = _model(data, progressive=False)
    torch.manual_seed(0)
    fast = _model(data, progressive=False, channels_last=True)
    conv = fast.generator.net.net[0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain.generator.net.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    z, x = torch.randn(4, 8), data.x_train[:4]
    plain.eval(), fast.eval()
    torch.testing.assert_close(fast.generator(z), plain.generator(z))
    torch.testing.assert_close(fast._d(x), plain._d(x))
