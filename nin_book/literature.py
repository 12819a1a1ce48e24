"""Numbers from the literature that the book compares its own runs with, each with its source.

They are published numbers, never measured here. Explained in chapter 5, "Training NiN on Fashion-MNIST" (Dive into
Deep Learning's training recipe), and chapter 7, "The paper's claims, measured" (the paper's headline results and its
CIFAR-10 ablations).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "D2L_NIN",
    "D2L_NIN_CURRENT",
    "NIN_PAPER",
    "NIN_PAPER_ABLATIONS",
    "NIN_PAPER_RESULTS",
    "RECIPE_SETTINGS",
    "PaperAblation",
    "PaperResult",
    "PublishedRecipe",
]

# The training settings a recipe fixes, in the order chapter 5's table lists them. ``TrainConfig`` has a field of
# the same name and meaning for each (``batch_norm``, ``dropout`` and ``initialisation`` through its model).
RECIPE_SETTINGS = ("resolution", "epochs", "batch_size", "learning_rate", "schedule", "momentum", "weight_decay",
                   "batch_norm", "dropout", "initialisation")


@dataclass(frozen=True)
class PublishedRecipe:
    """How one edition of a book trains NiN on Fashion-MNIST: its settings as printed in its code, never measured here.

    ``edition`` and ``section`` name the exact edition and section the settings come from, ``url`` its page, and
    ``checked_in`` the file of the book's source repository, at the edition's release tag, that they were checked
    against (tests/data/d2l_nin_source.md quotes the lines).
    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """

    label: str
    edition: str
    section: str
    url: str
    checked_in: str
    resolution: int
    epochs: int
    batch_size: int
    learning_rate: float
    schedule: str = "constant"
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_norm: bool = False
    dropout: float = 0.5
    initialisation: str = "xavier"

    @property
    def source(self) -> str:
        """The citation: authors, edition, section and page."""
        return f"Zhang, Lipton, Li & Smola, {self.edition}, {self.section}, {self.url}"

    def settings(self) -> dict[str, object]:
        """The recipe's training settings, keyed by ``RECIPE_SETTINGS``."""
        return {name: getattr(self, name) for name in RECIPE_SETTINGS}


# Dive into Deep Learning trains the four-block NiN at 224x224 on Fashion-MNIST with plain SGD (no momentum, no
# weight decay) at a constant learning rate, Xavier-uniform initialisation, dropout 0.5 and no batch norm. The
# settings differ between editions: release 0.17 (English) and the Chinese second edition use lr 0.1; the current
# English edition (1.0) lowers it to 0.05 and keeps the rest. The pages also print each run's accuracy and speed,
# but those outputs are generated when a page is built and are not in the source repositories, so the book cites
# the settings only.
D2L_NIN = PublishedRecipe(
    label="Dive into Deep Learning 0.17, section 7.3",
    edition="Dive into Deep Learning, release 0.17.6 (2022; the same code in the Chinese second edition, "
            "release 2.0.0, section 7.3, https://zh-v2.d2l.ai/chapter_convolutional-modern/nin.html)",
    section="section 7.3 'Network in Network (NiN)'",
    url="https://classic.d2l.ai/chapter_convolutional-modern/nin.html",
    checked_in="github.com/d2l-ai/d2l-en, tag v0.17.6, chapter_convolutional-modern/nin.md and d2l/torch.py "
               "(train_ch6); github.com/d2l-ai/d2l-zh, tag v2.0.0, the same files",
    resolution=224,
    epochs=10,
    batch_size=128,
    learning_rate=0.1,
)

D2L_NIN_CURRENT = PublishedRecipe(
    label="Dive into Deep Learning 1.0, section 8.3",
    edition="Dive into Deep Learning, release 1.0.3 (2023)",
    section="section 8.3 'Network in Network (NiN)'",
    url="https://d2l.ai/chapter_convolutional-modern/nin.html",
    checked_in="github.com/d2l-ai/d2l-en, tag v1.0.3, chapter_convolutional-modern/nin.md and d2l/torch.py "
               "(init_cnn, Classifier.configure_optimizers)",
    resolution=224,
    epochs=10,
    batch_size=128,
    learning_rate=0.05,
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


@dataclass(frozen=True)
class PaperResult:
    """One headline result of the NiN paper: NiN's own test error in percent on one data set, as its results table
    prints it.

    ``method`` is NiN's row in that table ("NIN + Dropout", or "NIN + Dropout + Data Augmentation" where the paper
    also trains with translated and flipped images), ``data_augmentation`` says which, and ``where`` names the table.
    Explained in chapter 7, "The paper's claims, measured".
    """

    dataset: str
    method: str
    test_error_percent: float
    where: str
    data_augmentation: bool = False
    source: str = NIN_PAPER


# The paper's section 4 ("Experiments"), Tables 1-4: NiN's row in each data set's comparison with the methods of its
# day (the other rows are those methods, not NiN, and are not taken). The book's transcription; tests/data/
# nin_paper_source.md records how each number was checked.
NIN_PAPER_RESULTS: tuple[PaperResult, ...] = (
    PaperResult("CIFAR-10", "NIN + Dropout", 10.41, "Table 1"),
    PaperResult("CIFAR-10", "NIN + Dropout + Data Augmentation", 8.81, "Table 1", data_augmentation=True),
    PaperResult("CIFAR-100", "NIN + Dropout", 35.68, "Table 2"),
    PaperResult("SVHN", "NIN + Dropout", 2.35, "Table 3"),
    PaperResult("MNIST", "NIN + Dropout", 0.47, "Table 4"),
)
