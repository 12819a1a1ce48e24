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
    "SignTest",
    "average_by_class",
    "ClassControls",
    "border_ring",
    "class_maps",
    "controls_by_class",
    "evidence_on_object",
    "mask_partners",
    "mean_over_other_classes",
    "object_mask",
    "paired_sign_test",
    "select_class_maps",
    "shares_by_class",
    "shares_on_partner_masks",
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


def average_by_class(values: torch.Tensor, labels: torch.Tensor, num_classes: int = 10,
                     skip_nan: bool = False) -> torch.Tensor:
    """Mean of ``values`` (N, ...) over the images of each class: (num_classes, ...); NaN for an absent class.

    With the true class's upsampled map of each image, it shows where each class's evidence sits on
    average. ``skip_nan`` leaves NaN values out of each mean (a map with no evidence has no share).
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if len(values) != len(labels):
        raise ValueError(f"{len(values)} values for {len(labels)} labels")
    out = torch.full((num_classes, *values.shape[1:]), float("nan"))
    for c in range(num_classes):
        chosen = labels == c
        if chosen.any():
            picked = values[chosen].float()
            out[c] = picked.nanmean(dim=0) if skip_nan else picked.mean(dim=0)
    return out


def shares_by_class(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Every class's share of evidence on the garment: maps (N, C, H, W) at image size, masks (N, H, W) → (N, C).

    Column ``c`` is :func:`evidence_on_object` of class ``c``'s map; NaN where that map is zero everywhere.
    The other classes' columns are a control for the true class's: they see the same image and the same
    garment. Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if maps.ndim != 4 or masks.shape != (maps.shape[0], *maps.shape[2:]):
        raise ValueError(f"need maps (N, C, H, W) and masks (N, H, W), got {tuple(maps.shape)} and {tuple(masks.shape)}")
    return torch.stack([evidence_on_object(maps[:, c], masks)[0] for c in range(maps.shape[1])], dim=1)


def mean_over_other_classes(values: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """For values (N, C) and the true class of each image (N,), the mean over the C − 1 other classes: (N,).

    NaN values (maps with no evidence) are left out; an image whose other classes are all NaN gets NaN.
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if values.ndim != 2 or labels.shape != values.shape[:1]:
        raise ValueError(f"need values (N, C) and labels (N,), got {tuple(values.shape)} and {tuple(labels.shape)}")
    others = torch.ones_like(values, dtype=torch.bool)
    others[torch.arange(len(values)), labels.long()] = False
    kept = torch.where(others, values.float(), torch.full_like(values, float("nan"), dtype=torch.float32))
    return kept.nanmean(dim=1)


def mask_partners(n: int, shuffles: int, seed: int = 0) -> torch.Tensor:
    """For ``shuffles`` random pairings, another image for every image: (shuffles, n) indices, never itself.

    Each row is a random cyclic derangement: the images are put in a random order and each is paired with
    the next one (the last with the first), so every image's garment mask is borrowed by exactly one other
    image. Deterministic for a given ``seed``. Used for chapter 6's centre-bias control: image i's map against
    image j's garment. Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if n < 2 or shuffles < 1:
        raise ValueError(f"need at least 2 images and 1 shuffle, got n={n}, shuffles={shuffles}")
    generator = torch.Generator().manual_seed(seed)
    partners = torch.empty(shuffles, n, dtype=torch.long)
    for s in range(shuffles):
        order = torch.randperm(n, generator=generator)
        partners[s, order] = order.roll(-1)
    return partners


def shares_on_partner_masks(maps: torch.Tensor, masks: torch.Tensor,
                            partners: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's map against another image's garment: the centre-bias control of chapter 6.

    ``maps`` and ``masks`` (N, H, W) as for :func:`evidence_on_object`; ``partners`` (S, N) from
    :func:`mask_partners`. Returns ``(share, area)``, both (S, N): the share of image i's evidence on image
    ``partners[s, i]``'s garment and that garment's area. Fashion-MNIST garments are all centred, so a map that
    merely peaks in the middle of the image does as well here as on its own garment; a map that follows its
    own garment does better. Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if partners.ndim != 2 or partners.shape[1] != len(maps):
        raise ValueError(f"partners must be (shuffles, {len(maps)}), got {tuple(partners.shape)}")
    pairs = [evidence_on_object(maps, masks[row]) for row in partners]
    return torch.stack([share for share, _ in pairs]), torch.stack([area for _, area in pairs])


def border_ring(masks: torch.Tensor, width: int = 2) -> torch.Tensor:
    """Background pixels within ``width`` pixels of the garment (8-neighbourhood): the garment's outline, outside.

    ``masks`` (N, H, W) or (H, W) bool, from :func:`object_mask`. Evidence here is evidence from the
    *silhouette*, the background beside the garment, rather than from the garment itself (for instance the gap
    between trouser legs). Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if width < 1:
        raise ValueError(f"width must be at least 1 pixel, got {width}")
    squeeze = masks.ndim == 2
    x = masks.float()[None] if squeeze else masks.float()
    grown = F.max_pool2d(x[:, None], kernel_size=2 * width + 1, stride=1, padding=width)[:, 0] > 0
    ring = grown & ~x.bool()
    return ring[0] if squeeze else ring


def _direction(low: float, high: float) -> str:
    # Where an interval around a share lies against one half: the rule every verdict of chapter 6 states.
    return "above" if low > 0.5 else "below" if high < 0.5 else "undecided"


