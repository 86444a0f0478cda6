"""The Python API (``lz.fit``, ``lz.load``, the model classes): every family trained from a NumPy
array, a torch ``Dataset`` and a ``DataLoader`` gives the CLI's metrics; user networks are the
ones trained; ``load`` round-trips; NumPy in → NumPy out; bad arguments get one clear error.

Every run is tiny (1–2 epochs of 64 examples, hidden width 16) so that the file runs in
well under a minute on 2 cores."""

from __future__ import annotations

import copy
import json
import traceback

import numpy as np
import pytest
import torch
from cli_helpers import run_cli
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import latentzoo as lz
from latentzoo.engine import fit as engine_fit

SEED = 3                      # not the default 0: a path that dropped the seed would show
N, D, BATCH = 80, 12, 16      # 64 training examples after the 20% hold-out
TIMINGS = {"train_seconds", "samples_per_second", "eval_seconds", "dataset"}  # 'dataset' names the source
NETS = {"hidden": 16, "depth": 1, "latent_dim": 3, "epochs": 1}
FAMILIES = {   # name → (data: "vectors" (n, 12) in [0, 1] with labels, or "points" (n, 2) without), options
    "linear-ae": ("vectors", {"latent_dim": 3, "epochs": 2}),
    "sparse-coding": ("vectors", {"latent_dim": 6, "epochs": 1}),
    "sparse-ae": ("vectors", NETS),
    "laplace-ae": ("vectors", NETS),
    "denoising-ae": ("vectors", NETS),
    "contractive-ae": ("vectors", NETS),
    "vae": ("vectors", {**NETS, "eval_samples": 20}),
    "gan": ("points", {**NETS, "latent_dim": 2, "epochs": 2}),
    "simclr": ("vectors", {**NETS, "latent_dim": 4}),
}


@pytest.fixture(autouse=True)
def one_thread():
    """2 cores shared by several jobs: one intra-op thread avoids oversubscription (as in tests/autoencoders)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_data(kind: str):
    rng = np.random.default_rng(0)
    if kind == "points":
        return rng.normal(size=(N, 2)).astype(np.float32), None
    return rng.random((N, D)).astype(np.float32), rng.integers(0, 3, N)


def compared(metrics: dict) -> dict:
    """The metrics that are not timings (the GAN's slow-training finding is measured in seconds too)."""
    out = {k: v for k, v in metrics.items() if k not in TIMINGS}
    if "diagnosis" in out:
        out["diagnosis"] = [f for f in out["diagnosis"] if f["name"] != "slow_training"]
    return out


class ItemDataset(torch.utils.data.Dataset):
    """A user's map-style Dataset: items (x, y) as a tensor and an int, or x alone."""

    def __init__(self, x, y=None):
        self.x, self.y = torch.from_numpy(x), y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i] if self.y is None else (self.x[i], int(self.y[i]))


@pytest.fixture(scope="module")
def cli_path_metrics(tmp_path_factory):
    """Metrics of ``latentzoo.engine.fit`` (what ``latentzoo fit`` runs) on an .npz of the same arrays."""
    folder, cache = tmp_path_factory.mktemp("npz"), {}

    def get(family: str) -> dict:
        if family not in cache:
            kind, options = FAMILIES[family]
            x, y = make_data(kind)
            path = folder / f"{kind}.npz"
            np.savez(path, **({"x": x} if y is None else {"x": x, "y": y}))
            cache[family] = engine_fit(family, str(path), None, overrides={**options, "batch_size": BATCH},
                                       seed=SEED, progress=False)
        return cache[family]
    return get


