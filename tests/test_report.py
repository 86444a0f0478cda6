"""The HTML report: self-contained pages that show every figure and metric, checked in headless Chromium.

Two tiny linear-ae runs on digits (trained through ``latentzoo.engine.fit``) and one hand-made
run holding a GAN-style ``diagnosis`` list feed the single-run report, the comparison page and
the index page. The browser test renders them with Selenium and Debian's chromium/chromedriver:
every <img> must load (naturalWidth > 0) and the console must stay free of SEVERE entries.
"""

from __future__ import annotations

import base64
import html.parser
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import yaml
from cli_helpers import ROOT, assert_one_line_error, run_cli

from latentzoo.errors import UserError
from latentzoo.io import save_figure
from latentzoo.report import format_number, index_page, write_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

DIAGNOSIS = [
    {"name": "vanishing_gradients", "detected": False, "evidence": "generator gradient norm stayed at 2.1",
     "remedy": "use the non-saturating loss"},
    {"name": "mode_collapse", "detected": True, "evidence": "3/8 modes covered at the end",
     "remedy": "pack samples for the discriminator (pack=2..4)"},
]


# ---------------------------------------------------------------------------------------
# Runs to report on
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real runs (linear-ae on digits, k=10 and k=4) and one hand-made run with a diagnosis."""
    from latentzoo.engine import fit

    root = tmp_path_factory.mktemp("runs")
    fit("linear-ae", "digits", root / "k10", overrides={"epochs": 4}, seed=0, progress=False)
    fit("linear-ae", "digits", root / "k4", overrides={"epochs": 3, "latent_dim": 4}, seed=1, progress=False)
    fake = make_run(root / "gan-like", {
        "model": "gan", "dataset": "ring8", "epochs": 2, "seed": 0, "train_seconds": 1.25,
        "samples_per_second": 12345.6, "modes_covered": 3, "modes_total": 8, "reverse_kl": 0.123456789,
        "diagnosis": DIAGNOSIS})
    return root / "k10", root / "k4", fake


def make_run(run_dir: Path, metrics: dict) -> Path:
    """A run directory written by hand: metrics.json, config.yaml, logs/history.json, one figure."""
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    (run_dir / "config.yaml").write_text(yaml.safe_dump({
        "model": metrics["model"], "data": metrics["dataset"], "seed": 0,
        "config": {"epochs": 2, "lr": 0.0002, "loss": "nonsaturating"}, "fabric": {"devices": 1}}))
    history = [{"epoch": e, "discriminator_loss": 1.0 / e, "generator_loss": 0.5 * e, "seconds": 0.1}
               for e in (1, 2)]
    (run_dir / "logs" / "history.json").write_text(json.dumps(history))
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.scatter([0, 1], [1, 0])
    save_figure(fig, run_dir / "figures" / "mode_coverage.png")
    return run_dir


class _Resources(html.parser.HTMLParser):
    """Every src/href attribute of a page, and the text of its <style> blocks."""

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.images: list[str] = []
        self._in_style = False
        self.css = ""

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data") and value is not None:
                self.urls.append((tag, name, value))
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.css += data


def parse(page: Path) -> _Resources:
    parser = _Resources()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def assert_self_contained(page: Path) -> _Resources:
    """No resource is fetched: images are data URIs, links are in-page or relative, no remote CSS."""
    res = parse(page)
    for tag, name, value in res.urls:
        assert not re.match(r"\s*(https?:)?//", value, re.IGNORECASE), f"{page.name}: <{tag} {name}={value[:60]}> is remote"
        if tag in ("img", "script", "link") and name in ("src", "href"):
            assert value.startswith("data:"), f"{page.name}: <{tag} {name}> is not embedded: {value[:60]}"
    assert not re.search(r"url\(|@import", res.css), "style sheet loads an external resource"
    assert all(src.startswith("data:image/png;base64,") for src in res.images)
    return res


# ---------------------------------------------------------------------------------------
# The single-run page
# ---------------------------------------------------------------------------------------
def test_single_run_report_embeds_every_figure_and_metric(runs):
    run = runs[0]
    page = write_report([run])
    assert page == run / "report.html"
    text = page.read_text(encoding="utf-8")
    res = assert_self_contained(page)

    # the curves were drawn from history.json and saved beside the family's figures
    curves = run / "figures" / "curves.png"
    assert curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = json.loads((run / "logs" / "history.json").read_text())
    assert len(history) == 4 and "loss" in history[0]

    # every PNG of figures/ is embedded byte for byte, with a caption from its name
    pngs = sorted((run / "figures").glob("*.png"))
    assert {p.name for p in pngs} >= {"curves.png", "reconstructions.png", "principal_directions.png"}
    embedded = {base64.b64decode(src.split(",", 1)[1]) for src in res.images}
    for png in pngs:
        assert png.read_bytes() in embedded, f"{png.name} is not embedded"
        assert png.name in text
    assert "Principal directions" in text and "Reconstructions" in text

    # title, seed question, every metric with its formatted value, the configuration
    metrics = json.loads((run / "metrics.json").read_text())
    assert "<title>linear-ae on digits" in text and "Q1" in text and "converges to PCA" in text
    for key, value in metrics.items():
        assert key in text or key in ("model", "dataset")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert f">{format_number(value)}<" in text, (key, value)
    assert "latent_dim" in text and "batch_size" in text and "--config" in text


def test_diagnosis_is_a_panel_of_findings_with_detected_ones_highlighted(runs):
    page = write_report([runs[2]])
    text = page.read_text(encoding="utf-8")
    assert_self_contained(page)
    articles = re.findall(r'<article class="finding (hit|ok)">(.*?)</article>', text, re.DOTALL)
    assert [a[0] for a in articles] == ["ok", "hit"]
    for (_, body), finding in zip(articles, DIAGNOSIS):
        assert finding["name"].replace("_", " ") in body
        assert finding["evidence"] in body and finding["remedy"].replace("'", "&#x27;") in body
        assert ("not detected" in body) == (not finding["detected"])
    assert "1 of 2 problems detected" in text
    assert "0.1235" in text  # reverse_kl, 4 significant digits
    assert "12,345.6" in text  # samples_per_second with a thousands separator
    assert "Mode coverage" in text and "Diagnosis and mode coverage" in text


def test_format_number():
    assert format_number(1.30037) == "1.3"
    assert format_number(15357.5) == "15,357.5"
    assert format_number(1797) == "1,797"
    assert format_number(3e-6) == "3.000e-06"
    assert format_number(2.5e7) == "2.500e+07"
    assert format_number(0.0) == "0"
    assert format_number(float("nan")) == "NaN"
    assert format_number(float("-inf")) == "−∞"
    assert format_number(True) == "yes"


# ---------------------------------------------------------------------------------------
# Several runs, the index page
# ---------------------------------------------------------------------------------------
def test_comparison_page_puts_metrics_side_by_side_and_links_each_report(runs):
    k10, k4, fake = runs
    page = write_report([k10, k4, fake])
    assert page == k10.parent / "comparison.html"
    text = page.read_text(encoding="utf-8")
    res = assert_self_contained(page)
    assert len(res.images) == 1  # the overlaid curves

    # each run's report was written and is linked relatively
    links = [value for tag, name, value in res.urls if tag == "a" and not value.startswith("#")]
    assert links == ["k10/report.html", "k4/report.html", "gan-like/report.html"]
    for link in links:
        assert (page.parent / link).is_file()

    # the union of metric keys, one row each, one cell per run
    keys = list(dict.fromkeys(k for r in runs for k in json.loads((r / "metrics.json").read_text())))
    rows = re.findall(r"<tr><th><code>([^<]+)</code>.*?</th>(.*?)</tr>", text.split('id="metrics"')[1].split("</table>")[0],
                      re.DOTALL)
    assert [r[0] for r in rows] == keys
    assert all(cells.count("<td") == 3 for _, cells in rows)

    # the lower reconstruction error is marked best; the diagnosis shows what was detected
    errors = [json.loads((r / "metrics.json").read_text())["test_recon_mse"] for r in (k10, k4)]
    cells = re.findall(r"<td class=\"(best|)\">", dict(rows)["test_recon_mse"])
    assert cells[errors.index(min(errors))] == "best" and cells.count("best") == 1
    assert "mode collapse" in dict(rows)["diagnosis"]
    assert "latent_dim" in text.split('id="configuration"')[1]  # an option that differs


def test_out_option_and_cli(runs, tmp_path):
    from latentzoo.cli import main

    out = tmp_path / "nested" / "k10.html"
    assert main(["report", str(runs[0]), "--out", str(out)]) == 0
    assert out.is_file() and "linear-ae" in out.read_text(encoding="utf-8")


def test_missing_or_broken_runs_give_one_line_user_errors(runs, tmp_path):
    missing = tmp_path / "no-such-run"
    with pytest.raises(UserError, match=re.escape(str(missing))):
        write_report([missing])
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    with pytest.raises(UserError, match=re.escape(str(unfinished / "metrics.json"))):
        write_report([runs[0], unfinished])
    assert not (unfinished / "report.html").exists()
    broken = tmp_path / "broken"
    shutil.copytree(runs[2], broken)
    (broken / "metrics.json").write_text("{not json")
    with pytest.raises(UserError, match="unreadable JSON"):
        write_report([broken])
    assert_one_line_error(run_cli("report", missing), str(missing))


def test_index_page_links_runs_with_headline_metrics(runs, tmp_path):
    write_report([runs[0]])
    out = runs[0].parent / "index.html"
    page = index_page([
        {"title": "linear-ae on digits", "family": "Q1 autoencoders", "seed_question": "is a linear AE PCA?",
         "report": "k10/report.html", "headline": {"subspace_angle_deg": 1.23456, "test_recon_mse": 1.3},
         "anchors": "PCA reaches 1.26", "figure": runs[0] / "figures" / "reconstructions.png"},
        {"title": "gan on ring8", "family": "Q3 GAN", "seed_question": "mode collapse?",
         "report": "gan-like/report.html", "headline": {"modes_covered": 3}, "anchors": "8/8 for PacGAN"},
    ], out)
    text = page.read_text(encoding="utf-8")
    res = assert_self_contained(page)
    assert len(res.images) == 1
    assert 'href="k10/report.html"' in text and 'href="gan-like/report.html"' in text
    assert "1.235" in text and "PCA reaches 1.26" in text and "8/8 for PacGAN" in text


# ---------------------------------------------------------------------------------------
# The browser test
# ---------------------------------------------------------------------------------------
def _browser():
    """A headless Chromium driven by Debian's chromedriver (never a downloaded one)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package (pip install selenium)")
    if missing:
        message = f"browser test needs {', '.join(missing)}; run .ci/chromium.sh"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    profile = tempfile.mkdtemp(prefix="latentzoo-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--hide-scrollbars", "--window-size=1280,900", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    return driver, profile


def _check_page(driver, page: Path, screenshot: Path) -> int:
    """Load ``page``; every image decoded, no SEVERE console entry; save a full-page screenshot."""
    driver.get(page.resolve().as_uri())
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);")
    assert images, f"{page.name} shows no image"
    broken = [alt for alt, complete, width, height in images if not (complete and width > 0 and height > 0)]
    assert not broken, f"{page.name}: images that did not load: {broken}"
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, f"{page.name}: console errors: {severe}"
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 8000), "scale": 1}})
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return len(images)


