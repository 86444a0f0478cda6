r"""Seed question 1.2 — sparse coding: dictionary learning with an ℓ₁ penalty on the codes.

The objective, in the row convention of DESIGN.md (examples are rows of X ∈ R^{n×d}, the
codes rows of U ∈ R^{n×k}, the atoms rows of D ∈ R^{k×d}):

    min_{U, D}  F(U, D) = ‖X − UD‖²_F + λ‖U‖₁      subject to ‖D_k‖₂ ≤ 1 for every atom k

(the seed writes ‖X − DU‖² + λ‖U‖₁ with examples as columns). Without the bound on the atoms,
scaling D up and U down would drive the penalty to 0. scikit-learn minimises
½‖X − UD‖² + α‖U‖₁, the same problem with α = λ/2.

Two alternating steps, each convex in its own variable:

* **Codes** (U for fixed D): a lasso per example, solved by :func:`sparse_encode` — rounds of
  FISTA (Beck & Teboulle 2009) and feature-sign steps (Lee et al. 2007) on a whole batch of
  examples at once, stopped when the duality gap certifies that the objective is within a
  relative ``tol`` of its minimum. Only matrix products and element-wise operations on
  tensors: it runs on a GPU unchanged.
* **Dictionary** (D for fixed U): the online block-coordinate update of Mairal, Bach, Ponce &
  Sapiro (2010). Mini-batches accumulate the sufficient statistics A = Σ UᵀU (k×k) and
  B = Σ UᵀX (k×d), with the forgetting factor of their mini-batch variant; one pass of
  exact block-coordinate descent over the atoms then minimises tr(DᵀAD) − 2 tr(DᵀB) under
  ‖D_k‖ ≤ 1:  D_k ← D_k + (B_k − A_k D) / A_kk,  D_k ← D_k / max(1, ‖D_k‖).
  The data never needs to fit in one batch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field

from latentzoo import distributed
from latentzoo.autoencoders.base import autoencoder_figures, code_sparsity, in_chunks, squared_error
from latentzoo.autoencoders.losses import sparse_coding_objective
from latentzoo.errors import UserError
from latentzoo.model import LatentModel, ModelConfig
from latentzoo.nets import flatten
from latentzoo.spec import Figure, Metric


def soft_threshold(v: torch.Tensor, threshold: float | torch.Tensor) -> torch.Tensor:
    r"""The proximal operator of t‖·‖₁: sign(v) · max(|v| − t, 0), element-wise."""
    return torch.sign(v) * torch.clamp(v.abs() - threshold, min=0)


def _objective_and_gap(x: torch.Tensor, codes: torch.Tensor, dictionary: torch.Tensor,
                       lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Per-example objective F(uₙ) and lasso duality gap (see :func:`duality_gap`), each (n,)."""
    residual = x - codes @ dictionary                                   # r = x − uD
    corr = residual @ dictionary.T                                      # c = r Dᵀ
    squared = residual.pow(2).sum(1)
    l1 = codes.abs().sum(1)
    max_corr = corr.abs().amax(1)
    s = torch.where(max_corr > lam / 2, (lam / 2) / max_corr.clamp_min(1e-30), torch.ones_like(max_corr))
    gap = (1 - s) ** 2 * squared + lam * l1 - 2 * s * (codes * corr).sum(1)   # (1−s)²‖r‖² + λ‖u‖₁ − 2s u·c
    return squared + lam * l1, gap.clamp_min(0)


def duality_gap(x: torch.Tensor, codes: torch.Tensor, dictionary: torch.Tensor,
                lam: float) -> torch.Tensor:
    r"""The lasso duality gap of each example's code, an upper bound on F(uₙ) − min_u F(u).

    For one example, F(u) = ‖x − uD‖² + λ‖u‖₁. With the residual r = x − uD, the correlations
    c = r Dᵀ and the dual-feasible scaling s = min(1, λ / (2‖c‖_∞)), the dual point θ = s r gives

        gap = F(u) − [‖x‖² − ‖x − θ‖²] = (1 − s)² ‖r‖² + λ‖u‖₁ − 2 s u·c  ≥ 0,

    written without the difference of large numbers ‖x‖² − ‖x − θ‖² so that it stays accurate
    in float32. It is 0 exactly at the minimiser (where |cₖ| ≤ λ/2, with cₖ = (λ/2) sign(uₖ)
    wherever uₖ ≠ 0: the KKT conditions).

    Returns
    -------
    Tensor (n,).
    """
    return _objective_and_gap(x, codes, dictionary, lam)[1]