@pytest.mark.parametrize("form", ["array", "dataset", "dataloader"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_python_data_gives_the_cli_metrics(family, form, cli_path_metrics):
    kind, options = FAMILIES[family]
    x, y = make_data(kind)
    if form == "array":
        data, options = (x if y is None else (x, y)), {**options, "batch_size": BATCH}
    elif form == "dataset":
        data, options = ItemDataset(x, y), {**options, "batch_size": BATCH}
    else:  # a TensorDataset's items are tuples of tensors; the DataLoader's batch size is the batch size
        tensors = (torch.from_numpy(x),) if y is None else (torch.from_numpy(x), torch.from_numpy(y))
        data = DataLoader(TensorDataset(*tensors), batch_size=BATCH, shuffle=False)
    model = lz.fit(family, data, seed=SEED, progress=False, **options)
    assert model.metrics["dataset"] == "in-memory data"
    assert model.config.batch_size == BATCH
    assert compared(model.metrics) == compared(cli_path_metrics(family))


def test_a_model_object_trains_like_its_name(cli_path_metrics):
    _, options = FAMILIES["vae"]
    x, y = make_data("vectors")
    model = lz.fit(lz.VAE(**options), (torch.from_numpy(x), torch.from_numpy(y)), seed=SEED, progress=False,
                   batch_size=BATCH)
    assert compared(model.metrics) == compared(cli_path_metrics("vae"))


def test_the_real_cli_writes_the_metrics_of_lz_fit(tmp_path, monkeypatch):
    """One run of the command itself, in a subprocess, against ``lz.fit(..., out=...)``."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    kind, options = FAMILIES["linear-ae"]
    x, y = make_data(kind)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    sets = [a for k, v in {**options, "batch_size": BATCH}.items() for a in ("--set", f"{k}={v}")]
    run_cli("fit", "linear-ae", "--data", tmp_path / "data.npz", "--out", tmp_path / "cli", "--seed", SEED, "--quiet",
            *sets, check=True)
    model = lz.fit("linear-ae", (x, y), out=tmp_path / "api", seed=SEED, progress=False, batch_size=BATCH, **options)
    cli = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    api = json.loads((tmp_path / "api" / "metrics.json").read_text())
    assert api == model.metrics
    assert compared(api).keys() == compared(cli).keys()
    for key, value in compared(cli).items():  # another process: the same numbers up to float32 summation order
        assert api[key] == (pytest.approx(value, rel=1e-5) if isinstance(value, float) else value), key


# ---- the user's networks are the ones trained ------------------------------------------------------------
def changed(before: dict, module: nn.Module) -> bool:
    return all(not torch.equal(before[k], v) for k, v in module.state_dict().items() if v.is_floating_point())


def owns(model: nn.Module, module: nn.Module) -> bool:
    ids = {id(p) for p in model.parameters()}
    return all(id(p) in ids for p in module.parameters())


def mlp(n_in, n_out, hidden=16):
    return nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, n_out))


def test_vae_trains_the_users_encoder_and_decoder():
    x, _ = make_data("vectors")
    encoder, decoder = mlp(D, 2 * 3), mlp(3, D)   # the encoder gives (μ, log σ²)
    before = {"e": copy.deepcopy(encoder.state_dict()), "d": copy.deepcopy(decoder.state_dict())}
    model = lz.fit(lz.VAE(encoder=encoder, decoder=decoder, latent_dim=3, epochs=2, batch_size=BATCH,
                          eval_samples=10), x, progress=False)
    assert model.encoder is encoder and model.decoder is decoder
    assert owns(model, encoder) and owns(model, decoder)
    assert changed(before["e"], encoder) and changed(before["d"], decoder)
    with torch.no_grad():
        mu = encoder(torch.from_numpy(x))[:, :3]
        mean = torch.sigmoid(decoder(mu))   # Bernoulli likelihood (data in [0, 1]): E[x|z] = sigmoid(logits)
    assert np.array_equal(model.embed(x), mu.numpy())
    assert np.allclose(model.reconstruct(x), mean.numpy(), atol=1e-6)


def test_gan_trains_the_users_generator_and_discriminator():
    x, _ = make_data("points")
    generator, discriminator = mlp(2, 2), mlp(2, 1)
    before = {"g": copy.deepcopy(generator.state_dict()), "d": copy.deepcopy(discriminator.state_dict())}
    model = lz.fit(lz.GAN(generator=generator, discriminator=discriminator, latent_dim=2, epochs=2,
                          batch_size=BATCH, pack=1, ema=0.0), x, progress=False)
    assert model.generator is generator and model.discriminator.net is discriminator
    assert owns(model, generator) and owns(model, discriminator)
    assert changed(before["g"], generator) and changed(before["d"], discriminator)
    with torch.no_grad():   # samples are mean + std · G(η), η ~ N(0, I) from the seed
        eta = torch.randn(5, 2, generator=torch.Generator().manual_seed(7))
        expected = model.data_mean + model.data_std * generator(eta)
    assert torch.allclose(model.sample(5, seed=7), expected, atol=1e-6)


def test_simclr_trains_the_users_backbone():
    x, y = make_data("vectors")
    backbone = mlp(D, 8)
    before = copy.deepcopy(backbone.state_dict())
    model = lz.fit(lz.SimCLR(backbone=backbone, representation_dim=8, epochs=1, batch_size=BATCH), (x, y),
                   progress=False)
    assert model.encoder is backbone and owns(model, backbone) and changed(before, backbone)
    assert model.config.latent_dim == 8 and model.metrics["representation_dim"] == 8
    with torch.no_grad():
        assert np.array_equal(model.embed(x), backbone(torch.from_numpy(x)).numpy())


@pytest.mark.parametrize("cls", ["DenoisingAutoencoder", "SparseAutoencoder", "ContractiveAutoencoder"])
def test_network_autoencoder_trains_the_users_encoder_and_decoder(cls):
    x, _ = make_data("vectors")
    encoder, decoder = nn.Sequential(mlp(D, 3), nn.Sigmoid()), mlp(3, D)
    before = {"e": copy.deepcopy(encoder.state_dict()), "d": copy.deepcopy(decoder.state_dict())}
    model = lz.fit(getattr(lz, cls)(encoder=encoder, decoder=decoder, latent_dim=3, epochs=2, batch_size=BATCH),
                   x, progress=False)
    assert model.encoder is encoder and model.decoder is decoder
    assert owns(model, encoder) and owns(model, decoder)
    assert changed(before["e"], encoder) and changed(before["d"], decoder)
    with torch.no_grad():
        codes = model.code_activation(encoder(torch.from_numpy(x)))
        assert np.array_equal(model.embed(x), codes.numpy())
        assert np.array_equal(model.reconstruct(x), decoder(codes).numpy())


def test_an_option_named_like_a_network_stays_an_option():
    """``decoder="linear"`` / ``encoder="network"`` are options of the network autoencoders, not modules."""
    x, _ = make_data("vectors")
    model = lz.fit("denoising-ae", x, decoder="linear", progress=False, **NETS)
    assert model.config.decoder == "linear" and hasattr(model.decoder, "linear")
    assert lz.ContractiveAutoencoder(encoder="network").options == {"encoder": "network"}


# ---- load, NumPy in → NumPy out --------------------------------------------------------------------------
@pytest.fixture
def no_figures(monkeypatch):
    """Run directories without figures and report (matplotlib is most of a tiny run's time); the CLI test
    above writes them."""
    import latentzoo.report

    monkeypatch.setattr(latentzoo.report, "write_report", lambda *a, **k: None)
    for name in ("LinearAutoencoder", "SparseCoding", "SparseAutoencoder", "LaplaceAutoencoder",
                 "DenoisingAutoencoder", "ContractiveAutoencoder", "VAE", "GAN", "SimCLR"):
        monkeypatch.setattr(getattr(lz, name), "figures", lambda self, *a, **k: [])


@pytest.mark.parametrize("family", list(FAMILIES))
def test_load_round_trips_exactly(family, tmp_path, no_figures):
    kind, options = FAMILIES[family]
    x, y = make_data(kind)
    model = lz.fit(family, x if y is None else (x, y), out=tmp_path / "run", seed=SEED, progress=False,
                   batch_size=BATCH, **options)
    loaded = lz.load(tmp_path / "run")
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.metrics == model.metrics
    if model.can_embed:
        assert np.array_equal(loaded.embed(x), model.embed(x))
    if model.can_reconstruct:
        assert np.array_equal(loaded.reconstruct(x), model.reconstruct(x))
    if model.can_sample:
        assert torch.equal(loaded.sample(6, seed=1), model.sample(6, seed=1))


def test_load_with_the_users_networks(tmp_path, no_figures):
    x, _ = make_data("vectors")
    torch.manual_seed(0)
    model = lz.fit(lz.VAE(encoder=mlp(D, 6), decoder=mlp(3, D), latent_dim=3, epochs=1, batch_size=BATCH,
                          eval_samples=10), x, out=tmp_path / "run", progress=False)
    fresh_encoder, fresh_decoder = mlp(D, 6), mlp(3, D)
    loaded = lz.load(tmp_path / "run", encoder=fresh_encoder, decoder=fresh_decoder)
    assert loaded.encoder is fresh_encoder
    assert np.array_equal(loaded.embed(x), model.embed(x))
    assert np.array_equal(loaded.reconstruct(x), model.reconstruct(x))
    with pytest.raises(ValueError, match="weights do not fit"):   # without them: the default networks
        lz.load(tmp_path / "run")


@pytest.fixture(scope="module")
def vae():
    x, _ = make_data("vectors")
    return lz.fit("vae", x, progress=False, batch_size=BATCH, **FAMILIES["vae"][1])


def test_numpy_in_numpy_out_torch_in_torch_out(vae):
    x, _ = make_data("vectors")
    for method in (vae.embed, vae.reconstruct):
        out_np, out_t = method(x), method(torch.from_numpy(x))
        assert type(out_np) is np.ndarray and out_np.dtype == np.float32
        assert isinstance(out_t, torch.Tensor)
        assert np.array_equal(out_np, out_t.numpy())
        assert np.array_equal(method(x.astype(np.float64)), out_np)     # float64 input: same values
        assert np.array_equal(method(x.tolist()), out_np)                # a list is array-like: NumPy out
    assert vae.embed(x).shape == (N, 3) and vae.reconstruct(x).shape == x.shape
    assert vae.embed(x[:0]).shape == (0, 3)


def test_sample_is_reproducible_from_its_seed(vae):
    a, b, c = vae.sample(8, seed=5), vae.sample(8, seed=5), vae.sample(8, seed=6)
    assert a.shape == (8, D) and torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(vae.sample(8), vae.sample(8))     # no seed: fresh noise


# ---- bad arguments: one clear ValueError / TypeError naming the argument ----------------------------------
BAD = [
    ("unknown option", lambda x: lz.fit("vae", x, bogus=1), "bogus"),
    ("unknown option on a class", lambda x: lz.VAE(bogus=1), "bogus"),
    ("negative latent_dim", lambda x: lz.VAE(latent_dim=-1), "latent_dim"),
    ("negative latent_dim in fit", lambda x: lz.fit("linear-ae", x, latent_dim=-2), "latent_dim"),
    ("non-module encoder", lambda x: lz.VAE(encoder="mlp"), "encoder"),
    ("non-module generator", lambda x: lz.GAN(generator=lambda z: z), "generator"),
    ("non-module backbone", lambda x: lz.SimCLR(backbone=np.eye(3)), "backbone"),
    ("data of a wrong type", lambda x: lz.fit("vae", {"x": x}), "data"),
    ("data of strings", lambda x: lz.fit("vae", x.astype(str)), "data"),
    ("data without an example axis", lambda x: lz.fit("vae", x[0]), "data"),
    ("test of a wrong type", lambda x: lz.fit("vae", x, test=3), "test"),
    ("test of another shape", lambda x: lz.fit("vae", x, test=x[:, :5]), "test"),
    ("labels of another length", lambda x: lz.fit("vae", (x, np.zeros(len(x) - 1, dtype=int))), "labels"),
    ("a name with test=", lambda x: lz.fit("vae", "digits", test=x), "test"),
    ("no such path", lambda x: lz.fit("vae", "no/such/file.npz"), "no/such/file.npz"),
    ("model of a wrong type", lambda x: lz.fit(nn.Linear(2, 2), x), "model"),
    ("unknown model", lambda x: lz.fit("no-such-model", x), "no-such-model"),
    ("epochs 0", lambda x: lz.fit("vae", x, epochs=0), "epochs"),
    ("negative seed", lambda x: lz.fit("vae", x, seed=-1), "seed"),
    ("seed not an integer", lambda x: lz.fit("vae", x, seed=1.5), "seed"),
    ("embed before training", lambda x: lz.VAE().embed(x), "lz.fit"),
    ("reconstruct before training", lambda x: lz.LinearAutoencoder().reconstruct(x), "lz.fit"),
    ("load from a number", lambda x: lz.load(3), "run_dir"),
    ("load from no run directory", lambda x: lz.load("no/such/run"), "no/such/run"),
]


@pytest.mark.parametrize("call, fragment", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_arguments_raise_one_clear_error(call, fragment):
    x = make_data("vectors")[0]
    with pytest.raises((ValueError, TypeError)) as info:
        call(x)
    assert_clear(info, fragment)


def assert_clear(info, fragment: str) -> None:
    """A ValueError/TypeError on one line naming ``fragment``, raised by latentzoo, not from deep inside."""
    error, message = info.value, str(info.value)
    assert fragment in message, message
    assert "\n" not in message.strip(), message
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__), repr(error)
    raised_in = traceback.extract_tb(info.tb)[-1].filename
    assert "latentzoo" in raised_in and "site-packages" not in raised_in, raised_in


@pytest.mark.parametrize("call, fragment", [
    (lambda m, x: m.embed(x[:, :5]), "x"),
    (lambda m, x: m.sample(0), "n"),
    (lambda m, x: m.sample(2.5), "n"),
    (lambda m, x: lz.fit(m, x), "already trained"),
], ids=["embed of another shape", "sample 0", "sample 2.5", "fit a trained model again"])
def test_bad_arguments_to_a_trained_model(vae, call, fragment):
    x = make_data("vectors")[0]
    with pytest.raises((ValueError, TypeError)) as info:
        call(vae, x)
    assert_clear(info, fragment)


@pytest.mark.parametrize("call, fragment", [
    (lambda m: m.sample(3), "cannot sample"),
    (lambda m: lz.load(m), "run_dir"),
], ids=["sample from an autoencoder", "load a model object"])
def test_what_a_model_cannot_do(call, fragment):
    model = lz.fit("linear-ae", make_data("vectors")[0], progress=False, batch_size=BATCH,
                   **FAMILIES["linear-ae"][1])
    with pytest.raises((ValueError, TypeError)) as info:
        call(model)
    assert_clear(info, fragment)


def test_evaluate_takes_the_data_fit_takes():
    from sklearn.datasets import load_digits

    x, _ = load_digits(return_X_y=True)
    x = (x[:300] / 16).astype("float32")
    model = lz.fit("linear-ae", x, epochs=2, progress=False)
    assert model.evaluate(x)["test_recon_mse"] == pytest.approx(model.metrics["test_recon_mse"])
    assert model.evaluate(x[::-1].copy())["test_recon_mse"] != pytest.approx(model.metrics["test_recon_mse"])
    with pytest.raises(ValueError, match="not been trained"):
        lz.LinearAutoencoder().evaluate(x)


def test_embed_takes_images_in_the_forms_fit_takes():
    from sklearn.datasets import load_digits

    x = (load_digits().images[:200] * 16).astype("uint8")        # (n, 8, 8) integers 0..255
    model = lz.fit("linear-ae", x, epochs=1, progress=False)
    scaled = (x / 255).astype("float32")[:, None]                # what fit trained on: (n, 1, 8, 8) in [0, 1]
    np.testing.assert_allclose(model.embed(x), model.embed(scaled), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.embed(x[..., None]), model.embed(scaled), rtol=1e-5, atol=1e-6)  # (n, H, W, C)
    with pytest.raises(ValueError, match="shape"):
        model.embed(x[:, :4])
