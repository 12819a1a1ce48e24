"""Figures for training and evaluation: labelled image grids, learning curves, confusion matrix, run comparison.

Drawing only; the numbers come from :mod:`nin_book.evaluate` and the training engine. Each function
returns its matplotlib ``Figure`` and uses whatever style is active (the chapter applies
``nin_book.plots.apply_book_style()``). Explained in chapter 5, "Training NiN on Fashion-MNIST".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from nin_book.literature import D2L_NIN, PublishedReference
from nin_book.plots import CLASS_COLORS
from nin_book.results import RunSummary

__all__ = [
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_run_comparison",
    "show_image_grid",
]

WRONG_COLOR = "#D55E00"  # the palette's vermilion: mistakes
RIGHT_COLOR = "#009E73"  # the palette's green: correct


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
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, scale * nrows * 1.25 + (0.3 if title else 0)),
                             squeeze=False)
    labels = [int(v) for v in labels]
    preds = None if predictions is None else [int(v) for v in predictions]
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i].float().cpu().numpy(), cmap="gray")  # as stored: bright cloth on black, as everywhere
        if preds is None:
            ax.set_title(class_names[labels[i]], fontsize=8)
        else:
            ok = preds[i] == labels[i]
            ax.set_title(f"pred: {class_names[preds[i]]}\ntrue: {class_names[labels[i]]}", fontsize=7,
                         color=RIGHT_COLOR if ok else WRONG_COLOR)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_learning_curves(
    train_loss: Sequence[float],
    train_accuracy: Sequence[float],
    test_accuracy: Sequence[float],
    title: str | None = None,
) -> Figure:
    """Two panels per epoch: training loss, and training and test accuracy. Explained in chapter 5."""
    if not (len(train_loss) == len(train_accuracy) == len(test_accuracy)) or not train_loss:
        raise ValueError("train_loss, train_accuracy and test_accuracy need one value per epoch, same lengths")
    epochs = np.arange(1, len(train_loss) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8.0, 3.2))
    ax_loss.plot(epochs, train_loss, marker="o", label="train loss")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Training loss")
    ax_acc.plot(epochs, train_accuracy, marker="o", label="train accuracy", color=CLASS_COLORS[0])
    ax_acc.plot(epochs, test_accuracy, marker="s", label="test accuracy", color=CLASS_COLORS[1])
    ax_acc.axhline(0.1, color=CLASS_COLORS[8], linestyle=":", label="chance (10 classes)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy", ylim=(0, 1))
    ax_acc.legend(loc="best")
    for ax in (ax_loss, ax_acc):
        ax.set_xticks(epochs if len(epochs) <= 12 else np.linspace(1, len(epochs), 6).round())
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(matrix: torch.Tensor, class_names: Sequence[str], title: str | None = None) -> Figure:
    """The confusion matrix as a heat map of row shares (each true class sums to 1), counts written in.

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    counts = matrix.cpu().numpy()
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.grid(False)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set(xlabel="predicted class", ylabel="true class", title=title or "Confusion matrix (test set)")
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    return fig


def plot_run_comparison(runs: Sequence[RunSummary], reference: PublishedReference = D2L_NIN) -> Figure:
    """Test accuracy per epoch and training speed of our runs beside a published reference.

    Left: each run's test accuracy by epoch, with the reference's final accuracies as dashed lines.
    Right: images per second on a linear scale, each bar labelled with its ratio to the reference (hatched,
    "published"), so bar lengths compare truthfully.
    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    if not runs:
        raise ValueError("give at least one run to compare")
    fig, (ax_acc, ax_speed) = plt.subplots(1, 2, figsize=(9.0, 3.6), gridspec_kw={"width_ratios": [1.3, 1]})
    for i, run in enumerate(runs):
        epochs = np.arange(1, len(run.test_accuracy) + 1)
        label = f"{run.label} ({_short_device(run.device_name)})"
        ax_acc.plot(epochs, run.test_accuracy, marker="o", color=CLASS_COLORS[i], label=label)
    for j, acc in enumerate(reference.test_accuracies):
        ax_acc.axhline(acc, color=CLASS_COLORS[8], linestyle="--",
                       label=f"{reference.label}, published" if j == 0 else None)
        ax_acc.annotate(f"{acc:.3f}", (1.0, acc), xycoords=("axes fraction", "data"), fontsize=8,
                        xytext=(2, 0), textcoords="offset points", va="center", color=CLASS_COLORS[8])
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="Test accuracy", ylim=(0, 1))
    ax_acc.xaxis.get_major_locator().set_params(integer=True)
    ax_acc.legend(loc="best", fontsize=8)

    labels = [run.label for run in runs] + [f"{reference.label}\n({reference.device})"]
    speeds = [run.images_per_second for run in runs] + [reference.images_per_second]
    bars = ax_speed.barh(range(len(speeds)), speeds, color=[CLASS_COLORS[i] for i in range(len(runs))] + ["white"],
                         edgecolor=[CLASS_COLORS[i] for i in range(len(runs))] + [CLASS_COLORS[8]])
    bars[-1].set_hatch("//")
    ax_speed.set_yticks(range(len(speeds)), labels, fontsize=8)
    ax_speed.invert_yaxis()
    ax_speed.set(xlabel="training images per second", title="Speed")
    for y, v in enumerate(speeds):
        ratio = "" if y == len(speeds) - 1 else f"  ({v / reference.images_per_second:.2f}× the published)"
        ax_speed.annotate(f"{v:,.0f}{ratio}", (v, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax_speed.set_xlim(0, max(speeds) * 1.9)  # room for the labels
    fig.tight_layout()
    return fig


def _short_device(name: str) -> str:
    # CPU names carry core counts in parentheses; the legend needs only the model.
    return name.split(" (")[0]
