"""The variants of chapter 7's experiments, each a small change to the same baseline: the ``cpu`` preset's network.

A variant names the keyword arguments of :func:`nin_book.models.nin` and the training settings it changes;
:func:`variant_config` turns it into the :class:`~nin_book.presets.TrainConfig` that the book's training engine
runs. Explained in chapter 7, "The paper's claims, measured".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nin_book.presets import TrainConfig, get_preset

__all__ = [
    "BASELINE_PRESET",
    "EXPERIMENT_EPOCHS",
    "GROUPS",
    "SMOKE",
    "STALL_EPOCHS",
    "STALL_TRAIN_IMAGES",
    "TRAIN_EVAL_IMAGES",
    "VARIANTS",
    "Variant",
    "select_variants",
    "variant_config",
    "variant_label",
    "variant_phrase",
    "variant_seeds",
]

BASELINE_PRESET = "cpu"
# The cpu preset trains 8 epochs (about 9 minutes on the 2-core machine). Eighteen training runs (six variants,
# three seeds) must fit in an hour together with the stall runs, so every variant here trains for fewer epochs.
EXPERIMENT_EPOCHS = 2
# Final train accuracy is measured on the first this many training images (all of them seen in training), with
# the final network in eval mode, like the test accuracy on the 10,000 test images: the gap between the two is
# the generalisation gap. A subset keeps the evaluation cheap; its standard error is below 0.3 points.
TRAIN_EVAL_IMAGES = 10_000
# The stall runs: 300 steps of batch 128 over the first 6,400 training images (6 epochs of 50 steps).
STALL_TRAIN_IMAGES = 6_400
STALL_EPOCHS = 6
# The measurement at Dive into Deep Learning's settings: 3 epochs of 19,200 images at 112x112 (450 steps of 128).
D2L_RESOLUTION = 112
D2L_TRAIN_IMAGES = 19_200
D2L_EPOCHS = 3
# --smoke: the same networks on a few hundred images, one short epoch, for tests and CI.
SMOKE: dict[str, Any] = {"epochs": 1, "batch_size": 64, "train_limit": 256, "test_limit": 128, "eval_batch_size": 256}
SMOKE_STALL: dict[str, Any] = {"epochs": 2, "batch_size": 64, "train_limit": 128, "test_limit": 128,
                               "eval_batch_size": 256}

GROUPS: dict[str, str] = {
    "head": "a. the head: global average pooling against flatten → fully connected, without and with dropout",
    "mlp": "b. 1×1 convolutions per block: 0 (a plain convolutional network), 1 and 2 (NiN)",
    "dropout": "c. dropout before the last block: with (0.2, as the cpu preset) and without",
    "translation": "d. test accuracy on test images shifted by k = 0…4 pixels, for the GAP and FC models "
                   "(an evaluation of the head variants' trained networks, no more training)",
    "stall": "e. the stall at loss ln 10: a recipe that reproduces it, and four fixes",
}


@dataclass(frozen=True)
class Variant:
    """One experiment: what it changes in the baseline (``model``: :func:`~nin_book.models.nin` keyword
    arguments; ``train``: :class:`~nin_book.presets.TrainConfig` fields), the groups it belongs to, and
    whether it is a full training run (``kind="train"``) or a short stall run (``kind="stall"``).

    Explained in chapter 7, "The paper's claims, measured".
    """

    name: str
    groups: tuple[str, ...]
    description: str
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    kind: str = "train"
    # The preset whose network and recipe it changes (the cpu preset for all but the d2l measurement), and at most
    # how many seeds it runs (None: as many as asked), for a run too slow to repeat on a 2-core CPU.
    base: str = BASELINE_PRESET
    max_seeds: int | None = None
    # What tables and figures call it (the name is for the command line and the JSON), and how a sentence does.
    label: str = ""
    phrase: str = ""

    @property
    def title(self) -> str:
        """The readable name: ``label``, or the name when there is none."""
        return self.label or self.name

    @property
    def in_words(self) -> str:
        """How a sentence names it: ``phrase``, or the readable name."""
        return self.phrase or self.title

    @property
    def translation(self) -> bool:
        """Whether its trained networks are also evaluated on shifted test images."""
        return "translation" in self.groups


# The stall recipe: the baseline without batch normalisation, keeping the ReLU on the class maps, the book's He
# initialisation and the cpu preset's optimiser (peak learning rate 0.2, one-cycle, Nesterov momentum 0.9).
_NO_BN = {"batch_norm": False}
VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("baseline", ("head", "mlp", "dropout", "translation"),
            "the cpu preset's network: GAP head, two 1×1 convolutions per block, dropout 0.2, batch norm",
            label="NiN (GAP head)"),
    Variant("head_fc", ("head", "translation"), "the 10×7×7 class maps flattened into one fully connected layer",
            model={"head": "fc", "image_size": 28}, label="fully connected head",
            phrase="the fully connected head"),
    Variant("head_fc_dropout", ("head", "translation"), "the same with dropout 0.5 before the fully connected layer",
            model={"head": "fc_dropout", "image_size": 28}, label="fully connected head with dropout",
            phrase="the fully connected head with dropout"),
    Variant("mlp0", ("mlp",), "no 1×1 convolutions: a plain convolutional network of four 3×3 layers",
            model={"mlp_convs": 0}, label="no 1×1 convolutions",
            phrase="the network without 1×1 convolutions"),
    Variant("mlp1", ("mlp",), "one 1×1 convolution per block", model={"mlp_convs": 1}, label="one 1×1 convolution per block",
            phrase="the network with one 1×1 convolution per block"),
    Variant("no_dropout", ("dropout",), "no dropout before the last block", model={"dropout": 0.0}, label="NiN without dropout"),
    Variant("stall_recipe", ("stall",), "no batch norm, ReLU on the class maps, He init, peak lr 0.2 (the cpu optimiser)",
            model=_NO_BN, kind="stall", label="the stall recipe"),
    Variant("stall_fix_lr", ("stall",), "the stall recipe at a tenth of the learning rate (peak 0.02)",
            model=_NO_BN, train={"lr": 0.02}, kind="stall", label="a tenth of the learning rate"),
    Variant("stall_fix_init", ("stall",), "the stall recipe with Xavier initialisation instead of He",
            model={**_NO_BN, "init": "xavier"}, kind="stall", label="Xavier initialisation"),
    Variant("stall_fix_bn", ("stall",), "the stall recipe with batch norm back (the baseline network)",
            kind="stall", label="batch norm back"),
    Variant("stall_fix_no_relu", ("stall",), "the stall recipe without the ReLU on the class maps",
            model={**_NO_BN, "final_relu": False}, kind="stall", label="no ReLU on the class maps"),
    # Dive into Deep Learning's own recipe (the classic preset: the 2013 network, Xavier, plain SGD at lr 0.1, no
    # batch norm) at 112x112 instead of 224 (a quarter of the cost; still 2x2 class maps), 450 steps, one seed.
    Variant("stall_d2l", ("stall",), "Dive into Deep Learning's recipe (classic network, Xavier, plain SGD at lr 0.1, "
            "no batch norm) at 112×112", base="classic", kind="stall", max_seeds=1,
            train={"resolution": D2L_RESOLUTION, "train_limit": D2L_TRAIN_IMAGES, "epochs": D2L_EPOCHS,
                   "eval_batch_size": 250}, label="d2l's recipe at 112×112"),
)}


def variant_config(variant: Variant, seed: int = 0, *, smoke: bool = False) -> TrainConfig:
    """The training config of one run of ``variant``: the ``cpu`` preset with the variant's changes,
    :data:`EXPERIMENT_EPOCHS` epochs (stall runs: :data:`STALL_EPOCHS` over :data:`STALL_TRAIN_IMAGES`
    images), seeded by ``seed``; ``smoke=True`` shrinks the data and epochs to seconds.

    Explained in chapter 7, "The paper's claims, measured".
    """
    base = get_preset(variant.base)
    changes: dict[str, Any] = {"preset": f"experiments/{variant.name}", "seed": seed,
                               "model": {**base.model, **variant.model}}
    if variant.kind == "stall":
        changes.update(epochs=STALL_EPOCHS, train_limit=STALL_TRAIN_IMAGES, test_limit=1000)
    else:
        changes.update(epochs=EXPERIMENT_EPOCHS)
    changes.update(variant.train)
    if smoke:
        changes.update(SMOKE_STALL if variant.kind == "stall" else SMOKE)
        if variant.base != BASELINE_PRESET:  # the classic network needs 99 pixels or more; keep its size
            changes.update(batch_size=16, train_limit=64, test_limit=32, eval_batch_size=32)
    return base.replace(**changes)


def variant_seeds(variant: Variant, seeds: int) -> range:
    """The seeds ``variant`` runs when ``seeds`` per variant are asked for (fewer for a capped variant).

    Explained in chapter 7, "The paper's claims, measured".
    """
    return range(seeds if variant.max_seeds is None else min(seeds, variant.max_seeds))


def select_variants(only: list[str] | None = None) -> list[Variant]:
    """The variants named in ``only`` (variant or group names, in the registry's order); all when empty.
    An unknown name raises ``ValueError`` listing the valid ones.

    Explained in chapter 7, "The paper's claims, measured".
    """
    if not only:
        return list(VARIANTS.values())
    unknown = [name for name in only if name not in VARIANTS and name not in GROUPS]
    if unknown:
        raise ValueError(f"unknown experiment {', '.join(map(repr, unknown))}; valid names: "
                         f"{', '.join(VARIANTS)}; groups: {', '.join(GROUPS)}")
    return [v for v in VARIANTS.values() if v.name in only or any(g in only for g in v.groups)]


def variant_label(name: str) -> str:
    """The readable name of the variant called ``name`` (the name itself for one not in the registry).

    Explained in chapter 7, "The paper's claims, measured".
    """
    variant = VARIANTS.get(name)
    return name if variant is None else variant.title


def variant_phrase(name: str) -> str:
    """How a sentence names the variant called ``name`` ("the fully connected head"); the name itself for one not in
    the registry. Explained in chapter 7, "The paper's claims, measured".
    """
    variant = VARIANTS.get(name)
    return name if variant is None else variant.in_words
