"""Issue 14 through the command line and the configuration path: every hostile input is one line, exit 2.

The YAML cases are the "billion laughs" (nine levels of nine aliases: ~10⁹ strings from 600
bytes), duplicate keys, deep nesting and special files; the data cases are the interpreter
crash (a CIFAR key nested 300,000 levels deep), a FIFO batch, too few examples and file
names carrying terminal escape sequences. Each run is time-limited: a hang fails the test.
"""

from __future__ import annotations

import os
import subprocess
import time

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, run_cli
from hostile_data import ESCAPES, deep_tuple_key_pickle

from latentzoo.cli import main
from latentzoo.config import parse_overrides, read_config_file, safe_yaml_load
from latentzoo.errors import UserError, printable, short_repr

LEVELS = "abcdefghi"
BILLION_LAUGHS = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip(LEVELS, LEVELS[1:])) + \
    f"lr: [{', '.join(['*i'] * 9)}]\n"  # 9⁹ ≈ 3.9·10⁸ strings under one option


def run_main(args, tmp_path, monkeypatch, capsys) -> subprocess.CompletedProcess:
    """``latentzoo ARGS`` in-process (the function the console script calls), from ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    if args[0] == "fit" and "--out" not in args:
        args = [*args, "--out", str(tmp_path / "out")]
    code = main(args)
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def _bomb_file(tmp_path):
    (tmp_path / "bomb.yaml").write_text(BILLION_LAUGHS)
    return ["fit", "linear-ae", "--config", "bomb.yaml"]


def _duplicate_keys(tmp_path):
    (tmp_path / "dup.yaml").write_text("lr: 0.01\nlatent_dim: 3\nlr: 0.5\n")
    return ["fit", "linear-ae", "--config", "dup.yaml"]


def _deep_yaml(tmp_path):
    (tmp_path / "deep.yaml").write_text("lr: " + "[" * 20_000 + "]" * 20_000 + "\n")
    return ["fit", "linear-ae", "--config", "deep.yaml"]


def _fifo_config(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    return ["fit", "linear-ae", "--config", "pipe.yaml"]


def _integer_key(tmp_path):
    (tmp_path / "int_key.yaml").write_text("1: 2\n")
    return ["fit", "linear-ae", "--config", "int_key.yaml"]


def _fifo_batch(tmp_path):
    (tmp_path / "cifar").mkdir()
    os.mkfifo(tmp_path / "cifar" / "data_batch_1")
    return ["fit", "linear-ae", "--data", "cifar"]


def _too_few_examples(tmp_path):
    np.savez(tmp_path / "few.npz", x=np.random.default_rng(0).random((6, 20)))
    return ["fit", "linear-ae", "--data", "few.npz", "--set", "latent_dim=8"]


def _escapes_in_name(tmp_path):
    folder = tmp_path / f"d{ESCAPES}"
    folder.mkdir()
    (folder / f"x{ESCAPES}.npy").write_bytes(b"\x93NUMPY garbage")
    return ["fit", "linear-ae", "--data", str(folder / f"x{ESCAPES}.npy")]


def _resume_bombed_run(tmp_path):
    indented = "".join(f"  {line}\n" for line in BILLION_LAUGHS.splitlines())
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text(f"model: linear-ae\ndata: digits\nseed: 0\nconfig:\n{indented}")
    return ["fit", "--resume", "--out", "run"]


def _tampered_data_entry(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("model: linear-ae\ndata: [1, 2]\nseed: 0\nconfig: {}\n")
    return ["fit", "--resume", "--out", "run"]


CASES = {
    "config billion laughs": (_bomb_file, ["bomb.yaml", "anchors"]),
    "config duplicate keys": (_duplicate_keys, ["dup.yaml", "duplicate key 'lr'", "line 3"]),
    "config nested 20000 deep": (_deep_yaml, ["deep.yaml", "nested more than 32"]),
    "config is a FIFO": (_fifo_config, ["pipe.yaml", "not a regular file"]),
    "config integer key": (_integer_key, ["option names must be text"]),
    "set billion laughs": (lambda _: ["fit", "linear-ae", "--set", "lr=" + BILLION_LAUGHS], ["--set lr", "anchors"]),
    "set alias": (lambda _: ["fit", "linear-ae", "--set", "lr=*a"], ["aliases"]),
    "set lr=inf": (lambda _: ["fit", "linear-ae", "--set", "lr=inf"], ["lr=inf", "finite"]),
    "set lr=1e309": (lambda _: ["fit", "linear-ae", "--set", "lr=1e309"], ["lr", "finite"]),
    "set lr=.nan": (lambda _: ["fit", "linear-ae", "--set", "lr=.nan"], ["lr=nan"]),
    "set huge value": (lambda _: ["fit", "linear-ae", "--set", "latent_dim=" + "x" * 100_000], ["latent_dim"]),
    "data FIFO batch": (_fifo_batch, ["data_batch_1", "not a regular file"]),
    "data too few examples": (_too_few_examples, ["few.npz", "fewer than latent_dim=8"]),
    "data escapes in name": (_escapes_in_name, ["\\x1b]0;pwned\\x07"]),
    "resume bombed config.yaml": (_resume_bombed_run, []),
    "resume tampered data entry": (_tampered_data_entry, []),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(CASES))
def test_hostile_command_lines_give_one_printable_line_and_exit_2(name, tmp_path, monkeypatch, capsys):
    build, fragments = CASES[name]
    start = time.perf_counter()
    proc = run_main(build(tmp_path), tmp_path, monkeypatch, capsys)
    assert_one_line_error(proc, *fragments)
    line = proc.stderr.strip()
    assert line.isprintable(), f"control characters reach the terminal: {line!r}"
    assert len(line) < 400, f"{len(line)}-character error line"
    assert time.perf_counter() - start < 30
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir()), "files written"


def test_empty_data_is_not_the_current_folder(tmp_path, monkeypatch, capsys):
    np.savez(tmp_path / "here.npz", x=np.ones((50, 3)))
    proc = run_main(["fit", "linear-ae", "--data", ""], tmp_path, monkeypatch, capsys)
    assert_one_line_error(proc, "no dataset given")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_pickle_key_nested_300000_deep_is_refused_not_a_crash(tmp_path):
    # Hashing this key overflowed the C stack (SIGSEGV, no message at all); a subprocess keeps pytest alive.
    (tmp_path / "cifar").mkdir()
    (tmp_path / "cifar" / "data_batch_1").write_bytes(deep_tuple_key_pickle(300_000))
    proc = run_cli("fit", "linear-ae", "--data", tmp_path / "cifar", "--out", tmp_path / "out", timeout=170)
    assert proc.returncode != -11, "the interpreter crashed (SIGSEGV)"
    assert_one_line_error(proc, "data_batch_1", "nested more than 32")


# ---------------------------------------------------------------- the YAML loader itself

def test_billion_laughs_is_refused_at_once_and_plain_yaml_still_loads():
    start = time.perf_counter()
    with pytest.raises(UserError, match=r"cfg: YAML anchors \(&a\) are not allowed \(line 1"):
        safe_yaml_load(BILLION_LAUGHS, "cfg")
    assert time.perf_counter() - start < 1.0
    text = "lr: 0.01\nhidden: [64, 32]\nnested: {a: 1, b: [true, null]}\n<<: {depth: 2}\n"
    assert safe_yaml_load(text, "cfg") == {"lr": 0.01, "hidden": [64, 32], "nested": {"a": 1, "b": [True, None]},
                                           "depth": 2}


@pytest.mark.parametrize("text, fragment", [
    ("x: *undefined\n", "aliases"),
    ("a: 1\nb: {c: 1, c: 2}\n", "duplicate key 'c'"),
    ("[" * 33 + "]" * 33, "nested more than 32"),
    ("x: " + "9" * 5000, "cannot be converted"),
    ("when: 2024-13-45", "cannot be converted"),
    ("a: 1\n---\nb: 2\n", "not valid YAML"),
    ("!!python/object/apply:os.system ['touch x']", "not valid YAML"),
    ("a: \x1b[2J", "not valid YAML"),
    ("x: 1\n" * 20_000, "more than the"),
])
def test_refused_yaml_is_one_short_line(text, fragment):
    with pytest.raises(UserError, match=fragment.replace("[", r"\[").replace("(", r"\(")) as caught:
        safe_yaml_load(text, "cfg.yaml")
    message = str(caught.value)
    assert message.startswith("cfg.yaml: ") and message.isprintable() and len(message) < 300, message


def test_nesting_up_to_the_limit_loads():
    assert safe_yaml_load("[" * 32 + "]" * 32, "cfg") is not None


def test_read_config_file_refuses_special_and_huge_files(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    for path, fragment in ((tmp_path / "fifo.yaml", "not a regular file"), (tmp_path, "not a regular file")):
        with pytest.raises(UserError, match=fragment):
            read_config_file(path)
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as f:
        f.truncate(10 * 2**30)  # sparse: no disk used
    with pytest.raises(UserError, match="more than the"):
        read_config_file(huge)
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    with pytest.raises(UserError, match="not UTF-8"):
        read_config_file(tmp_path / "latin1.yaml")


def test_set_values_keep_their_meaning():
    assert parse_overrides(["lr=0.5", "tied=true", "loss=hinge", "grad_clip=null", "x=a: b: c"]) == {
        "lr": 0.5, "tied": True, "loss": "hinge", "grad_clip": None, "x": "a: b: c"}


# ---------------------------------------------------------------- text that reaches the terminal

def test_printable_escapes_every_terminal_control_and_keeps_text():
    assert printable("naïve Größe 数据 ✓") == "naïve Größe 数据 ✓"
    assert printable("a\x1b[31mb\x07\x9b2J\x7f\x00") == "a\\x1b[31mb\\x07\\x9b2J\\x7f\\x00"
    assert printable("line\nbreak\u2028\u202eevil") == "line\\x0abreak\\u2028\\u202eevil"
    assert printable("bad byte \udcff") == "bad byte \\udcff"
    assert UserError("x\x1b]0;title\x07 y\n z").args[0] == "x\\x1b]0;title\\x07 y z"


def test_short_repr_is_bounded_whatever_the_value():
    wide = ["lol"] * 9
    for _ in range(8):
        wide = [wide] * 9  # 9⁹ leaves, shared: cheap to build, endless to print
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    start = time.perf_counter()
    for value in (wide, deep, 10**100_000, "\x1b" * 10**6, b"z" * 10**7):
        text = short_repr(value)
        assert len(text) <= 80 and text.isprintable()
    assert time.perf_counter() - start < 1.0
