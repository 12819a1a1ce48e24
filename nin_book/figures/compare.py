"""The chapter-4 bar chart: parameters (millions), forward compute (GFLOPs) and activation memory (MB) of each network
for one image, on linear scales from zero with each bar's value and its ratio to the first model written on it (a log
scale would make a 65× difference look like 4×). Every axis names its unit and shows plain numbers, no offset
exponent; the activation panel is in MB, as the table beside it.

Drawing only; the numbers come from :func:`nin_book.compare.compare_models`. Explained in chapter 4,
"Parameters and compute against VGG".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from nin_book.compare import MODEL_NAMES, ModelStats
from nin_book.figures.alt import with_alt
from nin_book.plots import CLASS_COLORS

__all__ = ["PANELS", "Panel", "plot_comparison"]


class Panel(NamedTuple):
    """One panel: its title, its axis label with the unit, the value it draws and how a bar's label writes it."""

    title: str
    axis: str
    value: Callable[[ModelStats], float]
    label: Callable[[float], str]


PANELS = (
    Panel("Parameters", "parameters (millions)", lambda s: s.parameters / 1e6, lambda v: f"{v:.3g} M"),
    Panel("Forward compute", "GFLOPs per image", lambda s: s.flops / 1e9, lambda v: f"{v:.3g} G"),
    Panel("Activation memory", "MB per image (fp32)", lambda s: s.activation_mb, lambda v: f"{v:.3g} MB"),
)


def _colour(name: str) -> str:
    # Each model keeps its colour whatever else is selected; NiN always in the book's first colour.
    return CLASS_COLORS[MODEL_NAMES.index(name)] if name in MODEL_NAMES else CLASS_COLORS[len(MODEL_NAMES)]


def plot_comparison(stats: Sequence[ModelStats], title: str | None = None) -> Figure:
    """Linear bars of parameters (millions), forward GFLOPs and activation memory (MB) for one image, one bar per
    model, each labelled with its value and its ratio to the first model (NiN in the book), so that bar heights
    compare truthfully.

    Explained in chapter 4, "Parameters and compute against VGG".
    """
    if not stats:
        raise ValueError(f"nothing to plot: choose at least one model from {', '.join(MODEL_NAMES)}")
    fig, axes = plt.subplots(1, len(PANELS), figsize=(9.0, 3.6))
    names = [s.name for s in stats]
    for ax, panel in zip(axes, PANELS, strict=True):
        values = [panel.value(s) for s in stats]
        bars = ax.bar(names, values, color=[_colour(n) for n in names])
        ax.set_ylim(0, max(values) * 1.3)  # room for the two label lines above the tallest bar
        ax.set_title(panel.title)
        ax.set_ylabel(panel.axis)
        plain = ScalarFormatter(useOffset=False)
        plain.set_scientific(False)
        ax.yaxis.set_major_formatter(plain)  # plain numbers in the axis's unit, never a "1e8" above it
        ax.grid(axis="x", visible=False)
        ax.margins(x=0.08)  # room beside the outer bars for their labels
        for bar, v in zip(bars, values, strict=True):
            ratio = f"\n{v / values[0]:.1f}× {names[0]}" if bar is not bars[0] and values[0] else ""
            ax.annotate(panel.label(v) + ratio, (bar.get_x() + bar.get_width() / 2, v), xytext=(0, 3),
                        textcoords="offset points", ha="center", va="bottom", fontsize=9)
    widths = ", ×".join(f"{w:g}" for w in sorted({s.width_multiplier for s in stats}))
    shapes = ", ".join(sorted({"×".join(map(str, s.input_shape)) for s in stats}))
    fig.suptitle(title or f"One {shapes} image, width ×{widths}")
    fig.tight_layout()
    return with_alt(fig, "Bar charts of " + "; ".join(
        f"{panel.title}: " + ", ".join(f"{s.name} {panel.label(panel.value(s))}" for s in stats) for panel in PANELS) + ".")
