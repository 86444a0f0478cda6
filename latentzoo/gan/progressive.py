r"""Progressive growing of GANs (Karras et al. 2018): the remedy for the seed's slow training of
high-resolution models.

Training starts at a low resolution r₀ = H/2^L (the largest L with r₀ ≥ 4 that divides H and W)
and doubles it L times up to the data's H×W. Each new resolution's layers are faded in: with
α rising linearly from 0 to 1,

.. math:: G_l(η) = (1 − α)·\mathrm{up}_2(\mathrm{rgb}_{l−1}(h_{l−1})) + α·\mathrm{rgb}_l(\mathrm{block}_l(h_{l−1}))

and, mirrored in D, the image downsampled by 2×2 average pooling enters the old ``from_rgb``
with weight 1 − α and the new block with weight α. At α = 0 the grown networks compute exactly
what they did before the layers were added (the fade-in is continuous), at α = 1 the old path
is gone.

Both networks always take and give full-resolution images: G's output at resolution r is
upsampled (nearest) to H×W, D average-pools its input down to r. Everything around them (the
losses, R1/GP, packing, EMA, sampling, metrics) is unchanged. The state (``level``: resolution
index; ``alpha``) is kept in registered buffers, so checkpoints and ``--resume`` keep it.

Each resolution's block is one 3×3 convolution (LeakyReLU 0.2, pixel norm in G) after a nearest
2× upsampling in G, before a 2×2 average pooling in D; ``to_rgb``/``from_rgb`` are 1×1 convolutions.

Schedule (:func:`schedule`): ``stages`` epochs per resolution; at each new resolution α rises
over the first half of its stage and stays 1 over the second; the last resolution lasts until
the end of training.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

MIN_START = 4           # the lowest resolution trained (pixels on the shorter side)


def levels_for(shape: tuple[int, int, int]) -> int:
    """L: the number of doublings from the start resolution H/2^L (≥ ``MIN_START``) to H×W."""
    _, h, w = shape
    levels = 0
    while min(h, w) // 2 ** (levels + 1) >= MIN_START and h % 2 ** (levels + 1) == 0 and w % 2 ** (levels + 1) == 0:
        levels += 1
    return levels


def schedule(step: int, steps_per_epoch: int, stages: int, levels: int) -> tuple[int, float]:
    r"""(level, α) for the ``step``-th discriminator step (from 0).

    Stage s = ⌊step / (stages·steps_per_epoch)⌋; level = min(s, L). Within a stage at fraction
    u ∈ [0, 1) of its steps, α = min(1, 2u) for levels ≥ 1 (fade in over the first half), α = 1
    at level 0 and from the end of the last fade on. Until ``steps_per_epoch`` is known (0), (0, 1).
    ``stages=0``: no growing, (L, 1) throughout (the same networks trained at full resolution).
    """
    if stages == 0:
        return levels, 1.0
    stage_steps = stages * steps_per_epoch
    if stage_steps <= 0:
        return 0, 1.0
    stage = step // stage_steps
    if stage == 0 or stage > levels:
        return min(stage, levels), 1.0
    within = (step - stage * stage_steps) / stage_steps
    return stage, min(1.0, 2.0 * within)


class _Progress(nn.Module):
    """The fade-in state: ``level`` (0..L) and ``alpha`` ∈ [0, 1] in buffers (saved with the weights)."""

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        self.levels = levels_for(shape)
        self.full = shape[1:]
        self.register_buffer("level", torch.zeros((), dtype=torch.long))
        self.register_buffer("alpha", torch.ones(()))

    def set_progress(self, level: int, alpha: float) -> None:
        if not 0 <= level <= self.levels or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"level must be in [0, {self.levels}] and alpha in [0, 1], got {level}, {alpha}")
        self.level.fill_(level)
        self.alpha.fill_(alpha)

    def resolution(self, level: int | None = None) -> int:
        """The height trained at ``level`` (default: the current one)."""
        level = int(self.level) if level is None else level
        return self.full[0] // 2 ** (self.levels - level)


def _pixel_norm(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)   # x / √(mean_c x² + ε)


class _PixelNorm(nn.Module):
    def forward(self, x):
        return _pixel_norm(x)


def _conv(c_in: int, c_out: int, norm: bool) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.LeakyReLU(0.2)] + ([_PixelNorm()] if norm else [])


class ProgressiveGenerator(_Progress):
    """η (n, latent_dim) → images (n, C, H, W) in [0, 1], drawn at the current resolution and upsampled."""

    def __init__(self, latent_dim: int, shape: tuple[int, int, int], hidden: int = 64):
        super().__init__(shape)
        c, h, w = shape
        self.start = (hidden, h // 2 ** self.levels, w // 2 ** self.levels)
        self.project = nn.Sequential(nn.Linear(latent_dim, math.prod(self.start)), nn.LeakyReLU(0.2))
        self.base = nn.Sequential(_PixelNorm(), *_conv(hidden, hidden, True))
        self.blocks = nn.ModuleList([nn.Identity()] + [
            nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), *_conv(hidden, hidden, True))
            for _ in range(self.levels)])
        self.to_rgb = nn.ModuleList(nn.Conv2d(hidden, c, 1) for _ in range(self.levels + 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        level = int(self.level)
        h = self.base(self.project(z).view(-1, *self.start))
        for k in range(1, level):
            h = self.blocks[k](h)
        if level == 0:
            image = torch.sigmoid(self.to_rgb[0](h))
        else:
            old = F.interpolate(torch.sigmoid(self.to_rgb[level - 1](h)), scale_factor=2, mode="nearest")
            new = torch.sigmoid(self.to_rgb[level](self.blocks[level](h)))
            image = torch.lerp(old, new, self.alpha.to(new.dtype))                 # (1 − α)·old + α·new
        factor = 2 ** (self.levels - level)
        return F.interpolate(image, scale_factor=factor, mode="nearest") if factor > 1 else image


class ProgressiveDiscriminator(_Progress):
    """Images (n, C, H, W) → logits (n, 1): average-pooled to the current resolution, then shrunk to r₀."""

    def __init__(self, shape: tuple[int, int, int], hidden: int = 64):
        super().__init__(shape)
        c, h, w = shape
        self.from_rgb = nn.ModuleList(nn.Sequential(nn.Conv2d(c, hidden, 1), nn.LeakyReLU(0.2))
                                      for _ in range(self.levels + 1))
        self.blocks = nn.ModuleList([nn.Identity()] + [
            nn.Sequential(*_conv(hidden, hidden, False), nn.AvgPool2d(2))
            for _ in range(self.levels)])
        start = (h // 2 ** self.levels) * (w // 2 ** self.levels)
        self.base = nn.Sequential(*_conv(hidden, hidden, False), nn.Flatten(), nn.Linear(hidden * start, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = int(self.level)
        factor = 2 ** (self.levels - level)
        x = F.avg_pool2d(x, factor) if factor > 1 else x                        # the image at resolution r
        if level == 0:
            h = self.from_rgb[0](x)
        else:
            old = self.from_rgb[level - 1](F.avg_pool2d(x, 2))
            new = self.blocks[level](self.from_rgb[level](x))
            h = torch.lerp(old, new, self.alpha.to(new.dtype))                     # (1 − α)·old + α·new
        for k in range(level - 1, 0, -1):
            h = self.blocks[k](h)
        return self.base(h)


PROBE_KEY = "probe_seconds_per_image_"     # history keys of the probe, one per resolution


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def probe_seconds_per_image(latent_dim: int, shape: tuple[int, int, int], hidden: int, batch: int,
                            device: torch.device, repeats: int = 3) -> dict[int, float]:
    """Seconds per image of one generator + discriminator step (forward and backward) of the default
    DCGAN networks built at H/4, H/2 and H (those with sides ≥ 8 and divisible by 4), the fastest
    of ``repeats`` after a warm-up. The diagnosis of a run that is not progressive reads from it how
    the time per image grows with the resolution. The global random state is left untouched."""
    from latentzoo.nets import ConvDecoder, ConvEncoder

    out = {}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.enable_grad():
        for k in (2, 1, 0):
            c, h, w = shape[0], shape[1] // 2 ** k, shape[2] // 2 ** k
            if h % 4 or w % 4 or min(h, w) < 8 or shape[1] % 2 ** k or shape[2] % 2 ** k:
                continue
            g = ConvDecoder(latent_dim, (c, h, w), hidden=hidden).to(device)
            d = ConvEncoder((c, h, w), 1, hidden=hidden, norm=False).to(device)
            z = torch.randn(batch, latent_dim, device=device)
            times = []
            for _ in range(repeats + 1):
                _sync(device)
                tic = time.perf_counter()
                fake = torch.sigmoid(g(z))
                (d(fake).mean() + d(fake.detach()).mean()).backward()          # G's step and D's step
                _sync(device)
                times.append(time.perf_counter() - tic)
            out[h] = min(times[1:]) / batch
    return out


def resolution_timing(history: list[dict]) -> dict[int, tuple[float, int]]:
    """{resolution: (seconds, images)}: the epochs' times (data + D + G) summed per ``resolution``
    when the run trained at two or more, else the probe's seconds per image (per one image)."""
    out: dict[int, list] = {}
    for h in history:
        if "resolution" in h:
            entry = out.setdefault(int(h["resolution"]), [0.0, 0])
            entry[0] += sum(h.get(f"time_{k}", 0.0) for k in ("data", "discriminator", "generator"))
            entry[1] += int(h.get("timed_samples", 0))
    if len(out) < 2:
        probed = {int(k[len(PROBE_KEY):]): v for h in history[:1] for k, v in h.items() if k.startswith(PROBE_KEY)}
        if probed:
            return {r: (t, 1) for r, t in probed.items()}
    return {r: (s, n) for r, (s, n) in out.items()}


def pooled_pixels(x: torch.Tensor) -> torch.Tensor:
    """Images averaged over 4×4 blocks and flattened: a cheap feature space for quick Fréchet checks
    (``feature_extractor=latentzoo.gan.progressive:pooled_pixels``)."""
    return F.avg_pool2d(x, 4).flatten(1)
