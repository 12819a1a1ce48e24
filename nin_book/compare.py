"""Comparing networks: parameters, compute and memory of NiN, VGG-11 and AlexNet, and where the parameters live.

Models are built on PyTorch's ``meta`` device: the layers know their shapes but hold no numbers,
so even a 500-million-parameter VGG is built, counted and traced in milliseconds.
Explained in chapter 4, "Parameters and compute against VGG".
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nin_book.counting import count_parameters
from nin_book.models import alexnet, nin, vgg11
from nin_book.shapes import Trace, iter_layers, trace
from nin_book.tables import Table

__all__ = [
    "MODEL_NAMES", "INPUT_SHAPE", "BYTES_FP32", "MAX_WIDTH_MULTIPLIER", "ModelStats", "build_model", "nin_with_fc_head",
    "model_stats", "compare_models", "comparison_table", "parameter_breakdown", "layer_share",
    "first_linear", "activation_elements", "format_count",
]

MODEL_NAMES: tuple[str, ...] = ("NiN", "VGG-11", "AlexNet")
INPUT_SHAPE: tuple[int, int, int] = (1, 224, 224)
BYTES_FP32 = 4
NIN_WIDTHS: tuple[int, int, int] = (96, 256, 384)
# The widest layer (VGG's and AlexNet's 4096) then has 2²⁰ channels, the explorers' MAX_CHANNELS; the chapter-4
# explorer's slider goes from 0.25 to 2. nin_math.mjs checks the same bound.
MAX_WIDTH_MULTIPLIER = 256.0

# Layers whose output is a new tensor that training keeps for the backward pass. In-place ReLU,
# dropout at inference and flatten (a view) allocate nothing new, so they are not counted.
_STORING = (nn.Conv2d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.BatchNorm2d)


@dataclass(frozen=True)
class ModelStats:
    """What one network costs for one input: parameters, forward FLOPs and activation values."""

    name: str
    width_multiplier: float
    parameters: int
    flops: int
    activations: int  # values produced by convolution, pooling and linear layers for one image
    input_shape: tuple[int, ...] = INPUT_SHAPE

    @property
    def size_mb(self) -> float:
        """Weights at fp32, in megabytes (10⁶ bytes)."""
        return self.parameters * BYTES_FP32 / 1e6

    @property
    def flops_per_parameter(self) -> float:
        """How often each weight is used per image: convolutions reuse a weight at every pixel."""
        return self.flops / self.parameters

    @property
    def activation_mb(self) -> float:
        """Activation memory for one image at fp32, in megabytes."""
        return self.activations * BYTES_FP32 / 1e6


def _scaled(channels: int, multiplier: float) -> int:
    # The same rounding as nin_book.models uses for VGG-11 and AlexNet.
    return max(1, round(channels * multiplier))


def _check_multiplier(width_multiplier: float) -> None:
    # Written so that nan (no comparison holds) and inf fail too.
    if isinstance(width_multiplier, bool) or not isinstance(width_multiplier, (int, float)) \
            or not 0 < width_multiplier <= MAX_WIDTH_MULTIPLIER:
        raise ValueError(f"width_multiplier must be a positive number up to {MAX_WIDTH_MULTIPLIER:g} (1.0 is the "
                         f"published width), got {width_multiplier!r}")


_BUILDERS: dict[str, Callable[[float], nn.Module]] = {
    "NiN": lambda m: nin(widths=tuple(_scaled(c, m) for c in NIN_WIDTHS), init=False),
    "VGG-11": lambda m: vgg11(width_multiplier=m, init=False),
    "AlexNet": lambda m: alexnet(width_multiplier=m, init=False),
}


def build_model(name: str, width_multiplier: float = 1.0, device: str | torch.device = "meta") -> nn.Module:
    """Build ``"NiN"``, ``"VGG-11"`` or ``"AlexNet"`` with every channel count scaled by ``width_multiplier``.

    On the default ``meta`` device the model has shapes but no weights, which is all that counting
    needs. NiN's class count (10) is not scaled. ``width_multiplier`` must be a number in (0, ``MAX_WIDTH_MULTIPLIER``]
    (256: the widest layer then has 2²⁰ channels); anything else, ``nan`` and ``inf`` too, is a ``ValueError``.
    Explained in chapter 4, "Parameters and compute against VGG".
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    _check_multiplier(width_multiplier)
    with torch.device(device):
        return _BUILDERS[name](float(width_multiplier))


def nin_with_fc_head(
    hidden: Sequence[int] = (4096, 4096),
    num_classes: int = 10,
    input_shape: Sequence[int] = INPUT_SHAPE,
    dropout: float = 0.5,
    device: str | torch.device = "meta",
) -> nn.Sequential:
    """NiN with its global-average-pooling head swapped for a VGG-style fully connected head.

    The feature extractor (blocks 1–3 and their pools) is NiN's; the last NiN block and global
    average pooling are replaced by flatten → ``hidden`` fully connected layers (ReLU, dropout)
    → ``num_classes``, as VGG and AlexNet end. The first linear layer's input size is computed by
    tracing ``input_shape`` through the features, so it fits whatever input the head is built for.
    Explained in chapter 4, "Parameters and compute against VGG".
    """
    if any(h < 1 for h in hidden):
        raise ValueError(f"hidden layer widths must be positive, got {tuple(hidden)}")
    with torch.device(device):
        base = nin(in_channels=int(input_shape[0]), num_classes=num_classes, dropout=dropout, init=False)
        # Keep blocks 1-3 and their pools; drop the class-map block, the pooling head and the dropout before it.
        dropped = ("dropout", "block4", "gap", "flatten")
        layers: list[tuple[str, nn.Module]] = [(n, m) for n, m in base.named_children() if n not in dropped]
        flat = trace(nn.Sequential(OrderedDict(layers)), input_shape, depth=1)[-1].output_shape
        width = math.prod(flat)
        layers.append(("flatten", nn.Flatten()))
        for i, h in enumerate(hidden, start=1):
            layers += [(f"fc{i}", nn.Linear(width, h)), (f"relu{i}", nn.ReLU(inplace=True)), (f"dropout{i}", nn.Dropout(dropout))]
            width = h
        layers.append((f"fc{len(hidden) + 1}", nn.Linear(width, num_classes)))
        return nn.Sequential(OrderedDict(layers))


