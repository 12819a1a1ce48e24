"""Issue 25's rules, beyond its rows, for every command and writer: a recorded command line pastes back into a shell;
environment switches take the usual spellings and name themselves; a lock covers every name of its file; a name that
is too long or a folder that cannot be written is named before any work; a command that refuses changes nothing."""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from filelock import FileLock
from toys import listing, load_script, one_line, toy_data

import nin_book.data as data
import nin_book.experiments.__main__ as experiments_cli
import nin_book.results.__main__ as results_cli
import nin_book.train as train_module
from nin_book.checkpoint import OutputInUseError, atomic_write_bytes, lock_output
from nin_book.env import env_flag
from nin_book.presets import PRESET_NAMES, default_preset, get_preset
from nin_book.results import RESULTS_DIR, publish_run, write_json
from nin_book.train import fit, main

ROOT = Path(__file__).resolve().parent.parent
LONG = "n" * 300  # longer than any common file system's 255-byte limit on one name


# --- a recorded command line can be pasted back into a shell -----------------------------------------------------

def test_the_training_cli_records_a_command_line_that_pastes_back(tmp_path, toy_cli, capsys):
    folder = tmp_path / "my runs"
    argv = ["--preset", "smoke", "--epochs", "1", "--metrics-out", str(folder / "it's a run.json")]
    assert main(argv) == 0
    command = json.loads((folder / "it's a run.json").read_text())["command"]
    assert command.startswith("python -m nin_book.train ")
    assert shlex.split(command) == ["python", "-m", "nin_book.train", *argv]


def test_the_input_size_benchmark_records_its_own_command_line(tmp_path, monkeypatch, capsys):
    bench = load_script(ROOT / "benchmarks" / "input_size.py", "input_size_bench")
    monkeypatch.setattr(bench, "load_fashion_mnist", lambda: None)
    monkeypatch.setattr(bench, "measure", lambda size, batches, data: {
        "size": size, "images_per_second": 10.0, "class_map_side": 1, "flops_per_image": 1e9, "epoch_minutes": 1.0})
    out = tmp_path / "a folder" / "sizes 'x'.json"
    argv = ["--batches", "1", "--out", str(out)]
    assert bench.main(argv) == 0
    command = json.loads(out.read_text())["command"]
    assert command.startswith("python benchmarks/input_size.py")
    assert shlex.split(command) == ["python", "benchmarks/input_size.py", *argv]


def test_no_command_or_writer_records_a_command_line_by_joining_with_spaces():
    sources = [*sorted((ROOT / "nin_book").rglob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py"))]
    joined = [f"{path.relative_to(ROOT)}:{n}" for path in sources
              for n, line in enumerate(path.read_text().splitlines(), 1)
              if "command" in line and re.search(r"""["']\s["']\.join\(""", line)]
    assert not joined, f"command lines built with ' '.join (use shlex.join): {joined}"


# --- environment switches accept the usual spellings and name themselves -------------------------------------------

def test_env_flag_reads_the_usual_spellings_and_no_others(monkeypatch):
    spellings = {"1": True, "true": True, " TRUE ": True, "Yes": True, "on": True, "ON\n": True,
                 "0": False, "false": False, "No": False, "off": False, " OFF ": False, "": False, "  ": False}
    for value, expected in spellings.items():
        monkeypatch.setenv("NIN_BOOK_OFFLINE", value)
        assert env_flag("NIN_BOOK_OFFLINE") is expected, value
    monkeypatch.delenv("NIN_BOOK_OFFLINE")
    assert env_flag("NIN_BOOK_OFFLINE") is False and env_flag("NIN_BOOK_OFFLINE", default=True) is True
    monkeypatch.setenv("NIN_BOOK_OFFLINE", "enabled")
    with pytest.raises(ValueError, match="NIN_BOOK_OFFLINE='enabled'"):
        env_flag("NIN_BOOK_OFFLINE")


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """No local data; the download is recorded, not made. Yields the list of download calls."""
    import torchvision.datasets

    calls = []

    def fake_download(*args, **kwargs):
        calls.append(kwargs)
        raise OSError("no network in the test")

    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "nowhere")
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", fake_download)
    return calls


def test_the_offline_switch_reads_true_and_false_in_their_usual_spellings(monkeypatch, tmp_path, no_data):
    for value in ("On", " TRUE ", "yes"):
        monkeypatch.setenv(data.OFFLINE_ENV_VAR, value)
        with pytest.raises(data.DataNotFoundError, match="because NIN_BOOK_OFFLINE is set"):
            data.find_fashion_mnist(download_root=tmp_path / "cache")
        assert not no_data, value
    for value in ("off", " OFF ", "No", "false", "0"):
        monkeypatch.setenv(data.OFFLINE_ENV_VAR, value)
        with pytest.raises(data.DataNotFoundError, match="torchvision download"):
            data.find_fashion_mnist(download_root=tmp_path / "cache")
        assert no_data, f"NIN_BOOK_OFFLINE={value!r} means false, yet the download was not tried"
        no_data.clear()


def test_an_unreadable_offline_switch_is_an_error_naming_it_and_the_spellings(monkeypatch, tmp_path, no_data, capsys):
    monkeypatch.setenv(data.OFFLINE_ENV_VAR, "maybe")
    with pytest.raises(ValueError, match="NIN_BOOK_OFFLINE='maybe'") as info:
        data.find_fashion_mnist(download_root=tmp_path / "cache")
    assert all(word in str(info.value) for word in ("1", "true", "yes", "on", "0", "false", "no", "off"))
    assert not no_data and not (tmp_path / "cache").exists()
    # the training CLI reports it in one line, before writing anything
    before = listing(tmp_path)
    assert main(["--preset", "smoke", "--metrics-out", str(tmp_path / "out" / "m.json")]) == 1
    assert "NIN_BOOK_OFFLINE" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "out" / "m.json").exists()
    assert {k for k in listing(tmp_path) if not k.startswith("out")} == set(before)


