"""Figures of chapters 1 and 2: volumes, kernels, blocks and feature maps (matplotlib only, no logic).

Every function draws what it is given (tensors, or modules) and returns
the ``Figure``; it computes nothing a reader should trust the picture for. Figures are made with
``pyplot`` so that ``plt.show()`` displays them in a chapter. (The explorers draw their own SVG in the browser.)

Explained in chapter 1, "The 1×1 convolution", and chapter 2, "The NiN block".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from torch import nn

from nin_book.figures.alt import with_alt
from nin_book.plots import CLASS_COLORS
from nin_book.shapes import describe_layer, iter_layers

__all__ = [
    "one_by_one_example_figure",
    "block_diagrams_figure",
    "feature_maps_figure",
    "filter_maps_figure",
    "mixed_maps_figure",
]

GREY = "#999999"


def _fmt(value: float) -> str:
    """Short number for a cell: integers without a decimal point."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _grid(ax: Axes, values: torch.Tensor, x0: float, y0: float, color: str, highlight: tuple[int, int] | None,
          label: str) -> None:
    """Draw a 2-D tensor as a grid of numbered unit cells with its top-left corner at (x0, y0)."""
    rows, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            hit = highlight == (i, j)
            ax.add_patch(Rectangle((x0 + j, y0 - i - 1), 1, 1, facecolor=color, alpha=0.55 if hit else 0.15,
                                   edgecolor="black", linewidth=1.6 if hit else 0.6))
            ax.text(x0 + j + 0.5, y0 - i - 0.5, _fmt(float(values[i, j])), ha="center", va="center",
                    fontsize=9, fontweight="bold" if hit else "normal")
    ax.text(x0 + cols / 2, y0 + 0.25, label, ha="center", va="bottom", fontsize=9)


def one_by_one_example_figure(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, output: torch.Tensor,
                              pixel: tuple[int, int] = (0, 0)) -> Figure:
    """The worked example: input channels, one 1×c_in kernel per output channel, and the output maps.

    ``x`` is (c_in, H, W), ``weight`` (c_out, c_in), ``bias`` (c_out,), ``output`` (c_out, H, W) as
    computed by the caller; ``pixel`` (i, j) is highlighted in every map and traced through the kernels.
    Explained in chapter 1, "The 1×1 convolution".
    """
    c_in, h, w = x.shape
    c_out = weight.shape[0]
    gap = 1.0
    n = max(c_in, c_out)
    fig, ax = plt.subplots(figsize=(7.6, 0.5 * n * (h + gap) + 0.3))
    ax.set_axis_off()

    def stack_tops(count: int) -> list[float]:  # grids stacked top to bottom, centred on y = 0
        return [count * (h + gap) / 2 - c * (h + gap) for c in range(count)]

    in_y, out_y = stack_tops(c_in), stack_tops(c_out)
    i, j = pixel
    for c in range(c_in):
        _grid(ax, x[c], 0, in_y[c], CLASS_COLORS[5], pixel, f"input channel {c}")
    k_x = w + 3.2
    k_top = [out_y[o] - (h - c_in) / 2 for o in range(c_out)]
    o_x = k_x + 5.2
    for o in range(c_out):
        color = CLASS_COLORS[o % len(CLASS_COLORS)]
        _grid(ax, weight[o].reshape(c_in, 1), k_x, k_top[o], color, None, f"kernel K[{o}]")
        ax.text(k_x + 1.2, k_top[o] - c_in / 2, f"+ b[{o}] = {_fmt(float(bias[o]))}", va="center", fontsize=9)
        for c in range(c_in):
            ax.add_patch(FancyArrowPatch((j + 1, in_y[c] - i - 0.5), (k_x, k_top[o] - c - 0.5), arrowstyle="-",
                                         color=color, alpha=0.6, linewidth=0.9))
        _grid(ax, output[o], o_x, out_y[o], color, pixel, f"output channel {o}")
        ax.add_patch(FancyArrowPatch((k_x + 3.4, k_top[o] - c_in / 2), (o_x - 0.1, out_y[o] - i - 0.5),
                                     arrowstyle="-|>", mutation_scale=10, color=color, linewidth=1.2))
    ax.set_xlim(-0.3, o_x + w + 0.3)
    ax.set_ylim(n * (h + gap) / 2 - n * (h + gap) + gap - 0.3, n * (h + gap) / 2 + 0.8)
    ax.set_aspect("equal")
    fig.tight_layout()
    return with_alt(fig, f"Worked example of a 1×1 convolution: {c_in} input channels of {h}×{w} numbers, one kernel "
                    f"of {c_in} weights and a bias per output channel, and the {c_out} output maps; pixel {pixel} is "
                    "highlighted in every map and traced through the kernels to its output values "
                    + ", ".join(_fmt(float(output[o, i, j])) for o in range(c_out)) + ".")


