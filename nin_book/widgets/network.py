"""Chapter 6's network explorer: the trained NiN runs in the page on a garment the reader picks, draws or covers.

A view over :func:`nin_book.probe.probe` (the browser runs the same forward pass with ``nin_forward.mjs``): the
ten 7×7 class maps over the image on one colour scale, each map's mean (the logit), the softmax probabilities and
the predicted class, for a gallery image, a drawing or an edited image, with a grey patch the reader moves; and
the occlusion-sensitivity map of :func:`nin_book.probe.occlusion_sensitivity` for the current image. The weights
and the gallery ship with the package (:data:`nin_book.export.EXPLORER_DATA`) and travel in the widget's state, so
the page needs no request. Explained in chapter 6, "Reading NiN's class confidence maps" (the network in the page).
"""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from traitlets import Bool, Dict, Int, Unicode, default

from nin_book.export import EXPLORER_DATA, load_explorer_data, network_payload
from nin_book.probe import IMAGE_SIZE, Patch, Probe, probe
from nin_book.widgets.base import Control, Explorer, esm_bundle

__all__ = ["NetworkExplorer", "NetworkView", "network_explorer", "network_view"]

PATCH_SIZES = (2, 14, 2)  # smallest, largest, step: up to half the image
BRUSH_SIZES = (1, 4)


@functools.cache
def _shipped() -> dict[str, Any]:
    return load_explorer_data(EXPLORER_DATA)


@functools.cache
def _palette(name: str, steps: int = 64) -> list[list[int]]:
    """A matplotlib colour map as ``steps`` RGB triples, so the page's colours are the book figures' colours."""
    import matplotlib

    cmap = matplotlib.colormaps[name]
    return [[round(255 * v) for v in cmap(i / (steps - 1))[:3]] for i in range(steps)]


@dataclass(frozen=True)
class NetworkView:
    """What the explorer shows for one setting: the image (28×28 uint8), the patch (or None), the forward pass,
    the true class (None for a drawing) and where the image comes from. Explained in chapter 6."""

    image: np.ndarray
    patch: Patch | None
    probe: Probe
    true_label: int | None
    source: str


def _decode_pixels(text: str) -> np.ndarray:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != IMAGE_SIZE * IMAGE_SIZE:
        raise ValueError(f"pixels must be base64 of {IMAGE_SIZE * IMAGE_SIZE} gray levels (0-255), got {len(raw)} bytes; "
                         "set a drawing with network_explorer(image=...)")
    return np.frombuffer(raw, dtype=np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)


def network_view(gallery_index: int = 0, pixels: str = "", patch: bool = False, patch_x: int = 10, patch_y: int = 10,
                 patch_size: int = 8, **_ignored: object) -> NetworkView:
    """The pure function the explorer shows: gallery image ``gallery_index`` (or the drawing ``pixels``, base64 of
    28×28 uint8; "" for none), with a ``patch_size`` grey patch at (``patch_x``, ``patch_y``) when ``patch``.

    Other settings (the brush) change nothing here. Explained in chapter 6 (the network in the page).
    """
    shipped = _shipped()
    count = len(shipped["gallery"])
    if not 0 <= gallery_index < count:
        raise ValueError(f"the gallery image must be 0 to {count - 1}, got {gallery_index}")
    if not PATCH_SIZES[0] <= patch_size <= PATCH_SIZES[1]:
        raise ValueError(f"the patch size must be {PATCH_SIZES[0]} to {PATCH_SIZES[1]} pixels, got {patch_size}")
    if pixels:
        image, true_label, source = _decode_pixels(pixels), None, "drawn"
    else:
        image, true_label = shipped["gallery"][gallery_index], int(shipped["gallery_labels"][gallery_index])
        source = f"test image {int(shipped['gallery_indices'][gallery_index])}"
    covered = Patch(patch_x, patch_y, patch_size) if patch else None
    return NetworkView(image=image, patch=covered, probe=probe(shipped["network"], image, covered),
                       true_label=true_label, source=source)


