"""Numbers from the literature that the book compares its own runs with, each with its source.

They are printed numbers, never measured here. Explained in chapter 5, "Training NiN on Fashion-MNIST".
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["D2L_NIN", "PublishedReference"]


@dataclass(frozen=True)
class PublishedReference:
    """Training results reported in the literature (numbers as printed there, never measured here).

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """

    label: str
    test_accuracies: tuple[float, ...]
    images_per_second: float
    seconds_for_10_epochs: float
    device: str
    source: str
    epochs: int = 10
    learning_rate: float = 0.1
    batch_size: int = 128
    resolution: int = 224


# Literature constants, defined once. Dive into Deep Learning trains the classic NiN at 224×224 on
# Fashion-MNIST for 10 epochs (lr 0.1, batch 128) and prints its final test accuracy and throughput;
# its published runs reach 0.790 and 0.867 test accuracy at about 3,100 images/s, about 260 s for the
# 10 epochs, on one Tesla V100.
D2L_NIN = PublishedReference(
    label="Dive into Deep Learning",
    test_accuracies=(0.790, 0.867),
    images_per_second=3100.0,
    seconds_for_10_epochs=260.0,
    device="Tesla V100",
    epochs=10,
    learning_rate=0.1,
    batch_size=128,
    resolution=224,
    source="Zhang, Lipton, Li & Smola, Dive into Deep Learning, section 8.3 'Network in Network (NiN)', "
           "https://d2l.ai/chapter_convolutional-modern/nin.html",
)
