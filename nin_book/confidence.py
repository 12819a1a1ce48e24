"""NiN's class confidence maps: the last block's one map per class, and what global average pooling does with them.

NiN ends with a block that has one output channel per class, then global average pooling (GAP). So
the logit of class ``c`` is, by construction, the mean of map ``c``; the class with the largest
averaged map is the prediction. Lin, Chen & Yan (2013) call these maps category confidence maps.

Pure logic on tensors (no drawing; the figures live in :mod:`nin_book.figures.maps`).
Explained in chapter 6, "Reading NiN's class confidence maps".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from scipy.stats import binomtest
from torch import nn

__all__ = [
    "ClassMaps",
    "EvidenceSummary",
    "MapMismatchError",
    "average_by_class",
    "class_maps",
    "evidence_on_object",
    "object_mask",
    "select_class_maps",
    "summarize_evidence",
    "upsample_maps",
]


class MapMismatchError(AssertionError):
    """The averaged maps differ from the model's logits: the model does not end in maps → GAP. Explained in chapter 6."""


@dataclass(frozen=True)
class ClassMaps:
    """The last block's maps for a batch and the logits the model gave for it (all on the CPU, float32).

    ``maps``: (N, C, h, w), one map per class; ``logits``: (N, C), the model's output;
    ``averaged``: (N, C), each map's mean over its h×w cells; ``predictions``: (N,), argmax of ``logits``.
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """

    maps: torch.Tensor
    logits: torch.Tensor
    averaged: torch.Tensor
    predictions: torch.Tensor

    @property
    def map_size(self) -> tuple[int, int]:
        """(h, w) of one map: 5×5 for the classic NiN at 224×224."""
        return int(self.maps.shape[-2]), int(self.maps.shape[-1])

    @property
    def max_abs_difference(self) -> float:
        """Largest |averaged map − logit| over the batch: zero up to floating-point rounding."""
        return (self.averaged - self.logits).abs().max().item()


def _named_module(model: nn.Module, layer: str) -> nn.Module:
    modules = dict(model.named_modules())
    if layer not in modules:
        top = [name for name, _ in model.named_children()]
        raise ValueError(f"the model has no layer named {layer!r}; its top-level layers are {top}. "
                         "Pass layer= the name of the block whose output has one map per class.")
    return modules[layer]


def class_maps(model: nn.Module, inputs: torch.Tensor, layer: str = "block4", atol: float = 1e-4,
               batch_size: int | None = None) -> ClassMaps:
    """Run ``model`` on ``inputs`` (eval mode, no gradients), keep ``layer``'s output, and check GAP.

    Returns the per-class maps together with the model's own logits, and asserts that averaging
    each map over its cells gives exactly that class's logit (to ``atol``, relative to the logits'
    scale), which holds by construction for NiN; otherwise :class:`MapMismatchError` says why.
    ``batch_size`` runs the inputs in chunks (large inputs at 224×224 need a lot of memory at once);
    inputs go to the model's device, results come back on the CPU.
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size}")
    module = _named_module(model, layer)
    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, out: captured.append(out.detach().float().cpu()))
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    step = batch_size or max(1, len(inputs))
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.inference_mode():
            for start in range(0, len(inputs), step):
                outputs.append(model(inputs[start:start + step].to(device)).float().cpu())
    finally:
        handle.remove()
        model.train(was_training)
    if not outputs:
        raise ValueError("class_maps needs at least one input")
    maps, logits = torch.cat(captured), torch.cat(outputs)
    if maps.ndim != 4 or logits.ndim != 2 or maps.shape[:2] != logits.shape:
        raise MapMismatchError(f"{layer} gives {tuple(maps.shape)} and the model gives logits {tuple(logits.shape)}; "
                               "expected (N, C, h, w) maps with one map per logit")
    averaged = maps.mean(dim=(2, 3))
    scale = max(1.0, logits.abs().max().item())
    difference = (averaged - logits).abs().max().item()
    if difference > atol * scale:
        raise MapMismatchError(f"averaging {layer}'s maps differs from the logits by {difference:.3g}; "
                               "the layers after it are not global average pooling alone")
    return ClassMaps(maps=maps, logits=logits, averaged=averaged, predictions=logits.argmax(dim=1))


def upsample_maps(maps: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of (N, C, h, w) (or (C, h, w)) maps to ``size``, to lay them over the image.

    Uses ``align_corners=False``, so each map cell covers an equal share of the image. Upsampling
    (linear, with these weights) keeps each map's mean only approximately; the logits come from
    the maps at their own resolution. Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    squeeze = maps.ndim == 3
    x = maps.unsqueeze(0) if squeeze else maps
    if x.ndim != 4:
        raise ValueError(f"expected maps of shape (N, C, h, w) or (C, h, w), got {tuple(maps.shape)}")
    out = F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False)
    return out[0] if squeeze else out


def object_mask(images: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """Where the garment is: pixels brighter than ``threshold`` × the image's maximum (bool, same shape).

    Fashion-MNIST garments are light on a black background, so a brightness threshold finds them.
    ``images`` are (N, H, W) or (H, W), any numeric type. Explained in chapter 6.
    """
    x = images.float()
    peak = x.amax(dim=(-2, -1), keepdim=True).clamp(min=1e-12)
    return x > threshold * peak


def evidence_on_object(maps: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Share of each map's evidence that falls on the object, and the object's share of the image.

    ``maps`` (N, H, W), already at image resolution (see :func:`upsample_maps`), non-negative as
    NiN's last ReLU makes them; ``masks`` (N, H, W) from :func:`object_mask`. Returns
    ``(on_object, area)``, both (N,): if a map spread its evidence evenly, ``on_object`` would equal
    ``area``; a map that lights up where the object is has ``on_object`` above ``area``. A map with
    no evidence at all gets NaN. Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if maps.shape != masks.shape or maps.ndim != 3:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} must both be (N, H, W)")
    evidence = maps.float().clamp(min=0)
    total = evidence.sum(dim=(1, 2))
    on = (evidence * masks.float()).sum(dim=(1, 2))
    share = torch.where(total > 0, on / total.clamp(min=1e-12), torch.full_like(total, float("nan")))
    return share, masks.float().mean(dim=(1, 2))


def select_class_maps(maps: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """For maps (N, C, h, w) and one class per image (N,), that class's map of each image: (N, h, w).

    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if maps.ndim != 4 or classes.shape != maps.shape[:1]:
        raise ValueError(f"need maps (N, C, h, w) and one class per image, got {tuple(maps.shape)} and {tuple(classes.shape)}")
    return maps[torch.arange(len(maps)), classes.long()]


