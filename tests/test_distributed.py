"""Data-parallel training under torchrun, on the CPU with gloo and 2 processes: the shards, the equivalence of a
2-process step with a 1-process step, a smoke run that resumes, a rank killed mid-run, and one-line refusals."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import DistributedSampler
from toys import toy_data

from nin_book import distributed
from nin_book.batches import DeviceBatches
from nin_book.checkpoint import load_checkpoint
from nin_book.ddp_equivalence import parameter_difference
from nin_book.presets import TrainConfig, build_model, get_preset
from nin_book.train import TrainingDiverged, fit, main

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
needs_debian = pytest.mark.skipif(not (DEBIAN / "train-images-idx3-ubyte.gz").exists(),
                                  reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
LAUNCH = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
TIMEOUT = 120  # seconds for one launch: a hang (a rank waiting for a dead one) fails the test instead of CI


def env(**extra: str) -> dict[str, str]:
    # One thread per process: 2 processes on a 2-core machine; no RANK/WORLD_SIZE inherited from an outer launch.
    base = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**base, "OMP_NUM_THREADS": "1", "NIN_BOOK_OFFLINE": "1", **extra}


def run(args: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env(**extra), capture_output=True, text=True, timeout=TIMEOUT)


# --- The shards (no processes) ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n, world, batch", [(100, 2, 16), (103, 2, 8), (90, 3, 9)])
def test_the_kth_batches_of_all_ranks_are_the_kth_single_process_batch(n, world, batch):
    data = toy_data(n_train=n, n_test=1)
    options = dict(resolution=28, shuffle=True, seed=5, flip=True, drop_last=True)
    whole = DeviceBatches(data.train_images, data.train_labels, batch_size=batch * world, **options)
    shards = [distributed.ShardedBatches(data.train_images, data.train_labels, rank=r, world_size=world,
                                         batch_size=batch, **options) for r in range(world)]
    for epoch in (0, 3):
        whole.set_epoch(epoch)
        for s in shards:
            s.set_epoch(epoch)
        assert all(len(s) == len(whole) for s in shards)  # the same number of steps: the same schedule
        for (x, y), *parts in zip(whole, *shards, strict=True):
            # Position k*world*batch + i*world + r of the shuffled order goes to rank r: interleave the shards back.
            xs = torch.stack([p[0] for p in parts], 1).flatten(0, 1)
            ys = torch.stack([p[1] for p in parts], 1).flatten(0, 1)
            assert torch.equal(xs, x) and torch.equal(ys, y)  # flips included


def test_shards_follow_distributed_samplers_order():
    # Unshuffled, every rank's images are exactly the indices DistributedSampler(drop_last=True) gives that rank.
    data = toy_data(n_train=37, n_test=1)
    labels = torch.arange(37)
    for rank in range(3):
        shard = distributed.ShardedBatches(data.train_images, labels, rank=rank, world_size=3, batch_size=4)
        sampler = DistributedSampler(range(37), num_replicas=3, rank=rank, shuffle=False, drop_last=True)
        assert torch.cat([y for _, y in shard]).tolist() == list(sampler)


def test_launch_problems_are_one_line_naming_the_fix(monkeypatch):
    launch = distributed.Launch(rank=0, world_size=2, local_rank=0, local_world_size=2)
    assert distributed.launch_problem(launch, torch.device("cpu"), 64) is None
    problem = distributed.launch_problem(launch, torch.device("cpu"), 33)
    assert "\n" not in problem and "does not divide among 2 processes" in problem and "32 or 34" in problem
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    problem = distributed.launch_problem(launch, torch.device("cuda"), 64)
    assert "\n" not in problem and "torch sees 1 GPU here" in problem and "--nproc-per-node=1" in problem
    with pytest.raises(ValueError, match="rank must be from 0 to world_size - 1"):
        distributed.ShardedBatches(torch.zeros(4, 28, 28, dtype=torch.uint8), torch.zeros(4), rank=2, world_size=2,
                                   batch_size=1)


def test_cuda_with_fewer_gpus_than_processes_is_refused_in_one_line(monkeypatch, capsys, tmp_path):
    # What rank 0 of `torchrun --nproc-per-node=2 -m nin_book.train --device cuda` meets on a machine with one GPU:
    # refused before the process group starts, so this needs neither a GPU nor a second process.
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(SystemExit) as exit_info:
        main(["--preset", "smoke", "--device", "cuda", "--metrics-out", str(tmp_path / "m.json")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2 processes on this machine train on CUDA, but torch sees 1 GPU here" in err, err
    assert distributed.current() is None and not (tmp_path / "m.json").exists()


def test_batch_norm_becomes_sync_batch_norm_with_the_same_state():
    # What the nccl backend does to the network (SyncBatchNorm runs on GPUs only; the conversion is checked here).
    model = build_model(get_preset("smoke"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert distributed.sync_batch_norm(model) is model
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, torch.nn.SyncBatchNorm) for m in norms)
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


@pytest.fixture
def one_rank_group(monkeypatch):
    """A gloo process group of one process, in this process: the distributed code path without launching anything."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the launched tests' OMP_NUM_THREADS=1: two threads on a busy 2-core machine crawl
    group = distributed.start(distributed.Launch(rank=0, world_size=1, local_rank=0, local_world_size=1),
                              torch.device("cpu"))
    try:
        yield group
    finally:
        distributed.stop()
        torch.set_num_threads(threads)
    assert distributed.current() is None


