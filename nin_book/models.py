"""The networks of the book: NiN and, for comparison, VGG-11 and AlexNet.

All three follow the Dive into Deep Learning configuration for one-channel 224×224 input
(Fashion-MNIST resized) and ten classes. Layers are named so that traces read like the paper.
"""

from __future__ import annotations

import contextlib
import operator
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from nin_book.shapes import conv_output_size

__all__ = [
    "CLASSIC_KERNELS", "CLASSIC_POOLS", "FC_DROPOUT", "HEADS", "MAX_PARAMETERS", "MAX_WIDTH", "nin_block", "nin",
    "vgg_block", "vgg11", "alexnet", "init_weights",
]


def nin_block(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    batch_norm: bool = False,
    mlp_convs: int = 2,
    final_relu: bool = True,
) -> nn.Sequential:
    """One NiN ("mlpconv") block: a k×k convolution, then two 1×1 convolutions, each followed by ReLU.

    The two 1×1 convolutions act as a small two-layer perceptron applied at every pixel.
    ``batch_norm=True`` inserts BatchNorm after each convolution (not in the 2013 paper; the CPU
    training preset uses it to converge in few epochs). ``mlp_convs`` (0, 1 or 2; 2 is the classic
    block) sets how many 1×1 convolutions follow the k×k one, and ``final_relu=False`` leaves out the
    block's last ReLU (chapter 7's experiments: fewer 1×1 layers, and class maps that may go negative).

    Explained in chapter 2, "The NiN block"; the options in chapter 7, "The paper's claims, measured".
    """
    if isinstance(mlp_convs, bool) or mlp_convs not in (0, 1, 2):
        raise ValueError(f"mlp_convs must be 0, 1 or 2 (the 1×1 convolutions after the k×k one), got {mlp_convs!r}")
    layers: list[tuple[str, nn.Module]] = []
    specs = [
        ("conv", in_channels, kernel_size, stride, padding),
        ("mlp1", out_channels, 1, 1, 0),
        ("mlp2", out_channels, 1, 1, 0),
    ][:1 + mlp_convs]
    for i, (name, c_in, k, s, p) in enumerate(specs):
        layers.append((name, nn.Conv2d(c_in, out_channels, k, stride=s, padding=p, bias=not batch_norm)))
        if batch_norm:
            layers.append((f"{name}_bn", nn.BatchNorm2d(out_channels)))
        if final_relu or i < len(specs) - 1:
            layers.append((f"{name}_relu", nn.ReLU(inplace=True)))
    return nn.Sequential(OrderedDict(layers))


# The classic pooling after blocks 1-3: 3×3 windows, stride 2 (overlapping, as in AlexNet and the paper).
CLASSIC_POOLS: tuple[tuple[int, int, int] | None, ...] = ((3, 2, 0), (3, 2, 0), (3, 2, 0))
CLASSIC_KERNELS: tuple[int, int, int] = (5, 3, 3)
# The heads nin() can end in (chapter 7): global average pooling, or the class maps flattened into one
# fully connected layer, without or with dropout (FC_DROPOUT: half, as the paper's section 3.2 describes dropout
# on fully connected layers).
HEADS: tuple[str, ...] = ("gap", "fc", "fc_dropout")
FC_DROPOUT = 0.5
# The largest network nin() allocates: channel counts (input, widths, classes) up to MAX_WIDTH and MAX_PARAMETERS
# weights (4 GiB in float32; the classic NiN has 2 million). On the meta device (shapes only, nothing allocated, as
# the explorers build) there is no bound, so a reader can still trace and count a larger one.
MAX_WIDTH = 16_384
MAX_PARAMETERS = 1 << 30


