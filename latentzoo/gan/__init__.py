"""Seed question 3: generative adversarial networks.

* :mod:`latentzoo.gan.losses`       the objective min_G max_D E F(D(y)) − E F̃(D(G(η))) for five (F, F̃)
                                    and the WGAN-GP / R1 penalties;
* :mod:`latentzoo.gan.model`        the ``gan`` model: MLP or DCGAN players, remedies, default recipes;
* :mod:`latentzoo.gan.metrics`      PacGAN mode metrics, Fréchet distance, k-NN precision/recall;
* :mod:`latentzoo.gan.diagnostics`  the four training problems of the seed, detected from cheap signals;
* :mod:`latentzoo.gan.dirac`        the Dirac-GAN, the analysable case the detectors are tested on;
* :mod:`latentzoo.gan.figures`      samples over training, losses, gradient norms, diagnosis panel.
"""
