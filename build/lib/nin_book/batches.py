"""Mini-batches straight from device memory: the whole uint8 data set lives on the training device,
and each batch is gathered, resized and normalised there.

The classic pipeline decodes, resizes and converts every image on the CPU in worker processes
(``transforms.Resize`` + ``ToTensor``); here that work is one tensor operation per batch.
Explained in chapter 5, "Training NiN on Fashion-MNIST".
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.nn import functional as F

__all__ = ["FASHION_MNIST_MEAN", "FASHION_MNIST_STD", "DeviceBatches", "prepare_images"]

# Mean and standard deviation of the 60,000 training images' pixels scaled to [0, 1]
# (tests/test_batches.py recomputes them from the real files).
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530


def prepare_images(images: torch.Tensor, resolution: int = 28, *, channels_last: bool = False) -> torch.Tensor:
    """uint8 images (N, 28, 28) or (N, 1, 28, 28), on any device, to normalised float32 (N, 1, R, R).

    Resizing is bilinear (``F.interpolate``), the same filter as torchvision's ``Resize`` when it
    enlarges. Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    if resolution < 1:
        raise ValueError(f"resolution must be a positive integer, got {resolution}")
    x = images.unsqueeze(1) if images.dim() == 3 else images
    x = x.to(torch.float32).div_(255.0)
    if x.shape[-2:] != (resolution, resolution):
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=False)
    x = x.sub_(FASHION_MNIST_MEAN).div_(FASHION_MNIST_STD)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


class DeviceBatches:
    """Iterate over ``(images, labels)`` batches of a uint8 data set kept whole on ``device``.

    ``shuffle`` draws a new order each epoch from a generator seeded by ``(seed, epoch)``; call
    :meth:`set_epoch` before iterating, so a resumed run sees the same orders as an uninterrupted one.
    ``limit`` keeps only the first N images; ``flip`` mirrors a random half of each batch left-right
    (a label-preserving augmentation for clothing); ``drop_last`` skips a final short batch.
    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        resolution: int = 28,
        device: str | torch.device = "cpu",
        shuffle: bool = False,
        seed: int = 0,
        limit: int | None = None,
        flip: bool = False,
        drop_last: bool = False,
        channels_last: bool = False,
    ) -> None:
        if images.dtype != torch.uint8:
            raise TypeError(f"images must be uint8 (the raw pixels), got {images.dtype}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if resolution < 1:
            raise ValueError(f"resolution must be a positive integer, got {resolution}")
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be a positive integer or None, got {limit}")
        n = len(images) if limit is None else min(limit, len(images))
        self.device = torch.device(device)
        self.images = images[:n].to(self.device)
        self.labels = labels[:n].to(self.device)
        self.batch_size = batch_size
        self.resolution = resolution
        self.shuffle = shuffle
        self.seed = seed
        self.flip = flip
        self.drop_last = drop_last
        self.channels_last = channels_last
        self.epoch = 0

    @property
    def num_images(self) -> int:
        """Images per epoch (after ``limit`` and ``drop_last``)."""
        n = len(self.images)
        return (n // self.batch_size) * self.batch_size if self.drop_last else n

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Choose which epoch's shuffle order (and flips) the next iteration uses."""
        self.epoch = epoch

    def _generator(self) -> torch.Generator:
        # Large odd multiplier: distinct (seed, epoch) pairs give distinct streams.
        return torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.images)
        gen = self._generator()
        if self.shuffle:
            order = torch.randperm(n, generator=gen).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        flips = torch.rand(n, generator=gen).lt(0.5).to(self.device) if self.flip else None
        for start in range(0, self.num_images, self.batch_size):
            idx = order[start:start + self.batch_size]
            x = prepare_images(self.images[idx], self.resolution)
            if flips is not None:
                mask = flips[start:start + len(idx)].view(-1, 1, 1, 1)
                x = torch.where(mask, x.flip(-1), x)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[idx]
