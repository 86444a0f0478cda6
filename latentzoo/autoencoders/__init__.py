r"""Seed question 1 — autoencoders with constraints on the latent variable.

* ``linear-ae``      (:mod:`.linear`)        k < d: the linear autoencoder learns PCA.
* ``sparse-coding``  (:mod:`.sparse_coding`) min ‖X − UD‖²_F + λ‖U‖₁, ‖D_k‖ ≤ 1; :func:`sparse_encode`.
* ``sparse-ae``      (:mod:`.sparse`)        reconstruction + λ‖h‖₁.
* ``laplace-ae``     (:mod:`.laplace`)       −log p(x|h) − log p(h), Laplace prior on h.
* ``denoising-ae``   (:mod:`.denoising`)     L(x, g(f(x̃))).
* ``contractive-ae`` (:mod:`.contractive`)   reconstruction + λ‖∂f/∂x‖²_F.

Losses: :mod:`.losses` (re-exported by :mod:`latentzoo.losses`).
"""

from __future__ import annotations

__all__ = ["duality_gap", "sparse_encode"]


def __getattr__(name: str):
    # Imported on first use, so that ``import latentzoo.losses`` stays light.
    if name in __all__:
        from latentzoo.autoencoders import sparse_coding

        return getattr(sparse_coding, name)
    raise AttributeError(f"module 'latentzoo.autoencoders' has no attribute {name!r}")
