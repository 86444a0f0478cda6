"""The documentation: the API reference builds with warnings as errors, and documents what it must.

``mkdocs build --strict`` (mkdocs.yml at the repository root) renders the docstrings with
mkdocstrings; griffe checks each numpydoc section against the signature (a documented parameter
that does not exist, an unparsable line) and every reference must resolve, else the build fails.
The tests then read the built pages: each public name has its own entry, which shows the first
line of its docstring, and each model page has the table of every option of the model.
The snippets of the Python quick start and of "Adding a model family" run as written, with
at most 3 epochs per ``fit`` (slow: 1 to 2 minutes on 2 busy CPU cores).
"""

from __future__ import annotations

import html
import importlib.util
import inspect
import os
import re
import subprocess
import sys
import textwrap
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

import latentzoo
from latentzoo import losses, registry, spec

ROOT = Path(__file__).resolve().parents[1]
MODEL_PAGES = {
    "autoencoders": ["LinearAutoencoder", "SparseCoding", "SparseAutoencoder", "LaplaceAutoencoder",
                     "DenoisingAutoencoder", "ContractiveAutoencoder"],
    "vae": ["VAE"],
    "gan": ["GAN"],
    "simclr": ["SimCLR"],
}
USER_METHODS = ("embed", "reconstruct", "sample", "evaluate")


def _page_objects() -> dict[str, list]:
    """Page (under api/) → the objects it must document."""
    model = latentzoo.LatentModel
    pages = {
        "fit": [latentzoo.fit, latentzoo.load, latentzoo.as_dataset],
        "model": [model] + [getattr(model, name) for name in USER_METHODS],
        "losses": [getattr(losses, name) for name in losses.__all__],
        "extending": [registry.register, registry.unregister, registry.model_class, registry.spec,
                      spec.ModelSpec, spec.Metric, spec.Figure],
    }
    for page, names in MODEL_PAGES.items():
        pages[page] = [getattr(latentzoo, name) for name in names]
    from latentzoo import sklearn as estimators

    pages["sklearn"] = [estimators.LinearAutoencoder, estimators.DictionaryLearning, estimators.VAE]
    return pages


def _docstring(obj) -> str:
    """The object's docstring: a class's own (``inspect.getdoc`` would give its base's), a method's or inherited."""
    return inspect.cleandoc(obj.__doc__ or "") if inspect.isclass(obj) else inspect.getdoc(obj) or ""


