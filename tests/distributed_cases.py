"""Tiny training runs shared by tests/test_distributed.py and its worker (tests/distributed_worker.py).

Every case trains one family for one epoch on 256 synthetic examples (8 steps of 32), small
enough that one process and two processes on a 2-core machine both take seconds. The data
is made here from a fixed seed, so every process builds exactly the same tensors without
reading a file.
"""

from __future__ import annotations

import math

import torch

from latentzoo.data import Dataset

N_TRAIN, N_TEST = 256, 64
COMMON = {"epochs": 1, "batch_size": 32}

# name → (model, data kind, --set options). Each case exercises something that could make two
# processes differ from one: random draws (ε, η, corruption, augmentations), batch norm, a
# second backward (R1, GP, the autograd contractive penalty), PacGAN packs, an EMA, n_critic,
# exact non-gradient updates (sparse coding).
CASES = {
    "linear-ae": ("linear-ae", "image", {"latent_dim": 4}),
    "sparse-coding": ("sparse-coding", "image", {"latent_dim": 16, "max_iter": 100}),
    "sparse-ae": ("sparse-ae", "image", {"latent_dim": 16, "code_activation": "shrink"}),
    "laplace-ae": ("laplace-ae", "image", {"latent_dim": 16, "learn_lam": True}),
    "denoising-ae": ("denoising-ae", "image", {"latent_dim": 8, "hidden": 16, "conv": True, "noise": 0.2}),
    "contractive-ae": ("contractive-ae", "image", {"latent_dim": 8, "hidden": 16, "encoder": "network"}),
    "vae": ("vae", "image", {"latent_dim": 4, "hidden": 8, "conv": True}),
    "vae-iwae": ("vae", "vector", {"latent_dim": 4, "hidden": 16, "iwae_k": 3, "likelihood": "gaussian"}),
    "gan-r1": ("gan", "image", {"latent_dim": 8, "hidden": 8, "r1": 1.0, "pack": 2, "ema": 0.9}),
    "gan-gp": ("gan", "points", {"latent_dim": 4, "hidden": 16, "loss": "wasserstein", "gp": 10.0, "pack": 2,
                                 "n_critic": 2, "ema": 0.9}),
    "simclr": ("simclr", "image", {"latent_dim": 16, "hidden": 8, "proj_dim": 8, "flip": 0.5}),
    "simclr-signal": ("simclr", "signal", {"latent_dim": 16, "hidden": 8, "proj_dim": 8}),
}


def tiny_data(kind: str) -> Dataset:
    """256 + 64 synthetic examples of ``kind``, the same in every process."""
    g = torch.Generator().manual_seed(1234)
    n = N_TRAIN + N_TEST
    y = torch.randint(0, 4, (n,), generator=g)
    extras = {}
    if kind == "image":                     # blurry blobs in [0, 1], one position per class
        grid = torch.stack(torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij"))
        centre = torch.stack([2 + 3 * (y % 2), 2 + 3 * (y // 2)], 1).float() + torch.randn(n, 2, generator=g)
        x = torch.exp(-((grid[None] - centre[:, :, None, None]) ** 2).sum(1) / 4)[:, None]
        x = (x + 0.1 * torch.rand(x.shape, generator=g)).clamp(0, 1)
    elif kind == "signal":                  # sine waves of four frequencies, random phases
        t = torch.linspace(0, 1, 40)
        x = torch.sin(2 * math.pi * ((1 + y[:, None]) * t + torch.rand(n, 1, generator=g)))
        x = x + 0.1 * torch.randn(x.shape, generator=g)
    elif kind == "points":                  # four Gaussian modes on the unit circle
        modes = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
        x = modes[y] + 0.05 * torch.randn(n, 2, generator=g)
        extras = {"modes": modes.numpy(), "mode_std": 0.05}
    else:                                   # vectors in [0, 1]
        x = torch.rand(n, 12, generator=g) * (1 + y[:, None]) / 4
    return Dataset(f"tiny-{kind}", kind, x[:N_TRAIN].contiguous(), x[N_TRAIN:].contiguous(),
                   y[:N_TRAIN], y[N_TRAIN:], extras)


def train_case(name: str, **fabric) -> torch.nn.Module:
    """Train case ``name`` for one epoch (no run directory, no evaluation) and return the model."""
    from latentzoo.engine import train_model
    from latentzoo.registry import model_class

    model_name, kind, options = CASES[name]
    model = model_class(model_name)()
    model.evaluate = lambda data, history: {}       # weights are what is compared; skip the metrics
    fabric = {"accelerator": "cpu", **fabric}
    return train_model(model, tiny_data(kind), None, overrides={**COMMON, **options}, seed=0, progress=False,
                       **fabric)


def state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict on the CPU, detached."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def relative_difference(a: dict, b: dict) -> tuple[float, str]:
    """The largest ‖a_k − b_k‖ / ‖b_k‖ over the entries (integer entries: 0 if equal, else inf), and its key."""
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
    worst, where = 0.0, ""
    for k in b:
        x, y = a[k], b[k]
        if not y.is_floating_point():
            d = 0.0 if torch.equal(x, y) else math.inf
        else:
            diff = float((x.double() - y.double()).norm())
            d = diff / max(float(y.double().norm()), 1e-12) if diff else 0.0
        if d > worst:
            worst, where = d, k
    return worst, where


def redundant_keys(model: torch.nn.Module) -> set[str]:
    """State keys that no loss determines: the bias of a layer whose output goes straight into a batch
    norm (which subtracts it again: its true gradient is exactly 0) and that batch norm's running mean
    (which absorbs it).

    Adam turns the rounding noise such a bias receives into steps of ±lr, in one process as in
    several, so these entries random-walk and are left out of the comparisons.
    """
    from torch import nn

    keys = set()
    for name, module in model.named_modules():
        children = list(module.named_children())
        for (a_name, a), (b_name, b) in zip(children, children[1:]):
            if isinstance(b, nn.modules.batchnorm._BatchNorm) and getattr(a, "bias", None) is not None:
                prefix = f"{name}." if name else ""
                keys |= {f"{prefix}{a_name}.bias", f"{prefix}{b_name}.running_mean"}
    return keys


def without(weights: dict, keys: set[str]) -> dict:
    return {k: v for k, v in weights.items() if k not in keys}
