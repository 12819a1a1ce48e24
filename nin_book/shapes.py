"""Output sizes of convolutions and pooling, and layer-by-layer traces of a network.

Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nin_book.tables import Table

__all__ = [
    "ShapeError", "conv_output_size", "probe_input", "meta_probe", "TraceRow", "Trace", "trace", "iter_layers", "describe_layer",
    "PartialTrace", "trace_until_error", "min_input_size", "accepts_input", "smallest_valid_input",
    "smallest_input_by_inversion", "trace_nin", "MAX_CHANNELS", "MAX_SIZE", "MAX_TENSOR_BYTES",
]

# The explorers' bounds (chapters 1-4; nin_book.blocks, design and trace_nin check them, and nin_math.mjs mirrors
# them): far above any real layer, and low enough that every count stays within 64-bit integers and every side
# within the integers a browser's numbers hold exactly.
MAX_CHANNELS = 1 << 20
MAX_SIZE = 1 << 16
# PyTorch cannot describe a tensor of 2⁶³ bytes or more, even on the meta device (its size is a 64-bit integer).
MAX_TENSOR_BYTES = (1 << 63) - 1


class ShapeError(ValueError):
    """A layer cannot take the input it is given (kernel larger than the padded input, ...)."""


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output height (or width) of a convolution or pooling window: ⌊(n + 2p − k)/s⌋ + 1.

    Raises ``ValueError`` naming the fix when the combination is impossible: a non-positive size,
    kernel or stride, negative padding, or a kernel larger than the padded input. Integer-like values
    (numpy or torch integers) are accepted; floats are not. Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """
    size, kernel, stride, padding = (_integer(name, value) for name, value in
                                     (("input size", size), ("kernel", kernel), ("stride", stride), ("padding", padding)))
    for name, value, lowest in (("input size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1), ("padding", padding, 0)):
        if value < lowest:
            bound = "positive" if lowest == 1 else "zero or more"
            raise ValueError(f"{name} must be {bound}, got {value}")
    padded = size + 2 * padding
    if kernel > padded:
        raise ValueError(
            f"kernel {kernel} is larger than the padded input {padded} (size {size} + 2×padding {padding}): "
            "use a larger input, a smaller kernel or more padding"
        )
    return (padded - kernel) // stride + 1


def _integer(name: str, value: object) -> int:
    """``value`` as an int if it is integer-like (has ``__index__``: int, numpy and torch integers); else ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})") from None


def _input_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    """Check that ``input_shape`` is (C, H, W) of integers: a 2-tuple would silently drop the channels."""
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, Sequence) and not hasattr(input_shape, "__len__"):
        raise ValueError(f"input_shape must be (channels, height, width), got {input_shape!r}")
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), three integers without the batch, got {shape}; "
                         f"e.g. (1, {shape[-1] if shape else 224}, {shape[-1] if shape else 224}) for one grey image")
    return tuple(_integer(f"input_shape {name}", d) for name, d in zip(("channels", "height", "width"), shape, strict=True))


def _meta_state(module: nn.Module) -> dict[str, torch.Tensor]:
    # Shapes, not values: meta copies of the weights cost no memory, so any input size can be traced.
    return {name: t.to("meta") for name, t in chain(module.named_parameters(remove_duplicate=False),
                                                     module.named_buffers(remove_duplicate=False))}


def _meta_call(module: nn.Module, *args: torch.Tensor) -> torch.Tensor:
    """Run ``module`` on meta tensors (its own weights stay where they are)."""
    # Every name gets its own meta tensor, tied or not: only shapes matter here.
    return torch.func.functional_call(module, _meta_state(module), args, tie_weights=False)


def meta_probe(model: nn.Module, input_shape: Sequence[int]) -> torch.Tensor:
    """Like :func:`probe_input`, but on PyTorch's ``meta`` device: it has a shape and no memory.

    Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32
    return torch.zeros((1, *input_shape), dtype=dtype, device="meta")


@dataclass(frozen=True)
class TraceRow:
    """One layer of a trace: where it sits, what it is, what comes out, and what it costs."""

    name: str
    layer: str
    output_shape: tuple[int, ...]
    parameters: int
    flops: int

    @property
    def shape_text(self) -> str:
        return "×".join(str(d) for d in self.output_shape)


class Trace(Sequence[TraceRow]):
    """The rows of :func:`trace`; shows as an HTML table in a notebook and as text elsewhere."""

    def __init__(self, input_shape: tuple[int, ...], rows: list[TraceRow]):
        self.input_shape = tuple(input_shape)
        self.rows = rows

    def __getitem__(self, index):  # type: ignore[override]
        return self.rows[index]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def total_parameters(self) -> int:
        return sum(r.parameters for r in self.rows)

    @property
    def total_flops(self) -> int:
        return sum(r.flops for r in self.rows)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [r.output_shape for r in self.rows]

    def table(self) -> Table:
        """The trace as a :class:`~nin_book.tables.Table`, with an input row first and a total row last."""
        body = [["input", "", "×".join(map(str, self.input_shape)), "", ""]]
        body += [[r.name, r.layer, r.shape_text, f"{r.parameters:,}", f"{r.flops:,}"] for r in self.rows]
        body.append(["total", "", "", f"{self.total_parameters:,}", f"{self.total_flops:,}"])
        return Table(["layer", "type", "output shape", "parameters", "FLOPs"], body, numeric=(3, 4))

    def __str__(self) -> str:
        return str(self.table())

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


def probe_input(model: nn.Module, input_shape: Sequence[int]) -> torch.Tensor:
    """A batch of one zero input of ``input_shape`` on the model's device and in its dtype (for tracing and counting)."""
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32
    device = param.device if param is not None else torch.device("cpu")
    return torch.zeros((1, *input_shape), dtype=dtype, device=device)


def iter_layers(model: nn.Module, depth: int | None = None, prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    """Yield ``(name, module)`` in execution order, expanding nested ``nn.Sequential`` up to ``depth``.

    ``depth=None`` expands every Sequential down to its leaves; ``depth=1`` gives the top-level
    children only (blocks and pools). A module placed twice is yielded twice (``named_children`` would
    skip the second use). Explained in chapter 3.
    """
    for name, child in model._modules.items():
        if child is None:
            continue
        full = f"{prefix}{name}"
        if isinstance(child, nn.Sequential) and (depth is None or depth > 1):
            yield from iter_layers(child, None if depth is None else depth - 1, f"{full}.")
        else:
            yield full, child


def describe_layer(module: nn.Module) -> str:
    """A short human description: ``Conv2d 11×11/4 pad 0``, ``MaxPool2d 3/2``, ``NiN block`` ..."""
    kind = type(module).__name__
    if isinstance(module, nn.Conv2d):
        k, s, p = module.kernel_size[0], module.stride[0], module.padding[0]
        return f"{kind} {k}×{k}/{s} pad {p}"
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = (_first(v) for v in (module.kernel_size, module.stride, module.padding))
        return f"{kind} {k}/{s}" + (f" pad {p}" if p else "")
    if isinstance(module, nn.Sequential):
        convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
        if len(convs) == 3 and convs[1].kernel_size == (1, 1) and convs[2].kernel_size == (1, 1):
            k = convs[0].kernel_size[0]
            return f"NiN block {k}×{k}/{convs[0].stride[0]}"
        return f"Sequential ({len(module)} layers)"
    return kind


def trace(model: nn.Module, input_shape: Sequence[int], depth: int | None = None) -> Trace:
    """Run one input of ``input_shape`` (C, H, W) through ``model`` and record every layer.

    Each row holds the layer's name, a description, its output shape (without the batch
    dimension), its parameter count and its forward FLOPs, counted by PyTorch's
    ``FlopCounterMode`` (a multiply-add counts as 2 FLOPs; ReLU and pooling count 0).
    A layer that cannot take its input raises :class:`ShapeError` naming the layer and the reason.
    The model is traced in eval mode and left in the mode it was in, on PyTorch's ``meta`` device, so a
    huge input allocates nothing. ``input_shape`` must be three integers; anything else is a ``ValueError``.
    The one bound is PyTorch's: an input, or a layer's output or weights, of ``MAX_TENSOR_BYTES`` (2⁶³ − 1 bytes)
    or more cannot exist even on the meta device, and is a :class:`ShapeError` that says so.

    A module used twice gives a row per use, and each parameter is counted once (in the row of its
    first use), so ``total_parameters`` equals :func:`nin_book.counting.count_parameters`. A model that
    is not an ``nn.Sequential`` is traced through its own ``forward``, one row per call of each child.

    Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """
    result = trace_until_error(model, input_shape, depth)
    if result.error is not None:
        raise result.error
    return result.trace


def _run_layer(name: str, layer: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Run one layer under the FLOP counter; turn a shape failure into a readable ShapeError."""
    in_text = "×".join(map(str, x.shape[1:]))
    if isinstance(layer, nn.Sequential):
        # Run the inner layers one by one so that the failing one can be named.
        total = 0
        for inner_name, inner in iter_layers(layer, None, f"{name}."):
            x, flops = _run_layer(inner_name, inner, x)
            total += flops
        return x, total
    reason = _predict_failure(layer, x)
    if reason:
        raise ShapeError(f"layer '{name}' ({describe_layer(layer)}) cannot take input {in_text}: {reason}")
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            out = _meta_call(layer, x)
    except RuntimeError as err:
        raise ShapeError(f"layer '{name}' ({describe_layer(layer)}) cannot take input {in_text}: {_reason(err)}") from None
    return out, int(counter.get_total_flops())


def _reason(err: RuntimeError) -> str:
    """The first line of PyTorch's error, in plain words when it is the 2⁶³-byte limit."""
    first_line = str(err).strip().splitlines()[0]
    if "overflow" in first_line.lower():
        return ("its output or weights would take 2⁶³ bytes or more, more than PyTorch can describe; "
                "use a smaller input, fewer channels or a smaller kernel")
    return first_line


def _predict_failure(layer: nn.Module, x: torch.Tensor) -> str | None:
    """For convolution, pooling and linear layers, say in words why the input is impossible (None when it is fine)."""
    if isinstance(layer, nn.Linear) and x.dim() >= 1 and x.shape[-1] != layer.in_features:
        return (f"it expects {layer.in_features:,} input features, got {x.shape[-1]:,}; a fully connected layer "
                "fixes the size of the maps before it")
    if isinstance(layer, nn.Conv2d) and x.dim() == 4 and x.shape[1] != layer.in_channels:
        return f"it expects {layer.in_channels} input channels, got {x.shape[1]}"
    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)) and x.dim() == 4:
        k, s, p = (_pair(v) for v in (layer.kernel_size, layer.stride, layer.padding))
        if isinstance(p[0], str):  # padding="same"/"valid": let PyTorch decide
            return None
        for i, axis in enumerate(("height", "width")):
            size = x.shape[2 + i]
            try:
                conv_output_size(int(size), k[i], s[i], p[i])
            except ValueError as err:
                return f"{axis} {size}: {err}"
    return None


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _first(value):
    return value[0] if isinstance(value, (tuple, list)) else value


# --- Partial traces and the smallest valid input (chapter 3) -------------------------------------


@dataclass(frozen=True)
class PartialTrace:
    """The rows of a trace up to the first layer that cannot take its input, and that layer's error.

    ``error`` is ``None`` when the whole network ran; ``trace`` then holds every row.
    """

    trace: Trace
    error: ShapeError | None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str:
        """One line for a reader: the output shape when it ran, or where and why it stopped."""
        if self.error is None:
            out = self.trace.rows[-1].shape_text if self.trace.rows else "×".join(map(str, self.trace.input_shape))
            return f"the input {'×'.join(map(str, self.trace.input_shape))} runs through every layer; output {out}"
        return str(self.error)


def trace_until_error(model: nn.Module, input_shape: Sequence[int], depth: int | None = None) -> PartialTrace:
    """Like :func:`trace`, but instead of raising, stop at the first layer that cannot take its input.

    Returns the rows that did run (at the granularity ``depth`` asks for) together with the
    :class:`ShapeError` that names the failing layer. Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """
    shape = _input_shape(input_shape)
    if any(d <= 0 for d in shape):
        err = ShapeError(f"input shape {shape} has a non-positive dimension; every size must be at least 1")
        return PartialTrace(Trace(shape, []), err)
    param = next(model.parameters(), None)
    itemsize = (param.dtype if param is not None else torch.float32).itemsize
    if math.prod(shape) * itemsize > MAX_TENSOR_BYTES:
        err = ShapeError(f"input_shape {shape} holds {math.prod(shape):,} values ({itemsize} bytes each), more than "
                         f"PyTorch can describe (under 2⁶³ bytes, even on the meta device); trace a smaller input")
        return PartialTrace(Trace(shape, []), err)
    was_training = model.training
    model.eval()
    rows: list[TraceRow] = []
    error: ShapeError | None = None
    counted: set[int] = set()  # parameters already in a row: shared modules and tied weights count once
    first_use: dict[int, str] = {}
    try:
        x = meta_probe(model, shape)
        with torch.no_grad():
            if not isinstance(model, nn.Sequential) and next(model.children(), None) is not None:
                return PartialTrace(*_trace_forward(model, x, shape, depth))
            for name, layer in iter_layers(model, depth):
                try:
                    x, flops = _run_layer(name, layer, x)
                except ShapeError as err:
                    error = err
                    break
                rows.append(TraceRow(name, _describe_use(layer, first_use, name), tuple(x.shape[1:]),
                                     _new_parameters(layer, counted), flops))
    finally:
        model.train(was_training)
    return PartialTrace(Trace(shape, rows), error)


def _new_parameters(layer: nn.Module, counted: set[int]) -> int:
    """Parameters of ``layer`` not yet counted in an earlier row (and mark them counted)."""
    fresh = [p for p in layer.parameters() if id(p) not in counted]
    counted.update(id(p) for p in fresh)
    return sum(p.numel() for p in fresh)


def _describe_use(layer: nn.Module, first_use: dict[int, str], name: str) -> str:
    first = first_use.setdefault(id(layer), name)
    return describe_layer(layer) + ("" if first == name else f" (shared with '{first}')")


def _trace_forward(model: nn.Module, x: torch.Tensor, shape: tuple[int, ...],
                   depth: int | None) -> tuple[Trace, ShapeError | None]:
    """Trace a model with its own ``forward`` (not a plain chain): hooks record every call of its layers."""
    names: dict[int, str] = {}
    for name, layer in iter_layers(model, depth):
        names.setdefault(id(layer), name)
    rows: list[TraceRow] = []
    counted: set[int] = set()
    calls: dict[int, int] = {}
    running: list[tuple[str, nn.Module, int, str]] = []
    counter = FlopCounterMode(display=False)

    def before(layer: nn.Module, args: tuple) -> None:
        call = calls.get(id(layer), 0) + 1
        name = names[id(layer)] if call == 1 else f"{names[id(layer)]} (call {call})"
        inp = args[0] if args and isinstance(args[0], torch.Tensor) else None
        in_text = "×".join(map(str, inp.shape[1:])) if inp is not None else "?"
        reason = _predict_failure(layer, inp) if inp is not None else None
        if reason:
            raise ShapeError(f"layer '{name}' ({describe_layer(layer)}) cannot take input {in_text}: {reason}")
        running.append((name, layer, int(counter.get_total_flops()), in_text))

    def after(layer: nn.Module, args: tuple, out: torch.Tensor) -> None:
        name, _, flops_before, _ = running.pop()
        calls[id(layer)] = calls.get(id(layer), 0) + 1
        description = describe_layer(layer) + ("" if calls[id(layer)] == 1 else " (shared)")
        rows.append(TraceRow(name, description, tuple(out.shape[1:]), _new_parameters(layer, counted),
                             int(counter.get_total_flops()) - flops_before))

    modules = {id(layer): layer for _, layer in iter_layers(model, depth)}.values()
    handles = [h for m in modules for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))]
    error: ShapeError | None = None
    try:
        with counter:
            _meta_call(model, x)
    except ShapeError as err:
        error = err
    except RuntimeError as err:
        if running:
            name, layer, _, in_text = running[-1]
            error = ShapeError(f"layer '{name}' ({describe_layer(layer)}) cannot take input {in_text}: {_reason(err)}")
        else:
            error = ShapeError(f"the model's own forward failed between layers: {_reason(err)}")
    finally:
        for h in handles:
            h.remove()
    return Trace(shape, rows), error


