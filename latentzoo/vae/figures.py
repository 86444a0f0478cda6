r"""The VAE's figures: what the trained model generates, reconstructs and encodes."""

from __future__ import annotations

from pathlib import Path

import torch

from latentzoo import plots
from latentzoo.model import evaluating
from latentzoo.vae.losses import gaussian_kl


@torch.no_grad()
def vae_figures(model, data, history: list[dict], figure_dir: Path, seed: int = 0) -> list[Path]:
    r"""Write the six figures of a trained :class:`~latentzoo.vae.model.VAE` and return their paths.

    * ``samples.png``         decoder means at z ∼ N(0, I);
    * ``reconstructions.png`` test inputs above E[x|z = μ(x)];
    * ``interpolation.png``   decoder means along z = (1−t)·μ(x_a) + t·μ(x_b), t ∈ [0, 1], for test pairs;
    * ``traversal.png``       one latent dimension swept over [−3, 3], the others at 0 (the prior mean),
                              for the dimensions with the largest KL (the active units);
    * ``latent.png``          test means μ(x) coloured by label (first two principal components when latent > 2);
    """
    device = model.device
    kind, shape = data.kind, data.shape
    g = torch.Generator(device=device).manual_seed(seed)
    x = data.x_test.to(device)
    paths = []
    with evaluating(model):
        mu, logvar = model.encode(x)

        paths.append(_samples_figure(model, x, kind, shape, g, figure_dir))

        # reconstructions at the posterior mean
        k = 10
        recon = model.mean_of(model.decode(mu[:k])).reshape(-1, *shape)
        paths.append(plots.examples_figure([x[:k], recon], ["input", "reconstruction"], kind, shape,
                                           figure_dir / "reconstructions.png",
                                           title="test inputs and E[x|z = mu(x)]"))

        # interpolation between pairs of test examples
        t = torch.linspace(0, 1, 10, device=device)[:, None]
        pairs = [(0, 1), (2, 3), (4, 5)] if len(x) >= 6 else [(0, len(x) - 1)]
        rows = [model.mean_of(model.decode((1 - t) * mu[a] + t * mu[b])).reshape(-1, *shape) for a, b in pairs]
        paths.append(plots.sequences_figure(rows, [f"test {a} -> test {b}" for a, b in pairs], kind, shape,
                                            figure_dir / "interpolation.png",
                                            title="interpolation z = (1-t) mu(a) + t mu(b)"))

        paths.append(_traversal_figure(model, mu, logvar, kind, shape, figure_dir))

        paths.append(_latent_figure(mu, data, figure_dir))
    return paths


def _samples_figure(model, x, kind, shape, g, figure_dir: Path) -> Path:
    """Decoder means at z ∼ N(0, I), drawn as the data's kind allows."""
    n = 64 if kind == "image" else 200 if kind == "points" else 8
    samples = model.sample(n, generator=g)
    pictures = plots.as_images(samples, kind, shape)
    if pictures is not None:
        return plots.image_grid(pictures, figure_dir / "samples.png", title="samples: E[x|z], z ~ N(0, I)")
    if kind == "points":
        return plots.examples_figure([x[:n], samples], ["test data", "samples"], kind, shape,
                                     figure_dir / "samples.png", title="samples: E[x|z], z ~ N(0, I)")
    return plots.sequences_figure([samples], ["E[x|z], z ~ N(0, I)"], kind, shape, figure_dir / "samples.png",
                                  title="samples from the prior")


def _traversal_figure(model, mu, logvar, kind, shape, figure_dir: Path) -> Path:
    """The most active latent dimensions (largest KL) swept over [−3, 3], the others at 0."""
    latent, device = mu.shape[1], mu.device
    kl_per_dim = gaussian_kl(mu[..., None], logvar[..., None]).mean(dim=0)  # (latent,)
    dims = kl_per_dim.argsort(descending=True)[:10].tolist()
    values = torch.linspace(-3, 3, 9, device=device)
    rows = []
    for d in dims:
        z = torch.zeros(len(values), latent, device=device)
        z[:, d] = values
        rows.append(model.mean_of(model.decode(z)).reshape(-1, *shape))
    return plots.sequences_figure(rows, [f"z{d} (KL {kl_per_dim[d]:.2f})" for d in dims], kind, shape,
                                  figure_dir / "traversal.png", title="traversal: z_d from -3 to 3, other dims 0")


def _latent_figure(mu, data, figure_dir: Path) -> Path:
    """Test means μ(x) coloured by label (their first two principal components when latent > 2)."""
    m, latent = mu.double(), mu.shape[1]
    if latent > 2:
        m = m - m.mean(dim=0)
        _, _, v = torch.linalg.svd(m, full_matrices=False)
        points, title = m @ v[:2].T, "test means mu(x), first 2 principal components"
    elif latent == 2:
        points, title = m, "test means mu(x)"
    else:
        points, title = torch.cat([m, torch.zeros_like(m)], dim=1), "test means mu(x) (1-D)"
    labels = None if data.y_test is None else data.y_test.numpy()
    return plots.scatter_2d(points.cpu().numpy(), labels, figure_dir / "latent.png", title=title)
