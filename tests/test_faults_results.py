"""Fault injection (issue 25, rows 8-15, 17 and 18): publishing runs, resuming and loading checkpoints, evaluating,
seeds and signals. Each case is built in tmp_path with toy data, tiny networks or copies of the committed files; no
test writes into nin_book/results/, and a command that refuses must leave every file as it was."""

import functools
import json
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
from toys import listing, one_line, toy_data

import nin_book.results.__main__ as results_cli
import nin_book.train as train_module
from nin_book.checkpoint import (
    CorruptCheckpointError,
    InvalidCheckpointError,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from nin_book.counting import count_parameters
from nin_book.models import MAX_WIDTH, nin
from nin_book.presets import TrainConfig, build_model, get_preset
from nin_book.results import RESULTS_DIR, PublishRefused, committed_runs, publish_run, write_json
from nin_book.train import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, evaluate, fit, main

TINY = {"widths": (4, 8, 8), "first_block": (3, 1, 1), "batch_norm": True, "dropout": 0.0}
# What is committed beside the runs; copied (never written) by the tests of reserved names.
NOT_RUNS = ("experiments.json", "benchmark_cpu.json", "benchmark_cpu.txt", "input_sizes.json", "explorer_redraw.json",
            "explorer_network.json")


def config(**changes) -> TrainConfig:
    return TrainConfig(preset="test", model=TINY, epochs=2, batch_size=64, lr=0.05, device="cpu",
                       eval_batch_size=64).replace(**changes)


@pytest.fixture
def sigterm_guard():
    """A Python SIGTERM handler for the test's duration, so that a SIGTERM the code under test fails to handle is
    recorded here instead of killing pytest; yields the list of signals it caught."""
    caught = []

    def guard(signum, frame):
        caught.append(signum)

    previous = signal.signal(signal.SIGTERM, guard)
    try:
        yield guard, caught
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished smoke-shaped run on toy data: (metrics path, checkpoint path, data)."""
    folder = tmp_path_factory.mktemp("run")
    data = toy_data(96, 40)
    cfg = get_preset("smoke").replace(device="cpu", epochs=1, train_limit=None, test_limit=None, batch_size=32)
    checkpoint = folder / "run.pt"
    result = fit(build_model(cfg), data, cfg, checkpoint=checkpoint, progress=False)
    metrics = folder / "run.json"
    write_json(metrics, {**result.to_dict(), "command": "python -m nin_book.train --preset smoke"})
    return metrics, checkpoint, data


@pytest.fixture
def results(tmp_path, monkeypatch, finished):
    """A copy of the committed results folder's runs and other files; the publish CLI writes there, on toy data."""
    folder = tmp_path / "pkg" / "nin_book" / "results"
    folder.mkdir(parents=True)
    for name in (*NOT_RUNS, "cpu.json", "cpu.pt"):
        shutil.copy(RESULTS_DIR / name, folder / name)
    monkeypatch.setattr(results_cli, "publish_run", functools.partial(publish_run, folder=folder, data=finished[2]))
    return folder


def publish(capsys, *argv: str) -> tuple[int, str]:
    code = results_cli.main(["publish", *argv])
    return code, capsys.readouterr().err


# --- 8: a run's NAME is a safe file name -------------------------------------------------------------------

def test_publish_refuses_names_that_are_paths_or_unsafe(results, finished, capsys, tmp_path):
    metrics, checkpoint, _ = finished
    before = listing(tmp_path)
    for name in ("../../../x", "../x", str(tmp_path / "abs"), "a/b", "Cpu", ".hidden", "_x", "a.b", "a b", "x" * 65, ""):
        code, err = publish(capsys, name, "--metrics", str(metrics), "--checkpoint", str(checkpoint))
        assert code == 2, (name, err)
        assert "is not a run name" in one_line(err) and "lower-case letters" in err
    assert listing(tmp_path) == before  # nothing written, inside the folder or outside it
    with pytest.raises(PublishRefused, match="is not a run name"):
        publish_run("../x", metrics, checkpoint, folder=results)


# --- 9: reserved names; replacing a run needs --replace; a smoke run never takes a preset's name ------------

def test_publish_refuses_reserved_names_and_files_that_are_not_runs(results, finished, capsys):
    metrics, checkpoint, _ = finished
    (results / "notes.txt").write_text("a note, not a run\n")
    before = listing(results)
    for name in ("experiments", "benchmark_cpu", "benchmark_gpu", "input_sizes", "explorer_redraw", "explorer_network",
                 "notes"):
        code, err = publish(capsys, name, "--metrics", str(metrics), "--checkpoint", str(checkpoint))
        assert code == 2, (name, err)
        assert "not a run" in one_line(err) and "choose another NAME" in err
    assert listing(results) == before


def test_replacing_a_committed_run_needs_replace(results, finished, capsys):
    metrics, checkpoint, _ = finished
    args = ("--metrics", str(metrics), "--checkpoint", str(checkpoint))
    assert publish(capsys, "toy", *args)[0] == 0
    before = listing(results)
    code, err = publish(capsys, "toy", *args)
    assert code == 2 and "is a committed run already" in one_line(err) and "--replace" in err
    assert listing(results) == before
    assert publish(capsys, "toy", *args, "--replace")[0] == 0
    assert "toy" in committed_runs(results)


def test_a_smoke_or_other_presets_run_cannot_take_a_presets_name(results, finished, capsys, tmp_path):
    metrics, checkpoint, _ = finished
    before = listing(results)
    for replace in ((), ("--replace",)):
        code, err = publish(capsys, "cpu", "--metrics", str(metrics), "--checkpoint", str(checkpoint), *replace)
        assert code == 2 and "a smoke run" in one_line(err) and "even with --replace" in err
    # A cpu run limited to a few images, and a run of another preset, are refused under "cpu" too.
    for changes, message in (({"preset": "cpu", "train_limit": 512, "test_limit": None}, "(train_limit 512)"),
                             ({"preset": "cpu112", "train_limit": None, "test_limit": None}, "used preset 'cpu112'")):
        edited = json.loads(metrics.read_text())
        edited["config"].update(changes)
        write_json(tmp_path / "edited.json", edited)
        code, err = publish(capsys, "cpu", "--metrics", str(tmp_path / "edited.json"), "--checkpoint", str(checkpoint))
        assert code == 2 and message in one_line(err), err
    assert listing(results) == before
    assert load_checkpoint(results / "cpu.pt")["config"]["preset"] == "cpu"


# --- 10: --metrics that is not a training run's ---------------------------------------------------------------

def test_metrics_that_are_not_a_training_run_are_refused_in_one_line(results, finished, capsys, tmp_path):
    _, checkpoint, _ = finished
    lacking = json.loads(finished[0].read_text())
    del lacking["final_test_accuracy"]
    cases = {"list.json": "[1, 2, 3]\n", "experiments.json": (RESULTS_DIR / "experiments.json").read_text(),
             "lacking.json": json.dumps(lacking), "text.json": "not json at all\n"}
    before = listing(results)
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        code, err = publish(capsys, "toy", "--metrics", str(tmp_path / name), "--checkpoint", str(checkpoint))
        assert code == 2, (name, err)
        assert "not a training-metrics file" in one_line(err) and "--metrics" in err
    assert listing(results) == before


# --- 11: published weights cannot be resumed -------------------------------------------------------------------

def test_resuming_from_published_weights_is_a_one_line_error_suggesting_fresh(tmp_path, capsys, toy_cli):
    copy = tmp_path / "cpu.pt"
    shutil.copy(RESULTS_DIR / "cpu.pt", copy)
    out = tmp_path / "m.json"
    assert main(["--preset", "cpu", "--checkpoint", str(copy), "--metrics-out", str(out)]) == 1
    err = one_line(capsys.readouterr().err)
    assert "published weights" in err and "cannot be resumed" in err and "--fresh" in err
    assert copy.read_bytes() == (RESULTS_DIR / "cpu.pt").read_bytes() and not out.exists()


def test_training_never_writes_into_the_committed_results(tmp_path, capsys, toy_cli, monkeypatch):
    def must_not_train(*args, **kwargs):
        raise AssertionError("trained, with an output inside nin_book/results/")

    before = listing(RESULTS_DIR)
    monkeypatch.setattr(train_module, "fit", must_not_train)
    for argv in (["--checkpoint", str(RESULTS_DIR / "cpu.pt"), "--fresh", "--metrics-out", str(tmp_path / "m.json")],
                 ["--metrics-out", str(RESULTS_DIR / "cpu.json")]):
        with pytest.raises(SystemExit) as exit_info:
            main(["--preset", "smoke", *argv])
        assert exit_info.value.code == 2
        assert "holds the book's committed runs" in one_line(capsys.readouterr().err)
    monkeypatch.undo()
    monkeypatch.setattr(train_module, "lock_output", must_not_train)
    with pytest.raises(ValueError, match="holds the book's committed runs"):
        fit(build_model(config()), toy_data(), config(), checkpoint=RESULTS_DIR / "toy.pt", progress=False)
    assert listing(RESULTS_DIR) == before and not toy_cli


# --- 12: a device that is unknown or missing is not a corrupt checkpoint ----------------------------------------

def test_an_unknown_or_missing_device_is_named_and_never_called_corruption(tmp_path, monkeypatch):
    copy = tmp_path / "cpu.pt"
    shutil.copy(RESULTS_DIR / "cpu.pt", copy)
    for device in ("gpu", "tpu:0"):
        with pytest.raises(ValueError, match="unknown device") as info:
            load_model(copy, device=device)
        assert not isinstance(info.value, CorruptCheckpointError) and "delete" not in str(info.value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for call in (lambda: load_model(copy, device="cuda"), lambda: load_checkpoint(copy, map_location="cuda:0")):
        with pytest.raises(ValueError, match="device not available: cuda.*use device='cpu'") as info:
            call()
        assert not isinstance(info.value, CorruptCheckpointError) and "delete" not in str(info.value)
    monkeypatch.undo()
    model, cfg = load_model(copy, device="cpu")  # the checkpoint itself was fine all along
    assert cfg.preset == "cpu" and not model.training
    # Real corruption keeps its advice.
    copy.write_bytes(copy.read_bytes()[:1000])
    with pytest.raises(CorruptCheckpointError, match="corrupt.*delete it"):
        load_model(copy)


# --- 13: evaluate checks the labels' shape ----------------------------------------------------------------------

def test_evaluate_refuses_labels_of_another_shape_or_length():
    data = toy_data(32, 64)
    model = build_model(config())
    x, y = data.test_images, data.test_labels
    for labels in (y.unsqueeze(1), y[:1], y[:-1], torch.cat([y, y]), y.reshape(8, 8)):
        with pytest.raises(ValueError, match=rf"labels of shape \({labels.shape[0]}, ?.*images of shape \(64, 28, 28\)"):
            evaluate(model, x, labels)
    assert 0.0 <= evaluate(model, x, y) <= 1.0


# --- 14: the seed is checked by the argument parser -------------------------------------------------------------

def test_a_seed_out_of_range_is_refused_up_front_naming_seed(tmp_path, capsys, toy_cli):
    for seed in (str(10**20), str(2**63 - 1), str(2**32), "-1"):
        with pytest.raises(SystemExit) as exit_info:
            main(["--preset", "smoke", "--seed", seed, "--metrics-out", str(tmp_path / "m.json")])
        assert exit_info.value.code == 2
        err = one_line(capsys.readouterr().err)
        assert "argument --seed: must be from 0 to 4294967295" in err, err
    assert not toy_cli and not (tmp_path / "m.json").exists()
    with pytest.raises(ValueError, match="seed must be a whole number from 0 to 4294967295"):
        config(seed=2**63 - 1)
    assert main(["--preset", "smoke", "--epochs", "1", "--seed", str(2**32 - 1), "--metrics-out",
                 str(tmp_path / "m.json")]) == 0


# --- 15: SIGTERM is handled like Ctrl-C, and the previous handler comes back ------------------------------------

def test_sigterm_stops_fit_like_ctrl_c_and_restores_the_previous_handler(tmp_path, sigterm_guard):
    guard, caught = sigterm_guard
    ckpt = tmp_path / "run.pt"

    def sigterm_after_epoch_1(record):
        if record.epoch == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    result = fit(build_model(config(epochs=3)), toy_data(), config(epochs=3), checkpoint=ckpt, progress=False,
                 on_epoch_end=sigterm_after_epoch_1)
    assert not caught, "SIGTERM reached the previous handler while fit ran"
    assert result.status == "interrupted" and result.stopped_by == "SIGTERM" and len(result.history) == 1
    assert "stopped by SIGTERM after 1 of 3 epochs" in result.message and "which holds epoch 1" in result.message
    assert load_checkpoint(ckpt)["epoch"] == 1
    assert signal.getsignal(signal.SIGTERM) is guard  # restored once fit returned


def test_sigterm_mid_epoch_makes_the_cli_keep_the_finished_epoch_and_exit_143(tmp_path, capsys, toy_cli, monkeypatch,
                                                                             sigterm_guard):
    guard, caught = sigterm_guard
    real_epoch = train_module._train_epoch

    def sigterm_in_epoch_2(*args, **kwargs):
        if args[7] == 1:  # the 0-based epoch: SIGTERM arrives once epoch 2 has begun
            os.kill(os.getpid(), signal.SIGTERM)
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_module, "_train_epoch", sigterm_in_epoch_2)
    out, ckpt = tmp_path / "m.json", tmp_path / "run.pt"
    assert main(["--preset", "smoke", "--epochs", "3", "--checkpoint", str(ckpt), "--metrics-out", str(out)]) == 143
    assert EXIT_TERMINATED == 143 and EXIT_INTERRUPTED == 130
    assert not caught and signal.getsignal(signal.SIGTERM) is guard
    err = capsys.readouterr().err  # the progress bars, then one line
    assert "Traceback" not in err and "stopped by SIGTERM after 1 of 3 epochs" in err.splitlines()[-1]
    assert "holds epoch 1" in err.splitlines()[-1]
    metrics = json.loads(out.read_text())
    assert metrics["status"] == "interrupted" and metrics["stopped_by"] == "SIGTERM"
    assert [r["epoch"] for r in metrics["history"]] == [1]
    assert load_checkpoint(ckpt)["epoch"] == 1


# --- 17: checkpoints that do not describe a network are invalid, in one line; widths are bounded ----------------

def test_invalid_checkpoints_are_one_line_errors_and_huge_widths_allocate_nothing(tmp_path):
    good = config().to_dict()
    weights = build_model(config()).state_dict()
    other = build_model(config(model={**TINY, "widths": (4, 8, 16)})).state_dict()
    cases = {
        "mismatched": ({"config": good, "epoch": 2, "model": other}, "do not fit the network its config describes"),
        "keyword": ({"config": {**good, "model": {**TINY, "colour": 3}}, "epoch": 2, "model": weights},
                    "unexpected keyword argument 'colour'"),
        "epoch": ({"config": good, "epoch": "8", "model": weights}, "its epoch is '8'"),
        "huge": ({"config": {**good, "model": {**TINY, "widths": [1, 1, 10**6]}}, "epoch": 2, "model": {}},
                 f"widths must be at most {MAX_WIDTH:,}"),
        "not_weights": ({"config": good, "epoch": 2, "model": [1, 2]}, "its weights are a list"),
    }
    for name, (state, reason) in cases.items():
        save_checkpoint(tmp_path / f"{name}.pt", state)
        with pytest.raises(InvalidCheckpointError) as info:
            load_model(tmp_path / f"{name}.pt")
        message = str(info.value)
        assert "not a valid nin_book checkpoint" in message and reason in message, (name, message)
        assert "\n" not in message and len(message) < 600 and "delete" not in message, (name, message)
    # nin() refuses real weights that large before allocating; on the meta device (the explorers) it still counts them.
    with pytest.raises(ValueError, match=f"widths must be at most {MAX_WIDTH:,}"):
        nin(widths=(1, 1, 10**6))
    with pytest.raises(ValueError, match="weights, more than"):
        nin(first_block=(10_000, 1, 0))
    with torch.device("meta"):
        assert count_parameters(nin(widths=(1, 1, 10**6))) > 10**12


# --- 18: Ctrl-C (or SIGTERM) while the data loads ---------------------------------------------------------------

@pytest.mark.parametrize("stop, code", [(KeyboardInterrupt, 130), (Terminated, 143)])
def test_stopping_while_the_data_loads_exits_in_one_line_writing_nothing(stop, code, tmp_path, capsys, monkeypatch):
    def load():
        raise stop()

    monkeypatch.setattr(train_module, "load_fashion_mnist", load)
    out, ckpt = tmp_path / "m.json", tmp_path / "run.pt"
    try:
        status = main(["--preset", "smoke", "--checkpoint", str(ckpt), "--metrics-out", str(out)])
    except KeyboardInterrupt:
        pytest.fail("the interrupt escaped main (a traceback, exit status 1)")
    assert status == code
    err = one_line(capsys.readouterr().err)
    assert "while loading the data" in err and "nothing was written" in err
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []  # no metrics, no checkpoint


def test_the_torch_floor_has_the_checkpoint_loader_fixes() -> None:
    """Issue 25 row 19: the checkpoint loader's only boundary is torch.load(weights_only=True), which torch < 2.6
    lets a crafted file bypass (CVE-2025-32434), with a further advisory fixed in 2.10: the package may not admit them."""
    import tomllib
    from packaging.requirements import Requirement
    from packaging.version import Version

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    requirements = {r.name: r for r in map(Requirement, pyproject["project"]["dependencies"])}
    torch_spec = requirements["torch"].specifier
    assert not any(torch_spec.contains(Version(v)) for v in ("2.2.0", "2.5.1", "2.6.0", "2.9.1")), torch_spec
    assert torch_spec.contains(Version(torch.__version__.split("+")[0])), "the floor admits the torch this suite runs"
