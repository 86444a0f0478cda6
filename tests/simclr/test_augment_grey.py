r"""Noise and random erasing of the image augmentation, and the defaults of 28×28 grey images."""

import torch

from latentzoo.simclr.augment import GREY_MEDIUM, Augment, ImageAugment


def _images(n=32, side=28):
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(n, 1, 4, 4, generator=g) * 0.4 + 0.3              # values in (0.3, 0.7): no clamping
    return torch.nn.functional.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=True)


def test_28x28_grey_gets_the_grey_defaults_and_digits_keep_theirs():
    grey = Augment.for_data("image", (1, 28, 28)).transform
    assert (grey.crop_min, grey.flip, grey.noise, grey.erase) == (GREY_MEDIUM["crop_min"], GREY_MEDIUM["flip"],
                                                                  GREY_MEDIUM["noise"], GREY_MEDIUM["erase"])
    digits = Augment.for_data("image", (1, 8, 8)).transform
    assert (digits.crop_min, digits.flip, digits.noise, digits.erase, digits.eraser) == (0.5, 0.0, 0.0, 0.0, None)
    assert Augment.for_data("image", (1, 28, 28), erase=0.0, noise=0.0).transform.eraser is None


def test_noise_adds_zero_mean_noise_of_at_most_the_given_spread():
    x = _images()
    plain, noisy = (ImageAugment((1, 28, 28), crop_min=0.5, flip=0.5, blur=0.5, noise=n) for n in (0.0, 0.2))
    torch.manual_seed(3)
    a = plain(x)
    torch.manual_seed(3)
    b = noisy(x)                              # the same crops, flips and blurs, then x + a·σ·ε
    d = (b - a).reshape(len(x), -1)
    assert (d.std(1) <= 0.2 * x.std() * 1.1).all()
    assert (d.std(1) > 1e-3).float().mean() > 0.8 and d.mean().abs() < 0.01


def test_erasing_zeroes_one_rectangle_of_2_to_15_percent():
    x = _images()
    t = ImageAugment((1, 28, 28), crop_min=0.5, flip=0.0, blur=0.0, erase=1.0)
    torch.manual_seed(0)
    zeros = (t(x) == 0).reshape(len(x), -1).float().mean(1)      # the inputs have no zeros: only erasing makes them
    assert (zeros >= 0.015).all() and (zeros <= 0.16).all()


def test_blur_kernel_sets_the_side_of_the_blur():
    r"""``blur_kernel`` replaces the default kernel (≈ 10% of the side: 3 at 28 px) and widens the blur: with
    σ = 1.75 fixed, a 13×13 kernel spreads a single bright pixel over more pixels than the 3×3 one."""
    import kornia.augmentation as K

    sides = {}
    for kernel in (None, 13):
        pipeline = Augment.for_data("image", (1, 28, 28), blur_kernel=kernel).transform.pipeline
        blur = [m for m in pipeline if isinstance(m, K.RandomGaussianBlur)][0]
        sides[kernel] = blur.flags["kernel_size"]
        x = torch.zeros(1, 1, 28, 28)
        x[0, 0, 14, 14] = 1.0
        spread = K.RandomGaussianBlur(sides[kernel], (1.75, 1.75), p=1.0)(x)
        sides[kernel] = (sides[kernel], int((spread > 1e-3).sum()))
    assert sides[None] == ((3, 3), 9) and sides[13][0] == (13, 13) and sides[13][1] > 4 * 9
