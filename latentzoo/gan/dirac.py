r"""The Dirac-GAN (Mescheder, Geiger & Nowozin 2018): the smallest analysable GAN.

Data is a point mass at 0, the generator a point mass at θ (one parameter), the discriminator
linear, D(x) = ψ·x. With the seed's objective V(θ, ψ) = F(ψ·0) − F̃(ψθ), the unique equilibrium
is θ = ψ = 0. Near it, for the original GAN, simultaneous or alternating gradient steps rotate
around the equilibrium (the Jacobian's eigenvalues are ±i/2 in the continuous limit), so
training oscillates forever; the R1 penalty (γ/2)ψ² on the discriminator adds damping, and
training converges. With the minimax generator loss and a discriminator that wins
(ψθ → −∞), the generator's gradient σ(ψθ)·ψ vanishes.

:func:`dirac_gan` runs this game with the library's own loss functions and records the same
signals as :class:`latentzoo.gan.model.GAN`, so that :mod:`latentzoo.gan.diagnostics` can be
checked on a case whose behaviour is known in closed form.
"""

from __future__ import annotations

import torch

from latentzoo.gan.losses import discriminator_loss, generator_loss, r1_penalty


def dirac_gan(loss: str = "nonsaturating", steps: int = 2000, lr_d: float = 0.1, lr_g: float = 0.1,
              r1: float = 0.0, theta0: float = 1.0, psi0: float = 0.0, n_critic: int = 1) -> dict:
    r"""Alternating gradient descent on the Dirac-GAN; per-generator-step signals as float lists.

    Per step: ``n_critic`` discriminator steps on −V + (γ/2)·R1 with γ = ``r1``, then one generator
    step on :func:`generator_loss`. Returns ``theta``, ``psi``, ``generator_output`` (= θ),
    ``discriminator_loss``, ``generator_loss``, ``real_logit`` (= 0), ``fake_logit`` (= ψθ), ``generator_grad_norm`` (|∂L_G/∂θ|),
    ``discriminator_grad_norm`` and ``d_win`` (= σ(0 − ψθ)).
    """
    theta = torch.tensor(float(theta0), dtype=torch.float64, requires_grad=True)
    psi = torch.tensor(float(psi0), dtype=torch.float64, requires_grad=True)
    real = torch.zeros(1, 1, dtype=torch.float64)

    def discriminator(x):
        return psi * x.reshape(-1)                       # D(x) = ψ·x

    out = {k: [] for k in ("theta", "psi", "generator_output", "discriminator_loss", "generator_loss", "real_logit", "fake_logit",
                           "generator_grad_norm", "discriminator_grad_norm", "d_win")}
    for _ in range(steps):
        for _ in range(n_critic):
            fake = theta.detach().reshape(1, 1)
            d_loss = discriminator_loss(discriminator(real), discriminator(fake), loss)
            if r1 > 0:
                d_loss = d_loss + 0.5 * r1 * r1_penalty(discriminator, real)   # + (γ/2) E‖∇_y D(y)‖²
            (g_psi,) = torch.autograd.grad(d_loss, psi)
            with torch.no_grad():
                psi -= lr_d * g_psi
        fake_logit = discriminator(theta.reshape(1, 1))
        g_loss = generator_loss(fake_logit, loss)
        (g_theta,) = torch.autograd.grad(g_loss, theta)
        with torch.no_grad():
            theta -= lr_g * g_theta
        t, p = float(theta.detach()), float(psi.detach())
        out["theta"].append(t)
        out["psi"].append(p)
        out["generator_output"].append(t)
        out["discriminator_loss"].append(float(d_loss.detach()))
        out["generator_loss"].append(float(g_loss.detach()))
        out["real_logit"].append(0.0)
        out["fake_logit"].append(p * t)
        out["generator_grad_norm"].append(abs(float(g_theta)))
        out["discriminator_grad_norm"].append(abs(float(g_psi)))
        out["d_win"].append(float(torch.sigmoid(torch.tensor(-p * t))))
    return out
