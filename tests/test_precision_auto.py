"""``precision="auto"`` (the default): bf16-mixed only for the models that prefer it, on hardware that computes
bfloat16 natively; 32-true everywhere else; a resumed run keeps the precision it was started in."""

from __future__ import annotations

import pytest
import torch
import yaml

import latentzoo as lz
from latentzoo.data import Dataset
from latentzoo.engine import runtime
from latentzoo.engine.runtime import resolve_precision
from latentzoo.registry import model_class


def grey_images(n: int = 96, side: int = 16, seed: int = 0) -> Dataset:
    """Grey images of ``side`` pixels: a bright square at a random place on a dark field, with labels."""
    g = torch.Generator().manual_seed(seed)
    x = 0.1 * torch.rand(n, 1, side, side, generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    for i in range(n):
        r, c = torch.randint(0, side - 6, (2,), generator=g).tolist()
        x[i, 0, r:r + 6, c:c + 6] += 0.5 + 0.4 * float(y[i])
    split = 3 * n // 4
    return Dataset("squares", "image", x[:split], x[split:], y[:split], y[split:])


def config_of(name, data, **options):
    from latentzoo.config import build_config

    cls = model_class(name)
    return cls, build_config(cls, data, {}, options)


@pytest.mark.parametrize(("name", "options", "prefers"), [
    ("simclr", {}, True),                       # the CNN on 16-pixel grey images
    ("simclr", {"encoder": "mlp"}, False),      # an MLP does not gain
    ("vae", {}, True),                          # conv encoder/decoder
    ("vae", {"conv": False}, False),
    ("gan", {}, False),                         # not measured: stays float32
    ("linear-ae", {}, False),
])
def test_auto_is_bf16_only_where_the_model_prefers_it_and_the_cpu_has_native_bf16(monkeypatch, name, options,
                                                                                   prefers):
    data = grey_images()
    cls, config = config_of(name, data, **options)
    model = cls()
    assert cls.prefers_bf16(config, data) is prefers
    monkeypatch.setattr(runtime, "native_bf16", lambda accelerator: True)
    assert resolve_precision("auto", model, config, data, "cpu") == ("bf16-mixed" if prefers else "32-true")
    monkeypatch.setattr(runtime, "native_bf16", lambda accelerator: False)
    assert resolve_precision("auto", model, config, data, "cpu") == "32-true"
    # the user's choice is kept; a resumed run keeps what it was started in
    assert resolve_precision("16-mixed", model, config, data, "cpu") == "16-mixed"
    assert resolve_precision("auto", model, config, data, "cpu", {"fabric": {"precision": "bf16-mixed"}}) \
        == "bf16-mixed"


def test_small_images_and_signals_do_not_prefer_bf16():
    """Below 16 pixels a side (8×8 digits) bf16 was measured slower on the CPU: 32-true."""
    data = grey_images(n=200, side=8)
    for name in ("simclr", "vae"):
        cls, config = config_of(name, data)
        assert not cls.prefers_bf16(config, data), name


def test_native_bf16_follows_the_cpu_flags(monkeypatch, tmp_path):
    import builtins

    real_open = builtins.open

    def cpuinfo(flags):
        path = tmp_path / "cpuinfo"
        path.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(builtins, "open", lambda p, *a, **k: real_open(path if p == "/proc/cpuinfo" else p,
                                                                            *a, **k))

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpuinfo("fpu avx512f amx_bf16 amx_tile")
    assert runtime.native_bf16("cpu") and runtime.native_bf16("auto")
    assert not runtime.native_bf16("cuda")              # GPUs keep float32 under auto until measured
    cpuinfo("fpu avx2 avx512f avx512_bf16")             # bf16 instructions without the matrix units
    assert not runtime.native_bf16("cpu")


def test_a_run_under_auto_records_the_resolved_precision_and_resume_keeps_it(monkeypatch, tmp_path):
    """On an AMX machine (forced here) a VAE on 16-pixel images trains in bf16-mixed: config.yaml says so,
    the losses are finite, and resuming with the default keeps bf16-mixed even where auto would say 32-true."""
    import numpy as np

    monkeypatch.setattr(runtime, "native_bf16", lambda accelerator: True)
    data = tmp_path / "squares.npy"                    # a file: a resumed run reads its data again
    images = grey_images()
    np.save(data, torch.cat([images.x_train, images.x_test]).numpy())
    out = tmp_path / "run"
    model = lz.fit("vae", data, out=out, epochs=1, progress=False, hidden=8, batch_size=24)
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["fabric"]["precision"] == "bf16-mixed"
    assert all(torch.isfinite(torch.tensor(v)) for k, v in model.history[-1].items() if k.endswith("loss"))
    monkeypatch.setattr(runtime, "native_bf16", lambda accelerator: False)
    lz.fit("vae", data, out=out, epochs=2, progress=False, resume=True)
    assert yaml.safe_load((out / "config.yaml").read_text())["fabric"]["precision"] == "bf16-mixed"
    fresh = tmp_path / "fresh"
    lz.fit("vae", data, out=fresh, epochs=1, progress=False, hidden=8, batch_size=24)
    assert yaml.safe_load((fresh / "config.yaml").read_text())["fabric"]["precision"] == "32-true"


def test_grey_jitter_changes_brightness_and_contrast_per_example():
    """jitter > 0 on grey images: the views' mean grey level and spread vary between copies of one image
    far more than crop, flip and blur alone make them vary."""
    from latentzoo.simclr.augment import Augment

    image = grey_images(n=4, side=28).x_train[:1].expand(256, -1, -1, -1).contiguous()

    def spread_of_means(jitter):
        torch.manual_seed(0)
        augment = Augment.for_data("image", (1, 28, 28), crop_min=1.0, flip=0.0, jitter=jitter)
        views = augment(image)
        return float(views.mean(dim=(1, 2, 3)).std())

    assert spread_of_means(0.8) > 5 * spread_of_means(0.0)
