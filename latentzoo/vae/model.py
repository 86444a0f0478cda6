r"""Seed question 2: the variational autoencoder (Kingma & Welling 2014), β-VAE and IWAE training.

Model
-----
* prior            p(z) = N(0, I), z ∈ R^latent_dim;
* encoder          q(z|x) = N(μ(x), diag σ²(x)), one network giving (μ, log σ²);
* decoder p(x|z):  ``likelihood=bernoulli``  Π_j Bernoulli(x_j; sigmoid(f_j(z)))  for data in [0, 1];
                   ``likelihood=gaussian``   N(x; f(z), diag σ_x²), σ_x² a learned parameter,
                   one per feature (``gaussian_variance=feature``) or one for all (``scalar``).

Loss (derivation in :mod:`latentzoo.vae.losses`): KL[q(x)q(z|x) ‖ p(z)p(x|z)] = E_x[−ELBO(x)] − H[q(x)];
per batch the mean over examples of −log p(x|z) + β·KL(q(z|x) ‖ p(z)), z = μ + σ⊙ε (one sample),
or, with ``iwae_k=K`` > 1, the mean of −L_K(x), the importance-weighted bound with K samples.
All values are nats per example (log-densities summed over features, every constant kept).

Evaluation on the test split: ``test_recon`` = −E_q log p(x|z), ``test_kl`` = KL(q(z|x) ‖ p(z)),
``test_neg_elbo`` = their sum, ``test_nll_iwae`` = −L_K(x) with K = ``eval_samples`` (1000) importance
samples, reported as ``eval_iwae_k`` (the option ``iwae_k`` is the training bound's K); all averaged
over the test split, or over its first ``EVAL_DECODES`` / K examples when it is larger (a uniform
subsample, reported as ``eval_iwae_examples``), so that evaluation costs little beside training.
L_K ≥ ELBO, so ``test_nll_iwae`` ≤ ``test_neg_elbo``.

What the nats are (``density`` in the metrics): with a Gaussian decoder, or a Bernoulli decoder on
binary data, bounds on −log p(x) of a normalised density. A Bernoulli decoder on grey levels in
(0, 1) (``digits``, MNIST's grey values) scores x log p + (1 − x) log(1 − p), a cross-entropy that
is not a density on [0, 1] (the continuous Bernoulli would add the missing normaliser): its "nats"
are comparable only with the same likelihood on the same data, as the papers that report them do.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from latentzoo import distributed
from latentzoo.errors import UserError
from latentzoo.model import LatentModel, ModelConfig, adam, evaluating
from latentzoo.nets import MLP, decoder_for, encoder_for
from latentzoo.spec import Figure, Metric
from latentzoo.vae.losses import (
    bernoulli_log_likelihood,
    gaussian_kl,
    gaussian_log_likelihood,
    iwae_bound,
    negative_elbo,
    reparameterize,
    score_function_surrogate,
    standard_normal_log_density,
)

# ``density`` of a Bernoulli decoder on data in [0, 1] that are not all 0 or 1 (see VAE.evaluate)
GREY_LEVELS = "not normalised: Bernoulli cross-entropy of grey levels"


class VAEConfig(ModelConfig):
    """Options of the VAE (``--set key=value``); the shared ones are in :class:`ModelConfig`."""

    likelihood: Literal["bernoulli", "gaussian"] = Field(
        "bernoulli", description="decoder p(x|z): bernoulli (data in [0, 1]) or gaussian (learned variance)")
    gaussian_variance: Literal["feature", "scalar"] = Field(
        "feature", description="gaussian decoder: one learned variance per feature, or one for all")
    conv: bool = Field(True, description="convolutional encoder/decoder for images (MLP otherwise)")
    beta: float = Field(1.0, ge=0, description="weight of KL(q(z|x) || p(z)) in the loss (beta-VAE)")
    iwae_k: int = Field(1, gt=0, description="importance samples of the training bound (1 = ELBO, K > 1 = IWAE)")
    eval_samples: int = Field(1000, gt=0, description="importance samples K of the test NLL estimate -L_K")


#: decoder evaluations the test estimate may cost (examples × K): the 28×28 conv decoder decodes about 5,000
#: codes/s on 2 CPU cores, 512 at a time (benchmarks/RESULTS.md, Fashion-MNIST), so 2^18 take about 50 s, near
#: 6% of the 15-epoch recipe's training; 262 examples at K = 1000 (all 10,000 test images would take over half an hour)
EVAL_DECODES = 2**18
EVAL_MIN_EXAMPLES = 256
DECODE_ROWS = {"cpu": 512, "accelerator": 16384}   # codes decoded at once by likelihood_terms


class VAE(LatentModel):
    r"""Variational autoencoder with a Gaussian encoder and a Bernoulli or Gaussian decoder.

    See the module docstring for the model, the loss and the metrics.
    """

    name = "vae"
    Config = VAEConfig
    METRICS = (
        Metric("test_neg_elbo", "test −ELBO = test_recon + test_kl", "nats per example", "lower", headline=True),
        Metric("test_nll_iwae", "importance-weighted bound −L_K on −log p(x), K = eval_iwae_k", "nats per example",
               "lower", headline=True),
        Metric("test_kl", "test KL(q(z|x) ‖ p(z))", "nats per example", headline=True),
        Metric("test_recon", "test −E_q log p(x|z)", "nats per example", "lower"),
        Metric("eval_iwae_k", "importance samples K of the test bound (option eval_samples; the training "
                              "bound's K is the option iwae_k)"),
        Metric("eval_iwae_examples", "test examples the four test_* values above are averaged over: the whole "
                                     "test split, or its first EVAL_DECODES / K (a uniform subsample; at least 256)"),
        Metric("likelihood", "the decoder's likelihood p(x|z)"),
        Metric("density", "what the nats above are: 'normalised' (bounds on −log p(x)), or, for a Bernoulli "
                          "likelihood on grey levels, a cross-entropy that is not a normalised density"),
        Metric("grad_var_ratio", "variance of the score-function gradient over the pathwise one", "", None),
    )
    FIGURES = (
        Figure("samples.png", "generation", "samples: E[x|z], z ∼ N(0, I)", card=True),
        Figure("reconstructions.png", "reconstructions", "test inputs above E[x|z = μ(x)]"),
        Figure("interpolation.png", "generation", "decoder means along a line between two test codes"),
        Figure("traversal.png", "generation", "one latent dimension swept over [−3, 3], the others at 0"),
        Figure("latent.png", "latent", "test means μ(x), coloured by label"),
    )
    can_reconstruct = True
    can_sample = True
    extra_evaluations = {"gradient_variance": "variance of the pathwise and score-function gradient estimators"}

    networks = ("encoder", "decoder")

    def setup(self, config: VAEConfig, data):
        r"""Networks for ``data``; a user's ``encoder`` must output 2·latent_dim values (μ, log σ²) and a
        user's ``decoder`` map z (n, latent_dim) to Bernoulli logits or Gaussian means of any shape with
        D = prod(data shape) values per example."""
        c = config
        self.dim = math.prod(data.shape)
        use_conv = c.conv and data.kind == "image"
        # The encoder's output is split in two halves: μ(x) and log σ²(x).
        self.encoder = self.network("encoder", lambda: encoder_for(data.kind, data.shape, 2 * c.latent_dim,
                                                                   c.hidden, c.depth, conv=use_conv))
        # The decoder gives Bernoulli logits or the Gaussian mean f(z), one per feature.
        # (an MLP decoder gives flat outputs: the likelihood sums over flattened features anyway)
        self.decoder = self.network("decoder", lambda: (
            decoder_for(data.kind, data.shape, c.latent_dim, c.hidden, c.depth, conv=True) if use_conv
            else MLP(c.latent_dim, self.dim, c.hidden, c.depth)))
        if c.likelihood == "gaussian":
            n = self.dim if c.gaussian_variance == "feature" else 1
            self.decoder_logvar = nn.Parameter(torch.zeros(n))  # log σ_x², start at σ_x² = 1

    # ---- configuration -------------------------------------------------------------
    @classmethod
    def recipe(cls, data) -> dict:
        r"""Defaults per data kind; a default run on digits or mnist1d takes well under a minute on 2 cores."""
        likelihood = "bernoulli" if data.in_unit_interval else "gaussian"
        if data.kind == "image" and min(data.shape[1:]) >= 16:
            # 28×28 and 32×32: proposed for a 15-minute budget on 2 CPU cores, not yet tuned by measurement.
            # Batch 128 instead of 64: the conv networks are faster per example in larger batches on a CPU,
            # and 60,000 examples still give 470 steps per epoch. 15 epochs ≈ 0.9 M examples, about
            # 10–12 minutes at the 1,400–1,600 samples/s seen (issue 12: 1,619 at batch 64). 16 latent
            # dimensions: 8 is tight for 784 grey levels (the usual Fashion-MNIST VAEs use 16–32).
            return {"likelihood": likelihood, "conv": True, "hidden": 64, "latent_dim": 16,
                    "batch_size": 128, "epochs": 15, "lr": 2e-3}
        if data.kind == "image":
            return {"likelihood": likelihood, "conv": True, "hidden": 64, "latent_dim": 8,
                    "batch_size": 64, "epochs": 60, "lr": 2e-3}
        if data.kind == "points":
            return {"likelihood": "gaussian", "conv": False, "hidden": 128, "depth": 2, "latent_dim": 2,
                    "batch_size": 256, "epochs": 20}
        # vectors and signals (mnist1d): MLPs
        return {"likelihood": likelihood, "conv": False, "hidden": 256, "depth": 2, "latent_dim": 8,
                "batch_size": 64, "epochs": 40}

    @classmethod
    def prefers_bf16(cls, config: VAEConfig, data) -> bool:
        # The conv encoder/decoder on 28×28 images: 1.9× the samples/s in bf16-mixed on an AMX CPU
        # (benchmarks/RESULTS.md); the losses stay float32 (log-densities summed over 784 pixels)
        return config.conv and data.kind == "image" and min(data.shape[1:]) >= 16

    @classmethod
    def check(cls, config: VAEConfig, data) -> None:
        if config.likelihood == "bernoulli" and not data.in_unit_interval:
            raise UserError(f"likelihood=bernoulli needs data in [0, 1] but {data.name} has values outside it; "
                            "use --set likelihood=gaussian")
        if config.iwae_k > 1 and config.beta != 1.0:
            raise UserError("beta weights the KL of the ELBO; training on the IWAE bound (iwae_k > 1) needs beta=1")

    # ---- the pieces of the model ---------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""q(z|x): mean μ(x) and log-variance log σ²(x), each of shape (n, latent_dim)."""
        mu, logvar = distributed.upcast(self.encoder(x)).chunk(2, dim=-1)   # float32 under autocast
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        r"""The decoder's output f(z) (Bernoulli logits or Gaussian means), flattened: (..., D)."""
        if z.ndim == 2:
            return distributed.upcast(self.decoder(z).flatten(1))  # (n, D); no copy for an MLP's flat output
        return distributed.upcast(self.decoder(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], self.dim))

    def log_px_given_z(self, decoded: torch.Tensor, x_flat: torch.Tensor) -> torch.Tensor:
        r"""log p(x|z) per example (and sample), summed over the D features.

        ``decoded``: (..., n, D) output of :meth:`decode`; ``x_flat``: (n, D).
        Bernoulli: Σ_j x_j log p_j + (1−x_j) log(1−p_j); Gaussian: −½ Σ_j [log 2π + log σ_j² + (x_j−f_j)²/σ_j²].
        """
        if self.config.likelihood == "bernoulli":
            return bernoulli_log_likelihood(decoded, x_flat)
        return gaussian_log_likelihood(decoded, self.decoder_logvar, x_flat)

    def mean_of(self, decoded: torch.Tensor) -> torch.Tensor:
        """E[x|z] from the decoder's output: sigmoid of the logits, or the Gaussian mean."""
        return torch.sigmoid(decoded) if self.config.likelihood == "bernoulli" else decoded

    # ---- training ------------------------------------------------------------------
    @torch.no_grad()
    def on_train_start(self, data) -> None:
        r"""Start the decoder at the best model that ignores z: the data's marginal per feature.

        The bias of the decoder's last layer is set to the training data's mean m_j per output
        (per feature for an MLP, per channel for a convolution): Bernoulli logits
        log(m / (1 − m)) (m clamped to [10⁻³, 1 − 10⁻³]), or Gaussian means m with
        log σ_j² = log Var[x_j] (the mean variance for ``gaussian_variance=scalar``). The
        first steps then no longer spend their updates learning the average image
        (as in Burda et al. 2016's code); the loss and the model are unchanged.
        """
        x = data.x_train.double()
        last = [m for m in self.decoder.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d, nn.Conv2d))][-1]
        if last.bias is None:
            return
        per_feature = x.reshape(len(x), -1)
        if last.bias.numel() == self.dim:
            mean = per_feature.mean(0)
        else:  # one bias per channel of (n, C, H, W) data
            mean = x.transpose(0, 1).reshape(x.shape[1], -1).mean(1)
        if self.config.likelihood == "bernoulli":
            p = mean.clamp(1e-3, 1 - 1e-3)
            last.bias.copy_(torch.log(p) - torch.log1p(-p))  # logit of the mean
        else:
            last.bias.copy_(mean)
            feature_var = per_feature.var(0, unbiased=False).clamp_min(1e-6)  # the maximum-likelihood variance
            logvar = feature_var.log() if self.decoder_logvar.numel() == self.dim else feature_var.mean().log()
            self.decoder_logvar.copy_(logvar.reshape(self.decoder_logvar.shape))

    def configure_optimizers(self, total_steps: int) -> tuple[dict, list]:
        r"""Adam; its fused kernel where the device has one (one kernel for all parameters instead of
        a Python loop over them: about a fifth of a small VAE's step time on a CPU)."""
        c = self.config
        return {"main": adam(self.parameters(), c.lr, c.weight_decay, self.device)}, []

    def forward(self, x: torch.Tensor, phase: str = "main") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        r"""Training loss of a batch: mean over examples of −log p(x|z) + β KL, or of −L_K (``iwae_k`` > 1)."""
        c = self.config
        x_flat = x.reshape(x.shape[0], -1)
        mu, logvar = self.encode(x)
        kl = gaussian_kl(mu, logvar)  # KL(q(z|x) ‖ p(z)), (n,)
        n, k = mu.shape
        if c.iwae_k == 1:
            eps = distributed.sharded(lambda m: torch.randn(m, k, device=mu.device, dtype=mu.dtype), n)
            z = reparameterize(mu, logvar, eps=eps)  # z = μ + σ ⊙ ε, (n, latent); ε of the global batch
            log_px = self.log_px_given_z(self.decode(z), x_flat)  # log p(x|z), (n,)
            loss = negative_elbo(log_px, mu, logvar, beta=c.beta, kl=kl).mean()  # mean_n [−log p(x|z) + β KL]
            logs = {}
        else:
            eps = distributed.sharded(lambda m: torch.randn(c.iwae_k, m, k, device=mu.device, dtype=mu.dtype),
                                      n, dim=1)
            z = reparameterize(mu, logvar, eps=eps)  # (K, n, latent)
            log_px = self.log_px_given_z(self.decode(z), x_flat)  # (K, n)
            bound = iwae_bound(log_px, standard_normal_log_density(z), gaussian_log_likelihood(mu, logvar, z))
            loss = -bound.mean()  # mean_n −L_K(x)
            logs = {"neg_iwae_bound": loss.detach()}
            log_px = log_px.mean(dim=0)  # Monte-Carlo E_q log p(x|z) for the logs below
        recon, kl = -log_px.detach().mean(), kl.detach().mean()  # batch means, for the logs only
        logs.update({"neg_elbo": recon + kl, "recon": recon, "kl": kl})
        return loss, logs

    def on_epoch_end(self, epoch: int, data) -> dict:
        r"""The test −ELBO (one sample per example, fixed noise) after each epoch, for the loss curve."""
        x = data.x_test.to(self.device)
        g = torch.Generator(device=self.device).manual_seed(epoch)
        with torch.no_grad(), evaluating(self):
            total = 0.0
            for start in range(0, len(x), 1024):
                xb = x[start:start + 1024]
                mu, logvar = self.encode(xb)
                log_px = self.log_px_given_z(self.decode(reparameterize(mu, logvar, generator=g)),
                                             xb.reshape(len(xb), -1))
                total += float(negative_elbo(log_px, mu, logvar).sum())
        return {"test_neg_elbo": total / len(x)}

    # ---- evaluation ----------------------------------------------------------------
    @torch.no_grad()
    def likelihood_terms(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None,
                         max_rows: int | None = None) -> dict[str, torch.Tensor]:
        r"""Per-example bounds with ``k`` samples z_k ∼ q(z|x), batched so at most ``max_rows`` codes are decoded at once.

        ``max_rows`` defaults to ``DECODE_ROWS`` of the device: on a CPU, 512 rows at a time decode the
        28×28 conv decoder at about twice the codes/s of 16,384 at a time (whose activations leave the
        caches; benchmarks/RESULTS.md); on a GPU, large batches.

        Returns a dict of tensors of shape (n,), in nats:
        ``recon`` = −(1/k) Σ_k log p(x|z_k)  (Monte-Carlo −E_q log p(x|z)),
        ``kl`` = KL(q(z|x) ‖ p(z)) (closed form), ``neg_elbo`` = recon + kl,
        ``nll_iwae`` = −L_k(x) of :func:`~latentzoo.vae.losses.iwae_bound` on the same k samples.
        """
        if max_rows is None:
            max_rows = DECODE_ROWS["cpu" if x.device.type == "cpu" else "accelerator"]
        per_chunk = max(1, max_rows // k)  # examples per chunk
        sample_chunk = min(k, max_rows)  # samples decoded at once (< k only when k > max_rows)
        out = {key: [] for key in ("recon", "kl", "neg_elbo", "nll_iwae")}
        for start in range(0, len(x), per_chunk):
            xb = x[start:start + per_chunk]
            x_flat = xb.reshape(len(xb), -1)
            mu, logvar = self.encode(xb)
            terms = {"log_px": [], "log_pz": [], "log_q": []}  # each (k, b) once the sample chunks are joined
            for done in range(0, k, sample_chunk):
                z = reparameterize(mu, logvar, generator, n_samples=min(sample_chunk, k - done))  # (s, b, latent)
                terms["log_px"].append(self.log_px_given_z(self.decode(z), x_flat))  # log p(x|z_k)
                terms["log_pz"].append(standard_normal_log_density(z))  # log p(z_k)
                terms["log_q"].append(gaussian_log_likelihood(mu, logvar, z))  # log q(z_k|x)
            log_px, log_pz, log_q = (torch.cat(terms[key]) for key in ("log_px", "log_pz", "log_q"))
            recon = -log_px.mean(dim=0)  # −(1/k) Σ_k log p(x|z_k)
            kl = gaussian_kl(mu, logvar)
            out["recon"].append(recon)
            out["kl"].append(kl)
            out["neg_elbo"].append(recon + kl)
            out["nll_iwae"].append(-iwae_bound(log_px, log_pz, log_q))  # −L_k(x)
        return {key: torch.cat(values) for key, values in out.items()}

    def evaluate(self, data, history: list[dict]) -> dict:
        r"""Test-set means (nats per example) of −ELBO, its two terms, and −L_K with K = ``eval_samples``.

        ``density`` says what the nats are: with a Gaussian decoder, or a Bernoulli one on binary data,
        bounds on −log p(x) of a normalised density; with a Bernoulli decoder on grey levels in (0, 1)
        the Bernoulli "likelihood" is a cross-entropy, not a density on [0, 1] (it does not integrate to
        1 there), so its nats compare only with the same likelihood on the same data.
        """
        k = self.config.eval_samples
        g = torch.Generator(device=self.device).manual_seed(0)  # fixed noise: the same run gives the same numbers
        # K decodes per example: the estimate is sized to cost EVAL_DECODES decodes (the test split is a random
        # permutation, so its first rows are a uniform subsample); small test splits are used whole
        n = min(len(data.x_test), max(EVAL_MIN_EXAMPLES, EVAL_DECODES // k))
        x = data.x_test[:n].to(self.device)
        with evaluating(self):
            terms = self.likelihood_terms(x, k, generator=g)
        grey = self.config.likelihood == "bernoulli" and not bool(((x == 0) | (x == 1)).all())
        return {
            "test_neg_elbo": float(terms["neg_elbo"].mean()),
            "test_recon": float(terms["recon"].mean()),
            "test_kl": float(terms["kl"].mean()),
            "test_nll_iwae": float(terms["nll_iwae"].mean()),
            "eval_iwae_k": k,
            "eval_iwae_examples": n,
            "likelihood": self.config.likelihood,
            "density": GREY_LEVELS if grey else "normalised",
        }

    def encoder_gradient_estimates(self, x: torch.Tensor, n_estimates: int,
                                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        r"""``n_estimates`` pathwise and score-function estimates of ∇_φ of the batch-mean −ELBO of ``x``.

        φ are the encoder's parameters. Each estimate draws one z = μ + σ⊙ε per example; the
        KL term is exact in both estimators, so they differ only in how they estimate
        ∇_φ E_{q_φ(z|x)}[−log p(x|z)]:

        * pathwise (reparameterised):  ∇_φ [ −log p(x | μ_φ(x) + σ_φ(x)⊙ε) ] + ∇_φ KL;
        * score function (REINFORCE):  −log p(x|z) · ∇_φ log q_φ(z|x) + ∇_φ KL, z held fixed.

        Both are unbiased estimates of the same gradient.

        Returns
        -------
        (pathwise, score) : Tensors of shape (n_estimates, number of encoder parameters)
        """
        from torch.func import functional_call, jacrev, vmap

        x_flat = x.reshape(len(x), -1)
        names = [name for name, p in self.encoder.named_parameters() if p.requires_grad]
        params = {name: p.detach() for name, p in self.encoder.named_parameters() if p.requires_grad}
        buffers = dict(self.encoder.named_buffers())
        eps = torch.randn((n_estimates, *x.shape[:1], self.config.latent_dim), generator=generator,
                          device=x.device, dtype=params[names[0]].dtype)  # one ε per example and estimate

        def objectives(phi: dict, e: torch.Tensor) -> torch.Tensor:
            mu, logvar = functional_call(self.encoder, (phi, buffers), (x,)).chunk(2, dim=-1)
            kl = gaussian_kl(mu, logvar)
            z = reparameterize(mu, logvar, eps=e)  # z = μ_φ(x) + σ_φ(x) ⊙ ε
            log_px = self.log_px_given_z(self.decode(z), x_flat)
            pathwise = (-log_px + kl).mean()  # gradient flows through z
            log_q = gaussian_log_likelihood(mu, logvar, z.detach())  # log q_φ(z|x), z without a path to φ
            score = (score_function_surrogate(log_q, -log_px) + kl).mean()  # −log p(x|z) ∇ log q + ∇ KL
            return torch.stack([pathwise, score])

        # per estimate, the Jacobian of (pathwise, score) with respect to φ: two gradients at once
        with torch.enable_grad():
            jac = vmap(jacrev(objectives), in_dims=(None, 0), chunk_size=64)(params, eps)
        flat = torch.cat([jac[name].reshape(n_estimates, 2, -1) for name in names], dim=2)  # (n, 2, P)
        return flat[:, 0].detach(), flat[:, 1].detach()

    def gradient_variance(self, data, n_estimates: int = 200, batch_size: int = 64, seed: int = 0) -> dict:
        r"""How much noisier the score-function gradient is than the pathwise one, on the trained model.

        On the first ``batch_size`` test examples, ``n_estimates`` estimates of each kind
        (:meth:`encoder_gradient_estimates`). The variance of an estimator is the trace of
        its covariance, Σ_i Var[ĝ_i]: the unbiased sample variance over the estimates,
        summed over all encoder parameters.

        Returns
        -------
        dict
            ``grad_var_reparam``, ``grad_var_score``, ``grad_var_ratio`` = score / reparam,
            and the ``grad_var_estimates`` and ``grad_var_batch`` used.
        """
        if n_estimates < 2:
            raise UserError("gradient variance needs at least 2 estimates")
        x = data.x_test[:batch_size].to(self.device)
        g = torch.Generator(device=self.device).manual_seed(seed)
        with evaluating(self):
            pathwise, score = self.encoder_gradient_estimates(x, n_estimates, generator=g)
        var_pathwise = float(pathwise.double().var(dim=0).sum())  # tr Cov[ĝ_pathwise]
        var_score = float(score.double().var(dim=0).sum())  # tr Cov[ĝ_score]
        return {"grad_var_reparam": var_pathwise, "grad_var_score": var_score,
                "grad_var_ratio": var_score / var_pathwise if var_pathwise > 0 else float("inf"),
                "grad_var_estimates": n_estimates, "grad_var_batch": len(x)}

    # ---- use after training --------------------------------------------------------
    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        r"""The encoder mean μ(x), shape (n, latent_dim)."""
        return self.encode(x)[0]

    def _reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        r"""E[x|z = μ(x)]: the decoder's mean at the posterior mean."""
        return self.mean_of(self.decode(self.encode(x)[0])).reshape(x.shape)

    def _sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""z ∼ p(z) = N(0, I), then the decoder's mean E[x|z] (Bernoulli probabilities, Gaussian means)."""
        device = generator.device if generator is not None else self.device
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=device).to(self.device)
        return self.mean_of(self.decode(z)).reshape(n, *self.data_shape)

    # ---- figures -------------------------------------------------------------------
    def figures(self, data, history: list[dict], figure_dir: Path) -> list[Path]:
        r"""Prior samples, reconstructions, an interpolation, latent traversals, latent means, loss curves."""
        from latentzoo.vae.figures import vae_figures

        return vae_figures(self, data, history, Path(figure_dir))
