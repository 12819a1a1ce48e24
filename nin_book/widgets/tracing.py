"""The chapter-3 explorer: pick an input size and the first block's window, and watch the trace.

A thin view over :func:`nin_book.shapes.trace_nin`; :func:`trace_report_html` is what it shows and
:func:`plot_trace_setting` the static figure of a setting. Explained in chapter 3,
"Tracing shapes from 224 to 10×1×1".
"""

from __future__ import annotations

import html

import ipywidgets as widgets
from matplotlib.figure import Figure

from nin_book.figures_tracing import plot_funnel
from nin_book.shapes import PartialTrace, trace_nin

__all__ = ["trace_report_html", "plot_trace_setting", "trace_explorer"]

_OK = "#009E73"
_BAD = "#D55E00"


def trace_report_html(result: PartialTrace) -> str:
    """A message line (what came out, or which layer failed and why) above the rows that ran.

    Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """
    colour, mark = (_OK, "✓") if result.ok else (_BAD, "✗ stops here:")
    message = f'<p style="color:{colour}; font-weight:bold">{mark} {html.escape(result.message)}</p>'
    return message + result.trace._repr_html_()


def plot_trace_setting(input_size: int = 224, first_block: tuple[int, int, int] = (11, 4, 0)) -> Figure:
    """The static figure of one explorer setting: the activation funnel of the layers that ran.

    Raises ``ValueError`` with the trace's message when not even the first layer runs.
    Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """
    result = trace_nin(input_size, first_block)
    if not len(result.trace):
        raise ValueError(result.message)
    k, s, p = first_block
    title = f"NiN on 1×{input_size}×{input_size}, first block {k}×{k}/{s} pad {p}"
    if not result.ok:
        title += f" (stops after {result.trace[-1].name})"
    return plot_funnel(result.trace, title=title)


def trace_explorer(input_size: int = 224, first_block: tuple[int, int, int] = (11, 4, 0)) -> widgets.VBox:
    """Sliders for the input size and the first block's kernel, stride and padding, above the live trace.

    Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """
    k, s, p = first_block
    style = {"description_width": "110px"}
    size = widgets.IntSlider(value=input_size, min=1, max=320, description="input size", style=style, continuous_update=False)
    kernel = widgets.IntSlider(value=k, min=1, max=15, description="block1 kernel", style=style, continuous_update=False)
    stride = widgets.IntSlider(value=s, min=1, max=6, description="block1 stride", style=style, continuous_update=False)
    padding = widgets.IntSlider(value=p, min=0, max=6, description="block1 padding", style=style, continuous_update=False)
    view = widgets.HTML()

    def update(_change=None) -> None:
        view.value = trace_report_html(trace_nin(size.value, (kernel.value, stride.value, padding.value)))

    for control in (size, kernel, stride, padding):
        control.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([widgets.VBox([size, kernel]), widgets.VBox([stride, padding])]), view])
