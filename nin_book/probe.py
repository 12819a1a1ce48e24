"""Probe the trained NiN with one image: its ten class maps, logits and probabilities, with or without a grey patch.

The numbers chapter 6's network explorer shows, defined here in float64 NumPy from the exported float32 weights
(:mod:`nin_book.export`); ``nin_forward.mjs`` computes the same in the browser, and tests/test_network_explorer.py
holds both to the PyTorch model. The patch is filled with the training images' mean gray level, which normalises
to 0: the value a convolution's zero padding already treats as "nothing here".
Explained in chapter 6, "Reading NiN's class confidence maps" (the network in the page).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nin_book.export import ExportedNetwork

__all__ = ["IMAGE_SIZE", "SENSITIVITY_STRIDE", "Patch", "Probe", "cover", "occlusion_sensitivity", "probe", "to_gray"]

IMAGE_SIZE = 28
SENSITIVITY_STRIDE = 4  # one class-map cell: the 7×7 maps' cells are 4 pixels apart


@dataclass(frozen=True)
class Patch:
    """A grey square: top-left corner (``x``, ``y``) in pixels and side ``size``; the part outside the image is
    dropped. Explained in chapter 6."""

    x: int
    y: int
    size: int


@dataclass(frozen=True)
class Probe:
    """One forward pass: ``maps`` (classes, h, w), ``logits`` (each map's mean), ``probabilities`` (softmax) and
    ``predicted`` (the largest logit). Explained in chapter 6."""

    maps: np.ndarray
    logits: np.ndarray
    probabilities: np.ndarray
    predicted: int


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """A 28×28 image (uint8 0–255) as float64 gray levels in [0, 1]; anything else is refused in one line.

    Explained in chapter 6."""
    array = np.asarray(pixels)
    if array.shape != (IMAGE_SIZE, IMAGE_SIZE) or array.dtype != np.uint8:
        raise ValueError(f"the image must be {IMAGE_SIZE}×{IMAGE_SIZE} uint8 gray levels (0-255), got "
                         f"{array.dtype} {array.shape}; convert it with np.asarray(image, dtype=np.uint8)")
    return array.astype(np.float64) / 255.0


def cover(gray: np.ndarray, patch: Patch | None, fill: float) -> np.ndarray:
    """A copy of ``gray`` with ``patch`` (clipped to the image) set to ``fill``. Explained in chapter 6."""
    out = np.array(gray, dtype=np.float64)
    if patch is not None:
        if patch.size < 1:
            raise ValueError(f"the patch size must be at least 1 pixel, got {patch.size}")
        out[max(patch.y, 0):max(patch.y + patch.size, 0), max(patch.x, 0):max(patch.x + patch.size, 0)] = fill
    return out


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, padding: int) -> np.ndarray:
    c, h, width = x.shape
    k = w.shape[-1]
    padded = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - k) // stride + 1, (width + 2 * padding - k) // stride + 1
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))[:, ::stride, ::stride][:, :oh, :ow]
    return np.einsum("chwij,ocij->ohw", windows, w, optimize=True) + b[:, None, None]


def _maxpool(x: np.ndarray, k: int, stride: int, padding: int) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (padding, padding), (padding, padding)), constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    return windows.max(axis=(-2, -1))


def _maps(network: ExportedNetwork, gray: np.ndarray) -> np.ndarray:
    x = ((gray - network.mean) / network.std)[None]
    weights = network.weights.astype(np.float64)
    for layer in network.layers:
        if layer["op"] == "conv":
            o, c, k, at = layer["out"], layer["in"], layer["kernel"], layer["offset"]
            w = weights[at:at + o * c * k * k].reshape(o, c, k, k)
            x = _conv(x, w, weights[at + o * c * k * k:at + o * c * k * k + o], layer["stride"], layer["padding"])
        elif layer["op"] == "relu":
            x = np.maximum(x, 0.0)
        else:
            x = _maxpool(x, layer["kernel"], layer["stride"], layer["padding"])
    return x


def probe(network: ExportedNetwork, pixels: np.ndarray, patch: Patch | None = None) -> Probe:
    """Run the exported network on a 28×28 uint8 image, with ``patch`` covered by the mean gray level.

    Explained in chapter 6, "Reading NiN's class confidence maps" (the network in the page).
    """
    maps = _maps(network, cover(to_gray(pixels), patch, network.mean))
    logits = maps.mean(axis=(1, 2))
    shifted = np.exp(logits - logits.max())
    return Probe(maps=maps, logits=logits, probabilities=shifted / shifted.sum(), predicted=int(np.argmax(logits)))


def occlusion_sensitivity(network: ExportedNetwork, pixels: np.ndarray, size: int, cls: int | None = None,
                          stride: int = SENSITIVITY_STRIDE) -> np.ndarray:
    """How far class ``cls``'s logit (the predicted class by default) falls when a ``size``×``size`` grey patch
    covers each position, ``stride`` pixels apart: (P, Q), positive where covering costs the class.

    The same grid as :func:`nin_book.sensitivity.occlusion_drops`, with the mean gray level as the fill.
    Explained in chapter 6, "Reading NiN's class confidence maps" (the network in the page).
    """
    if not 1 <= size <= IMAGE_SIZE:
        raise ValueError(f"the patch size must be 1 to {IMAGE_SIZE} pixels, got {size}")
    base = probe(network, pixels)
    cls = base.predicted if cls is None else cls
    corners = range(0, IMAGE_SIZE - size + 1, stride)
    return np.array([[base.logits[cls] - probe(network, pixels, Patch(x, y, size)).logits[cls] for x in corners]
                     for y in corners])
