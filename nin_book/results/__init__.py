"""The book's committed results: real training runs and benchmark reports, shipped inside the package.

Everything that reads or writes these files goes through this module, so a plain ``pip install`` (Colab)
sees the same results as the repository. A committed run ``NAME`` is two files in this folder:

- ``NAME.json``: the metrics that ``python -m nin_book.train`` wrote (config, device name, torch version,
  command, per-epoch history), plus provenance and the network's prediction for every test image;
- ``NAME.pt``: the trained weights with their config (no optimiser state), a few hundred kB.

A benchmark report is ``benchmark_*.json``, written by ``benchmarks/throughput.py``. Publish a run with
``python -m nin_book.results publish NAME --metrics M.json --checkpoint C.pt`` (``--replace`` to replace a committed
run). Explained in chapter 5, "Training NiN on Fashion-MNIST", and used in chapter 6.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nin_book.checkpoint import atomic_write_bytes, load_checkpoint, load_model, output_problem, save_checkpoint
from nin_book.presets import PRESET_NAMES, TrainConfig, config_from_dict

__all__ = [
    "ACCURACY_TOLERANCE",
    "RESULTS_DIR",
    "BenchmarkResult",
    "CommittedRun",
    "accuracy_tolerance",
    "EXPERIMENTS_FILE",
    "PublishRefused",
    "RunSummary",
    "committed_runs",
    "cpu_model",
    "find_benchmarks",
    "in_results_dir",
    "load_experiments",
    "load_average",
    "load_input_sizes",
    "load_run",
    "machine_provenance",
    "publish_run",
    "run_name_problem",
    "write_json",
]

RESULTS_DIR = Path(__file__).resolve().parent
# Chapter 7's experiments (python -m nin_book.experiments) write one JSON file; committed only from a full run.
EXPERIMENTS_FILE = "experiments.json"
EXPERIMENTS_KEYS = ("format", "complete", "full_set", "smoke", "command", "provenance", "settings", "variants",
                    "wall_seconds")


def in_results_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` lies in this folder of committed results, under any name it has (symbolic links resolved):
    training writes elsewhere, and only :func:`publish_run` writes a run here.

    Explained in chapter 5, "Training NiN on Fashion-MNIST" (the committed results).
    """
    return Path(path).resolve().is_relative_to(RESULTS_DIR)