def test_report_renders_in_headless_chromium(runs, tmp_path):
    k10, k4, fake = runs
    single = write_report([k10])
    comparison = write_report([k10, k4, fake], tmp_path / "comparison.html")
    driver, profile = _browser()
    try:
        shown = _check_page(driver, single, tmp_path / "report.png")
        assert shown == len(list((k10 / "figures").glob("*.png")))
        _check_page(driver, fake / "report.html", tmp_path / "diagnosis.png")
        _check_page(driver, comparison, tmp_path / "comparison.png")

        # the page's script works: a click on a figure opens it enlarged
        driver.get(single.resolve().as_uri())
        driver.execute_script("document.querySelector('.frame img').click()")
        opened = driver.execute_script(
            "var b = document.getElementById('lightbox'), i = b.querySelector('img');"
            "return [b.hidden, i ? i.naturalWidth : 0];")
        assert opened[0] is False and opened[1] > 0
        # the checks are live: a broken image is caught, an error the page logs is seen
        bad = tmp_path / "broken.html"
        bad.write_text('<!DOCTYPE html><title>b</title><img alt="broken figure" src="data:image/png;base64,AAAA">')
        with pytest.raises(AssertionError, match="broken figure"):
            _check_page(driver, bad, tmp_path / "broken.png")
        driver.get(single.resolve().as_uri())
        driver.execute_script("console.error('latentzoo probe')")
        assert any("latentzoo probe" in e["message"] for e in driver.get_log("browser"))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    if os.environ.get("LATENTZOO_SAVE_SCREENSHOT"):
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / "report.png", ROOT / "docs" / "report-screenshot.png")
