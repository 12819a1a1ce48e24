"""Figures for chapter 7's experiments: accuracies across seeds, accuracy on shifted images, and the stall.

Drawing only; the numbers come from the JSON of ``python -m nin_book.experiments`` (read with
:func:`nin_book.results.load_experiments`) and :mod:`nin_book.experiments.summary`. Every figure shows each
seed as a dot and the mean ± standard deviation across seeds as an error bar, so the reader sees how far the
seeds spread. Explained in chapter 7, "The paper's claims, measured".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from nin_book.experiments.stall import LN10
from nin_book.experiments.summary import run_values, variant_runs
from nin_book.plots import CLASS_COLORS

__all__ = ["plot_shifted_accuracy", "plot_stall_runs", "plot_variant_accuracies"]

TEST_COLOR, TRAIN_COLOR = CLASS_COLORS[0], CLASS_COLORS[1]


def plot_variant_accuracies(report: Mapping[str, Any], variants: Sequence[str], title: str | None = None) -> Figure:
    """Test and train accuracy of each variant: one dot per seed, mean ± std as an error bar, one row per variant.

    Explained in chapter 7, "The paper's claims, measured".
    """
    if not variants:
        raise ValueError("give at least one variant")
    fig, ax = plt.subplots(figsize=(7.0, 0.55 * len(variants) + 1.3))
    for row, name in enumerate(variants):
        for key, color, offset, label in (("final_test_accuracy", TEST_COLOR, -0.12, "test"),
                                          ("final_train_accuracy", TRAIN_COLOR, 0.12, "train (10,000 seen images)")):
            values = 100 * np.array(run_values(report, name, key))
            if not len(values):
                continue
            spread = report["variants"][name]["summary"][key]  # mean and sample std across seeds, as in the tables
            ax.errorbar(100 * spread["mean"], row + offset, xerr=100 * spread["std"], fmt="|", markersize=12,
                        capsize=4, color=color, label=label if row == 0 else None)
            ax.plot(values, np.full(len(values), row + offset), "o", color=color, alpha=0.55, markersize=4)
    ax.set_yticks(range(len(variants)), variants)
    ax.invert_yaxis()
    ax.set(xlabel="accuracy (%): dots are seeds, bars mean ± std", title=title)
    ax.legend(loc="upper center", fontsize=8, bbox_to_anchor=(0.5, -0.22), ncols=2)
    fig.tight_layout()
    return fig


def plot_shifted_accuracy(report: Mapping[str, Any], variants: Sequence[str]) -> Figure:
    """Test accuracy against the shift k of the test images, one line per variant (mean ± std across seeds).

    Explained in chapter 7, "The paper's claims, measured".
    """
    shifts = list(report["settings"]["translation"]["shifts"])
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for i, name in enumerate(variants):
        variant_runs(report, name)  # an unknown name fails here, naming the known ones
        per_k = [report["variants"][name]["summary"]["shifted_test_accuracy"][str(k)] for k in shifts]
        ax.errorbar(np.array(shifts) + (i - (len(variants) - 1) / 2) * 0.06, [100 * s["mean"] for s in per_k],
                    yerr=[100 * s["std"] for s in per_k], marker="o", capsize=3, color=CLASS_COLORS[i], label=name)
    ax.set(xlabel="shift k of every test image (pixels, zero fill)", ylabel="test accuracy (%)",
           title="Accuracy on shifted test images (mean ± std across seeds)")
    ax.set_xticks(shifts)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_stall_runs(report: Mapping[str, Any], variants: Sequence[str]) -> Figure:
    """The stall runs, one column per recipe, one line per seed. Top: mean training loss per epoch, with ln 10
    dashed. Bottom: at every step, the share of class-map values above zero (0 when every class map is dead).

    Explained in chapter 7, "The paper's claims, measured" (why training stalls at loss ln 10).
    """
    if not variants:
        raise ValueError("give at least one variant")
    fig, axes = plt.subplots(2, len(variants), figsize=(2.1 * len(variants) + 0.8, 4.6), sharex="row", sharey="row",
                             squeeze=False)
    for column, name in enumerate(variants):
        ax_loss, ax_alive = axes[0, column], axes[1, column]
        for seed, run in enumerate(variant_runs(report, name)):
            color = CLASS_COLORS[seed]
            losses = run["epoch_losses"]
            ax_loss.plot(range(1, len(losses) + 1), losses, marker="o", markersize=3, color=color,
                         label=f"seed {run['seed']}")
            alive = run["step_alive_class_map_fraction"]
            ax_alive.plot(range(1, len(alive) + 1), alive, color=color, linewidth=1)
        ax_loss.axhline(LN10, color="black", linestyle="--", linewidth=1)
        ax_loss.set_title(name, fontsize=9)
        ax_loss.xaxis.get_major_locator().set_params(integer=True)
        ax_loss.set_xlabel("epoch (50 steps)", fontsize=8)
        ax_alive.set_xlabel("training step", fontsize=8)
    axes[0, 0].set_ylabel("mean training loss\n(dashed: ln 10)")
    axes[0, 0].set_ylim(bottom=0)
    axes[1, 0].set_ylabel("share of class-map\nvalues above 0")
    axes[1, 0].set_ylim(-0.02, 1.02)
    axes[0, -1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig
