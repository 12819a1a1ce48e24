"""Numbers from the literature that the book compares its own runs with, each with its source.

They are printed numbers, never measured here. Explained in chapter 5, "Training NiN on Fashion-MNIST" (Dive into
Deep Learning's run), and chapter 7, "The paper's claims, measured" (the paper's CIFAR-10 ablations).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["D2L_NIN", "NIN_PAPER", "NIN_PAPER_ABLATIONS", "PaperAblation", "PublishedReference"]


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


NIN_PAPER = "Lin, Chen & Yan, Network In Network, ICLR 2014, arXiv:1312.4400 (v3), https://arxiv.org/abs/1312.4400"


@dataclass(frozen=True)
class PaperAblation:
    """One CIFAR-10 result of the NiN paper's head ablation (test error in percent, as printed there).

    ``body`` is the network below the head ("mlpconv" for NiN, "conventional CNN" for the paper's plain
    convolutional network), ``head`` the classifier on top, ``where`` the place in the paper, and ``variant``
    the chapter 7 experiment that changes the same thing (``None`` where the book has no counterpart).
    Explained in chapter 7, "The paper's claims, measured".
    """

    body: str
    head: str
    test_error_percent: float
    where: str
    variant: str | None
    dataset: str = "CIFAR-10"
    source: str = NIN_PAPER


# The paper's section 4.6 ("Global Average Pooling as a Regularizer"): Table 5 swaps NiN's head, and the text
# repeats the swap on a conventional CNN. The book's transcription; tests/data/nin_paper_source.md records how
# each number was checked (Table 5 could not be re-opened offline).
NIN_PAPER_ABLATIONS: tuple[PaperAblation, ...] = (
    PaperAblation("mlpconv", "fully connected", 11.59, "Table 5", "head_fc"),
    PaperAblation("mlpconv", "fully connected + dropout", 10.88, "Table 5", "head_fc_dropout"),
    PaperAblation("mlpconv", "global average pooling", 10.41, "Table 5", "baseline"),
    PaperAblation("conventional CNN", "fully connected", 17.56, "section 4.6", None),
    PaperAblation("conventional CNN", "fully connected + dropout", 15.99, "section 4.6", None),
    PaperAblation("conventional CNN", "global average pooling", 16.46, "section 4.6", None),
)