def _fista(u: torch.Tensor, descent: torch.Tensor, shift: torch.Tensor, threshold: float,
           iterations: int) -> torch.Tensor:
    r"""``iterations`` FISTA steps from ``u``, momentum restarted at 0 (Beck & Teboulle 2009).

    The gradient step Y − ∇(Y)/L with ∇(Y) = 2(YG − C) is one fused product,
    Y − ∇/L = Y M + C', with M = I − (2/L) G and C' = (2/L) C precomputed; then

        Uₜ₊₁ = S_{λ/L}(Yₜ M + C'),   Yₜ₊₁ = Uₜ₊₁ + ((t − 1)/(t + 2)) (Uₜ₊₁ − Uₜ)

    (the momentum (t − 1)/(t + 2) of Chambolle & Dossal 2015, which converges like FISTA's).
    """
    y = u
    for step in range(iterations):
        u_next = torch.nn.functional.softshrink(torch.addmm(shift, y, descent), threshold)  # S_{λ/L}(Y − ∇/L)
        y = torch.add(u_next, u_next - u, alpha=step / (step + 3)) if step + 1 < iterations else u_next
        u = u_next
    return u


def _support_newton(u: torch.Tensor, gram: torch.Tensor, corr0: torch.Tensor, lam: float,
                    iterations: int) -> torch.Tensor:
    r"""A feature-sign step (Lee, Battle, Raina & Ng 2007) for every example at once.

    On the face of the orthant where the code keeps the support S and signs s of ``u``,
    F(v) = ‖x‖² + vGvᵀ − 2v·(C − (λ/2)s), a quadratic. Conjugate gradients (warm-started at u,
    masked to S) minimise it; then a line search moves from u towards that minimiser v only
    up to the first coordinate that would change sign, which is set to exactly 0. Since the
    quadratic is convex and CG does not increase it, F never increases along this step.
    """
    signs = torch.sign(u)
    mask = (signs != 0).to(u.dtype)
    rhs = (corr0 - (lam / 2) * signs) * mask                            # b = C − (λ/2)s on S
    v = u
    r = rhs - (v @ gram) * mask                                         # r = b − G_SS v
    p, rr = r, (r * r).sum(1, keepdim=True)
    tiny = torch.finfo(u.dtype).tiny
    for _ in range(iterations):
        ap = (p @ gram) * mask
        pap = (p * ap).sum(1, keepdim=True)
        alpha = torch.where(pap > tiny, rr / pap.clamp_min(tiny), torch.zeros_like(pap))
        v = v + alpha * p
        r = r - alpha * ap
        rr_next = (r * r).sum(1, keepdim=True)
        p = r + (rr_next / rr.clamp_min(tiny)) * p
        rr = rr_next
    # Line search up to the first sign change: u + a(v − u), a = min(1, min_j uⱼ/(uⱼ − vⱼ)).
    flips = (mask > 0) & (torch.sign(v) != signs)
    crossing = torch.where(flips, u / torch.where(flips, u - v, torch.ones_like(u)), torch.full_like(u, 2.0))
    a = crossing.amin(1, keepdim=True).clamp(0, 1)
    moved = u + a * (v - u)
    return torch.where(torch.sign(moved) == signs, moved, torch.zeros_like(moved))