def write_json(path: str | os.PathLike, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically (a reader sees the old file or the new one).

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def cpu_model() -> str:
    """The processor's model name, from /proc/cpuinfo where there is one.

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine() or "unknown CPU"


def load_average() -> str:
    """The machine's load average over 1, 5 and 15 minutes, as "a b c" ("unknown" where the OS has none).

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def machine_provenance() -> dict[str, Any]:
    """Where and when something ran: UTC date, CPU model, logical cores, load average, Python and torch.

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "load_average": load_average(),
        "python": platform.python_version(),
        "torch_version": torch.__version__,
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


@dataclass(frozen=True)
class RunSummary:
    """The headline of one training run: test accuracy per epoch, speed, and where it ran.

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """

    label: str
    preset: str
    device_name: str
    torch_version: str
    test_accuracy: tuple[float, ...]
    images_per_second: float
    wall_seconds: float
    source: str

    @property
    def final_test_accuracy(self) -> float:
        return self.test_accuracy[-1]

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, Any], label: str, source: str) -> RunSummary:
        """Read the metrics the training engine writes (``TrainResult.to_dict()``, the CLI's JSON).

        Explained in chapter 5, "Training NiN on Fashion-MNIST".
        """
        try:
            accuracies = tuple(float(r["test_accuracy"]) for r in metrics["history"])
            if not accuracies:
                raise ValueError("its history is empty")
            return cls(
                label=label,
                preset=str(metrics["config"].get("preset", "custom")),
                device_name=str(metrics["device_name"]),
                torch_version=str(metrics["torch_version"]),
                test_accuracy=accuracies,
                images_per_second=float(metrics["images_per_second"]),
                wall_seconds=float(metrics["wall_seconds"]),
                source=source,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{source} is not a training-metrics file written by python -m nin_book.train "
                             f"({type(err).__name__}: {err})") from None


@dataclass(frozen=True)
class CommittedRun:
    """A real training run committed with the book: its metrics, provenance, test predictions and weights.

    Explained in chapter 5, "Training NiN on Fashion-MNIST" (curves, errors) and chapter 6 (its maps).
    """

    name: str
    metrics: dict[str, Any]
    checkpoint_path: Path

    @property
    def config(self) -> TrainConfig:
        return config_from_dict(self.metrics["config"])

    @property
    def history(self) -> list[dict[str, Any]]:
        """Per-epoch records: ``epoch``, ``train_loss``, ``train_accuracy``, ``test_accuracy``, timings."""
        return self.metrics["history"]

    @property
    def final_test_accuracy(self) -> float:
        return float(self.metrics["final_test_accuracy"])

    @property
    def provenance(self) -> dict[str, Any]:
        """Command, machine, torch version and date of the run (as recorded when it was published)."""
        return {"command": self.metrics.get("command", ""), "device_name": self.metrics["device_name"],
                "torch_version": self.metrics["torch_version"], **self.metrics.get("provenance", {})}

    @cached_property
    def predictions(self) -> torch.Tensor:
        """The trained network's predicted class for every test image, in test-set order (int64)."""
        return torch.tensor([int(c) for c in self.metrics["test_predictions"]], dtype=torch.int64)

    def summary(self) -> RunSummary:
        return RunSummary.from_metrics(self.metrics, label=f"committed {self.config.preset} run",
                                       source=f"nin_book/results/{self.name}.json")

    def model(self, device: str | torch.device = "cpu") -> nn.Module:
        """The trained network, rebuilt from the committed weights, in eval mode."""
        model, _ = load_model(self.checkpoint_path, device=device, require_finished=True)
        return model


def load_run(name: str, folder: str | os.PathLike = RESULTS_DIR) -> CommittedRun:
    """The committed run ``name`` (e.g. ``"cpu"``); a missing one raises ``FileNotFoundError`` listing
    those that exist. Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    folder = Path(folder)
    metrics_path, checkpoint_path = folder / f"{name}.json", folder / f"{name}.pt"
    if not metrics_path.is_file() or not checkpoint_path.is_file():
        known = ", ".join(committed_runs(folder)) or "none"
        raise FileNotFoundError(f"no committed run {name!r} in {folder} (committed runs: {known}); publish one with "
                                f"python -m nin_book.results publish {name} --metrics M.json --checkpoint C.pt")
    metrics = json.loads(metrics_path.read_text())
    for key in ("config", "history", "final_test_accuracy", "test_predictions", "device_name", "torch_version"):
        if key not in metrics:
            raise ValueError(f"{metrics_path} is not a committed run: it lacks {key!r}")
    return CommittedRun(name=name, metrics=metrics, checkpoint_path=checkpoint_path)


def committed_runs(folder: str | os.PathLike = RESULTS_DIR) -> list[str]:
    """Names of the committed runs (a ``NAME.json`` with its ``NAME.pt``), sorted.

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    folder = Path(folder)
    return sorted(p.stem for p in folder.glob("*.json") if (folder / f"{p.stem}.pt").is_file())


# A run's NAME becomes NAME.json and NAME.pt in this folder: lower-case letters, digits, "-" and "_", starting with a
# letter or digit (no path separators, dots or absolute paths), at most 64 characters.
RUN_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Files here that are not runs, by name (benchmark* by prefix: find_benchmarks reads every benchmark*.json).
RESERVED_NAMES = {
    "experiments": "chapter 7's experiments (python -m nin_book.experiments)",
    "input_sizes": "the input-size measurement (benchmarks/input_size.py)",
    "explorer_redraw": "the explorers' redraw measurement (benchmarks/explorer_redraw.py)",
    "explorer_network": "chapter 6's network explorer redraw measurement (benchmarks/explorer_network.py)",
}
RESERVED_PREFIX = "benchmark"


class PublishRefused(ValueError):
    """:func:`publish_run` refused before writing anything: a bad or taken NAME, or a ``--metrics`` file that is not a
    finished run's; the message names the flag and the fix. Explained in chapter 5, "Training NiN on Fashion-MNIST"."""


def run_name_problem(name: str, folder: str | os.PathLike = RESULTS_DIR, *, replace: bool = False) -> str | None:
    """Why ``name`` cannot be published into ``folder`` (or ``None``): not a safe file name, reserved for what is not
    a run (experiments, benchmarks, measurements, any other file of that name), or an existing run without
    ``replace``. Explained in chapter 5, "Training NiN on Fashion-MNIST" (the committed results).
    """
    if not isinstance(name, str) or not RUN_NAME.fullmatch(name):
        shown = repr(name) if len(str(name)) <= 80 else f"{str(name)[:77]!r}..."
        return (f"NAME {shown} is not a run name: use 1 to 64 lower-case letters, digits, '-' or '_', starting with a "
                "letter or digit (no '/', '.' or spaces), e.g. cpu or cpu-seed1")
    folder = Path(folder)
    if name in RESERVED_NAMES:
        return f"NAME {name!r} is reserved for {RESERVED_NAMES[name]}, not a run; choose another NAME"
    if name.startswith(RESERVED_PREFIX):
        return (f"NAME {name!r} is reserved for throughput benchmarks ({RESERVED_PREFIX}*.json, written by "
                "benchmarks/throughput.py), not a run; choose another NAME, one that does not start with 'benchmark'")
    taken = sorted(p.name for p in folder.glob(f"{name}.*")) if folder.is_dir() else []
    if taken and name not in committed_runs(folder):
        return f"NAME {name!r} is taken by {', '.join(taken)} in {folder}, which is not a run; choose another NAME"
    if taken and not replace:
        return (f"NAME {name!r} is a committed run already ({name}.json, {name}.pt in {folder}); pass --replace "
                "(replace=True in Python) to replace it, or choose another NAME")
    return None


TRAINING_METRICS_KEYS = ("status", "config", "history", "final_test_accuracy", "device_name", "torch_version")


def _training_metrics(path: Path) -> tuple[dict[str, Any], TrainConfig]:
    """The metrics JSON the training CLI wrote, and its config; anything else raises :class:`PublishRefused`."""
    def refuse(reason: str) -> PublishRefused:
        return PublishRefused(f"--metrics {path} is not a training-metrics file ({reason}); give the file "
                              "python -m nin_book.train --metrics-out wrote for a finished run")

    if not path.is_file():
        raise PublishRefused(f"--metrics {path} is not a file; give the file python -m nin_book.train --metrics-out wrote")
    try:
        metrics = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise refuse(f"not JSON: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    if not isinstance(metrics, dict):
        raise refuse(f"it holds a JSON {type(metrics).__name__}, not an object")
    if str(metrics.get("format", "")).startswith("nin_book.experiments/"):
        raise refuse("it is the results of python -m nin_book.experiments")
    missing = [key for key in TRAINING_METRICS_KEYS if key not in metrics]
    if missing:
        raise refuse(f"it lacks {', '.join(repr(key) for key in missing)}")
    try:
        if not isinstance(metrics["config"], dict) or not isinstance(metrics["history"], list):
            raise TypeError("config must be an object and history a list")
        config = config_from_dict(metrics["config"])
    except (TypeError, ValueError, AttributeError) as err:
        raise refuse(f"its config does not load: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
    accuracy = metrics["final_test_accuracy"]
    if metrics["status"] == "completed" and (isinstance(accuracy, bool) or not isinstance(accuracy, (int, float))):
        raise refuse(f"its final_test_accuracy is {accuracy!r}, not a number")
    return metrics, config


def _preset_name_problem(name: str, config: TrainConfig) -> str | None:
    """A run under a preset's name must be a full run of that preset: chapters 5-7 read it as such."""
    if name not in PRESET_NAMES or name == "smoke":
        return None
    limited = [f"{field} {value}" for field, value in (("train_limit", config.train_limit),
                                                        ("test_limit", config.test_limit)) if value is not None]
    if config.preset == "smoke" or limited:
        what = "a smoke run" + (f" ({', '.join(limited)})" if limited else " (preset smoke)")
        return (f"NAME {name!r} is the committed {name} preset's run, which the chapters read; {what} cannot be "
                f"published under it, even with --replace: choose another NAME, e.g. {name}-smoke")
    if config.preset != name:
        return (f"NAME {name!r} is the committed {name} preset's run, but this run used preset {config.preset!r}: "
                f"publish it as {config.preset if config.preset in PRESET_NAMES else 'a name that is no preset'}, "
                "or choose another NAME")
    return None


# How far the accuracy a run reported while training may lie from the one publishing recomputes on the CPU in fp32,
# as a fraction of the test images, by the precision the run trained in. A prediction flips only on a near-tie, and
# every flip moves the accuracy by at most one image. fp32: another CPU or GPU rounds a few near-ties differently.
# bf16 and fp16: measured with CPU autocast on the committed cpu and cpu112 networks (2026-12-02, AMD EPYC, torch
# 2.14.1), bf16 flipped 12 and 14 of the 10,000 test predictions and fp16 2; the bounds leave about twice that. A GPU's
# kernels round differently from the CPU's, so these are a measured order of magnitude, not a GPU measurement.
ACCURACY_TOLERANCE: dict[str, float] = {"fp32": 2e-4, "fp16": 1e-3, "bf16": 3e-3}


def accuracy_tolerance(precision: str | None) -> float:
    """How far a run's reported test accuracy may lie from the one recomputed in fp32 (:data:`ACCURACY_TOLERANCE`),
    for the precision it trained in (``None``: a run from before precision was recorded, fp32). Explained in
    chapter 5, "Training NiN on Fashion-MNIST"."""
    if precision is None:
        return ACCURACY_TOLERANCE["fp32"]
    try:
        return ACCURACY_TOLERANCE[precision]
    except KeyError:
        raise ValueError(f"unknown precision {precision!r}; known: {', '.join(ACCURACY_TOLERANCE)}") from None


def publish_run(name: str, metrics_path: str | os.PathLike, checkpoint_path: str | os.PathLike, *,
                folder: str | os.PathLike = RESULTS_DIR, data: Any = None, note: str = "",
                replace: bool = False) -> CommittedRun:
    """Commit a finished run: its metrics (with provenance and an optional ``note``), its weights, and its
    prediction for every test image, checked against the accuracy the run reported. ``data`` defaults to
    the real Fashion-MNIST.

    Refused with :class:`PublishRefused`, before anything is written: a ``name`` that is not a safe file name
    (:func:`run_name_problem`), that belongs to what is not a run (experiments, benchmarks, measurements), or that
    is a committed run already unless ``replace=True``; a folder that cannot be written; a metrics file that is not
    the training CLI's; a smoke or limited run, or another preset's run, under a preset's name. Explained in chapter
    5, "Training NiN on Fashion-MNIST".
    """
    from nin_book.data import load_fashion_mnist  # only publishing needs the data
    from nin_book.train import predict

    # The name's own problems first, then the files'; an existing run last, so that --replace is suggested only
    # where it would help.
    problem = run_name_problem(name, folder, replace=True)
    if problem:
        raise PublishRefused(problem)
    metrics_path = Path(metrics_path)
    metrics, config = _training_metrics(metrics_path)
    problem = _preset_name_problem(name, config) or run_name_problem(name, folder, replace=replace)
    if problem:
        raise PublishRefused(problem)
    for target in (Path(folder) / f"{name}.pt", Path(folder) / f"{name}.json"):  # a read-only install, a full name
        problem = output_problem("publish", target)
        if problem:
            raise PublishRefused(problem)
    state = load_checkpoint(checkpoint_path)
    if metrics.get("status") != "completed" or state.get("epoch") != config.epochs:
        raise ValueError(f"only finished runs are published: {metrics_path} says {metrics.get('status')!r}, "
                         f"and the checkpoint holds epoch {state.get('epoch')} of {config.epochs}")
    if not isinstance(state.get("config"), dict) or config_from_dict(state["config"]) != config:
        raise ValueError(f"{checkpoint_path} and {metrics_path} come from different settings")
    model, _ = load_model(checkpoint_path)
    data = data if data is not None else load_fashion_mnist()
    test_images = data.test_images if config.test_limit is None else data.test_images[:config.test_limit]
    predicted = predict(model, test_images, resolution=config.resolution, batch_size=config.eval_batch_size, device="cpu")
    accuracy = (predicted == data.test_labels[:len(test_images)]).float().mean().item()
    # At least 2 images however few were tested; a run in bf16/fp16 (a GPU's) rounds more near-ties its own way.
    allowed = max(2 / len(test_images), accuracy_tolerance(metrics.get("precision")))
    if abs(accuracy - metrics["final_test_accuracy"]) > allowed:
        raise ValueError(f"the checkpoint scores {accuracy:.4f} on the test set in fp32 on the CPU, the metrics say "
                         f"{metrics['final_test_accuracy']:.4f} (trained in {metrics.get('precision', 'fp32')}, which "
                         f"allows {allowed:.2%}): they do not belong together")
    folder = Path(folder)
    save_checkpoint(folder / f"{name}.pt", {key: state[key] for key in ("config", "epoch", "model", "history")})
    metrics["test_predictions"] = "".join(str(int(c)) for c in predicted)  # one digit per test image
    machine = machine_provenance()
    machine.pop("load_average")  # the load while publishing says nothing about the run; the note can
    machine["published_utc"] = machine.pop("date_utc")
    metrics["provenance"] = {**machine, **metrics.get("provenance", {}), **({"note": note} if note else {})}
    metrics["checkpoint"] = f"nin_book/results/{name}.pt"
    write_json(folder / f"{name}.json", metrics)
    return load_run(name, folder)


@dataclass(frozen=True)
class BenchmarkResult:
    """One committed run of ``benchmarks/throughput.py``: our trainer against the classic pipeline.

    Explained in chapter 5, "Training NiN on Fashion-MNIST" (where the speed comes from).
    """

    device: str  # "cpu" or "cuda"
    device_name: str
    torch_version: str
    resolution: int
    batch_size: int
    classic_images_per_second: float
    ours_images_per_second: float
    speedup: float
    command: str
    source: str
    date_utc: str = ""  # when it ran, if recorded
    load_average: str = ""  # the machine's load average before the run (1, 5, 15 min), if recorded

    @classmethod
    def from_json(cls, report: Mapping[str, Any], source: str) -> BenchmarkResult:
        """Read the JSON that ``benchmarks/throughput.py --out`` writes. Explained in chapter 5."""
        try:
            classic, ours = float(report["classic_images_per_second"]), float(report["ours_images_per_second"])
            if classic <= 0 or ours <= 0:
                raise ValueError("images per second must be positive")
            return cls(
                device=str(report["device"]),
                device_name=str(report["device_name"]),
                torch_version=str(report["torch_version"]),
                resolution=int(report["resolution"]),
                batch_size=int(report["batch_size"]),
                classic_images_per_second=classic,
                ours_images_per_second=ours,
                speedup=ours / classic,
                command=str(report.get("command", "")),
                source=source,
                date_utc=str(report.get("date_utc", "")),
                load_average=str(report.get("load_average_before", "")),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{source} is not a benchmark report written by benchmarks/throughput.py "
                             f"({type(err).__name__}: {err})") from None


def find_benchmarks(folder: str | os.PathLike = RESULTS_DIR, pattern: str = "benchmark*.json") -> list[BenchmarkResult]:
    """Every committed throughput benchmark in ``folder`` matching ``pattern`` (sorted by name).

    Explained in chapter 5, "Training NiN on Fashion-MNIST" (where the speed comes from).
    """
    return [BenchmarkResult.from_json(json.loads(path.read_text()), source=f"nin_book/results/{path.name}")
            for path in sorted(Path(folder).glob(pattern))]


INPUT_SIZES_FILE = "input_sizes.json"


def load_input_sizes(folder: str | os.PathLike = RESULTS_DIR) -> dict[str, Any]:
    """The committed measurement of ``benchmarks/input_size.py``: training speed of the network chapters 2-4 study
    at each input size (``rows``), with the command and machine (``provenance``).

    Explained in chapter 5, "Training NiN on Fashion-MNIST" (why the studied network trains at 112×112 on a CPU).
    """
    path = Path(folder) / INPUT_SIZES_FILE
    report = json.loads(path.read_text())
    needed = {"size", "images_per_second", "speed_vs_224", "epoch_minutes", "class_map_side", "flops_per_image"}
    if not report.get("rows") or any(needed - set(row) for row in report["rows"]) or "provenance" not in report:
        raise ValueError(f"{path} is not a report of benchmarks/input_size.py (rows with {sorted(needed)})")
    return report


def load_experiments(path: str | os.PathLike | None = None, *, require_full: bool = True) -> dict[str, Any]:
    """The results of ``python -m nin_book.experiments``: by default the committed ``experiments.json`` here.

    ``require_full=True`` (what chapter 7 uses) accepts only a finished run of every variant with at least
    3 seeds at full size; ``False`` also reads a ``--smoke``, ``--only`` or unfinished file. A missing file
    raises ``FileNotFoundError`` with the command that makes it. Explained in chapter 7, "The paper's claims,
    measured".
    """
    path = Path(path) if path is not None else RESULTS_DIR / EXPERIMENTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no experiment results at {path}; run python -m nin_book.experiments --seeds 3 "
                                f"--out {path} (about an hour on a 2-core CPU)")
    report = json.loads(path.read_text())
    missing = [key for key in EXPERIMENTS_KEYS if key not in report]
    if missing or not str(report.get("format", "")).startswith("nin_book.experiments/"):
        raise ValueError(f"{path} is not written by python -m nin_book.experiments (it lacks {', '.join(missing)})")
    if require_full and not (report["complete"] and report["full_set"]):
        raise ValueError(f"{path} is not a finished full run (complete={report['complete']}, "
                         f"full_set={report['full_set']}); pass require_full=False to read it anyway")
    return report