def min_input_size(output_size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """The smallest input n for which ⌊(n + 2p − k)/s⌋ + 1 is at least ``output_size``: the size rule inverted.

    Solving (n + 2p − k)/s + 1 ≥ m for n gives n ≥ (m − 1)·s + k − 2p (and n is at least 1).
    Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """
    for name, value in (("output size", output_size), ("kernel", kernel), ("stride", stride)):
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value}")
    if padding < 0:
        raise ValueError(f"padding must be zero or more, got {padding}")
    return max(1, (output_size - 1) * stride + kernel - 2 * padding)


def accepts_input(model: nn.Module, input_shape: Sequence[int]) -> bool:
    """Whether ``model`` runs on one input of ``input_shape`` (C, H, W) without a shape error.

    Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """
    return trace_until_error(model, input_shape, depth=1).ok


def smallest_valid_input(model: nn.Module, channels: int = 1, start: int = 1, stop: int = 1024) -> int:
    """The smallest square input size n (from ``start`` up to ``stop``) that ``model`` accepts, found by search.

    Every size is tried in turn with :func:`accepts_input`, so the answer is what the network
    itself says, not a formula. Raises ``ValueError`` when no size up to ``stop`` works.
    Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """
    if not 1 <= start <= stop:
        raise ValueError(f"need 1 ≤ start ≤ stop, got start={start}, stop={stop}")
    for size in range(start, stop + 1):
        if accepts_input(model, (channels, size, size)):
            return size
    raise ValueError(f"no square input from {start} to {stop} fits the network; raise stop or change the layers")


