"""Translation: test images shifted by k pixels, for chapter 7's question whether GAP is more robust to it.

Each image moves k pixels in one of the four axis directions (left, right, up, down), chosen per image from a
fixed seed, so every network sees the same shifted images and each k averages over the directions; the
uncovered border is filled with zeros (the black background of Fashion-MNIST). Explained in chapter 7,
"The paper's claims, measured".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nin_book.train import evaluate

__all__ = ["DIRECTIONS", "SHIFTS", "SHIFT_SEED", "shift_images", "shifted_accuracies"]

SHIFTS: tuple[int, ...] = (0, 1, 2, 3, 4)
SHIFT_SEED = 0
# (rows, columns) moved per pixel of shift: down, up, right, left.
DIRECTIONS: tuple[tuple[int, int], ...] = ((1, 0), (-1, 0), (0, 1), (0, -1))


def shift_images(images: torch.Tensor, k: int, directions: torch.Tensor) -> torch.Tensor:
    """``images`` (N, H, W) moved by ``k`` pixels, image i in direction ``DIRECTIONS[directions[i]]``, with
    zero fill. ``k=0`` returns a copy. Explained in chapter 7, "The paper's claims, measured".
    """
    if k < 0:
        raise ValueError(f"the shift must be at least 0 pixels, got {k}")
    if images.dim() != 3 or len(directions) != len(images):
        raise ValueError("images must be (N, H, W) with one direction per image")
    out = torch.zeros_like(images)
    height, width = images.shape[-2:]
    if k >= max(height, width):
        return out
    for index, (dy, dx) in enumerate(DIRECTIONS):
        chosen = directions == index
        if not chosen.any():
            continue
        dy, dx = dy * k, dx * k
        src = images[chosen][:, max(0, -dy):height - max(0, dy), max(0, -dx):width - max(0, dx)]
        target = out[chosen]
        target[:, max(0, dy):height - max(0, -dy), max(0, dx):width - max(0, -dx)] = src
        out[chosen] = target
    return out


def shifted_accuracies(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                       shifts: Sequence[int] = SHIFTS, resolution: int = 28, batch_size: int = 1000,
                       seed: int = SHIFT_SEED) -> dict[str, float]:
    """Test accuracy of ``model`` (eval mode) on ``images`` shifted by each k in ``shifts``: ``{"0": ..., "1": ...}``.

    Explained in chapter 7, "The paper's claims, measured".
    """
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randint(len(DIRECTIONS), (len(images),), generator=generator)
    return {str(k): evaluate(model, shift_images(images, k, directions), labels, resolution=resolution,
                             batch_size=batch_size, precision="fp32")
            for k in shifts}