@torch.no_grad()
def _certified_rounds(x, dictionary, lam, codes, tol, max_iter, fista_steps, newton_steps, all_reduce=None):
    r"""The rounds of :func:`sparse_encode` (FISTA, feature-sign step, duality-gap certificate) from ``codes``.

    Returns (codes, iterations, rounds, examples still active, Σ gap, Σ F)."""
    k = dictionary.shape[0]
    gram = dictionary @ dictionary.T                                    # G = DDᵀ (k, k)
    lipschitz = 2 * float(torch.linalg.eigvalsh(gram.double()).max().clamp_min(1e-12))  # L = 2 λ_max(G)
    step, threshold = 1.0 / lipschitz, lam / lipschitz
    descent = torch.eye(k, dtype=x.dtype, device=x.device) - (2 * step) * gram   # M = I − (2/L) G
    active = torch.arange(x.shape[0], device=x.device)                 # examples not yet certified
    xa, ca, u = x, x @ dictionary.T, codes.clone()                      # C = XDᵀ
    objective, gap = _objective_and_gap(xa, u, dictionary, lam)
    done_objective = done_gap = 0.0                                     # sums over certified examples
    iterations = rounds = 0
    while True:
        codes[active] = u
        # Stop once the total is certified: Σₙ gapₙ ≤ tol · Σₙ F(uₙ) ⇒ F(U) ≤ (1 + tol) min F.
        total_gap, total_objective = done_gap + float(gap.sum()), done_objective + float(objective.sum())
        if all_reduce is not None:   # Σ over the ranks: the certificate of the global batch
            totals = torch.tensor([total_gap, total_objective], dtype=torch.float64, device=x.device)
            total_gap, total_objective = all_reduce(totals).tolist()
        if total_gap <= tol * total_objective or iterations >= max_iter:
            return codes, iterations, rounds, active, total_gap, total_objective
        # Examples certified on their own (gapₙ ≤ tol · F(uₙ)) leave the batch.
        done = gap <= tol * objective
        if bool(done.any()):
            keep = ~done
            done_gap += float(gap[done].sum())
            done_objective += float(objective[done].sum())
            active, xa, ca, u, objective, gap = active[keep], xa[keep], ca[keep], u[keep], objective[keep], gap[keep]
        steps = min(fista_steps, max_iter - iterations)
        u = _fista(u, descent, (2 * step) * ca, threshold, steps)
        iterations += steps
        rounds += 1
        if newton_steps > 0:
            u = _support_newton(u, gram, ca, lam, newton_steps)
        objective, gap = _objective_and_gap(xa, u, dictionary, lam)


