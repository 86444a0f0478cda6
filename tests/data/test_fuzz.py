"""Property-based fuzzing of every file reader: mutated or truncated bytes either load correctly
or raise one clean UserError line — never another exception, a hang or a huge allocation.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latentzoo.data import Dataset
from latentzoo.data.files import load_path
from latentzoo.errors import UserError

RNG = np.random.default_rng(0)
# LATENTZOO_FUZZ_EXAMPLES=1000 fuzzes harder (CI keeps the default small so the folder stays fast).
FUZZ = settings(max_examples=int(os.environ.get("LATENTZOO_FUZZ_EXAMPLES", "30")), deadline=3000, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _idx_bytes(array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def _image_bytes(fmt: str, rgb: bool) -> bytes:
    from PIL import Image

    shape = (6, 5, 3) if rgb else (6, 5)
    buffer = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, shape, dtype=np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


def _npz_bytes(compressed: bool) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(
        buffer, x=RNG.random((6, 3)).astype(np.float32), y=np.arange(6, dtype=np.int16),
        x_test=RNG.random((2, 3)).astype(np.float32), y_test=np.arange(2, dtype=np.int16))
    return buffer.getvalue()


def _npy_bytes() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, RNG.integers(0, 256, (4, 3, 3), dtype=np.uint8))
    return buffer.getvalue()


def _cifar_bytes(protocol: int) -> bytes:
    batch = {"batch_label": "b", "data": RNG.integers(0, 256, (2, 3072), dtype=np.uint8),
             "labels": [3, 7], "filenames": ["a.png", "b.png"]}
    return pickle.dumps(batch, protocol=protocol)


IMAGES = _idx_bytes(RNG.integers(0, 256, (5, 4, 4), dtype=np.uint8))
LABELS = _idx_bytes(RNG.integers(0, 10, 5, dtype=np.uint8))

# target name → (file name inside the dataset folder, valid bytes, the other files of the folder).
TARGETS = {
    "idx-images": ("train-images-idx3-ubyte", IMAGES, {"train-labels-idx1-ubyte": LABELS}),
    "idx-labels": ("train-labels-idx1-ubyte", LABELS, {"train-images-idx3-ubyte": IMAGES}),
    "idx-gz": ("train-images-idx3-ubyte.gz", gzip.compress(IMAGES), {}),
    "cifar-protocol-2": ("data_batch_1", _cifar_bytes(2), {}),
    "cifar-protocol-5": ("data_batch_1", _cifar_bytes(5), {}),
    "png": ("b/x.png", _image_bytes("PNG", False), {"a/y.png": _image_bytes("PNG", False)}),
    "jpeg": ("b/x.jpg", _image_bytes("JPEG", True), {"a/y.jpg": _image_bytes("JPEG", True)}),
    "bmp": ("b/x.bmp", _image_bytes("BMP", True), {"a/y.bmp": _image_bytes("BMP", True)}),
    "gif": ("b/x.gif", _image_bytes("GIF", False), {"a/y.gif": _image_bytes("GIF", False)}),
    "webp": ("b/x.webp", _image_bytes("WEBP", True), {"a/y.webp": _image_bytes("WEBP", True)}),
    "npy": ("data.npy", _npy_bytes(), {}),
    "npz-stored": ("data.npz", _npz_bytes(False), {}),
    "npz-deflated": ("data.npz", _npz_bytes(True), {}),
}


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """Truncate, overwrite, insert or delete bytes; positions favour the header (first 64 bytes)."""
    n = len(data)
    position = st.one_of(st.integers(0, min(63, n - 1)), st.integers(0, n - 1))
    kind = draw(st.sampled_from(["truncate", "overwrite", "insert", "delete", "several"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, n - 1))]
    out = bytearray(data)
    rounds = draw(st.integers(2, 6)) if kind == "several" else 1
    for _ in range(rounds):
        action = draw(st.sampled_from(["overwrite", "insert", "delete"])) if kind == "several" else kind
        at = draw(position) % max(1, len(out))
        if action == "overwrite":
            patch = draw(st.binary(min_size=1, max_size=8))
            out[at:at + len(patch)] = patch
        elif action == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del out[at:at + draw(st.integers(1, 8))]
    return bytes(out)


def _check_outcome(folder: Path, target: Path) -> None:
    """A correct dataset or a one-line UserError naming something inside the folder; nothing else."""
    try:
        data = load_path(target, seed=0)
    except UserError as error:
        message = str(error)
        assert "\n" not in message and str(folder) in message, message
        return
    assert isinstance(data, Dataset)
    for x in (data.x_train, data.x_test):
        assert x.dtype == torch.float32 and torch.isfinite(x).all()
        if data.kind == "image":
            assert x.ndim == 4 and x.shape[1] in (1, 3) and 0 <= float(x.min()) and float(x.max()) <= 1
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        if y is not None:
            assert y.dtype == torch.int64 and len(y) == len(x) and int(y.min()) >= 0


@pytest.mark.parametrize("name", list(TARGETS))
def test_mutated_files_load_or_fail_cleanly(name):
    file_name, valid, others = TARGETS[name]

    @FUZZ
    @given(raw=mutated(valid))
    def run(raw):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "dataset"
            for other, content in others.items():
                (folder / other).parent.mkdir(parents=True, exist_ok=True)
                (folder / other).write_bytes(content)
            (folder / file_name).parent.mkdir(parents=True, exist_ok=True)
            (folder / file_name).write_bytes(raw)
            target = folder / file_name if file_name.endswith((".npy", ".npz")) else folder
            _check_outcome(folder, target)

    run()


@pytest.mark.parametrize("name", ["idx-images", "cifar-protocol-2", "npy", "png"])
def test_the_unmutated_files_load(name, tmp_path):
    # The fuzz starts from files that really are valid, so "loads" is a reachable outcome.
    file_name, valid, others = TARGETS[name]
    for other, content in {**others, file_name: valid}.items():
        (tmp_path / other).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / other).write_bytes(content)
    target = tmp_path / file_name if file_name.endswith(".npy") else tmp_path
    assert isinstance(load_path(target, seed=0), Dataset)


@FUZZ
@given(header=st.binary(min_size=0, max_size=40), body=st.binary(max_size=64))
def test_random_idx_headers_never_allocate_what_they_claim(header, body):
    # Any 4-byte magic + sizes, including ones claiming up to (2^32 - 1)^ndim items.
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "train-images-idx3-ubyte").write_bytes(b"\x00\x00" + header + body)
        _check_outcome(folder, folder)


# Pickle fragments: containers, numbers, the allowed globals and the opcodes that call or build them.
_PICKLE_PIECES = [
    b"N", b"K\x01", b"K\x00", b"M\x00\x0c", b"J\xff\xff\xff\xff", b"\x88", b"\x89", b"]", b"}", b"(", b")",
    b"t", b"l", b"d", b"e", b"a", b"s", b"u", b"R", b"b", b"0", b"2", b"q\x00", b"h\x00", b"\x85", b"\x86",
    b"\x87", b"C\x03abc", b"U\x02u1", b"U\x01|", b"U\x02<f", b"U\x01O", b"X\x06\x00\x00\x00latin1",
    b"cnumpy\ndtype\n", b"cnumpy\nndarray\n", b"c_codecs\nencode\n", b"cnumpy.core.multiarray\n_reconstruct\n",
    b"cnumpy._core.numeric\n_frombuffer\n", b"cnumpy.core.multiarray\nscalar\n", b"cos\nsystem\n",
]


@FUZZ
@given(pieces=st.lists(st.sampled_from(_PICKLE_PIECES), max_size=40))
def test_restricted_unpickler_on_random_opcode_soup(pieces):
    from latentzoo.data.restricted_pickle import load_plain_pickle

    raw = b"\x80\x02" + b"".join(pieces) + b"."
    try:
        load_plain_pickle(raw, "soup")
    except UserError as error:
        assert "\n" not in str(error) and str(error).startswith("soup: ")


# ------------------------------------------------------------------ YAML and configuration (issue 14)

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                     st.sampled_from([10**400, -1, 0, 1e309, float("nan"), "inf", "1e309", "\x1b[2J", ""]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=10)
_YAML_PIECES = ["lr", "latent_dim", "a", ": ", "\n", "  ", "- ", "[", "]", "{", "}", ", ", "&x ", "*x", "&y ", "*y",
                "<<: ", "? ", "!!str ", "!!binary ", "!!python/name:os.system ", "!!set ", "!!omap ", "'q'", '"\\x1b"',
                "1e309", ".inf", ".nan", "~", "---\n", "...\n", "# c\n", "|\n", ">-\n", "9" * 60, "2024-13-45",
                "2024-02-03", "0x1F", "0o17", "1_000", "\t", "\x1b", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "!x "]
_SOURCES = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(_YAML_PIECES), max_size=40).map("".join))


def _assert_clean(error: UserError, prefix: str = "") -> None:
    message = str(error)
    assert message.isprintable() and "\n" not in message and len(message) < 600, message
    assert message.startswith(prefix), message


@FUZZ
@given(text=_SOURCES)
def test_yaml_loader_on_random_documents(text):
    from latentzoo.config import safe_yaml_load

    try:
        safe_yaml_load(text, "fuzz.yaml")
    except UserError as error:
        _assert_clean(error, "fuzz.yaml: ")


@FUZZ
@given(pairs=st.lists(st.one_of(st.text(max_size=30), _SOURCES.map(lambda s: "lr=" + s)), max_size=4))
def test_set_values_on_random_text(pairs):
    from latentzoo.config import parse_overrides

    try:
        assert isinstance(parse_overrides(pairs), dict)
    except UserError as error:
        _assert_clean(error)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=300), _SOURCES.map(str.encode)))
def test_config_files_of_random_bytes(raw):
    from latentzoo.config import read_config_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(raw)
        try:
            assert isinstance(read_config_file(path), dict)
        except UserError as error:
            _assert_clean(error, str(path))


def _fuzz_datasets():
    g = torch.Generator().manual_seed(0)
    vectors = Dataset("fuzz-vectors", "vector", torch.rand(40, 12, generator=g), torch.rand(10, 12, generator=g),
                      torch.arange(40) % 3, torch.arange(10) % 3)
    images = Dataset("fuzz-images", "image", torch.rand(40, 1, 8, 8, generator=g), torch.rand(10, 1, 8, 8, generator=g))
    points = Dataset("fuzz-points", "points", torch.randn(40, 2, generator=g), torch.randn(10, 2, generator=g))
    return [vectors, images, points]


DATASETS = _fuzz_datasets()


@FUZZ
@given(data=st.data())
def test_build_config_on_random_mappings(data):
    from latentzoo.config import build_config
    from latentzoo.registry import MODELS, model_class

    cls = model_class(data.draw(st.sampled_from(sorted(MODELS)), label="model"))
    dataset = data.draw(st.sampled_from(DATASETS), label="dataset")
    keys = st.one_of(st.sampled_from(sorted(cls.Config.model_fields)), st.text(max_size=8), st.integers())
    options = [data.draw(st.dictionaries(keys, _VALUES, max_size=4), label=label) for label in ("file", "--set")]
    try:
        config = build_config(cls, dataset, *options)
    except UserError as error:
        _assert_clean(error)
    else:
        assert isinstance(config, cls.Config)