def _box_color(layer: nn.Module) -> str:
    if isinstance(layer, nn.Conv2d):
        return CLASS_COLORS[1] if layer.kernel_size == (1, 1) else CLASS_COLORS[0]
    if isinstance(layer, nn.MaxPool2d | nn.AvgPool2d):
        return CLASS_COLORS[2]
    return "#dddddd"


def block_diagrams_figure(blocks: Mapping[str, nn.Module]) -> Figure:
    """Side-by-side layer stacks of the given blocks, read bottom (input) to top, drawn from the modules.

    k×k convolutions, 1×1 convolutions, pooling and activations each get their own colour.
    Explained in chapter 2, "The NiN block".
    """
    stacks = {title: [describe_layer(m) for _, m in iter_layers(block)] for title, block in blocks.items()}
    colors = {title: [_box_color(m) for _, m in iter_layers(block)] for title, block in blocks.items()}
    tallest = max(len(v) for v in stacks.values())
    fig, ax = plt.subplots(figsize=(7.6, 0.5 * tallest + 1.4))
    ax.set_axis_off()
    box_w, box_h, step = 2.6, 0.42, 0.62
    for col, (title, names) in enumerate(stacks.items()):
        x = col * (box_w + 0.9)
        ax.text(x + box_w / 2, -0.45, "input", ha="center", va="center", fontsize=9, color=GREY)
        for row, (name, color) in enumerate(zip(names, colors[title], strict=True)):
            y = row * step
            ax.add_patch(FancyBboxPatch((x, y), box_w, box_h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                        facecolor=color, alpha=0.55, edgecolor="black", linewidth=0.6))
            ax.text(x + box_w / 2, y + box_h / 2, name.replace("Conv2d", "conv").replace("MaxPool2d", "max-pool"),
                    ha="center", va="center", fontsize=8.5)
            ax.add_patch(FancyArrowPatch((x + box_w / 2, y - step + box_h if row else -0.3), (x + box_w / 2, y),
                                         arrowstyle="-|>", mutation_scale=8, color="black", linewidth=0.7))
        ax.text(x + box_w / 2, tallest * step + 0.05, title, ha="center", va="bottom", fontsize=10, fontweight="bold")
    ax.set_xlim(-0.1, len(stacks) * (box_w + 0.9) - 0.8)
    ax.set_ylim(-0.7, tallest * step + 0.5)
    ax.set_aspect("equal")
    fig.tight_layout()
    return with_alt(fig, "Layer diagrams, read from the input at the bottom upwards: "
                    + "; ".join(f"{title}: " + ", then ".join(names) for title, names in stacks.items()) + ".")


