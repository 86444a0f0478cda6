r"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (seed question 4).

For a batch of N examples, each seen through two augmentations, the projection head
gives ``z_i`` (N, D) and ``z_j`` (N, D). Stack them as the 2N views
Z = [z_i; z_j] (view a and view a ± N are the positive pair p(a)) and write

    sim(u, v) = uᵀv / (‖u‖ ‖v‖),        S[a, k] = sim(Z_a, Z_k) / τ,

    ℓ_{a,p(a)} = −log [ exp(S[a, p(a)]) / Σ_{k=1}^{2N} 1[k ≠ a] exp(S[a, k]) ],

    L = 1/(2N) Σ_{a=1}^{2N} ℓ_{a,p(a)}.

Each denominator has 2N − 1 terms (every view but the anchor itself: the positive and
the 2N − 2 negatives); the seed's formula repeats z_j in the denominator, it is z_k.
The reduction is a mean over the 2N anchors, so L is the seed's
1/(2N) Σ_k [ℓ_{2k−1,2k} + ℓ_{2k,2k−1}] (the interleaved numbering of the seed and the
stacked numbering here sum the same terms). Identical embeddings give L = log(2N − 1).

How it is computed (the fast path)
----------------------------------
With u the unit vectors and P[a, k] = exp(S[a, k] − lse_a) the softmax of row a over
k ≠ a, the gradient is

    ∂L/∂u = 1/(2Nτ) · [(P + Pᵀ) u − 2 u_{p(·)}],

and since S is symmetric, (P + Pᵀ)[a, k] = exp(S[a, k]) · (1/r_a + 1/r_k) with
r_a = Σ_{k≠a} exp(S[a, k]) = exp(lse_a). The loss therefore needs only the blocks
S_IJ with I ≤ J of the symmetric matrix:

* forward: one pass over the upper-triangular blocks (half of the 2N×2N product)
  accumulates the row sums r of exp(S) (rows from S_IJ, columns from S_IJᵀ);
* backward: a second pass recomputes each block (the other half product) and applies
  M_IJ = exp(S_IJ) ⊙ (1/r_I ⊕ 1/r_J) to both sides: ∂u_I += M_IJ u_J, ∂u_J += M_IJᵀ u_I
  (one full product).

That is two 2N×2N×D products in all, against three for autograd on the bare product
S = ZZᵀ (one forward, two backward), and the whole 2N×2N matrix never exists: the
blocks are visited as row strips of ``block`` rows, so memory is O(block·2N + N·D).
Because |S| ≤ 1/τ, exp(S) can neither overflow nor underflow while 1/τ stays well
inside the exponent range (τ ≥ 1/40 in float32); for
smaller τ each block uses the max-shifted log-sum-exp (two exponentials per entry),
so any τ > 0 is numerically stable.

With ``gather_distributed=True`` under an initialised ``torch.distributed`` process
group of world size W > 1, every rank's z_i and z_j are all-gathered with an
autograd-aware gather whose backward sums the incoming gradients over ranks and keeps
this rank's slice. Every rank then computes L on the global batch of Σ_r N_r pairs
(the same number on every rank) and the gradient reaching its own embeddings is
W · ∂L/∂z_local; after DDP averages parameter gradients over the W ranks, the result
is exactly the gradient of one process holding the whole global batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

__all__ = ["gather_with_grad", "nt_xent"]


# ---------------------------------------------------------------------------------------
# The block-symmetric NT-Xent on unit vectors
# ---------------------------------------------------------------------------------------

def _default_block(device: torch.device) -> int:
    # CPU: 512×512 float32 blocks (1 MiB; fastest measured on a 2-core AVX-512 Xeon) keep the
    # gemm at full speed and the element-wise work in cache; GPU: larger blocks, fewer launches.
    return 512 if device.type == "cpu" else 8192


def _exp_bound(dtype: torch.dtype) -> float:
    r"""Largest 1/τ for which exp(S) with |S| ≤ 1/τ, its row sums and their inverses stay
    normal numbers: 1/τ + log(2N) well below −log(tiny) (87 in float32, 708 in float64)."""
    return 40.0 if dtype == torch.float32 else 300.0


