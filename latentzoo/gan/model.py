r"""Seed question 3: the generative adversarial network, with the seed's general objective

.. math:: \min_{\tilde w}\max_{w}\ \mathbb{E}_{y\sim P_{real}} F(D(y; w)) - \mathbb{E}_{\eta\sim N(0, I)}\tilde F(D(G(\eta;\tilde w); w))

(F, F̃ chosen by ``loss``; see :mod:`latentzoo.gan.losses`), the remedies for its known training
problems, and the diagnosis of those problems while it trains.

Networks: for points, vectors and signals, MLPs (``depth`` hidden layers of width ``hidden``;
ReLU in G, LeakyReLU(0.2) in D); for images, DCGAN-style convolutions (G: linear map then two
stride-2 transposed convolutions with batch norm, sigmoid output in [0, 1]; D: two stride-2
convolutions without batch norm, which would break the gradient penalties). η ∈ R^latent_dim.

Per step (phases ``discriminator`` then ``generator``; the generator steps once every
``n_critic`` steps):

* discriminator: −V on a real batch y and a fresh fake batch G(η) (detached), plus
  ``gp`` · E(‖∇D(x̂)‖ − 1)² (WGAN-GP) and (``r1``/2) · E‖∇_y D(y)‖² (R1);
* generator: :func:`~latentzoo.gan.losses.generator_loss` on D(G(η)).

Progressive growing (``progressive=true``, images; :mod:`latentzoo.gan.progressive`): G and D
grow from 4×4 to the full resolution, ``progressive_stages`` epochs per resolution, new layers
faded in; ``channels_last=true`` puts the image networks in that memory format.

Remedies (all ``--set`` keys): the loss (non-saturating, Wasserstein, hinge, least-squares),
``n_critic``, ``lr_g``/``lr_d`` (TTUR), ``gp``, ``r1``, ``spectral_norm`` on every layer of D,
``pack`` (PacGAN: D sees ``pack`` samples at once, concatenated), ``ema`` (an exponential moving
average of G's weights, w̄ ← ema·w̄ + (1 − ema)·w̃ with the warm-up min(ema, (1+t)/(10+t)) at
the t-th update, used for evaluation and sampling), ``lr_schedule=linear`` (decay to 0), and the
noise distribution ``noise`` (N(0, I) or U[−1, 1]).

Evaluation (samples of the EMA generator): on Gaussian mixtures the PacGAN mode metrics from
2,500 samples; otherwise Fréchet distance and precision/recall against the test split in the
feature space of :mod:`latentzoo.gan.metrics`; always the ``diagnosis`` of
:mod:`latentzoo.gan.diagnostics`.
"""

from __future__ import annotations

import copy
import logging
import math
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from latentzoo import distributed
from latentzoo.ema import update_average, warmup_decay
from latentzoo.errors import UserError
from latentzoo.gan import diagnostics, metrics, progressive
from latentzoo.gan.losses import discriminator_loss, generator_loss, gradient_penalty, r1_penalty
from latentzoo.gan.metrics import EVAL_SEED
from latentzoo.model import LatentModel, ModelConfig, adam
from latentzoo.nets import MLP, ConvDecoder, ConvEncoder
from latentzoo.schedules import LinearDecay
from latentzoo.spec import Figure, Metric

EVAL_SAMPLES = 2500          # PacGAN's sample count for the mixture metrics
SNAPSHOTS = 6                # epochs whose samples are kept for the "samples over training" figure
SIGNALS = ("discriminator_loss", "generator_loss", "real_logit", "fake_logit", "d_win", "generator_grad_norm")
SIGNAL_STEPS = 4096          # per-step signals kept in the weights (the last steps), for diagnosis after loading


