"""Figures for NiN's class confidence maps: the ten maps laid over the image, one map's cells, the averages,
the controls, occlusion and the effective receptive field.

Drawing only; the maps come from :mod:`nin_book.confidence`, occlusion and gradients from
:mod:`nin_book.sensitivity`. Each function returns its matplotlib ``Figure``. Wherever panels are compared they
share one colour scale, shown by a colour bar. Explained in chapter 6, "Reading NiN's class confidence maps".
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from nin_book.figures.alt import with_alt
from nin_book.plots import CLASS_COLORS

__all__ = [
    "plot_agreement",
    "plot_averaged_maps",
    "plot_controls_by_class",
    "plot_effective_receptive_field",
    "plot_evidence_against_control",
    "show_class_averages",
    "show_class_maps",
    "show_map_cells",
    "show_occlusion",
]

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


def _overlay_colorbar(fig: Figure, axes, vmax: float, label: str = "map value", vmin: float = 0.0,
                      fraction: float = 0.02):
    return fig.colorbar(ScalarMappable(Normalize(vmin, vmax), cmap=OVERLAY_CMAP), ax=axes, fraction=fraction,
                        pad=0.01, label=label)


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
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.45 * ncols + 0.6, 1.75 * nrows + 0.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].imshow(img, cmap="gray")
    axes[0, 0].set_title("image" if true_label is None else f"image\n({class_names[true_label]})", fontsize=9)
    panels = [ax for r in range(nrows) for ax in axes[r, 1:]]
    for ax, c in zip(panels, chosen, strict=False):  # a 2-row grid may have one spare panel
        ax.axis("on")
        ax.imshow(img, cmap="gray")
        _overlay(ax, maps[c].cpu().numpy(), vmax)
        mark = " ◀" if c == predicted else ""
        ax.set_title(f"{class_names[c]}\nmean {float(averaged[c]):.2f}{mark}", fontsize=9,
                     fontweight="bold" if c == predicted else "normal")
        color = TRUE_COLOR if c == true_label else (PRED_COLOR if c == predicted else "none")
        _frame(ax, color)
    _overlay_colorbar(fig, axes.ravel().tolist(), vmax, label="map value (one scale)",
                      fraction=0.04 if nrows == 1 else 0.02)
    if title:  # above the panels' two-line titles
        fig.suptitle(title, fontsize=10, y=1.1 if nrows == 1 else 0.98)
    true_class = "" if true_label is None else f" (true class: {class_names[true_label]})"
    return with_alt(fig, f"The image{true_class}, then each class's "
                    "confidence map laid over it on one colour scale, titled with its mean (the logit): "
                    + ", ".join(f"{class_names[c]} {float(averaged[c]):.2f}" for c in chosen)
                    + f"; predicted {class_names[predicted]}.")


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
    ax.set_xticks(range(w))
    ax.set_yticks(range(h))
    ax.tick_params(length=0, labelsize=8)
    ax.set(xlabel="map column", ylabel="map row")
    if h * w <= 64:  # write values only where they stay legible
        for i in range(h):
            for j in range(w):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if values[i, j] > 0.6 * values.max() else "white")
    title = f"'{class_name}' map, {h}×{w}: mean {values.mean():.3f}"
    if logit is not None:
        title += f"\nlogit from the model: {logit:.3f}"
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="cell value")
    fig.tight_layout()
    return with_alt(fig, f"The {class_name!r} class map at its own resolution, {h}×{w} cells"
                    + (" with each value written in" if h * w <= 64 else "")
                    + f", from {values.min():.2f} to {values.max():.2f}; mean {values.mean():.3f}.")


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
    return with_alt(fig, "Horizontal bars per class of the averaged map (the logit) and its softmax probability: "
                    + ", ".join(f"{name} {values[c]:.2f} ({probs[c]:.0%})" for c, name in enumerate(class_names))
                    + f"; predicted {class_names[predicted]}"
                    + ("" if true_label is None else f", true class {class_names[true_label]}") + ".")


def plot_evidence_against_control(area: torch.Tensor, own: torch.Tensor, control: torch.Tensor) -> Figure:
    """Each image twice: how much more of the true class's evidence falls on a garment than the garment's area,
    on its own garment (``own``) and on other images' garments (``control``, the mean over shuffles), against
    the garment's area (x). All three (N,) are shares of 1; drawn in percent.

    Zero is an even spread; a map that merely peaks in the middle of the image lies as far above zero on the
    other garments as on its own. Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    x = 100 * area.cpu().numpy()
    own_pp, control_pp = 100 * own.cpu().numpy(), 100 * control.cpu().numpy()
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    ax.scatter(x, control_pp, s=9, alpha=0.45, color=CLASS_COLORS[8], label="on other images' garments (control)")
    ax.scatter(x, own_pp, s=9, alpha=0.6, color=CLASS_COLORS[0], label="on its own garment")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.annotate("even spread", (float(np.nanmax(x)), 0), xytext=(0, 3), textcoords="offset points",
                ha="right", fontsize=9)
    ax.set(xlabel="garment's share of the image (%)",
           ylabel="share of the true class's\nevidence on the garment,\nless its area (points)",
           title="The true class's map: own garment against a shuffled garment")
    ax.legend(loc="lower left", fontsize=9, markerscale=2)
    fig.tight_layout()
    return with_alt(fig, f"Scatter plot of {len(x)} images against the garment's share of the image: the true class's excess "
                    f"evidence on its own garment (median {np.nanmedian(own_pp):.1f} points) and on other images' "
                    f"garments (median {np.nanmedian(control_pp):.1f} points); zero is an even spread.")


