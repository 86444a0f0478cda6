r"""The measurements of ``bench_fmnist.py``, one function per cell, each run in its own process.

``bench_fmnist.py`` starts ``python benchmarks/fmnist_workers.py NAME SPEC_JSON`` with the
interpreter a side needs (the project's for latentzoo, scikit-learn and the plain PyTorch loops;
the peers' ``.peervenv`` for lightly and pythae) and reads the last line of its output,
``RESULT {json}``. Every worker reads the same data with latentzoo's own reader (the same
train/test split, the same [0, 1] scaling) and, where the brief asks for it, scores both sides
with the same latentzoo function (linear probe, IWAE estimator, Fréchet distance).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import torch


def load(spec: dict):
    """The dataset of ``spec['data']``, cut to ``n_train``/``n_test`` examples when given (``--quick``)."""
    from latentzoo.data import Dataset, load_dataset

    data = load_dataset(spec["data"], spec.get("seed", 0))
    n, m = spec.get("n_train"), spec.get("n_test")
    if not n and not m:
        return data
    def cut(t, k):
        return (t[:k] if (t is not None and k) else t)
    return Dataset(data.name, data.kind, cut(data.x_train, n), cut(data.x_test, m), cut(data.y_train, n),
                   cut(data.y_test, m), data.extras)


def config_for(model: str, data, overrides: dict):
    """latentzoo's resolved configuration for ``model`` on ``data`` (recipe < ``overrides``)."""
    from latentzoo.config import build_config
    from latentzoo.registry import model_class

    cls = model_class(model)
    return cls, build_config(cls, data, {}, dict(overrides))


def precision_of(model, data) -> str:
    """The precision ``lz.fit``'s default (``precision="auto"``) ran ``model`` in on this machine."""
    from latentzoo.engine.runtime import resolve_precision

    return resolve_precision("auto", model, model.config, data, "cpu")


def probe(encoder, data) -> float:
    """latentzoo's linear probe on the frozen representation h = encoder(x) (both sides alike)."""
    from latentzoo.probes import linear_probe_acc

    encoder.eval()
    with torch.no_grad():
        h_train = torch.cat([encoder(x) for x in data.x_train.split(1024)])
        h_test = torch.cat([encoder(x) for x in data.x_test.split(1024)])
    return linear_probe_acc(h_train, data.y_train, h_test, data.y_test)


# ---- SimCLR ---------------------------------------------------------------------------------
def simclr_ours(spec: dict) -> dict:
    """``lz.fit("simclr", data, max_time=...)``; timer: the engine's training loop (``train_seconds``)."""
    import latentzoo as lz

    data = load(spec)
    torch.manual_seed(spec.get("seed", 0))
    tic = time.perf_counter()
    model = lz.fit("simclr", data, max_time=f"{spec['seconds']}s", progress=False, seed=spec.get("seed", 0),
                   **spec.get("overrides", {}))
    whole = time.perf_counter() - tic
    m = model.metrics
    return {"probe": probe(model.encoder, data), "train_seconds": m["train_seconds"], "whole_seconds": whole,
            "steps": m.get("steps"), "samples_per_second": m["samples_per_second"],
            "batch_size": model.config.batch_size, "precision": precision_of(model, data), "torch": torch.__version__}


def _lightly_loader(data, config, how: str):
    """Batches of two views: lightly's SimCLRTransform on PIL images in a DataLoader (as lightly's examples),
    or latentzoo's kornia pipeline on tensors (``how="kornia"``, the same augmentation as ours)."""
    from latentzoo.simclr.augment import Augment

    if how == "kornia":
        augment = Augment.for_data(data.kind, tuple(data.shape), crop_min=config.crop_min, flip=config.flip,
                                   noise=config.noise, erase=config.erase, jitter=config.jitter)

        def batches():
            perm = torch.randperm(len(data.x_train))
            for i in range(0, len(perm) - config.batch_size + 1, config.batch_size):
                x = data.x_train[perm[i:i + config.batch_size]]
                yield augment(x), augment(x)
        return batches
    from lightly.transforms import SimCLRTransform
    from PIL import Image

    crop = Augment.for_data(data.kind, tuple(data.shape), crop_min=config.crop_min).transform.crop_min
    transform = SimCLRTransform(input_size=data.shape[-1], min_scale=crop, normalize=None,
                                hf_prob=0.5 if config.flip is None else config.flip)

    class Views(torch.utils.data.Dataset):
        def __len__(self):
            return len(data.x_train)

        def __getitem__(self, i):
            image = Image.fromarray((data.x_train[i, 0] * 255).round().byte().numpy(), mode="L")
            return transform(image)

    loader = torch.utils.data.DataLoader(Views(), batch_size=config.batch_size, shuffle=True, drop_last=True,
                                         num_workers=0)
    return lambda: iter(loader)


