"""The GPU path, tested on the CPU where mocking reaches (issue 26): precision from the training device's compute
capability, the CUDA generator and the gradient scaler carried through a checkpoint, a precision change refused on
resume, fp32 meaning fp32 (no TF32), the first bad loss named, out-of-memory as one line, the memory check from free
memory. No test here needs a GPU; benchmarks/ holds what only a GPU can measure."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from toys import toy_data

import nin_book.train as train_module
from nin_book.checkpoint import load_checkpoint, save_checkpoint
from nin_book.presets import build_model, get_preset
from nin_book.train import TrainingDiverged, fit, main

CUDA = torch.device("cuda", 0)


@pytest.fixture
def capability(monkeypatch):
    """Make torch.cuda report a compute capability; returns the devices it was asked about."""
    asked = []

    def set_to(major_minor):
        def get_device_capability(device=None):
            asked.append(device)
            return major_minor

        monkeypatch.setattr(torch.cuda, "get_device_capability", get_device_capability)
        # What the old check read: True below 8.0 too (it counts emulation); it must not decide.
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)

    return set_to, asked


@pytest.mark.parametrize("major_minor, expected", [((7, 5), "fp16"), ((8, 0), "bf16"), ((9, 0), "bf16"),
                                                   ((6, 1), "fp16")])
def test_auto_precision_follows_the_training_devices_capability(capability, major_minor, expected):
    set_to, asked = capability
    set_to(major_minor)
    assert train_module._precision("auto", CUDA) == expected
    assert asked == [CUDA]  # the training device's capability, not the current GPU's
    assert train_module._precision("auto", torch.device("cpu")) == "fp32"
    if expected == "fp16":  # a T4: bf16 would run without tensor cores; asking for it is refused
        with pytest.raises(ValueError, match="does not support bfloat16"):
            train_module._precision("bf16", CUDA)


def test_random_state_of_a_gpu_run_goes_through_the_checkpoint(monkeypatch):
    reached = {}
    saved_state = torch.arange(16, dtype=torch.uint8)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device=None: saved_state.clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device=None: reached.update(state=state, device=device))
    state = train_module._random_state(CUDA)
    assert torch.equal(state["cuda_rng"], saved_state) and state["cuda_rng"].device.type == "cpu"
    train_module._restore_random_state(state, CUDA)
    assert reached["device"] == CUDA and reached["state"].dtype == torch.uint8 and reached["state"].device.type == "cpu"
    assert torch.equal(reached["state"], saved_state)
    # On the CPU there is no CUDA generator to save, and none is touched.
    reached.clear()
    cpu_state = train_module._random_state(torch.device("cpu"))
    assert cpu_state["cuda_rng"] is None
    train_module._restore_random_state({**cpu_state, "cuda_rng": saved_state}, torch.device("cpu"))
    assert not reached


def test_gradient_scaler_state_round_trips_through_a_checkpoint(tmp_path):
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=1)
    weight = nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    with torch.autocast("cpu", dtype=torch.float16):
        loss = (weight * 2).sum()
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    assert scaler.get_scale() == 2048.0  # one good step grew it
    config = get_preset("smoke")
    save_checkpoint(tmp_path / "c.pt", {"model": build_model(config).state_dict(), "config": config.to_dict(),
                                         "scaler": scaler.state_dict()})
    restored = torch.amp.GradScaler("cpu")
    restored.load_state_dict(load_checkpoint(tmp_path / "c.pt")["scaler"])
    assert restored.get_scale() == 2048.0 and restored.state_dict() == scaler.state_dict()


def _toy_config(**changes):
    return get_preset("smoke").replace(**{"train_limit": 64, "test_limit": 32, "batch_size": 32, "epochs": 2, **changes})


def test_checkpoint_records_precision_and_a_change_of_precision_is_refused_on_resume(tmp_path):
    data, ckpt = toy_data(), tmp_path / "run.pt"
    config = _toy_config(epochs=1)
    fit(build_model(config), data, config, checkpoint=ckpt, progress=False)
    state = load_checkpoint(ckpt)
    assert state["precision"] == "fp32" and "scaler" in state and state["cuda_rng"] is None
    state["precision"] = "bf16"  # as an A100 would have written it
    save_checkpoint(ckpt, state)
    with pytest.raises(ValueError, match=r"trained in bf16.*would go on in fp32.*--fresh"):
        fit(build_model(config), data, config, checkpoint=ckpt, progress=False)


def test_fp32_on_a_gpu_switches_tf32_off_and_restores_the_process_settings():
    flags = (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        with train_module.gpu_settings(CUDA, "fp32"):
            assert torch.backends.cudnn.benchmark
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.benchmark == flags[0]
        with train_module.gpu_settings(CUDA, "bf16"):
            assert torch.backends.cudnn.allow_tf32  # autocast runs: TF32 is not what the label promises to avoid
        with train_module.gpu_settings(torch.device("cpu"), "fp32"):
            assert torch.backends.cudnn.allow_tf32  # the CPU leaves the GPU settings alone
    finally:
        (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32,
         torch.backends.cuda.matmul.allow_tf32) = flags


class _BlowsUpAtCall(nn.Module):
    """A linear classifier whose logits are -inf for every class but 0 at one call: the loss is inf there (the true
    class of some image has probability 0), and the weights, NaN after that step, make every later loss NaN."""

    def __init__(self, bad_call: int) -> None:
        super().__init__()
        self.linear = nn.Linear(28 * 28, 10)
        self.calls, self.bad_call = 0, bad_call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += self.training
        out = self.linear(x.flatten(1))
        if self.training and self.calls == self.bad_call:
            return out.masked_fill(torch.arange(10) != 0, float("-inf"))
        return out


def test_the_nan_guard_names_the_first_bad_step_and_its_loss_even_when_it_checks_later(monkeypatch):
    monkeypatch.setattr(train_module, "_nan_check_interval", lambda device: 4)  # as on a GPU: read back every 4
    config = _toy_config(batch_size=8)
    with pytest.raises(TrainingDiverged) as err:
        fit(_BlowsUpAtCall(bad_call=2), toy_data(), config, progress=False, on_stall="off")
    message = str(err.value)
    assert "at step 2" in message and "became nan" not in message and "became inf" in message


class _OutOfMemory(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def test_out_of_memory_names_the_sizes_to_lower_in_python_and_in_one_cli_line(tmp_path, monkeypatch, capsys):
    config = _toy_config()
    with pytest.raises(torch.OutOfMemoryError, match=r"batches of 32 images at 28×28; lower batch_size"):
        fit(_OutOfMemory(), toy_data(), config, progress=False)
    monkeypatch.setattr(train_module, "load_fashion_mnist", toy_data)
    monkeypatch.setattr(train_module, "build_model", lambda config: _OutOfMemory())
    monkeypatch.setattr(train_module, "_memory_problem", lambda *args: None)  # the toy model has no trace
    assert main(["--preset", "smoke", "--metrics-out", str(tmp_path / "m.json")]) == 1
    err = capsys.readouterr().err
    messages = [line for line in err.splitlines() if "error" in line]
    assert len(messages) == 1 and "Traceback" not in err and "--batch-size" in messages[0]


def test_memory_check_reads_free_memory_and_the_precision(capability, monkeypatch):
    set_to, _ = capability
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2 * 10**9, 80 * 10**9))
    config = get_preset("seed224").replace(batch_size=256)
    model = build_model(config)
    set_to((9, 0))  # bf16: 2 bytes a value
    bf16 = train_module._memory_problem(model, config, CUDA)
    set_to((7, 5))  # fp16: the same
    assert train_module._memory_problem(model, config, CUDA) == bf16
    assert "free" in bf16 and "2 GB" in bf16 and "--batch-size" in bf16  # the free 2 GB, not the 80 GB total
    needed = float(bf16.split("needs about ")[1].split(" GB")[0].replace(",", ""))
    fp32 = train_module._memory_problem(model, config.replace(precision="fp32"), CUDA)
    assert float(fp32.split("needs about ")[1].split(" GB")[0].replace(",", "")) == pytest.approx(2 * needed, rel=0.05)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (80 * 10**9, 80 * 10**9))
    assert train_module._memory_problem(model, config, CUDA) is None


def test_the_metrics_record_the_precision_used(tmp_path, toy_cli):
    assert main(["--preset", "smoke", "--train-limit", "64", "--metrics-out", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["precision"] == "fp32"


def test_publishing_allows_a_bf16_run_the_near_ties_its_precision_flips_and_no_more(tmp_path):
    from nin_book.results import ACCURACY_TOLERANCE, accuracy_tolerance, publish_run, write_json

    data = toy_data(96, 5000)
    config = get_preset("smoke").replace(device="cpu", epochs=1, train_limit=96, test_limit=5000, batch_size=32)
    checkpoint = tmp_path / "run.pt"
    result = fit(build_model(config), data, config, checkpoint=checkpoint, progress=False)
    metrics = {**result.to_dict(), "command": "python -m nin_book.train --preset smoke"}
    off = 10 / 5000  # ten images: more than an fp32 run may differ by, fewer than bf16's bound (15 here)
    assert ACCURACY_TOLERANCE["fp32"] < off < ACCURACY_TOLERANCE["bf16"]
    for precision, accepted in (("fp32", False), ("bf16", True)):
        write_json(tmp_path / f"{precision}.json", {**metrics, "precision": precision,
                                                    "final_test_accuracy": result.final_test_accuracy + off})
        folder = tmp_path / precision
        if accepted:
            publish_run("toy", tmp_path / f"{precision}.json", checkpoint, folder=folder, data=data)
        else:
            with pytest.raises(ValueError, match=r"trained in fp32, which allows 0\.04%"):
                publish_run("toy", tmp_path / f"{precision}.json", checkpoint, folder=folder, data=data)
    assert accuracy_tolerance(None) == ACCURACY_TOLERANCE["fp32"]
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        accuracy_tolerance("fp8")


def test_the_benchmark_times_like_with_like_and_records_both_sides(tmp_path, monkeypatch):
    import contextlib
    from pathlib import Path

    from toys import load_script

    bench = load_script(Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py", "throughput_bench")
    entered = []

    @contextlib.contextmanager
    def recording(device, precision):
        entered.append(precision)
        yield

    monkeypatch.setattr(bench, "gpu_settings", recording)
    out = tmp_path / "bench.json"
    assert bench.main(["--device", "cpu", "--resolution", "99", "--batch-size", "4", "--batches", "2",
                       "--workers", "0", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert entered == ["fp32"]  # the classic pipeline ran under the settings fit uses for fp32
    sides = report["sides"]
    assert {name: s["precision"] for name, s in sides.items()} == {"classic": "fp32", "ours": "fp32", "ours_fp32": "fp32"}
    assert all(s["cudnn_benchmark"] is None and s["tf32"] is None for s in sides.values())  # the CPU has neither
    assert report["speedup"] == pytest.approx(report["input_pipeline_speedup"] * report["precision_speedup"])
    assert report["ours_precision"] == "fp32" and report["precision_speedup"] == 1.0
    # On a GPU each side says what it ran with.
    assert bench.side(100.0, "fp32", CUDA, "x") == {"images_per_second": 100.0, "precision": "fp32",
                                                       "pipeline": "x", "cudnn_benchmark": True, "tf32": False}
    assert bench.side(100.0, "bf16", CUDA, "x")["tf32"] is True


def test_the_gpu_script_refuses_to_estimate_without_a_gpu(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    from toys import load_script

    script = load_script(Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py", "gpu_check")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert script.main(["--out", str(tmp_path / "g.json")]) == 1
    assert "no CUDA GPU" in capsys.readouterr().err and not (tmp_path / "g.json").exists()


def test_train_preset_checks_memory_before_loading_data_as_the_cli_does(capability, monkeypatch):
    set_to, _ = capability
    set_to((7, 5))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10**9, 16 * 10**9))  # 1 GB free of a T4

    def no_data():
        raise AssertionError("the data was loaded before the memory check")

    monkeypatch.setattr(train_module, "load_fashion_mnist", no_data)
    with pytest.raises(ValueError, match=r"needs about .* GB .* 1 GB of cuda memory free; lower resolution or batch_size"):
        train_module.train_preset("seed224", device="cuda")
