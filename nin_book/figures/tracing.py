"""The activation "funnel": how channels and spatial size change as an image flows through a network.

Drawing only; the shapes come from :func:`nin_book.shapes.trace`. Explained in chapter 3,
"Tracing shapes from 224 to 10×1×1".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Polygon

from nin_book.figures.alt import with_alt
from nin_book.plots import CLASS_COLORS
from nin_book.shapes import Trace

__all__ = ["funnel_stages", "plot_funnel"]


def funnel_stages(rows: Trace) -> list[tuple[str, tuple[int, int, int]]]:
    """The (name, (C, H, W)) stages worth drawing: the input, then every 3-D output that differs from the one before.

    Layers that keep the shape (dropout) are skipped, and so is the final flattened vector.
    Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """
    stages: list[tuple[str, tuple[int, int, int]]] = []
    if len(rows.input_shape) == 3:
        stages.append(("input", tuple(rows.input_shape)))  # type: ignore[arg-type]
    for r in rows:
        if len(r.output_shape) == 3 and (not stages or stages[-1][1] != r.output_shape):
            stages.append((r.name, r.output_shape))  # type: ignore[arg-type]
    return stages


def plot_funnel(rows: Trace, title: str | None = None, axes: Sequence[plt.Axes] | None = None) -> Figure:
    """Draw the activation volumes of a trace, and their sizes on a log scale.

    Top: one box per stage, its front face the H×W map (to scale) and its depth the number of
    channels (log₂, since they range from 1 to 384); pooling stages in the second colour, with a legend; faces too
    small to see (the last maps next to the input) are enlarged and drawn dashed. Bottom:
    the number of values C·H·W in each stage on a log axis, with spatial size and channels beside it. Explained in chapter 3.
    """
    stages = funnel_stages(rows)
    if axes is None:
        fig, (ax_box, ax_log) = plt.subplots(2, 1, figsize=(8.0, 6.4), height_ratios=(1.2, 1.0))
    else:
        ax_box, ax_log = axes
        fig = ax_box.figure
    biggest = max(h for _, (_, h, _) in stages)
    smallest_visible = 0.12  # faces drawn to scale below this would vanish (5×5 and 1×1 next to 224×224)
    enlarged_any = False
    x = 0.0
    for i, (name, (c, h, w)) in enumerate(stages):
        side = 1.6 * h / biggest  # the H×W face, to scale: the funnel is the point of the figure
        enlarged = side < smallest_visible
        enlarged_any |= enlarged
        side = max(side, smallest_visible)
        depth = 0.1 * (1 + math.log2(c))  # channels on a log scale (1 to 384 would not fit otherwise)
        dx, dy = 0.8 * depth, 0.55 * depth  # oblique direction of the channel axis
        colour = CLASS_COLORS[1] if name.startswith("pool") or name == "gap" else CLASS_COLORS[0]
        x0, y0, y1 = x, -side / 2, side / 2
        front = [(x0, y0), (x0 + side, y0), (x0 + side, y1), (x0, y1)]
        top = [(x0, y1), (x0 + side, y1), (x0 + side + dx, y1 + dy), (x0 + dx, y1 + dy)]
        right = [(x0 + side, y0), (x0 + side + dx, y0 + dy), (x0 + side + dx, y1 + dy), (x0 + side, y1)]
        for face, alpha in ((right, 0.45), (top, 0.6), (front, 0.9)):
            ax_box.add_patch(Polygon(face, closed=True, facecolor=colour, edgecolor="black", linewidth=0.6, alpha=alpha,
                                     linestyle="--" if enlarged else "-"))
        label_y = -0.95 - 0.3 * (i % 2)
        ax_box.text(x0 + (side + dx) / 2, label_y, f"{name}\n{c}×{h}×{w}", ha="center", va="top", fontsize=8)
        x += side + dx + 0.35
    ax_box.set_xlim(-0.2, x)
    ax_box.set_ylim(-1.75, 1.9)
    ax_box.set_aspect("equal")
    ax_box.axis("off")
    ax_box.set_title(title or "Activation volumes: face = H×W (to scale), depth = channels (log scale)")
    legend = [Patch(facecolor=CLASS_COLORS[0], edgecolor="black", label="block output"),
              Patch(facecolor=CLASS_COLORS[1], edgecolor="black", label="pooling output")]
    if enlarged_any:
        legend.append(Patch(facecolor="white", edgecolor="black", linestyle="--", label="too small to see: enlarged"))
    ax_box.legend(handles=legend, loc="upper right", fontsize=8, frameon=False)

    idx = range(len(stages))
    values = [c * h * w for _, (c, h, w) in stages]
    ax_log.bar(idx, values, color=CLASS_COLORS[0], alpha=0.35, label="values C·H·W")
    ax_log.plot(idx, [h for _, (_, h, _) in stages], "o-", color=CLASS_COLORS[3], label="spatial size H (= W)")
    ax_log.plot(idx, [c for _, (c, _, _) in stages], "s--", color=CLASS_COLORS[2], label="channels C")
    ax_log.set_yscale("log")
    ax_log.set_xticks(list(idx), [name for name, _ in stages], rotation=30, ha="right")
    ax_log.set_ylabel("count (log scale)")
    ax_log.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    first, last = stages[0], stages[-1]
    return with_alt(fig, "Activation volumes of the network, shrinking from "
                    + f"{first[0]} {'×'.join(map(str, first[1]))} to {last[0]} {'×'.join(map(str, last[1]))}: "
                    + ", ".join(f"{name} {c}×{h}×{w}" for name, (c, h, w) in stages)
                    + "; below, the number of values in each stage on a log scale, with spatial size and channels.")
