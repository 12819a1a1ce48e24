"""Judging a trained classifier: predictions, accuracy, the confusion matrix and the mistakes.

Pure logic on tensors (no drawing; the figures live in :mod:`nin_book.figures_eval`).
Explained in chapter 5, "Training NiN on Fashion-MNIST".
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "D2L_NIN",
    "BenchmarkResult",
    "ConfusedPair",
    "PublishedReference",
    "RunSummary",
    "find_benchmarks",
    "find_committed_runs",
    "repo_root",
    "accuracy",
    "confusion_matrix",
    "examples_per_class",
    "misclassified_indices",
    "most_confused_pairs",
    "per_class_accuracy",
]


@dataclass(frozen=True)
class PublishedReference:
    """Training results reported in the literature (numbers as printed there, never measured here).

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """

    label: str
    test_accuracies: tuple[float, ...]
    images_per_second: float
    seconds_for_10_epochs: float
    device: str
    source: str
    epochs: int = 10
    learning_rate: float = 0.1
    batch_size: int = 128
    resolution: int = 224


# Literature constants, defined once. Dive into Deep Learning trains the classic NiN at 224×224 on
# Fashion-MNIST for 10 epochs (lr 0.1, batch 128) and prints its final test accuracy and throughput;
# its published runs reach 0.790 and 0.867 test accuracy at about 3,100 images/s, about 260 s for the
# 10 epochs, on one Tesla V100.
D2L_NIN = PublishedReference(
    label="Dive into Deep Learning",
    test_accuracies=(0.790, 0.867),
    images_per_second=3100.0,
    seconds_for_10_epochs=260.0,
    device="Tesla V100",
    epochs=10,
    learning_rate=0.1,
    batch_size=128,
    resolution=224,
    source="Zhang, Lipton, Li & Smola, Dive into Deep Learning, section 8.3 'Network in Network (NiN)', "
           "https://d2l.ai/chapter_convolutional-modern/nin.html",
)


@dataclass(frozen=True)
class ConfusedPair:
    """``count`` test images of class ``true`` were predicted as class ``predicted``. Explained in chapter 5."""

    true: int
    predicted: int
    count: int
    share_of_true: float  # count / number of test images of class ``true``


def _as_predictions(predictions_or_logits: torch.Tensor) -> torch.Tensor:
    """Accept class indices (N,) or logits (N, C)."""
    if predictions_or_logits.ndim == 2:
        return predictions_or_logits.argmax(dim=1)
    if predictions_or_logits.ndim == 1:
        return predictions_or_logits.long()
    raise ValueError(f"expected class indices (N,) or logits (N, C), got shape {tuple(predictions_or_logits.shape)}")


def _check_pair(predictions: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    predicted = _as_predictions(predictions).cpu()
    labels = labels.long().cpu()
    if predicted.shape != labels.shape:
        raise ValueError(f"{predicted.numel()} predictions for {labels.numel()} labels; pass one prediction per label")
    if labels.numel() == 0:
        raise ValueError("no labels given")
    return predicted, labels


def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of correct predictions; ``predictions`` are class indices (N,) or logits (N, C).

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    predicted, labels = _check_pair(predictions, labels)
    return (predicted == labels).float().mean().item()


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Counts ``C[i, j]`` of test images of true class ``i`` predicted as class ``j`` (int64, C×C).

    Rows sum to each class's number of images; the diagonal holds the correct predictions.
    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    predicted, labels = _check_pair(predictions, labels)
    for name, values in (("labels", labels), ("predictions", predicted)):
        if values.min() < 0 or values.max() >= num_classes:
            raise ValueError(f"{name} must lie in 0..{num_classes - 1}, got {values.min().item()}..{values.max().item()}")
    flat = labels * num_classes + predicted
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_accuracy(matrix: torch.Tensor) -> torch.Tensor:
    """Recall of each class from a confusion matrix: diagonal / row sum (NaN for a class with no images).

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    totals = matrix.sum(dim=1).double()
    return torch.where(totals > 0, matrix.diagonal().double() / totals.clamp(min=1), torch.full_like(totals, float("nan")))


