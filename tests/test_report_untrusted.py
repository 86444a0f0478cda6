"""The report on run directories that someone else made: links, FIFOs, devices, bombs and hostile names.

Each test injects one fault into a hand-made run directory (no training) and checks the
report's answer: a refused ``metrics.json``/``config.yaml``/``history.json`` is one
:class:`UserError` line naming the path; a refused figure is left out of the page and listed
with its reason; nothing outside the run directory reaches the page; a hostile dataset name
stays one shell argument. The page's headline tiles follow the model's declarations.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from cli_helpers import assert_one_line_error, run_cli

from latentzoo.autoencoders.linear import LinearAutoencoder
from latentzoo.errors import UserError
from latentzoo.report import history_curves, load_run_record, write_report
from latentzoo.report.curves import _panels
from latentzoo.spec import Metric

# A 1×1 PNG (the smallest valid figure); its bytes are what a page must embed.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def make_run(run_dir: Path, metrics: dict | None = None, config: dict | None = None, history=None) -> Path:
    """A run directory written by hand: metrics.json, config.yaml, logs/history.json, one figure."""
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "figures").mkdir()
    metrics = metrics or {"model": "linear-ae", "dataset": "digits", "epochs": 2, "seed": 0,
                          "test_recon_mse": 4.0, "pca_recon_mse": 1.25, "subspace_angle_deg": 10.0, "latent_dim": 10}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    config = config or {"model": metrics["model"], "data": metrics["dataset"], "seed": 0, "config": {"lr": 0.01}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    history = history if history is not None else [{"epoch": e, "loss": 1.0 / e} for e in (1, 2)]
    (run_dir / "logs" / "history.json").write_text(json.dumps(history))
    (run_dir / "figures" / "reconstructions.png").write_bytes(PNG)
    return run_dir


def embedded(page: Path) -> list[bytes]:
    text = page.read_text(encoding="utf-8")
    return [base64.b64decode(src) for src in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


# ---------------------------------------------------------------------------------------
# Links, FIFOs, devices, sizes
# ---------------------------------------------------------------------------------------
def test_symlinked_figures_are_not_followed(tmp_path):
    run = make_run(tmp_path / "run")
    outside = tmp_path / "outside.png"  # a real PNG: only the link refusal can keep it out
    outside.write_bytes(PNG + b"outside")
    (run / "figures" / "outside.png").symlink_to(outside)
    (run / "figures" / "passwd.png").symlink_to("/etc/passwd")
    page = write_report([run])
    text = page.read_text(encoding="utf-8")
    images = embedded(page)
    assert PNG in images  # the run's own figure is shown
    assert all(b"outside" not in image for image in images)
    assert "root:" not in text and base64.b64encode(Path("/etc/passwd").read_bytes()[:30]).decode() not in text
    for name in ("outside.png", "passwd.png"):
        assert re.search(rf"<code>figures/{name}</code>: a symbolic link", text), name


def test_a_symlinked_figures_folder_is_not_listed(tmp_path):
    run = make_run(tmp_path / "run")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.png").write_bytes(PNG + b"secret")
    os.rename(run / "figures", tmp_path / "own-figures")
    (run / "figures").symlink_to(elsewhere)
    record = load_run_record(run)
    assert record["figures"] == [] and record["skipped"] == [("figures/", "a symbolic link (not followed)")]
    page = write_report([run])
    assert all(b"secret" not in image for image in embedded(page))
    assert not (elsewhere / "curves.png").exists()  # nothing written through the link either
    assert "figures/</code>: a symbolic link" in page.read_text(encoding="utf-8")


@pytest.mark.timeout(120)
def test_a_fifo_figure_does_not_hang_the_report(tmp_path):
    run = make_run(tmp_path / "run")
    os.mkfifo(run / "figures" / "stuck.png")
    proc = run_cli("report", run, timeout=90)  # a blocking open() would hang here until the timeout
    assert proc.returncode == 0, proc.stderr
    text = (run / "report.html").read_text(encoding="utf-8")
    assert "<code>figures/stuck.png</code>: a FIFO, not a regular file" in text
    assert PNG in embedded(run / "report.html")


@pytest.mark.timeout(120)
def test_a_fifo_metrics_file_is_one_line_error(tmp_path):
    run = make_run(tmp_path / "run")
    (run / "metrics.json").unlink()
    os.mkfifo(run / "metrics.json")
    assert_one_line_error(run_cli("report", run, timeout=90), str(run / "metrics.json"), "FIFO")


@pytest.mark.timeout(60)
def test_links_to_dev_zero_are_refused(tmp_path):
    run = make_run(tmp_path / "run")
    (run / "figures" / "zero.png").symlink_to("/dev/zero")
    page = write_report([run])
    assert "<code>figures/zero.png</code>: a symbolic link" in page.read_text(encoding="utf-8")
    for name in ("logs/history.json", "metrics.json", "config.yaml"):
        target = run / name
        target.unlink()
        target.symlink_to("/dev/zero")
        with pytest.raises(UserError, match=re.escape(str(target)) + ": refused: a symbolic link"):
            load_run_record(run)
        target.unlink()
        target.write_text("{}" if name != "logs/history.json" else "[]")


def test_files_over_their_size_limit_are_refused_before_reading(tmp_path):
    run = make_run(tmp_path / "run")
    with open(run / "figures" / "huge.png", "wb") as f:  # sparse: 33 MB on paper, a few bytes on disk
        f.write(PNG)
        f.truncate(33 << 20)
    with open(run / "logs" / "history.json", "r+b") as f:
        f.truncate(17 << 20)
    with pytest.raises(UserError, match=r"history\.json: refused: 17,825,792 bytes, over the limit"):
        write_report([run])
    (run / "logs" / "history.json").write_text("[]")
    text = write_report([run]).read_text(encoding="utf-8")
    assert "<code>figures/huge.png</code>: 34,603,008 bytes, over the limit of 33,554,432" in text


def test_a_figure_that_is_not_a_png_is_left_out(tmp_path):
    run = make_run(tmp_path / "run")
    os.link(run / "config.yaml", run / "figures" / "config.png")  # a hard link passes O_NOFOLLOW
    text = write_report([run]).read_text(encoding="utf-8")
    assert "<code>figures/config.png</code>: not a PNG image" in text


# ---------------------------------------------------------------------------------------
# Bombs and hostile names
# ---------------------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_yaml_aliases_in_config_are_refused(tmp_path):
    run = make_run(tmp_path / "run")
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]"
              for i in range(9)]
    (run / "config.yaml").write_text("\n".join(lines) + "\nmodel: linear-ae\n")  # 9·4⁹ ≈ 2.4 million strings
    with pytest.raises(UserError, match=r"config\.yaml: .*(anchors|aliases)"):
        write_report([run])
    assert not (run / "report.html").exists()


def test_deeply_nested_json_is_one_line_error(tmp_path):
    run = make_run(tmp_path / "run")
    (run / "logs" / "history.json").write_text("[" * 100 + "]" * 100)
    with pytest.raises(UserError, match=r"history\.json: nested more than 32 levels deep"):
        write_report([run])


def test_hostile_dataset_name_stays_one_shell_argument(tmp_path):
    name = "d;touch X;#.npz"
    run = make_run(tmp_path / "run", config={"model": "linear-ae", "data": name, "seed": 0, "config": {}})
    text = write_report([run]).read_text(encoding="utf-8")
    command = html.unescape(re.search(r'<pre class="cmd">(.*?)</pre>', text, re.DOTALL).group(1))
    assert shlex.split(command)[3:5] == ["--data", name]
    # pasted into a shell (latentzoo replaced by a no-op), the command runs nothing else
    workdir = tmp_path / "paste"
    workdir.mkdir()
    subprocess.run(["bash", "-c", "latentzoo() { :; }\n" + command], cwd=workdir, check=True, timeout=30)
    assert not (workdir / "X").exists()


def test_control_characters_in_names_are_escaped_in_messages(tmp_path):
    missing = tmp_path / "run\x1b]0;owned\x07\x1b[31m"
    with pytest.raises(UserError) as error:
        write_report([missing])
    message = str(error.value)
    assert "\x1b" not in message and "\x07" not in message and "\\x1b]0;owned\\x07" in message
    proc = run_cli("report", missing, timeout=90)
    assert_one_line_error(proc, "\\x1b[31m")
    assert "\x1b" not in proc.stderr


def test_markup_and_long_values_are_escaped_and_cut(tmp_path):
    metrics = {"model": "linear-ae", "dataset": "<img src=x onerror=alert(1)>", "epochs": 1, "seed": 0,
               "<script>alert(2)</script>": 1.0, "note": "y" * 1_000_000}
    run = make_run(tmp_path / "run", metrics=metrics)
    page = write_report([run])
    text = page.read_text(encoding="utf-8")
    assert "<img src=x" not in text and "<script>alert" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "&lt;script&gt;alert(2)&lt;/script&gt;" in text
    assert "999,000 more characters" in text and page.stat().st_size < 200_000


# ---------------------------------------------------------------------------------------
# What the page shows comes from the declarations
# ---------------------------------------------------------------------------------------
def _tiles(page: Path) -> list[str]:
    return re.findall(r'<div class="stat-key">([^<]+)</div>', page.read_text(encoding="utf-8"))


def test_headline_tiles_come_from_the_declarations(tmp_path, monkeypatch):
    simclr = {"model": "simclr", "dataset": "mnist1d", "epochs": 1, "seed": 0, "test_nt_xent": 5.9,
              "temperature": 0.1, "representation_dim": 128, "final_train_loss": 5.2, "linear_probe_acc": 0.75,
              "knn_acc": 0.47, "linear_probe_acc_raw": 0.33, "knn_acc_raw": 0.41, "knn_k": 200}
    page = write_report([make_run(tmp_path / "simclr", metrics=simclr)])
    assert _tiles(page) == ["linear_probe_acc", "linear_probe_acc_raw", "knn_acc", "knn_acc_raw"]
    assert "NT-Xent on held-out pairs with fixed augmentations" in page.read_text(encoding="utf-8")
    # change the declaration, and the page follows it
    monkeypatch.setattr(LinearAutoencoder, "METRICS", (Metric("latent_dim", "the code's size", headline=True),))
    page = write_report([make_run(tmp_path / "linear")])
    assert _tiles(page) == ["latent_dim"] and "the code&#39;s size" in page.read_text(encoding="utf-8")


def test_declared_figures_get_their_group_and_caption_others_go_to_other(tmp_path):
    run = make_run(tmp_path / "run")
    (run / "figures" / "principal_directions.png").write_bytes(PNG)
    (run / "figures" / "my_extra_plot.png").write_bytes(PNG)
    text = write_report([run]).read_text(encoding="utf-8")
    features = text.split('id="fig-features"')[1].split('<div id="fig-')[0]
    assert "principal_directions.png" in features and "against PCA" in features  # the declared caption
    other = text.split('id="fig-other"')[1]
    assert "my_extra_plot.png" in other and "My extra plot" in other


def test_an_unregistered_model_renders_without_importing_anything(tmp_path, monkeypatch):
    from latentzoo import registry

    def refuse(name):
        raise AssertionError(f"model_class({name!r}) called for an unregistered model")

    monkeypatch.setattr(registry, "model_class", refuse)
    metrics = {"model": "os:system", "dataset": "somewhere", "epochs": 1, "seed": 0, "score": 0.5, "size": 3}
    page = write_report([make_run(tmp_path / "run", metrics=metrics)])
    assert _tiles(page) == ["score", "size"]
    assert "<title>os:system on somewhere" in page.read_text(encoding="utf-8")


def test_curves_png_holds_every_training_curve_of_the_families(tmp_path):
    history = [{"epoch": e, "loss": 3.0 / e, "neg_elbo": 3.0 / e, "test_neg_elbo": 3.2 / e, "recon": 2.0 / e,
                "kl": 1.0, "grad_norm": 1.0 / e, "positive_cosine": 0.5 + e / 10, "discriminator_loss": 1.3,
                "generator_loss": 0.8, "discriminator_grad_norm": 0.5, "generator_grad_norm": 1.5,
                "real_logit": 0.2, "fake_logit": -0.2, "seconds": 0.1} for e in (1, 2, 3)]
    path, keys = history_curves(history, tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(keys) == set(history[0]) - {"epoch", "seconds"}
    panels = dict(_panels([k for k in history[0] if k not in ("epoch", "seconds")]))
    assert panels["training loss"] == ["loss", "discriminator_loss", "generator_loss"]
    assert panels["gradient norm"] == ["grad_norm", "discriminator_grad_norm", "generator_grad_norm"]
    assert panels["neg elbo"] == ["neg_elbo", "test_neg_elbo"]
    assert panels["real logit / fake logit"] == ["real_logit", "fake_logit"]
    assert panels["positive cosine"] == ["positive_cosine"]