@dataclass(frozen=True)
class SignTest:
    """A paired sign test: for how many images is ``a`` larger than ``b``, with a Wilson interval and a p-value.

    ``images``: pairs with neither value NaN; ``votes``: those where ``a`` and ``b`` differ (ties cast no vote);
    ``fraction_above``: share of votes with ``a > b``; ``low``/``high``: its Wilson interval; ``p_value``: two-sided,
    against one half; ``mean_a``/``mean_b``: the means over the kept pairs.
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """

    images: int
    votes: int
    fraction_above: float
    low: float
    high: float
    p_value: float
    mean_a: float
    mean_b: float

    @property
    def direction(self) -> str:
        """'above' if the whole interval lies above one half, 'below' if below it, else 'undecided'."""
        return _direction(self.low, self.high)

    def says(self, above: str, below: str, undecided: str) -> str:
        """The one of three phrases that :attr:`direction` supports (the page states whichever comes out)."""
        return {"above": above, "below": below, "undecided": undecided}[self.direction]


def paired_sign_test(a: torch.Tensor, b: torch.Tensor, confidence: float = 0.95) -> SignTest:
    """Sign test of ``a > b`` over paired values (N,), leaving out pairs with a NaN; scipy's binomtest does the rest.

    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two (N,) tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    keep = ~(torch.isnan(a) | torch.isnan(b))
    n = int(keep.sum())
    if n == 0:
        raise ValueError("no pair without NaN: nothing to compare")
    x, y = a[keep].double(), b[keep].double()
    votes = int((x != y).sum())
    if votes == 0:
        raise ValueError("every pair is tied: the sign test has no votes")
    above = int((x > y).sum())
    result = binomtest(above, votes)
    interval = result.proportion_ci(confidence_level=confidence, method="wilson")
    return SignTest(images=n, votes=votes, fraction_above=above / votes, low=float(interval.low),
                    high=float(interval.high), p_value=float(result.pvalue), mean_a=x.mean().item(),
                    mean_b=y.mean().item())


@dataclass(frozen=True)
class ClassControls:
    """One class's row of chapter 6's controls: means over the class's images, and two paired sign tests.

    ``area``: the garment's share of the image; ``share``: the true class's evidence on it; ``own``,
    ``shuffled``, ``others``: excess over the area (share − area) of the true class's map on its own garment,
    on borrowed garments, and of the other classes' maps on the same garment. ``versus_shuffled`` and
    ``versus_others`` test ``own`` against each control image by image.
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """

    label: int
    images: int
    area: float
    share: float
    own: float
    shuffled: float
    others: float
    versus_shuffled: SignTest
    versus_others: SignTest


def controls_by_class(labels: torch.Tensor, share: torch.Tensor, area: torch.Tensor, shuffled: torch.Tensor,
                      others: torch.Tensor, num_classes: int = 10) -> list[ClassControls]:
    """Chapter 6's controls class by class, for every class with images; all inputs (N,).

    ``share``/``area`` from :func:`evidence_on_object` (the true class's map, its own garment); ``shuffled``:
    each image's mean excess on borrowed garments (:func:`shares_on_partner_masks`); ``others``: the other
    classes' mean excess on the same garment (:func:`mean_over_other_classes`). Every column of a row averages
    the same images: those whose true-class map has any evidence (``share`` not NaN); ``images`` counts them.
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if not labels.shape == share.shape == area.shape == shuffled.shape == others.shape or labels.ndim != 1:
        raise ValueError("labels, share, area, shuffled and others must all be (N,)")
    own = share - area
    rows = []
    for c in range(num_classes):
        chosen = (labels == c) & ~torch.isnan(share)
        if not chosen.any():
            continue
        rows.append(ClassControls(
            label=c, images=int(chosen.sum()), area=area[chosen].float().mean().item(),
            share=share[chosen].float().nanmean().item(), own=own[chosen].float().nanmean().item(),
            shuffled=shuffled[chosen].float().nanmean().item(), others=others[chosen].float().nanmean().item(),
            versus_shuffled=paired_sign_test(own[chosen], shuffled[chosen]),
            versus_others=paired_sign_test(own[chosen], others[chosen])))
    return rows


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
        return {"above": "concentrates on the garment", "below": "avoids the garment",
                "undecided": "shows no clear preference"}[_direction(self.low, self.high)]


def summarize_evidence(on_object: torch.Tensor, area: torch.Tensor, confidence: float = 0.95) -> EvidenceSummary:
    """Summarise :func:`evidence_on_object` over images, leaving out maps with no evidence (NaN).

    A sign test: each image votes "above" (more evidence on the garment than its area) or "below"; a point
    exactly on the diagonal casts no vote, as usual for sign tests. The interval is scipy's Wilson score
    interval for the share of "above" votes. Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if torch.isnan(on_object).all():
        raise ValueError("no map has any evidence: every true-class map is zero everywhere")
    if ((on_object == area) | torch.isnan(on_object)).all():
        raise ValueError("every map puts exactly its area's share on the garment: the sign test has no votes")
    test = paired_sign_test(on_object, area, confidence)
    return EvidenceSummary(images=test.images, mean_share=test.mean_a, mean_area=test.mean_b,
                           fraction_above=test.fraction_above, low=test.low, high=test.high)
