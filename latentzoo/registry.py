"""The one registry of models: CLI name → :class:`~latentzoo.spec.ModelSpec`, classes imported lazily.

Each entry is one line; what a model knows about itself (metrics, figures, capabilities)
is declared on its class (see :mod:`latentzoo.spec`). ``register`` adds a model from
outside the package (a user's family, or the tests' tiny example).
"""

from __future__ import annotations

import importlib

from latentzoo.errors import UserError
from latentzoo.spec import ModelSpec

MODELS: dict[str, ModelSpec] = {s.name: s for s in (
    ModelSpec("linear-ae", "latentzoo.autoencoders.linear", "LinearAutoencoder", "Q1",
              "linear autoencoder, k < d: converges to PCA",
              anchor="PCA optimum (Baldi & Hornik 1989): largest principal angle 0°, test MSE equal to PCA's"),
    ModelSpec("sparse-coding", "latentzoo.autoencoders.sparse_coding", "SparseCoding", "Q1",
              "dictionary learning: ||X - UD||^2 + lam ||U||_1", default_data="patches",
              anchor="scikit-learn's MiniBatchDictionaryLearning at equal wall time: see benchmarks/RESULTS.md"),
    ModelSpec("sparse-ae", "latentzoo.autoencoders.sparse", "SparseAutoencoder", "Q1",
              "sparse autoencoder: reconstruction + lam ||h||_1"),
    ModelSpec("laplace-ae", "latentzoo.autoencoders.laplace", "LaplaceAutoencoder", "Q1",
              "probabilistic sparse AE: -log p(x|h) - log p(h), Laplace prior"),
    ModelSpec("denoising-ae", "latentzoo.autoencoders.denoising", "DenoisingAutoencoder", "Q1",
              "denoising AE: L(x, g(f(x~)))", beyond_seed=True),
    ModelSpec("contractive-ae", "latentzoo.autoencoders.contractive", "ContractiveAutoencoder", "Q1",
              "contractive AE: lam ||df/dx||_F^2", beyond_seed=True),
    ModelSpec("vae", "latentzoo.vae.model", "VAE", "Q2",
              "variational autoencoder: KL[q(x)q(z|x) || p(z)p(x|z)] = -ELBO + const",
              anchor="importance-weighted bound (Burda et al. 2016): −log p(x) ≤ −ELBO, nats per example"),
    ModelSpec("gan", "latentzoo.gan.model", "GAN", "Q3",
              "GAN: min_G max_D E F(D(y)) - E F~(D(G(eta))), with diagnostics", default_data="ring8",
              anchor="PacGAN4 (Lin et al. 2018, Table 1): 7.8/8 modes, 95.9% high quality, reverse KL 0.07"),
    ModelSpec("simclr", "latentzoo.simclr.model", "SimCLR", "Q4",
              "SimCLR: augmentations, encoder f, head g, NT-Xent", default_data="mnist1d",
              anchor="published SimCLR on MNIST-1D: 82.1% linear probe; raw-input linear model 32%"),
)}


def spec(name: str) -> ModelSpec:
    """The registry entry of ``name``; a :class:`UserError` for an unknown name."""
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def model_class(name: str):
    """The class registered under ``name``; a :class:`UserError` for an unknown name."""
    entry = spec(name)
    return getattr(importlib.import_module(entry.module), entry.cls)


def register(entry: ModelSpec, *, replace: bool = False) -> None:
    """Add a model to the registry (``latentzoo fit NAME`` and ``lz.fit("NAME", ...)`` then find it)."""
    if entry.name in MODELS and not replace:
        raise ValueError(f"a model named {entry.name!r} is already registered")
    MODELS[entry.name] = entry


def unregister(name: str) -> None:
    """Remove a model added with :func:`register`."""
    MODELS.pop(name, None)