def _identifier(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _markdown_of_docstrings():
    """The docstring rewriting the build applies (docs/griffe_latentzoo.py), to compare like with like."""
    path = ROOT / "docs" / "griffe_latentzoo.py"
    module_spec = importlib.util.spec_from_file_location("griffe_latentzoo", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.markdown


def _plain(text: str) -> str:
    """Text without Markdown code and emphasis marks, whitespace collapsed."""
    return " ".join(re.sub(r"[`*]", "", text).split())


class _Text(HTMLParser):
    """The visible text of a page (without scripts), blocks separated by spaces."""

    BLOCKS = {"p", "div", "li", "td", "th", "tr", "h1", "h2", "h3", "h4", "h5", "pre", "br", "summary", "details"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("script", "style")
        if tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag):
        self.hidden -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def page_text(page_html: str) -> str:
    parser = _Text()
    parser.feed(page_html)
    return _plain("".join(parser.parts))


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` in a subprocess that imports this checkout's latentzoo."""
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          cwd=config.parent, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": pythonpath})


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = mkdocs_build(ROOT / "mkdocs.yml", out)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


def test_every_public_name_has_a_docstring():
    objects = [obj for group in _page_objects().values() for obj in group]
    for name in MODEL_PAGES.values():
        for cls in (getattr(latentzoo, n) for n in name):
            objects += [getattr(cls, m) for m in USER_METHODS]
    missing = sorted(_identifier(obj) for obj in objects if not _docstring(obj).strip())
    assert not missing, f"public names without a docstring: {missing}"


def test_each_public_name_has_its_entry_with_its_docstring(site):
    markdown = _markdown_of_docstrings()
    for page, objects in _page_objects().items():
        path = site / "api" / page / "index.html"
        assert path.is_file(), f"no page api/{page}"
        raw = path.read_text(encoding="utf-8")
        text = page_text(raw)
        for obj in objects:
            identifier = _identifier(obj)
            assert f'id="{identifier}"' in raw, f"api/{page} has no entry for {identifier}"
            first_line = _plain(markdown(_docstring(obj) or "(none)").strip().splitlines()[0])
            assert first_line and first_line in text, f"api/{page}: the docstring of {identifier} is not shown"


def test_model_pages_list_every_option_and_metric(site):
    for page, names in MODEL_PAGES.items():
        raw = (site / "api" / page / "index.html").read_text(encoding="utf-8")
        for name in names:
            cls = getattr(latentzoo, name)
            options, metrics = _section(raw, f"options-of-{name.lower()}"), _section(raw, f"metrics-of-{name.lower()}")
            for key, field in cls.Config.model_fields.items():
                row = re.search(rf"<tr>\s*<td><code>{key}</code></td>(.*?)</tr>", options, re.S)
                assert row, f"api/{page}: option {key} of {name} is missing"
                assert f"<code>{html.escape(repr(field.default), quote=False)}</code>" in row.group(1)
            for metric in cls.METRICS:
                assert f"<code>{metric.key}</code>" in metrics, f"api/{page}: metric {metric.key} of {name} is missing"


def _section(raw: str, anchor: str) -> str:
    """The HTML from the heading with id ``anchor`` to the next heading."""
    start = raw.index(f'id="{anchor}"')
    end = raw.find("<h", start)
    return raw[start:end if end > 0 else None]


def test_the_quick_start_is_in_the_site(site):
    text = page_text((site / "quickstart" / "index.html").read_text(encoding="utf-8"))
    for name in ("LinearAutoencoder", "SparseCoding", "VAE", "GAN", "SimCLR"):
        family = {"LinearAutoencoder": "linear-ae"}.get(name, f"lz.{name}(")
        assert family in text


def test_strict_mode_fails_on_a_wrong_docstring_and_a_broken_reference(tmp_path):
    """The check has teeth: a parameter documented but absent, and a reference to nothing, fail the build."""
    (tmp_path / "wrongdoc.py").write_text(textwrap.dedent('''
        def scale(x, factor=2.0):
            """Multiply.

            Parameters
            ----------
            x : float
                The number.
            facter : float
                A misspelt parameter.
            """
            return x * factor
    '''))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Wrong docstring\n\n::: wrongdoc.scale\n")
    (docs / "broken.md").write_text("# Broken reference\n\n::: latentzoo.api.no_such_function\n")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    python = config["plugins"][1]["mkdocstrings"]["handlers"]["python"]
    python["paths"] = [str(ROOT), str(tmp_path)]
    python["options"]["extensions"] = [str(ROOT / e) for e in python["options"]["extensions"]]
    config.update(docs_dir=str(docs), hooks=[str(ROOT / h) for h in config["hooks"]],
                  nav=[{"Wrong": "index.md"}, {"Broken": "broken.md"}])
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert "facter" in log and "does not appear in the function signature" in log
    assert "latentzoo.api.no_such_function" in log


# ---- the snippets of the pages run as written (at most 3 epochs per fit) -------------------------

def _python_blocks(page: str) -> list[str]:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.S)


@pytest.fixture
def few_epochs(monkeypatch, tmp_path):
    """``lz.fit`` with at most 3 epochs and no progress bar, run in an empty folder; the fitted models are kept.

    Not 1 epoch: sparse coding's first batches, on a random dictionary, are its slowest, and
    encoding with a dictionary that saw one epoch is slower than with one that saw three.
    """
    from latentzoo import api

    fitted = []

    def fit(model, data=None, **kwargs):
        kwargs.update(epochs=min(kwargs.get("epochs") or 3, 3), progress=False)
        fitted.append(api.fit(model, data, **kwargs))
        return fitted[-1]

    monkeypatch.setattr(latentzoo, "fit", fit)
    monkeypatch.chdir(tmp_path)
    return fitted


@pytest.mark.slow
def test_quick_start_snippets_run_as_written(few_epochs):
    setup, *snippets = _python_blocks("quickstart.md")
    assert len(snippets) == 5, "one snippet per family"
    spaces = []
    for snippet in snippets:
        spaces.append({})
        exec(compile(setup + snippet, "quickstart.md", "exec"), spaces[-1])
    assert [type(model).__name__ for model in few_epochs] == ["LinearAutoencoder", "SparseCoding", "VAE", "GAN",
                                                             "SimCLR"]
    # the shapes the comments announce; the user's modules are the ones trained; load gives the model back
    linear, sparse, vae, gan, simclr = spaces
    assert linear["codes"].shape == (1797, 8) and linear["x_hat"].shape == (1797, 64)
    assert isinstance(linear["lin"], latentzoo.LinearAutoencoder)
    assert (linear["lin"].embed(linear["x"]) == linear["codes"]).all()
    assert sparse["codes"].shape == (1797, 64) and (sparse["codes"] == 0).mean() > 0.5
    assert vae["new_digits"].shape == (16, 64) and gan["fakes"].shape == (64, 64) and simclr["h"].shape == (1797, 128)
    assert vae["vae"].encoder is vae["encoder"] and vae["vae"].decoder is vae["decoder"]
    assert gan["gan"].generator is gan["generator"] and simclr["simclr"].encoder is simclr["backbone"]


@pytest.mark.slow
def test_adding_a_family_example_runs_as_written(few_epochs):
    (example,) = _python_blocks("api/extending.md")
    module = types.ModuleType("docs_family_example")
    sys.modules[module.__name__] = module
    try:
        exec(compile(example, "extending.md", "exec"), module.__dict__)
        assert type(few_epochs[0]).__name__ == "TiedAutoencoder"
        assert registry.model_class("tied-ae") is module.TiedAutoencoder
        assert few_epochs[0].metrics["test_recon_mse"] > 0
    finally:
        registry.unregister("tied-ae")
        del sys.modules[module.__name__]
