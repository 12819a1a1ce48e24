"""Figures for training and evaluation: labelled image grids, learning curves, confusion matrix.

Drawing only; the numbers come from :mod:`nin_book.evaluate` and the training engine. Each function
returns its matplotlib ``Figure`` and uses whatever style is active (the chapter applies
``nin_book.plots.apply_book_style()``). Figures are at most :data:`PAGE_WIDTH` inches wide, the book's article
column at 100 dpi, so their text is drawn at the size it is read; every axis names what it counts, and accuracy axes
span the accuracies drawn, not 0 to 1. Explained in chapter 5, "Training NiN on Fashion-MNIST".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nin_book.figures.alt import with_alt
from nin_book.plots import CLASS_COLORS

__all__ = [
    "PAGE_WIDTH",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_run_comparison",
    "show_image_grid",
]

WRONG_COLOR = "#D55E00"  # the palette's vermilion: mistakes
RIGHT_COLOR = "#009E73"  # the palette's green: correct
PAGE_WIDTH = 9.0  # inches: about 900 px at the book's 100 dpi, the width of the article column
CHANCE_LABEL = "chance (10 classes)"


def show_image_grid(
    images: torch.Tensor,
    labels: Sequence[int] | torch.Tensor,
    class_names: Sequence[str],
    predictions: Sequence[int] | torch.Tensor | None = None,
    ncols: int = 10,
    scale: float = 1.15,
    title: str | None = None,
) -> Figure:
    """A grid of grey images titled with their class names.

    With ``predictions``, each title reads "pred: … / true: …" and is coloured by whether the
    prediction is right. ``images`` are (N, H, W) of any numeric type. Explained in chapter 5.
    """
    n = len(images)
    if n == 0:
        raise ValueError("no images to show")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    side = min(scale, PAGE_WIDTH / ncols)  # never wider than the page, where it would be shrunk, text and all
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, side * nrows * 1.3 + (0.3 if title else 0)),
                             squeeze=False)
    labels = [int(v) for v in labels]
    preds = None if predictions is None else [int(v) for v in predictions]
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i].float().cpu().numpy(), cmap="gray")  # as stored: bright cloth on black, as everywhere
        if preds is None:
            ax.set_title(class_names[labels[i]], fontsize=9)
        else:
            ok = preds[i] == labels[i]
            ax.set_title(f"pred: {class_names[preds[i]]}\ntrue: {class_names[labels[i]]}", fontsize=9,
                         color=RIGHT_COLOR if ok else WRONG_COLOR)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if preds is None:
        return with_alt(fig, f"{n} Fashion-MNIST images, titled " + ", ".join(class_names[v] for v in labels))
    pairs = list(zip(preds, labels, strict=True))
    return with_alt(fig, f"{n} Fashion-MNIST images, each with the predicted and the true class "
                    f"({sum(p == t for p, t in pairs)} right): "
                    + ", ".join(f"predicted {class_names[p]}, true {class_names[t]}" for p, t in pairs))


def plot_learning_curves(
    train_loss: Sequence[float],
    train_accuracy: Sequence[float],
    test_accuracy: Sequence[float],
    title: str | None = None,
) -> Figure:
    """Two panels per epoch: training loss, and training and test accuracy.

    The accuracy axis spans the accuracies drawn (with a margin), so that a run from 0.73 to 0.94 is not flattened
    against a 0-1 axis; the chance line is drawn only where it falls inside that span. Explained in chapter 5.
    """
    if not (len(train_loss) == len(train_accuracy) == len(test_accuracy)) or not train_loss:
        raise ValueError("train_loss, train_accuracy and test_accuracy need one value per epoch, same lengths")
    epochs = np.arange(1, len(train_loss) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8.0, 3.2))
    ax_loss.plot(epochs, train_loss, marker="o", label="train loss")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy per image (nats)", title="Training loss")
    ax_acc.plot(epochs, train_accuracy, marker="o", label="train accuracy", color=CLASS_COLORS[0])
    ax_acc.plot(epochs, test_accuracy, marker="s", label="test accuracy", color=CLASS_COLORS[1])
    ax_acc.set(xlabel="epoch", ylabel="accuracy (share of images right)", title="Accuracy",
               ylim=_accuracy_span([*train_accuracy, *test_accuracy]))
    if ax_acc.get_ylim()[0] <= 0.1:
        ax_acc.axhline(0.1, color=CLASS_COLORS[8], linestyle=":", label=CHANCE_LABEL)
    ax_acc.legend(loc="best")
    for ax in (ax_loss, ax_acc):
        ax.set_xticks(epochs if len(epochs) <= 12 else np.linspace(1, len(epochs), 6).round())
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return with_alt(fig, f"Learning curves over {len(epochs)} epochs: training loss from {train_loss[0]:.3f} to "
                    f"{train_loss[-1]:.3f}; "
                    f"training accuracy from {train_accuracy[0]:.1%} to {train_accuracy[-1]:.1%} and test accuracy from "
                    f"{test_accuracy[0]:.1%} to {test_accuracy[-1]:.1%}.")


def plot_run_comparison(histories: Mapping[str, Sequence[Mapping[str, float]]], title: str | None = None) -> Figure:
    """Test accuracy of several runs, per epoch and against wall-clock minutes, one line per run.

    ``histories`` maps a run's label to its per-epoch records (``test_accuracy``, and ``wall_seconds`` counted from
    the start of the run), as ``CommittedRun.history`` gives them. Explained in chapter 5, where the network of
    chapters 2-4 is trained beside the ``cpu`` one.
    """
    if not histories or any(not records for records in histories.values()):
        raise ValueError("give at least one run, each with at least one epoch")
    rows = math.ceil(len(histories) / 2)  # legend rows under the panels
    fig, (ax_epoch, ax_time) = plt.subplots(1, 2, figsize=(8.0, 3.2 + 0.3 * rows), sharey=True)
    markers = "os^Dv"
    for i, (label, records) in enumerate(histories.items()):
        accuracy = [r["test_accuracy"] for r in records]
        style = {"marker": markers[i % len(markers)], "color": CLASS_COLORS[i % len(CLASS_COLORS)], "label": label}
        ax_epoch.plot(range(1, len(records) + 1), accuracy, **style)
        ax_time.plot([r["wall_seconds"] / 60 for r in records], accuracy, **style)
    ax_epoch.set(xlabel="epoch", ylabel="test accuracy (share of images right)", title="Per epoch",
                 ylim=_accuracy_span([r["test_accuracy"] for records in histories.values() for r in records]))
    ax_time.set(xlabel="wall-clock minutes since the start", title="Against time")
    ax_epoch.xaxis.set_major_locator(MaxNLocator(integer=True))
    # One legend under both panels, where it hides no line whatever the runs do.
    handles, labels = ax_epoch.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 2))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.09 * rows, 1, 1))
    return with_alt(fig, "Test accuracy per epoch and against wall-clock minutes for " + "; ".join(
        f"{label}: {r[-1]['test_accuracy']:.1%} after {len(r)} epochs and {r[-1]['wall_seconds'] / 60:.1f} minutes"
        for label, r in histories.items()) + ".")


def _accuracy_span(accuracies: Sequence[float]) -> tuple[float, float]:
    """An accuracy axis around the values drawn: a tenth of their range (at least 0.02) on either side, within 0-1."""
    low, high = min(accuracies), max(accuracies)
    margin = max(0.1 * (high - low), 0.02)
    return max(0.0, low - margin), min(1.0, high + margin)


def plot_confusion_matrix(matrix: torch.Tensor, class_names: Sequence[str], title: str | None = None) -> Figure:
    """The confusion matrix as a heat map of row shares (each true class sums to 1), counts written in.

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    counts = matrix.cpu().numpy()
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(7.2, 6.2))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.grid(False)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set(xlabel="predicted class", ylabel="true class", title=title or "Confusion matrix (test set)")
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=9,
                        color="white" if shares[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    return with_alt(fig, "Confusion matrix heat map, true class by row and predicted class by column; share of each "
                    "class predicted right: "
                    + ", ".join(f"{name} {shares[i, i]:.0%}" for i, name in enumerate(class_names)) + ".")
