"""--compile / compile=True: the networks run under torch.compile, train as the eager ones do, and save
the same state-dict keys (checkpoints and --resume keep working)."""

from __future__ import annotations

import pytest
import torch

from latentzoo.engine import load_checkpoint, train_model
from latentzoo.errors import UserError

OPTIONS = {"hidden": 32, "latent_dim": 4, "batch_size": 256}


def _compile_works() -> bool:
    from latentzoo.engine.compiling import check_compile_works

    try:
        check_compile_works()
    except UserError:
        return False
    return True


needs_compile = pytest.mark.skipif(not _compile_works(), reason="torch.compile does not work on this build")


@pytest.mark.slow
@needs_compile
def test_compiled_run_trains_like_the_eager_one_and_keeps_plain_keys(tmp_path):
    torch._dynamo.reset()
    compiled = train_model("vae", "digits", tmp_path / "c", overrides=OPTIONS, epochs=3, progress=False,
                           compile=True)
    eager = train_model("vae", "digits", tmp_path / "e", overrides=OPTIONS, epochs=3, progress=False)
    assert compiled.encoder._compiled_call_impl is not None          # the networks really were compiled
    assert eager.encoder._compiled_call_impl is None
    losses = [r["loss"] for r in compiled.history]
    assert losses[-1] < losses[0]                                     # it trains
    # the same initial weights and batches: the compiled run follows the eager one (not to the last digit:
    # inductor draws the VAE's noise ε from its own generator)
    assert losses == pytest.approx([r["loss"] for r in eager.history], rel=2e-2)
    keys = set(load_checkpoint(tmp_path / "c" / "checkpoints" / "last.ckpt")["model"])
    assert keys == set(eager.state_dict()) and not any("_orig_mod" in k for k in keys)


@pytest.mark.slow
@needs_compile
def test_a_compiled_run_resumes(tmp_path):
    torch._dynamo.reset()
    train_model("vae", "digits", tmp_path / "r", overrides=OPTIONS, epochs=1, progress=False, compile=True)
    resumed = train_model("vae", "digits", tmp_path / "r", epochs=2, resume=True, progress=False, compile=True)
    assert resumed.metrics["epochs"] == 2 and len(resumed.history) == 2


@pytest.mark.slow
@needs_compile
def test_a_gan_with_r1_compiles_its_generator_and_keeps_the_penalised_discriminator_eager(tmp_path):
    # aot_autograd cannot differentiate twice: a compiled D under R1 fails at its first step
    torch._dynamo.reset()
    model = train_model("gan", "ring8", None, overrides={"hidden": 16, "depth": 1, "r1": 0.1}, epochs=1,
                        progress=False, compile=True)
    assert model.generator._compiled_call_impl is not None
    assert model.discriminator._compiled_call_impl is None
    assert all(torch.isfinite(torch.tensor(r["discriminator_loss"])) for r in model.history)


def test_compile_that_cannot_work_is_one_clear_line(tmp_path, monkeypatch, capsys):
    from latentzoo.cli import main

    def broken(self, *args, **kwargs):
        raise RuntimeError("CppCompileError: no C++ compiler\nlong trace")

    monkeypatch.setattr(torch.nn.Module, "compile", broken)
    code = main(["fit", "vae", "--data", "digits", "--out", str(tmp_path / "x"), "--compile"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "torch.compile does not work here (CppCompileError: no C++ compiler)" in err
    assert not (tmp_path / "x").exists()
