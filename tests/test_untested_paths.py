"""Paths no other test walked (issue 15): the cosine schedule's learning-rate curve, ``resume=False``, and the
CLI's exit codes 1 (diverged) and 130 (interrupted). Expectations are worked out by hand here."""

import json
import math

import pytest
import torch
from toys import toy_data

import nin_book.train as train_module
from nin_book.checkpoint import load_checkpoint
from nin_book.presets import TrainConfig, build_model
from nin_book.train import fit, main

TINY = {"widths": (4, 8, 8), "first_block": (3, 1, 1), "batch_norm": True, "dropout": 0.0}


def config(**changes) -> TrainConfig:
    return TrainConfig(preset="test", model=TINY, epochs=2, batch_size=32, lr=0.05, device="cpu",
                       eval_batch_size=64).replace(**changes)


def test_cosine_schedule_follows_warmup_then_half_cosine():
    # One step per epoch (32 images, batch 32): 10 steps in all, the first 20% (2 steps) warm up, then the
    # rate falls as peak * (1 + cos(pi * t)) / 2 over the remaining 8 steps, t going from 0 to 1. The rate
    # recorded after epoch e is the one after e optimizer steps.
    peak = 0.1
    cfg = config(epochs=10, lr=peak, schedule="cosine", warmup_fraction=0.2)
    result = fit(build_model(cfg), toy_data(n_train=32, n_test=32), cfg, progress=False)
    lr = {r.epoch: r.lr for r in result.history}
    assert lr[2] == pytest.approx(peak)                          # t = 0: the peak, warm-up done
    assert lr[4] == pytest.approx(peak * (2 + math.sqrt(2)) / 4)  # t = 1/4: cos(pi/4) = sqrt(2)/2
    assert lr[6] == pytest.approx(peak / 2)                       # t = 1/2: half way down
    assert lr[8] == pytest.approx(peak * (2 - math.sqrt(2)) / 4)  # t = 3/4
    assert lr[10] == pytest.approx(0.0, abs=1e-12)                # t = 1: all the way down
    falling = [lr[e] for e in range(2, 11)]
    assert all(a > b for a, b in zip(falling, falling[1:], strict=False))


def test_resume_false_trains_afresh_over_an_existing_checkpoint(tmp_path):
    data, cfg = toy_data(64, 32), config(epochs=2)
    ckpt = tmp_path / "run.pt"
    first = fit(build_model(cfg), data, cfg, checkpoint=ckpt, progress=False)
    assert load_checkpoint(ckpt)["epoch"] == 2
    # resume=True would find nothing left to train; resume=False starts from epoch 0 again ...
    again = fit(build_model(cfg), data, cfg, checkpoint=ckpt, resume=False, progress=False)
    assert again.status == "completed" and again.resumed_from_epoch == 0
    assert [r.epoch for r in again.history] == [1, 2]
    # ... and, with the same seed, repeats the first run, epoch for epoch.
    assert [r.test_accuracy for r in again.history] == [r.test_accuracy for r in first.history]
    assert [r.train_loss for r in again.history] == pytest.approx([r.train_loss for r in first.history], rel=1e-5)
    # Even a checkpoint written with other settings is overwritten rather than refused.
    other = cfg.replace(lr=0.2)
    fit(build_model(other), data, other, checkpoint=ckpt, resume=False, progress=False)
    assert load_checkpoint(ckpt)["config"]["lr"] == 0.2


@pytest.fixture
def toy_cli(monkeypatch):
    """The CLI trains the smoke preset on toy data: seconds, no data set needed."""
    monkeypatch.setattr(train_module, "load_fashion_mnist", lambda: toy_data(n_train=128, n_test=64))


class _NaNLoss(torch.nn.CrossEntropyLoss):
    """A loss that is NaN from the given training step on, as a run that blew up gives."""

    def __init__(self, bad_step: int, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bad_step, self.calls = bad_step, 0

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loss = super().forward(logits, target)
        return loss * float("nan") if self.calls >= self.bad_step else loss


def test_cli_exits_1_when_training_diverges(tmp_path, capsys, toy_cli, monkeypatch):
    monkeypatch.setattr(torch.nn, "CrossEntropyLoss", lambda *a, **k: _NaNLoss(3, *a, **k))
    out = tmp_path / "m.json"
    assert main(["--preset", "smoke", "--epochs", "2", "--batch-size", "64", "--metrics-out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "at step 3; lower the learning rate" in err and "Traceback" not in err
    # 128 images in batches of 64 (set here, whatever the preset says): two steps per epoch, so step 3 is in
    # epoch 2 and epoch 1 is kept.
    metrics = json.loads(out.read_text())
    assert metrics["status"] == "diverged" and [r["epoch"] for r in metrics["history"]] == [1]


def test_cli_exits_130_when_interrupted_and_keeps_the_finished_epoch(tmp_path, capsys, toy_cli, monkeypatch):
    real_fit = train_module.fit

    def ctrl_c_after_first_epoch(record):
        if record.epoch == 1:
            raise KeyboardInterrupt

    # Ctrl-C arrives after epoch 1, as from a reader's keyboard.
    monkeypatch.setattr(train_module, "fit", lambda *a, **k: real_fit(*a, **k, on_epoch_end=ctrl_c_after_first_epoch))
    out, ckpt = tmp_path / "m.json", tmp_path / "run.pt"
    assert main(["--preset", "smoke", "--epochs", "3", "--checkpoint", str(ckpt), "--metrics-out", str(out)]) == 130
    metrics = json.loads(out.read_text())
    assert metrics["status"] == "interrupted" and [r["epoch"] for r in metrics["history"]] == [1]
    assert load_checkpoint(ckpt)["epoch"] == 1
    assert "checkpoint" in capsys.readouterr().err
