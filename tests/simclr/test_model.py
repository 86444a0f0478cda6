r"""SimCLR end to end: a short run on MNIST-1D learns a representation worth more than the raw input."""

import math

import pytest
import torch

from latentzoo.config import build_config
from latentzoo.data import load_dataset
from latentzoo.engine import fit, load_run
from latentzoo.errors import UserError
from latentzoo.nets import ResNet18
from latentzoo.probes import knn_acc, linear_probe_acc
from latentzoo.schedules import WarmupCosine
from latentzoo.simclr.losses import nt_xent
from latentzoo.simclr.model import SimCLR


def test_short_fit_on_mnist1d_beats_raw_inputs_and_the_untrained_encoder(tmp_path):
    data = load_dataset("mnist1d")
    small = {"epochs": 2, "hidden": 32, "latent_dim": 64}                # h = 64 pooled CNN features
    metrics = fit("simclr", "mnist1d", tmp_path / "run", overrides=small, seed=0, progress=False)
    # the probe on the untrained encoder of the same seed (the engine seeds before building the model)
    torch.manual_seed(0)
    untrained = SimCLR(build_config(SimCLR, data, small), data)
    before = linear_probe_acc(untrained.embed(data.x_train), data.y_train, untrained.embed(data.x_test), data.y_test)
    assert metrics["linear_probe_acc"] > metrics["linear_probe_acc_raw"] + 0.15
    # a random CNN is already a fair feature extractor on MNIST-1D (≈ 74%); training must add to it
    assert metrics["linear_probe_acc"] > before + 0.02
    assert metrics["test_nt_xent"] < untrained.test_loss(data.x_test) - 0.5
    assert metrics["knn_acc"] > metrics["knn_acc_raw"]
    assert 0 <= metrics["linear_probe_acc_1pct"] <= metrics["linear_probe_acc_10pct"] + 0.05
    # the loss fell, and `embed` of the saved run gives back the h that was probed
    model, data2, _ = load_run(tmp_path / "run")
    h_test = model.embed(data2.x_test)
    assert h_test.shape == (len(data2.x_test), model.config.latent_dim)
    assert knn_acc(model.embed(data2.x_train), data2.y_train, h_test, data2.y_test) == pytest.approx(metrics["knn_acc"])
    figures = {p.name for p in (tmp_path / "run" / "figures").iterdir()}
    assert {"views.png", "curves.png", "representation_pca.png", "probes.png"} <= figures


def test_warmup_then_cosine_schedule():
    f = WarmupCosine(warmup=4, total=14)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == 1.0 and f(9) == pytest.approx(0.5) and f(14) == pytest.approx(0.0, abs=1e-12)
    assert f(6) == pytest.approx(0.5 * (1 + math.cos(math.pi * 2 / 10)))


@pytest.mark.parametrize("optimizer", ["lars", "sgd", "adam"])
def test_each_optimizer_lowers_the_loss_on_digits(optimizer):
    r"""A few steps of each optimizer on one batch of digits, with the views fixed."""
    data = load_dataset("digits")
    lr = {"lars": 1.0, "sgd": 0.05, "adam": 2e-3}[optimizer]
    config = build_config(SimCLR, data, {"optimizer": optimizer, "lr": lr, "warmup_fraction": 0.0, "hidden": 16})
    torch.manual_seed(0)
    model = SimCLR(config, data)
    opts, schedulers = model.configure_optimizers(total_steps=1000)
    opt = opts["main"]
    if optimizer == "lars":
        from pytorch_optimizer import LARS

        assert isinstance(opt, LARS)
    x = data.x_train[:128]
    views = torch.cat([model.augment(x), model.augment(x)])

    def loss():
        z = model.head(model.encoder(views))
        return nt_xent(z[:128], z[128:], config.temperature)

    with torch.no_grad():
        first = float(loss())
    for _ in range(15):
        opt.zero_grad()
        loss().backward()
        opt.step()
        schedulers[0].step()
    with torch.no_grad():
        assert float(loss()) < first - 0.05


