"""The stall at loss ln 10: a detector, and a monitor that records how the class maps die.

When every ReLU on the class maps outputs zero for every input, global average pooling gives ten zero logits,
softmax gives 1/10 to every class, and the cross-entropy is exactly ln 10 = 2.3026 whatever the label. No
gradient passes a ReLU that outputs zero, so nothing upstream changes again: the network is stuck for good.
A wider form of the same failure: an earlier layer dies, the logits no longer depend on the input (the same
for every image, not necessarily zero), the best they can do is the class frequencies, uniform here, and the loss
again sits at ln 10 with no gradient reaching the first layers. :func:`is_stalled` is the narrow test (all
logits zero); :func:`is_stuck` the wide one (the same logits for every image).
Explained in chapter 7, "The paper's claims, measured" (why training stalls at loss ln 10).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from nin_book.batches import prepare_images
from nin_book.stall_watch import logit_spread
from nin_book.train import predict

__all__ = ["LN10", "SPREAD_TOL", "STALL_LOSS_TOL", "STALL_RECORDS", "StallMonitor", "is_stalled", "is_stuck",
           "stall_mechanism"]

LN10 = math.log(10.0)
STALL_LOSS_TOL = 1e-3
# How many consecutive records must show the stall: in the book's stall runs a record is one epoch of 50 steps,
# so 2 records are the last 100 steps.
STALL_RECORDS = 2
# Logits that differ across the images of a batch by at most this much count as the same for every image.
SPREAD_TOL = 1e-5


def _last_records_hold(losses: Sequence[float], values: Sequence[float], records: int, loss_tol: float,
                       value_tol: float) -> bool:
    # The shared test of the two detectors: the last ``records`` losses near ln 10, and the same many values small.
    if records < 1:
        raise ValueError(f"records must be at least 1, got {records}")
    if len(values) < records or len(losses) < records:
        return False
    return (all(abs(float(v) - LN10) <= loss_tol for v in losses[-records:])
            and all(float(v) <= value_tol for v in values[-records:]))


def _logit_spread(logits: torch.Tensor) -> float:
    """The largest spread of one logit across the images (rows): 0 when the output does not depend on the image."""
    return logit_spread(logits).item()  # the trainer's stall watch measures the same thing


def is_stalled(losses: Sequence[float], max_abs_logits: Sequence[float], *, records: int = STALL_RECORDS,
               loss_tol: float = STALL_LOSS_TOL, logit_tol: float = 0.0) -> bool:
    """True when the last ``records`` entries of both sequences show the stall: every loss within ``loss_tol``
    of ln 10 and every largest absolute logit at most ``logit_tol`` (zero: all logits exactly zero).

    An entry is a training step, or (as in the book's runs) an epoch: its mean loss, and the largest absolute
    logit over all its steps. Fewer than ``records`` entries is not a stall. Explained in chapter 7.
    """
    return _last_records_hold(losses, max_abs_logits, records, loss_tol, logit_tol)


def is_stuck(losses: Sequence[float], logit_spreads: Sequence[float], *, records: int = STALL_RECORDS,
             loss_tol: float = STALL_LOSS_TOL, spread_tol: float = SPREAD_TOL) -> bool:
    """True when the last ``records`` entries show a network whose output no longer depends on its input: every
    loss within ``loss_tol`` of ln 10, and in every step the logits the same for all images of the batch (the
    largest spread of a logit across the batch at most ``spread_tol``). Includes :func:`is_stalled`'s case.

    Explained in chapter 7, "The paper's claims, measured" (why training stalls at loss ln 10).
    """
    return _last_records_hold(losses, logit_spreads, records, loss_tol, spread_tol)


class StallMonitor:
    """Records, at every training step, the largest absolute logit, the largest spread of a logit across the
    batch (0 when the output does not depend on the image), and the fraction of class-map activations (the
    output of ``model.block4``) above zero. Attach it before :func:`nin_book.train.fit` and
    :meth:`close` it after; it records only while the model is in training mode.

    Explained in chapter 7, "The paper's claims, measured" (why training stalls at loss ln 10).
    """

    def __init__(self, model: nn.Module) -> None:
        self.max_abs_logits: list[float] = []
        self.logit_spreads: list[float] = []
        self.alive_fractions: list[float] = []
        self._handles = [model.register_forward_hook(self._on_logits),
                         model.block4.register_forward_hook(self._on_maps)]

    def _on_logits(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        if module.training:
            logits = output.detach().float()
            self.max_abs_logits.append(logits.abs().max().item())
            self.logit_spreads.append(_logit_spread(logits))

    def _on_maps(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        if module.training:
            self.alive_fractions.append((output.detach() > 0).float().mean().item())

    def per_epoch(self, epochs: int, series: str = "max_abs_logits") -> list[float]:
        """The largest value of ``series`` (``"max_abs_logits"`` or ``"logit_spreads"``) in each epoch (the
        steps split evenly into ``epochs``)."""
        values = getattr(self, series)
        steps = len(values)
        if epochs < 1 or steps % epochs:
            raise ValueError(f"{steps} recorded steps do not split into {epochs} epochs")
        size = steps // epochs
        return [max(values[i:i + size]) for i in range(0, steps, size)]

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def stall_mechanism(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, resolution: int = 28,
                    batch_size: int = 1000) -> dict[str, Any]:
    """The trained network on ``images`` (uint8) in eval mode: its logits, softmax and loss, which class maps are
    dead (zero on every image), and the gradient that one backward pass would give its first layer.

    For a stalled network: all logits 0, every softmax probability 0.1, loss ln 10, all ten maps dead, gradient 0.
    ``logit_spread`` is the largest spread of a logit across the images: 0 when the output ignores the input.
    Explained in chapter 7, "The paper's claims, measured" (why training stalls at loss ln 10).
    """
    activity: list[torch.Tensor] = []
    handle = model.block4.register_forward_hook(lambda m, a, out: activity.append((out > 0).flatten(2).any(2)))
    try:
        logits = predict(model, images, resolution=resolution, batch_size=batch_size, logits=True, precision="fp32")
    finally:
        handle.remove()
    alive = torch.cat(activity).any(0)  # per class: positive somewhere on some image
    probabilities = logits.softmax(1)
    first = next(p for p in model.parameters() if p.dim() == 4)
    model.zero_grad(set_to_none=True)
    was_training = model.training
    model.eval()
    try:
        x = prepare_images(images[:256], resolution).to(first.device)
        F.cross_entropy(model(x), labels[:256].to(first.device)).backward()
        gradient = first.grad.norm().item() if first.grad is not None else 0.0
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return {
        "images": len(images),
        "max_abs_logit": logits.abs().max().item(),
        "all_logits_zero": bool((logits == 0).all()),
        "logit_spread": _logit_spread(logits),
        "softmax_min": probabilities.min().item(),
        "softmax_max": probabilities.max().item(),
        "loss": F.cross_entropy(logits, labels[:len(logits)]).item(),
        "ln10": LN10,
        "dead_class_maps": int((~alive).sum()),
        "first_layer_gradient_norm": gradient,
    }