def sparse_encode(x: torch.Tensor, dictionary: torch.Tensor, lam: float, init: torch.Tensor | None = None,
                  tol: float = 1e-4, max_iter: int = 1000, fista_steps: int = 25, newton_steps: int = 5,
                  return_info: bool = False, all_reduce=None):
    r"""The codes U minimising ‖X − UD‖²_F + λ‖U‖₁ for a fixed dictionary D (batched lasso).

    Every example is an independent lasso, and all of them are solved at once with matrix
    products on tensors (so it runs on a GPU unchanged). With the Gram matrix G = DDᵀ and
    C = XDᵀ computed once, each round is

    1. ``fista_steps`` iterations of FISTA (Beck & Teboulle 2009), restarted every round:
       gradient ∇ = 2(YG − C), Lipschitz constant L = 2 λ_max(G), step 1/L, soft threshold λ/L
       (see :func:`_fista`); they find the support and signs of the codes;
    2. a feature-sign step (:func:`_support_newton`): ``newton_steps`` conjugate-gradient
       iterations minimise the objective on that support and orthant, with a line search that
       stops at the first sign change, so the objective never increases;
    3. a certificate: the duality gap of each example (:func:`duality_gap`). An example whose
       gap is at most ``tol`` times its objective is certified, F(uₙ) ≤ (1 + tol)·min F, and
       leaves the batch, so the work shrinks as examples converge.

    It stops when the gaps sum to at most ``tol`` times the total objective, which certifies
    F(U) = ‖X − UD‖²_F + λ‖U‖₁ ≤ (1 + tol)·min F, or after ``max_iter`` FISTA iterations
    (``return_info`` then reports the relative gap reached).

    Parameters
    ----------
    x, dictionary : Tensor (n, d), Tensor (k, d)
        Examples and atoms as rows (atoms of any norm; learning keeps them ≤ 1).
    lam : float
        λ ≥ 0. scikit-learn's ``alpha`` is λ/2.
    init : Tensor (n, k), optional
        Warm start (e.g. the previous dictionary's codes); zeros otherwise.
    tol : float
        Relative duality-gap tolerance (of the total; examples certified alone leave early).
    max_iter : int
        Cap on the total number of FISTA iterations.
    fista_steps, newton_steps : int
        FISTA and conjugate-gradient iterations per round (``newton_steps=0``: plain FISTA).
    return_info : bool
        Also return ``{"iterations", "rounds", "relative_gap" (Σ gap / Σ F),
        "uncertified" (examples left when max_iter stopped it, else 0)}``.
    all_reduce : callable, optional
        Sums a tensor over the ranks of a data-parallel run: the certificate is then the whole
        batch's, so every rank runs the rounds one process would run.

    Returns
    -------
    Tensor (n, k), same dtype and device as ``x``; and the info dict if ``return_info``.
    """
    if x.ndim != 2 or dictionary.ndim != 2 or x.shape[1] != dictionary.shape[1] or lam < 0 or (
            init is not None and init.shape != (x.shape[0], dictionary.shape[0])):
        raise ValueError(f"expected x (n, d), dictionary (k, d), lam >= 0 and init (n, k); got {tuple(x.shape)}, "
                         f"{tuple(dictionary.shape)}, {lam} and {None if init is None else tuple(init.shape)}")
    codes = x.new_zeros(x.shape[0], dictionary.shape[0]) if init is None else init.to(x.dtype).clone()
    codes, iterations, rounds, active, total_gap, total_objective = _certified_rounds(
        x, dictionary.to(x.dtype), lam, codes, tol, max_iter, fista_steps, newton_steps, all_reduce)
    if return_info:
        return codes, {"iterations": iterations, "rounds": rounds, "uncertified": len(active) if total_gap > tol
                       * total_objective else 0, "relative_gap": total_gap / total_objective if total_objective else 0.0}
    return codes


def update_dictionary(dictionary: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                      min_usage: float = 1e-10) -> torch.Tensor:
    r"""One pass of block-coordinate descent over the atoms (Mairal et al. 2010, Algorithm 2).

    Minimises, in the row convention, Σₙ‖xₙ − uₙD‖² = const + tr(Dᵀ A D) − 2 tr(Dᵀ B) with A = Σ uₙᵀuₙ (k×k) and B = Σ uₙᵀxₙ (k×d), one atom at a time, exactly, under ‖D_k‖ ≤ 1:

        D_k ← D_k + (B_k − A_k D) / A_kk,     D_k ← D_k / max(1, ‖D_k‖₂)

    (the block's quadratic is isotropic, A_kk‖D_k‖², so the projection is exact). Atoms with
    A_kk ≤ ``min_usage`` (never used) are left unchanged. Updates ``dictionary`` in place.
    """
    for j in range(dictionary.shape[0]):
        if a[j, j] <= min_usage:
            continue
        dictionary[j] += (b[j] - a[j] @ dictionary) / a[j, j]        # D_k + (B_k − A_k D) / A_kk
        dictionary[j] /= dictionary[j].norm().clamp_min(1.0)         # projection onto ‖D_k‖ ≤ 1
    return dictionary


class SparseCodingConfig(ModelConfig):
    r"""Options of ``sparse-coding``. ``latent_dim`` is the number of atoms k; ``lr``,
    ``weight_decay``, ``hidden`` and ``depth`` do not apply (the updates are exact minimisations)."""

    latent_dim: int = Field(100, gt=0, description="k, the number of atoms (may exceed the input dimension)")
    lam: float = Field(1.0, gt=0, description="λ in ‖X − UD‖²_F + λ‖U‖₁ (scikit-learn's alpha = λ/2)")
    preprocess: Literal["none", "scale", "center", "normalize"] = Field(
        "normalize", description="none; scale: x/s; center: (x − x̄)/s, x̄ each example's mean, s one global "
                                 "RMS; normalize: (x − x̄)/√(var(x) + ε), contrast normalisation (images)")
    epochs: int = Field(10, gt=0)
    batch_size: int = Field(256, gt=0)
    tol: float = Field(1e-3, gt=0, lt=1, description="relative duality-gap tolerance of the codes while learning")
    eval_tol: float = Field(1e-5, gt=0, lt=1, description="relative duality-gap tolerance of the test codes")
    max_iter: int = Field(500, gt=0, description="cap on FISTA iterations per batch")


