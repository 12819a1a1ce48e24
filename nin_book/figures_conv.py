"""Figures of chapters 1 and 2: volumes, kernels, blocks and feature maps (matplotlib only, no logic).

Every function draws what it is given (tensors, or summaries from :mod:`nin_book.blocks`) and returns
the ``Figure``; it computes nothing a reader should trust the picture for. Figures are made with
``pyplot`` so that ``plt.show()`` displays them in a chapter; a widget closes them after rendering.

Explained in chapter 1, "The 1×1 convolution", and chapter 2, "The NiN block".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Polygon, Rectangle
from torch import nn

from nin_book.blocks import BlockSummary, OneByOneSummary
from nin_book.plots import CLASS_COLORS
from nin_book.shapes import describe_layer, iter_layers

__all__ = [
    "one_by_one_example_figure",
    "one_by_one_figure",
    "nin_block_figure",
    "block_diagrams_figure",
    "feature_maps_figure",
]

GREY = "#999999"
DEPTH_DIRECTION = (0.55, 0.4)  # oblique projection: where the channel axis points on the page


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
    return fig


def _size(n: int, lo: float, hi: float, largest: int) -> float:
    """Length on the page for a dimension n: logarithmic, so 3 and 1024 channels both fit."""
    return lo + (hi - lo) * min(1.0, math.log(n) / math.log(largest)) if n > 1 else lo


def _cuboid(ax: Axes, x: float, y: float, width: float, height: float, depth: float, color: str,
            label: str) -> tuple[float, float]:
    """Draw a feature volume (front face at x, y), labelled underneath; return the right/top corner."""
    dx, dy = DEPTH_DIRECTION[0] * depth, DEPTH_DIRECTION[1] * depth
    faces = [
        [(x, y), (x + width, y), (x + width, y + height), (x, y + height)],
        [(x, y + height), (x + width, y + height), (x + width + dx, y + height + dy), (x + dx, y + height + dy)],
        [(x + width, y), (x + width + dx, y + dy), (x + width + dx, y + height + dy), (x + width, y + height)],
    ]
    for face, alpha in zip(faces, (0.35, 0.55, 0.75), strict=True):
        ax.add_patch(Polygon(face, closed=True, facecolor=color, alpha=alpha, edgecolor="black", linewidth=0.7))
    ax.text(x + (width + dx) / 2, y - 0.25, label, ha="center", va="top", fontsize=9)
    return x + width + dx, y + height + dy


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], text: str) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="black", linewidth=1.0))
    ax.text((start[0] + end[0]) / 2, start[1] + 0.15, text, ha="center", va="bottom", fontsize=8)


def _shape_text(shape: Sequence[int]) -> str:
    return "×".join(map(str, shape))


def one_by_one_figure(summary: OneByOneSummary) -> Figure:
    """Input volume, weight matrix and output volume of one 1×1 convolution, with its counts.

    One pixel's column of c_in values is highlighted: it meets the c_out×c_in weight matrix and becomes
    that pixel's column of c_out values. Explained in chapter 1, "The 1×1 convolution".
    """
    s = summary
    fig, ax = plt.subplots(figsize=(7.6, 3.0))
    ax.set_axis_off()
    largest = 1024
    h, w = _size(s.height, 0.8, 3.0, 256), _size(s.width, 0.8, 3.0, 256)
    d_in, d_out = _size(s.in_channels, 0.3, 3.0, largest), _size(s.out_channels, 0.3, 3.0, largest)
    base = 0.6
    right, _ = _cuboid(ax, 0, base, w, h, d_in, CLASS_COLORS[5], f"input {_shape_text(s.input_shape)}")
    # One pixel (the top-left one) and its column through every channel.
    px = min(w, h) / 6
    ax.add_patch(Rectangle((0, base + h - px), px, px, facecolor=CLASS_COLORS[3], edgecolor="black", linewidth=0.8))
    dx, dy = DEPTH_DIRECTION
    ax.plot([px / 2, px / 2 + dx * d_in], [base + h - px / 2, base + h - px / 2 + dy * d_in], color=CLASS_COLORS[3],
            linewidth=2.5)
    # The weight matrix: one row per output channel, one column per input channel.
    m_x = right + 1.6
    m_w, m_h = _size(s.in_channels, 0.3, 2.6, largest), _size(s.out_channels, 0.3, 2.6, largest)
    m_y = base + h / 2 - m_h / 2
    ax.add_patch(Rectangle((m_x, m_y), m_w, m_h, facecolor=CLASS_COLORS[0], alpha=0.3, edgecolor="black"))
    if s.in_channels <= 12 and s.out_channels <= 12:
        for r in range(1, s.out_channels):
            ax.plot([m_x, m_x + m_w], [m_y + r * m_h / s.out_channels] * 2, color="black", linewidth=0.4)
        for c in range(1, s.in_channels):
            ax.plot([m_x + c * m_w / s.in_channels] * 2, [m_y, m_y + m_h], color="black", linewidth=0.4)
    ax.text(m_x + m_w / 2, m_y - 0.25, f"weights {s.out_channels}×{s.in_channels}\n+ {s.out_channels} biases",
            ha="center", va="top", fontsize=9)
    _arrow(ax, (right + 0.15, base + h / 2), (m_x - 0.1, base + h / 2), "each pixel")
    o_x = m_x + m_w + 1.6
    _arrow(ax, (m_x + m_w + 0.1, base + h / 2), (o_x - 0.1, base + h / 2), "")
    o_right, o_top = _cuboid(ax, o_x, base, w, h, d_out, CLASS_COLORS[0], f"output {_shape_text(s.output_shape)}")
    ax.add_patch(Rectangle((o_x, base + h - px), px, px, facecolor=CLASS_COLORS[3], edgecolor="black", linewidth=0.8))
    ax.plot([o_x + px / 2, o_x + px / 2 + dx * d_out], [base + h - px / 2, base + h - px / 2 + dy * d_out],
            color=CLASS_COLORS[3], linewidth=2.5)
    ax.set_title(f"1×1 convolution {s.in_channels} → {s.out_channels} channels on {s.height}×{s.width}: "
                 f"{s.parameters:,} parameters, {s.flops:,} FLOPs", fontsize=10)
    top = max(base + h + DEPTH_DIRECTION[1] * max(d_in, d_out), o_top)
    ax.set_xlim(-0.2, o_right + 0.2)
    ax.set_ylim(-0.3, top + 0.2)
    ax.set_aspect("equal")
    fig.tight_layout()
    return fig


def nin_block_figure(summary: BlockSummary) -> Figure:
    """The volumes a NiN block makes (input → k×k conv → 1×1 → 1×1), with each layer's parameters.

    The k×k window of one output pixel is drawn on the (padded) input, to scale.
    Explained in chapter 2, "The NiN block".
    """
    s = summary
    convs = [layer for layer in s.layers if not layer.name.endswith("_relu")]
    fig, ax = plt.subplots(figsize=(7.6, 3.6))
    ax.set_axis_off()
    largest_side = max(s.input_size, 2)
    shapes = [s.input_shape, *(layer.output_shape for layer in convs)]
    colors = [CLASS_COLORS[5], CLASS_COLORS[0], CLASS_COLORS[1], CLASS_COLORS[1]]
    labels = ["input", *(layer.name for layer in convs)]
    x, base, top = 0.0, 0.7, 0.0
    for index, (shape, color, label) in enumerate(zip(shapes, colors, labels, strict=True)):
        side = 0.6 + 2.4 * math.sqrt(shape[1] / largest_side)
        depth = _size(shape[0], 0.25, 2.2, 1024)
        y = base + (3.0 - side) / 2
        right, corner_top = _cuboid(ax, x, y, side, side, depth, color, f"{label}\n{_shape_text(shape)}")
        top = max(top, corner_top)
        if index == 0:
            # The window one output pixel sees, to scale on the padded input (padding drawn dashed).
            padded = s.input_size + 2 * s.padding
            unit = side / s.input_size
            pad = s.padding * unit
            if s.padding:
                ax.add_patch(Rectangle((x - pad, y - pad), side + 2 * pad, side + 2 * pad, fill=False, linestyle="--",
                                       edgecolor=GREY, linewidth=0.8))
            k = min(s.kernel, padded) * unit
            ax.add_patch(Rectangle((x - pad, y + side + pad - k), k, k, facecolor=CLASS_COLORS[3], alpha=0.8,
                                   edgecolor="black", linewidth=0.6))
        if index < len(convs):
            layer = convs[index]
            gap = 2.3
            _arrow(ax, (right + 0.15, base + 1.5), (right + gap - 0.15, base + 1.5),
                   f"{layer.layer.replace('Conv2d ', '')}\n{layer.parameters:,} params")
            x = right + gap
        else:
            x = right
    ax.set_title(f"NiN block: {s.parameters:,} parameters, {s.flops:,} FLOPs, receptive field "
                 f"{s.receptive_field}×{s.receptive_field}", fontsize=10)
    if s.notes:
        ax.text(0, -0.75, "Note: " + "; ".join(s.notes), fontsize=8, va="top", wrap=True, color=CLASS_COLORS[3])
    ax.set_xlim(-0.4 - s.padding * 3.0 / largest_side, x + 0.2)
    ax.set_ylim(-1.6 if s.notes else -0.8, top + 0.2)
    ax.set_aspect("equal")
    fig.tight_layout()
    return fig


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
    return fig


def feature_maps_figure(image: torch.Tensor, stages: Mapping[str, torch.Tensor], channels: Sequence[int],
                        title: str = "") -> Figure:
    """The input image on the left; on the right one row per stage showing the given channels.

    ``image`` is (H, W); each stage tensor is (C, H', W'). Each map gets its own colour range (a map's
    pattern, not its scale, is what to compare); an all-zero map is drawn blank and labelled so.
    Explained in chapter 2, "The NiN block".
    """
    rows, cols = len(stages), len(channels)
    fig = plt.figure(figsize=(7.6, 0.78 * rows + 0.55))
    outer = fig.add_gridspec(1, 2, width_ratios=[3, cols], wspace=0.12)
    grid = outer[0, 1].subgridspec(rows, cols, wspace=0.08, hspace=0.25)
    ax = fig.add_subplot(outer[0, 0])
    ax.imshow(image, cmap="gray")
    ax.set_title("input", fontsize=9)
    ax.set_axis_off()
    for r, (name, maps) in enumerate(stages.items()):
        for c, channel in enumerate(channels):
            a = fig.add_subplot(grid[r, c])
            fmap = maps[channel]
            dead = bool(fmap.abs().max() == 0)
            a.imshow(fmap, cmap="viridis", vmin=0 if dead else None, vmax=1 if dead else None)
            a.set_xticks([])
            a.set_yticks([])
            a.grid(False)
            for spine in a.spines.values():
                spine.set_visible(False)
            if r == 0:
                a.set_title(f"ch {channel}", fontsize=8)
            if dead:
                a.text(0.5, 0.5, "all 0", transform=a.transAxes, ha="center", va="center", fontsize=7, color="white")
            if c == 0:
                a.set_ylabel(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10, y=1.03)
    return fig
