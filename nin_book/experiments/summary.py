"""Reading chapter 7's results: the tables it prints and the comparisons it allows, from the JSON that
``python -m nin_book.experiments`` writes. Pure functions over that report; the figures are in
:mod:`nin_book.figures.experiments`.

The book makes one kind of claim only: a difference is *shown* when every seed of one variant beats every seed of
the other (their ranges do not overlap); otherwise the ranges overlap and no difference is claimed. If a change made
no difference at all, the rule would still separate n and m seeds by luck with probability 2 / C(n + m, n)
(:func:`separation_chance`: 1 in 10 for 3 seeds a side, 1 in 126 for 5), and a page that makes k comparisons
multiplies that risk by up to k (:func:`family_chance`). Tables and figures name variants by their labels
(:func:`nin_book.experiments.variants.variant_label`). Explained in chapter 7, "The paper's claims, measured".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nin_book.experiments.stall import SPREAD_TOL
from nin_book.experiments.variants import variant_label, variant_phrase
from nin_book.literature import NIN_PAPER_ABLATIONS, NIN_PAPER_RESULTS
from nin_book.stall_watch import STALL_SPREAD_TOL, STALL_WINDOW
from nin_book.tables import Table

__all__ = [
    "Comparison",
    "compare_values",
    "compare_variants",
    "family_chance",
    "first_dead_step",
    "input_blind_steps",
    "is_dead_at_the_end",
    "paper_results_table",
    "paper_table",
    "percent",
    "run_values",
    "separation_chance",
    "shift_drops",
    "shift_table",
    "stall_table",
    "variant_runs",
    "variant_table",
]


def variant_runs(report: Mapping[str, Any], variant: str) -> list[dict[str, Any]]:
    """The run records of ``variant``, in seed order; an unknown variant raises ``KeyError`` naming the known ones.

    Explained in chapter 7, "The paper's claims, measured".
    """
    if variant not in report["variants"]:
        raise KeyError(f"no variant {variant!r} in these results; they have {', '.join(report['variants'])}")
    return report["variants"][variant]["runs"]


def run_values(report: Mapping[str, Any], variant: str, key: str = "final_test_accuracy") -> list[float]:
    """``key`` of every run of ``variant``, in seed order (runs without a value are left out).

    Explained in chapter 7, "The paper's claims, measured".
    """
    return [float(r[key]) for r in variant_runs(report, variant) if r.get(key) is not None]


def percent(spread: Mapping[str, Any], digits: int = 1) -> str:
    """A summary spread (mean, std, min, max of fractions) as ``"92.1 ± 0.3"`` in percent: mean ± sample standard
    deviation across seeds. Explained in chapter 7, "The paper's claims, measured"."""
    if not spread.get("n"):
        return "–"
    return f"{100 * spread['mean']:.{digits}f} ± {100 * spread['std']:.{digits}f}"


def separation_chance(n: int, m: int) -> float:
    """The chance that the rule "every seed of one beats every seed of the other" separates n and m seeds although
    the change made no difference: all n + m values then come from one distribution, every order of them is
    equally likely (no ties), and 2 of the C(n + m, n) ways to split them put one side entirely above the other.
    It is the exact two-sided p-value of a Mann-Whitney U test at its extreme. Explained in chapter 7."""
    if n < 1 or m < 1:
        raise ValueError(f"both sides need at least one seed, got {n} and {m}")
    return min(1.0, 2 / math.comb(n + m, n))


def family_chance(comparisons: Sequence[Comparison]) -> float:
    """An upper bound on the chance that at least one of ``comparisons`` is separated by luck alone when no change
    made any difference: the sum of their :func:`separation_chance` (Bonferroni's bound; it holds whether or not the
    comparisons share variants). Explained in chapter 7, "The paper's claims, measured"."""
    return min(1.0, sum(c.chance for c in comparisons))


@dataclass(frozen=True)
class Comparison:
    """Two variants' values across seeds: the difference of the means, whether the seeds separate them, and how
    many seeds each side had. ``better`` and ``worse`` are variant names; the verdict uses their labels.

    Explained in chapter 7, "The paper's claims, measured".
    """

    better: str
    worse: str
    what: str
    difference: float
    separated: bool
    n_better: int = 0
    n_worse: int = 0

    @property
    def chance(self) -> float:
        """The chance of this rule separating the two sides by luck (:func:`separation_chance`)."""
        return separation_chance(self.n_better, self.n_worse)

    @property
    def verdict(self) -> str:
        """What the seeds allow one to say, in words, with the variants' readable names."""
        better, worse = variant_phrase(self.better), variant_phrase(self.worse)
        if self.separated:
            return (f"the {self.what} of {better} is higher than that of {worse} in every seed, by "
                    f"{self.difference * 100:.1f} points on average")
        if self.difference * 100 < 0.05:  # "0.0 points higher" would name a winner that is not there
            return (f"the {self.what} of {better} and of {worse} differ by less than 0.05 points on average, and the "
                    "seeds overlap: no difference is shown")
        return (f"the {self.what} of {better} is {self.difference * 100:.1f} points higher than that of {worse} on "
                "average, but the seeds overlap: no difference is shown")


