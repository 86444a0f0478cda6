"""--max-time: the run stops at the budget with a checkpoint and metrics, and its schedule ends there."""

from __future__ import annotations

import json

import pytest
import torch

from latentzoo.engine import load_checkpoint, train_model
from latentzoo.engine.budget import parse_duration
from latentzoo.errors import UserError


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("2", 120),
                                           (1.5, 90), ("0.5m", 30)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "-5m", "0s", "15 parsecs", True, float("inf")])
def test_bad_durations_are_one_clear_error(text):
    with pytest.raises(UserError, match="max_time"):
        parse_duration(text)


def test_budget_stops_on_time_with_a_checkpoint_and_a_finished_schedule(tmp_path, capsys):
    budget = 8.0
    # the GAN's recipe for point mixtures decays both learning rates linearly to 0 at its last step
    model = train_model("gan", "ring8", tmp_path / "run", overrides={"hidden": 32}, max_time=f"{budget}s",
                        progress=False)
    m = model.metrics
    assert "plan for" in capsys.readouterr().out
    assert abs(m["train_seconds"] - budget) <= 0.05 * budget, m["train_seconds"]
    assert m["max_time_seconds"] == budget and m["steps"] > 0
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["modes_covered"] == m["modes_covered"]
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert ckpt["step"] == m["steps"]
    # the linear decay was aimed at the budget: the learning rate at the end is near its final value 0
    lr0 = model.config.lr
    last_lr = ckpt["optimizers"]["discriminator"]["param_groups"][0]["lr"]
    assert last_lr < 0.1 * lr0, (last_lr, lr0)


def test_without_a_budget_the_schedule_is_unchanged(tmp_path):
    model = train_model("linear-ae", "digits", None, overrides={"epochs": 2}, progress=False)
    assert "max_time_seconds" not in model.metrics
    assert torch.isfinite(torch.tensor(model.metrics["test_recon_mse"]))


def test_progress_bar_counts_to_the_plan_not_to_the_epochs_cap(tmp_path, monkeypatch):
    import tqdm.auto

    bars = []

    class Bar:          # records what the engine tells tqdm; draws nothing
        def __init__(self, total=None, initial=0, **_):
            self.total, self.n = total, initial
            bars.append(self)

        def update(self, n=1):
            self.n += n

        def refresh(self):
            pass

        def set_postfix_str(self, text):
            self.postfix = text

        def close(self):
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    model = train_model("gan", "ring8", tmp_path / "run", overrides={"hidden": 32}, max_time="4s", progress=True)
    steps = model.metrics["steps"]
    (bar,) = bars
    assert bar.n == steps
    # the epochs are a cap of twice the plan; the bar's total follows the plan, re-aimed at the measured speed
    assert abs(bar.total - steps) <= 0.25 * steps + 25, (bar.total, steps)
