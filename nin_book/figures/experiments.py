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
from nin_book.experiments.variants import variant_label
from nin_book.figures.alt import with_alt
from nin_book.plots import CLASS_COLORS

__all__ = ["plot_shifted_accuracy", "plot_stall_runs", "plot_variant_accuracies"]

TEST_COLOR, TRAIN_COLOR = CLASS_COLORS[0], CLASS_COLORS[1]


def _mean(report: Mapping[str, Any], name: str, shift: int) -> float:
    return report["variants"][name]["summary"]["shifted_test_accuracy"][str(shift)]["mean"]


def _stall_summary(report: Mapping[str, Any], name: str, series: str) -> str:
    """One recipe's runs in words for the alt text: the range across seeds of the last value drawn."""
    key = "epoch_losses" if series == "loss" else "step_alive_class_map_fraction"
    last = [run[key][-1] for run in variant_runs(report, name)]
    what = "final loss" if series == "loss" else "final share"
    return f"{variant_label(name)} {what} {min(last):.3f} to {max(last):.3f}"


def plot_variant_accuracies(report: Mapping[str, Any], variants: Sequence[str], title: str | None = None) -> Figure:
    """Test and train accuracy of each variant: one dot per seed, mean ± std as an error bar, one row per variant.

    Explained in chapter 7, "The paper's claims, measured".
    """
    if not variants:
        raise ValueError("give at least one variant")
    fig, ax = plt.subplots(figsize=(8.0, 0.6 * len(variants) + 1.5))
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
    ax.set_yticks(range(len(variants)), [variant_label(name) for name in variants])
    ax.invert_yaxis()
    ax.set(xlabel="accuracy (%): dots are seeds, bars mean ± std", title=title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncols=2)
    fig.tight_layout()
    return with_alt(fig, "Test and train accuracy per variant, one dot per seed, with mean ± standard deviation: " + "; ".join(
        f"{variant_label(name)} test {100 * report['variants'][name]['summary']['final_test_accuracy']['mean']:.1f}%"
        for name in variants) + " (means).")


def plot_shifted_accuracy(report: Mapping[str, Any], variants: Sequence[str]) -> Figure:
    """Test accuracy against the shift k of the test images, one line per variant (mean ± std across seeds).

    Explained in chapter 7, "The paper's claims, measured".
    """
    shifts = list(report["settings"]["translation"]["shifts"])
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    for i, name in enumerate(variants):
        variant_runs(report, name)  # an unknown name fails here, naming the known ones
        per_k = [report["variants"][name]["summary"]["shifted_test_accuracy"][str(k)] for k in shifts]
        ax.errorbar(np.array(shifts) + (i - (len(variants) - 1) / 2) * 0.06, [100 * s["mean"] for s in per_k],
                    yerr=[100 * s["std"] for s in per_k], marker="o", capsize=3, color=CLASS_COLORS[i],
                    label=variant_label(name))
    ax.set(xlabel="shift k of every test image (pixels, zero fill)", ylabel="test accuracy (%)",
           title="Accuracy on shifted test images (mean ± std across seeds)")
    ax.set_xticks(shifts)
    ax.legend()
    fig.tight_layout()
    return with_alt(fig, f"Test accuracy against a shift of the test images by {shifts[0]} to {shifts[-1]} pixels, "
                    "one line per variant: "
                    + "; ".join(f"{variant_label(name)} from {100 * _mean(report, name, shifts[0]):.1f}% to "
                                f"{100 * _mean(report, name, shifts[-1]):.1f}%" for name in variants) + " (means across seeds).")


def plot_stall_runs(report: Mapping[str, Any], variants: Sequence[str], series: str = "loss",
                    columns: int = 3) -> Figure:
    """The stall runs, one panel per recipe (``columns`` to a row), one line per seed, against the training step.
    ``series="loss"``: each epoch's mean training loss at the epoch's last step, with ln 10 dashed.
    ``series="alive"``: at every step, the share of class-map values above zero (0 when every class map is dead).

    Explained in chapter 7, "The paper's claims, measured" (why training stalls at loss ln 10).
    """
    if not variants:
        raise ValueError("give at least one variant")
    if series not in ("loss", "alive"):
        raise ValueError(f"series must be 'loss' or 'alive', got {series!r}")
    columns = min(columns, len(variants))
    rows = -(-len(variants) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.0 * columns + 0.6, 2.7 * rows + 0.5), sharey=True,
                             squeeze=False)
    for ax, name in zip(axes.flat, variants, strict=False):
        for seed, run in enumerate(variant_runs(report, name)):
            color = CLASS_COLORS[seed % len(CLASS_COLORS)]
            if series == "loss":
                losses = run["epoch_losses"]
                per_epoch = len(run["step_logit_spreads"]) // len(losses)
                ax.plot([per_epoch * (e + 1) for e in range(len(losses))], losses, marker="o", markersize=3,
                        color=color, label=f"seed {run['seed']}")
            else:
                alive = run["step_alive_class_map_fraction"]
                ax.plot(range(1, len(alive) + 1), alive, color=color, linewidth=1, label=f"seed {run['seed']}")
        if series == "loss":
            ax.axhline(LN10, color="black", linestyle="--", linewidth=1)
        ax.set_title(variant_label(name))
        ax.set_xlabel("training step")
        ax.set_xlim(left=0)
    for ax in axes.flat[len(variants):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        if series == "loss":
            ax.set_ylabel("training loss, epoch mean\n(dashed: ln 10)")
            ax.set_ylim(bottom=0)
        else:
            ax.set_ylabel("share of class-map\nvalues above 0")
            ax.set_ylim(-0.02, 1.02)
    axes.flat[0].legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    return with_alt(fig, ("Training loss (epoch means) against the step, one panel per recipe and one line per seed, "
                          "with ln 10 dashed: "
         if series == "loss" else "Share of class-map values above zero at every step, one panel per recipe and one "
         "line per seed: ") + "; ".join(_stall_summary(report, name, series) for name in variants) + ".")
