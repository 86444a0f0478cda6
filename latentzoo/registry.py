"""The one registry of models: CLI name → class, imported lazily so the CLI starts fast."""

from __future__ import annotations

import importlib

from latentzoo.errors import UserError

# name: (module, class, one-line description with the seed question it answers)
MODELS: dict[str, tuple[str, str, str]] = {
    "linear-ae": ("latentzoo.autoencoders.linear", "LinearAutoencoder",
                  "Q1 linear autoencoder, k < d: converges to PCA"),
    "sparse-coding": ("latentzoo.autoencoders.sparse_coding", "SparseCoding",
                      "Q1 dictionary learning: ||X - UD||^2 + lam ||U||_1"),
    "sparse-ae": ("latentzoo.autoencoders.sparse", "SparseAutoencoder",
                  "Q1 sparse autoencoder: reconstruction + lam ||h||_1"),
    "laplace-ae": ("latentzoo.autoencoders.laplace", "LaplaceAutoencoder",
                   "Q1 probabilistic sparse AE: -log p(x|h) - log p(h), Laplace prior"),
    "denoising-ae": ("latentzoo.autoencoders.denoising", "DenoisingAutoencoder",
                     "Q1+ denoising AE: L(x, g(f(x~)))"),
    "contractive-ae": ("latentzoo.autoencoders.contractive", "ContractiveAutoencoder",
                       "Q1+ contractive AE: lam ||df/dx||_F^2"),
    "vae": ("latentzoo.vae.model", "VAE",
            "Q2 variational autoencoder: KL[q(x)q(z|x) || p(z)p(x|z)] = -ELBO + const"),
    "gan": ("latentzoo.gan.model", "GAN",
            "Q3 GAN: min_G max_D E F(D(y)) - E F~(D(G(eta))), with diagnostics"),
    "simclr": ("latentzoo.simclr.model", "SimCLR",
               "Q4 SimCLR: augmentations, encoder f, head g, NT-Xent"),
}


def model_class(name: str):
    """The class registered under ``name``; a :class:`UserError` for an unknown name."""
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    module, cls, _ = MODELS[name]
    return getattr(importlib.import_module(module), cls)
