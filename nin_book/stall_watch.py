"""Recognising the stall at loss ln 10 while training: the output has stopped depending on the input.

When a network's logits are the same for every image, the best its loss can do on balanced classes is ln(number of
classes) (2.3026 for ten), and no gradient that would make the logits depend on the image reaches the layers that
died. Chapter 7 reproduces this (a NiN without batch norm at a large learning rate) and measures what fixes it.
:class:`StallWatch` is the trainer's check: it fires when, for :data:`STALL_WINDOW` consecutive steps, the training
loss stays within :data:`STALL_LOSS_TOL` of ln(classes) and every logit varies across the batch by at most
:data:`STALL_SPREAD_TOL`. It keeps its state on the training device, so that a GPU is not stalled by a read-back
every step; the trainer reads it when it checks for NaN.

Explained in chapter 5, "Training NiN on Fashion-MNIST" (Solution 2), and chapter 7, "The paper's claims, measured".
"""

from __future__ import annotations

import math

import torch

__all__ = ["ON_STALL", "STALL_LOSS_TOL", "STALL_SPREAD_TOL", "STALL_WINDOW", "StallWatch", "logit_spread",
           "stall_advice"]

# 50 steps: in chapter 7's stall runs the output stops depending on the input for 140-280 steps in a row before
# the run ends, while the healthy runs (batch norm, a tenth of the learning rate) never do so for a single step.
STALL_WINDOW = 50
# Per-step losses of a stalled network scatter around ln 10 by about 0.01 (the labels of a batch of 128 are not
# exactly balanced); 0.05 leaves room for that, while a network that has learnt anything is far below.
STALL_LOSS_TOL = 0.05
# Stalled networks in chapter 7 show spreads of exactly 0 with rare blips up to 6e-4 (float rounding in the
# layers still alive); a network that reads its input spreads its logits across a batch by far more than 1e-3.
STALL_SPREAD_TOL = 1e-3
# What the trainer does when the watch fires: stop (raise TrainingStalled), warn once and go on, or not watch.
ON_STALL = ("stop", "warn", "off")


def logit_spread(logits: torch.Tensor) -> torch.Tensor:
    """The largest spread of one class's logit across the images of a batch (rows), as a 0-d tensor on the logits'
    device: 0 when the output does not depend on the image. Explained in chapter 7."""
    detached = logits.detach().float()
    return (detached.amax(0) - detached.amin(0)).amax()


def stall_advice(lr: float) -> str:
    """The fixes chapter 7 measured for the stall, as the trainer's message ends with them."""
    return (f"fixes measured in chapter 7: batch norm after every convolution (batch_norm=True), or a tenth of the "
            f"learning rate (it was {lr:g}, try {lr / 10:g})")


class StallWatch:
    """Counts, on the training device, the consecutive steps whose loss sits at ln(classes) with logits the same
    for every image; :attr:`first_step` holds the global step at which the count first reached ``window`` (-1
    until then). Call :meth:`update` every step and read :meth:`fired_at` only when the trainer syncs anyway.

    Explained in chapter 7, "The paper's claims, measured" (why training stalls at loss ln 10).
    """

    def __init__(self, device: torch.device | str = "cpu", *, window: int = STALL_WINDOW,
                 loss_tol: float = STALL_LOSS_TOL, spread_tol: float = STALL_SPREAD_TOL) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1 step, got {window}")
        self.window, self.loss_tol, self.spread_tol = window, loss_tol, spread_tol
        self._run = torch.zeros((), dtype=torch.int64, device=device)
        self.first_step = torch.full((), -1, dtype=torch.int64, device=device)

    def update(self, step: int, loss: torch.Tensor, logits: torch.Tensor) -> None:
        """Record one training step (``loss``: the batch's mean cross-entropy; ``logits``: batch × classes)."""
        flat = ((loss.detach().float() - math.log(logits.shape[1])).abs() <= self.loss_tol) & (
            logit_spread(logits) <= self.spread_tol)
        self._run = torch.where(flat, self._run + 1, torch.zeros_like(self._run))
        self.first_step.masked_fill_((self._run >= self.window) & (self.first_step < 0), step)

    def fired_at(self) -> int | None:
        """The step at which the stall was recognised, or None (reads the device: one sync)."""
        step = int(self.first_step)
        return None if step < 0 else step