def feature_maps_figure(image: torch.Tensor, stages: Mapping[str, torch.Tensor], channels: Sequence[int],
                        title: str = "") -> Figure:
    """The input image on the left; on the right one row per stage showing the given channels.

    ``image`` is (H, W); each stage tensor is (C, H', W'). The maps of one row share one colour scale, from 0
    (the ReLU's floor) to the row's largest value, square-root spaced so that weak maps stay visible, with a
    colour bar at the row's end, so channels can be compared by value; an all-zero map is labelled so.
    Explained in chapter 2, "The NiN block".
    """
    rows, cols = len(stages), len(channels)
    fig = plt.figure(figsize=(8.2, 0.95 * rows + 0.55))
    outer = fig.add_gridspec(1, 2, width_ratios=[3, cols + 0.6], wspace=0.12)
    grid = outer[0, 1].subgridspec(rows, cols + 1, wspace=0.08, hspace=0.3, width_ratios=[1] * cols + [0.15])
    ax = fig.add_subplot(outer[0, 0])
    ax.imshow(image, cmap="gray")
    ax.set_title("input", fontsize=9)
    ax.set_axis_off()
    for r, (name, maps) in enumerate(stages.items()):
        shown = maps[list(channels)]
        top = float(shown.max()) or 1.0  # an all-zero row still gets a valid scale
        for c, channel in enumerate(channels):
            a = fig.add_subplot(grid[r, c])
            fmap = maps[channel]
            # Square-root colour scale: weak maps stay visible beside the strongest without losing the shared scale.
            picture = a.imshow(fmap, cmap="viridis", norm=PowerNorm(gamma=0.5, vmin=0, vmax=top))
            a.set_xticks([])
            a.set_yticks([])
            a.grid(False)
            for spine in a.spines.values():
                spine.set_visible(False)
            if r == 0:
                a.set_title(f"ch {channel}", fontsize=8)
            if bool(fmap.abs().max() == 0):
                a.text(0.5, 0.5, "all 0", transform=a.transAxes, ha="center", va="center", fontsize=7, color="white")
            if c == 0:
                a.set_ylabel(name, fontsize=8)
        bar = fig.colorbar(picture, cax=fig.add_subplot(grid[r, cols]))
        bar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10, y=1.03)
    return with_alt(fig, f"The input image on the left; to its right, {rows} rows of feature maps ("
                    + ", ".join(stages) + f"), each showing channels {', '.join(map(str, channels))} on one colour "
                    "scale per row from 0 to the row's largest value; bright is a strong response.")


def _signed_panel(ax: Axes, fmap: torch.Tensor, limit: float, title: str) -> Any:
    picture = ax.imshow(fmap, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return picture


def filter_maps_figure(image: torch.Tensor, label: str, maps: torch.Tensor, names: Sequence[str]) -> Figure:
    """The input image, then one map per filter, all maps on one symmetric colour scale with a colour bar
    (red positive, blue negative), so their strengths compare. Explained in chapter 1, "The 1×1 convolution".
    """
    limit = float(maps.abs().max()) or 1.0
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(8.4, 2.0))
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title(f"input: {label}", fontsize=9)
    axes[0].set_axis_off()
    for ax, fmap, name in zip(axes[1:], maps, names, strict=True):
        picture = _signed_panel(ax, fmap, limit, name)
    fig.colorbar(picture, ax=list(axes[1:]), fraction=0.03, pad=0.02, label="filter response")
    return with_alt(fig, f"The input image ({label}) and its response to {len(names)} filters: " + ", ".join(names)
                    + "; red is a positive response, blue a negative one, all on one colour scale.")


def mixed_maps_figure(outputs: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor, names: Sequence[str]) -> Figure:
    """Each output channel of a 1×1 convolution over its recipe: the weight of each input map (written below
    the map, largest first, weights under 0.005 left out) and the bias. All maps share one symmetric colour scale
    with a colour bar. Explained in chapter 1, "The 1×1 convolution".
    """
    limit = float(outputs.abs().max()) or 1.0
    fig, axes = plt.subplots(1, len(outputs), figsize=(8.4, 3.3))
    for o, ax in enumerate(axes):
        picture = _signed_panel(ax, outputs[o], limit, f"output channel {o}")
        terms = sorted(((float(weights[o, c]), names[c]) for c in range(len(names))), key=lambda t: -abs(t[0]))
        recipe = [f"{w:+.2f} × {name}" for w, name in terms if abs(w) >= 0.005] + [f"{float(bias[o]):+.2f} bias"]
        ax.text(0.5, -0.04, "\n".join(recipe), transform=ax.transAxes, ha="center", va="top", fontsize=9)
    fig.colorbar(picture, ax=list(axes), fraction=0.03, pad=0.02, label="output value")
    fig.subplots_adjust(bottom=0.32)
    return with_alt(fig, f"The {len(outputs)} output channels of a 1×1 convolution, each a weighted sum of the input maps "
                    + ", ".join(names) + " plus a bias, with its weights written below it; red positive, blue negative.")
