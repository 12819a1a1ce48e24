"""Fault injection for ``python -m nin_book.experiments`` (issue 25, rows 1-7): Ctrl-C, the committed results file,
and bad ``--out``, ``--seeds`` and ``--only``. Training is replaced by stand-ins that answer at once; the committed
``nin_book/results/experiments.json`` is never written (tests that need a committed file use a copy in tmp_path)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from toys import toy_data

import nin_book.experiments.__main__ as cli
import nin_book.experiments.run as run_module
import nin_book.train as train_module
from nin_book.experiments import MAX_SEEDS, VARIANTS, ExperimentsInterrupted, run_experiments, select_variants
from nin_book.experiments.variants import variant_seeds
from nin_book.results import RESULTS_DIR, load_experiments
from nin_book.train import EpochRecord, TrainResult, train_preset

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = RESULTS_DIR / "experiments.json"


def _tree(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` with a digest of its contents (or its kind): what a refusal must not change."""
    tree = {}
    for path in sorted(folder.rglob("*")):
        mode = path.lstat().st_mode
        tree[str(path.relative_to(folder))] = (hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(mode)
                                               else stat.filemode(mode))
    return tree


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """The command's default paths moved into tmp_path, with a stand-in committed file; loading the real data fails."""
    committed = tmp_path / "results" / "experiments.json"
    committed.parent.mkdir()
    committed.write_text(json.dumps({"stand-in": "the committed full set"}) + "\n")
    monkeypatch.setattr(cli, "DEFAULT_OUT", committed)
    monkeypatch.setattr(cli, "WORK_OUT", tmp_path / "cache" / "experiments.partial.json")
    monkeypatch.setattr(cli, "PARTIAL_OUT", tmp_path / "partial.json")

    def no_real_data():
        raise AssertionError("the test would load the real Fashion-MNIST")

    monkeypatch.setattr(cli, "load_fashion_mnist", no_real_data)
    return tmp_path


@pytest.fixture
def fake_runs(monkeypatch):
    """``run_one`` answers at once with a finished record; ``calls`` lists (variant, seed); set ``interrupt_at``
    to raise KeyboardInterrupt (Ctrl-C) on that call."""

    class Fake:
        calls: list[tuple[str, int]] = []
        interrupt_at: int | None = None

        def __call__(self, variant, seed, data, *, smoke=False, progress=True):
            if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
                self.interrupt_at = None
                raise KeyboardInterrupt
            self.calls.append((variant.name, seed))
            return {"variant": variant.name, "seed": seed, "status": "completed", "message": "", "epochs": 2,
                    "final_test_accuracy": 0.8 + seed / 100, "final_train_accuracy": 0.85, "parameters": 1000,
                    "train_seconds": 0.01, "wall_seconds": 0.01, "history": []}

    fake = Fake()
    fake.calls = []
    monkeypatch.setattr(run_module, "run_one", fake)
    return fake


@pytest.fixture
def no_training(monkeypatch):
    """Refusals happen before any run: starting the experiments fails the test (and writes nothing)."""

    def refuse(*args, **kwargs):
        raise AssertionError("the experiments started instead of being refused")

    monkeypatch.setattr(cli, "run_experiments", refuse)


