r"""Seed question 4: SimCLR (Chen et al. 2020), a simple framework for contrastive learning.

For a batch x of N examples:

* two views      x̃_i = t(x), x̃_j = t′(x),  t, t′ ∼ T drawn independently per example
                 (:mod:`latentzoo.simclr.augment`);
* base encoder   h = f(x̃)  — a CIFAR-style ResNet-18 for 32×32 (and larger) images, a small
                 CNN for small images such as 8×8 digits, a 1-D CNN for signals, an MLP
                 for vectors (``encoder=auto`` picks by data kind); with ``h_bn_relu`` (the
                 recipe for 28×28) h = ReLU(BN(f₀(x̃))) of that network's linear output f₀;
* head           z = g(h) = W₂ ReLU(W₁ h), as in the seed (no biases), z ∈ R^proj_dim;
* loss           L = NT-Xent(z_i, z_j; τ) (:func:`latentzoo.simclr.losses.nt_xent`), the mean
                 over the 2N views; under several processes the z of every rank are gathered
                 with gradients, so the negatives are the whole global batch.

Optimisation: LARS (``pytorch_optimizer.LARS``: layer-wise trust ratio and weight decay on
weight matrices, none on biases and norms), Adam or SGD with momentum; the learning rate
rises linearly from 0 over the first ``warmup_fraction`` of the steps, then follows a cosine
decay to 0 (one scheduler step per optimizer step).

After training g is discarded: :meth:`SimCLR.embed` returns h. The evaluation fits probes
on the frozen h of the training split and scores them on the test split
(:mod:`latentzoo.probes`), beside the same probes on the raw inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from latentzoo import distributed
from latentzoo.errors import UserError
from latentzoo.model import LatentModel, ModelConfig, adam, evaluating
from latentzoo.nets import backbone_for
from latentzoo.probes import few_label_probe_acc, knn_acc, knn_k, linear_probe_acc, raw_baselines
from latentzoo.schedules import WarmupCosine
from latentzoo.simclr.augment import Augment
from latentzoo.simclr.losses import nt_xent
from latentzoo.spec import Figure, Metric


class SimCLRConfig(ModelConfig):
    """Options of SimCLR (``--set key=value``); the shared ones are in :class:`ModelConfig`.

    ``latent_dim`` is the size of the representation h, ``hidden`` the encoder's width
    (channels of the first stage of a CNN or ResNet, units of an MLP).
    """

    temperature: float = Field(0.5, gt=0, description="NT-Xent temperature tau")
    optimizer: Literal["lars", "adam", "sgd"] = Field("adam", description="lars, adam or sgd (momentum)")
    momentum: float = Field(0.9, ge=0, lt=1, description="momentum of lars and sgd")
    warmup_fraction: float = Field(0.1, ge=0, lt=1, description="fraction of the steps with a linear warm-up")
    proj_dim: int = Field(128, gt=0, description="size of z = g(h), the head's output")
    proj_hidden: int | None = Field(None, gt=0, description="width of the head's hidden layer (default latent_dim)")
    head_norm: bool = Field(False, description="batch norm on W₁h in the head, g(h) = W₂ ReLU(BN(W₁h)), as in "
                                               "SimCLR's published code (off: the seed's g)")
    encoder: Literal["auto", "resnet18", "cnn", "mlp"] = Field(
        "auto", description="base encoder f: auto picks by data kind and size")
    crop_min: float | None = Field(None, gt=0, le=1, description="smallest crop (area or length fraction)")
    flip: float | None = Field(None, ge=0, le=1, description="probability of a horizontal flip (images)")
    noise: float | None = Field(None, ge=0, description="additive noise, relative to the data's spread")
    erase: float | None = Field(None, ge=0, le=1, description="probability of random erasing (images)")
    jitter: float | None = Field(None, ge=0, description="colour jitter strength (images, p 0.8): brightness and "
                                                         "contrast, and for colour images saturation and hue/4")
    h_bn_relu: bool = Field(False, description="h = ReLU(BN(f₀(x))): the built-in encoder's linear output f₀(x) "
                                               "through batch norm and ReLU (the recipe for 28×28 images)")
    blur_kernel: int | None = Field(None, ge=3, description="side of the Gaussian blur's kernel (odd; default about "
                                                            "10% of the image side, at least 3)")


class SimCLR(LatentModel):
    r"""SimCLR: augmentations T, encoder f, head g, NT-Xent; the representation is h = f(x)."""

    name = "simclr"
    Config = SimCLRConfig
    METRICS = (
        Metric("linear_probe_acc", "test accuracy of a linear classifier on the representation h", "", "higher",
               headline=True),
        Metric("linear_probe_acc_raw", "the same linear probe on the raw inputs (baseline)", "", "higher",
               headline=True),
        Metric("knn_acc", "test accuracy of k-nearest neighbours on h", "", "higher", headline=True),
        Metric("knn_acc_raw", "the same k-NN on the raw inputs (baseline)", "", "higher", headline=True),
        Metric("linear_probe_acc_1pct", "linear probe on h trained with 1% of the labels", "", "higher"),
        Metric("linear_probe_acc_10pct", "linear probe on h trained with 10% of the labels", "", "higher"),
        Metric("linear_probe_acc_raw_1pct", "the 1%-label probe on raw inputs", "", "higher"),
        Metric("linear_probe_acc_raw_10pct", "the 10%-label probe on raw inputs", "", "higher"),
        Metric("knn_k", "neighbours k of the k-NN probe"),
        Metric("test_nt_xent", "NT-Xent on held-out pairs with fixed augmentations", "", "lower"),
        Metric("temperature", "NT-Xent temperature τ"),
        Metric("representation_dim", "dimension of h = f(x)"),
        Metric("final_train_loss", "NT-Xent of the last training epoch", "", "lower"),
    )
    FIGURES = (
        Figure("representation_pca.png", "latent", "h = f(x) of test examples, first two principal components",
               card=True),
        Figure("views.png", "augmentations", "pairs of augmented views t(x), t′(x)"),
        Figure("probes.png", "probes", "probe accuracy on h against raw inputs"),
    )

    networks = ("backbone",)

    def __init__(self, config: SimCLRConfig | None = None, data=None, /, *, representation_dim: int | None = None,
                 **options):
        r"""``backbone=`` a user's base encoder f mapping (n, *shape) to h ∈ R^representation_dim (the head g
        is still built here); ``representation_dim`` is another name for ``latent_dim``."""
        if representation_dim is not None:
            options["latent_dim"] = representation_dim
        super().__init__(config, data, **options)

    def setup(self, config: SimCLRConfig, data):
        c = config
        self.augment = Augment.for_data(data.kind, data.shape, crop_min=c.crop_min, flip=c.flip, noise=c.noise,
                                        erase=c.erase, jitter=c.jitter, blur_kernel=c.blur_kernel)
        self.encoder = self.network("backbone", lambda: backbone_for(
            self.encoder_kind(c, data.kind, data.shape), data.kind, data.shape, c.latent_dim, c.hidden, c.depth,
            bn_relu=c.h_bn_relu))                                    # h = f(x) (= ReLU(BN(f₀(x))) if h_bn_relu)
        width = c.proj_hidden or c.latent_dim
        norm = [nn.BatchNorm1d(width)] if c.head_norm else []
        self.head = nn.Sequential(                                  # z = W₂ ReLU(W₁ h)  (or W₂ ReLU(BN(W₁ h)))
            nn.Linear(c.latent_dim, width, bias=False), *norm, nn.ReLU(), nn.Linear(width, c.proj_dim, bias=False))

    # ---- configuration -------------------------------------------------------------------
    @staticmethod
    def encoder_kind(config: SimCLRConfig, kind: str, shape: tuple[int, ...]) -> str:
        if config.encoder != "auto":
            return config.encoder
        if kind == "image":
            return "resnet18" if min(shape[1:]) >= 32 else "cnn"
        return "cnn" if kind == "signal" else "mlp"

    @classmethod
    def recipe(cls, data) -> dict:
        if data.kind == "image" and min(data.shape[1:]) >= 32:
            # CIFAR-style: ResNet-18 (h ∈ R^512), LARS, large batches
            return {"epochs": 100, "batch_size": 512, "optimizer": "lars", "lr": 1.2, "weight_decay": 1e-6,
                    "latent_dim": 512, "hidden": 64, "temperature": 0.5}
        if data.kind == "image" and min(data.shape[1:]) >= 16:
            # 28×28 (Fashion-MNIST, MNIST), chosen by measurement for a 15-minute budget on 2 CPU cores
            # (benchmarks/RESULTS.md, "SimCLR recipe for 28×28"). 4 epochs each on Fashion-MNIST, linear
            # probe on h: the former recipe (noise + erasing, h ∈ R^128) 0.854 (kNN 0.766); brightness and
            # contrast jitter 0.8 instead of noise and erasing (augment.GREY_MEDIUM) 0.866 (kNN 0.834); the
            # same in bf16-mixed (precision="auto" on an AMX CPU, 1.4–1.6× the samples/s) 0.870; and
            # h ∈ R^512 0.886 (7% fewer samples/s). Batch 256: 510 negatives per view at CPU speed; Adam
            # 2e-3 with warm-up and cosine decay, τ = 0.2, as for digits. With --max-time the schedule is
            # planned for the budget whatever the epochs. (h never wider than the training split is long.)
            # h taken after batch norm and ReLU (h_bn_relu), at the same cost: 2 epochs, probe on h 0.885
            # against 0.873 for the CNN's linear output; 15 min from the command line 0.894 against 0.884.
            return {"epochs": 20, "batch_size": 256, "optimizer": "adam", "lr": 2e-3, "weight_decay": 1e-6,
                    "latent_dim": min(512, len(data.x_train)), "hidden": 64, "temperature": 0.2,
                    "h_bn_relu": True}
        if data.kind == "image":
            return {"epochs": 60, "batch_size": 256, "optimizer": "adam", "lr": 2e-3, "weight_decay": 1e-6,
                    "latent_dim": 128, "hidden": 64, "temperature": 0.2}
        if data.kind == "signal":
            # h = the 2·hidden pooled features of the 1-D CNN (no extra linear layer); 250 epochs: the
            # probe still gains between 100 and 250 (benchmarks/RESULTS.md, SimCLR section)
            return {"epochs": 250, "batch_size": 256, "optimizer": "adam", "lr": 2e-3, "weight_decay": 1e-6,
                    "latent_dim": 128, "hidden": 64, "temperature": 0.1}
        return {"epochs": 50, "batch_size": 256, "optimizer": "adam", "lr": 1e-3, "weight_decay": 1e-6,
                "latent_dim": 64, "hidden": 256, "depth": 2, "temperature": 0.2}

    @classmethod
    def prefers_bf16(cls, config: SimCLRConfig, data) -> bool:
        # The CNN on 28×28 grey images: 1.6× the samples/s in bf16-mixed on an AMX CPU (benchmarks/RESULTS.md)
        return (data.kind == "image" and min(data.shape[1:]) >= 16
                and cls.encoder_kind(config, data.kind, data.shape) in ("cnn", "resnet18"))

    @classmethod
    def check(cls, config: SimCLRConfig, data) -> None:
        kind = cls.encoder_kind(config, data.kind, data.shape)
        if kind in ("resnet18", "cnn") and data.kind not in ("image", "signal"):
            raise UserError(f"encoder={kind} needs images or signals, but {data.name} holds {data.kind} data; "
                            "use encoder=mlp")
        if kind == "resnet18" and data.kind != "image":
            raise UserError(f"encoder=resnet18 needs images, but {data.name} holds {data.kind} data")
        if len(data.x_train) < 2:
            raise UserError(f"SimCLR needs at least 2 training examples (negatives), {data.name} has "
                            f"{len(data.x_train)}")
        if config.blur_kernel is not None and config.blur_kernel % 2 == 0:
            raise UserError(f"blur_kernel={config.blur_kernel}: the blur's kernel needs an odd side (3, 5, 7, …)")
        if config.batch_size < 2:
            raise UserError("SimCLR needs batch_size >= 2: the other examples of the batch are the negatives")

    # ---- training ------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, phase: str = "main") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n = x.shape[0]
        # x̃_i = t(x), x̃_j = t′(x), with t, t′ drawn for the global batch (and its batch statistics) as
        # one process draws them: every rank augments the gathered batch and keeps its own rows.
        xg = distributed.gather(x)
        views = torch.cat([distributed.local(self.augment(xg)), distributed.local(self.augment(xg))])
        h = self.encoder(views)                                      # h = f(x̃)
        z = distributed.upcast(self.head(h))                         # z = g(h) = W₂ ReLU(W₁ h), float32
        loss = nt_xent(z[:n], z[n:], self.config.temperature, gather_distributed=distributed.is_distributed())
        with torch.no_grad():
            u = nn.functional.normalize(z.detach(), dim=1)
            positive = (u[:n] * u[n:]).sum(1).mean()                # mean cos(z_i, z_j) of the positives
        return loss, {"positive_cosine": positive}

    def configure_optimizers(self, total_steps: int) -> tuple[dict, list]:
        c = self.config
        if c.optimizer == "lars":
            from pytorch_optimizer import LARS

            opt = LARS(self.parameters(), lr=c.lr, weight_decay=c.weight_decay, momentum=c.momentum)
        elif c.optimizer == "sgd":
            opt = torch.optim.SGD(self.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        else:
            opt = adam(self.parameters(), c.lr, c.weight_decay, self.device)
        warmup = round(c.warmup_fraction * total_steps)
        return {"main": opt}, [torch.optim.lr_scheduler.LambdaLR(opt, WarmupCosine(warmup, total_steps))]

    # ---- use after training --------------------------------------------------------------
    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        r"""h = f(x), the representation (g discarded)."""
        return self.encoder(x).float()

    @torch.no_grad()
    def test_loss(self, x: torch.Tensor, seed: int = 0, batch_size: int = 512) -> float:
        r"""Mean NT-Xent on batches of held-out examples with fixed augmentations (eval mode)."""
        rng = torch.get_rng_state()
        torch.manual_seed(seed)
        total, count = 0.0, 0
        try:
            with evaluating(self):
                for s in range(0, len(x) - 1, batch_size):
                    xb = x[s:s + batch_size].to(self.device)
                    if len(xb) < 2:
                        break
                    z = self.head(self.encoder(torch.cat([self.augment(xb), self.augment(xb)])))
                    total += float(nt_xent(z[:len(xb)], z[len(xb):], self.config.temperature)) * len(xb)
                    count += len(xb)
        finally:
            torch.set_rng_state(rng)
        return total / max(count, 1)

    def evaluate(self, data, history: list[dict]) -> dict:
        h_train, h_test = self.embed(data.x_train), self.embed(data.x_test)
        metrics = {"test_nt_xent": self.test_loss(data.x_test), "temperature": self.config.temperature,
                   "representation_dim": int(h_train.shape[1])}
        if history:
            metrics["final_train_loss"] = history[-1].get("loss")
        if data.y_train is None or data.y_test is None:
            metrics.update({"linear_probe_acc": None, "knn_acc": None, "linear_probe_acc_raw": None,
                            "knn_acc_raw": None, "probes": f"not computed: {data.name} has no labels"})
            self.last_metrics = metrics
            return metrics
        yt, ys = data.y_train, data.y_test
        metrics.update({
            "linear_probe_acc": linear_probe_acc(h_train, yt, h_test, ys),
            "knn_acc": knn_acc(h_train, yt, h_test, ys),
            "linear_probe_acc_1pct": few_label_probe_acc(h_train, yt, h_test, ys, 0.01),
            "linear_probe_acc_10pct": few_label_probe_acc(h_train, yt, h_test, ys, 0.10),
            "knn_k": knn_k(yt),
            **raw_baselines(data),                                   # cached per dataset
        })
        self.last_metrics = metrics                                  # reused by figures()
        return metrics

    def figures(self, data, history: list[dict], figure_dir: Path) -> list[Path]:
        from latentzoo.simclr.figures import simclr_figures

        return simclr_figures(self, data, history, Path(figure_dir))