class GANConfig(ModelConfig):
    """Options of the GAN (``--set key=value``); ``latent_dim`` is the noise dimension of η."""

    loss: Literal["minimax", "nonsaturating", "wasserstein", "hinge", "least-squares"] = Field(
        "nonsaturating", description="F and F~ of the objective (and the generator's loss)")
    n_critic: int = Field(1, gt=0, description="discriminator steps per generator step")
    lr_g: float | None = Field(None, gt=0, description="generator learning rate (default: lr)")
    lr_d: float | None = Field(None, gt=0, description="discriminator learning rate (default: lr); TTUR if != lr_g")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1 of both players")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2 of both players")
    gp: float = Field(0.0, ge=0, description="weight lambda of the WGAN-GP gradient penalty (0 = off)")
    r1: float = Field(0.0, ge=0, description="weight gamma of the R1 penalty (gamma/2) E||grad D(y)||^2 (0 = off)")
    spectral_norm: bool = Field(False, description="spectral normalisation of every layer of D")
    pack: int = Field(1, gt=0, description="PacGAN: samples the discriminator judges together")
    ema: float = Field(0.0, ge=0, lt=1, description="decay of the generator's weight average (0 = off)")
    lr_schedule: Literal["constant", "linear"] = Field("constant", description="learning rates: constant or linear decay to 0")
    noise: Literal["normal", "uniform"] = Field("normal", description="P_simple of eta: N(0, I) or U[-1, 1]^latent_dim")
    conv: bool = Field(True, description="DCGAN convolutions for images (MLP otherwise)")
    feature_extractor: str | None = Field(
        None, description="package.module:function mapping examples to features for FD/precision/recall")
    progressive: bool = Field(False, description="images: progressive growing from 4x4 up to full resolution, "
                              "new layers faded in (Karras et al. 2018)")
    progressive_stages: int = Field(2, ge=0, description="progressive: epochs per resolution (fade-in over the "
                                    "first half; the last lasts to the end); 0: the same networks, no growing")
    channels_last: bool = Field(False, description="images: networks in channels_last memory format")