def smallest_input_by_inversion(model: nn.Module) -> int:
    """The smallest square input size of ``model``, by running :func:`min_input_size` backwards through its layers.

    Start from the 1×1 map the last layer must get, and ask each convolution or pooling layer,
    from the last to the first, how large its input must be. Layers that keep the size (ReLU,
    dropout, 1×1 convolutions) pass the requirement through. Needs square kernels, no dilation
    and no ``ceil_mode``, and no fully connected layer: a ``Linear`` layer after a flatten fixes
    the size exactly, so a lower bound is not the answer there. Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """
    need = 1
    for name, layer in reversed(list(iter_layers(model))):
        if isinstance(layer, nn.Linear):
            raise ValueError(f"layer '{name}' is fully connected and fixes its input size; "
                             "use smallest_valid_input(), which searches instead")
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s, p = (_pair(v) for v in (layer.kernel_size, layer.stride, layer.padding))
            dilation = _pair(getattr(layer, "dilation", 1))
            if isinstance(p[0], str) or k[0] != k[1] or s[0] != s[1] or p[0] != p[1] or dilation != (1, 1) \
                    or getattr(layer, "ceil_mode", False):
                raise ValueError(f"layer '{name}' ({describe_layer(layer)}) is not a square, undilated window; "
                                 "use smallest_valid_input(), which searches instead")
            need = min_input_size(need, k[0], s[0], p[0])
    return need


