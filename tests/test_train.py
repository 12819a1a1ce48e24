"""The trainer: it learns, it stops on NaN, it resumes exactly, Ctrl-C keeps what was done."""

from pathlib import Path

import pytest
import torch
from torch import nn
from toys import toy_data

from nin_book import checkpoint as checkpoint_module
from nin_book.checkpoint import load_checkpoint, load_model, save_checkpoint
from nin_book.data import FashionMNIST
from nin_book.presets import TrainConfig, build_model, get_preset
from nin_book.train import TrainingDiverged, evaluate, fit, predict, resolve_device, select_precision, train_preset

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
needs_debian = pytest.mark.skipif(not (DEBIAN / "train-images-idx3-ubyte.gz").exists(),
                                  reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")

TINY = {"widths": (8, 16, 16), "first_block": (3, 1, 1), "batch_norm": True, "dropout": 0.2}


def config(**changes) -> TrainConfig:
    base = TrainConfig(preset="test", model=TINY, epochs=2, batch_size=32, lr=0.05, flip=True, device="cpu",
                       eval_batch_size=64)
    return base.replace(**changes)


def test_overfits_one_small_batch():
    small = toy_data(n_train=32)
    # The same 32 random images and labels, 12 copies per epoch; the test set is that batch, so test
    # accuracy measures memorisation (random labels cannot be learnt any other way).
    data = FashionMNIST(small.train_images.repeat(12, 1, 1), small.train_labels.repeat(12),
                        small.train_images, small.train_labels, source="toy")
    cfg = config(model={**TINY, "dropout": 0.0}, epochs=8, lr=0.1, schedule="constant", flip=False, weight_decay=0.0)
    result = fit(build_model(cfg), data, cfg, progress=False)
    assert result.status == "completed" and len(result.history) == 8
    assert result.history[-1].train_loss < 0.1 * result.history[0].train_loss
    assert result.final_test_accuracy == 1.0


class NaNAfter(nn.Module):
    """A linear classifier whose output turns NaN from the given (1-based) call on."""

    def __init__(self, bad_call: int) -> None:
        super().__init__()
        self.linear = nn.Linear(28 * 28, 10)
        self.bad_call, self.calls = bad_call, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1 if self.training else 0
        out = self.linear(x.flatten(1))
        return out * float("nan") if self.training and self.calls >= self.bad_call else out


def test_nan_guard_names_the_step_and_the_fix():
    data = toy_data(n_train=128)
    cfg = config(epochs=3, batch_size=32)  # 4 steps per epoch: the 7th step is in epoch 2
    with pytest.raises(TrainingDiverged, match="at step 7; lower the learning rate") as err:
        fit(NaNAfter(bad_call=7), data, cfg, progress=False)
    result = err.value.result
    assert result.status == "diverged" and [r.epoch for r in result.history] == [1]  # epoch 1 was fine


def test_deferred_nan_check_still_names_the_first_bad_step(monkeypatch):
    import nin_book.train as train_module

    # The GPU path reads the loss back only every NAN_CHECK_EVERY steps; exercise it on the CPU.
    monkeypatch.setattr(train_module, "_nan_check_interval", lambda device: 50)
    with pytest.raises(TrainingDiverged, match="at step 6;"):
        fit(NaNAfter(bad_call=6), toy_data(n_train=128), config(epochs=3, batch_size=32), progress=False)


def test_nan_guard_fires_for_a_huge_learning_rate():
    data = toy_data(n_train=128)
    cfg = config(model={**TINY, "batch_norm": False}, lr=1e12, epochs=3, schedule="constant")
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        fit(build_model(cfg), data, cfg, progress=False)


def weights(model: nn.Module) -> list[torch.Tensor]:
    return [t.clone() for t in model.state_dict().values()]


def test_resume_after_ctrl_c_gives_the_uninterrupted_result(tmp_path):
    data = toy_data()
    cfg = config(epochs=3)
    straight = build_model(cfg)
    full = fit(straight, data, cfg, progress=False)

    ckpt = tmp_path / "run.pt"

    def ctrl_c_after_first_epoch(record):
        if record.epoch == 1:
            raise KeyboardInterrupt

    first = build_model(cfg)
    part = fit(first, data, cfg, checkpoint=ckpt, progress=False, on_epoch_end=ctrl_c_after_first_epoch)
    assert part.status == "interrupted" and len(part.history) == 1 and "checkpoint" in part.message
    assert load_checkpoint(ckpt)["epoch"] == 1

    resumed_model = build_model(cfg.replace(seed=99))  # different start: everything must come from the checkpoint
    resumed = fit(resumed_model, data, cfg, checkpoint=ckpt, progress=False)
    assert resumed.resumed_from_epoch == 1 and resumed.status == "completed"
    assert [r.epoch for r in resumed.history] == [1, 2, 3]
    assert [r.test_accuracy for r in resumed.history] == [r.test_accuracy for r in full.history]
    assert [r.train_loss for r in resumed.history] == pytest.approx([r.train_loss for r in full.history], rel=1e-5)
    for a, b in zip(weights(resumed_model), weights(straight), strict=True):
        torch.testing.assert_close(a, b)


class InterruptAt(nn.Module):
    """Wraps a model and raises KeyboardInterrupt at the given training call, like Ctrl-C mid-epoch."""

    def __init__(self, inner: nn.Module, at_call: int) -> None:
        super().__init__()
        self.inner, self.at_call, self.calls = inner, at_call, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
            if self.calls == self.at_call:
                raise KeyboardInterrupt
        return self.inner(x)


def test_ctrl_c_mid_epoch_keeps_the_last_good_checkpoint_and_history(tmp_path):
    data = toy_data()
    cfg = config(epochs=3)
    ckpt = tmp_path / "run.pt"
    result = fit(InterruptAt(build_model(cfg), at_call=6), data, cfg, checkpoint=ckpt, progress=False)  # 4 steps/epoch
    assert result.status == "interrupted" and len(result.history) == 1
    assert "after 1 of 3 epochs" in result.message
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 1 and len(state["history"]) == 1
    # No temporary files left behind (the lock file of the run may stay; .gitignore matches it).
    assert {p.name for p in tmp_path.iterdir()} - {".run.pt.lock"} == {"run.pt"}


def test_resuming_with_other_settings_is_refused(tmp_path):
    data = toy_data()
    ckpt = tmp_path / "run.pt"
    fit(build_model(config(epochs=1)), data, config(epochs=1), checkpoint=ckpt, progress=False)
    with pytest.raises(ValueError, match=r"different settings \(lr\)"):
        fit(build_model(config(epochs=1)), data, config(epochs=1, lr=0.5), checkpoint=ckpt, progress=False)


def test_failed_checkpoint_write_keeps_the_old_file(tmp_path, monkeypatch):
    ckpt = tmp_path / "run.pt"
    save_checkpoint(ckpt, {"model": {"w": torch.ones(2)}, "config": {}, "epoch": 1})

    def broken_save(obj, f):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(ckpt, {"model": {"w": torch.zeros(2)}, "config": {}, "epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(ckpt)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a nin_book checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_load_model_rebuilds_the_trained_network(tmp_path):
    data = toy_data()
    cfg = config(epochs=1)
    model = build_model(cfg)
    fit(model, data, cfg, checkpoint=tmp_path / "run.pt", progress=False)
    loaded, loaded_cfg = load_model(tmp_path / "run.pt")
    assert loaded_cfg == cfg and not loaded.training
    torch.testing.assert_close(predict(loaded, data.test_images, logits=True),
                               predict(model, data.test_images, logits=True))


def test_predict_and_evaluate_agree():
    data = toy_data()
    model = build_model(config())
    labels = predict(model, data.test_images, batch_size=16)
    logits = predict(model, data.test_images, batch_size=16, logits=True)
    assert labels.shape == (64,) and labels.dtype == torch.int64 and logits.shape == (64, 10)
    assert torch.equal(logits.argmax(1), labels)
    assert model.training  # prediction restores the mode it found


def test_evaluate_against_a_model_whose_answers_are_known():
    # A linear "model" whose score for class k is pixel (0, k) of the image: normalising is the same increasing
    # map for every pixel, so its prediction is the brightest of the first ten pixels of the top row, and its
    # accuracy can be counted straight from the uint8 images, without nin_book.
    data = toy_data()
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10, bias=False))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[torch.arange(10), torch.arange(10)] = 1.0
    model.train()
    top_row = data.test_images[:, 0, :10].long() * 10 - torch.arange(10)  # ties go to the first, as argmax does
    expected = (top_row.argmax(1) == data.test_labels).sum().item() / len(data.test_labels)
    assert evaluate(model, data.test_images, data.test_labels, batch_size=16) == expected
    assert torch.equal(predict(model, data.test_images), top_row.argmax(1))
    assert model.training  # evaluation restores the mode it found


def test_history_records_every_field():
    result = fit(build_model(config()), toy_data(), config(), progress=False)
    record = result.history[-1]
    assert record.epoch == 2 and record.images == 128 and record.images_per_second > 0
    assert 0 < record.epoch_seconds <= record.wall_seconds <= result.wall_seconds
    assert 0 <= record.train_accuracy <= 1 and 0 <= record.test_accuracy <= 1
    out = result.to_dict()
    assert out["final_test_accuracy"] == record.test_accuracy and out["device"] == "cpu" and out["torch_version"]
    assert out["config"]["model"]["widths"] == (8, 16, 16) and len(out["history"]) == 2


def test_cuda_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(ValueError, match="no CUDA GPU.*use device cpu or auto"):
        resolve_device("cuda")


@needs_debian
def test_train_preset_smoke_learns_something():
    model, result = train_preset("smoke", progress=False)
    assert result.config == get_preset("smoke") and len(result.history) == result.config.epochs
    # Ten classes: guessing gets 0.1 of the preset's 256 test images right, 25.6 ± 4.8 of them; 0.2 (51) is
    # more than five standard deviations above that. (The smoke preset, batches of 32, reaches about 0.44 on the real data.)
    assert result.final_test_accuracy > 0.2
    assert isinstance(model, nn.Module)


@pytest.mark.parametrize(("requested", "device", "bf16", "expected"), [
    ("auto", "cpu", False, "fp32"),
    ("auto", "cuda", True, "bf16"),   # A100, H100: bf16 autocast, no loss scaling
    ("auto", "cuda", False, "fp16"),  # Colab's T4: fp16 with a gradient scaler
    ("fp32", "cuda", True, "fp32"),   # the classic preset
    ("fp16", "cuda", True, "fp16"),
])
def test_precision_follows_the_device_capability(requested, device, bf16, expected):
    assert select_precision(requested, device, bf16) == expected


@pytest.mark.parametrize(("requested", "device", "bf16", "message"), [
    ("bf16", "cpu", False, "needs a CUDA GPU"),
    ("fp16", "cpu", False, "needs a CUDA GPU"),
    ("bf16", "cuda", False, "does not support bfloat16"),
])
def test_impossible_precision_is_refused(requested, device, bf16, message):
    with pytest.raises(ValueError, match=message):
        select_precision(requested, device, bf16)


def test_classic_preset_trains_smoke_sized_steps_on_cpu():
    # d2l's recipe: no batch norm, Xavier init, plain SGD at lr 0.1, constant rate, fp32. A few steps at a
    # reduced resolution (the recipe's 224 is a GPU's job), to check the pieces fit together.
    classic = get_preset("classic")
    assert (classic.model["batch_norm"], classic.model["init"], classic.momentum, classic.weight_decay) == (
        False, "xavier", 0.0, 0.0)
    assert (classic.lr, classic.batch_size, classic.epochs, classic.resolution, classic.precision) == (
        0.1, 128, 10, 224, "fp32")
    cfg = classic.replace(device="cpu", resolution=67, batch_size=8, epochs=1, eval_batch_size=16)
    model = build_model(cfg)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    result = fit(model, toy_data(n_train=16, n_test=16), cfg, progress=False)
    assert result.status == "completed" and result.precision == "fp32"
    assert all(torch.isfinite(p).all() for p in model.parameters())