def compare_values(a: str, values_a: Sequence[float], b: str, values_b: Sequence[float], what: str) -> Comparison:
    """Compare two named sets of per-seed values: ``separated`` only when the lowest value of the one with the
    higher mean is above the highest value of the other. Explained in chapter 7."""
    if not values_a or not values_b:
        raise ValueError(f"{a!r} or {b!r} has no {what} to compare")
    mean_a, mean_b = statistics.fmean(values_a), statistics.fmean(values_b)
    (better, high), (worse, low) = ((a, values_a), (b, values_b)) if mean_a >= mean_b else ((b, values_b), (a, values_a))
    return Comparison(better=better, worse=worse, what=what, difference=abs(mean_a - mean_b),
                      separated=min(high) > max(low), n_better=len(high), n_worse=len(low))


def compare_variants(report: Mapping[str, Any], a: str, b: str, key: str = "final_test_accuracy",
                     what: str = "test accuracy") -> Comparison:
    """Compare ``key`` (called ``what`` in words) of variants ``a`` and ``b`` across their seeds (see
    :func:`compare_values`).

    Explained in chapter 7, "The paper's claims, measured".
    """
    return compare_values(a, run_values(report, a, key), b, run_values(report, b, key), what)


def shift_drops(report: Mapping[str, Any], variant: str) -> list[float]:
    """Per seed, how much test accuracy ``variant`` loses from unshifted test images to the largest shift.

    Explained in chapter 7, "The paper's claims, measured".
    """
    shifts = report["settings"]["translation"]["shifts"]
    runs = variant_runs(report, variant)
    return [r["shifted_test_accuracy"][str(shifts[0])] - r["shifted_test_accuracy"][str(shifts[-1])] for r in runs]


def _number(value: float | None, spec: str) -> str:
    # A diverged run has no final loss or accuracy: say so rather than print "nan".
    return "–" if value is None or value != value else format(value, spec)


def variant_table(report: Mapping[str, Any], variants: Sequence[str]) -> Table:
    """One row per variant: parameters, test and train accuracy and their gap (percent, mean ± std across seeds,
    with the seeds' range), and the training time per run. Explained in chapter 7."""
    rows = []
    for name in variants:
        summary = report["variants"][name]["summary"]
        test = summary["final_test_accuracy"]
        rows.append([variant_label(name), f"{int(summary['parameters']['mean']):,}", percent(test),
                     f"{100 * test['min']:.1f}–{100 * test['max']:.1f}", percent(summary["final_train_accuracy"]),
                     percent(summary["generalisation_gap"]), f"{summary['train_seconds']['mean']:.0f}"])
    # The number of seeds is the same for every variant and stated once on the page, not in every row.
    return Table(["network", "parameters", "test accuracy %", "seed range", "train accuracy %", "gap (points)",
                  "train s/run"], rows, numeric=range(1, 7))


def paper_table(report: Mapping[str, Any]) -> Table:
    """The paper's head ablation on CIFAR-10 beside the same swap here on Fashion-MNIST, both as test error in
    percent (here mean ± std across seeds). Explained in chapter 7, "The paper's claims, measured"."""
    rows = []
    for ablation in NIN_PAPER_ABLATIONS:
        ours = "no counterpart here"
        if ablation.variant is not None and ablation.variant in report["variants"]:
            # Error is 1 − accuracy: its mean is 1 − the mean accuracy, its spread the same.
            accuracy = report["variants"][ablation.variant]["summary"]["final_test_accuracy"]
            ours = (f"{100 * (1 - accuracy['mean']):.2f} ± {100 * accuracy['std']:.2f} "
                    f"({variant_label(ablation.variant)}, {accuracy['n']} seeds)")
        rows.append([f"{ablation.body} + {ablation.head}", f"{ablation.test_error_percent:.2f}", ablation.where, ours])
    return Table(["network (body + head)", "CIFAR-10 error %, paper", "where in the paper",
                  "Fashion-MNIST error %, here"], rows, numeric=(1,))


