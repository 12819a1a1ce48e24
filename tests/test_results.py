"""nin_book.results: committed runs and benchmarks are read, published and checked against what produced them."""

import json
from pathlib import Path

import pytest
import torch
from toys import metrics, toy_data

from nin_book.data import FashionMNIST
from nin_book.presets import TrainConfig, build_model, config_from_dict, get_preset
from nin_book.results import (
    RESULTS_DIR,
    BenchmarkResult,
    RunSummary,
    committed_runs,
    find_benchmarks,
    load_input_sizes,
    load_run,
    publish_run,
    write_json,
)
from nin_book.train import fit, predict


def test_run_summary_from_metrics():
    run = RunSummary.from_metrics(metrics(), label="gpu", source="seed224.json")
    assert run.test_accuracy == (0.8, 0.9)
    assert run.final_test_accuracy == 0.9
    assert run.preset == "seed224" and run.device_name.startswith("NVIDIA")
    with pytest.raises(ValueError, match="not a training-metrics file"):
        RunSummary.from_metrics({"history": []}, label="x", source="bad.json")


def benchmark_report(classic=50.0, ours=200.0):
    # The keys benchmarks/throughput.py --out writes.
    return {"device": "cpu", "device_name": "Some CPU (2 logical cores)", "torch_version": "2.14.1", "resolution": 96,
            "batch_size": 64, "classic_images_per_second": classic, "ours_images_per_second": ours,
            "speedup": ours / classic if classic else None, "command": "python benchmarks/throughput.py",
            "load_average_before": "7.5 7.0 6.0", "date_utc": "2026-11-28 07:40"}


def test_benchmarks_are_read_and_the_ratio_recomputed(tmp_path):
    assert find_benchmarks(tmp_path) == []
    write_json(tmp_path / "benchmark_cpu.json", benchmark_report())
    (found,) = find_benchmarks(tmp_path)
    assert found.speedup == 4.0 and found.source == "nin_book/results/benchmark_cpu.json" and found.resolution == 96
    assert found.load_average == "7.5 7.0 6.0" and found.date_utc.startswith("2026")
    with pytest.raises(ValueError, match="not a benchmark report"):
        BenchmarkResult.from_json(benchmark_report(classic=0.0), source="bad.json")
    with pytest.raises(ValueError, match="not a benchmark report"):
        BenchmarkResult.from_json({"device": "cpu"}, source="bad.json")


def finished_run(tmp_path: Path, epochs=2) -> tuple[Path, Path, FashionMNIST, TrainConfig]:
    data = toy_data(96, 40)
    config = get_preset("smoke").replace(device="cpu", epochs=epochs, train_limit=None, test_limit=None, batch_size=32)
    checkpoint = tmp_path / "run.pt"
    result = fit(build_model(config), data, config, checkpoint=checkpoint, progress=False)
    metrics_path = tmp_path / "run.json"
    write_json(metrics_path, {**result.to_dict(), "command": "python -m nin_book.train --preset smoke"})
    return metrics_path, checkpoint, data, config


def test_publish_then_load_round_trip(tmp_path):
    metrics_path, checkpoint, data, config = finished_run(tmp_path)
    folder = tmp_path / "results"
    run = publish_run("toy", metrics_path, checkpoint, folder=folder, data=data)
    assert committed_runs(folder) == ["toy"]
    assert run.config == config and len(run.history) == 2
    # The stored predictions are the network's, for every test image, in order.
    expected = predict(run.model(), data.test_images, resolution=28, device="cpu")
    assert torch.equal(run.predictions, expected) and len(run.predictions) == len(data.test_labels)
    assert run.final_test_accuracy == pytest.approx((expected == data.test_labels).float().mean().item(), abs=2 / 40)
    # The published checkpoint carries weights and config only (no optimiser state), and says who made it.
    state = torch.load(folder / "toy.pt", weights_only=True)
    assert "optimizer" not in state and state["epoch"] == 2
    assert run.provenance["command"].startswith("python -m nin_book.train") and run.provenance["cpu_model"]


