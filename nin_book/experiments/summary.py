"""Reading chapter 7's results: the tables it prints and the comparisons it allows, from the JSON that
``python -m nin_book.experiments`` writes. Pure functions over that report; the figures are in
:mod:`nin_book.figures.experiments`.

With three seeds per variant the book makes one kind of claim only: a difference is *shown* when every seed of
one variant beats every seed of the other (their ranges do not overlap); otherwise the ranges overlap and no
difference is claimed. Explained in chapter 7, "The paper's claims, measured".
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nin_book.experiments.stall import SPREAD_TOL
from nin_book.literature import NIN_PAPER_ABLATIONS
from nin_book.tables import Table

__all__ = [
    "Comparison",
    "compare_values",
    "compare_variants",
    "first_dead_step",
    "is_dead_at_the_end",
    "paper_table",
    "percent",
    "run_values",
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


@dataclass(frozen=True)
class Comparison:
    """Two variants' values across seeds: the difference of the means, and whether the seeds separate them.

    Explained in chapter 7, "The paper's claims, measured".
    """

    better: str
    worse: str
    what: str
    difference: float
    separated: bool

    @property
    def verdict(self) -> str:
        """What the seeds allow one to say, in words."""
        if self.separated:
            return (f"{self.better}'s {self.what} is higher than {self.worse}'s in every seed, by "
                    f"{self.difference * 100:.1f} points on average (the seeds' ranges do not overlap)")
        return (f"{self.better}'s {self.what} is {self.difference * 100:.1f} points higher than {self.worse}'s on "
                "average, but the seeds' ranges overlap: no difference is shown")


def compare_values(a: str, values_a: Sequence[float], b: str, values_b: Sequence[float], what: str) -> Comparison:
    """Compare two named sets of per-seed values: ``separated`` only when the lowest value of the one with the
    higher mean is above the highest value of the other. Explained in chapter 7."""
    if not values_a or not values_b:
        raise ValueError(f"{a!r} or {b!r} has no {what} to compare")
    mean_a, mean_b = statistics.fmean(values_a), statistics.fmean(values_b)
    (better, high), (worse, low) = ((a, values_a), (b, values_b)) if mean_a >= mean_b else ((b, values_b), (a, values_a))
    return Comparison(better=better, worse=worse, what=what, difference=abs(mean_a - mean_b),
                      separated=min(high) > max(low))


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
        rows.append([name, f"{int(summary['parameters']['mean']):,}", percent(test),
                     f"{100 * test['min']:.1f}–{100 * test['max']:.1f}", percent(summary["final_train_accuracy"]),
                     percent(summary["generalisation_gap"]), f"{summary['train_seconds']['mean']:.0f}"])
    # The number of seeds is the same for every variant and stated once on the page, not in every row.
    return Table(["variant", "parameters", "test accuracy %", "seed range", "train accuracy %", "gap (points)",
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
                    f"({ablation.variant}, {accuracy['n']} seeds)")
        rows.append([f"{ablation.body} + {ablation.head}", f"{ablation.test_error_percent:.2f}", ablation.where, ours])
    return Table(["network (body + head)", "CIFAR-10 error %, paper", "where in the paper",
                  "Fashion-MNIST error %, here"], rows, numeric=(1,))


def shift_table(report: Mapping[str, Any], variants: Sequence[str]) -> Table:
    """Test accuracy (percent, mean ± std across seeds) on test images shifted by k pixels, one row per variant,
    and the drop from k = 0 to the largest k. Explained in chapter 7."""
    shifts = list(report["settings"]["translation"]["shifts"])
    rows = []
    for name in variants:
        per_k = report["variants"][name]["summary"]["shifted_test_accuracy"]
        drop = per_k[str(shifts[0])]["mean"] - per_k[str(shifts[-1])]["mean"]
        rows.append([name, *(percent(per_k[str(k)]) for k in shifts), f"{100 * drop:.1f}"])
    return Table(["variant", *(f"k = {k}" for k in shifts), f"drop 0→{shifts[-1]} (points)"], rows,
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


def stall_table(report: Mapping[str, Any], variants: Sequence[str]) -> Table:
    """Per stall recipe: how many seeds the detector calls stalled (all logits exactly 0), stuck (loss at ln 10 and
    the output the same for every image) and dead at the end (:func:`is_dead_at_the_end`), with each seed's
    last-epoch training loss and test accuracy. Explained in chapter 7."""
    rows = []
    for name in variants:
        runs, summary = variant_runs(report, name), report["variants"][name]["summary"]
        dead = sum(is_dead_at_the_end(r) for r in runs)
        rows.append([name, f"{summary['stalled']} of {len(runs)}", f"{summary['stuck']} of {len(runs)}",
                     f"{dead} of {len(runs)}", ", ".join(_number(r.get("final_train_loss"), ".4f") for r in runs),
                     ", ".join(_number(r.get("final_test_accuracy"), ".3f") for r in runs)])
    return Table(["recipe", "stalled", "stuck", "dead at the end", "last-epoch loss per seed",
                  "test accuracy per seed"], rows)
