"""Fault injection (issue 14): every misuse or fault from the table gets a one-line message naming the fix, or
the right behaviour. Each test builds its case in tmp_path with the smoke preset, toy data or tiny tensors."""

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from toys import toy_data

from nin_book import checkpoint as checkpoint_module
from nin_book import data
from nin_book.blocks import receptive_fields
from nin_book.checkpoint import (
    CorruptCheckpointError,
    OutputInUseError,
    UnfinishedCheckpointWarning,
    atomic_write_bytes,
    load_checkpoint,
    load_model,
    lock_output,
    save_checkpoint,
)
from nin_book.counting import count_flops, count_parameters
from nin_book.data import DataNotFoundError, find_fashion_mnist, read_idx
from nin_book.models import nin
from nin_book.presets import TrainConfig, build_model
from nin_book.shapes import accepts_input, conv_output_size, trace
from nin_book.train import fit, main

ROOT = Path(__file__).resolve().parents[1]
TINY = {"widths": (4, 8, 8), "first_block": (3, 1, 1), "batch_norm": True, "dropout": 0.0}


def config(**changes) -> TrainConfig:
    return TrainConfig(preset="test", model=TINY, epochs=2, batch_size=64, lr=0.05, device="cpu",
                       eval_batch_size=64).replace(**changes)


def cli(*args: str) -> list[str]:
    return ["--preset", "smoke", "--epochs", "1", *args]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def holder_script(path: Path) -> str:
    """A process that locks ``path`` as a training run does, starts saving it, and hangs mid-write."""
    return f"""
import sys, time
from pathlib import Path
from nin_book.checkpoint import _atomic, lock_output
with lock_output({str(path)!r}, "checkpoint"):
    def write(f):
        f.write(b"half a checkpoint")
        f.flush()
        print("writing", flush=True)
        time.sleep(120)
    _atomic(Path({str(path)!r}), write)
"""


# --- 1 and 15: a checkpoint in use is locked; a killed writer's temporary file is cleaned up ---------------

def test_checkpoint_in_use_is_refused_naming_the_process_and_freed_when_it_dies(tmp_path, capsys, toy_cli):
    ckpt = tmp_path / "run.pt"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", holder_script(ckpt)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "writing"
        # A second run on the same checkpoint refuses before loading any data, naming the holder.
        assert main(cli("--checkpoint", str(ckpt), "--metrics-out", str(tmp_path / "m.json"))) == 1
        err = one_line_error(capsys)
        assert f"checkpoint {ckpt} is in use by process {holder.pid}" in err and "wait for that run" in err
        assert not toy_cli and not (tmp_path / "m.json").exists()
        with pytest.raises(OutputInUseError, match=f"process {holder.pid}"):
            fit(build_model(config()), toy_data(), config(), checkpoint=ckpt, progress=False)
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert len(temps) == 1  # the holder's half-written file
    finally:
        holder.send_signal(signal.SIGKILL)  # as a killed run: no cleanup code runs
        holder.wait()
    assert temps[0].exists()
    # The kernel released the dead process's lock: the next run trains, and removes the stale file first.
    assert main(cli("--checkpoint", str(ckpt), "--metrics-out", str(tmp_path / "m.json"))) == 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert load_checkpoint(ckpt)["epoch"] == 1


def test_stale_temp_files_of_other_names_are_kept(tmp_path):
    stale = tmp_path / ".run.pt.k2j4x_9a.tmp"
    other = tmp_path / ".run.pt.bak.k2j4x_9a.tmp"  # belongs to run.pt.bak, not to run.pt
    stale.write_bytes(b"x")
    other.write_bytes(b"x")
    with lock_output(tmp_path / "run.pt"):
        assert not stale.exists() and other.exists()


def test_nested_locks_in_one_process_are_allowed(tmp_path):
    with lock_output(tmp_path / "run.pt"), lock_output(tmp_path / "run.pt"):
        pid_file = tmp_path / ".run.pt.lock.pid"
        assert pid_file.read_text().strip() == str(os.getpid())
    assert not pid_file.exists()