class _NTXentUnit(torch.autograd.Function):
    r"""L of the module docstring for unit vectors ``u`` (2N, D); a hand-written backward.

    The upper triangle of S is visited as row strips: rows I (``block`` of them) against
    every column k ≥ start of I. The first ``len(I)`` columns of a strip are its diagonal
    block, whose rows already hold both S_II and S_IIᵀ; the columns to the right are the
    blocks S_IJ, J > I, which also stand for S_JI = S_IJᵀ. Strips live in one reused
    buffer, so memory is O(block · 2N + N · D).
    """

    @staticmethod
    def forward(ctx, u: torch.Tensor, temperature: float, block: int):
        n2 = u.shape[0]
        n = n2 // 2
        inv_t = 1.0 / temperature
        fast = inv_t <= _exp_bound(u.dtype)
        left = u * inv_t                                   # u/τ, so that S_IJ = (u_I/τ) u_Jᵀ
        buffer = u.new_empty(min(block, n2) * n2)
        if fast:
            r = u.new_zeros(n2)                            # r_a = Σ_{k≠a} exp(S[a,k])
        else:
            lse = u.new_full((n2,), -math.inf)             # lse_a = log Σ_{k≠a} exp(S[a,k])
        for start in range(0, n2, block):
            stop = min(start + block, n2)
            b = stop - start
            s = buffer[: b * (n2 - start)].view(b, n2 - start)
            torch.mm(left[start:stop], u[start:].T, out=s)   # S[I, k ≥ start] = u_I u_kᵀ / τ
            if fast:
                e = s.exp_()                               # exp(S), no shift needed: |S| ≤ 1/τ
                e[:, :b].diagonal().zero_()                # 1[k ≠ a]
                r[start:stop] += e.sum(1)                  # rows of S_IJ, J ≥ I
                r[stop:] += e[:, b:].sum(0)                # rows of S_JI = S_IJᵀ, J > I
            else:
                s[:, :b].diagonal().fill_(-math.inf)
                lse[start:stop] = torch.logaddexp(lse[start:stop], torch.logsumexp(s, 1))
                if stop < n2:
                    lse[stop:] = torch.logaddexp(lse[stop:], torch.logsumexp(s[:, b:], 0))
        if fast:
            lse = r.log()
        positive = (u[:n] * u[n:]).sum(1) * inv_t          # S[a, p(a)] for a ≤ N (= for a + N)
        loss = (lse.sum() - 2.0 * positive.sum()) / n2     # 1/(2N) Σ_a (lse_a − S[a, p(a)])
        ctx.save_for_backward(u, r.reciprocal() if fast else lse)
        ctx.temperature, ctx.block, ctx.fast = temperature, block, fast
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss: torch.Tensor):
        u, stat = ctx.saved_tensors
        n2 = u.shape[0]
        n = n2 // 2
        block = ctx.block
        inv_t = 1.0 / ctx.temperature
        left = u * inv_t
        grad = torch.zeros_like(u)                          # accumulates (P + Pᵀ) u
        buffer = u.new_empty(min(block, n2) * n2)
        weights = u.new_empty(min(block, n2) * n2)
        for start in range(0, n2, block):
            stop = min(start + block, n2)
            b = stop - start
            s = buffer[: b * (n2 - start)].view(b, n2 - start)
            torch.mm(left[start:stop], u[start:].T, out=s)  # recompute S[I, k ≥ start]
            if ctx.fast:                                    # stat = 1/r
                w = weights[: s.numel()].view_as(s)
                torch.add(stat[start:stop, None], stat[None, start:], out=w)   # 1/r_a + 1/r_k
                m = s.exp_().mul_(w)                        # exp(S)(1/r_a + 1/r_k) = (P + Pᵀ)[a, k]
            else:                                           # stat = lse
                m = torch.exp(s - stat[start:stop, None]).add_(torch.exp(s - stat[None, start:]))
            m[:, :b].diagonal().zero_()
            grad[start:stop].addmm_(m, u[start:])           # ∂u_I += M[I, k ≥ start] u_k
            if stop < n2:
                grad[stop:].addmm_(m[:, b:].T, u[start:stop])   # ∂u_J += M_IJᵀ u_I, J > I
        grad[:n] -= 2.0 * u[n:]                             # − 2 u_{p(a)}: the positive logits
        grad[n:] -= 2.0 * u[:n]
        grad.mul_(grad_loss * (inv_t / n2))                 # 1/(2Nτ) and the incoming gradient
        return grad, None, None


