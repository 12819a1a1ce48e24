"""What a 1×1 convolution and a NiN block cost: shapes, parameters, FLOPs and receptive fields.

Pure functions (no drawing, no widgets) behind the explorers of chapters 1 and 2. Shapes come from
:func:`nin_book.shapes.conv_output_size` and :func:`nin_book.shapes.trace`, FLOPs from PyTorch's
``FlopCounterMode`` through ``trace``. Layers are built on PyTorch's ``meta`` device, so even a
1024-channel layer on a 224×224 input is counted instantly, without allocating or computing anything.

Explained in chapter 1, "The 1×1 convolution", and chapter 2, "The NiN block".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nin_book.models import nin_block
from nin_book.shapes import MAX_CHANNELS, MAX_SIZE, Trace, TraceRow, conv_output_size, describe_layer, iter_layers, trace
from nin_book.tables import Table

__all__ = [
    "OneByOneSummary",
    "LayerSummary",
    "BlockSummary",
    "ReceptiveFieldRow",
    "one_by_one_summary",
    "nin_block_summary",
    "receptive_fields",
    "check_count",
    "MAX_CHANNELS",
    "MAX_SIZE",
]


@dataclass(frozen=True)
class OneByOneSummary:
    """Everything about one ``nn.Conv2d(in_channels, out_channels, 1)`` on a ``height×width`` input."""

    in_channels: int
    out_channels: int
    height: int
    width: int
    weight_shape: tuple[int, int, int, int]
    weights: int
    biases: int
    parameters: int
    flops: int
    input_shape: tuple[int, int, int]
    output_shape: tuple[int, int, int]

    @property
    def flops_per_pixel(self) -> int:
        """FLOPs spent at one pixel: one multiply-add (2 FLOPs) per weight."""
        return self.flops // (self.height * self.width)

    def rows(self) -> list[tuple[str, str]]:
        """(quantity, value) pairs for a table, numbers with thousands separators."""
        shape = lambda s: "×".join(map(str, s))
        return [
            ("input shape", shape(self.input_shape)),
            ("weight shape", shape(self.weight_shape)),
            ("parameters", f"{self.weights:,} weights + {self.biases:,} biases = {self.parameters:,}"),
            ("FLOPs", f"{self.flops:,} ({self.flops_per_pixel:,} per pixel)"),
            ("output shape", shape(self.output_shape)),
        ]


@dataclass(frozen=True)
class LayerSummary:
    """One layer of a block: name, description, output shape, parameters, FLOPs, receptive field."""

    name: str
    layer: str
    output_shape: tuple[int, ...]
    parameters: int
    flops: int
    receptive_field: int | None


@dataclass(frozen=True)
class BlockSummary:
    """One NiN block (k×k conv, two 1×1 convs, each with ReLU) on a square ``input_size`` input."""

    kernel: int
    stride: int
    padding: int
    input_size: int
    in_channels: int
    out_channels: int
    layers: tuple[LayerSummary, ...]
    notes: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.input_size, self.input_size)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.layers[-1].output_shape

    @property
    def parameters(self) -> int:
        return sum(layer.parameters for layer in self.layers)

    @property
    def flops(self) -> int:
        return sum(layer.flops for layer in self.layers)

    @property
    def receptive_field(self) -> int | None:
        """Side of the input window one output pixel of the block sees (the k×k of its first conv)."""
        return self.layers[-1].receptive_field

    def table(self) -> Table:
        """The block's layers as a trace table (input row, one row per layer, total row)."""
        rows = [TraceRow(r.name, r.layer, r.output_shape, r.parameters, r.flops) for r in self.layers]
        return Trace(self.input_shape, rows).table()

    def rows(self) -> list[tuple[str, ...]]:
        """(layer, type, output shape, parameters, FLOPs) rows with a total, for a table."""
        return [tuple(row) for row in self.table().rows]


@dataclass(frozen=True)
class ReceptiveFieldRow:
    """Receptive field (side, in input pixels) and jump (input pixels between neighbouring outputs) after a layer."""

    name: str
    layer: str
    receptive_field: int | None
    jump: int


# MAX_CHANNELS and MAX_SIZE (the explorers' bounds) live in nin_book.shapes, where trace_nin checks them too.


