"""Shared network building blocks: plain ``nn.Module``s, no devices, no losses.

* :class:`MLP` — for vectors, points and flattened inputs.
* :class:`ConvEncoder` / :class:`ConvDecoder` — small DCGAN-style convolutions for images
  (any H, W divisible by 4, e.g. 8×8 digits or 32×32 photos).
* :class:`Conv1dNet` — 1-D CNNs for signals such as MNIST-1D.
* :func:`encoder_for` / :func:`decoder_for` — the network that fits a data kind.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "elu": nn.ELU,
            "tanh": nn.Tanh, "silu": nn.SiLU}[name]()


class MLP(nn.Sequential):
    """``depth`` hidden layers of width ``hidden``, then a linear output layer.

    Input of any shape (n, ...) is flattened; output (n, out_features), or
    (n, *out_shape) when ``out_shape`` is given.
    """

    def __init__(self, in_features: int, out_features: int, hidden: int = 256, depth: int = 2,
                 act: str = "relu", out_shape: tuple[int, ...] | None = None, norm: bool = False):
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for _ in range(depth):
            layers.append(nn.Linear(width, hidden))
            if norm:
                layers.append(nn.LayerNorm(hidden))
            layers.append(activation(act))
            width = hidden
        layers.append(nn.Linear(width, out_features))
        if out_shape is not None:
            layers.append(nn.Unflatten(1, tuple(out_shape)))
        super().__init__(*layers)


class ConvEncoder(nn.Module):
    """Two stride-2 convolutions (H, W → H/4, W/4), then a linear map to ``out_features``."""

    def __init__(self, in_shape: tuple[int, int, int], out_features: int, hidden: int = 64,
                 act: str = "leaky_relu", norm: bool = True):
        super().__init__()
        c, h, w = in_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, hidden, 3, stride=2, padding=1), activation(act),
            nn.Conv2d(hidden, 2 * hidden, 3, stride=2, padding=1),
            nn.BatchNorm2d(2 * hidden) if norm else nn.Identity(), activation(act),
            nn.Flatten(),
        )
        self.out = nn.Linear(2 * hidden * math.ceil(h / 4) * math.ceil(w / 4), out_features)

    def forward(self, x):
        return self.out(self.features(x))


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvEncoder`: linear map, then two stride-2 transposed convolutions."""

    def __init__(self, in_features: int, out_shape: tuple[int, int, int], hidden: int = 64,
                 act: str = "relu", norm: bool = True):
        super().__init__()
        c, h, w = out_shape
        if h % 4 or w % 4:
            raise ValueError(f"ConvDecoder needs H and W divisible by 4, got {h}x{w}")
        self.start = (2 * hidden, h // 4, w // 4)
        self.project = nn.Sequential(nn.Linear(in_features, math.prod(self.start)), activation(act))
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * hidden, hidden, 4, stride=2, padding=1),
            nn.BatchNorm2d(hidden) if norm else nn.Identity(), activation(act),
            nn.ConvTranspose2d(hidden, c, 4, stride=2, padding=1),
        )

    def forward(self, z):
        return self.net(self.project(z).view(-1, *self.start))


def encoder_for(kind: str, shape: tuple[int, ...], out_features: int, hidden: int, depth: int,
                conv: bool = True) -> nn.Module:
    """The encoder that fits data of ``kind`` (convolutional for images and signals if ``conv``)."""
    if conv and kind == "image" and shape[1] % 4 == 0 and shape[2] % 4 == 0:
        return ConvEncoder(shape, out_features, hidden=min(hidden, 64))
    if conv and kind == "signal":
        return Conv1dNet(1, out_features, width=min(hidden, 64), stages=Conv1dNet.SMALL, project=True)
    return MLP(math.prod(shape), out_features, hidden, depth)


def decoder_for(kind: str, shape: tuple[int, ...], in_features: int, hidden: int, depth: int,
                conv: bool = True) -> nn.Module:
    """The decoder that maps codes back to examples of ``shape``."""
    if conv and kind == "image" and shape[1] % 4 == 0 and shape[2] % 4 == 0:
        return ConvDecoder(in_features, shape, hidden=min(hidden, 64))
    return MLP(in_features, math.prod(shape), hidden, depth, out_shape=shape)