def test_one_rank_under_ddp_trains_exactly_as_one_process(one_rank_group):
    data = toy_data(n_train=96)
    cfg = TrainConfig(preset="test", model={"widths": (8, 16, 16), "first_block": (3, 1, 1), "batch_norm": True,
                                            "dropout": 0.2}, epochs=2, batch_size=32, lr=0.05, flip=True,
                      device="cpu", eval_batch_size=64)
    ddp_model = build_model(cfg)
    ddp = fit(ddp_model, data, cfg, progress=False)
    assert ddp.distributed == {"world_size": 1, "backend": "gloo", "batch_size_per_rank": 32}
    distributed.stop()
    plain_model = build_model(cfg)
    plain = fit(plain_model, data, cfg, progress=False)
    assert plain.distributed is None and "distributed" not in plain.to_dict()
    assert [r.train_loss for r in ddp.history] == pytest.approx([r.train_loss for r in plain.history], abs=1e-6)
    assert parameter_difference(dict(ddp_model.named_parameters()), dict(plain_model.named_parameters())) < 1e-6


def test_the_nan_guard_under_ddp_names_the_first_bad_step(one_rank_group):
    from test_train import NaNAfter  # a linear classifier whose output turns NaN from a given step on

    cfg = TrainConfig(preset="test", epochs=3, batch_size=32, lr=0.05, device="cpu", eval_batch_size=64)
    # 4 steps an epoch; under DDP the check runs every NAN_CHECK_EVERY steps and at each epoch's end, on every rank.
    with pytest.raises(TrainingDiverged, match="at step 7; lower the learning rate"):
        fit(NaNAfter(bad_call=7), toy_data(n_train=128), cfg, progress=False)


def test_without_torchrun_nothing_is_distributed(monkeypatch):
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.Launch.from_env() is None and distributed.current() is None


# --- Under torchrun ------------------------------------------------------------------------------------------------

@needs_debian
def test_a_two_process_step_equals_the_single_process_step(tmp_path):
    one = run([sys.executable, "-m", "nin_book.ddp_equivalence", "--out", "one.pt"], tmp_path)
    two = run([*LAUNCH, "-m", "nin_book.ddp_equivalence", "--out", "two.pt"], tmp_path)
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert (a["world_size"], b["world_size"]) == (1, 2)
    step = parameter_difference(a["trained"]["without_batch_norm"], a["initial"]["without_batch_norm"])
    gap = parameter_difference(a["trained"]["without_batch_norm"], b["trained"]["without_batch_norm"])
    assert step > 1e-3 and gap < 1e-6, (step, gap)  # a real step, taken the same way
    # With batch norm in training mode each process normalises its own half: the test can tell them apart.
    assert parameter_difference(a["trained"]["with_batch_norm"], b["trained"]["with_batch_norm"]) > 1e-4


