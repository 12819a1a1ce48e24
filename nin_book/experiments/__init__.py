"""Chapter 7's experiments: the paper's claims measured on Fashion-MNIST with the book's ``cpu`` network.

- a. the head: global average pooling against flatten → fully connected, without and with dropout;
- b. 1×1 convolutions per block: 0, 1, 2;
- c. dropout with and without;
- d. test accuracy on shifted test images for the GAP and FC networks;
- e. the stall at loss ln 10: a recipe that reproduces it, its mechanism, and four fixes.

Run them all (about an hour on a 2-core CPU; see README.md) with::

    python -m nin_book.experiments --seeds 3

``--list`` names the variants, ``--only NAME`` (a variant or a group) runs some, ``--smoke`` runs them on a few
hundred images in seconds. Importing this package runs nothing. Explained in chapter 7, "The paper's claims,
measured".
"""

from nin_book.experiments.run import FORMAT, MAX_SEEDS, ExperimentsInterrupted, run_experiments, run_one, summarise
from nin_book.experiments.shift import SHIFTS, shift_images, shifted_accuracies
from nin_book.experiments.stall import LN10, StallMonitor, is_stalled, is_stuck, stall_mechanism
from nin_book.experiments.variants import EXPERIMENT_EPOCHS, GROUPS, VARIANTS, Variant, select_variants, variant_config

__all__ = [
    "EXPERIMENT_EPOCHS",
    "FORMAT",
    "GROUPS",
    "LN10",
    "MAX_SEEDS",
    "SHIFTS",
    "VARIANTS",
    "ExperimentsInterrupted",
    "StallMonitor",
    "Variant",
    "is_stalled",
    "is_stuck",
    "run_experiments",
    "run_one",
    "select_variants",
    "shift_images",
    "shifted_accuracies",
    "stall_mechanism",
    "summarise",
    "variant_config",
]