def simclr_lightly(spec: dict) -> dict:
    """lightly's NTXentLoss and SimCLRProjectionHead on latentzoo's backbone, in a plain loop as lightly's
    examples write it, for the same time; timer: the loop (augmentations included, as on our side)."""
    from lightly.loss import NTXentLoss
    from lightly.models.modules import SimCLRProjectionHead

    from latentzoo.nets import backbone_for
    from latentzoo.simclr.model import SimCLR

    data = load(spec)
    _, c = config_for("simclr", data, spec.get("overrides", {}))
    torch.manual_seed(spec.get("seed", 0))
    backbone = backbone_for(SimCLR.encoder_kind(c, data.kind, tuple(data.shape)), data.kind, tuple(data.shape),
                            c.latent_dim, c.hidden, c.depth, bn_relu=c.h_bn_relu)
    head = SimCLRProjectionHead(c.latent_dim, c.proj_hidden or c.latent_dim, c.proj_dim)
    model = torch.nn.Sequential(backbone, head)
    criterion = NTXentLoss(temperature=c.temperature)
    optimizer = torch.optim.Adam(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)   # our recipe's
    batches = _lightly_loader(data, c, spec.get("lightly_aug", "lightly"))
    steps, tic = 0, time.perf_counter()
    while time.perf_counter() - tic < spec["seconds"]:
        for x0, x1 in batches():
            z0, z1 = model(x0), model(x1)
            loss = criterion(z0, z1)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            steps += 1
            if time.perf_counter() - tic >= spec["seconds"]:
                break
    seconds = time.perf_counter() - tic
    return {"probe": probe(backbone, data), "train_seconds": seconds, "steps": steps,
            "samples_per_second": steps * c.batch_size / seconds, "batch_size": c.batch_size,
            "torch": torch.__version__}


# ---- VAE ------------------------------------------------------------------------------------
def iwae_nll(vae, data, k: int) -> float:
    """latentzoo's IWAE estimate −L_k, mean over the test split, with fixed noise (both sides alike)."""
    g = torch.Generator().manual_seed(0)
    vae.eval()
    return float(vae.likelihood_terms(data.x_test, k, generator=g)["nll_iwae"].mean())


def vae_ours(spec: dict) -> dict:
    """``lz.fit("vae", data, epochs=E)``; timer: the engine's training loop, and the whole call apart."""
    import latentzoo as lz

    data = load(spec)
    tic = time.perf_counter()
    model = lz.fit("vae", data, epochs=spec["epochs"], progress=False, seed=spec.get("seed", 0),
                   eval_samples=spec["k"], **spec.get("overrides", {}))
    whole = time.perf_counter() - tic
    m = model.metrics
    return {"samples_per_second": m["samples_per_second"], "train_seconds": m["train_seconds"],
            "whole_seconds": whole, "nll": iwae_nll(model, data, spec["k"]), "precision": precision_of(model, data),
            "torch": torch.__version__}


def vae_pythae(spec: dict) -> dict:
    """pythae's VAE and TrainingPipeline with latentzoo's encoder/decoder; timer: ``BaseTrainer.train_step``
    (its loop over the DataLoader), the whole pipeline apart. The trained weights are scored by our IWAE."""
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainer, BaseTrainerConfig

    data = load(spec)
    cls, c = config_for("vae", data, {"eval_samples": spec["k"], **spec.get("overrides", {})})
    torch.manual_seed(spec.get("seed", 0))
    ours = cls(c, data)                                # latentzoo's networks, untrained

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = ours.encoder

        def forward(self, x):
            mu, logvar = self.net(x).chunk(2, dim=-1)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = ours.decoder

        def forward(self, z):                         # pythae's "bce" wants probabilities
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)).reshape(len(z), *data.shape))

    model = VAE(VAEConfig(input_dim=tuple(data.shape), latent_dim=c.latent_dim, reconstruction_loss="bce"),
                encoder=Encoder(), decoder=Decoder())
    seconds, original = [], BaseTrainer.train_step

    def timed(self, epoch):
        tic = time.perf_counter()
        result = original(self, epoch)
        seconds.append(time.perf_counter() - tic)
        return result

    BaseTrainer.train_step = timed
    with tempfile.TemporaryDirectory() as out:
        config = BaseTrainerConfig(output_dir=out, num_epochs=spec["epochs"], learning_rate=c.lr,
                                   per_device_train_batch_size=c.batch_size, per_device_eval_batch_size=c.batch_size,
                                   optimizer_cls="Adam", no_cuda=True, steps_saving=None, seed=spec.get("seed", 0))
        tic = time.perf_counter()
        pipeline = TrainingPipeline(model=model, training_config=config)
        pipeline(train_data=data.x_train)
        whole = time.perf_counter() - tic
    trained = pipeline.trainer.model
    ours.encoder.load_state_dict(trained.encoder.net.state_dict())
    ours.decoder.load_state_dict(trained.decoder.net.state_dict())
    return {"samples_per_second": spec["epochs"] * len(data.x_train) / sum(seconds), "train_seconds": sum(seconds),
            "whole_seconds": whole, "nll": iwae_nll(ours, data, spec["k"]), "torch": torch.__version__}


WORKERS = {"simclr_ours": simclr_ours, "simclr_lightly": simclr_lightly, "vae_ours": vae_ours,
           "vae_pythae": vae_pythae}


def _more_workers() -> dict:
    import fmnist_workers_local

    return fmnist_workers_local.WORKERS


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import logging

    logging.getLogger("pythae").setLevel(logging.WARNING)
    name, spec = sys.argv[1], json.loads(sys.argv[2])
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    fn = WORKERS.get(name) or _more_workers()[name]
    result = fn(spec)
    print("RESULT " + json.dumps(result), flush=True)
