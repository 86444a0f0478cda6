"""The main job: `latentzoo tour --quick` trains one model per family and links every report."""

from __future__ import annotations

import json
import re

from latentzoo.tour import STOPS, run_tour


class Bar:
    """A progress display that records what the tour shows."""

    def __init__(self):
        self.total, self.n, self.descriptions = None, 0, []

    def update(self, n=1):
        self.n += n

    def set_description(self, s):
        self.descriptions.append(s)

    def set_postfix_str(self, s="", refresh=True):
        pass

    def refresh(self):
        pass


def test_quick_tour_writes_index_linking_every_report(tmp_path):
    bar = Bar()
    index = run_tour(tmp_path / "tour", quick=True, bar=bar)
    # the bar counts the planned steps and ends full, although linear-ae stops early (converged)
    linear_ae = json.loads((tmp_path / "tour" / "linear-ae" / "metrics.json").read_text())
    assert linear_ae["epochs"] < 300 and bar.n == bar.total > 0 and len(bar.descriptions) == len(STOPS)
    html = index.read_text()
    links = set(re.findall(r'href="([^"#]+?/report\.html)"', html))
    assert len(links) == len(STOPS)
    for name, model, data, *_ in STOPS:
        run = tmp_path / "tour" / name
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["model"] == model and metrics["dataset"] == data
        assert (run / "report.html").is_file()
        assert f"{name}/report.html" in links
    # headline numbers of the runs appear in the summary, beside the published anchors
    gan = json.loads((tmp_path / "tour" / "gan" / "metrics.json").read_text())
    assert "PacGAN4" in html and str(gan["modes_total"]) in html


def test_tour_on_the_users_data_with_a_time_budget(tmp_path):
    import numpy as np
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    path = tmp_path / "mine.npz"
    np.savez(path, x=(x[:400] / 16).astype("float32"), y=y[:400])
    bar = Bar()
    index = run_tour(tmp_path / "tour", data=str(path), max_time="2s", bar=bar)
    assert bar.n == bar.total > 0
    assert index.is_file()
    for name, model, *_ in STOPS:
        metrics = json.loads((tmp_path / "tour" / name / "metrics.json").read_text())
        assert metrics["dataset"] == str(path.resolve()) and metrics["model"] == model
        assert metrics["max_time_seconds"] == 2.0
        # the budget is checked between steps: a run ends within one step of it
        per_step = metrics["train_seconds"] / max(1, metrics["steps"])
        assert metrics["train_seconds"] < 2.0 + 2 * per_step + 0.5, metrics
