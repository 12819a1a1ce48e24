"""The command line: the smoke preset writes valid metrics JSON; bad arguments fail in one line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nin_book.presets import PRESET_NAMES
from nin_book.train import main

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
needs_debian = pytest.mark.skipif(not (DEBIAN / "train-images-idx3-ubyte.gz").exists(),
                                  reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
ROOT = Path(__file__).resolve().parents[1]


@needs_debian
def test_smoke_preset_writes_valid_metrics_json(tmp_path, capsys):
    out = tmp_path / "results" / "smoke.json"
    ckpt = tmp_path / "smoke.pt"
    assert main(["--preset", "smoke", "--epochs", "2", "--seed", "1", "--checkpoint", str(ckpt),
                 "--metrics-out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["status"] == "completed" and metrics["config"]["preset"] == "smoke"
    assert metrics["config"]["epochs"] == 2 and metrics["config"]["seed"] == 1
    # The device is left on auto: the GPU where torch sees one (a GPU machine passes too), else the CPU.
    expected_device = "cuda" if torch.cuda.is_available() else "cpu"
    assert metrics["device"] == expected_device and metrics["torch_version"] == torch.__version__ and metrics["device_name"]
    assert len(metrics["history"]) == 2
    assert set(metrics["history"][0]) >= {"train_loss", "train_accuracy", "test_accuracy", "images_per_second",
                                          "wall_seconds"}
    final = metrics["final_test_accuracy"]
    assert 0.0 <= final <= 1.0 and final == metrics["history"][-1]["test_accuracy"]
    assert metrics["images_per_second"] > 0 and metrics["wall_seconds"] > 0
    assert metrics["command"].startswith("python -m nin_book.train --preset smoke")
    assert ckpt.is_file() and "test accuracy" in capsys.readouterr().out
    # Running again with the same checkpoint resumes: nothing is left to train, the history is kept.
    assert main(["--preset", "smoke", "--epochs", "2", "--seed", "1", "--checkpoint", str(ckpt),
                 "--metrics-out", str(out)]) == 0
    again = json.loads(out.read_text())
    assert again["resumed_from_epoch"] == 2 and again["history"] == metrics["history"]


@pytest.mark.parametrize("argv, message", [
    (["--preset", "gpu"], "argument --preset: invalid choice: 'gpu'"),
    (["--preset", "smoke", "--epochs", "0"], "argument --epochs: must be positive, got 0"),
    (["--preset", "smoke", "--batch-size", "-8"], "argument --batch-size: must be positive, got -8"),
    (["--preset", "smoke", "--resolution", "many"], "argument --resolution: expected a positive int, got 'many'"),
    (["--preset", "smoke", "--lr", "0"], "argument --lr: must be positive, got 0"),
    (["--preset", "smoke", "--train-limit", "0"], "argument --train-limit: must be positive"),
    (["--preset", "smoke", "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    (["--preset", "smoke"], "the following arguments are required: --metrics-out"),
    (["--preset", "cpu", "--resolution", "3"], "--resolution 3 does not fit preset cpu: layer"),
])
def test_bad_arguments_fail_in_one_line(argv, message, capsys, tmp_path):
    if "--metrics-out" not in argv and "required" not in message:
        argv = [*argv, "--metrics-out", str(tmp_path / "m.json")]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "m.json").exists()


def test_cuda_without_a_gpu_fails_in_one_line(capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(SystemExit) as exit_info:
        main(["--preset", "smoke", "--device", "cuda", "--metrics-out", str(tmp_path / "m.json")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no CUDA GPU" in err and "use device cpu or auto" in err


def test_unknown_preset_in_the_environment_fails_in_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NIN_BOOK_PRESET", "fastest")
    with pytest.raises(SystemExit):
        main(["--metrics-out", str(tmp_path / "m.json")])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"unknown preset 'fastest'; valid presets: {', '.join(PRESET_NAMES)}" in err
    assert all(name in err for name in ("seed224", "cpu", "classic", "smoke"))  # the presets chapter 5 describes


def test_missing_data_is_reported_without_a_traceback(capsys, tmp_path, monkeypatch):
    import nin_book.train as train_module
    from nin_book import data

    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "nowhere")
    # No network in tests: the CLI's loader is made to skip the download step.
    monkeypatch.setattr(train_module, "load_fashion_mnist", lambda: data.load_fashion_mnist(download=False))
    assert main(["--preset", "smoke", "--metrics-out", str(tmp_path / "m.json")]) == 1
    err = capsys.readouterr().err
    assert "Fashion-MNIST was not found" in err and "apt-get install dataset-fashion-mnist" in err
    assert not (tmp_path / "m.json").exists()


def test_module_entry_point_exits_nonzero_with_one_line():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "nin_book.train", "--preset", "huge", "--metrics-out", "x.json"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "invalid choice: 'huge'" in proc.stderr and "Traceback" not in proc.stderr