def activation_elements(model: nn.Module, input_shape: Sequence[int] = INPUT_SHAPE) -> int:
    """Values produced for one input by the layers that store a new tensor (convolution, pooling, linear, batch norm).

    This is what training keeps for the backward pass; at fp32 each value takes 4 bytes.
    Explained in chapter 4, "Parameters and compute against VGG".
    """
    return _stored_values(model, trace(model, input_shape))


def _stored_values(model: nn.Module, rows: Trace) -> int:
    modules = dict(iter_layers(model))
    return sum(math.prod(r.output_shape) for r in rows if isinstance(modules[r.name], _STORING))


def model_stats(
    name: str, model: nn.Module, input_shape: Sequence[int] = INPUT_SHAPE, width_multiplier: float = 1.0
) -> ModelStats:
    """Parameters, forward FLOPs and activation values of ``model`` for one input of ``input_shape``.

    Explained in chapter 4, "Parameters and compute against VGG".
    """
    rows = trace(model, input_shape)
    return ModelStats(name, float(width_multiplier), count_parameters(model), rows.total_flops, _stored_values(model, rows),
                      tuple(int(d) for d in input_shape))


def compare_models(
    names: Sequence[str] = MODEL_NAMES, width_multiplier: float = 1.0, input_shape: Sequence[int] = INPUT_SHAPE
) -> list[ModelStats]:
    """:class:`ModelStats` for each named model at ``width_multiplier`` (the chapter-4 explorer's logic).

    Raises ``ValueError`` naming the fix for an empty selection, an unknown name or a bad multiplier.
    Explained in chapter 4, "Parameters and compute against VGG".
    """
    if not names:
        raise ValueError(f"choose at least one model from {', '.join(MODEL_NAMES)}")
    return [model_stats(n, build_model(n, width_multiplier), input_shape, width_multiplier) for n in names]


def format_count(value: float) -> str:
    """A count in words-of-a-textbook units: 1.99 M, 15.1 G, 742 k (three significant digits)."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {suffix}"
    return f"{value:.3g}"


def comparison_table(stats: Sequence[ModelStats]) -> Table:
    """The comparison as a :class:`Table`: exact parameter and FLOP counts, fp32 sizes, FLOPs per parameter.

    Explained in chapter 4, "Parameters and compute against VGG".
    """
    header = ["model", "width", "parameters", "weights (MB, fp32)", "forward FLOPs", "FLOPs per parameter",
              "activations (MB per image)"]
    rows = [[s.name, f"×{s.width_multiplier:g}", f"{s.parameters:,}", f"{s.size_mb:,.1f}", f"{s.flops:,}",
             f"{s.flops_per_parameter:,.0f}", f"{s.activation_mb:,.1f}"] for s in stats]
    return Table(header, rows, numeric=range(1, len(header)))


def parameter_breakdown(
    model: nn.Module, input_shape: Sequence[int] = INPUT_SHAPE, depth: int | None = 1, include_empty: bool = False
) -> Table:
    """Parameters and FLOPs of each layer (at ``depth``) with its share of the total.

    Layers with neither parameters nor FLOPs (pooling, ReLU, flatten) are left out unless ``include_empty``.

    Explained in chapter 4, "Parameters and compute against VGG".
    """
    rows = trace(model, input_shape, depth=depth)
    total_p, total_f = rows.total_parameters, rows.total_flops
    body = [[r.name, r.layer, r.shape_text, f"{r.parameters:,}", f"{100 * r.parameters / total_p:.1f}%",
             f"{r.flops:,}", f"{100 * r.flops / total_f:.1f}%"] for r in rows if include_empty or r.parameters or r.flops]
    body.append(["total", "", "", f"{total_p:,}", "100.0%", f"{total_f:,}", "100.0%"])
    return Table(["layer", "type", "output shape", "parameters", "share", "FLOPs", "share of FLOPs"], body,
                 numeric=(3, 4, 5, 6))


def first_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    """The name and module of the first fully connected layer in execution order.

    Raises ``ValueError`` when there is none (NiN has no fully connected layer at all).
    Explained in chapter 4, "Parameters and compute against VGG".
    """
    for name, layer in iter_layers(model):
        if isinstance(layer, nn.Linear):
            return name, layer
    raise ValueError("the model has no fully connected (nn.Linear) layer")


def layer_share(model: nn.Module, layer_name: str) -> float:
    """The fraction of all of ``model``'s parameters held by the layer called ``layer_name``.

    Explained in chapter 4, "Parameters and compute against VGG".
    """
    layers = dict(iter_layers(model))
    if layer_name not in layers:
        raise ValueError(f"no layer called {layer_name!r}; the layers are {', '.join(layers)}")
    return count_parameters(layers[layer_name]) / count_parameters(model)