def most_confused_pairs(matrix: torch.Tensor, k: int = 5) -> list[ConfusedPair]:
    """The ``k`` largest off-diagonal cells of a confusion matrix, largest first (ties: by true, then predicted).

    Pairs with a count of zero are left out, so fewer than ``k`` may come back.
    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a confusion matrix is square, got shape {tuple(matrix.shape)}")
    totals = matrix.sum(dim=1)
    cells = [
        (int(matrix[i, j]), i, j)
        for i in range(matrix.shape[0])
        for j in range(matrix.shape[1])
        if i != j and matrix[i, j] > 0
    ]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [ConfusedPair(i, j, count, count / int(totals[i])) for count, i, j in cells[:k]]


def misclassified_indices(
    predictions: torch.Tensor, labels: torch.Tensor, limit: int | None = None, pairs: Sequence[ConfusedPair] | None = None
) -> torch.Tensor:
    """Indices (ascending) of the images whose prediction is wrong, at most ``limit`` of them.

    With ``pairs``, only mistakes belonging to one of those (true, predicted) pairs are kept.
    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    predicted, labels = _check_pair(predictions, labels)
    wrong = predicted != labels
    if pairs is not None:
        in_pairs = torch.zeros_like(wrong)
        for pair in pairs:
            in_pairs |= (labels == pair.true) & (predicted == pair.predicted)
        wrong &= in_pairs
    indices = wrong.nonzero().flatten()
    return indices if limit is None else indices[:limit]


def examples_per_class(labels: torch.Tensor, per_class: int = 1, num_classes: int = 10) -> torch.Tensor:
    """Indices of the first ``per_class`` images of each class, class by class (for a labelled grid).

    Raises if a class has fewer images. Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    if per_class <= 0:
        raise ValueError(f"per_class must be positive, got {per_class}")
    chosen = []
    for c in range(num_classes):
        found = (labels == c).nonzero().flatten()[:per_class]
        if len(found) < per_class:
            raise ValueError(f"class {c} has only {len(found)} images, fewer than per_class={per_class}")
        chosen.append(found)
    return torch.cat(chosen)


# --- Runs: the live one on the page, and committed ones read from results/ ---------------------------


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
            history = metrics["history"]
            accuracies = tuple(float(r["test_accuracy"]) for r in history)
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


def repo_root(start: str | os.PathLike | None = None) -> Path:
    """The book's repository folder: the first of ``start`` (default: the working directory) and its
    parents that holds ``_toc.yml`` and ``nin_book/``; ``start`` itself if none does (e.g. in Colab).

    Chapters run from ``chapters/``, so results and checkpoints are found from here, not from ``.``.
    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "nin_book").is_dir():
            return folder
    return here


def find_committed_runs(root: str | os.PathLike, pattern: str = "seed224*.json") -> list[RunSummary]:
    """Every training-metrics JSON under ``root/results`` matching ``pattern`` (sorted by file name).

    These are runs committed to the repository with their provenance (device name, torch version),
    e.g. the ``seed224`` preset on a GPU. An empty list means none has been committed.
    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    runs = []
    for path in sorted((Path(root) / "results").glob(pattern)):
        metrics = json.loads(path.read_text())
        preset = metrics.get("config", {}).get("preset", "custom")
        runs.append(RunSummary.from_metrics(metrics, label=f"committed {preset} run", source=f"results/{path.name}"))
    return runs


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


def find_benchmarks(root: str | os.PathLike, pattern: str = "benchmark*.json") -> list[BenchmarkResult]:
    """Every committed throughput benchmark under ``root/results`` matching ``pattern`` (sorted by name).

    Explained in chapter 5, "Training NiN on Fashion-MNIST" (where the speed comes from).
    """
    return [BenchmarkResult.from_json(json.loads(path.read_text()), source=f"results/{path.name}")
            for path in sorted((Path(root) / "results").glob(pattern))]