def test_resnet18_is_cifar_style_and_trains():
    net = ResNet18(3, None, width=4)
    assert net.features == 32 and net.stem[0].stride == (1, 1)          # 8·width, no stride-2 stem
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 32, 32, generator=g)
    a, b = x + 0.05 * torch.randn(x.shape, generator=g), x + 0.05 * torch.randn(x.shape, generator=g)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(6):
        h = net(torch.cat([a, b]))
        loss = nt_xent(h[:8], h[8:], 0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_impossible_options_are_user_errors():
    signals = load_dataset("mnist1d")
    with pytest.raises(UserError, match="resnet18"):
        build_config(SimCLR, signals, {"encoder": "resnet18"})
    with pytest.raises(UserError, match="batch_size"):
        build_config(SimCLR, signals, {"batch_size": 1})
    with pytest.raises(UserError, match="unknown option"):
        build_config(SimCLR, signals, {"temprature": 0.1})
    with pytest.raises(UserError, match="odd side"):
        build_config(SimCLR, load_dataset("digits"), {"blur_kernel": 4})
    points = load_dataset("ring8")
    with pytest.raises(UserError, match="encoder=cnn"):
        build_config(SimCLR, points, {"encoder": "cnn"})


def test_h_bn_relu_takes_h_after_batch_norm_and_relu_and_is_the_28x28_recipe():
    r"""``h_bn_relu``: h = ReLU(BN(f₀(x))) with f₀ the built-in CNN (its linear output), the batch's mean and
    biased variance in training; the recipe turns it on for 28×28 images only, and a run saved without it
    (the former default) keeps its keys."""
    from latentzoo.data import Dataset

    x = torch.rand(64, 1, 28, 28)
    fmnist_like = Dataset("tiny28", "image", x[:48], x[48:], torch.arange(48) % 4, torch.arange(16) % 4)
    config = build_config(SimCLR, fmnist_like, {"latent_dim": 16, "hidden": 8})
    assert config.h_bn_relu and not build_config(SimCLR, load_dataset("digits")).h_bn_relu
    torch.manual_seed(0)
    model = SimCLR(config, fmnist_like)
    f0, norm = model.encoder[0], model.encoder[1]
    model.train()
    a = f0(x)                                                                   # f₀(x), linear output
    expected = torch.relu((a - a.mean(0)) / torch.sqrt(a.var(0, unbiased=False) + 1e-5))   # γ = 1, β = 0
    torch.testing.assert_close(model.encoder(x), expected, rtol=1e-5, atol=1e-5)
    assert isinstance(f0.out, torch.nn.Linear) and norm.num_features == 16
    off = SimCLR(build_config(SimCLR, fmnist_like, {"latent_dim": 16, "hidden": 8, "h_bn_relu": False}), fmnist_like)
    assert any(k.startswith("encoder.out.") for k in off.state_dict())           # the former keys
    assert any(k.startswith("encoder.0.out.") for k in model.state_dict())
    # in eval mode (embed) BN uses its running statistics: h = ReLU(γ (f₀(x) − μ̂)/√(σ̂² + ε) + β) ≥ 0
    h = model.embed(x)
    assert (h >= 0).all() and (h == 0).any() and (h > 0).any()


def test_head_is_the_seeds_g_and_head_norm_adds_batch_norm_on_w1h():
    r"""g(h) = W₂ ReLU(W₁ h) by default (the seed's head; the saved keys of earlier runs stay valid);
    ``head_norm`` gives g(h) = W₂ ReLU(BN(W₁ h)) with the batch's mean and biased variance in training."""
    data = load_dataset("digits")
    torch.manual_seed(0)
    h = torch.randn(32, 16) * 3 + 1
    for norm in (False, True):
        model = SimCLR(build_config(SimCLR, data, {"latent_dim": 16, "proj_dim": 8, "head_norm": norm}), data)
        w1, w2 = model.head[0].weight, model.head[-1].weight
        a = h @ w1.T                                                           # W₁ h
        if norm:
            a = (a - a.mean(0)) / torch.sqrt(a.var(0, unbiased=False) + 1e-5)   # BN, γ = 1, β = 0 at start
        expected = torch.relu(a) @ w2.T                                        # W₂ ReLU(·)
        model.head.train()
        torch.testing.assert_close(model.head(h), expected, rtol=1e-5, atol=1e-5)
        keys = set(model.head.state_dict())
        assert {"0.weight", ("3" if norm else "2") + ".weight"} <= keys
        assert any(k.startswith("1.running_mean") for k in keys) == norm