class SparseCoding(LatentModel):
    r"""Dictionary learning for ‖X − UD‖²_F + λ‖U‖₁ with ‖D_k‖₂ ≤ 1 (see the module docstring).

    Training is not by gradient: each batch is encoded exactly (:func:`sparse_encode`), its
    statistics are added to A and B with the forgetting factor of Mairal et al.'s mini-batch
    variant, and the atoms take one exact block-coordinate pass (:func:`update_dictionary`).
    Atoms unused so far (A_kk = 0) are restarted at the batch examples worst reconstructed.

    Metrics on the test split (preprocessed like the training data):
    ``objective`` — the mean per test example of ‖x − uD‖² + λ‖u‖₁ (the DESIGN.md objective
    divided by n), with u = sparse_encode(x, D, λ) to a relative gap of ``eval_tol``;
    ``test_recon_mse`` — mean ‖x − x̂‖² in the units of the *original* data (the preprocessing
    undone), comparable with the other autoencoders; ``code_sparsity`` — fraction of exact
    zeros; ``mean_active_atoms`` — mean number of non-zero codes per example;
    ``atoms_used`` — fraction of atoms used by some test example.
    """

    name = "sparse-coding"
    Config = SparseCodingConfig
    METRICS = (
        Metric("objective", "sparse-coding objective (‖X − UD‖²_F + λ‖U‖₁) / n on the test split", "per example",
               "lower", headline=True),
        Metric("code_sparsity", "fraction of code entries exactly zero", "", "higher", headline=True),
        Metric("test_recon_mse", "test reconstruction error: mean over examples of Σ (x − x̂)²", "per example",
               "lower", headline=True),
        Metric("mean_active_atoms", "mean number of non-zero code entries per example"),
        Metric("atoms_used", "fraction of atoms used by at least one test example", "", "higher"),
        Metric("latent_dim", "number k of atoms"),
        Metric("lam", "weight λ of ‖U‖₁"),
    )
    FIGURES = (
        Figure("atoms.png", "features", "dictionary atoms D_k, most used first", card=True),
        Figure("reconstructions.png", "reconstructions", "test inputs above their reconstructions uD"),
        Figure("code_histogram.png", "latent", "code values on the test split (exact zeros counted apart)"),
    )
    can_reconstruct = True

    def setup(self, config: SparseCodingConfig, data):
        k, d = config.latent_dim, data.dim
        # Random unit atoms; on_train_start replaces them with normalised training examples.
        start = torch.randn(k, d)
        self.register_buffer("dictionary", start / start.norm(dim=1, keepdim=True))
        self.register_buffer("stat_a", torch.zeros(k, k))            # A = Σ UᵀU (with forgetting)
        self.register_buffer("stat_b", torch.zeros(k, d))            # B = Σ UᵀX (with forgetting)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        self.register_buffer("scale", torch.ones(()))                # s: global RMS (scale, center)
        self.register_buffer("epsilon", torch.ones(()))              # ε of the contrast normalisation

    @classmethod
    def recipe(cls, data):
        k = {"image": 100, "signal": 64, "vector": min(256, 2 * data.dim), "points": 8}[data.kind]
        preprocess = "normalize" if data.kind == "image" else "scale"
        # About 800 dictionary updates (batches of 256), at most 10 epochs of a big split.
        epochs = max(3, min(100, math.ceil(800 * 256 / len(data.x_train))))
        return {"latent_dim": k, "preprocess": preprocess, "epochs": epochs}

    @classmethod
    def check(cls, config, data):
        if config.preprocess in ("center", "normalize") and data.dim < 2:
            raise UserError(f"sparse-coding: preprocess={config.preprocess} removes each example's mean, which leaves "
                            "nothing of one-dimensional data; use --set preprocess=scale")

    def configure_optimizers(self, total_steps):
        return {"main": None}, []  # the dictionary update is an exact minimisation, not a gradient step

    # ---- preprocessing -------------------------------------------------------------------
    def _offset_and_factor(self, x: torch.Tensor) -> tuple[torch.Tensor | float, torch.Tensor]:
        r"""x' = (x − offset) / factor for flattened examples x (n, d), by ``preprocess``:

        none: offset 0, factor 1;  scale: offset 0, factor s;  center: offset x̄, factor s;
        normalize: offset x̄, factor √(var(x) + ε) per example (Coates & Ng 2011), where x̄ and
        var(x) are the mean and variance of the example's own features, s the RMS of the
        (centred) training data and ε the mean of var(x) over the training split — so flat,
        low-contrast examples are not blown up into noise.
        """
        mode = self.config.preprocess
        offset = x.mean(1, keepdim=True) if mode in ("center", "normalize") else 0.0
        if mode == "normalize":
            return offset, ((x - offset).pow(2).mean(1, keepdim=True) + self.epsilon).sqrt()
        return offset, self.scale.expand(x.shape[0], 1)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """(n, *shape) → (n, d), the data the dictionary models (see :meth:`_offset_and_factor`)."""
        x = flatten(x)
        offset, factor = self._offset_and_factor(x)
        return (x - offset) / factor

    def reconstruction_of(self, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """x̂ in the original units: offset + factor · uD, the preprocessing undone."""
        offset, factor = self._offset_and_factor(flatten(x))
        return (offset + factor * (codes @ self.dictionary)).reshape(-1, *self.data_shape)

    def encode(self, x: torch.Tensor, tol: float | None = None) -> torch.Tensor:
        c = self.config
        return in_chunks(lambda chunk: sparse_encode(self.preprocess(chunk), self.dictionary, c.lam,
                                                     tol=c.eval_tol if tol is None else tol, max_iter=20 * c.max_iter),
                         x)

    def _embed(self, x):
        return self.encode(x)

    def _reconstruct(self, x):
        return self.reconstruction_of(x, self.encode(x))

    # ---- training ------------------------------------------------------------------------
    @torch.no_grad()
    def on_train_start(self, data):
        x = flatten(data.x_train.to(self.scale.device))
        mode = self.config.preprocess
        if mode in ("center", "normalize"):
            x = x - x.mean(1, keepdim=True)
        if mode in ("scale", "center"):
            self.scale.copy_(x.pow(2).mean().sqrt().clamp_min(1e-12))  # s = RMS over examples and features
        if mode == "normalize":
            self.epsilon.copy_(x.pow(2).mean().clamp_min(1e-12))        # ε = mean of var(x) over examples
        x = self.preprocess(data.x_train.to(self.scale.device))
        # Atoms start as k random training examples with non-negligible energy, normalised.
        norms = x.norm(dim=1)
        candidates = torch.nonzero(norms > 1e-6 * norms.max().clamp_min(1e-30)).squeeze(1)
        k = self.config.latent_dim
        order = torch.randperm(len(candidates), device=candidates.device)
        if len(order) < k:  # fewer distinct examples than atoms: repeat some
            order = torch.cat([order, torch.randint(len(candidates), (k - len(order),), device=order.device)])
        pick = candidates[order[:k]]
        self.dictionary.copy_(x[pick] / norms[pick, None])
        self.stat_a.zero_()
        self.stat_b.zero_()
        self.updates.zero_()

    @torch.no_grad()
    def forward(self, x, phase="main"):
        with distributed.full_precision(x):    # exact solvers: never lowered by autocast
            return self._forward(x)

    def _forward(self, x):
        c = self.config
        xp = self.preprocess(x)
        reduce = distributed.all_sum if distributed.is_distributed() else None   # several ranks: one batch
        codes = sparse_encode(xp, self.dictionary, c.lam, tol=c.tol, max_iter=c.max_iter, all_reduce=reduce)
        per_example = ((xp - codes @ self.dictionary).pow(2).sum(1)
                       + c.lam * codes.abs().sum(1))                 # ‖x − uD‖² + λ‖u‖₁ before the update
        if self.training:
            self._learn(xp, codes)
        return per_example.mean(), {"code_sparsity": (codes == 0).float().mean()}

    def _learn(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        r"""Sufficient statistics with forgetting, then one block-coordinate pass over the atoms.

        Forgetting factor of the mini-batch variant (Mairal et al. 2010, as in scikit-learn):
        with batch size η and t updates so far, θ = (t + 1)η if t < η − 1 else η² + t + 1 − η,
        β = (θ + 1 − η)/(θ + 1);  A ← βA + UᵀU/η,  B ← βB + UᵀX/η.
        With several ranks η is the global batch and UᵀU, UᵀX are summed over the ranks, so every
        rank holds the same statistics and dictionary after each step.
        """
        eta, t = x.shape[0] * distributed.rank_world()[1], int(self.updates)
        theta = (t + 1) * eta if t < eta - 1 else eta**2 + t + 1 - eta
        beta = (theta + 1 - eta) / (theta + 1)
        self.stat_a.mul_(beta).add_(distributed.all_sum(codes.T @ codes) / eta)   # A ← βA + UᵀU/η
        self.stat_b.mul_(beta).add_(distributed.all_sum(codes.T @ x) / eta)       # B ← βB + UᵀX/η
        update_dictionary(self.dictionary, self.stat_a, self.stat_b)
        self._restart_unused_atoms(x, codes)
        self.updates += 1

    def _restart_unused_atoms(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        """Atoms no example has used yet (A_kk = 0) restart at the worst-reconstructed examples."""
        unused = torch.nonzero(torch.diagonal(self.stat_a) <= 1e-10).squeeze(1)
        if len(unused) == 0:
            return
        x, codes = distributed.gather(x), distributed.gather(codes)   # the worst examples of the global batch
        error = (x - codes @ self.dictionary).pow(2).sum(1)
        worst = torch.argsort(error, descending=True)[:len(unused)]
        fresh = x[worst]
        norms = fresh.norm(dim=1, keepdim=True)
        keep = norms.squeeze(1) > 1e-12
        self.dictionary[unused[keep]] = fresh[keep] / norms[keep]

    # ---- evaluation ----------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, data, history):
        c = self.config
        x = data.x_test.to(self.device)
        xp = self.preprocess(x)
        codes = self.encode(x)
        objective = sparse_coding_objective(xp.double(), codes.double(), self.dictionary.double(), c.lam)
        recon = self.reconstruction_of(x, codes)
        return {
            "test_recon_mse": float(squared_error(x, recon).mean()),
            "code_sparsity": code_sparsity(codes),
            "objective": float(objective / x.shape[0]),              # (‖X − UD‖²_F + λ‖U‖₁) / n on test
            "mean_active_atoms": float((codes != 0).float().sum(1).mean()),
            "atoms_used": float((codes != 0).any(0).float().mean()),
            "latent_dim": c.latent_dim,
            "lam": c.lam,
        }

    @torch.no_grad()
    def figures(self, data, history, figure_dir):
        x = data.x_test.to(self.device)
        codes = self.encode(x)
        shown = x[:10]
        # Atoms ordered by use (most used first), so that the grid opens with the main edges.
        order = torch.argsort((codes != 0).float().sum(0), descending=True)
        atoms = self.dictionary[order].reshape(-1, *self.data_shape)
        return autoencoder_figures(
            Path(figure_dir), data, self.name,
            example_rows=[shown, self.reconstruction_of(shown, codes[:10])], row_names=["input", "reconstruction"],
            atoms=atoms, atoms_title=f"sparse-coding: dictionary atoms D_k (most used first), λ={self.config.lam:g}",
            codes=codes)
