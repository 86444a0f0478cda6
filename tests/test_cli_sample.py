"""`latentzoo sample DIR` without --out writes DIR/samples.png, and overwrites only what it wrote there."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, run_cli

from latentzoo.engine import fit

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "vae"
    fit("vae", "digits", out, overrides={"epochs": 1, "conv": False, "hidden": 16, "eval_samples": 5},
        progress=False)
    return out


def test_sample_writes_to_the_run_directory_by_default(vae_run):
    proc = run_cli("sample", vae_run, "-n", "16", check=True)
    picture = vae_run / "samples.png"
    assert picture.read_bytes().startswith(PNG)
    assert str(picture) in proc.stdout
    record = json.loads((vae_run / "logs" / "samples.json").read_text())
    assert record["file"] == "samples.png" and record["count"] == 16 and len(record["sha256"]) == 64
    first = picture.read_bytes()
    run_cli("sample", vae_run, "-n", "16", "--seed", "1", check=True)   # its own file: replaced
    assert picture.read_bytes() != first and picture.read_bytes().startswith(PNG)
    assert not [p.name for p in vae_run.iterdir() if p.name.startswith(".samples.png")]  # no temporary left


def test_sample_refuses_to_overwrite_a_file_it_did_not_write(vae_run):
    picture = vae_run / "samples.png"
    picture.write_bytes(b"the user's own picture")
    assert_one_line_error(run_cli("sample", vae_run), "samples.png", "not written by", "--out")
    assert picture.read_bytes() == b"the user's own picture"


def test_sample_refuses_a_link_in_place_of_its_file(vae_run, tmp_path):
    target = tmp_path / "elsewhere.png"
    target.write_bytes(b"keep me")
    picture = vae_run / "samples.png"
    picture.unlink(missing_ok=True)
    picture.symlink_to(target)
    try:
        assert_one_line_error(run_cli("sample", vae_run), "samples.png", "--out")
        assert target.read_bytes() == b"keep me"
    finally:
        picture.unlink()


def test_sample_with_out_writes_that_file(vae_run, tmp_path):
    out = tmp_path / "x.npy"
    run_cli("sample", vae_run, "-n", "5", "--out", out, check=True)
    assert np.load(out).shape == (5, 1, 8, 8)