def test_environment_switches_name_themselves_in_their_errors(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("NIN_BOOK_PRESET", "fastest")
    with pytest.raises(ValueError, match="NIN_BOOK_PRESET") as info:
        default_preset("cpu")
    assert all(name in str(info.value) for name in PRESET_NAMES)
    before = listing(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["--metrics-out", str(tmp_path / "new" / "m.json")])
    assert exit_info.value.code == 2
    err = one_line(capsys.readouterr().err)
    assert "NIN_BOOK_PRESET" in err and all(name in err for name in PRESET_NAMES)
    assert listing(tmp_path) == before  # refused: nothing on disk changed
    monkeypatch.delenv("NIN_BOOK_PRESET")
    monkeypatch.setenv("NIN_BOOK_DATA", str(tmp_path / "no data here"))
    with pytest.raises(data.DataNotFoundError, match="NIN_BOOK_DATA"):
        data.find_fashion_mnist(download=False)


# --- a lock protects a file under every name it has ------------------------------------------------------------------

def test_a_lock_covers_a_file_through_a_symlink_and_a_relative_path(tmp_path, monkeypatch):
    real = tmp_path / "runs" / "real.pt"
    real.parent.mkdir()
    real.write_bytes(b"weights")
    link = tmp_path / "link.pt"
    link.symlink_to(real)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    other_holder = FileLock(str(real.parent / ".real.pt.lock"))  # another open file: as another process's lock
    other_holder.acquire()
    try:
        for name in (real, link, Path("../link.pt"), Path("../runs/../runs/real.pt")):
            with pytest.raises(OutputInUseError), lock_output(name, "--checkpoint"):
                pass
    finally:
        other_holder.release()
    with lock_output(link, "--checkpoint"):  # and one process's nested locks under two names are one lock
        with lock_output(Path("../runs/real.pt")):
            pass
    assert not (tmp_path / ".link.pt.lock").exists()


def test_an_atomic_write_through_a_symlink_writes_the_file_it_names(tmp_path):
    real = tmp_path / "real.json"
    real.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


# --- a name too long or a folder that cannot be written is named, before any work; nothing changes -------------------

def test_the_training_cli_names_a_name_too_long_before_training_and_creates_nothing(tmp_path, monkeypatch, capsys):
    def must_not_train(*args, **kwargs):
        raise AssertionError("trained although an output cannot be written")

    monkeypatch.setattr(train_module, "load_fashion_mnist", must_not_train)
    before = listing(tmp_path)
    for argv in (["--checkpoint", str(tmp_path / "new" / "c.pt"), "--metrics-out", str(tmp_path / "new" / f"{LONG}.json")],
                 ["--metrics-out", str(tmp_path / LONG / "m.json")],
                 ["--checkpoint", str(tmp_path / f"{LONG}.pt"), "--metrics-out", str(tmp_path / "m.json")]):
        with pytest.raises(SystemExit) as exit_info:
            main(["--preset", "smoke", *argv])
        assert exit_info.value.code == 2
        err = one_line(capsys.readouterr().err)
        assert "too long" in err and "writable" not in err, err
        assert listing(tmp_path) == before, argv  # not even the new folder


def test_a_name_just_under_the_limit_is_too_long_with_the_temporary_files_suffix(tmp_path, capsys):
    name = "m" * 250 + ".json"  # 255 bytes: allowed, but the atomic writer's ".<name>.XXXXXXXX.tmp" is not
    before = listing(tmp_path)
    with pytest.raises(SystemExit):
        main(["--preset", "smoke", "--metrics-out", str(tmp_path / name)])
    err = one_line(capsys.readouterr().err)
    assert "too long" in err and "temporary file" in err and "writable" not in err
    assert listing(tmp_path) == before


def test_the_experiments_cli_names_a_name_too_long_and_writes_nothing(tmp_path, capsys):
    before = listing(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        experiments_cli.main(["--smoke", "--only", "baseline", "--seeds", "1", "--no-progress",
                              "--out", str(tmp_path / "new" / f"{LONG}.json")], data=toy_data())
    assert exit_info.value.code == 2
    err = one_line(capsys.readouterr().err)
    assert "--out" in err and "too long" in err and "writable" not in err
    assert listing(tmp_path) == before


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    toys = toy_data(96, 40)
    cfg = get_preset("smoke").replace(device="cpu", epochs=1, train_limit=None, test_limit=None, batch_size=32)
    result = fit(train_module.build_model(cfg), toys, cfg, checkpoint=folder / "run.pt", progress=False)
    write_json(folder / "run.json", {**result.to_dict(), "command": "python -m nin_book.train --preset smoke"})
    return folder / "run.json", folder / "run.pt", toys


def _unwritable(monkeypatch, folder: Path) -> None:
    """``folder`` refuses new files, as a read-only install does (root ignores file modes, so mkstemp is told)."""
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == folder.resolve():
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


def test_publishing_into_a_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path, monkeypatch, capsys,
                                                                                      finished):
    metrics, checkpoint, toys = finished
    folder = tmp_path / "pkg" / "results"
    folder.mkdir(parents=True)
    shutil.copy(RESULTS_DIR / "cpu.json", folder / "cpu.json")
    monkeypatch.setattr(results_cli, "publish_run", functools.partial(publish_run, folder=folder, data=toys))
    _unwritable(monkeypatch, folder)
    before = listing(tmp_path)
    code = results_cli.main(["publish", "mine", "--metrics", str(metrics), "--checkpoint", str(checkpoint)])
    err = one_line(capsys.readouterr().err)
    assert code == 2 and "cannot be written" in err and str(folder) in err, err
    assert listing(tmp_path) == before


def test_the_training_and_experiments_clis_name_a_folder_that_cannot_be_written(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "locked"
    folder.mkdir()
    _unwritable(monkeypatch, folder)
    before = listing(tmp_path)
    with pytest.raises(SystemExit):
        main(["--preset", "smoke", "--metrics-out", str(folder / "sub" / "m.json")])
    err = one_line(capsys.readouterr().err)
    assert "--metrics-out" in err and "cannot be written" in err and str(folder) in err, err
    with pytest.raises(SystemExit):
        experiments_cli.main(["--smoke", "--only", "baseline", "--out", str(folder / "e.json")], data=toy_data())
    assert "cannot be written" in one_line(capsys.readouterr().err)
    assert listing(tmp_path) == before  # the missing "sub" folder was not created either


@pytest.mark.skipif(os.geteuid() == 0 or sys.platform == "win32", reason="root writes into read-only folders")
def test_a_read_only_folder_is_named_for_real(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(SystemExit):
            main(["--preset", "smoke", "--metrics-out", str(folder / "m.json")])
        assert "cannot be written" in one_line(capsys.readouterr().err)
        assert not any(folder.iterdir())
    finally:
        folder.chmod(0o700)
