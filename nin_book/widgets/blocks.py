"""Explorers for chapters 1 and 2: a 1×1 convolution and one NiN block, as thin ipywidgets views.

All the numbers come from :func:`nin_book.blocks.one_by_one_summary` and
:func:`nin_book.blocks.nin_block_summary`, the pictures from :mod:`nin_book.figures_conv`. An
impossible setting shows the summary's ``ValueError`` message inside the widget, never a traceback.
Each explorer has a ``*_explorer_figure`` function drawing the same picture for a static page.

Explained in chapter 1, "The 1×1 convolution", and chapter 2, "The NiN block".
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from nin_book.blocks import BlockSummary, OneByOneSummary, nin_block_summary, one_by_one_summary
from nin_book.figures_conv import nin_block_figure, one_by_one_figure
from nin_book.tables import Table

__all__ = [
    "Explorer",
    "one_by_one_explorer",
    "one_by_one_explorer_figure",
    "nin_block_explorer",
    "nin_block_explorer_figure",
]

ERROR_STYLE = "color:#D55E00;border-left:4px solid #D55E00;padding:4px 10px;margin:4px 0"
NOTE_STYLE = "color:#555555;border-left:4px solid #E69F00;padding:4px 10px;margin:4px 0"


def one_by_one_explorer_figure(in_channels: int = 256, out_channels: int = 64, height: int = 28, width: int = 28) -> Figure:
    """The figure :func:`one_by_one_explorer` shows for this setting (for static pages).

    Explained in chapter 1, "The 1×1 convolution".
    """
    return one_by_one_figure(one_by_one_summary(in_channels, out_channels, height, width))


def nin_block_explorer_figure(kernel: int = 11, stride: int = 4, padding: int = 0, input_size: int = 224,
                              in_channels: int = 1, out_channels: int = 96) -> Figure:
    """The figure :func:`nin_block_explorer` shows for this setting (for static pages).

    Explained in chapter 2, "The NiN block".
    """
    return nin_block_figure(nin_block_summary(kernel, stride, padding, input_size, in_channels, out_channels))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int) -> str:
    return Table(header, rows, numeric=range(numeric_from, len(header)))._repr_html_()


def _png(fig: Figure) -> bytes:
    """Render a figure for an Image widget and close it, so no stray copy shows up in the notebook."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


class Explorer(widgets.VBox):
    """Controls on top; below them a message line, a table and a figure, redrawn on every change.

    ``summarize(**values)`` returns a summary or raises ``ValueError``; ``describe(summary)`` gives
    (table HTML, note HTML); ``draw(summary)`` gives the figure. ``summary`` holds the last good
    summary, or ``None`` while the setting is impossible. Explained in chapters 1 and 2 (the explorers).
    """

    def __init__(self, controls: dict[str, widgets.ValueWidget], summarize: Callable[..., object],
                 describe: Callable[[object], tuple[str, str]], draw: Callable[[object], Figure]):
        self.controls = controls
        self._summarize, self._describe, self._draw = summarize, describe, draw
        self.message = widgets.HTML()
        self.table = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.summary: object | None = None
        super().__init__([widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap")),
                          self.message, self.table, self.image])
        for control in controls.values():
            control.observe(self._on_change, names="value")
        self.update()

    @property
    def values(self) -> dict[str, int]:
        return {name: control.value for name, control in self.controls.items()}

    def _on_change(self, _change: dict) -> None:
        self.update()

    def update(self) -> None:
        """Recompute for the current control values; an impossible one becomes a message, not an error."""
        try:
            summary = self._summarize(**self.values)
        except ValueError as err:
            self.summary = None
            self.message.value = f'<div style="{ERROR_STYLE}"><b>Impossible setting.</b> {html.escape(str(err))}</div>'
            self.table.value = ""
            self.image.layout.display = "none"
            return
        self.summary = summary
        self.table.value, self.message.value = self._describe(summary)
        self.image.value = _png(self._draw(summary))
        self.image.layout.display = None


def _describe_one_by_one(summary: OneByOneSummary) -> tuple[str, str]:
    return _table(["quantity", "value"], summary.rows(), numeric_from=2), ""


def _describe_block(summary: BlockSummary) -> tuple[str, str]:
    table = summary.table()._repr_html_()
    footer = f"<p>Receptive field of one output pixel: {summary.receptive_field}×{summary.receptive_field} input pixels.</p>"
    notes = "".join(f'<div style="{NOTE_STYLE}">{html.escape(note)}</div>' for note in summary.notes)
    return table + footer, notes


def _int_text(description: str, value: int) -> widgets.IntText:
    return widgets.IntText(value=value, description=description, style={"description_width": "initial"},
                           layout=widgets.Layout(width="190px"))


def _slider(description: str, value: int, low: int, high: int) -> widgets.IntSlider:
    return widgets.IntSlider(value=value, min=low, max=high, description=description, continuous_update=False,
                             style={"description_width": "initial"}, layout=widgets.Layout(width="330px"))


def one_by_one_explorer(in_channels: int = 256, out_channels: int = 64, height: int = 28, width: int = 28) -> Explorer:
    """Input channels, output channels, height and width → weight shape, parameters, FLOPs, output shape, figure.

    Channel counts are typed (any whole number; 0 or less shows why it cannot work); height and width
    are sliders. Explained in chapter 1, "The 1×1 convolution".
    """
    controls = {
        "in_channels": _int_text("input channels", in_channels),
        "out_channels": _int_text("output channels", out_channels),
        "height": _slider("height", height, 1, 224),
        "width": _slider("width", width, 1, 224),
    }
    return Explorer(controls, one_by_one_summary, _describe_one_by_one, one_by_one_figure)  # type: ignore[arg-type]


def nin_block_explorer(kernel: int = 11, stride: int = 4, padding: int = 0, input_size: int = 224, in_channels: int = 1,
                       out_channels: int = 96) -> Explorer:
    """Kernel, stride, padding, input size and channels → per-layer shapes, parameters and FLOPs of one NiN block.

    A kernel larger than the padded input (or a channel count below 1) shows the reason and the fix
    inside the widget. Explained in chapter 2, "The NiN block".
    """
    controls = {
        "kernel": _slider("kernel", kernel, 1, 15),
        "stride": _slider("stride", stride, 1, 8),
        "padding": _slider("padding", padding, 0, 7),
        "input_size": _slider("input size", input_size, 1, 224),
        "in_channels": _int_text("input channels", in_channels),
        "out_channels": _int_text("output channels", out_channels),
    }
    return Explorer(controls, nin_block_summary, _describe_block, nin_block_figure)  # type: ignore[arg-type]
