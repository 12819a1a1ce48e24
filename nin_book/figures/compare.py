"""The chapter-4 bar chart: parameters, forward FLOPs and activation values of each network, on linear scales
with each bar's ratio to the first model written on it (a log scale would make a 65× difference look like 4×).

Drawing only; the numbers come from :func:`nin_book.compare.compare_models`. Explained in chapter 4,
"Parameters and compute against VGG".
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from nin_book.compare import MODEL_NAMES, ModelStats, format_count
from nin_book.plots import CLASS_COLORS

__all__ = ["plot_comparison"]

# (title, value of a ModelStats) for the three panels.
_PANELS = (
    ("parameters", lambda s: s.parameters),
    ("forward FLOPs per image", lambda s: s.flops),
    ("activation values per image", lambda s: s.activations),
)


def _colour(name: str) -> str:
    # Each model keeps its colour whatever else is selected; NiN always in the book's first colour.
    return CLASS_COLORS[MODEL_NAMES.index(name)] if name in MODEL_NAMES else CLASS_COLORS[len(MODEL_NAMES)]


def plot_comparison(stats: Sequence[ModelStats], title: str | None = None) -> Figure:
    """Linear bars of parameters, forward FLOPs and activation values, one bar per model, each labelled with
    its count and its ratio to the first model (NiN in the book), so that bar heights compare truthfully.

    Explained in chapter 4, "Parameters and compute against VGG".
    """
    if not stats:
        raise ValueError(f"nothing to plot: choose at least one model from {', '.join(MODEL_NAMES)}")
    fig, axes = plt.subplots(1, len(_PANELS), figsize=(9.0, 3.4))
    names = [s.name for s in stats]
    for ax, (panel, value) in zip(axes, _PANELS, strict=True):
        values = [value(s) for s in stats]
        bars = ax.bar(names, values, color=[_colour(n) for n in names])
        ax.set_ylim(0, max(values) * 1.25)  # room for the labels above the tallest bar
        ax.set_title(panel)
        for bar, v in zip(bars, values, strict=True):
            ratio = f"\n{v / values[0]:.1f}× {names[0]}" if bar is not bars[0] and values[0] else ""
            ax.annotate(format_count(v) + ratio, (bar.get_x() + bar.get_width() / 2, v), xytext=(0, 3),
                        textcoords="offset points", ha="center", va="bottom", fontsize=8)
        ax.tick_params(axis="x", rotation=20)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    widths = ", ×".join(f"{w:g}" for w in sorted({s.width_multiplier for s in stats}))
    shapes = ", ".join(sorted({"×".join(map(str, s.input_shape)) for s in stats}))
    fig.suptitle(title or f"One {shapes} image, width ×{widths}")
    fig.tight_layout()
    return fig
