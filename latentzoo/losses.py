r"""Every loss of latentzoo in one place: plain functions on batch-first tensors, and
``nn.Module`` wrappers of them for your own training loop (:mod:`latentzoo.loss_modules`).

Seed question 1 (autoencoders):  :func:`sparse_coding_objective`, :func:`laplace_prior_nll`,
:func:`contractive_penalty`.
Seed question 2 (VAE):           :func:`gaussian_kl`, :func:`negative_elbo`, :func:`iwae_bound`.
Seed question 3 (GAN):           :func:`discriminator_loss`, :func:`generator_loss`,
:func:`gradient_penalty`, :func:`r1_penalty`.
Seed question 4 (SimCLR):        :func:`nt_xent`.

Modules (same values as the functions they wrap): :class:`NTXentLoss` (lightly's call
``loss(out0, out1)`` and value), :class:`ELBOLoss`, :class:`DiscriminatorLoss`,
:class:`GeneratorLoss`, :class:`R1Penalty`, :class:`GradientPenalty`, :class:`SparseCodingLoss`.
"""

from latentzoo.autoencoders.losses import (  # noqa: F401
    contractive_penalty,
    laplace_prior_nll,
    sparse_coding_objective,
)
from latentzoo.gan.losses import (  # noqa: F401
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    r1_penalty,
)
from latentzoo.loss_modules import (  # noqa: F401
    DiscriminatorLoss,
    ELBOLoss,
    GeneratorLoss,
    GradientPenalty,
    NTXentLoss,
    R1Penalty,
    SparseCodingLoss,
)
from latentzoo.simclr.losses import nt_xent  # noqa: F401
from latentzoo.vae.losses import gaussian_kl, iwae_bound, negative_elbo  # noqa: F401

__all__ = [
    "contractive_penalty", "laplace_prior_nll", "sparse_coding_objective",
    "gaussian_kl", "negative_elbo", "iwae_bound",
    "discriminator_loss", "generator_loss", "gradient_penalty", "r1_penalty",
    "nt_xent",
    "NTXentLoss", "ELBOLoss", "DiscriminatorLoss", "GeneratorLoss", "R1Penalty", "GradientPenalty",
    "SparseCodingLoss",
]
