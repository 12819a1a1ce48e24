"""The chapter-4 explorer: choose models and a width multiplier, and compare parameters, compute and memory.

A thin view over :func:`nin_book.compare.compare_models`; :func:`plot_comparison` is the bar chart
it draws (and the static figure of a setting). Explained in chapter 4, "Parameters and compute against VGG".
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display
from matplotlib.figure import Figure

from nin_book.compare import MODEL_NAMES, ModelStats, compare_models, comparison_table, format_count
from nin_book.plots import CLASS_COLORS

__all__ = ["plot_comparison", "compare_explorer"]

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
    """Log-scale bars of parameters, forward FLOPs and activation values, one bar per model, each labelled.

    Explained in chapter 4, "Parameters and compute against VGG".
    """
    if not stats:
        raise ValueError(f"nothing to plot: choose at least one model from {', '.join(MODEL_NAMES)}")
    fig, axes = plt.subplots(1, len(_PANELS), figsize=(9.0, 3.4))
    names = [s.name for s in stats]
    for ax, (panel, value) in zip(axes, _PANELS, strict=True):
        values = [value(s) for s in stats]
        bars = ax.bar(names, values, color=[_colour(n) for n in names])
        ax.set_yscale("log")
        ax.set_ylim(min(values) / 3, max(values) * 6)
        ax.set_title(panel)
        for bar, v in zip(bars, values, strict=True):
            ax.annotate(format_count(v), (bar.get_x() + bar.get_width() / 2, v), xytext=(0, 3),
                        textcoords="offset points", ha="center", va="bottom", fontsize=8)
        ax.tick_params(axis="x", rotation=20)
    widths = ", ×".join(f"{w:g}" for w in sorted({s.width_multiplier for s in stats}))
    shapes = ", ".join(sorted({"×".join(map(str, s.input_shape)) for s in stats}))
    fig.suptitle(title or f"One {shapes} image, width ×{widths} (log scale)")
    fig.tight_layout()
    return fig


def compare_explorer(names: Sequence[str] = MODEL_NAMES, width_multiplier: float = 1.0) -> widgets.VBox:
    """Check boxes for the models and a width slider, above the comparison table and the log-scale bars.

    Explained in chapter 4, "Parameters and compute against VGG".
    """
    boxes = [widgets.Checkbox(value=n in names, description=n, indent=False, layout=widgets.Layout(width="110px"))
             for n in MODEL_NAMES]
    width = widgets.FloatSlider(value=width_multiplier, min=0.25, max=2.0, step=0.25, description="width ×",
                                continuous_update=False, readout_format=".2f")
    table = widgets.HTML()
    chart = widgets.Output()

    def update(_change=None) -> None:
        chosen = [b.description for b in boxes if b.value]
        chart.clear_output(wait=True)
        try:
            stats = compare_models(chosen, width.value)
        except ValueError as err:
            table.value = f'<p style="color:#D55E00; font-weight:bold">{html.escape(str(err))}</p>'
            return
        table.value = comparison_table(stats)._repr_html_()
        with chart:
            fig = plot_comparison(stats)
            display(fig)
            plt.close(fig)

    for control in (*boxes, width):
        control.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([*boxes, width]), table, chart])
