r"""The cells of ``bench_fmnist.py`` whose other side needs no peer library: the GAN against a plain
DCGAN loop, the linear autoencoder against scikit-learn's PCA, sparse coding against
``MiniBatchDictionaryLearning``. Both sides run in the same process, one after the other."""

from __future__ import annotations

import time

import torch
from fmnist_workers import config_for, load


# ---- GAN ------------------------------------------------------------------------------------
def plain_dcgan(generator, discriminator, data, latent_dim: int, batch_size: int, seconds: float) -> dict:
    """The training loop of the PyTorch DCGAN example (BCE, Adam(2e-4, betas (0.5, 0.999)), D step on real
    and fake, then G step with real labels), on the given networks, until ``seconds`` are spent."""
    criterion = torch.nn.BCEWithLogitsLoss()                  # the example's Sigmoid + BCELoss, in one stable op
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x_all, steps, tic = data.x_train, 0, time.perf_counter()
    while time.perf_counter() - tic < seconds:
        perm = torch.randperm(len(x_all))
        for i in range(0, len(perm) - batch_size + 1, batch_size):
            real = x_all[perm[i:i + batch_size]]
            ones, zeros = torch.ones(batch_size), torch.zeros(batch_size)
            discriminator.zero_grad()                         # (1) maximise log D(x) + log(1 − D(G(z)))
            loss_real = criterion(discriminator(real).reshape(-1), ones)
            loss_real.backward()
            fake = generator(torch.randn(batch_size, latent_dim))
            loss_fake = criterion(discriminator(fake.detach()).reshape(-1), zeros)
            loss_fake.backward()
            opt_d.step()
            generator.zero_grad()                             # (2) maximise log D(G(z))
            criterion(discriminator(fake).reshape(-1), ones).backward()
            opt_g.step()
            steps += 1
            if time.perf_counter() - tic >= seconds:
                break
    return {"train_seconds": time.perf_counter() - tic, "steps": steps}


def frechet(fake: torch.Tensor, data) -> float:
    """Fréchet distance of ``fake`` to the test split, in the feature space latentzoo's GAN evaluation uses
    (its classifier trained on the data's labels), by latentzoo's own function."""
    from latentzoo.gan import metrics

    features, _ = metrics.resolve_feature_extractor(None, data)
    return metrics.feature_metrics(data.x_test, fake, features)["frechet_distance"]


def grid(fake: torch.Tensor, data, folder: str | None, name: str) -> str | None:
    """An 8×8 grid of the first 64 samples, as ``folder/name`` (when a folder is given)."""
    if not folder:
        return None
    from pathlib import Path

    from latentzoo.plots import as_images, image_grid

    Path(folder).mkdir(parents=True, exist_ok=True)
    return str(image_grid(as_images(fake[:64], data.kind, tuple(data.shape)), Path(folder) / name, title=name))


def gan(spec: dict) -> dict:
    """Ours: ``lz.fit("gan", data, max_time=...)`` (its EMA generator samples); the plain loop: the same
    networks, freshly initialised, the same budget and batch size. Timers: training loop only."""
    import latentzoo as lz

    data, seed = load(spec), spec.get("seed", 0)
    torch.manual_seed(seed)
    ours = lz.fit("gan", data, max_time=f"{spec['seconds']}s", progress=False, seed=seed, **spec.get("overrides", {}))
    m = ours.metrics
    n, tag = len(data.x_test), f"{spec['seconds'] / 60:.3g}min"
    fake_ours = ours.sample(n, generator=torch.Generator().manual_seed(1))
    fd_ours = frechet(fake_ours, data)
    cls, c = config_for("gan", data, spec.get("overrides", {}))
    torch.manual_seed(seed)
    fresh = cls(c, data)
    generator, discriminator = fresh.generator, fresh.discriminator.net
    plain = plain_dcgan(generator, discriminator, data, c.latent_dim, c.batch_size, spec["seconds"])
    generator.eval()
    with torch.no_grad():
        fake_plain = generator(torch.randn(n, c.latent_dim, generator=torch.Generator().manual_seed(1)))
    fd_plain = frechet(fake_plain, data)
    return {"ours": {"fd": fd_ours, "train_seconds": m["train_seconds"], "steps": m.get("steps"),
                     "fd_own_metric": m.get("frechet_distance"),
                     "grid": grid(fake_ours, data, spec.get("figures"), f"gan-latentzoo-{tag}.png")},
            "plain": {"fd": fd_plain, **plain, "grid": grid(fake_plain, data, spec.get("figures"),
                                                            f"gan-plain-dcgan-{tag}.png")},
            "batch_size": c.batch_size, "torch": torch.__version__}