def plot_controls_by_class(class_names: Sequence[str], own: Sequence[float], control: Sequence[float],
                           others: Sequence[float], beats: Sequence[tuple[float, float, float]]) -> Figure:
    """Per class: the excess of evidence on the garment (percentage points, shares of 1 drawn in percent) for the
    true class's map on its own garment, on other images' garments, and for the other classes' maps on the same
    garment (left); and the share of the class's images whose own-garment excess beats the shuffled control, with
    its 95% interval, ``beats`` = (share, low, high) per class (right).

    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    k = len(class_names)
    y = np.arange(k)
    fig, (ax, ax_beat) = plt.subplots(1, 2, figsize=(8.6, 3.9), sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    ax.axvline(0, color="black", linewidth=0.8)
    ax.scatter(100 * np.asarray(others), y, marker="s", s=30, color=CLASS_COLORS[1],
               label="other classes' maps, same garment")
    ax.scatter(100 * np.asarray(control), y, marker="D", s=30, color=CLASS_COLORS[8],
               label="true class's map, other garments")
    ax.scatter(100 * np.asarray(own), y, marker="o", s=36, color=CLASS_COLORS[0], label="true class's map, own garment")
    ax.set_yticks(y, class_names)
    ax.invert_yaxis()
    ax.set(xlabel="evidence on the garment less its area (points)", title="Excess on the garment, class means")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8.5, ncol=1)
    share = np.array([b[0] for b in beats])
    err = np.array([[b[0] - b[1] for b in beats], [b[2] - b[0] for b in beats]])
    ax_beat.errorbar(100 * share, y, xerr=100 * err, fmt="o", color=CLASS_COLORS[0], capsize=3)
    ax_beat.axvline(50, color="black", linewidth=0.8, linestyle="--")
    ax_beat.annotate("coin toss", (50, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -10),
                     textcoords="offset points", fontsize=9)
    ax_beat.set(xlim=(0, 100), xlabel="images where own garment\nbeats the control (%, 95% interval)",
                title="Own garment vs control")
    fig.tight_layout()
    beaten = ", ".join(f"{name} {100 * b[0]:.0f}%" for name, b in zip(class_names, beats, strict=True))
    return with_alt(fig, "Per class, the excess evidence on the garment for the true class's map on its own garment, "
                    "on other images' garments and for the other classes' maps; and the share of images where the own "
                    "garment beats the control: " + beaten
                    + ".")


def show_class_averages(mean_images: torch.Tensor, mean_maps: torch.Tensor, class_names: Sequence[str]) -> Figure:
    """For each class, its average test image with its own map averaged over those images laid on top.

    ``mean_images`` and ``mean_maps`` are (C, H, W) at the same size; every panel is on one colour scale,
    from 0 to the largest value of any class, with a colour bar, so both where the evidence sits and how
    much there is compare across panels. Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if mean_images.shape != mean_maps.shape or mean_maps.ndim != 3:
        raise ValueError(f"mean_images {tuple(mean_images.shape)} and mean_maps {tuple(mean_maps.shape)} "
                         "must have the same shape (C, H, W)")
    k = len(class_names)
    ncols = 5
    nrows = -(-k // ncols)
    vmax = float(np.nanmax(mean_maps.cpu().numpy())) if not torch.isnan(mean_maps).all() else 1.0
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.65 * ncols + 1.0, 1.85 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for c, ax in zip(range(k), axes.flat, strict=False):
        if torch.isnan(mean_maps[c]).all():
            ax.set_title(f"{class_names[c]}\n(no images)", fontsize=9)
            continue
        ax.imshow(mean_images[c].cpu().numpy(), cmap="gray")
        _overlay(ax, mean_maps[c].cpu().numpy(), vmax)
        ax.set_title(class_names[c], fontsize=9)
    _overlay_colorbar(fig, axes.ravel().tolist(), vmax, label="mean map value\n(one scale)", fraction=0.03)
    return with_alt(fig, f"The average test image of each of {k} classes with its own class map averaged over those "
                    "images laid on top, one colour scale: " + ", ".join(class_names) + ".")


def show_occlusion(images: torch.Tensor, maps: torch.Tensor, drops: torch.Tensor, titles: Sequence[str]) -> Figure:
    """A few images (columns): the image, its true class's map over it, and the fall in the true logit when a patch
    centred near each pixel is covered (rows). ``images``, ``maps``, ``drops`` are (K, H, W).

    Each row has one colour scale for all its panels and a colour bar; a covered patch that *raised* the logit
    shows as no fall. Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if not images.shape == maps.shape == drops.shape or images.ndim != 3:
        raise ValueError(f"images {tuple(images.shape)}, maps {tuple(maps.shape)} and drops {tuple(drops.shape)} "
                         "must all be (K, H, W)")
    k = len(images)
    map_max = float(maps.max()) or 1.0
    drop_max = float(np.nanmax(drops.cpu().numpy())) if float(np.nanmax(drops.cpu().numpy())) > 0 else 1.0
    fig, axes = plt.subplots(3, k, figsize=(1.55 * k + 1.3, 5.2), squeeze=False)
    rows = ("image", "true class's map", "fall when covered")
    for j in range(k):
        img = images[j].cpu().numpy()
        for i in range(3):
            axes[i, j].imshow(img, cmap="gray")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            axes[i, j].grid(False)
        _overlay(axes[1, j], maps[j].cpu().numpy(), map_max)
        _overlay(axes[2, j], np.nan_to_num(drops[j].cpu().numpy()), drop_max)
        axes[0, j].set_title(titles[j], fontsize=9)
    for i, name in enumerate(rows):
        axes[i, 0].set_ylabel(name, fontsize=9)
    _overlay_colorbar(fig, axes[1].tolist(), map_max, label="map value", fraction=0.03)
    _overlay_colorbar(fig, axes[2].tolist(), drop_max, label="fall in the\ntrue logit", fraction=0.03)
    return with_alt(fig, f"{k} images in columns (" + ", ".join(titles) + "); rows: the image, its true class's map over it, and "
                    "how far the true logit falls when a patch around each pixel is covered.")


def plot_agreement(rho: dict[str, torch.Tensor]) -> Figure:
    """Distributions of per-image rank agreement (Spearman's ρ) between the occlusion drops and each reference in
    ``rho`` (label → (N,) values, NaN left out): every image as a dot, the middle half as a grey bar, the median
    as a black tick.

    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    labels = list(rho)
    values = [v[~torch.isnan(v)].cpu().numpy() for v in rho.values()]
    fig, ax = plt.subplots(figsize=(7.0, 0.75 * len(labels) + 1.4))
    rng = np.random.default_rng(0)
    for i, v in enumerate(values):
        ax.scatter(v, i + rng.uniform(-0.18, 0.18, len(v)), s=6, alpha=0.35, color=CLASS_COLORS[i % len(CLASS_COLORS)])
    for i, v in enumerate(values):  # the middle half of the images as a bar, the median as a black tick
        q1, median, q3 = np.percentile(v, [25, 50, 75])
        ax.plot([q1, q3], [i, i], color="black", linewidth=6, alpha=0.35, solid_capstyle="butt")
        ax.plot([median, median], [i - 0.3, i + 0.3], color="black", linewidth=2.5)
        ax.annotate(f"median {median:.2f}", (1.02, i), xycoords=("axes fraction", "data"), va="center",
                    fontsize=9)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8, linestyle="--")
    ax.set(xlim=(-1, 1), xlabel="Spearman's ρ with the fall in the true logit, per image",
           title="Does the map rank the patches as occlusion does?")
    fig.tight_layout()
    return with_alt(fig, "Per-image rank agreement (Spearman's rho) between the fall when a patch is covered and each reference, "
                    "one dot per image with the middle half and the median: "
                    + ", ".join(f"{label} median {np.median(v):.2f}" for label, v in zip(labels, values, strict=True)) + ".")


def plot_effective_receptive_field(gradient: torch.Tensor, centre: tuple[float, float], theoretical: int,
                                   sides: Sequence[int], shares: Sequence[float],
                                   marks: Sequence[tuple[float, float]] = ()) -> Figure:
    """Left: a map cell's mean |gradient| over the input pixels (one colour scale, colour bar), with its theoretical
    receptive field (a ``theoretical``-pixel square around ``centre``) outlined. Right: the share of that gradient
    inside centred squares of each side, with the theoretical side marked; ``marks`` are (side, share) points
    to label, such as the sides that hold half and 90% of it.

    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    values = gradient.cpu().numpy()
    fig, (ax_map, ax_curve) = plt.subplots(1, 2, figsize=(8.6, 3.7), gridspec_kw={"width_ratios": [1, 1.25]})
    image = ax_map.imshow(values, cmap=MAP_CMAP, vmin=0)
    ax_map.grid(False)
    fig.colorbar(image, ax=ax_map, fraction=0.046, pad=0.04, label="mean |∂ cell / ∂ pixel|")
    half = theoretical / 2
    ax_map.add_patch(Rectangle((centre[1] - half, centre[0] - half), theoretical, theoretical, fill=False,
                               edgecolor=CLASS_COLORS[5], linewidth=2, linestyle="--"))
    for side, _ in marks:
        ax_map.add_patch(Rectangle((centre[1] - side / 2, centre[0] - side / 2), side, side, fill=False,
                                   edgecolor="white", linewidth=1.2))
    ax_map.set(xlabel="image column (pixels)", ylabel="image row (pixels)",
               title=f"Gradient of the middle cell;\ndashed: its {theoretical}×{theoretical} receptive field")
    ax_map.title.set_fontsize(10)
    ax_curve.plot(list(sides), [100 * v for v in shares], marker="o", markersize=3, color=CLASS_COLORS[0])
    ax_curve.axvline(theoretical, color=CLASS_COLORS[5], linestyle="--", linewidth=1.5,
                     label=f"theoretical field, {theoretical} pixels")
    for side, share in marks:
        ax_curve.annotate(f"{100 * share:.0f}% within {side:g}×{side:g}", (side, 100 * share), xytext=(8, -12),
                          textcoords="offset points", fontsize=9)
        ax_curve.plot([side], [100 * share], marker="o", color="black", markersize=5)
    ax_curve.set(xlabel="side of a centred square (pixels)", ylabel="share of the gradient inside (%)",
                 ylim=(0, 102), xlim=(0, max(sides) + 1), title="How much of the gradient lies close by")
    ax_curve.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    return with_alt(fig, f"Left: the mean absolute gradient of the middle map cell over the input pixels, with its {theoretical}×"
                    f"{theoretical} theoretical receptive field dashed. Right: the share of that gradient inside centred "
                    "squares by side" + "".join(f"; {100 * share:.0f}% within {side:g}×{side:g}" for side, share in marks)
                    + ".")