def average_by_class(values: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Mean of ``values`` (N, ...) over the images of each class: (num_classes, ...); NaN for an absent class.

    With the true class's upsampled map of each image, it shows where each class's evidence sits on
    average. Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if len(values) != len(labels):
        raise ValueError(f"{len(values)} values for {len(labels)} labels")
    out = torch.full((num_classes, *values.shape[1:]), float("nan"))
    for c in range(num_classes):
        chosen = labels == c
        if chosen.any():
            out[c] = values[chosen].float().mean(dim=0)
    return out


@dataclass(frozen=True)
class EvidenceSummary:
    """Across images: does the true class's map put more of its evidence on the garment than an even spread?

    ``fraction_above`` is the share of images whose map puts a larger share on the garment than the garment's
    share of the image; ``low``/``high`` bound it (Wilson 95% interval, a sign test against one half).
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """

    images: int
    mean_share: float
    mean_area: float
    fraction_above: float
    low: float
    high: float

    @property
    def verdict(self) -> str:
        """'concentrates on the garment', 'avoids the garment', or 'shows no clear preference' (vs. an even spread)."""
        if self.low > 0.5:
            return "concentrates on the garment"
        if self.high < 0.5:
            return "avoids the garment"
        return "shows no clear preference"


def summarize_evidence(on_object: torch.Tensor, area: torch.Tensor, confidence: float = 0.95) -> EvidenceSummary:
    """Summarise :func:`evidence_on_object` over images, leaving out maps with no evidence (NaN).

    A sign test: each image votes "above" (more evidence on the garment than its area) or "below"; a point
    exactly on the diagonal casts no vote, as usual for sign tests. The interval is scipy's Wilson score
    interval for the share of "above" votes. Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    keep = ~torch.isnan(on_object)
    n = int(keep.sum())
    if n == 0:
        raise ValueError("no map has any evidence: every true-class map is zero everywhere")
    share, covered = on_object[keep].double(), area[keep].double()
    votes = int((share != covered).sum())
    if votes == 0:
        raise ValueError("every map puts exactly its area's share on the garment: the sign test has no votes")
    above = int((share > covered).sum())
    interval = binomtest(above, votes).proportion_ci(confidence_level=confidence, method="wilson")
    return EvidenceSummary(images=n, mean_share=share.mean().item(), mean_area=covered.mean().item(),
                           fraction_above=above / votes, low=float(interval.low), high=float(interval.high))
