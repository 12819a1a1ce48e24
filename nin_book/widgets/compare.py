"""The chapter-4 explorer: tick models and choose a width multiplier, and compare parameters, compute and memory.

A view over :func:`nin_book.compare.compare_models` (the browser mirrors it with ``nin_math.mjs``).
Explained in chapter 4, "Parameters and compute against VGG".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from traitlets import Bool, Float

from nin_book.compare import MODEL_NAMES, ModelStats, compare_models
from nin_book.widgets.base import Control, Explorer, esm_bundle

__all__ = ["CompareExplorer", "compare_explorer"]

_SWITCHES = {"show_nin": "NiN", "show_vgg11": "VGG-11", "show_alexnet": "AlexNet"}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower())


class CompareExplorer(Explorer):
    """Check boxes for NiN, VGG-11 and AlexNet and a width slider → the comparison table and linear bars
    (parameters in millions, GFLOPs, activation MB), as the figure of :mod:`nin_book.figures.compare`.

    Explained in chapter 4, "Parameters and compute against VGG".
    """

    _esm = esm_bundle("compare.mjs")
    CONTROLS = (*(Control(trait, name, "checkbox") for trait, name in _SWITCHES.items()),
                Control("width_multiplier", "width ×", "range", 0.25, 2.0, 0.25))
    show_nin = Bool(True).tag(sync=True)
    show_vgg11 = Bool(True).tag(sync=True)
    show_alexnet = Bool(True).tag(sync=True)
    width_multiplier = Float(1.0).tag(sync=True)

    @property
    def names(self) -> list[str]:
        return [name for trait, name in _SWITCHES.items() if getattr(self, trait)]

    def compute(self) -> list[ModelStats]:
        return compare_models(self.names, self.width_multiplier)

    def _view_data(self, stats: list[ModelStats]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for s in stats:
            key = _slug(s.name)
            data |= {f"{key}-parameters": s.parameters, f"{key}-flops": s.flops, f"{key}-activations": s.activations}
        return data


def compare_explorer(names: Sequence[str] = MODEL_NAMES, width_multiplier: float = 1.0) -> CompareExplorer:
    """The chapter-4 explorer with these models ticked. Explained in chapter 4, "Parameters and compute against VGG"."""
    return CompareExplorer(**{trait: name in names for trait, name in _SWITCHES.items()}, width_multiplier=width_multiplier)
