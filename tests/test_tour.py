"""The main job: `latentzoo tour --quick` trains one model per family and links every report."""

from __future__ import annotations

import json
import re

from latentzoo.tour import STOPS, run_tour


def test_quick_tour_writes_index_linking_every_report(tmp_path):
    index = run_tour(tmp_path / "tour", quick=True)
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
