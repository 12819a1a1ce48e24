"""The "Design your NiN" explorer: block widths, first block, channels, classes and input size → the whole network.

A view over :func:`nin_book.design.design_nin` (the browser mirrors it with ``nin_math.mjs``): every layer's
shape, parameters and FLOPs, the funnel to a linear scale, and the totals beside VGG-11 and AlexNet.
Explained in chapter 4, "Parameters and compute against VGG".
"""

from __future__ import annotations

from typing import Any

from traitlets import Int

from nin_book.design import DEFAULT_DESIGN, Design, design_nin, failing_layer
from nin_book.widgets.base import Control, Explorer, esm_bundle

__all__ = ["DesignExplorer"]


class DesignExplorer(Explorer):
    """Design your NiN; the defaults are the book's network (1,992,166 parameters at 1×224×224).

    Explained in chapter 4, "Parameters and compute against VGG".
    """

    _esm = esm_bundle("design.mjs")
    CONTROLS = (Control("width1", "block 1 width", "range", 8, 512, 8), Control("width2", "block 2 width", "range", 8, 512, 8),
                Control("width3", "block 3 width", "range", 8, 768, 8), Control("kernel", "block 1 kernel", "range", 1, 15),
                Control("stride", "block 1 stride", "range", 1, 6), Control("padding", "block 1 padding", "range", 0, 6),
                Control("in_channels", "input channels", "range", 1, 4), Control("num_classes", "classes", "range", 2, 1000),
                Control("input_size", "input size", "range", 32, 320))
    width1 = Int(DEFAULT_DESIGN["width1"]).tag(sync=True)
    width2 = Int(DEFAULT_DESIGN["width2"]).tag(sync=True)
    width3 = Int(DEFAULT_DESIGN["width3"]).tag(sync=True)
    kernel = Int(DEFAULT_DESIGN["kernel"]).tag(sync=True)
    stride = Int(DEFAULT_DESIGN["stride"]).tag(sync=True)
    padding = Int(DEFAULT_DESIGN["padding"]).tag(sync=True)
    in_channels = Int(DEFAULT_DESIGN["in_channels"]).tag(sync=True)
    num_classes = Int(DEFAULT_DESIGN["num_classes"]).tag(sync=True)
    input_size = Int(DEFAULT_DESIGN["input_size"]).tag(sync=True)

    def compute(self) -> Design:
        return design_nin(**self.settings)

    def _view_data(self, d: Design) -> dict[str, Any]:
        rows = d.result.trace
        data: dict[str, Any] = {"parameters": d.parameters, "flops": d.flops,
                                "output-shape": "" if not d.ok else rows[-1].shape_text,
                                "failing-layer": d.failing_layer, "message": d.result.message}
        for ref in d.references:
            key = ref.name.lower()  # "vgg-11", "alexnet", as the view names them
            data |= {f"{key}-parameters": ref.parameters, f"{key}-flops": ref.flops,
                     f"{key}-failing-layer": failing_layer(ref.result)}
        return data