def test_gitignore_matches_temporary_and_lock_files():
    if shutil.which("git") is None or subprocess.run(["git", "rev-parse"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("not a git checkout (or git is not installed)")
    names = [".run.pt.k2j4x_9a.tmp", "results/.cpu_preset.json.abc_1234.tmp", ".run.pt.lock", ".run.pt.lock.pid"]
    for name in names:
        proc = subprocess.run(["git", "check-ignore", "--no-index", "-q", name], cwd=ROOT)
        assert proc.returncode == 0, f"{name} is not matched by .gitignore"


# --- 2 and 4: output paths are checked before any training ----------------------------------------------

@pytest.mark.parametrize("metrics", ["run.pt", "./sub/../run.pt"])
def test_checkpoint_and_metrics_on_the_same_file_are_refused(tmp_path, capsys, toy_cli, metrics, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(cli("--checkpoint", "run.pt", "--metrics-out", metrics))
    assert exit_info.value.code == 2
    assert "are the same file" in one_line_error(capsys)
    assert not toy_cli and not (tmp_path / "run.pt").exists()


def test_output_on_a_directory_under_proc_or_under_a_file_is_refused_before_training(tmp_path, capsys, toy_cli):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "folder").mkdir()
    cases = [
        (["--metrics-out", str(tmp_path / "folder")], "is a directory; give a file path"),
        (["--checkpoint", str(tmp_path / "folder"), "--metrics-out", str(tmp_path / "m.json")], "is a directory"),
        (["--metrics-out", "/proc/nin_book_metrics.json"], "cannot create files in /proc"),
        (["--checkpoint", "/proc/run.pt", "--metrics-out", str(tmp_path / "m.json")], "cannot create files in /proc"),
        (["--metrics-out", str(tmp_path / "a_file" / "m.json")], "is a file, not a folder"),
    ]
    for args, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(cli(*args))
        assert exit_info.value.code == 2
        assert message in one_line_error(capsys)
    assert not toy_cli and not (tmp_path / "m.json").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_in_a_read_only_folder_is_refused(tmp_path, capsys, toy_cli):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(SystemExit):
            main(cli("--metrics-out", str(folder / "m.json")))
        assert "choose a writable folder" in one_line_error(capsys)
    finally:
        folder.chmod(0o700)
    assert not toy_cli


# --- 3: corrupt checkpoints -------------------------------------------------------------------------------

def corrupt_files(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"model": {"w": torch.ones(100)}, "config": config().to_dict(), "epoch": 2})
    raw = good.read_bytes()
    files = {"truncated": raw[: len(raw) // 2], "random": np.random.default_rng(0).bytes(4096), "empty": b"",
             "json": json.dumps({"status": "completed"}).encode()}
    for name, content in files.items():
        (tmp_path / f"{name}.pt").write_bytes(content)
    return {name: tmp_path / f"{name}.pt" for name in files}


def test_corrupt_checkpoints_are_reported_as_corrupt_with_the_path(tmp_path):
    for name, path in corrupt_files(tmp_path).items():
        for load in (load_checkpoint, load_model):
            with pytest.raises(CorruptCheckpointError) as err:
                load(path)
            message = str(err.value)
            assert f"checkpoint {path} is corrupt" in message and "delete it" in message, name
            assert "weights_only" not in message and "\n" not in message
            assert err.value.__cause__ is None and err.value.__suppress_context__  # torch's advice is not chained


def test_resuming_from_a_corrupt_checkpoint_fails_in_one_line_before_training(tmp_path, capsys, toy_cli):
    for path in corrupt_files(tmp_path).values():
        assert main(cli("--checkpoint", str(path), "--metrics-out", str(tmp_path / "m.json"))) == 1
        err = one_line_error(capsys)
        assert "is corrupt" in err and "weights_only" not in err
    assert not (tmp_path / "m.json").exists()
    # --fresh trains over it.
    path = tmp_path / "json.pt"
    assert main(cli("--checkpoint", str(path), "--fresh", "--metrics-out", str(tmp_path / "m.json"))) == 0
    assert load_checkpoint(path)["epoch"] == 1


# --- 5 and 6: damaged data files, and a data setting that does not hold the data --------------------------

def write_idx_gz(path: Path, array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())
    return path.read_bytes()


def test_truncated_or_not_gzip_data_file_is_named_with_the_fix(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = write_idx_gz(path, np.zeros((50, 28, 28), dtype=np.uint8))
    path.write_bytes(raw[: len(raw) // 2])  # an interrupted download
    with pytest.raises(ValueError, match=f"{path} is damaged .*delete it and download it again") as err:
        read_idx(path)
    assert "\n" not in str(err.value)
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match=f"{path} is damaged \\(not valid gzip data"):
        read_idx(path)


def complete_fake_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stem in data.FILES.values():
        write_idx_gz(folder / f"{stem}.gz", np.zeros((2, 28, 28) if "images" in stem else (2,), dtype=np.uint8))
    return folder


@pytest.mark.parametrize("setting", ["empty", "partial", "missing", "file"])
def test_an_explicit_data_setting_without_the_data_is_an_error_not_a_fallback(setting, tmp_path, monkeypatch):
    # Another complete source exists: it must not be used silently.
    monkeypatch.setattr(data, "DEBIAN_DIR", complete_fake_folder(tmp_path / "debian"))
    folder = tmp_path / "mine"
    if setting == "empty":
        folder.mkdir()
    elif setting == "partial":
        complete_fake_folder(folder)
        (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    elif setting == "file":
        folder.write_text("x")
    expected = {"empty": "lacks train-images-idx3-ubyte.gz, train-labels", "partial": "lacks t10k-labels-idx1-ubyte.gz;",
                "missing": "does not exist", "file": "is not a folder"}[setting]
    monkeypatch.setenv(data.ENV_VAR, str(folder))
    with pytest.raises(DataNotFoundError) as err:
        find_fashion_mnist(download=False)
    message = str(err.value)
    assert f"NIN_BOOK_DATA={folder} {expected}" in message and "unset NIN_BOOK_DATA" in message and "\n" not in message
    monkeypatch.delenv(data.ENV_VAR)
    with pytest.raises(DataNotFoundError, match=f"the path argument {folder} {expected}"):
        find_fashion_mnist(folder, download=True)  # no download attempted either
    assert find_fashion_mnist(download=False) == tmp_path / "debian"  # unset: the other sources are used


# --- 7, 16 and 17: shapes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, message", [
    ((224, 224), "must be \\(channels, height, width\\)"),
    ((1, 1, 224, 224), "must be \\(channels, height, width\\)"),
    ((1, 224.9, 224.9), "input_shape height must be an integer, got 224.9"),
    ((1.0, 224, 224), "input_shape channels must be an integer"),
    ("1x224x224", "must be \\(channels, height, width\\)"),
])
def test_trace_and_accepts_input_reject_two_tuples_and_floats(shape, message):
    model = nin()
    for call in (trace, accepts_input, count_flops):
        with pytest.raises(ValueError, match=message):
            call(model, shape)


def test_integer_like_shapes_are_accepted():
    model = nin()
    shape = (np.int64(1), torch.tensor(224), 224)
    assert trace(model, shape)[-1].output_shape == (10,) and accepts_input(model, shape)


def test_huge_inputs_are_traced_on_the_meta_device_without_allocating():
    rows = trace(nin(), (1, 10**6, 10**6), depth=1)
    assert rows[-1].output_shape == (10,) and rows[0].output_shape == (96, 249998, 249998)
    assert count_flops(nin(), (1, 10**5, 10**5)) > 10**14


def test_huge_resolution_is_a_one_line_error(tmp_path, capsys, toy_cli):
    with pytest.raises(SystemExit) as exit_info:
        main(cli("--resolution", "100000", "--metrics-out", str(tmp_path / "m.json")))
    assert exit_info.value.code == 2
    err = one_line_error(capsys)
    assert "images at 100000×100000 needs about" in err and "lower --resolution or --batch-size" in err
    assert not toy_cli


def test_conv_output_size_accepts_integer_like_values_only():
    assert conv_output_size(np.int64(28), 3) == 26
    assert conv_output_size(torch.tensor(28), np.int32(3), stride=torch.tensor(1), padding=np.uint8(1)) == 28
    for bad in (28.5, 28.0, "28", True, torch.tensor(28.0)):
        with pytest.raises(ValueError, match="input size must be an integer"):
            conv_output_size(bad, 3)


# --- 8: shared modules and tied weights --------------------------------------------------------------------

class TwiceForward(nn.Module):
    """A custom forward that calls one convolution twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.relu(self.conv(x)))


def test_shared_modules_and_tied_weights_are_traced_per_use_and_counted_once():
    conv = nn.Conv2d(1, 1, 3)
    shared = nn.Sequential(conv, nn.ReLU(), conv)
    tied = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.Conv2d(1, 1, 3))
    tied[2].weight = tied[0].weight
    for model in (shared, tied, TwiceForward()):
        rows = trace(model, (1, 9, 9))
        assert len(rows) == 3 and rows[-1].output_shape == (1, 5, 5), model
        assert rows.total_flops == count_flops(model, (1, 9, 9)) == 2 * 9 * (7 * 7 + 5 * 5)  # both uses of the 3×3 conv
        assert rows.total_parameters == count_parameters(model)
    assert trace(shared, (1, 9, 9))[2].layer.endswith("(shared with '0')")
    assert trace(TwiceForward(), (1, 9, 9))[2].name == "conv (call 2)"
    assert receptive_fields(shared)[-1].receptive_field == 5


def test_custom_forward_shape_errors_name_the_layer():
    with pytest.raises(ValueError, match="layer 'conv \\(call 2\\)' .* cannot take input 1×2×2: height 2: kernel 3"):
        trace(TwiceForward(), (1, 4, 4))


# --- 9: nin() arguments ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"widths": (0, 16, 32)}, "widths must be three channel counts .* each a positive integer, got \\(0, 16, 32\\)"),
    ({"widths": (8.5, 16, 32)}, "widths must be three channel counts"),
    ({"widths": "abc"}, "widths must be three channel counts"),
    ({"num_classes": 0}, "num_classes must be a positive integer, got 0"),
    ({"in_channels": 0}, "in_channels must be a positive integer, got 0"),
    ({"in_channels": "1"}, "in_channels must be a positive integer, got '1'"),
    ({"first_block": (3, 0, 1)}, "first_block must be \\(kernel, stride, padding\\) with kernel and stride at least 1"),
    ({"first_block": (3, 1)}, "first_block must be \\(kernel, stride, padding\\)"),
    ({"pools": ((3, 2, 0), None, (3, 2, -1))}, "pools\\[2\\] must be \\(kernel, stride, padding\\)"),
])
def test_nin_rejects_bad_arguments_in_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        nin(**kwargs)
    assert "\n" not in str(err.value)


def test_nin_accepts_integer_like_arguments():
    model = nin(widths=(np.int64(8), 16, torch.tensor(16)), num_classes=np.int32(3), first_block=(3, 1, 1))
    assert model.block4.conv.out_channels == 3 and trace(model, (1, 28, 28))[-1].output_shape == (3,)


# --- 10 and 11: command-line settings -------------------------------------------------------------------

def test_huge_learning_rate_is_a_one_line_error(tmp_path, capsys, toy_cli):
    with pytest.raises(SystemExit) as exit_info:
        main(cli("--lr", "1e40", "--metrics-out", str(tmp_path / "m.json")))
    assert exit_info.value.code == 2
    assert "argument --lr: must be at most 1000, got 1e40" in one_line_error(capsys)


def test_auto_checkpoint_resumes_with_device_cpu_when_auto_meant_cpu(tmp_path, capsys, toy_cli):
    if torch.cuda.is_available():
        pytest.skip("auto means cuda here")
    ckpt, out = tmp_path / "run.pt", tmp_path / "m.json"
    assert main(cli("--device", "auto", "--checkpoint", str(ckpt), "--metrics-out", str(out))) == 0
    assert main(cli("--device", "cpu", "--checkpoint", str(ckpt), "--metrics-out", str(out))) == 0
    assert json.loads(out.read_text())["resumed_from_epoch"] == 1
    capsys.readouterr()  # the progress bars so far
    # Really different settings are refused, naming the CLI's own option to start afresh, which works.
    assert main(cli("--lr", "0.5", "--checkpoint", str(ckpt), "--metrics-out", str(out))) == 1
    err = one_line_error(capsys)
    assert "different settings (lr)" in err and "--fresh on the command line" in err
    assert main(cli("--lr", "0.5", "--fresh", "--checkpoint", str(ckpt), "--metrics-out", str(out))) == 0
    assert json.loads(out.read_text())["resumed_from_epoch"] == 0 and load_checkpoint(ckpt)["config"]["lr"] == 0.5


# --- 12 and 13: unfinished checkpoints, Ctrl-C during a save ---------------------------------------------

def test_ctrl_c_during_a_save_names_the_epoch_the_checkpoint_holds(tmp_path, monkeypatch):
    ckpt = tmp_path / "run.pt"
    real_save = torch.save
    saves = []

    def save_then_ctrl_c(obj, f):
        saves.append(obj["epoch"])
        if obj["epoch"] == 2:
            f.write(b"half")
            raise KeyboardInterrupt
        real_save(obj, f)

    monkeypatch.setattr(checkpoint_module.torch, "save", save_then_ctrl_c)
    result = fit(build_model(config()), toy_data(), config(), checkpoint=ckpt, progress=False)
    monkeypatch.undo()
    assert saves == [1, 2] and result.status == "interrupted"
    assert "after 2 of 2 epochs" in result.message and "which holds epoch 1" in result.message
    assert load_checkpoint(ckpt)["epoch"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # load_model says the checkpoint is unfinished, and can refuse it.
    with pytest.warns(UnfinishedCheckpointWarning, match="unfinished: it holds epoch 1 of 2"):
        load_model(ckpt)
    with pytest.raises(ValueError, match="unfinished: it holds epoch 1 of 2"):
        load_model(ckpt, require_finished=True)


def test_finished_checkpoint_loads_without_warning_and_missing_config_is_explained(tmp_path):
    ckpt = tmp_path / "run.pt"
    fit(build_model(config(epochs=1)), toy_data(), config(epochs=1), checkpoint=ckpt, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(ckpt, require_finished=True)
    torch.save({"format": checkpoint_module.CHECKPOINT_FORMAT, "model": {}}, tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="has no training config, so the network cannot be rebuilt"):
        load_model(tmp_path / "bare.pt")


def test_ctrl_c_before_the_first_save_says_no_checkpoint_was_written(tmp_path, monkeypatch):
    def ctrl_c(obj, f):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module.torch, "save", ctrl_c)
    result = fit(build_model(config()), toy_data(), config(), checkpoint=tmp_path / "run.pt", progress=False)
    assert "after 1 of 2 epochs" in result.message and "no checkpoint was written" in result.message


# --- 14: permissions ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_umasks_permissions(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "m.json", b"{}")
        save_checkpoint(tmp_path / "run.pt", {"model": {}, "config": {}})
    finally:
        os.umask(old)
    for name in ("m.json", "run.pt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("{}")
    path.chmod(0o640)
    atomic_write_bytes(path, b"[]")
    assert path.stat().st_mode & 0o777 == 0o640 and path.read_text() == "[]"


# --- A fresh machine: a virtual environment, and .ci/run installs its own tools ----------------------------

def test_readme_setup_creates_and_activates_a_venv_before_installing():
    readme = (ROOT / "README.md").read_text()
    venv = readme.index("python3 -m venv .venv && . .venv/bin/activate")
    assert venv < readme.index("pip install -r requirements.txt")


def test_ci_installs_its_tools_and_uses_a_venv():
    script = (ROOT / ".ci" / "run").read_text()
    installed = " ".join(line for line in script.splitlines() if "apt-get install" in line).split()
    for package in ("python3-venv", "nodejs", "npm", "chromium", "chromium-driver", "dataset-fashion-mnist"):
        assert package in installed, package
    assert script.index("python3 -m venv .venv && . .venv/bin/activate") < script.index("pip install -q")
