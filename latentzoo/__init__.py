"""latentzoo: learning latent representations without labels.

Four families, one per question of the seed exercise set: constrained autoencoders
(``latentzoo.autoencoders``), the variational autoencoder (``latentzoo.vae``),
generative adversarial networks (``latentzoo.gan``) and SimCLR (``latentzoo.simclr``).
Every loss is re-exported by :mod:`latentzoo.losses`.

The Python API::

    import latentzoo as lz
    model = lz.fit("vae", x)              # or lz.fit(lz.VAE(latent_dim=16, encoder=...), data)
    model.embed(x); model.sample(16)      # NumPy in → NumPy out
    model = lz.load("runs/vae")

Names are imported on first use, so that ``import latentzoo`` (and the CLI) start fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "fit": ("latentzoo.api", "fit"),
    "load": ("latentzoo.api", "load"),
    "as_dataset": ("latentzoo.api", "as_dataset"),
    "register": ("latentzoo.registry", "register"),
    "ModelSpec": ("latentzoo.spec", "ModelSpec"),
    "LatentModel": ("latentzoo.model", "LatentModel"),
    "LinearAutoencoder": ("latentzoo.autoencoders.linear", "LinearAutoencoder"),
    "SparseCoding": ("latentzoo.autoencoders.sparse_coding", "SparseCoding"),
    "SparseAutoencoder": ("latentzoo.autoencoders.sparse", "SparseAutoencoder"),
    "LaplaceAutoencoder": ("latentzoo.autoencoders.laplace", "LaplaceAutoencoder"),
    "DenoisingAutoencoder": ("latentzoo.autoencoders.denoising", "DenoisingAutoencoder"),
    "ContractiveAutoencoder": ("latentzoo.autoencoders.contractive", "ContractiveAutoencoder"),
    "VAE": ("latentzoo.vae.model", "VAE"),
    "GAN": ("latentzoo.gan.model", "GAN"),
    "SimCLR": ("latentzoo.simclr.model", "SimCLR"),
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'latentzoo' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
