"""latentzoo: learning latent representations without labels.

Four families, one per question of the seed exercise set: constrained autoencoders
(``latentzoo.autoencoders``), the variational autoencoder (``latentzoo.vae``),
generative adversarial networks (``latentzoo.gan``) and SimCLR (``latentzoo.simclr``).
Every loss is re-exported by :mod:`latentzoo.losses`.
"""

__version__ = "0.1.0"
