r"""The augmentation module T: shape, range and dtype kept; t and t′ differ; torch RNG only."""

import pytest
import torch

from latentzoo.simclr.augment import Augment, SignalAugment


def _smooth_images(n, c, side, g):
    coarse = torch.rand(n, c, 4, 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=True)


def _batches():
    r"""Structured examples (smooth images, random-walk signals), so that a view can be told
    apart from the other examples."""
    g = torch.Generator().manual_seed(0)
    return {
        "digits": ("image", _smooth_images(16, 1, 8, g)),
        "photos": ("image", _smooth_images(16, 3, 32, g)),
        "signal": ("signal", torch.randn(16, 40, generator=g).cumsum(1) * 2 + 1),
        "vector": ("vector", torch.randn(16, 10, generator=g)),
        "points": ("points", torch.randn(16, 2, generator=g)),
    }


@pytest.mark.parametrize("name", list(_batches()))
def test_views_keep_shape_range_dtype_and_differ(name):
    kind, x = _batches()[name]
    t = Augment.for_data(kind, tuple(x.shape[1:]))
    torch.manual_seed(1)
    a, b = t(x), t(x)
    for v in (a, b):
        assert v.shape == x.shape and v.dtype == x.dtype and torch.isfinite(v).all()
        if kind == "image":
            assert v.min() >= 0 and v.max() <= 1
        elif kind == "signal":
            assert v.min() >= x.min() and v.max() <= x.max()
        else:
            assert (v >= x.min(0).values).all() and (v <= x.max(0).values).all()
    # t and t′ are drawn independently for every example: (almost) every example's views differ
    differ = ((a - b).reshape(len(x), -1).abs().amax(1) > 1e-4).float().mean()
    assert differ >= 0.9
    # ... and the views still resemble their own example more than the other examples
    dist = torch.cdist(a.reshape(len(x), -1), x.reshape(len(x), -1))
    assert (dist.argmin(1) == torch.arange(len(x))).float().mean() >= 0.5
    # randomness from torch's global generator only: the same seed gives the same views
    torch.manual_seed(1)
    torch.testing.assert_close(t(x), a)


def test_signal_transforms_do_what_they_say():
    x = torch.arange(40.0).repeat(4, 1)                            # a ramp, easy to follow
    roll_only = SignalAugment(shift=0.25, scale=0.0, crop_min=1.0, noise=0.0, mask=0.0, shear=0.0)
    torch.manual_seed(0)
    y = roll_only(x)
    for row in y:                                                    # a pure circular shift of the ramp
        s = int(torch.nonzero(row == 0)[0]) if (row == 0).any() else 0
        assert torch.equal(row, torch.roll(x[0], s))
    masked = SignalAugment(shift=0.0, scale=0.0, crop_min=1.0, noise=0.0, mask=0.5, shear=0.0)(x - 19.5)
    zeros = masked == 0                                              # one contiguous run of ≤ 20 zeros
    assert (zeros.sum(1) <= 20).all() and zeros.any()
    for row, z in zip(masked, zeros):
        if z.any():
            idx = torch.nonzero(z).flatten()
            assert idx[-1] - idx[0] + 1 == len(idx)
        torch.testing.assert_close(row[~z], (x[0] - 19.5)[~z])
    crop = SignalAugment(shift=0.0, scale=0.0, crop_min=0.5, noise=0.0, mask=0.0, shear=0.0)(x)
    steps = crop.diff(dim=1)                                         # resized window: slope in [0.5, 1]
    assert (steps >= 0.5 - 1e-4).all() and (steps <= 1 + 1e-4).all()


def test_small_images_get_milder_crops_than_large_ones():
    small = Augment.for_data("image", (1, 8, 8)).transform
    large = Augment.for_data("image", (3, 32, 32)).transform
    assert small.crop_min > large.crop_min and small.flip == 0 < large.flip
    assert Augment.for_data("image", (1, 8, 8), crop_min=0.9, flip=0.5).transform.crop_min == 0.9
