"""The chapter-3 explorer: pick an input size and the first block's window, and watch the trace and its funnel.

A view over :func:`nin_book.shapes.trace_nin` (the browser mirrors it with ``nin_math.mjs``).
Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
"""

from __future__ import annotations

from typing import Any

from traitlets import Int

from nin_book.design import failing_layer
from nin_book.shapes import PartialTrace, trace_nin
from nin_book.widgets.base import Control, Explorer, esm_bundle

__all__ = ["TraceExplorer", "trace_explorer"]


class TraceExplorer(Explorer):
    """Input size and block 1's kernel, stride and padding → the trace, or the layer where it stops.

    Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """

    _esm = esm_bundle("trace.mjs")
    CONTROLS = (Control("input_size", "input size", "range", 1, 320), Control("kernel", "block1 kernel", "range", 1, 15),
                Control("stride", "block1 stride", "range", 1, 6), Control("padding", "block1 padding", "range", 0, 6))
    input_size = Int(224).tag(sync=True)
    kernel = Int(11).tag(sync=True)
    stride = Int(4).tag(sync=True)
    padding = Int(0).tag(sync=True)

    def compute(self) -> PartialTrace:
        return trace_nin(self.input_size, (self.kernel, self.stride, self.padding))

    def _view_data(self, r: PartialTrace) -> dict[str, Any]:
        return {"output-shape": r.trace[-1].shape_text if len(r.trace) else "", "parameters": r.trace.total_parameters,
                "flops": r.trace.total_flops, "failing-layer": failing_layer(r), "rows": len(r.trace), "message": r.message}


def trace_explorer(input_size: int = 224, first_block: tuple[int, int, int] = (11, 4, 0)) -> TraceExplorer:
    """The chapter-3 explorer at this setting. Explained in chapter 3, "Tracing shapes from 224 to 10×1×1"."""
    k, s, p = first_block
    return TraceExplorer(input_size=input_size, kernel=k, stride=s, padding=p)
