"""Figures for NiN's class confidence maps: the ten maps laid over the image, one map's cells, the averages.

Drawing only; the maps come from :mod:`nin_book.confidence`. Each function returns its matplotlib
``Figure``. Explained in chapter 6, "Reading NiN's class confidence maps".
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from nin_book.plots import CLASS_COLORS

__all__ = ["plot_averaged_maps", "plot_evidence_on_object", "show_class_averages", "show_class_maps", "show_map_cells"]

TRUE_COLOR = "#009E73"  # green frame: the true class
PRED_COLOR = "#D55E00"  # vermilion frame: the predicted class, when it is wrong
MAP_CMAP = "inferno"  # a map on its own (its cells written in)
OVERLAY_CMAP = "YlOrRd"  # a map laid over a grey image: warm colours stay distinct from the grey


def _overlay(ax, values: np.ndarray, vmax: float, vmin: float = 0.0) -> None:
    """Lay ``values`` over what ``ax`` shows: colour and opacity both grow from ``vmin`` to ``vmax``, so where the
    map is low the image shows through unchanged (an even alpha over grey turns every colour muddy)."""
    share = np.clip((values - vmin) / (vmax - vmin), 0.0, 1.0) if vmax > vmin else np.zeros_like(values)
    rgba = plt.get_cmap(OVERLAY_CMAP)(share)
    rgba[..., 3] = 0.9 * share
    ax.imshow(rgba)


def _overlay_colorbar(fig: Figure, axes, vmax: float, label: str = "map value") -> None:
    fig.colorbar(ScalarMappable(Normalize(0, vmax), cmap=OVERLAY_CMAP), ax=axes, fraction=0.02, pad=0.01, label=label)


def _frame(ax, color: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color(color)
        spine.set_linewidth(3)


def show_class_maps(
    image: torch.Tensor,
    maps: torch.Tensor,
    class_names: Sequence[str],
    averaged: torch.Tensor,
    true_label: int | None = None,
    classes: Sequence[int] | None = None,
    title: str | None = None,
) -> Figure:
    """The image, then each class's map (upsampled to the image, (C, H, W)) laid over it.

    All maps share one colour scale, so the map that lights up stands out. Each panel is titled with
    the class and its averaged map (its logit); the predicted class is the largest average. The true
    class is framed green, a wrong prediction vermilion. ``classes`` picks a subset of panels.
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if maps.ndim != 3 or maps.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"maps must be (C, H, W) at the image's size {tuple(image.shape[-2:])}, got {tuple(maps.shape)}; "
                         "upsample them with nin_book.confidence.upsample_maps")
    chosen = list(range(maps.shape[0])) if classes is None else list(classes)
    predicted = int(averaged.argmax())
    img = image.float().cpu().numpy()
    vmax = float(maps[chosen].max()) or 1.0
    ncols = 1 + (len(chosen) + 1) // 2 if len(chosen) > 4 else 1 + len(chosen)
    nrows = 2 if len(chosen) > 4 else 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.55 * ncols, 1.8 * nrows + 0.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].imshow(img, cmap="gray")
    axes[0, 0].set_title("image" if true_label is None else f"image\n({class_names[true_label]})", fontsize=8)
    panels = [ax for r in range(nrows) for ax in axes[r, 1:]]
    for ax, c in zip(panels, chosen, strict=False):  # a 2-row grid may have one spare panel
        ax.axis("on")
        ax.imshow(img, cmap="gray")
        _overlay(ax, maps[c].cpu().numpy(), vmax)
        mark = " ◀" if c == predicted else ""
        ax.set_title(f"{class_names[c]}\nmean {float(averaged[c]):.2f}{mark}", fontsize=8,
                     fontweight="bold" if c == predicted else "normal")
        color = TRUE_COLOR if c == true_label else (PRED_COLOR if c == predicted else "none")
        _frame(ax, color)
    _overlay_colorbar(fig, axes.ravel().tolist(), vmax)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def show_map_cells(cells: torch.Tensor, class_name: str, logit: float | None = None) -> Figure:
    """One class's map at its own resolution (h × w), every cell's value written in, and its mean.

    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if cells.ndim != 2:
        raise ValueError(f"expected one map of shape (h, w), got {tuple(cells.shape)}")
    values = cells.float().cpu().numpy()
    h, w = values.shape
    fig, ax = plt.subplots(figsize=(min(0.75 * w + 1.6, 7.0), min(0.75 * h + 0.9, 6.0)))
    image = ax.imshow(values, cmap=MAP_CMAP, vmin=0)
    ax.grid(False)
    ax.set_xticks([])
    ax.set_yticks([])
    if h * w <= 64:  # write values only where they stay legible
        for i in range(h):
            for j in range(w):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if values[i, j] > 0.6 * values.max() else "white")
    title = f"'{class_name}' map, {h}×{w}: mean {values.mean():.3f}"
    if logit is not None:
        title += f"\nlogit from the model: {logit:.3f}"
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def plot_averaged_maps(averaged: torch.Tensor, class_names: Sequence[str], true_label: int | None = None,
                       title: str | None = None) -> Figure:
    """Bar chart of the ten averaged maps (the logits) and the softmax probabilities they give.

    The tallest bar is the prediction: softmax is increasing, so it never changes which is largest.
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    values = averaged.float().cpu()
    probs = torch.softmax(values, dim=0).numpy()
    values = values.numpy()
    predicted = int(np.argmax(values))
    colors = [TRUE_COLOR if c == true_label else (PRED_COLOR if c == predicted else CLASS_COLORS[0])
              for c in range(len(values))]
    fig, (ax_mean, ax_prob) = plt.subplots(1, 2, figsize=(8.5, 3.0), sharey=True)
    ax_mean.barh(range(len(values)), values, color=colors)
    ax_mean.set_yticks(range(len(values)), class_names, fontsize=8)
    ax_mean.invert_yaxis()
    ax_mean.set(xlabel="averaged map = logit", title="Global average pooling")
    ax_prob.barh(range(len(values)), probs, color=colors)
    ax_prob.set(xlabel="softmax probability", title="Softmax", xlim=(0, 1))
    handles = [Patch(color=TRUE_COLOR, label="true class")] if true_label is not None else []
    if true_label is not None and predicted != true_label:
        handles.append(Patch(color=PRED_COLOR, label="prediction (wrong)"))
    if handles:
        ax_prob.legend(handles=handles, loc="lower right", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_evidence_on_object(area: torch.Tensor, on_object: torch.Tensor, correct: torch.Tensor | None = None) -> Figure:
    """Each image as a point: the garment's share of the image (x) against the share of its true-class map's
    evidence that falls on the garment (y). On the diagonal a map ignores where the garment is; above it,
    the map concentrates on the garment. ``correct`` (bool, N) colours right and wrong predictions.

    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    x, y = area.cpu().numpy(), on_object.cpu().numpy()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    if correct is None:
        ax.scatter(x, y, s=10, alpha=0.6, color=CLASS_COLORS[0])
    else:
        ok = correct.cpu().numpy().astype(bool)
        ax.scatter(x[ok], y[ok], s=10, alpha=0.6, color=CLASS_COLORS[0], label="predicted right")
        ax.scatter(x[~ok], y[~ok], s=14, alpha=0.8, color=PRED_COLOR, marker="x", label="predicted wrong")
        ax.legend(loc="lower right")
    ax.plot([0, 1], [0, 1], color=CLASS_COLORS[8], linestyle="--", linewidth=1)
    ax.annotate("evidence spread evenly", (0.62, 0.55), rotation=42, color=CLASS_COLORS[8], fontsize=8)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="garment's share of the image",
           ylabel="share of the true class's map\non the garment", title="Where the evidence sits")
    ax.set_aspect("equal")
    fig.tight_layout()
    return fig


def show_class_averages(mean_images: torch.Tensor, mean_maps: torch.Tensor, class_names: Sequence[str]) -> Figure:
    """For each class, its average test image with its own map averaged over those images laid on top.

    ``mean_images`` and ``mean_maps`` are (C, H, W) at the same size; each panel has its own colour
    scale, from its lowest to its highest value (the question is *where* the evidence sits, not how much).
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if mean_images.shape != mean_maps.shape or mean_maps.ndim != 3:
        raise ValueError(f"mean_images {tuple(mean_images.shape)} and mean_maps {tuple(mean_maps.shape)} "
                         "must have the same shape (C, H, W)")
    k = len(class_names)
    ncols = 5
    nrows = -(-k // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.7 * ncols, 1.9 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for c, ax in zip(range(k), axes.flat, strict=False):
        if torch.isnan(mean_maps[c]).all():
            ax.set_title(f"{class_names[c]}\n(no images)", fontsize=8)
            continue
        ax.imshow(mean_images[c].cpu().numpy(), cmap="gray")
        values = mean_maps[c].cpu().numpy()
        # Each class on its own scale, lowest to highest value: the question is where, not how much.
        _overlay(ax, values, float(np.nanmax(values)), float(np.nanmin(values)))
        ax.set_title(class_names[c], fontsize=8)
    fig.tight_layout()
    return fig