def trace_nin(
    input_size: int, first_block: tuple[int, int, int] = (11, 4, 0), channels: int = 1, depth: int | None = 1
) -> PartialTrace:
    """Trace NiN on a square ``input_size`` input, with the first block's (kernel, stride, padding) of your choice.

    The chapter-3 explorer's logic. The network is built on PyTorch's ``meta`` device (shapes
    only, no weights), so this takes milliseconds. An impossible setting comes back as an error
    in the result (never raised), with the rows that did run. The settings are bounded as in the
    other explorers: whole numbers, the input size, kernel, stride and padding at most ``MAX_SIZE``
    (65,536) and the channels at most ``MAX_CHANNELS`` (1,048,576); the error names each one outside
    its range. Explained in chapter 3, "Tracing shapes from 224 to 10×1×1".
    """
    # Imported here so that importing shapes does not pull in the model zoo.
    from nin_book.models import nin

    window = tuple(first_block) if isinstance(first_block, (tuple, list)) else ()
    if len(window) != 3:
        return PartialTrace(Trace((channels, input_size, input_size), []),
                            ShapeError(f"first_block must be (kernel, stride, padding), got {first_block!r}"))
    kernel, stride, padding = window
    problems = [problem for name, value, lowest, highest in
                (("input size", input_size, 1, MAX_SIZE), ("kernel", kernel, 1, MAX_SIZE), ("stride", stride, 1, MAX_SIZE),
                 ("padding", padding, 0, MAX_SIZE), ("channels", channels, 1, MAX_CHANNELS))
                if (problem := _setting_problem(name, value, lowest, highest))]
    if problems:
        return PartialTrace(Trace((channels, input_size, input_size), []), ShapeError("; ".join(problems)))
    with torch.device("meta"):
        model = nin(in_channels=channels, first_block=(kernel, stride, padding), init=False)
    return trace_until_error(model, (channels, input_size, input_size), depth=depth)


def _is_whole(value: object) -> bool:
    return not isinstance(value, bool) and hasattr(value, "__index__")


def _setting_problem(name: str, value: object, lowest: int, highest: int) -> str | None:
    """What is wrong with one of trace_nin's settings, in the words nin_math.mjs's traceNin uses (None when fine)."""
    if not _is_whole(value):
        return f"{name} must be a whole number, got {value!r}"
    value = operator.index(value)  # type: ignore[arg-type]
    if value < lowest:
        return f"{name} must be {'at least 1' if lowest == 1 else 'zero or more'}, got {value}"
    if value > highest:
        return f"{name} must be at most {highest:,}, got {value:,}"
    return None