def test_publish_refuses_an_unfinished_or_mismatched_run(tmp_path):
    metrics_path, checkpoint, data, _ = finished_run(tmp_path)
    unfinished = json.loads(metrics_path.read_text())
    unfinished["status"] = "interrupted"
    write_json(tmp_path / "unfinished.json", unfinished)
    with pytest.raises(ValueError, match="only finished runs"):
        publish_run("toy", tmp_path / "unfinished.json", checkpoint, folder=tmp_path / "r", data=data)
    wrong = json.loads(metrics_path.read_text())
    wrong["final_test_accuracy"] = 1.0 if wrong["final_test_accuracy"] < 0.5 else 0.0
    write_json(tmp_path / "wrong.json", wrong)
    with pytest.raises(ValueError, match="do not belong together"):
        publish_run("toy", tmp_path / "wrong.json", checkpoint, folder=tmp_path / "r", data=data)


def test_a_missing_run_names_the_committed_ones(tmp_path):
    with pytest.raises(FileNotFoundError, match="committed runs: none"):
        load_run("cpu", tmp_path)


@pytest.mark.parametrize("name", committed_runs())
def test_committed_runs_match_the_presets_that_claim_them(name):
    # A committed run must describe the network and settings its preset defines today: otherwise the
    # chapters would interpret a run of some other network.
    run = load_run(name)
    preset = get_preset(run.config.preset)
    assert config_from_dict(run.metrics["config"]) == preset, f"{name}.json was made with another {preset.preset} preset"
    assert run.metrics["status"] == "completed" and len(run.history) == preset.epochs
    assert run.final_test_accuracy == run.history[-1]["test_accuracy"]
    assert run.provenance["command"] and run.provenance["torch_version"] and run.provenance["device_name"]
    assert len(run.predictions) == 10_000 and int(run.predictions.max()) <= 9


def test_the_cpu_run_is_committed():
    assert "cpu" in committed_runs(), f"nin_book/results/ must hold the cpu preset's run; it holds {committed_runs()}"
    assert (RESULTS_DIR / "cpu.pt").stat().st_size < 5_000_000  # small enough to ship in the package


def test_the_studied_network_run_is_committed_with_its_input_size_measurement(tmp_path):
    """Chapter 5 shows chapters 2-4's NiN trained on a CPU (cpu112) and the measurement that chose its input size."""
    assert "cpu112" in committed_runs(), committed_runs()
    assert (RESULTS_DIR / "cpu112.pt").stat().st_size < 10_000_000
    sizes = load_input_sizes()
    rows = {row["size"]: row for row in sizes["rows"]}
    assert {224, 112, get_preset("cpu112").resolution} <= set(rows)
    for row in rows.values():  # the ratio is against 224x224 in the same run, and the epoch time follows from the speed
        assert row["speed_vs_224"] == pytest.approx(row["images_per_second"] / rows[224]["images_per_second"])
        assert row["epoch_minutes"] == pytest.approx(60_000 / row["images_per_second"] / 60)
    assert rows[224]["class_map_side"] == 5 and rows[112]["class_map_side"] == 2
    assert sizes["provenance"]["cpu_model"] and sizes["command"].startswith("python benchmarks/input_size.py")
    (tmp_path / "input_sizes.json").write_text('{"rows": [{"size": 112}], "provenance": {}}')
    with pytest.raises(ValueError, match="not a report of benchmarks/input_size.py"):
        load_input_sizes(tmp_path)


def test_committed_experiments_are_the_full_set_of_todays_variants():
    # Chapter 7 reads this file: it must be a finished run of every variant with at least 3 seeds, each run made
    # with the config that variant defines today (so the results describe the network the book trains).
    from nin_book.experiments import VARIANTS, variant_config
    from nin_book.experiments.variants import variant_seeds
    from nin_book.results import load_experiments

    report = load_experiments()
    assert report["complete"] and report["full_set"] and not report["smoke"]
    assert set(report["variants"]) == set(VARIANTS)
    for name, entry in report["variants"].items():
        today = json.loads(json.dumps(variant_config(VARIANTS[name], 0).to_dict()))  # tuples as JSON lists
        assert entry["config"] == today, f"{name} was run with another config"
        assert [r["seed"] for r in entry["runs"]] == list(range(len(entry["runs"])))
        assert len(entry["runs"]) >= len(variant_seeds(VARIANTS[name], 5))  # 5 seeds, fewer for a capped variant
        for run in entry["runs"]:
            for key in ("final_test_accuracy", "final_train_accuracy", "parameters", "epochs", "wall_seconds"):
                assert run[key] is not None, f"{name} seed {run['seed']} lacks {key}"
    assert report["provenance"]["cpu_model"] and report["provenance"]["torch_version"] and report["command"]