def _one_line_error(capsys, *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


def _run(argv: list[str]) -> int | str:
    """The command's exit status; a KeyboardInterrupt escaping it (the bug) fails the test instead of pytest."""
    try:
        return cli.main(argv, data=toy_data())
    except KeyboardInterrupt:
        return "KeyboardInterrupt escaped"


def _refused(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv, data=toy_data())
    return exit_info.value.code


# Row 1: Ctrl-C stops the set, exit 130, complete: false, and an interrupted run is never stored or averaged.

def _epoch(accuracy: float) -> EpochRecord:
    return EpochRecord(epoch=1, images=64, train_loss=2.0, train_accuracy=0.5, test_accuracy=accuracy,
                       images_per_second=1.0, epoch_seconds=1.0, wall_seconds=1.0, lr=0.1)


def test_ctrl_c_inside_fit_stops_exit_130_and_the_cut_run_is_never_summarised(sandbox, monkeypatch, capsys):
    """fit() answers Ctrl-C with status "interrupted" instead of raising: the runner must look at the status."""
    seeds_trained = []
    interrupt = [True]

    def fake_fit(model, data, config, **kwargs):
        seeds_trained.append(config.seed)
        if config.seed == 1 and interrupt[0]:
            return TrainResult(config=config, device="cpu", device_name="cpu", history=[_epoch(0.1)],
                               status="interrupted", message="interrupted after 1 of 2 epochs")
        return TrainResult(config=config, device="cpu", device_name="cpu", history=[_epoch(0.9), _epoch(0.9)])

    monkeypatch.setattr(run_module, "fit", fake_fit)
    out = sandbox / "x.json"
    argv = ["--smoke", "--only", "baseline", "--seeds", "3", "--no-progress", "--out", str(out)]
    assert _run(argv) == 130
    assert seeds_trained == [0, 1]  # stopped: seed 2 never started
    assert "interrupted" in capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["complete"] is False
    entry = report["variants"]["baseline"]
    assert [r["seed"] for r in entry["runs"]] == [0]
    assert all(r["status"] == "completed" for r in entry["runs"])
    assert entry["summary"]["seeds"] == 1 and entry["summary"]["final_test_accuracy"]["mean"] == pytest.approx(0.9)

    interrupt[0] = False  # the same command again resumes: only seeds 1 and 2 train
    assert _run(argv) == 0
    assert seeds_trained == [0, 1, 1, 2]
    report = json.loads(out.read_text())
    assert report["complete"] is True and [r["seed"] for r in report["variants"]["baseline"]["runs"]] == [0, 1, 2]


def test_ctrl_c_between_measurements_stops_exit_130(sandbox, fake_runs, capsys):
    out = sandbox / "x.json"
    fake_runs.interrupt_at = 1
    assert _run(["--smoke", "--only", "baseline", "--seeds", "2", "--no-progress", "--out", str(out)]) == 130
    assert "interrupted" in capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["complete"] is False and len(report["variants"]["baseline"]["runs"]) == 1
    with pytest.raises(ValueError, match="not a finished full run"):
        load_experiments(out)


def test_run_experiments_raises_keyboard_interrupt_with_the_finished_runs(fake_runs, tmp_path):
    fake_runs.interrupt_at = 2
    try:
        run_experiments(select_variants(["baseline"]), toy_data(), seeds=3, smoke=True, out=tmp_path / "r.json",
                        progress=False)
    except KeyboardInterrupt as err:  # caught broadly, so that a bare KeyboardInterrupt fails this test, not pytest
        raised = err
    else:
        raise AssertionError("Ctrl-C did not stop run_experiments")
    assert isinstance(raised, ExperimentsInterrupted)  # a KeyboardInterrupt that carries the finished runs
    assert raised.report["complete"] is False
    assert json.loads((tmp_path / "r.json").read_text())["variants"]["baseline"]["summary"]["seeds"] == 2


def test_a_real_sigint_between_runs_exits_130_with_the_finished_runs(tmp_path):
    """The signal itself, in a child process: the first run finishes at once, the second waits to be interrupted."""
    out = tmp_path / "x.json"
    script = textwrap.dedent(f"""
        import signal, sys, time
        # A shell that starts a background job ignores SIGINT in it, and Python keeps that: act as a terminal would.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from toys import toy_data
        import nin_book.experiments.__main__ as cli
        import nin_book.experiments.run as run_module

        def run_one(variant, seed, data, **kwargs):
            if seed:
                print("waiting", flush=True)
                time.sleep(60)
            return {{"variant": variant.name, "seed": seed, "status": "completed", "final_test_accuracy": 0.8}}

        run_module.run_one = run_one
        sys.exit(cli.main(["--smoke", "--only", "baseline", "--seeds", "2", "--no-progress", "--out", {str(out)!r}],
                          data=toy_data()))
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=tmp_path)
    try:
        assert child.stdout.readline().strip() == "waiting"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    report = json.loads(out.read_text())
    assert report["complete"] is False and [r["seed"] for r in report["variants"]["baseline"]["runs"]] == [0]


# Row 2: the default --out (the committed file) is replaced only by a finished full set; a rerun resumes.

def test_default_out_is_replaced_only_when_the_full_set_finishes_and_a_rerun_resumes(sandbox, fake_runs, capsys):
    committed_before = cli.DEFAULT_OUT.read_bytes()
    fake_runs.interrupt_at = 4
    assert _run(["--seeds", "3", "--no-progress"]) == 130
    assert cli.DEFAULT_OUT.read_bytes() == committed_before  # the committed set is untouched while it runs
    work = json.loads(cli.WORK_OUT.read_text())
    assert work["complete"] is False and sum(len(e["runs"]) for e in work["variants"].values()) == 4
    assert str(cli.WORK_OUT) in capsys.readouterr().err

    assert _run(["--seeds", "3", "--no-progress"]) == 0
    total = sum(len(variant_seeds(v, 3)) for v in VARIANTS.values())  # a capped variant runs fewer seeds
    assert len(fake_runs.calls) == total and len(set(fake_runs.calls)) == total  # resumed: nothing trained twice
    report = load_experiments(cli.DEFAULT_OUT)  # a finished full set, as chapter 7 requires
    assert report["resumed"]["runs"] == 4
    assert all(len(e["runs"]) == e["summary"]["seeds"] == len(variant_seeds(VARIANTS[name], 3))
               for name, e in report["variants"].items())
    assert not cli.WORK_OUT.exists()
    assert "resumed: 4 finished runs kept" in capsys.readouterr().out


def test_a_partial_file_from_other_settings_is_not_resumed(sandbox, fake_runs):
    out = sandbox / "x.json"
    fake_runs.interrupt_at = 1
    assert _run(["--smoke", "--only", "baseline", "--seeds", "2", "--no-progress", "--out", str(out)]) == 130
    assert _run(["--smoke", "--only", "baseline,mlp0", "--seeds", "2", "--no-progress", "--out", str(out)]) == 0
    assert fake_runs.calls == [("baseline", 0), ("baseline", 0), ("baseline", 1), ("mlp0", 0), ("mlp0", 1)]
    assert "resumed" not in json.loads(out.read_text())


def test_extend_keeps_a_finished_sets_runs_and_trains_only_what_it_lacks(sandbox, fake_runs, capsys):
    out = sandbox / "x.json"
    assert _run(["--smoke", "--only", "baseline", "--seeds", "1", "--no-progress", "--out", str(out)]) == 0
    # Without --extend a finished file is not resumed: the command starts over.
    assert _run(["--smoke", "--only", "baseline", "--seeds", "2", "--no-progress", "--out", str(out)]) == 0
    assert fake_runs.calls == [("baseline", 0), ("baseline", 0), ("baseline", 1)]
    capsys.readouterr()
    fake_runs.calls.clear()
    # --extend: more seeds and another variant; only the runs the finished file lacks are trained.
    assert _run(["--smoke", "--only", "baseline,mlp0", "--seeds", "3", "--no-progress", "--out", str(out),
                 "--extend"]) == 0
    assert fake_runs.calls == [("baseline", 2), ("mlp0", 0), ("mlp0", 1), ("mlp0", 2)]
    report = json.loads(out.read_text())
    assert report["complete"] and report["resumed"]["runs"] == 2
    assert [r["seed"] for r in report["variants"]["baseline"]["runs"]] == [0, 1, 2]
    assert all(r["machine"]["cpu_model"] for r in report["variants"]["baseline"]["runs"][:2])  # where they ran
    assert "resumed: 2 finished runs kept" in capsys.readouterr().out


# Row 3: smoke or partial results never replace the committed file, even when --out names it.

def test_smoke_run_aimed_at_the_real_committed_file_is_refused_and_changes_nothing(no_training, monkeypatch, capsys):
    before = (COMMITTED.read_bytes(), COMMITTED.stat().st_mtime_ns)
    results_before = _tree(RESULTS_DIR)
    monkeypatch.chdir(ROOT)
    for out in (str(COMMITTED), "nin_book/results/experiments.json", "nin_book/results/../results/experiments.json"):
        assert _refused(["--smoke", "--only", "baseline", "--seeds", "1", "--no-progress", "--out", out]) == 2
        _one_line_error(capsys, "--out", "committed", "full run")
    assert (COMMITTED.read_bytes(), COMMITTED.stat().st_mtime_ns) == before
    assert _tree(RESULTS_DIR) == results_before


@pytest.mark.parametrize("flags", [["--smoke"], ["--only", "baseline"], ["--seeds", "2"], ["--only", "stall"]])
def test_partial_runs_aimed_at_the_committed_file_are_refused(sandbox, no_training, capsys, flags):
    before = _tree(sandbox)
    assert _refused([*flags, "--out", str(cli.DEFAULT_OUT)]) == 2
    _one_line_error(capsys, "--out", "only a full run")
    assert _tree(sandbox) == before


@pytest.mark.parametrize("name, flags", [("cpu.json", ["--smoke", "--only", "baseline", "--seeds", "1"]),
                                         ("mine.json", ["--seeds", "3"])])
def test_other_names_in_the_committed_results_folder_are_refused(no_training, capsys, name, flags):
    results_before = _tree(RESULTS_DIR)
    assert _refused([*flags, "--out", str(RESULTS_DIR / name)]) == 2
    _one_line_error(capsys, "--out", "committed results")
    assert _tree(RESULTS_DIR) == results_before


# Row 4: --out naming a device node or another non-regular file is refused before training; so is a checkpoint.

def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_out_a_fifo_or_device_node_is_refused_before_training(sandbox, no_training, capsys):
    targets = [_fifo(sandbox)] + ([Path("/dev/null")] if os.geteuid() == 0 and Path("/dev/null").is_char_device() else [])
    for target in targets:
        kind = stat.S_IFMT(target.stat().st_mode)
        before = _tree(sandbox)
        assert _refused(["--smoke", "--only", "baseline", "--seeds", "1", "--out", str(target)]) == 2
        _one_line_error(capsys, "--out", "not a regular file")
        assert stat.S_IFMT(target.stat().st_mode) == kind
        assert _tree(sandbox) == before


def test_train_preset_refuses_a_non_regular_checkpoint(tmp_path, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(train_module, "_fit", no_training)
    fifo = _fifo(tmp_path)
    with pytest.raises(ValueError, match="checkpoint .*pipe is not a regular file"):
        train_preset("smoke", data=toy_data(), checkpoint=fifo, progress=False)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no lock, no temporary file
    with pytest.raises(ValueError, match="is a directory"):
        train_preset("smoke", data=toy_data(), checkpoint=tmp_path, progress=False)


# Row 5: --out a directory, under /proc or under a regular file: one line, exit 2, before any training.

@pytest.mark.parametrize("case, words", [
    ("folder", ("is a directory",)),
    ("proc", ("cannot create files in /proc",)),
    ("under_file", ("is a file, not a folder",)),
])
def test_out_that_cannot_be_written_is_refused_before_training(sandbox, no_training, capsys, case, words):
    (sandbox / "folder").mkdir()
    (sandbox / "file.txt").write_text("a file\n")
    out = {"folder": sandbox / "folder", "proc": Path("/proc/nin_book_experiments.json"),
           "under_file": sandbox / "file.txt" / "out.json"}[case]
    before = _tree(sandbox)
    assert _refused(["--smoke", "--only", "baseline", "--seeds", "1", "--out", str(out)]) == 2
    _one_line_error(capsys, "--out", *words)
    assert _tree(sandbox) == before


# Row 6: --seeds is bounded.

@pytest.mark.parametrize("seeds", ["1000000000", str(MAX_SEEDS + 1), "0", "-3"])
def test_seeds_out_of_range_is_one_line(sandbox, no_training, capsys, seeds):
    before = _tree(sandbox)
    assert _refused(["--smoke", "--only", "baseline", "--seeds", seeds, "--out", str(sandbox / "x.json")]) == 2
    _one_line_error(capsys, "--seeds", f"between 1 and {MAX_SEEDS}")
    assert _tree(sandbox) == before


def test_run_experiments_bounds_seeds_before_anything(fake_runs):
    # MAX_SEEDS + 1, not 10**9: before the bound, a billion seeds built a billion-entry job list (MemoryError)
    with pytest.raises(ValueError, match=f"between 1 and {MAX_SEEDS}"):
        run_experiments(select_variants(["baseline"]), toy_data(), seeds=MAX_SEEDS + 1, smoke=True, progress=False)
    assert fake_runs.calls == []


# Row 7: an --only that names nothing is an error, not "no filter".

@pytest.mark.parametrize("only", [[","], [" , ,"], ["", ""]])
def test_only_naming_nothing_is_an_error(sandbox, no_training, capsys, only):
    before = _tree(sandbox)
    argv = [arg for value in only for arg in ("--only", value)]
    assert _refused([*argv, "--smoke", "--seeds", "1"]) == 2
    _one_line_error(capsys, "--only", "names no variant")
    assert _tree(sandbox) == before
    assert not cli.WORK_OUT.exists() and not cli.PARTIAL_OUT.exists()