def paper_results_table() -> Table:
    """The NiN paper's headline results: NiN's test error on each data set as its Tables 1-4 print it (published
    numbers, not measured here). Explained in chapter 7, "The paper's claims, measured"."""
    rows = [[r.dataset, "yes" if r.data_augmentation else "no", f"{r.test_error_percent:.2f}", r.where]
            for r in NIN_PAPER_RESULTS]
    return Table(["data set", "data augmentation", "NiN test error %", "where in the paper"], rows, numeric=(2,))


def shift_table(report: Mapping[str, Any], variants: Sequence[str]) -> Table:
    """Test accuracy (percent, mean ± std across seeds) on test images shifted by k pixels, one row per variant,
    and the drop from k = 0 to the largest k. Explained in chapter 7."""
    shifts = list(report["settings"]["translation"]["shifts"])
    rows = []
    for name in variants:
        per_k = report["variants"][name]["summary"]["shifted_test_accuracy"]
        drop = per_k[str(shifts[0])]["mean"] - per_k[str(shifts[-1])]["mean"]
        rows.append([variant_label(name), *(percent(per_k[str(k)]) for k in shifts), f"{100 * drop:.1f}"])
    return Table(["network", *(f"k = {k}" for k in shifts), f"drop 0→{shifts[-1]} (points)"], rows,
                 numeric=range(1, len(shifts) + 2))


def is_dead_at_the_end(run: Mapping[str, Any]) -> bool:
    """Whether a stall run's final network ignores its input: on the test images its logits are the same for every
    image, and no gradient reaches its first layer (see :func:`nin_book.experiments.stall_mechanism`). Unlike the
    detectors, which read the last epochs' training loss, this reads the final network itself.

    Explained in chapter 7, "The paper's claims, measured" (why training stalls at loss ln 10).
    """
    mechanism = run.get("mechanism") or {}
    return mechanism.get("logit_spread", 1.0) <= SPREAD_TOL and mechanism.get("first_layer_gradient_norm") == 0.0


def first_dead_step(run: Mapping[str, Any]) -> int | None:
    """The training step (counting from 1) from which no class-map value of a stall run is ever above zero again;
    ``None`` when the last step still has one alive. Explained in chapter 7 (why training stalls at loss ln 10)."""
    alive = run["step_alive_class_map_fraction"]
    last_alive = max((i for i, share in enumerate(alive) if share > 0), default=-1)
    return None if last_alive == len(alive) - 1 else last_alive + 2


def input_blind_steps(run: Mapping[str, Any], spread_tol: float = STALL_SPREAD_TOL) -> int:
    """The longest stretch of consecutive training steps of a stall run in which every logit varied across the
    batch by at most ``spread_tol``: the output ignored the input (the logit condition of the trainer's stall
    watch, :mod:`nin_book.stall_watch`). Explained in chapter 7 (why training stalls at loss ln 10)."""
    longest = current = 0
    for spread in run["step_logit_spreads"]:
        current = current + 1 if spread <= spread_tol else 0
        longest = max(longest, current)
    return longest


def _span(values: Sequence[float | None], spec: str, scale: float = 1.0) -> str:
    present = [v * scale for v in values if v is not None and v == v]
    if not present:
        return "–"
    low, high = format(min(present), spec), format(max(present), spec)
    return low if low == high else f"{low}–{high}"


def stall_table(report: Mapping[str, Any], variants: Sequence[str]) -> Table:
    """Per stall recipe, how many seeds: stalled (all logits exactly 0), stuck (loss at ln 10 and the output the same
    for every image), dead at the end (:func:`is_dead_at_the_end`), and with the output ignoring the input for at
    least the trainer's stall window (:func:`input_blind_steps`); then the range over seeds of the last epoch's
    training loss and of the test accuracy. Explained in chapter 7."""
    rows = []
    for name in variants:
        runs, summary = variant_runs(report, name), report["variants"][name]["summary"]
        n = len(runs)
        dead = sum(is_dead_at_the_end(r) for r in runs)
        blind = sum(input_blind_steps(r) >= STALL_WINDOW for r in runs)
        rows.append([variant_label(name), f"{summary['stalled']} of {n}", f"{summary['stuck']} of {n}",
                     f"{dead} of {n}", f"{blind} of {n}",
                     _span([r.get("final_train_loss") for r in runs], ".4f"),
                     _span([r.get("final_test_accuracy") for r in runs], ".1f", 100)])
    return Table(["recipe", "stalled", "stuck", "dead at the end", f"input ignored {STALL_WINDOW}+ steps",
                  "last-epoch loss", "test accuracy %"], rows)