# ---- linear AE vs PCA -----------------------------------------------------------------------
def linear(spec: dict) -> dict:
    """Ours: ``lz.fit("linear-ae", ...)`` (timer: training loop, and the whole call); PCA: ``PCA.fit`` (whole
    call). Test error of both: mean over test examples of ‖x − x̂‖² on the same flattened 784-d data."""
    from sklearn.decomposition import PCA

    import latentzoo as lz

    data, k = load(spec), spec["k"]
    tic = time.perf_counter()
    ours = lz.fit("linear-ae", data, progress=False, latent_dim=k, seed=spec.get("seed", 0),
                  **spec.get("overrides", {}))
    whole = time.perf_counter() - tic
    x_train = data.x_train.reshape(len(data.x_train), -1).numpy()
    x_test = data.x_test.reshape(len(data.x_test), -1)
    tic = time.perf_counter()
    pca = PCA(n_components=k, random_state=0).fit(x_train)
    pca_seconds = time.perf_counter() - tic
    recon = torch.from_numpy(pca.inverse_transform(pca.transform(x_test.numpy())))
    ours_recon = torch.as_tensor(ours.reconstruct(data.x_test)).reshape(len(x_test), -1)
    def err(r):
        return (float(((x_test.double() - r.double()) ** 2).sum(1).mean()))
    return {"ours": {"test_error": err(ours_recon), "train_seconds": ours.metrics["train_seconds"],
                     "whole_seconds": whole},
            "pca": {"test_error": err(recon), "whole_seconds": pca_seconds}, "k": k}


# ---- sparse coding vs MiniBatchDictionaryLearning -------------------------------------------
def sparse(spec: dict) -> dict:
    r"""Both learners fed the same shuffled batches of 256 for ``seconds`` (bench_sparse_coding.learn_for:
    training loop only); each dictionary then scored on the same test data by ½‖x − uD‖² + λ‖u‖₁ per example
    (scikit-learn's objective with α = λ; latentzoo's ‖x − uD‖² + λ'‖u‖₁ with λ' = 2λ, halved)."""
    from bench_sparse_coding import learn_for, per_example_objective

    data = load(spec)
    cls, c = config_for("sparse-coding", data, {})
    model = cls(c, data)
    model.on_train_start(data)                      # the contrast normalisation's ε from the training split
    x = model.preprocess(data.x_train.reshape(len(data.x_train), -1))
    x_test = model.preprocess(data.x_test.reshape(len(data.x_test), -1))
    lam2, atoms = 2 * spec["lam"], spec.get("atoms", c.latent_dim)
    out = {"atoms": atoms, "lam": spec["lam"]}
    for which in ("sklearn", "ours"):
        dictionary, steps, seconds = learn_for(spec["seconds"], x, atoms, lam2, spec.get("seed", 0), which)
        out[which] = {"objective": 0.5 * per_example_objective(x_test, dictionary, lam2), "steps": steps,
                      "train_seconds": seconds}
    out["sparsity_note"] = "codes by latentzoo.sparse_encode to a relative gap of 1e-6 for both dictionaries"
    return out


WORKERS = {"gan": gan, "linear": linear, "sparse": sparse}