@needs_debian
def test_smoke_under_torchrun_writes_one_metrics_file_and_one_checkpoint_and_resumes(tmp_path):
    args = [*LAUNCH, "-m", "nin_book.train", "--preset", "smoke", "--device", "cpu", "--checkpoint", "run.pt",
            "--metrics-out", "run.json"]
    first = run(args, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.count("smoke: test accuracy") == 1  # reported once, by rank 0
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["run.json", "run.pt"]
    metrics = json.loads((tmp_path / "run.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_completed"] == 2
    assert metrics["distributed"] == {"world_size": 2, "backend": "gloo", "batch_size_per_rank": 16}
    assert metrics["history"][0]["images"] == 512 and metrics["command"].startswith("torchrun --nnodes=1")
    state = load_checkpoint(tmp_path / "run.pt")
    assert state["epoch"] == 2 and len(state["rank_rng"]) == 2
    again = run(args, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    resumed = json.loads((tmp_path / "run.json").read_text())
    assert resumed["resumed_from_epoch"] == 2 and resumed["history"] == metrics["history"]


def _rank_pid(tag: str, rank: int) -> int | None:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                environ = (proc / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"KILL_TEST={tag}".encode() in environ and f"RANK={rank}".encode() in environ:
                return int(proc.name)
    return None


@needs_debian
def test_killing_a_rank_keeps_the_last_checkpoint_and_a_relaunch_resumes(tmp_path):
    ckpt = tmp_path / "run.pt"
    args = [*LAUNCH, "-m", "nin_book.train", "--preset", "smoke", "--device", "cpu", "--epochs", "8",
            "--checkpoint", str(ckpt), "--metrics-out", str(tmp_path / "run.json")]
    tag = str(os.getpid())
    launcher = subprocess.Popen(args, cwd=tmp_path, env=env(KILL_TEST=tag), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not ckpt.exists() and launcher.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = _rank_pid(tag, 1)
        assert victim is not None and launcher.poll() is None, "the run ended before a rank could be killed"
        os.kill(victim, signal.SIGKILL)
        _, err = launcher.communicate(timeout=TIMEOUT)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode != 0
    # The survivor names the dead rank in one line; the launcher's report names it too.
    assert f"error: rank 0: rank 1 (pid {victim}) exited, so training stopped here too" in err, err[-3000:]
    assert "keeps the last finished epoch: run again to resume" in err
    state = load_checkpoint(ckpt)  # whole: the atomic write never leaves half a file
    saved = state["epoch"]
    assert 1 <= saved < 8 and not list(tmp_path.glob(".run.pt.*.tmp"))
    again = run(args, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    metrics = json.loads((tmp_path / "run.json").read_text())
    assert metrics["resumed_from_epoch"] == saved and metrics["epochs_completed"] == 8


def test_a_batch_that_does_not_divide_is_refused_in_one_line(tmp_path):
    result = run([*LAUNCH, "-m", "nin_book.train", "--preset", "smoke", "--device", "cpu", "--batch-size", "33",
                  "--metrics-out", "m.json"], tmp_path)
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if "nin_book.train: error" in line]
    assert ours == ["python -m nin_book.train: error: the global batch of 33 images does not divide among 2 processes; "
                    "give --batch-size a multiple of 2 (e.g. 32 or 34), or a --nproc-per-node that divides 33 "
                    "(see --help)"]
    assert "nin_book/" not in result.stderr  # no traceback from the workers (torchrun adds its own summary)
    assert not (tmp_path / "m.json").exists()