def nin(
    in_channels: int = 1,
    num_classes: int = 10,
    widths: Sequence[int] = (96, 256, 384),
    first_block: tuple[int, int, int] = (11, 4, 0),
    dropout: float = 0.5,
    batch_norm: bool = False,
    init: bool | str = True,
    kernels: Sequence[int] = CLASSIC_KERNELS,
    pools: Sequence[tuple[int, int, int] | None] = CLASSIC_POOLS,
    head: str = "gap",
    mlp_convs: int = 2,
    final_relu: bool = True,
    image_size: int = 224,
) -> nn.Sequential:
    """Network in Network for 224×224 Fashion-MNIST (the defaults are exactly the classic network).

    Blocks: k×k/s (``first_block`` = kernel, stride, padding; 11×11 stride 4 by default) → ``widths[0]``,
    max-pool 3/2; 5×5 pad 2 → ``widths[1]``, max-pool 3/2; 3×3 pad 1 → ``widths[2]``, max-pool 3/2;
    dropout; 3×3 pad 1 → ``num_classes``; global average pooling; flatten. There is no fully
    connected layer: each of the last block's maps is one class's confidence map.

    ``kernels`` are the kernel sizes of blocks 2–4 (padded to keep the size: k // 2), and ``pools`` the
    (kernel, stride, padding) of the max-pooling after blocks 1–3, ``None`` for none. The ``cpu`` preset
    uses 3×3 kernels and 2×2 pools without the third, so that 28×28 images keep 7×7 class maps.
    ``init``: ``True`` or ``"kaiming"`` (He initialisation, the book's default), ``"xavier"`` (Dive into
    Deep Learning's, for the ``classic`` preset) or ``False`` (PyTorch's own).

    Options for chapter 7's experiments (the defaults are the classic network): ``head`` is ``"gap"``
    (global average pooling), ``"fc"`` (the class maps flattened into one fully connected layer to the
    classes, the paper's "mlpconv + fully connected" comparison) or ``"fc_dropout"`` (the same with dropout
    0.5 before it); ``mlp_convs`` is the number of 1×1 convolutions in every block (0, 1 or 2); and
    ``final_relu=False`` leaves out the ReLU on the class maps (block 4's last layer). ``image_size`` is the
    input's side, used only to size the fully connected layer of the ``fc`` heads.

    Real weights are bounded: a channel count above ``MAX_WIDTH`` or more than ``MAX_PARAMETERS`` weights raises
    ``ValueError`` before anything is allocated; on the meta device (``with torch.device("meta")``) any size builds.

    Explained in chapter 2 (blocks), chapter 3 (shapes), chapter 6 (confidence maps) and chapter 7
    (the options).
    """
    # Checked here, in the caller's words: a zero width or a string builds, then fails deep inside torch.
    for name, value in (("in_channels", in_channels), ("num_classes", num_classes)):
        if isinstance(value, bool) or not hasattr(value, "__index__") or operator.index(value) < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    in_channels, num_classes = operator.index(in_channels), operator.index(num_classes)
    widths = _ints("widths", widths, "three channel counts (one per hidden block), each a positive integer", 1, count=3)
    kernels = _ints("kernels", kernels, "three odd positive integers (the kernel sizes of blocks 2-4)", 1, count=3)
    if any(k % 2 == 0 for k in kernels):
        raise ValueError(f"kernels must be three odd positive integers (the kernel sizes of blocks 2-4), got {kernels}")
    k, s, p = _window("first_block", first_block)
    if isinstance(pools, (str, bytes)) or len(pools) != 3:
        raise ValueError(f"pools needs three entries (after blocks 1-3), each (kernel, stride, padding) or None, got {pools}")
    pools = [None if pool is None else _window(f"pools[{i}]", pool) for i, pool in enumerate(pools)]
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if head not in HEADS:
        raise ValueError(f"head must be one of {', '.join(HEADS)}, got {head!r}")
    w1, w2, w3 = widths
    k2, k3, k4 = kernels
    if not torch.empty(0).is_meta:  # real weights: refuse a network no machine can hold before allocating it
        _check_size(in_channels, num_classes, widths, (k, k2, k3, k4), mlp_convs, head, image_size, (k, s, p), pools)
    blocks = [
        ("block1", nin_block(in_channels, w1, k, s, p, batch_norm, mlp_convs)),
        ("block2", nin_block(w1, w2, k2, 1, k2 // 2, batch_norm, mlp_convs)),
        ("block3", nin_block(w2, w3, k3, 1, k3 // 2, batch_norm, mlp_convs)),
    ]
    layers: list[tuple[str, nn.Module]] = []
    for i, (block, pool) in enumerate(zip(blocks, pools, strict=True), start=1):
        layers.append(block)
        if pool is not None:
            pk, ps, pp = pool
            layers.append((f"pool{i}", nn.MaxPool2d(pk, stride=ps, padding=pp)))
    layers += [
        ("dropout", nn.Dropout(dropout)),
        ("block4", nin_block(w3, num_classes, k4, 1, k4 // 2, batch_norm, mlp_convs, final_relu)),
    ]
    if head == "gap":
        layers += [("gap", nn.AdaptiveAvgPool2d((1, 1))), ("flatten", nn.Flatten())]
    else:
        side = _class_map_side(image_size, (k, s, p), pools)
        layers.append(("flatten", nn.Flatten()))
        if head == "fc_dropout":
            layers.append(("fc_dropout", nn.Dropout(FC_DROPOUT)))
        layers.append(("fc", nn.Linear(num_classes * side * side, num_classes)))
    net = nn.Sequential(OrderedDict(layers))
    if init is False:
        return net
    return init_weights(net, scheme="kaiming" if init is True else init)


def _check_size(in_channels: int, num_classes: int, widths: tuple[int, ...], kernels: tuple[int, ...], mlp_convs: int,
                head: str, image_size: int, first_block: tuple[int, int, int],
                pools: Sequence[tuple[int, int, int] | None]) -> None:
    counts = {"in_channels": in_channels, "num_classes": num_classes, "widths": max(widths)}
    for name, value in counts.items():
        if value > MAX_WIDTH:
            got = widths if name == "widths" else value
            raise ValueError(f"{name} must be at most {MAX_WIDTH:,} to build real weights, got {got}; trace or count a "
                             "larger network on the meta device (with torch.device('meta'): nin(...))")
    channels = (in_channels, *widths, num_classes)
    weights = 0
    for c_in, c_out, kernel in zip(channels[:-1], channels[1:], kernels, strict=True):
        weights += c_in * c_out * kernel * kernel + c_out + mlp_convs * (c_out * c_out + c_out)
    if head != "gap":
        with contextlib.suppress(ValueError):  # a size that leaves no class map is refused below, in its own words
            weights += (num_classes * _class_map_side(image_size, first_block, pools) ** 2 + 1) * num_classes
    if weights > MAX_PARAMETERS:
        raise ValueError(f"this NiN would have about {weights:,} weights, more than the {MAX_PARAMETERS:,} nin() "
                         "allocates; use smaller widths or kernels, or trace or count it on the meta device "
                         "(with torch.device('meta'): nin(...))")


def _class_map_side(image_size: int, first_block: tuple[int, int, int],
                    pools: Sequence[tuple[int, int, int] | None]) -> int:
    """The side of the class maps for ``image_size`` inputs (blocks 2-4 keep the size; the first block and the
    pools follow chapter 3's output-size rule)."""
    if isinstance(image_size, bool) or not hasattr(image_size, "__index__") or operator.index(image_size) < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    try:
        side = conv_output_size(image_size, *first_block)
        for pool in pools:
            if pool is not None:
                side = conv_output_size(side, *pool)
    except ValueError as err:
        raise ValueError(f"a fully connected head needs class maps of at least 1×1; {image_size}×{image_size} "
                         f"inputs leave none with these blocks and pools ({err})") from None
    return side


def _ints(name: str, values: object, expected: str, lowest: int, count: int | None = None) -> tuple[int, ...]:
    """``values`` as a tuple of ints (numpy and torch integers accepted), or a ValueError saying what was expected."""
    problem = ValueError(f"{name} must be {expected}, got {values!r}")
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise problem
    ints = []
    for value in values:
        try:
            if isinstance(value, bool):
                raise TypeError
            ints.append(operator.index(value))
        except TypeError:
            raise problem from None
    if (count is not None and len(ints) != count) or any(v < lowest for v in ints):
        raise problem
    return tuple(ints)


def _window(name: str, window: object) -> tuple[int, int, int]:
    kernel, stride, padding = _ints(name, window, "(kernel, stride, padding): three integers, the first two positive",
                                    0, count=3)
    if kernel < 1 or stride < 1:
        raise ValueError(f"{name} must be (kernel, stride, padding) with kernel and stride at least 1, got {window!r}")
    return kernel, stride, padding


def vgg_block(in_channels: int, out_channels: int, num_convs: int) -> nn.Sequential:
    """A VGG block: ``num_convs`` 3×3 convolutions (padding 1) with ReLU, then 2×2 max-pooling.

    Explained in chapter 2, as the block NiN is contrasted with.
    """
    layers: list[tuple[str, nn.Module]] = []
    for i in range(num_convs):
        layers.append((f"conv{i + 1}", nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1)))
        layers.append((f"relu{i + 1}", nn.ReLU(inplace=True)))
    layers.append(("pool", nn.MaxPool2d(2, stride=2)))
    return nn.Sequential(OrderedDict(layers))


VGG11_ARCH: tuple[tuple[int, int], ...] = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def vgg11(in_channels: int = 1, num_classes: int = 10, width_multiplier: float = 1.0, init: bool = True) -> nn.Sequential:
    """VGG-11 as in Dive into Deep Learning: five VGG blocks, then 4096-4096-``num_classes`` with dropout.

    ``width_multiplier`` scales every convolution's channels (and the 4096-wide layers), for the
    chapter-4 explorer. Explained in chapter 4, "Parameters and compute against VGG".
    """
    layers: list[tuple[str, nn.Module]] = []
    c_in = in_channels
    for i, (num_convs, c_out) in enumerate(VGG11_ARCH):
        c_out = _scaled(c_out, width_multiplier)
        layers.append((f"block{i + 1}", vgg_block(c_in, c_out, num_convs)))
        c_in = c_out
    hidden = _scaled(4096, width_multiplier)
    layers += [
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(c_in * 7 * 7, hidden)),
        ("relu1", nn.ReLU(inplace=True)),
        ("dropout1", nn.Dropout(0.5)),
        ("fc2", nn.Linear(hidden, hidden)),
        ("relu2", nn.ReLU(inplace=True)),
        ("dropout2", nn.Dropout(0.5)),
        ("fc3", nn.Linear(hidden, num_classes)),
    ]
    net = nn.Sequential(OrderedDict(layers))
    return init_weights(net) if init else net


def alexnet(in_channels: int = 1, num_classes: int = 10, width_multiplier: float = 1.0, init: bool = True) -> nn.Sequential:
    """AlexNet as in Dive into Deep Learning (96-11×11/4 pad 1, ..., 6400 → 4096 → 4096 → ``num_classes``).

    Explained in chapter 4, "Parameters and compute against VGG".
    """
    c1, c2, c3, c5 = (_scaled(c, width_multiplier) for c in (96, 256, 384, 256))
    hidden = _scaled(4096, width_multiplier)
    net = nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(in_channels, c1, 11, stride=4, padding=1)),
                ("relu1", nn.ReLU(inplace=True)),
                ("pool1", nn.MaxPool2d(3, stride=2)),
                ("conv2", nn.Conv2d(c1, c2, 5, padding=2)),
                ("relu2", nn.ReLU(inplace=True)),
                ("pool2", nn.MaxPool2d(3, stride=2)),
                ("conv3", nn.Conv2d(c2, c3, 3, padding=1)),
                ("relu3", nn.ReLU(inplace=True)),
                ("conv4", nn.Conv2d(c3, c3, 3, padding=1)),
                ("relu4", nn.ReLU(inplace=True)),
                ("conv5", nn.Conv2d(c3, c5, 3, padding=1)),
                ("relu5", nn.ReLU(inplace=True)),
                ("pool3", nn.MaxPool2d(3, stride=2)),
                ("flatten", nn.Flatten()),
                ("fc1", nn.Linear(c5 * 5 * 5, hidden)),
                ("relu6", nn.ReLU(inplace=True)),
                ("dropout1", nn.Dropout(0.5)),
                ("fc2", nn.Linear(hidden, hidden)),
                ("relu7", nn.ReLU(inplace=True)),
                ("dropout2", nn.Dropout(0.5)),
                ("fc3", nn.Linear(hidden, num_classes)),
            ]
        )
    )
    return init_weights(net) if init else net


INIT_SCHEMES = ("kaiming", "xavier")


def init_weights(model: nn.Module, scheme: str = "kaiming") -> nn.Module:
    """Initialise every convolution and linear layer (zero biases): He (Kaiming) normal by default, or
    Xavier uniform (``scheme="xavier"``, what Dive into Deep Learning uses).

    He initialisation keeps activation variance steady through ReLU layers, which a 12-layer
    network without batch normalisation needs to start learning. Returns ``model`` for chaining.
    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {', '.join(INIT_SCHEMES)}, True or False, got {scheme!r}")
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            if scheme == "xavier":
                nn.init.xavier_uniform_(module.weight)
            else:
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return model


def _scaled(channels: int, multiplier: float) -> int:
    if multiplier <= 0:
        raise ValueError(f"width_multiplier must be positive, got {multiplier}")
    return max(1, round(channels * multiplier))