class NetworkExplorer(Explorer):
    """Pick a gallery garment or draw one, cover part of it with a grey patch, and watch the ten class maps, the
    logits, the probabilities and the occlusion-sensitivity map change, computed in the page.

    Explained in chapter 6, "Reading NiN's class confidence maps" (the network in the page).
    """

    _esm = esm_bundle("network.mjs", "nin_forward.mjs")
    CONTROLS = (Control("gallery_index", "gallery image", "range", 0, 99), Control("patch", "grey patch", "checkbox"),
                Control("patch_size", "patch size (px)", "range", *PATCH_SIZES),
                Control("patch_x", "patch left (px)", "range", 0, IMAGE_SIZE - 1),
                Control("patch_y", "patch top (px)", "range", 0, IMAGE_SIZE - 1),
                Control("brush", "brush size (px)", "range", *BRUSH_SIZES))
    gallery_index = Int(0).tag(sync=True)
    patch = Bool(False).tag(sync=True)
    patch_size = Int(8).tag(sync=True)
    patch_x = Int(10).tag(sync=True)
    patch_y = Int(10).tag(sync=True)
    brush = Int(2).tag(sync=True)
    pixels = Unicode("").tag(sync=True)  # a drawing or an edited image: base64 of 28×28 uint8; "" for the gallery's
    _network = Dict().tag(sync=True)
    _gallery = Dict().tag(sync=True)
    _palettes = Dict().tag(sync=True)
    _limits = Dict({"patch_size": list(PATCH_SIZES[:2])}).tag(sync=True)

    @default("_network")
    def _default_network(self) -> dict[str, Any]:
        return network_payload(_shipped()["network"])

    @default("_gallery")
    def _default_gallery(self) -> dict[str, Any]:
        shipped = _shipped()
        return {"pixels": base64.b64encode(shipped["gallery"].tobytes()).decode(),
                "labels": [int(v) for v in shipped["gallery_labels"]],
                "indices": [int(v) for v in shipped["gallery_indices"]], "class_names": shipped["class_names"]}

    @default("_palettes")
    def _default_palettes(self) -> dict[str, Any]:
        from nin_book.figures.maps import OVERLAY_CMAP

        return {"maps": _palette(OVERLAY_CMAP), "sensitivity": _palette("RdBu_r")}

    def compute(self) -> NetworkView:
        return network_view(pixels=self.pixels, **self.settings)

    def _view_data(self, v: NetworkView) -> dict[str, Any]:
        names = _shipped()["class_names"]
        return {"predicted": names[v.probe.predicted], "source": v.source,
                "pixels": base64.b64encode(np.ascontiguousarray(v.image).tobytes()).decode(),
                "logits": ",".join(f"{z:.4f}" for z in v.probe.logits),
                "probabilities": ",".join(f"{p:.4f}" for p in v.probe.probabilities),
                "maps": ",".join(f"{m:.3f}" for m in v.probe.maps.ravel())}


def network_explorer(gallery_index: int = 0, image: np.ndarray | None = None, **settings: Any) -> NetworkExplorer:
    """The chapter-6 explorer at gallery image ``gallery_index``, or showing ``image`` (28×28 uint8, e.g. a test
    image edited by hand); ``settings`` set the patch (``patch``, ``patch_x``, ``patch_y``, ``patch_size``) and
    the brush. Explained in chapter 6, "Reading NiN's class confidence maps" (the network in the page).
    """
    pixels = ""
    if image is not None:
        array = np.asarray(image)
        if array.shape != (IMAGE_SIZE, IMAGE_SIZE) or array.dtype != np.uint8:
            raise ValueError(f"image must be {IMAGE_SIZE}×{IMAGE_SIZE} uint8 gray levels, got {array.dtype} {array.shape}; "
                             "convert it with np.asarray(image, dtype=np.uint8)")
        pixels = base64.b64encode(np.ascontiguousarray(array).tobytes()).decode()
    explorer = NetworkExplorer(gallery_index=gallery_index, pixels=pixels, **settings)
    explorer.compute()  # a bad setting fails here, in its own words, not later in the page
    return explorer