class _Packed(nn.Module):
    """D on packs: (n, *shape) → reshape to (n/k, k·C, H, W) or (n/k, k·d) → logits (n/k,)."""

    def __init__(self, net: nn.Module, pack: int, image: bool):
        super().__init__()
        self.net, self.pack, self.image = net, pack, image

    def pack_input(self, x: torch.Tensor) -> torch.Tensor:
        n = (x.shape[0] // self.pack) * self.pack
        x = x[:n]
        if self.image:
            return x.reshape(n // self.pack, self.pack * x.shape[1], *x.shape[2:])
        return x.reshape(n // self.pack, -1)

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        return distributed.upcast(self.net(packed).reshape(-1))   # logits in float32 under autocast


class _Sigmoid(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, z):
        return torch.sigmoid(self.net(z))


class GAN(LatentModel):
    r"""Generator G(η), discriminator D, the seed's F/F̃ objective, remedies and diagnostics.

    See the module docstring for the networks, the step, the options and the metrics.
    """

    name = "gan"
    Config = GANConfig
    phases = ("discriminator", "generator")
    grad_norm_every = 1      # the engine logs both players' gradient norms at every step (a diagnosis signal)
    METRICS = (
        Metric("modes_covered", "modes with at least one sample within 3 std", "", "higher", headline=True),
        Metric("modes_total", "modes of the mixture", "", None, headline=True),
        Metric("high_quality_fraction", "fraction of samples within 3 std of their nearest mode", "", "higher",
               headline=True),
        Metric("reverse_kl", "KL(p̂ ‖ uniform) over the modes' shares of samples", "nats", "lower", headline=True),
        Metric("frechet_distance", "Fréchet distance between real and generated features", "", "lower",
               headline=True),
        Metric("precision", "share of generated samples on the real data's manifold", "", "higher", headline=True),
        Metric("recall", "share of real samples on the generated data's manifold", "", "higher", headline=True),
        Metric("feature_space", "the features Fréchet distance and precision/recall are measured in"),
        Metric("diagnosis", "the four training problems of the seed, each detected or not, with evidence"),
    )
    FIGURES = (
        Figure("samples_over_training.png", "generation", "samples at several epochs of training", card=True),
        Figure("samples.png", "generation", "samples of the (EMA) generator"),
        Figure("diagnosis.png", "diagnosis", "the signals behind the diagnosis"),
    )
    can_embed = False
    can_sample = True

    # ---- configuration -------------------------------------------------------------
    @classmethod
    def recipe(cls, data) -> dict:
        """Default recipes, tuned on ring8/grid25 and digits (figures in benchmarks/RESULTS.md, GAN section)."""
        if data.kind == "points":
            # 1,500 steps of batch 256 per mixture component, between 12,000 and 36,000: with fewer,
            # grid25's samples stay strung between neighbouring modes; a 2-D noise converged fastest
            # (the measurements are in benchmarks/RESULTS.md, GAN section).
            modes = len(data.extras.get("modes", ())) or 8
            steps = min(36000, max(12000, 1500 * modes))
            steps_per_epoch = max(1, len(data.x_train) // 256)
            return {"loss": "nonsaturating", "latent_dim": 2, "hidden": 128, "depth": 3, "batch_size": 256,
                    "lr": 2e-3, "beta1": 0.5, "beta2": 0.9, "r1": 0.1, "pack": 2, "ema": 0.999,
                    "lr_schedule": "linear", "epochs": max(1, math.ceil(steps / steps_per_epoch))}
        if data.kind == "image" and min(data.shape[1:]) >= 16:
            # 28×28 and 32×32: proposed for a 15-minute budget on 2 CPU cores, not yet tuned by measurement.
            # Issue 12 measured 9.5 steps/s at batch 64 (80 epochs = 2 h 11 min). Batch 128 uses the CPU
            # better per example; 8 epochs of 60,000 = 3,750 steps, about 15 minutes if a step of 128 costs
            # under 2× one of 64. The EMA horizon (1/(1 − 0.999) = 1,000 steps) stays well inside the run,
            # so the averaged generator has left its initial weights; DCGAN's Adam(2e-4, β₁ 0.5) and R1 = 1 kept.
            return {"loss": "nonsaturating", "latent_dim": 32, "hidden": 64, "batch_size": 128, "lr": 2e-4,
                    "beta1": 0.5, "beta2": 0.999, "r1": 1.0, "ema": 0.999, "epochs": 8}
        if data.kind == "image":
            return {"loss": "nonsaturating", "latent_dim": 32, "hidden": 64, "batch_size": 64, "lr": 2e-4,
                    "beta1": 0.5, "beta2": 0.999, "r1": 1.0, "ema": 0.999, "epochs": 80}
        return {"loss": "nonsaturating", "latent_dim": 32, "hidden": 256, "depth": 2, "batch_size": 128,
                "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "r1": 1.0, "ema": 0.999, "epochs": 100}

    @classmethod
    def check(cls, config: GANConfig, data) -> None:
        if config.loss == "wasserstein" and config.gp == 0 and not config.spectral_norm:
            raise UserError("loss=wasserstein needs a Lipschitz constraint on D: add --set gp=10 or "
                            "--set spectral_norm=true")
        if len(data.x_test) <= 3:
            raise UserError(f"{data.name}: the GAN's precision/recall (k = 3 nearest neighbours) needs more than 3 "
                            f"test examples, got {len(data.x_test)}")
        if config.progressive and not (data.kind == "image" and config.conv):
            raise UserError("progressive=true grows convolutional image networks: it needs image data and conv=true")
        if config.batch_size < 2 * config.pack:
            raise UserError(f"pack={config.pack} needs batch_size >= {2 * config.pack} "
                            f"(got batch_size={config.batch_size})")

    networks = ("generator", "discriminator")

    def setup(self, config: GANConfig, data):
        r"""Networks for ``data``; a user's ``generator`` maps η (n, latent_dim) to (n, *shape), a user's
        ``discriminator`` maps a pack of ``pack`` examples — (n/pack, pack·C, H, W) for images, (n/pack,
        pack·d) otherwise; with the default pack=1 simply the examples — to one logit each."""
        c = config
        self.dim = math.prod(data.shape)
        self.image = data.kind == "image" and c.conv and data.shape[1] % 4 == 0 and data.shape[2] % 4 == 0
        width = min(c.hidden, 64)
        self.progressive = self.image and c.progressive
        self.full_height = data.shape[1] if data.kind == "image" else None
        if self.progressive:
            self.generator, d_net = self._progressive_networks(c, data, width)
        elif self.image:
            self.generator = self.network("generator", lambda: _Sigmoid(ConvDecoder(c.latent_dim, data.shape,
                                                                                    hidden=width)))
            d_net = self.network("discriminator", lambda: ConvEncoder((data.shape[0] * c.pack, *data.shape[1:]), 1,
                                                                      hidden=width, norm=False))
        else:
            def default_generator():
                g_net = MLP(c.latent_dim, self.dim, c.hidden, c.depth, act="relu", out_shape=data.shape)
                return _Sigmoid(g_net) if data.kind == "image" else g_net
            self.generator = self.network("generator", default_generator)
            d_net = self.network("discriminator", lambda: MLP(self.dim * c.pack, 1, c.hidden, c.depth,
                                                              act="leaky_relu"))
        if c.spectral_norm:
            for m in list(d_net.modules()):
                if isinstance(m, (nn.Linear, nn.Conv2d)):
                    nn.utils.parametrizations.spectral_norm(m)
        self.discriminator = _Packed(d_net, c.pack, self.image)
        if self.image and c.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        # Points, vectors and signals are standardised (per-feature mean, one scalar std) so that one
        # recipe fits data of any scale: D sees (x − mean)/std, samples are mean + std·G(η).
        self.standardise = data.kind != "image"
        self.register_buffer("data_mean", torch.zeros(data.shape))   # set from the data in on_train_start
        self.register_buffer("data_std", torch.ones(()))
        # EMA copy of G: not trained by any optimizer, updated in after_optimizer_step.
        self.generator_ema = copy.deepcopy(self.generator) if c.ema > 0 else None
        if self.generator_ema is not None:
            self.generator_ema.requires_grad_(False)
        if self.progressive:
            self._grow(c)                                # (0, 1), or (L, 1) without growing
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        # The last SIGNAL_STEPS values of each per-step signal, saved with the weights and checkpoints
        # so that the diagnosis of a loaded or resumed run reads the same signals.
        self.register_buffer("signal_buffer", torch.zeros(len(SIGNALS), SIGNAL_STEPS))
        self.register_buffer("signal_count", torch.zeros(len(SIGNALS), dtype=torch.long))
        self.mixture = None
        if data.kind == "points" and "modes" in data.extras:
            self.mixture = (torch.as_tensor(data.extras["modes"]).float(), float(data.extras["mode_std"]))
        self.snapshots: dict[int, torch.Tensor] = {}
        self.diagnosis: list[dict] | None = None

    # ---- helpers -------------------------------------------------------------------
    def _progressive_networks(self, c: GANConfig, data, width: int) -> tuple[nn.Module, nn.Module]:
        """G and D of :mod:`latentzoo.gan.progressive` (a user's given networks win), and the schedule's clock:
        discriminator steps taken and steps per epoch (known after the first), in buffers."""
        generator = self.network("generator", lambda: progressive.ProgressiveGenerator(
            c.latent_dim, data.shape, hidden=width))
        d_net = self.network("discriminator", lambda: progressive.ProgressiveDiscriminator(
            (data.shape[0] * c.pack, *data.shape[1:]), hidden=width))
        self.register_buffer("grow_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("steps_per_epoch", torch.zeros((), dtype=torch.long))
        return generator, d_net

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """η ~ P_simple, shape (n, latent_dim), on the model's device: N(0, I) or U[−1, 1]^latent_dim."""
        shape = (n, self.config.latent_dim)
        if self.config.noise == "uniform":
            if generator is None:
                return 2 * torch.rand(shape, device=self.device) - 1
            return (2 * torch.rand(shape, generator=generator) - 1).to(self.device)
        if generator is None:
            return torch.randn(shape, device=self.device)
        return torch.randn(shape, generator=generator).to(self.device)

    def _training_noise(self, n: int) -> torch.Tensor:
        """η for a training batch of ``n``: drawn for the global batch, this rank's rows kept."""
        if n % self.config.pack and distributed.is_distributed():
            raise UserError(f"pack={self.config.pack} must divide the batch on each device, which holds {n} "
                            "examples; change batch_size or the number of devices")
        return distributed.sharded(self.noise, n)

    def _standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.data_mean) / self.data_std                              # (x − mean) / std

    def _d(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(self.discriminator.pack_input(x))

    @torch.no_grad()
    def _record(self, name: str, value: torch.Tensor) -> None:
        """Write one step's value of a diagnosis signal into its ring buffer (no device sync).

        The buffers are registered, so they are saved in every checkpoint, mid-epoch ones included,
        and a resumed run diagnoses exactly what an uninterrupted one would."""
        i = SIGNALS.index(name)
        position = (self.signal_count[i] % SIGNAL_STEPS).reshape(1)
        self.signal_buffer[i].index_copy_(0, position, value.detach().float().reshape(1))
        self.signal_count[i] += 1

    # ---- training ------------------------------------------------------------------
    @torch.no_grad()
    def on_train_start(self, data) -> None:
        """Points, vectors and signals are standardised by the training split's per-feature mean and one
        scalar std (images are left in [0, 1])."""
        if self.standardise:
            x = data.x_train.double()
            self.data_mean.copy_(x.mean(0).float())
            self.data_std.copy_(x.std().float())
        self._probe = {}
        if (self.image and not self.progressive and data.shape[1] >= diagnostics.PROGRESSIVE_MIN
                and "generator" not in self.given_networks):      # how time per image grows with resolution
            self._probe = progressive.probe_seconds_per_image(self.config.latent_dim, data.shape,
                                                              min(self.config.hidden, 64),
                                                              min(self.config.batch_size, 64), self.device)

    def forward(self, x: torch.Tensor, phase: str = "discriminator"):
        c = self.config
        if phase == "discriminator":
            with torch.no_grad():
                fake = self.generator(self._training_noise(x.shape[0]))          # G(η), η ~ N(0, I)
            real_packed = self.discriminator.pack_input(self._standardise(x))
            fake_packed = self.discriminator.pack_input(fake)
            if c.r1 > 0:
                real_packed = real_packed.detach().requires_grad_(True)
            d_real, d_fake = self.discriminator(real_packed), self.discriminator(fake_packed)
            loss = discriminator_loss(d_real, d_fake, c.loss)                    # −E F(D(y)) + E F̃(D(G(η)))
            logs = {}
            if c.gp > 0:
                m = real_packed.shape[0]                                          # ε ~ U[0, 1] per pack
                eps = distributed.sharded(lambda k: torch.rand(k, device=x.device, dtype=real_packed.dtype), m)
                gp = gradient_penalty(self.discriminator, real_packed, fake_packed, eps)  # E(‖∇D(x̂)‖ − 1)²
                loss = loss + c.gp * gp
                logs["gradient_penalty"] = gp.detach()
            if c.r1 > 0:
                r1 = r1_penalty(self.discriminator, real_packed, d_real)           # E‖∇_y D(y)‖²
                loss = loss + 0.5 * c.r1 * r1                                      # + (γ/2) R1
                logs["r1_penalty"] = r1.detach()
            with torch.no_grad():   # over every pair of the global batch (logits gathered from the ranks)
                both = distributed.gather(torch.stack([d_real, d_fake])).view(-1, 2, len(d_real))
                real_all, fake_all = both[:, 0].reshape(-1, 1), both[:, 1].reshape(1, -1)
                d_win = torch.sigmoid(real_all - fake_all).mean()                # mean σ(D(y_i) − D(G(η_j)))
            logs.update(real_logit=d_real.detach().mean(), fake_logit=d_fake.detach().mean(), d_win=d_win)
            if self.training:
                self._record("discriminator_loss", loss)
                for k in ("real_logit", "fake_logit", "d_win"):
                    self._record(k, logs[k])
            return loss, logs
        if phase == "generator":
            fake = self.generator(self._training_noise(x.shape[0]))
            loss = generator_loss(self._d(fake), c.loss)
            if self.training:
                self._record("generator_loss", loss)
            return loss, {}
        raise ValueError(f"unknown phase {phase!r}; GAN phases are {self.phases}")

    def configure_optimizers(self, total_steps: int):
        c = self.config
        betas = (c.beta1, c.beta2)
        opt_g = adam(self.generator.parameters(), c.lr_g or c.lr, c.weight_decay, self.device, betas)
        opt_d = adam(self.discriminator.parameters(), c.lr_d or c.lr, c.weight_decay, self.device, betas)
        schedulers = []
        if c.lr_schedule == "linear":
            schedulers = [torch.optim.lr_scheduler.LambdaLR(o, LinearDecay(total_steps)) for o in (opt_d, opt_g)]
        return {"discriminator": opt_d, "generator": opt_g}, schedulers

    def phases_for_step(self, step: int) -> tuple[str, ...]:
        """D every step; G on every ``n_critic``-th step (after its D step)."""
        n = self.config.n_critic
        return self.phases if (step + 1) % n == 0 else ("discriminator",)

    def _grow(self, config: GANConfig | None = None) -> None:
        """(level, α) of the progressive networks for the next step (:func:`progressive.schedule`)."""
        level, alpha = progressive.schedule(int(self.grow_steps), int(self.steps_per_epoch),
                                            (config or self.config).progressive_stages,
                                            self.discriminator.net.levels)
        for net in (self.generator, self.generator_ema, self.discriminator.net):
            if hasattr(net, "set_progress"):
                net.set_progress(level, alpha)

    def after_optimizer_step(self, phase: str) -> None:
        if phase == "discriminator" and self.progressive:
            self.grow_steps += 1
            self._grow()
        if phase == "generator":
            grads = [p.grad for p in self.generator.parameters() if p.grad is not None]
            if grads:
                self._record("generator_grad_norm", torch.nn.utils.get_total_norm(grads))
            if self.generator_ema is not None:
                self._update_ema()

    def _update_ema(self) -> None:
        update_average(self.generator_ema, self.generator, warmup_decay(self.config.ema, int(self.ema_updates)))
        self.ema_updates += 1

    def on_epoch_end(self, epoch: int, data) -> dict:
        # Every rank recorded its own batch's losses and logits: their mean over ranks is the global batch's.
        self.signal_buffer.copy_(distributed.all_mean(self.signal_buffer))
        record = {"resolution": data.shape[1]} if self.image else {}   # the height the epoch trained at
        if epoch == 0:
            record.update({f"{progressive.PROBE_KEY}{r}": t for r, t in getattr(self, "_probe", {}).items()})
        if self.progressive:
            if int(self.steps_per_epoch) == 0:
                self.steps_per_epoch.fill_(int(self.grow_steps) // (epoch + 1))
            last = progressive.schedule(int(self.grow_steps) - 1, int(self.steps_per_epoch),
                                        self.config.progressive_stages, self.discriminator.net.levels)[0]
            record["resolution"] = self.discriminator.net.resolution(last)
            self._grow()
        samples = self.sample(EVAL_SAMPLES if self.mixture else 512, torch.Generator().manual_seed(EVAL_SEED))
        if self.mixture is not None:
            m = metrics.mode_metrics(samples, *self.mixture)
            record.update(modes_covered=m["modes_covered"], high_quality_fraction=m["high_quality_fraction"],
                          reverse_kl=m["reverse_kl"])
        else:
            real = data.x_test[:512]
            record["diversity_ratio"] = metrics.sample_diversity(samples) / max(metrics.sample_diversity(real), 1e-12)
        total = self.config.epochs
        marks = {round(i * (total - 1) / (SNAPSHOTS - 1)) for i in range(SNAPSHOTS)} if total > 1 else {0}
        if epoch in marks:
            self.snapshots[epoch + 1] = samples[:1000 if self.mixture else 64].cpu()
        return record

    # ---- use after training --------------------------------------------------------
    def _sampler(self) -> nn.Module:
        return self.generator_ema if self.generator_ema is not None else self.generator

    def _sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples G(η) of the averaged generator (the trained one when ``ema=0``), in eval mode."""
        g = self._sampler()
        out = torch.cat([g(self.noise(len(i), generator)) for i in torch.arange(n).split(4096)])
        return self.data_mean + self.data_std * out                                 # mean + std · G(η)

    def signals(self, history: list[dict]) -> dict:
        """The last per-step values of each signal (kept with the weights), else per-epoch means of ``history``."""
        out = {}
        for i, k in enumerate(SIGNALS):
            count = int(self.signal_count[i])
            ring = self.signal_buffer[i]
            values = ring[:count] if count <= SIGNAL_STEPS else ring.roll(-(count % SIGNAL_STEPS))  # oldest first
            out[k] = values.tolist() if count else [h[k] for h in history if k in h]
        return out

    def diagnose(self, history: list[dict], final: dict | None = None) -> list[dict]:
        """The four findings of :mod:`latentzoo.gan.diagnostics` for this run."""
        final = final or {}
        coverage = [h["modes_covered"] for h in history if "modes_covered" in h]
        if "modes_covered" in final and not coverage:   # the last epoch already measured the final samples
            coverage = [final["modes_covered"]]
        diversity = [h["diversity_ratio"] for h in history if "diversity_ratio" in h]
        timing = {k: sum(h.get(f"time_{k}", 0.0) for h in history) for k in ("data", "discriminator", "generator")}
        timing["samples"] = sum(h.get("timed_samples", 0) for h in history)
        epoch_grad_norms = [h["generator_grad_norm"] for h in history if "generator_grad_norm" in h]
        return diagnostics.diagnose(self.signals(history), coverage or None,
                                    self.mixture[0].shape[0] if self.mixture else None, diversity or None,
                                    timing, self.config.n_critic,
                                    g_grad_peak=max(epoch_grad_norms) if epoch_grad_norms else None,
                                    resolutions=progressive.resolution_timing(history) or None,
                                    full_resolution=self.full_height,
                                    progressive=self.progressive and self.config.progressive_stages > 0)

    def evaluate(self, data, history: list[dict]) -> dict:
        out = {}
        if self.mixture is not None:
            samples = self.sample(EVAL_SAMPLES, torch.Generator().manual_seed(EVAL_SEED))
            out.update(metrics.mode_metrics(samples, *self.mixture))
        else:
            features, description = metrics.resolve_feature_extractor(self.config.feature_extractor, data)
            real = data.x_test
            fake = self.sample(len(real), torch.Generator().manual_seed(EVAL_SEED)).cpu()
            out.update(metrics.feature_metrics(real, fake, features))
            out["feature_space"] = description
        self.diagnosis = self.diagnose(history, out)
        out["diagnosis"] = self.diagnosis
        log = logging.getLogger("latentzoo.gan")
        for f in self.diagnosis:
            if f["detected"]:
                log.warning("GAN diagnosis: %s — %s; remedy: %s", f["name"].replace("_", " "), f["evidence"],
                            f["remedy"])
        return out

    def figures(self, data, history: list[dict], figure_dir: Path) -> list[Path]:
        from latentzoo.gan.figures import gan_figures

        return gan_figures(self, data, history, Path(figure_dir))
