r"""``--compile`` / ``compile=True``: the model's networks under ``torch.compile``.

Each network with parameters (encoder, decoder, generator, discriminator, backbone, head, ...)
is compiled in place with :meth:`torch.nn.Module.compile`: the module keeps its parameters and
its place in the model, only its call goes through the compiled graph. The state dict therefore
has the same keys as without compilation (no ``_orig_mod.`` prefix), so checkpoints, weights and
``--resume`` work across compiled and plain runs. The augmentations (no parameters) and the
losses stay eager, and so do the networks a penalty differentiates twice (the discriminator under R1
or WGAN-GP, the contractive autoencoder's encoder): ``aot_autograd`` cannot compile a double backward.
The first steps pay the compilation (seconds to minutes); the gain shows on
long runs and on GPUs.
"""

from __future__ import annotations

import torch
from torch import nn

from latentzoo.errors import UserError, printable


def check_compile_works() -> None:
    """Compile and run a tiny network once; refuse ``--compile`` in one line where it cannot work."""
    if not hasattr(torch, "compile"):
        raise UserError(f"--compile needs torch.compile (PyTorch >= 2.0), this is torch {torch.__version__}")
    probe = nn.Linear(2, 1)
    try:
        probe.compile()
        probe(torch.zeros(1, 2)).sum().backward()
    except Exception as e:  # inductor's failures (no C++ compiler, unsupported platform) have many types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"--compile: torch.compile does not work here ({printable(first, 160)}); "
                        "train without --compile") from None


def twice_differentiated(model: nn.Module) -> set[str]:
    """Sub-networks whose gradient is itself differentiated (gradient penalties): they stay eager."""
    c, name = getattr(model, "config", None), getattr(model, "name", "")
    if name == "gan" and (getattr(c, "r1", 0) > 0 or getattr(c, "gp", 0) > 0):
        return {"discriminator"}                  # R1 / WGAN-GP: the penalty's backward runs through ∂D/∂x
    if name == "contractive-ae":
        return {"encoder"}                        # ‖∂f/∂x‖²_F is trained through its Jacobian
    return set()


def compile_networks(model: nn.Module) -> list[str]:
    """Compile every direct sub-network of ``model`` that has parameters, in place; their names."""
    check_compile_works()
    names, eager = [], twice_differentiated(model)
    for name, child in model.named_children():
        if name not in eager and any(True for _ in child.parameters()):
            child.compile()
            names.append(name)
    return names
