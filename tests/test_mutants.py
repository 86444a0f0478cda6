r"""Deliberate mistakes in how the models use their losses, and the model-level tests that catch them.

The loss functions have their own planted-mistake check (each formula against a slow loop, a closed
form and a gradcheck). One level up, a model can call a correct loss wrongly: cut a gradient path, pass
the wrong option, weight a penalty by the wrong factor, record a signal with the wrong sign. Each
mutant below is such a mistake, applied in-process (a function of the model's module replaced, or a
method replaced by a copy of its source with one expression changed), and each names the tests that
must fail under it. Every catcher is run twice: it must pass on the real code and raise
``AssertionError`` under the mutant (not crash: a crash would prove nothing about the test).

======================================  =====================================================  ==========================================
mutant                                  the mistake                                            caught by
======================================  =====================================================  ==========================================
vae-z-detached                          z = μ + σ ⊙ ε cut from the encoder (no pathwise         vae/test_wiring: pathwise gradient (4
                                        gradient: KL collapses to 0, −ELBO 27.35 vs 25.84)      cases); KL above 0 on digits (slow)
vae-kl-detached                         the encoder gets no gradient from the KL term           vae/test_wiring: pathwise gradient (3)
vae-beta-ignored                        β-VAE trained with β = 1                                vae/test_wiring: pathwise gradient (β=3);
                                                                                               vae/test_model: slow loop (β=3)
gan-generator-loss-ignores-kind         G always non-saturating, whatever ``loss``              gan/test_wiring: generator step (4 kinds)
gan-discriminator-loss-ignores-kind     D always non-saturating, whatever ``loss``              gan/test_wiring: discriminator step (3)
gan-d-win-sign-flipped                  d_win = mean σ(D(G(η_j)) − D(y_i))                      gan/test_wiring: known states (2),
                                                                                               discriminator step (5)
gan-r1-weight-gamma                     R1 added with γ instead of γ/2                          gan/test_wiring: R1 by hand, linear D
gan-gp-weight-halved                    WGAN-GP added with λ/2 instead of λ                     gan/test_wiring: linear D
gan-grad-norm-of-discriminator          generator_grad_norm measured on D's gradients                   gan/test_wiring: known states (3)
gan-signals-recorded-in-eval            evaluation passes written into the diagnosis signals    gan/test_wiring: training only
linear-ae-stops-on-loss-only            convergence without the encoder's excess (the           autoencoders/test_linear_convergence:
                                        6.9%-above-PCA failure)                                 converged needs both halves
======================================  =====================================================  ==========================================
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import latentzoo.gan.model as gan_model
import latentzoo.vae.model as vae_model
from latentzoo.autoencoders.linear import LinearAutoencoder

TESTS = Path(__file__).parent


def load(relative: str):
    """A test module by path (a private copy: the suite's own run of it is not touched)."""
    path = TESTS / relative
    spec = importlib.util.spec_from_file_location(f"_mutant_catchers_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mutated(cls, name: str, old: str, new: str, count: int = 1):
    """A copy of method ``cls.name`` with ``old`` replaced by ``new`` in its source (``count`` times)."""
    function = inspect.unwrap(getattr(cls, name))
    source = textwrap.dedent(inspect.getsource(function))
    if source.count(old) != count:
        raise LookupError(f"{cls.__name__}.{name} no longer contains {old!r} {count} time(s): update this mutant")
    namespace = dict(vars(sys.modules[function.__module__]))
    # compiled as the module is (``annotations`` is the __future__ feature imported above)
    code = compile(source.replace(old, new), f"<mutant of {cls.__name__}.{name}>", "exec",
                   flags=annotations.compiler_flag, dont_inherit=True)
    exec(code, namespace)
    return namespace[name]


def wrap(module, name: str, change: Callable):
    """A patch replacing ``module.name`` by ``change(original)``."""
    def apply(patch):
        patch.setattr(module, name, change(getattr(module, name)))
    return apply


def replace_method(cls, name: str, old: str, new: str, count: int = 1):
    def apply(patch):
        patch.setattr(cls, name, mutated(cls, name, old, new, count))
    return apply


@dataclass
class Mutant:
    name: str
    apply: Callable            # apply(monkeypatch): plants the mistake
    catchers: list             # (test module, test function, argument tuples)
    slow: bool = False


def detached(function):
    return lambda *args, **kwargs: function(*args, **kwargs).detach()


def kl_of_detached(gaussian_kl):
    return lambda mu, logvar: gaussian_kl(mu.detach(), logvar.detach())


def beta_one(negative_elbo):
    return lambda *args, beta=1.0, **kwargs: negative_elbo(*args, beta=1.0, **kwargs)


def one_kind_for_generator(generator_loss):
    return lambda logits, kind: generator_loss(logits, "nonsaturating")


def one_kind_for_discriminator(discriminator_loss):
    return lambda real, fake, kind: discriminator_loss(real, fake, "nonsaturating")


def halved(function):
    return lambda *args, **kwargs: 0.5 * function(*args, **kwargs)


PATHWISE = [("bernoulli", {}), ("gaussian", {}), ("bernoulli", {"beta": 3.0}), ("bernoulli", {"iwae_k": 4})]
VAE_WIRING, GAN_WIRING = "vae/test_wiring.py", "gan/test_wiring.py"
KNOWN_STATES = [(5.0, 1.0), (-5.0, 0.0), (0.0, 0.5)]

MUTANTS = [
    Mutant("vae-z-detached", wrap(vae_model, "reparameterize", detached),
           [(VAE_WIRING, "test_training_gradient_is_the_pathwise_gradient", PATHWISE)]),
    Mutant("vae-z-detached-on-digits", wrap(vae_model, "reparameterize", detached),
           [(VAE_WIRING, "test_short_training_on_digits_keeps_kl_well_above_zero", [()])], slow=True),
    Mutant("vae-kl-detached", wrap(vae_model, "gaussian_kl", kl_of_detached),
           [(VAE_WIRING, "test_training_gradient_is_the_pathwise_gradient", PATHWISE[:3])]),
    Mutant("vae-beta-ignored", wrap(vae_model, "negative_elbo", beta_one),
           [(VAE_WIRING, "test_training_gradient_is_the_pathwise_gradient", [PATHWISE[2]]),
            ("vae/test_model.py", "test_training_loss_equals_slow_loop_with_same_noise", [("bernoulli", 3.0)])]),
    Mutant("gan-generator-loss-ignores-kind", wrap(gan_model, "generator_loss", one_kind_for_generator),
           [(GAN_WIRING, "test_generator_step_follows_its_loss",
             [("minimax",), ("wasserstein",), ("hinge",), ("least-squares",)])]),
    Mutant("gan-discriminator-loss-ignores-kind", wrap(gan_model, "discriminator_loss", one_kind_for_discriminator),
           [(GAN_WIRING, "test_discriminator_step_follows_its_loss", [("wasserstein",), ("hinge",), ("least-squares",)])]),
    Mutant("gan-d-win-sign-flipped",
           replace_method(gan_model.GAN, "forward", "torch.sigmoid(real_all - fake_all)",
                          "torch.sigmoid(fake_all - real_all)"),
           [(GAN_WIRING, "test_diagnosis_signals_on_known_states", KNOWN_STATES[:2]),
            (GAN_WIRING, "test_discriminator_step_follows_its_loss", [("nonsaturating",), ("hinge",)])]),
    Mutant("gan-r1-weight-gamma", replace_method(gan_model.GAN, "forward", "0.5 * c.r1 * r1", "c.r1 * r1"),
           [(GAN_WIRING, "test_r1_weight_is_half_gamma", [()]),
            (GAN_WIRING, "test_penalty_weights_on_a_linear_discriminator", [("r1", 3.0)])]),
    Mutant("gan-gp-weight-halved", wrap(gan_model, "gradient_penalty", halved),
           [(GAN_WIRING, "test_penalty_weights_on_a_linear_discriminator", [("gp", 10.0)])]),
    Mutant("gan-grad-norm-of-discriminator",
           replace_method(gan_model.GAN, "after_optimizer_step", "self.generator.parameters()",
                          "self.discriminator.parameters()"),
           [(GAN_WIRING, "test_diagnosis_signals_on_known_states", KNOWN_STATES)]),
    Mutant("gan-signals-recorded-in-eval",
           replace_method(gan_model.GAN, "forward", "if self.training:", "if True:", count=2),
           [(GAN_WIRING, "test_signals_are_recorded_in_training_only", [()])]),
    Mutant("linear-ae-stops-on-loss-only",
           replace_method(LinearAutoencoder, "converged", 'last["encoder_excess"] < tol and ', ""),
           [("autoencoders/test_linear_convergence.py", "test_converged_needs_both_halves_and_a_still_loss", [()])]),
]


def catchers(mutant: Mutant):
    for module, function, cases in mutant.catchers:
        test = getattr(load(module), function)
        for args in cases:
            yield f"{module}::{function}{list(args) if args else ''}", (lambda test=test, args=args: test(*args))


def check_caught(mutant: Mutant):
    found = list(catchers(mutant))
    for name, run in found:
        run()                                   # passes on the real code
    with pytest.MonkeyPatch.context() as patch:
        mutant.apply(patch)
        missed = []
        for name, run in found:
            try:
                run()
            except AssertionError:
                continue
            missed.append(name)
    assert not missed, f"{mutant.name} is not caught by {missed}"


@pytest.mark.parametrize("mutant", [m for m in MUTANTS if not m.slow], ids=lambda m: m.name)
def test_mutant_is_caught(mutant):
    check_caught(mutant)


@pytest.mark.slow
@pytest.mark.parametrize("mutant", [m for m in MUTANTS if m.slow], ids=lambda m: m.name)
def test_mutant_is_caught_by_a_training_run(mutant):
    check_caught(mutant)


def test_every_mutant_changes_the_code_it_names():
    """A mutant whose snippet has gone from the source fails loudly (LookupError), never silently."""
    with pytest.raises(LookupError, match="update this mutant"):
        mutated(gan_model.GAN, "forward", "no such expression", "")
    for mutant in MUTANTS:
        with pytest.MonkeyPatch.context() as patch:
            mutant.apply(patch)
