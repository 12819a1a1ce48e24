"""Explorers for chapters 1 and 2: a 1×1 convolution and one NiN block.

Views over :func:`nin_book.blocks.one_by_one_summary` and :func:`nin_book.blocks.nin_block_summary`; the
browser computes the same numbers with ``nin_math.mjs``. An impossible setting shows the summary's
``ValueError`` message inside the view, never a traceback.

Explained in chapter 1, "The 1×1 convolution", and chapter 2, "The NiN block".
"""

from __future__ import annotations

from typing import Any

from traitlets import Int

from nin_book.blocks import BlockSummary, OneByOneSummary, nin_block_summary, one_by_one_summary
from nin_book.widgets.base import Control, Explorer, esm_bundle

__all__ = ["OneByOneExplorer", "NinBlockExplorer", "one_by_one_explorer", "nin_block_explorer"]


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


class OneByOneExplorer(Explorer):
    """Input channels, output channels, height and width → weight shape, parameters, FLOPs, output shape.

    Explained in chapter 1, "The 1×1 convolution".
    """

    _esm = esm_bundle("one_by_one.mjs")
    CONTROLS = (Control("in_channels", "input channels", "number", 1, 4096),
                Control("out_channels", "output channels", "number", 1, 4096),
                Control("height", "height", "range", 1, 224), Control("width", "width", "range", 1, 224))
    in_channels = Int(256).tag(sync=True)
    out_channels = Int(64).tag(sync=True)
    height = Int(28).tag(sync=True)
    width = Int(28).tag(sync=True)

    def compute(self) -> OneByOneSummary:
        return one_by_one_summary(**self.settings)

    def _view_data(self, s: OneByOneSummary) -> dict[str, Any]:
        return {"parameters": s.parameters, "flops": s.flops, "output-shape": _shape(s.output_shape),
                "weight-shape": _shape(s.weight_shape)}


class NinBlockExplorer(Explorer):
    """Kernel, stride, padding, input size and channels → per-layer shapes, parameters and FLOPs of one NiN block.

    Explained in chapter 2, "The NiN block".
    """

    _esm = esm_bundle("nin_block.mjs")
    CONTROLS = (Control("kernel", "kernel", "range", 1, 15), Control("stride", "stride", "range", 1, 8),
                Control("padding", "padding", "range", 0, 7), Control("input_size", "input size", "range", 1, 224),
                Control("in_channels", "input channels", "number", 1, 4096),
                Control("out_channels", "output channels", "number", 1, 4096))
    kernel = Int(11).tag(sync=True)
    stride = Int(4).tag(sync=True)
    padding = Int(0).tag(sync=True)
    input_size = Int(224).tag(sync=True)
    in_channels = Int(1).tag(sync=True)
    out_channels = Int(96).tag(sync=True)

    def compute(self) -> BlockSummary:
        return nin_block_summary(**self.settings)

    def _view_data(self, s: BlockSummary) -> dict[str, Any]:
        return {"parameters": s.parameters, "flops": s.flops, "output-shape": _shape(s.output_shape),
                "receptive-field": s.receptive_field, "notes": len(s.notes)}


def one_by_one_explorer(in_channels: int = 256, out_channels: int = 64, height: int = 28, width: int = 28) -> OneByOneExplorer:
    """The chapter-1 explorer at this setting. Explained in chapter 1, "The 1×1 convolution"."""
    return OneByOneExplorer(in_channels=in_channels, out_channels=out_channels, height=height, width=width)


def nin_block_explorer(kernel: int = 11, stride: int = 4, padding: int = 0, input_size: int = 224, in_channels: int = 1,
                       out_channels: int = 96) -> NinBlockExplorer:
    """The chapter-2 explorer at this setting. Explained in chapter 2, "The NiN block"."""
    return NinBlockExplorer(kernel=kernel, stride=stride, padding=padding, input_size=input_size, in_channels=in_channels,
                            out_channels=out_channels)
