"""Fuzzing the run-directory readers: whatever bytes stand in a run's files, reading them raises only
UserError (one line), never another exception, a hang or a crash."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latentzoo.engine import load_checkpoint, read_saved_config
from latentzoo.errors import UserError
from latentzoo.report import load_run_record

FILES = ("config.yaml", "metrics.json", "logs/history.json")

texts = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=300).map(str.encode),
    st.sampled_from([b"model: vae\nseed: 0\nconfig: {}\n", b'{"model": "vae"}', b"[]", b"{}", b"null",
                     b"model: &a [*a]\n", b"a: 1\na: 2\n", b"- " * 200, b"[" * 500, b'{"x": ' * 300]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(FILES), content=texts)
def test_run_directory_files_are_read_or_refused_in_one_line(tmp_path_factory, name, content):
    run = tmp_path_factory.mktemp("run")
    (run / "logs").mkdir()
    (run / "metrics.json").write_text('{"model": "vae", "dataset": "digits"}')
    (run / "config.yaml").write_text("model: vae\ndata: digits\nseed: 0\nconfig: {latent_dim: 4}\n")
    (run / name).write_bytes(content)
    for read in (lambda: read_saved_config(run), lambda: load_run_record(run)):
        try:
            read()
        except UserError as e:
            assert "\n" not in str(e) and len(str(e)) < 2000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=2000))
def test_checkpoint_bytes_are_loaded_or_refused_in_one_line(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("ckpt") / "last.ckpt"
    path.write_bytes(content)
    with pytest.raises(UserError):
        load_checkpoint(path)
