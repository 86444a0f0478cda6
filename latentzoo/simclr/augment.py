r"""The stochastic augmentation module T of SimCLR (seed question 4).

Two calls ``T(x)``, ``T(x)`` on the same batch give the two correlated views
x̃_i = t(x), x̃_j = t′(x) with t, t′ ∼ T drawn independently for every example. Every
transform works on the whole batch as tensors, on the batch's device, and draws its
randomness from torch's global generator only (kornia does the same), so that a resumed
run replays exactly the same views.

Per data kind (``Augment.for_data`` picks one; its defaults scale with the example size):

* images (n, C, H, W) in [0, 1] — kornia: random resized crop (area fraction in
  [crop_min, 1], aspect ratio in [3/4, 4/3]), horizontal flip, and for colour images
  colour jitter (p 0.8) and random grey (p 0.2); Gaussian blur (p 0.5, kernel ≈ H/10,
  odd, ≥ 3). 8×8 digits get milder crops (crop_min 0.5) than 32×32 photos (0.2), no flip
  by default (a mirrored digit is often another digit) and a light blur. Grey images of 16 to 31
  pixels a side (28×28 Fashion-MNIST, MNIST) get a crop of at least 0.3 of the area, a flip,
  brightness and contrast jitter (``jitter``) and the blur; additive Gaussian noise (``noise``) and
  random erasing (``erase``) are options: see :data:`GREY_MEDIUM`.
* signals (n, L) — a random circular shift (roll) by up to ``shift`` · L samples, an
  amplitude scaling by U(1 − scale, 1 + scale), a crop of a random window of
  U(crop_min, 1) · L samples linearly resized back to L, a shear (a random linear trend,
  as in MNIST-1D's own generator), additive Gaussian noise of ``noise`` times the batch's
  standard deviation, and a random contiguous mask of up to
  ``mask`` · L samples set to zero (or to the in-range value nearest zero).
* vectors and points (n, d) — additive Gaussian noise of ``noise`` times each feature's
  batch standard deviation, then feature dropout: each feature is replaced by its batch
  mean with probability ``dropout``.

Shape and dtype are kept; images stay in [0, 1] and signals and vectors stay within the
batch's own [min, max] (values are clamped after the noise).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ImageAugment(nn.Module):
    r"""Kornia pipeline for images (n, C, H, W) in [0, 1]."""

    def __init__(self, shape: tuple[int, int, int], crop_min: float, flip: float, blur: float,
                 jitter: float = 0.4, noise: float = 0.0, erase: float = 0.0, blur_kernel: int | None = None):
        super().__init__()
        import kornia.augmentation as K

        c, h, w = shape
        self.crop_min, self.flip, self.blur, self.noise, self.erase = crop_min, flip, blur, noise, erase
        layers: list[nn.Module] = [
            K.RandomResizedCrop((h, w), scale=(crop_min, 1.0), ratio=(3 / 4, 4 / 3)),
        ]
        if flip > 0:
            layers.append(K.RandomHorizontalFlip(p=flip))
        if c == 3:
            layers += [K.ColorJitter(jitter, jitter, jitter, jitter / 4, p=0.8), K.RandomGrayscale(p=0.2)]
        elif jitter > 0:       # grey: the brightness and contrast part of SimCLR's colour distortion
            layers.append(K.ColorJitter(jitter, jitter, 0.0, 0.0, p=0.8))
        if blur > 0:
            kernel = blur_kernel or max(3, 2 * (min(h, w) // 20) + 1)   # default ≈ 10% of the side, odd
            sigma = (0.1, 2.0 * min(h, w) / 32)            # SimCLR's σ ∈ [0.1, 2] at 32 px, scaled
            layers.append(K.RandomGaussianBlur((kernel, kernel), sigma, p=blur))
        self.pipeline = nn.Sequential(*layers)
        # random erasing (Zhong et al. 2020): with probability `erase` a rectangle of 2–15% of the area set to 0
        self.eraser = K.RandomErasing(scale=(0.02, 0.15), ratio=(0.3, 3.3), value=0.0, p=erase) if erase > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pipeline(x)
        if self.noise > 0:   # x + a·σ·ε, a ∼ U(0, noise) per example, σ the batch's pixel spread
            amount = self.noise * torch.rand(len(out), *([1] * (out.ndim - 1)), device=out.device, dtype=out.dtype)
            out = out + amount * x.std() * torch.randn_like(out)
        if self.eraser is not None:
            out = self.eraser(out.clamp(0.0, 1.0))
        return out.clamp_(0.0, 1.0).to(x.dtype)


# Grey images of 16 to 31 pixels a side (28×28 Fashion-MNIST, MNIST), chosen by measurement (the SimCLR
# recipe's comment in model.py; benchmarks/RESULTS.md). Objects are centred and fill the frame, so a crop of
# 0.2 of the area (the photo default) often keeps only a piece of fabric: 0.3. Clothes are left–right
# symmetric: flip 0.5. Blur as for photos (kernel 3 at 28 px). Brightness and contrast jitter (0.8, p 0.8:
# the grey part of SimCLR's colour distortion, as lightly's transform applies it to grey images) stops the
# views from matching on raw grey levels; additive noise (0.1) and random erasing (0.25) in its place gave
# a linear probe 1.2 points lower and a k-NN 7 points lower after 4 epochs on Fashion-MNIST.
GREY_MEDIUM = {"crop_min": 0.3, "flip": 0.5, "blur": 0.5, "noise": 0.0, "erase": 0.0, "jitter": 0.8}


class SignalAugment(nn.Module):
    r"""Shift (roll), scaling, crop-and-resize, noise and masking for signals (n, L)."""

    def __init__(self, shift: float = 0.15, scale: float = 0.2, crop_min: float = 0.5,
                 noise: float = 0.1, mask: float = 0.15, shear: float = 0.5):
        super().__init__()
        self.shift, self.scale, self.crop_min, self.noise, self.mask = shift, scale, crop_min, noise, mask
        self.shear = shear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length = x.shape[0], x.shape[-1]
        flat = x.reshape(n, length)
        dev, dt = x.device, x.dtype
        k = torch.arange(length, device=dev, dtype=dt)
        # crop-and-resize: output sample k reads position a + k·(w − 1)/(L − 1) of the input,
        # with window length w ∼ U(crop_min, 1)·L and start a ∼ U(0, L − w)
        w = length * (self.crop_min + (1 - self.crop_min) * torch.rand(n, 1, device=dev, dtype=dt))
        a = (length - w) * torch.rand(n, 1, device=dev, dtype=dt)
        pos = a + k * (w - 1) / max(length - 1, 1)
        # roll: shift every read position by s ∼ U{−shift·L, …, shift·L}, wrapping around
        max_shift = round(self.shift * length)
        s = torch.randint(-max_shift, max_shift + 1, (n, 1), device=dev).to(dt)
        pos = torch.remainder(pos - s, length)
        lo = pos.floor()
        frac = pos - lo
        lo = lo.long() % length
        hi = (lo + 1) % length
        out = torch.gather(flat, 1, lo) * (1 - frac) + torch.gather(flat, 1, hi) * frac   # linear interpolation
        # amplitude scaling by U(1 − scale, 1 + scale)
        out = out * (1 + self.scale * (2 * torch.rand(n, 1, device=dev, dtype=dt) - 1))
        spread = flat.std()
        # shear: add a linear trend b·(k/(L − 1) − ½), b ∼ U(−shear, shear) times the batch's spread
        if self.shear:
            slope = self.shear * spread * (2 * torch.rand(n, 1, device=dev, dtype=dt) - 1)
            out = out + slope * (k / max(length - 1, 1) - 0.5)
        # additive noise, relative to the batch's spread
        out = out + self.noise * spread * torch.randn_like(out)
        # masking: zero a random segment of up to mask·L samples (0, or the nearest value in range)
        m_len = (self.mask * length * torch.rand(n, 1, device=dev, dtype=dt)).floor()
        m_start = (length - m_len) * torch.rand(n, 1, device=dev, dtype=dt)
        masked = (k >= m_start.floor()) & (k < m_start.floor() + m_len)
        lo, hi = flat.min(), flat.max()
        out = out.clamp(lo, hi).masked_fill(masked, 0.0).clamp(lo, hi)
        return out.reshape(x.shape)


class VectorAugment(nn.Module):
    r"""Gaussian noise and feature dropout for vectors (n, d)."""

    def __init__(self, noise: float = 0.1, dropout: float = 0.2):
        super().__init__()
        self.noise, self.dropout = noise, dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        std = flat.std(0, keepdim=True) if flat.shape[0] > 1 else flat.new_ones(1, flat.shape[1])
        out = flat + self.noise * std * torch.randn_like(flat)     # x + noise·σ_f·ε
        drop = torch.rand_like(flat) < self.dropout                # feature dropout → batch mean
        out = torch.where(drop, flat.mean(0, keepdim=True).expand_as(flat), out)
        out = torch.maximum(torch.minimum(out, flat.max(0).values), flat.min(0).values)
        return out.reshape(x.shape)


class Augment(nn.Module):
    r"""T: the augmentation for a data kind; ``T(x)`` draws a fresh t for every example."""

    def __init__(self, transform: nn.Module):
        super().__init__()
        self.transform = transform

    @classmethod
    def for_data(cls, kind: str, shape: tuple[int, ...], crop_min: float | None = None,
                 flip: float | None = None, noise: float | None = None, erase: float | None = None,
                 jitter: float | None = None, blur_kernel: int | None = None) -> Augment:
        r"""Defaults scaled to the example size; ``None`` keeps the default of the option."""
        if kind == "image":
            c, h, w = shape
            small = min(h, w) < 16
            default = {"crop_min": 0.5 if small else 0.2, "flip": 0.0 if small else 0.5,
                       "blur": 0.3 if small else 0.5, "noise": 0.0, "erase": 0.0, "jitter": 0.4 if c == 3 else 0.0}
            if c == 1 and 16 <= min(h, w) < 32:
                default = dict(GREY_MEDIUM)
            given = {"crop_min": crop_min, "flip": flip, "noise": noise, "erase": erase, "jitter": jitter,
                     "blur_kernel": blur_kernel}
            return cls(ImageAugment(shape, **{**default, **{k: v for k, v in given.items() if v is not None}}))
        if kind == "signal":
            return cls(SignalAugment(
                crop_min=crop_min if crop_min is not None else 0.5,
                noise=noise if noise is not None else 0.1,
            ))
        d = math.prod(shape)
        return cls(VectorAugment(noise=noise if noise is not None else 0.1, dropout=0.0 if d <= 2 else 0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.transform(x)