# ---------------------------------------------------------------------------------------
# Negatives from every device
# ---------------------------------------------------------------------------------------

class _GatherWithGrad(torch.autograd.Function):
    r"""All-gather along dim 0 (ranks in order, sizes may differ); backward sums the
    incoming gradients over ranks (all-reduce) and returns this rank's slice."""

    @staticmethod
    def forward(ctx, x: torch.Tensor):
        import torch.distributed as dist

        world = dist.get_world_size()
        size = torch.tensor([x.shape[0]], device=x.device, dtype=torch.long)
        sizes = [torch.zeros_like(size) for _ in range(world)]
        dist.all_gather(sizes, size)
        sizes = [int(s) for s in sizes]
        largest = max(sizes)
        padded = x.new_zeros((largest, *x.shape[1:]))
        padded[: x.shape[0]] = x
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded.contiguous())
        rank = dist.get_rank()
        ctx.start = sum(sizes[:rank])
        ctx.size = x.shape[0]
        return torch.cat([p[:s] for p, s in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        import torch.distributed as dist

        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)         # Σ over ranks of ∂L_r/∂x
        return grad[ctx.start: ctx.start + ctx.size]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    r"""Concatenate ``x`` (n_r, ...) of every rank in rank order, keeping the autograd graph.

    The backward sums the gradients that all ranks send to this rank's rows. Without an
    initialised process group (or with one rank) it returns ``x`` unchanged.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


# ---------------------------------------------------------------------------------------
# Public function
# ---------------------------------------------------------------------------------------

def nt_xent(z_i: torch.Tensor, z_j: torch.Tensor, temperature: float = 0.5,
            gather_distributed: bool = False, block_size: int | None = None) -> torch.Tensor:
    r"""NT-Xent loss L of SimCLR (Chen et al. 2020, eq. 1), mean over the 2N anchors.

    .. math::

        L = \frac{1}{2N} \sum_{a=1}^{2N} -\log
            \frac{\exp(\mathrm{sim}(z_a, z_{p(a)})/\tau)}
                 {\sum_{k=1}^{2N} 1[k \ne a] \exp(\mathrm{sim}(z_a, z_k)/\tau)},
        \qquad \mathrm{sim}(u, v) = \frac{u^\top v}{\lVert u\rVert \lVert v\rVert}

    Parameters
    ----------
    z_i, z_j : Tensor, shape (N, D)
        Projections of the two views; row a of ``z_i`` and row a of ``z_j`` are a positive
        pair, every other row of either is a negative. Any floating dtype (computed in
        float32 at least, and in float64 for float64 inputs).
    temperature : float
        τ > 0 (0.5 by default, as in the seed; 0.1–0.5 are usual).
    gather_distributed : bool
        Under ``torch.distributed`` with several ranks, gather the embeddings of every
        rank with gradients and compute L on the global batch (see the module docstring).
    block_size : int, optional
        Rows per block of the 2N×2N similarity matrix (default 512 on CPU, 8192 on GPU).
        Memory is O(block_size·2N + N·D); the result does not depend on it beyond rounding.

    Returns
    -------
    Tensor
        The scalar L, in nats, differentiable with respect to ``z_i`` and ``z_j``.
    """
    if z_i.ndim != 2 or z_i.shape != z_j.shape:
        raise ValueError(
            f"nt_xent needs z_i and z_j of the same shape (N, D), got {tuple(z_i.shape)} and {tuple(z_j.shape)}"
        )
    if z_i.shape[0] < 1 or z_i.shape[1] < 1:
        raise ValueError(f"nt_xent needs at least one pair of non-empty embeddings, got {tuple(z_i.shape)}")
    if not temperature > 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a positive finite number, got {temperature}")
    if block_size is not None and block_size < 1:
        raise ValueError(f"block_size must be positive, got {block_size}")
    if gather_distributed:
        z_i, z_j = gather_with_grad(z_i), gather_with_grad(z_j)
    dtype = torch.float64 if z_i.dtype == torch.float64 else torch.float32
    u = F.normalize(torch.cat([z_i, z_j]).to(dtype), dim=1)   # Z_a / ‖Z_a‖, views 1..N then N+1..2N
    block = block_size or _default_block(u.device)
    return _NTXentUnit.apply(u, float(temperature), int(block))
