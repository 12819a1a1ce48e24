"""The trained NiN as plain arrays for the browser: batch norm folded into the convolutions, float32 weights.

:func:`export_network` turns a trained ``nin()`` (eval mode) into a list of layers (convolution, ReLU, max
pooling) and one flat float32 array of weights; global average pooling is the end every export has. Batch norm
folds into the convolution before it: with scale s = γ/√(σ²+ε), w' = s·w and b' = s·(b − μ) + β, so the network
computes the same function with one layer fewer. :func:`write_explorer_data` writes that export and a gallery of
real test images to the file chapter 6's network explorer ships with (``python -m nin_book.export``).
Explained in chapter 6, "Reading NiN's class confidence maps" (the network in the page).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nin_book.batches import FASHION_MNIST_MEAN, FASHION_MNIST_STD
from nin_book.checkpoint import atomic_write_bytes

__all__ = ["EXPLORER_DATA", "GALLERY_PER_CLASS", "ExportedNetwork", "export_network", "load_explorer_data",
           "network_payload", "write_explorer_data"]

# The file the chapter-6 explorer ships with (package data, beside the widgets that read it).
EXPLORER_DATA = Path(__file__).resolve().parent / "widgets" / "network_cpu.npz"
GALLERY_PER_CLASS = 10


@dataclass(frozen=True)
class ExportedNetwork:
    """A network as the browser runs it: ``layers`` in order (dicts: ``conv`` with ``in``, ``out``, ``kernel``,
    ``stride``, ``padding`` and ``offset`` into ``weights`` (the O×C×k×k weights, then O biases); ``relu``;
    ``maxpool`` with ``kernel``, ``stride``, ``padding``), then global average pooling; ``weights`` float32.
    Inputs are gray levels in [0, 1], normalised with ``mean`` and ``std`` first. Explained in chapter 6.
    """

    layers: tuple[dict[str, Any], ...]
    weights: np.ndarray
    mean: float
    std: float
    in_channels: int
    num_classes: int


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    if bn is None:
        return w, b
    if not bn.track_running_stats or bn.running_mean is None:
        raise ValueError(f"{bn} has no running statistics to fold; export a network trained with them")
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    return w * scale[:, None, None, None], (b - bn.running_mean.double()) * scale + bn.bias.detach().double()


def _pair(value: int | tuple[int, ...], what: str) -> int:
    first, second = (value, value) if isinstance(value, int) else value
    if first != second:
        raise ValueError(f"{what} must be square to export, got {value}")
    return int(first)


def export_network(model: nn.Module, mean: float = FASHION_MNIST_MEAN, std: float = FASHION_MNIST_STD) -> ExportedNetwork:
    """Fold batch norm and flatten ``model`` (a ``nin()`` with the global-average-pooling head) into an
    :class:`ExportedNetwork` the browser's forward pass (``nin_forward.mjs``) runs.

    Dropout is left out (eval mode); a layer the browser cannot run (a fully connected head, average pooling in the
    middle, a grouped or dilated convolution) raises ``ValueError`` naming it. Explained in chapter 6.
    """
    modules = [m for m in model.modules() if not isinstance(m, nn.Sequential)]
    layers: list[dict[str, Any]] = []
    chunks: list[np.ndarray] = []
    offset = 0
    in_channels = num_classes = None
    i = 0
    while i < len(modules):
        m = modules[i]
        if isinstance(m, nn.Conv2d):
            if m.groups != 1 or _pair(m.dilation, "dilation") != 1 or m.padding_mode != "zeros":
                raise ValueError(f"{m}: only plain convolutions (groups 1, dilation 1, zero padding) export")
            bn = modules[i + 1] if i + 1 < len(modules) and isinstance(modules[i + 1], nn.BatchNorm2d) else None
            w, b = _fold(m, bn)
            layers.append({"op": "conv", "in": m.in_channels, "out": m.out_channels,
                           "kernel": _pair(m.kernel_size, "kernel"), "stride": _pair(m.stride, "stride"),
                           "padding": _pair(m.padding, "padding"), "offset": offset})
            chunks += [w.float().numpy().ravel(), b.float().numpy()]
            offset += w.numel() + b.numel()
            in_channels = m.in_channels if in_channels is None else in_channels
            num_classes = m.out_channels
            i += 2 if bn is not None else 1
            continue
        if isinstance(m, nn.ReLU):
            layers.append({"op": "relu"})
        elif isinstance(m, nn.MaxPool2d):
            if m.ceil_mode or _pair(m.dilation, "dilation") != 1:
                raise ValueError(f"{m}: only max pooling without ceil_mode or dilation exports")
            layers.append({"op": "maxpool", "kernel": _pair(m.kernel_size, "kernel"),
                           "stride": _pair(m.stride, "stride"), "padding": _pair(m.padding, "padding")})
        elif isinstance(m, nn.AdaptiveAvgPool2d) and _pair(m.output_size, "output_size") == 1:
            break  # global average pooling: the end of every export
        elif not isinstance(m, nn.Dropout):
            raise ValueError(f"cannot export {type(m).__name__}: the browser runs nin() with the 'gap' head only "
                             "(convolution, batch norm, ReLU, max pooling, dropout, global average pooling)")
        i += 1
    else:
        raise ValueError("the network does not end in global average pooling: export a nin() with head='gap'")
    if in_channels is None:
        raise ValueError("the network has no convolution to export")
    return ExportedNetwork(layers=tuple(layers), weights=np.concatenate(chunks).astype(np.float32), mean=float(mean),
                           std=float(std), in_channels=int(in_channels), num_classes=int(num_classes))


def network_payload(network: ExportedNetwork) -> dict[str, Any]:
    """The network as the page receives it (JSON): ``layers``, ``weights`` (base64 of little-endian float32),
    ``mean`` and ``std``; ``nin_forward.mjs``'s ``loadNetwork`` reads it. Explained in chapter 6.
    """
    return {"layers": list(network.layers), "weights": base64.b64encode(network.weights.astype("<f4").tobytes()).decode(),
            "mean": network.mean, "std": network.std}


def write_explorer_data(path: str | os.PathLike = EXPLORER_DATA, run: str = "cpu", per_class: int = GALLERY_PER_CLASS) -> Path:
    """Export the committed run ``run`` and the first ``per_class`` test images of every class (uint8, with their
    labels and test-set indices) to one compressed ``.npz``, written atomically. Explained in chapter 6.
    """
    from nin_book.data import load_fashion_mnist
    from nin_book.evaluate import examples_per_class
    from nin_book.results import load_run

    committed = load_run(run)
    if committed.config.resolution != 28:
        raise ValueError(f"the explorer runs 28×28 images; run {run!r} was trained at {committed.config.resolution}")
    net = export_network(committed.model())
    data = load_fashion_mnist()
    chosen = examples_per_class(data.test_labels, per_class, len(data.class_names))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, weights=net.weights, layers=np.array(json.dumps(list(net.layers))),
                        normalisation=np.array([net.mean, net.std]), run=np.array(run),
                        class_names=np.array(data.class_names), gallery=data.test_images[chosen].numpy(),
                        gallery_labels=data.test_labels[chosen].numpy().astype(np.uint8),
                        gallery_indices=chosen.numpy().astype(np.int32))
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def load_explorer_data(path: str | os.PathLike = EXPLORER_DATA) -> dict[str, Any]:
    """The explorer's shipped file as ``network`` (:class:`ExportedNetwork`), ``gallery`` (N, 28, 28) uint8,
    ``gallery_labels``, ``gallery_indices``, ``class_names`` and ``run``. Explained in chapter 6.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"no explorer data at {path}: write it with `python -m nin_book.export`")
    with np.load(path, allow_pickle=False) as f:
        layers = tuple(json.loads(str(f["layers"])))
        mean, std = (float(v) for v in f["normalisation"])
        convs = [layer for layer in layers if layer["op"] == "conv"]
        network = ExportedNetwork(layers=layers, weights=f["weights"].copy(), mean=mean, std=std,
                                  in_channels=convs[0]["in"], num_classes=convs[-1]["out"])
        return {"network": network, "gallery": f["gallery"].copy(), "gallery_labels": f["gallery_labels"].astype(int),
                "gallery_indices": f["gallery_indices"].astype(int), "class_names": [str(c) for c in f["class_names"]],
                "run": str(f["run"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the chapter-6 network explorer's weights and gallery.")
    parser.add_argument("--run", default="cpu", help="the committed run to export (default: cpu)")
    parser.add_argument("--out", type=Path, default=EXPLORER_DATA)
    args = parser.parse_args(argv)
    path = write_explorer_data(args.out, args.run)
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
