"""The trainer's watch for the stall at loss ln 10 (nin_book.stall_watch, fit's on_stall, the CLI's --on-stall):
it fires on chapter 7's stall recipe trained on the real Fashion-MNIST, and not on the cpu and smoke presets."""

from __future__ import annotations

import json
import math
import re
import warnings

import pytest
import torch
from torch import nn
from toys import toy_data

from nin_book.data import load_fashion_mnist
from nin_book.experiments.variants import VARIANTS, variant_config
from nin_book.presets import build_model, get_preset
from nin_book.stall_watch import STALL_LOSS_TOL, STALL_SPREAD_TOL, STALL_WINDOW, StallWatch, logit_spread
from nin_book.train import TrainingDiverged, TrainingStalled, fit, main

LN10 = math.log(10)


def _feed(watch: StallWatch, steps: int, *, loss: float = LN10, spread: float = 0.0, start: int = 1) -> None:
    for step in range(start, start + steps):
        logits = torch.zeros(4, 10)
        logits[0, 3] = spread
        watch.update(step, torch.tensor(loss), logits)


def test_watch_fires_after_a_window_of_flat_steps_and_names_the_step():
    watch = StallWatch(window=5)
    _feed(watch, 4)
    assert watch.fired_at() is None
    _feed(watch, 3, start=5)
    assert watch.fired_at() == 5  # the fifth flat step in a row; later steps do not move it


def test_one_step_that_reads_the_input_or_learns_resets_the_count():
    watch = StallWatch(window=5)
    _feed(watch, 4)
    _feed(watch, 1, spread=10 * STALL_SPREAD_TOL, start=5)  # the logits differ across the batch
    _feed(watch, 4, start=6)
    _feed(watch, 1, loss=LN10 - 2 * STALL_LOSS_TOL, start=10)  # the loss moved away from ln 10
    _feed(watch, 4, start=11)
    assert watch.fired_at() is None
    _feed(watch, 1, start=15)
    assert watch.fired_at() == 15


def test_ln_of_the_number_of_classes_not_a_fixed_ln_10():
    watch = StallWatch(window=3)
    for step in range(1, 4):
        watch.update(step, torch.tensor(math.log(4)), torch.zeros(8, 4))
    assert watch.fired_at() == 3
    assert StallWatch(window=1).fired_at() is None
    with pytest.raises(ValueError, match="window"):
        StallWatch(window=0)


def test_logit_spread():
    logits = torch.tensor([[0.0, 1.0], [0.5, -1.0], [0.25, 0.0]])
    assert logit_spread(logits).item() == 2.0
    assert logit_spread(torch.ones(5, 10)).item() == 0.0


class _DeadNet(nn.Module):
    """Logits that never depend on the image: a network whose every path to the input died."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(len(x), 10) + 0 * x.flatten(1)[:, :1]


def _dead_config(**changes):
    return get_preset("smoke").replace(train_limit=128, test_limit=64, batch_size=2, epochs=1, lr=1e-9,
                                       flip=False, **changes)


def test_fit_stops_on_a_dead_network_with_the_fixes_and_warns_or_ignores_on_request():
    data = toy_data()
    with pytest.raises(TrainingStalled) as err:
        fit(_DeadNet(), data, _dead_config(), progress=False)
    assert isinstance(err.value, TrainingDiverged)  # code that catches divergence catches the stall too
    assert err.value.result.status == "stalled" and err.value.result.stall_step == STALL_WINDOW
    message = str(err.value)
    assert "ln 10 = 2.3026" in message and "batch norm" in message and "learning rate" in message
    assert "on_stall='warn'" in message and "\n" not in message

    with pytest.warns(RuntimeWarning, match="ln 10") as caught:
        result = fit(_DeadNet(), data, _dead_config(), progress=False, on_stall="warn")
    assert len(caught) == 1 and result.status == "completed" and result.stall_step == STALL_WINDOW
    assert len(result.history) == 1

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fit(_DeadNet(), data, _dead_config(), progress=False, on_stall="off")
    assert result.stall_step is None and result.status == "completed"
    with pytest.raises(ValueError, match="on_stall must be one of stop, warn, off"):
        fit(_DeadNet(), data, _dead_config(), progress=False, on_stall="maybe")


def test_cli_stops_with_one_line_and_on_stall_warn_trains_on(tmp_path, monkeypatch, capsys):
    import nin_book.train as train_module

    monkeypatch.setattr(train_module, "load_fashion_mnist", toy_data)
    # The smoke preset's own network, made dead: every weight zero, so every ReLU outputs zero.
    monkeypatch.setattr(train_module, "build_model", lambda config: _zeroed(build_model(config)))
    args = ["--preset", "smoke", "--train-limit", "128", "--batch-size", "2", "--lr", "1e-9",
            "--metrics-out", str(tmp_path / "m.json")]
    assert main(args) == 1
    err = _messages(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("error: Training stopped: for 50 steps in a row (steps 1-50)")
    assert "--on-stall warn" in err[0] and "Traceback" not in err[0]
    assert json.loads((tmp_path / "m.json").read_text())["status"] == "stalled"

    assert main(args + ["--on-stall", "warn"]) == 0
    warned = _messages(capsys.readouterr().err)
    assert len(warned) == 1 and warned[0].startswith("warning: for 50 steps in a row")
    assert json.loads((tmp_path / "m.json").read_text())["stall_step"] == STALL_WINDOW


def _messages(stderr: str) -> list[str]:
    """The messages in stderr, without the progress bars around them (a message may follow a bar on its line)."""
    return [m.group(0) for line in stderr.splitlines() if (m := re.search(r"(error|warning|Traceback).*", line))]


def _zeroed(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model


@pytest.fixture(scope="module")
def fashion():
    return load_fashion_mnist(download=False)


def test_fires_on_chapter_7s_stall_recipe(fashion):
    """Seed 0 of chapter 7's stall recipe (no batch norm, peak lr 0.2): its output stops depending on the input
    within the first 300 steps; the watch stops it there, long before the run's end."""
    config = variant_config(VARIANTS["stall_recipe"], seed=0)
    model = build_model(config)
    with pytest.raises(TrainingStalled) as err:
        fit(model, fashion, config, progress=False)
    steps = config.epochs * config.train_limit // config.batch_size
    assert STALL_WINDOW <= err.value.result.stall_step < steps


@pytest.mark.parametrize("preset, limit", [("smoke", None), ("cpu", 12_800)])
def test_does_not_fire_on_the_presets_that_train(fashion, preset, limit):
    """The smoke preset as it is, and the cpu preset's first 100 steps (the stall recipe had stalled by then),
    with the watch set to stop: both train to the end without it firing."""
    config = get_preset(preset).replace(epochs=1 if limit else None, train_limit=limit,
                                        test_limit=1000 if limit else None)
    result = fit(build_model(config), fashion, config, progress=False)
    assert result.status == "completed" and result.stall_step is None
    assert result.history[-1].train_loss < LN10 - 10 * STALL_LOSS_TOL
