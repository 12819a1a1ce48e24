"""Design your own NiN: widths, first block, channels, classes and input size → every layer, and the totals
next to VGG-11 and AlexNet at the same input.

Pure logic behind the "Design your NiN" explorer (its JavaScript mirrors these numbers; the parity
test checks them). Networks are built on PyTorch's ``meta`` device: shapes only, in milliseconds.
Explained in chapter 4, "Parameters and compute against VGG".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from nin_book.blocks import MAX_SIZE, check_count
from nin_book.counting import count_parameters
from nin_book.models import alexnet, nin, vgg11
from nin_book.shapes import PartialTrace, trace_until_error

__all__ = ["DEFAULT_DESIGN", "Reference", "Design", "design_nin", "failing_layer", "funnel_values"]

# The book's NiN (chapters 2-4): 1×224×224 in, 10 classes.
DEFAULT_DESIGN: dict[str, int] = {
    "width1": 96, "width2": 256, "width3": 384, "kernel": 11, "stride": 4, "padding": 0,
    "in_channels": 1, "num_classes": 10, "input_size": 224,
}

_REFERENCES: dict[str, Callable[[int, int], nn.Module]] = {
    "VGG-11": lambda c, n: vgg11(in_channels=c, num_classes=n, init=False),
    "AlexNet": lambda c, n: alexnet(in_channels=c, num_classes=n, init=False),
}


def failing_layer(result: PartialTrace) -> str | None:
    """The name of the layer a partial trace stopped at (``'block1.conv'``), or ``None`` when it ran through.

    Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """
    if result.error is None:
        return None
    match = re.match(r"layer '([^']+)'", str(result.error))
    return match.group(1) if match else None


def funnel_values(result: PartialTrace) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, shape, values C·H·W) of the input and every 3-D output that differs from the one before.

    The stages the explorer's funnel draws, to a linear scale. Explained in chapter 3,
    "Tracing shapes from 224 to 10×1×1".
    """
    stages: list[tuple[str, tuple[int, ...], int]] = [("input", result.trace.input_shape, _numel(result.trace.input_shape))]
    for row in result.trace:
        if len(row.output_shape) == 3 and row.output_shape != stages[-1][1]:
            stages.append((row.name, row.output_shape, _numel(row.output_shape)))
    return stages


def _numel(shape: tuple[int, ...]) -> int:
    total = 1
    for d in shape:
        total *= d
    return total


@dataclass(frozen=True)
class Reference:
    """A classic network at the same input: its parameters, and its FLOPs or the layer where it stops."""

    name: str
    parameters: int
    result: PartialTrace

    @property
    def flops(self) -> int | None:
        return self.result.trace.total_flops if self.result.ok else None


@dataclass(frozen=True)
class Design:
    """One NiN design traced block by block (``result``), and the two classic networks beside it."""

    settings: dict[str, int]
    parameters: int
    result: PartialTrace
    references: tuple[Reference, ...]

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def flops(self) -> int | None:
        return self.result.trace.total_flops if self.result.ok else None

    @property
    def failing_layer(self) -> str | None:
        return failing_layer(self.result)

    def parameter_ratio(self, name: str) -> float:
        """How many times this NiN's parameters the named classic network has."""
        return self.reference(name).parameters / self.parameters

    def flop_ratio(self, name: str) -> float | None:
        """How many times this NiN's FLOPs the named network needs (``None`` when either cannot run)."""
        ref = self.reference(name)
        return None if ref.flops is None or self.flops is None else ref.flops / self.flops

    def reference(self, name: str) -> Reference:
        return next(r for r in self.references if r.name == name)


def design_nin(width1: int = 96, width2: int = 256, width3: int = 384, kernel: int = 11, stride: int = 4,
               padding: int = 0, in_channels: int = 1, num_classes: int = 10, input_size: int = 224) -> Design:
    """Trace a NiN with these block widths, first block (kernel, stride, padding), channels, classes and input size.

    The defaults are the book's NiN (1,992,166 parameters at 1×224×224). Counts below 1 (or a negative
    padding) raise ``ValueError`` naming the fix; a geometry that cannot work comes back in ``result``
    with the failing layer named, as :func:`nin_book.shapes.trace_until_error` says it. VGG-11 and
    AlexNet are traced for the same input channels, classes and size. Explained in chapter 4,
    "Parameters and compute against VGG".
    """
    for name, value in (("block 1 width", width1), ("block 2 width", width2), ("block 3 width", width3)):
        check_count(name, value, "a block makes one or more channels")
    check_count("input channels", in_channels, "the first convolution needs an input with one or more channels")
    check_count("classes", num_classes, "the last block makes one map per class")
    check_count("kernel", kernel, "the first convolution looks at a k×k window with k of 1 or more", MAX_SIZE)
    check_count("stride", stride, "the window moves by 1 or more pixels", MAX_SIZE)
    check_count("input size", input_size, "the input needs at least one pixel", MAX_SIZE)
    if isinstance(padding, bool) or not isinstance(padding, int) or not 0 <= padding <= MAX_SIZE:
        raise ValueError(f"padding must be a whole number from 0 to {MAX_SIZE:,}, got {padding!r}")
    settings = {"width1": width1, "width2": width2, "width3": width3, "kernel": kernel, "stride": stride,
                "padding": padding, "in_channels": in_channels, "num_classes": num_classes, "input_size": input_size}
    shape = (in_channels, input_size, input_size)
    with torch.device("meta"):
        model = nin(in_channels, num_classes, (width1, width2, width3), (kernel, stride, padding), init=False)
        refs = tuple(_reference(name, build(in_channels, num_classes), shape) for name, build in _REFERENCES.items())
    return Design(settings, count_parameters(model), trace_until_error(model, shape, depth=1), refs)


def _reference(name: str, model: nn.Module, shape: tuple[int, int, int]) -> Reference:
    return Reference(name, count_parameters(model), trace_until_error(model, shape, depth=1))