def flatten(x: torch.Tensor) -> torch.Tensor:
    """(n, ...) → (n, d)."""
    return x.reshape(x.shape[0], -1)


class BasicBlock(nn.Module):
    """The two-convolution residual block of ResNet-18/34 (He et al. 2016), with batch norm."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(channels))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18: a 3×3 stride-1 stem without max-pooling (for 32×32 images),
    four stages of two :class:`BasicBlock` s with ``width``·(1, 2, 4, 8) channels, global
    average pooling; features of size 8·``width`` (512 at the usual width 64), then a linear
    map to ``out_features`` when that differs (None: return the pooled features)."""

    def __init__(self, in_channels: int = 3, out_features: int | None = None, width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        layers, channels = [], width
        for i, mult in enumerate((1, 2, 4, 8)):
            stride = 1 if i == 0 else 2
            layers += [BasicBlock(channels, width * mult, stride), BasicBlock(width * mult, width * mult)]
            channels = width * mult
        self.stages = nn.Sequential(*layers)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.features = channels
        self.out = (nn.Identity() if out_features in (None, channels)
                    else nn.Linear(channels, out_features))

    def forward(self, x):
        return self.out(self.pool(self.stages(self.stem(x))))


class Conv1dNet(nn.Module):
    """A 1-D CNN for signals (n, L) or (n, C, L): convolutions with batch norm, global average
    pooling over positions, then a linear map to ``out_features``.

    ``stages`` are (channels as a multiple of ``width``, kernel, stride): :attr:`LARGE` (SimCLR's
    encoder: width, width/2, 2·width, 2·width/2) or :attr:`SMALL` (the autoencoders' and VAE's
    encoder: width, width/2, width/2). The linear map is left out when ``out_features`` is None,
    or equals the pooled width and ``project`` is False."""

    LARGE = ((1, 5, 1), (1, 5, 2), (2, 3, 1), (2, 3, 2))
    SMALL = ((1, 5, 1), (1, 5, 2), (1, 3, 2))

    def __init__(self, in_channels: int, out_features: int | None, width: int = 64, act: str = "relu",
                 stages: tuple[tuple[int, int, int], ...] = LARGE, project: bool = False):
        super().__init__()
        layers, channels = [], in_channels
        for multiple, kernel, stride in stages:
            out = multiple * width
            layers += [nn.Conv1d(channels, out, kernel, stride=stride, padding=kernel // 2),
                       nn.BatchNorm1d(out), activation(act)]
            channels = out
        self.features = channels
        keep = out_features is None or (out_features == channels and not project)
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                                 nn.Identity() if keep else nn.Linear(channels, out_features))

    def forward(self, x):
        return self.net(x.unsqueeze(1) if x.ndim == 2 else x)


def backbone_for(kind: str, data_kind: str, shape: tuple[int, ...], latent_dim: int, hidden: int,
                  depth: int, bn_relu: bool = False) -> nn.Module:
    r"""The base encoder f for ``kind`` (resnet18, cnn, mlp) with output h ∈ R^latent_dim; with ``bn_relu``,
    h = ReLU(BN(f₀(x))) where f₀ is that network (its last layer is linear), as a ResNet's pooled features
    come after batch norm and ReLU."""
    if bn_relu:
        return nn.Sequential(backbone_for(kind, data_kind, shape, latent_dim, hidden, depth),
                             nn.BatchNorm1d(latent_dim), nn.ReLU())
    if kind == "resnet18":
        return ResNet18(shape[0], latent_dim, width=hidden)
    if kind == "cnn" and data_kind == "image":
        return ConvEncoder(shape, latent_dim, hidden=hidden)
    if kind == "cnn":
        return Conv1dNet(1 if len(shape) == 1 else shape[0], latent_dim, width=hidden)
    return MLP(math.prod(shape), latent_dim, hidden, depth)
