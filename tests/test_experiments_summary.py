"""Chapter 7's reading of the experiment results (nin_book.experiments.summary, nin_book.figures.experiments)
on small hand-made reports, so that every verdict and table cell can be checked by hand."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from nin_book.experiments.run import summarise
from nin_book.experiments.summary import (
    compare_values,
    compare_variants,
    family_chance,
    first_dead_step,
    input_blind_steps,
    is_dead_at_the_end,
    paper_results_table,
    paper_table,
    percent,
    run_values,
    separation_chance,
    shift_drops,
    shift_table,
    stall_table,
    variant_table,
)
from nin_book.figures.experiments import plot_shifted_accuracy, plot_stall_runs, plot_variant_accuracies
from nin_book.literature import NIN_PAPER_ABLATIONS


def _run(seed: int, test: float, train: float, params: int = 1000, shifted: tuple[float, ...] | None = None,
         **extra) -> dict:
    run = {"seed": seed, "final_test_accuracy": test, "final_train_accuracy": train, "generalisation_gap": train - test,
           "parameters": params, "train_seconds": 10.0, "wall_seconds": 12.0, **extra}
    if shifted is not None:
        run["shifted_test_accuracy"] = {str(k): v for k, v in enumerate(shifted)}
    return run


def _stall_run(seed: int, stalled: bool, dead: bool | None = None) -> dict:
    loss = math.log(10) if stalled else 0.5
    dead = stalled if dead is None else dead
    mechanism = {"logit_spread": 0.0 if dead else 3.0, "first_layer_gradient_norm": 0.0 if dead else 0.2}
    spreads = [1.0] + [0.0 if stalled else 0.5] * 59 + [1e-4 if dead else 2.0] * 60
    return _run(seed, 0.1 if stalled else 0.8, 0.1 if stalled else 0.8, stalled=stalled, stuck=stalled,
                final_train_loss=loss, epoch_losses=[2.0, loss, loss], step_alive_class_map_fraction=[0.5] + [0.0] * 119,
                step_logit_spreads=spreads, mechanism=mechanism)


def _report() -> dict:
    variants = {
        "baseline": [_run(0, 0.90, 0.92, shifted=(0.90, 0.88, 0.85, 0.83, 0.80)),
                     _run(1, 0.91, 0.93, shifted=(0.91, 0.89, 0.86, 0.84, 0.81)),
                     _run(2, 0.92, 0.94, shifted=(0.92, 0.90, 0.87, 0.85, 0.82))],
        "head_fc": [_run(0, 0.85, 0.95, params=5910, shifted=(0.85, 0.80, 0.70, 0.65, 0.60)),
                    _run(1, 0.86, 0.96, params=5910, shifted=(0.86, 0.81, 0.71, 0.66, 0.61)),
                    _run(2, 0.87, 0.97, params=5910, shifted=(0.87, 0.82, 0.72, 0.67, 0.62))],
        "head_fc_dropout": [_run(0, 0.86, 0.90, params=5910), _run(1, 0.89, 0.91, params=5910),
                            _run(2, 0.905, 0.92, params=5910)],
        "stall_recipe": [_stall_run(0, True), _stall_run(1, True), _stall_run(2, False, dead=True)],
    }
    return {"settings": {"translation": {"shifts": [0, 1, 2, 3, 4]}},
            "variants": {name: {"runs": runs, "summary": summarise(runs)} for name, runs in variants.items()}}


def test_a_difference_is_claimed_only_when_the_seeds_separate():
    report = _report()
    separated = compare_variants(report, "head_fc", "baseline")
    assert separated.better == "baseline" and separated.separated
    assert separated.difference == pytest.approx(0.05)
    assert separated.verdict == ("the test accuracy of NiN (GAP head) is higher than that of the fully connected head "
                                 "in every seed, by 5.0 points on average")
    overlapping = compare_variants(report, "baseline", "head_fc_dropout")
    assert overlapping.better == "baseline" and not overlapping.separated
    assert overlapping.verdict.endswith("on average, but the seeds overlap: no difference is shown")
    assert "baseline" not in overlapping.verdict and "head_fc" not in overlapping.verdict  # names, not identifiers
    # Touching ranges are not separated: the lowest of one must be strictly above the highest of the other.
    assert not compare_values("a", [0.5, 0.6], "b", [0.4, 0.5], "x").separated
    tie = compare_values("mlp0", [0.5, 0.6], "mlp1", [0.6, 0.5001], "test accuracy")
    assert tie.verdict == ("the test accuracy of the network with one 1×1 convolution per block and of the network "
                           "without 1×1 convolutions differ by less than 0.05 points on average, and the seeds "
                           "overlap: no difference is shown")
    with pytest.raises(ValueError, match="no x"):
        compare_values("a", [], "b", [0.1], "x")


def test_the_rules_chance_rate_and_the_bound_over_many_comparisons():
    # 3 against 3: 2 of the C(6, 3) = 20 orders separate; 5 against 5: 2 of 252.
    assert separation_chance(3, 3) == pytest.approx(1 / 10)
    assert separation_chance(5, 5) == pytest.approx(1 / 126)
    assert separation_chance(1, 1) == 1.0  # one seed a side: the rule always "separates"
    with pytest.raises(ValueError, match="at least one seed"):
        separation_chance(0, 3)
    comparison = compare_values("a", [0.9] * 5, "b", [0.8] * 5, "x")
    assert comparison.n_better == comparison.n_worse == 5 and comparison.chance == pytest.approx(1 / 126)
    assert family_chance([comparison] * 11) == pytest.approx(11 / 126)
    assert family_chance([compare_values("a", [1.0], "b", [0.0], "x")] * 3) == 1.0


def test_the_rules_chance_rate_is_what_shuffled_seeds_give():
    """Simulate the null: ten values in random order, split 5 and 5; the rule separates about 1 time in 126."""
    import random

    rng = random.Random(0)
    trials, hits = 50_000, 0
    for _ in range(trials):
        values = [rng.random() for _ in range(10)]
        hits += compare_values("a", values[:5], "b", values[5:], "x").separated
    assert hits / trials == pytest.approx(separation_chance(5, 5), rel=0.15)


def test_gap_and_shift_comparisons_read_the_right_fields():
    report = _report()
    gap = compare_variants(report, "baseline", "head_fc", key="generalisation_gap", what="generalisation gap")
    assert gap.better == "head_fc" and gap.separated and gap.difference == pytest.approx(0.08)
    assert shift_drops(report, "baseline") == pytest.approx([0.10, 0.10, 0.10])
    assert shift_drops(report, "head_fc") == pytest.approx([0.25, 0.25, 0.25])
    with pytest.raises(KeyError, match="no variant 'nope'"):
        run_values(report, "nope")


def test_tables_show_mean_std_and_ranges_in_percent():
    report = _report()
    assert percent({"n": 3, "mean": 0.91, "std": 0.01}) == "91.0 ± 1.0"
    assert percent({"n": 0}) == "–"
    table = variant_table(report, ["baseline", "head_fc"])
    assert table.column("network") == ["NiN (GAP head)", "fully connected head"]
    assert table.column("test accuracy %") == ["91.0 ± 1.0", "86.0 ± 1.0"]
    assert table.column("seed range") == ["90.0–92.0", "85.0–87.0"]
    assert table.column("parameters") == ["1,000", "5,910"]
    assert table.column("gap (points)") == ["2.0 ± 0.0", "10.0 ± 0.0"]
    shifts = shift_table(report, ["baseline", "head_fc"])
    assert shifts.column("k = 4") == ["81.0 ± 1.0", "61.0 ± 1.0"]
    assert shifts.column("drop 0→4 (points)") == ["10.0", "25.0"]
    stall = stall_table(report, ["stall_recipe"])
    assert stall.column("recipe") == ["the stall recipe"]
    assert stall.column("stalled") == ["2 of 3"] and stall.column("stuck") == ["2 of 3"]
    # Dead at the end reads the final network, not the loss: seed 2 ignores its input although its loss is 0.5.
    assert stall.column("dead at the end") == ["3 of 3"]
    assert stall.column("input ignored 50+ steps") == ["3 of 3"]
    assert stall.column("last-epoch loss") == ["0.5000–2.3026"]
    assert stall.column("test accuracy %") == ["10.0–80.0"]


def test_input_blind_steps_counts_the_longest_stretch_of_equal_logits():
    assert input_blind_steps({"step_logit_spreads": [1.0, 0.0, 0.0, 5e-4, 0.2, 0.0, 0.0]}) == 3
    assert input_blind_steps({"step_logit_spreads": [1.0, 0.5]}) == 0
    assert input_blind_steps(_stall_run(0, True)) == 119 and input_blind_steps(_stall_run(0, False)) == 0


def test_paper_table_puts_each_paper_row_beside_its_variant_as_error():
    table = paper_table(_report())
    assert len(table.rows) == len(NIN_PAPER_ABLATIONS)
    here = dict(zip(table.column("network (body + head)"), table.column("Fashion-MNIST error %, here"), strict=True))
    assert here["mlpconv + global average pooling"] == "9.00 ± 1.00 (NiN (GAP head), 3 seeds)"
    assert here["mlpconv + fully connected"] == "14.00 ± 1.00 (fully connected head, 3 seeds)"
    assert here["conventional CNN + fully connected"] == "no counterpart here"
    assert table.column("CIFAR-10 error %, paper")[0] == f"{NIN_PAPER_ABLATIONS[0].test_error_percent:.2f}"


def test_paper_results_table_lists_every_headline_result_as_published():
    from nin_book.literature import NIN_PAPER_RESULTS

    table = paper_results_table()
    assert table.column("data set") == [r.dataset for r in NIN_PAPER_RESULTS]
    assert table.column("NiN test error %")[0] == "10.41" and table.column("data augmentation")[1] == "yes"


def test_figures_draw_every_seed_and_refuse_unknown_variants():
    report = _report()
    fig = plot_variant_accuracies(report, ["baseline", "head_fc"])
    ax = fig.axes[0]
    seed_dots = [line for line in ax.lines if line.get_linestyle() == "None" and len(line.get_xdata()) == 3]
    assert len(seed_dots) == 4  # test and train, for each of two variants
    plt.close(fig)
    fig = plot_shifted_accuracy(report, ["baseline", "head_fc"])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["NiN (GAP head)", "fully connected head"]
    plt.close(fig)
    fig = plot_stall_runs(report, ["stall_recipe"])
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 3 + 1  # three seeds and the ln 10 line
    assert fig.axes[0].get_title() == "the stall recipe"
    assert list(fig.axes[0].lines[0].get_xdata()) == [40, 80, 120]  # epoch means at each epoch's last step
    plt.close(fig)
    fig = plot_stall_runs(report, ["stall_recipe"] * 4, series="alive")
    assert sum(ax.get_visible() for ax in fig.axes) == 4 and len(fig.axes) == 6  # two rows of three
    assert len(fig.axes[0].lines) == 3 and fig.axes[0].get_ylabel().startswith("share of class-map")
    plt.close(fig)
    with pytest.raises(ValueError, match="series"):
        plot_stall_runs(report, ["stall_recipe"], series="nope")
    with pytest.raises(KeyError, match="no variant"):
        plot_variant_accuracies(report, ["nope"])


def test_dead_at_the_end_needs_both_an_input_blind_output_and_no_gradient():
    assert is_dead_at_the_end({"mechanism": {"logit_spread": 0.0, "first_layer_gradient_norm": 0.0}})
    assert not is_dead_at_the_end({"mechanism": {"logit_spread": 0.0, "first_layer_gradient_norm": 1e-3}})
    assert not is_dead_at_the_end({"mechanism": {"logit_spread": 0.5, "first_layer_gradient_norm": 0.0}})
    assert not is_dead_at_the_end({"mechanism": None})  # a diverged run has no final network to read


def test_first_dead_step_is_where_the_class_maps_die_for_good():
    assert first_dead_step({"step_alive_class_map_fraction": [0.5, 0.0, 0.2, 0.0, 0.0]}) == 4
    assert first_dead_step({"step_alive_class_map_fraction": [0.0, 0.0]}) == 1
    assert first_dead_step({"step_alive_class_map_fraction": [0.0, 0.3]}) is None  # alive at the end
