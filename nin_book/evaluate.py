"""Judging a trained classifier: predictions, accuracy, the confusion matrix and the mistakes.

Pure logic on tensors (no drawing; the figures live in :mod:`nin_book.figures.eval`).
Explained in chapter 5, "Training NiN on Fashion-MNIST".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = [
    "ConfusedPair",
    "accuracy",
    "confusion_matrix",
    "examples_per_class",
    "misclassified_indices",
    "most_confused_pairs",
    "per_class_accuracy",
]


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