def check_count(name: str, value: object, hint: str, largest: int = MAX_CHANNELS) -> int:
    """``value`` if it is a whole number from 1 to ``largest``; otherwise ``ValueError`` with ``hint`` as the fix.

    Explained in chapter 2, "The NiN block" (the explorers' messages for impossible settings).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}: {hint}")
    if value > largest:
        raise ValueError(f"{name} must be at most {largest:,}, got {value:,}: real layers stay far below that")
    return value


@contextlib.contextmanager
def _too_large_to_count() -> Iterator[None]:
    """PyTorch refuses tensors with more than 2⁶³ elements, even on the meta device: say so plainly."""
    try:
        yield
    except RuntimeError as err:
        if "overflow" not in str(err):
            raise
        raise ValueError("this layer has more weights or activations than PyTorch can index (2⁶³): "
                         "use fewer channels, a smaller kernel or a smaller input") from None


def one_by_one_summary(in_channels: int, out_channels: int, height: int, width: int) -> OneByOneSummary:
    """Weight shape, parameters, FLOPs and output shape of a 1×1 convolution on a (c_in, H, W) input.

    Parameters are c_in·c_out weights plus c_out biases; FLOPs are counted by ``FlopCounterMode``
    (2·c_in·c_out per pixel: one multiply-add per weight; the bias add is not counted). Height and
    width pass through unchanged. Raises ``ValueError`` naming the fix for a count below 1.

    Explained in chapter 1, "The 1×1 convolution".
    """
    check_count("input channels", in_channels, "a 1×1 convolution mixes the channels of its input, so it needs one or more")
    check_count("output channels", out_channels, "each output channel is one weighted sum; ask for one or more")
    check_count("height", height, "a feature map needs at least one row", MAX_SIZE)
    check_count("width", width, "a feature map needs at least one column", MAX_SIZE)
    with _too_large_to_count(), torch.device("meta"):  # shapes and FLOPs only: nothing is allocated or computed
        layer = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        row = trace(nn.Sequential(layer), (in_channels, height, width))[0]
    return OneByOneSummary(
        in_channels=in_channels,
        out_channels=out_channels,
        height=height,
        width=width,
        weight_shape=tuple(layer.weight.shape),  # type: ignore[arg-type]
        weights=layer.weight.numel(),
        biases=layer.bias.numel(),
        parameters=row.parameters,
        flops=row.flops,
        input_shape=(in_channels, height, width),
        output_shape=row.output_shape,  # type: ignore[arg-type]
    )


def nin_block_summary(kernel: int, stride: int, padding: int, input_size: int, in_channels: int,
                      out_channels: int) -> BlockSummary:
    """Per-layer output shape, parameters, FLOPs and receptive field of ``nin_block`` on a square input.

    Raises ``ValueError`` naming the fix for an impossible combination: counts below 1, negative
    padding, or a kernel larger than the padded input. Possible but wasteful settings (a stride
    larger than the kernel skips input pixels; rows left over at the border are dropped; padding
    as large as the kernel makes outputs that see only zeros) are listed in ``notes``.

    Explained in chapter 2, "The NiN block".
    """
    check_count("input channels", in_channels, "the block's first convolution needs an input with one or more channels")
    check_count("output channels", out_channels, "each of the block's three convolutions makes one or more channels")
    check_count("kernel", kernel, "the first convolution looks at a k×k window with k of 1 or more", MAX_SIZE)
    check_count("stride", stride, "the window moves by 1 or more pixels", MAX_SIZE)
    check_count("input size", input_size, "the input needs at least one pixel", MAX_SIZE)
    if isinstance(padding, bool) or not isinstance(padding, int):
        raise ValueError(f"padding must be a whole number, got {padding!r}")
    if padding < 0:
        raise ValueError(f"padding must be 0 or more, got {padding}: padding adds rings of zeros around the input")
    if padding > MAX_SIZE:
        raise ValueError(f"padding must be at most {MAX_SIZE:,}, got {padding:,}: real layers stay far below that")
    try:
        out_size = conv_output_size(input_size, kernel, stride, padding)
    except ValueError as err:
        raise ValueError(f"impossible block: {err}") from None
    notes = []
    if stride > kernel:
        notes.append(f"stride {stride} is larger than the kernel {kernel}: {stride - kernel} of every {stride} "
                     "input rows and columns are never seen")
    leftover = (input_size + 2 * padding - kernel) % stride
    if leftover:
        notes.append(f"the last {leftover} padded row(s) and column(s) do not fit a whole window and are dropped")
    if padding >= kernel:
        notes.append(f"padding {padding} is at least the kernel {kernel}: the border outputs see only zeros")
    with _too_large_to_count(), torch.device("meta"):
        block = nin_block(in_channels, out_channels, kernel, stride, padding)
        rows = trace(block, (in_channels, input_size, input_size))
    fields = {r.name: r.receptive_field for r in receptive_fields(block)}
    layers = tuple(LayerSummary(r.name, r.layer, r.output_shape, r.parameters, r.flops, fields[r.name]) for r in rows)
    assert layers[-1].output_shape == (out_channels, out_size, out_size)  # trace and the formula agree
    return BlockSummary(kernel, stride, padding, input_size, in_channels, out_channels, layers, tuple(notes))


def receptive_fields(model: nn.Module | Sequence[tuple[str, nn.Module]], depth: int | None = None) -> list[ReceptiveFieldRow]:
    """Receptive field and jump after every layer, from the input of ``model``.

    A k×k window with stride s grows the receptive field by (k − 1)·jump and multiplies the jump by s;
    1×1 convolutions, activations and dropout leave both as they are. After adaptive (global) pooling,
    flattening or a linear layer every output sees the whole input: the field is ``None`` from there on.
    ``depth`` works as in :func:`nin_book.shapes.iter_layers` (``depth=1``: one row per block).

    Explained in chapter 2, "The NiN block".
    """
    layers = list(iter_layers(model, depth)) if isinstance(model, nn.Module) else list(model)
    field: int | None = 1
    jump = 1
    rows = []
    for name, layer in layers:
        for inner in _leaves(layer):
            if isinstance(inner, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d | nn.Flatten | nn.Linear):
                field = None  # from here on, every output depends on the whole input
            elif field is not None and isinstance(inner, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
                k, s = _first(inner.kernel_size), _first(inner.stride)
                dilation = _first(getattr(inner, "dilation", 1))
                field += (dilation * (k - 1)) * jump
                jump *= s
        rows.append(ReceptiveFieldRow(name, describe_layer(layer), field, jump))
    return rows


def _leaves(module: nn.Module) -> list[nn.Module]:
    return [m for _, m in iter_layers(module)] if isinstance(module, nn.Sequential) else [module]


def _first(value) -> int:
    return int(value[0] if isinstance(value, tuple | list) else value)
