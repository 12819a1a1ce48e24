"""Accuracy, confusion matrix, confused pairs and mistakes against small cases worked out by hand."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from nin_book.data import CLASS_NAMES  # noqa: E402
from nin_book.evaluate import (  # noqa: E402
    accuracy,
    confusion_matrix,
    examples_per_class,
    misclassified_indices,
    most_confused_pairs,
    per_class_accuracy,
)
from nin_book.figures.eval import (  # noqa: E402
    PAGE_WIDTH,
    plot_confusion_matrix,
    plot_learning_curves,
    plot_run_comparison,
    show_image_grid,
)

LABELS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
PREDS = torch.tensor([0, 1, 0, 1, 0, 2, 1, 1, 2])


def test_accuracy_counts_matches():
    assert accuracy(PREDS, LABELS) == pytest.approx(5 / 9)


def test_accuracy_accepts_logits():
    logits = torch.nn.functional.one_hot(PREDS, 3).float() * 3 - 1
    assert accuracy(logits, LABELS) == pytest.approx(5 / 9)


def test_accuracy_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one prediction per label"):
        accuracy(PREDS[:-1], LABELS)


def test_confusion_matrix_by_hand():
    expected = torch.tensor([[2, 1, 0], [1, 1, 0], [0, 2, 2]])
    matrix = confusion_matrix(PREDS, LABELS, num_classes=3)
    assert torch.equal(matrix, expected)
    assert matrix.sum() == len(LABELS)
    assert torch.equal(matrix.sum(dim=1), torch.bincount(LABELS, minlength=3))


def test_confusion_matrix_rejects_out_of_range_classes():
    with pytest.raises(ValueError, match="0..2"):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), num_classes=3)


def test_per_class_accuracy_is_recall_and_nan_for_empty_class():
    matrix = confusion_matrix(PREDS, LABELS, num_classes=4)
    recall = per_class_accuracy(matrix)
    assert recall[:3].tolist() == pytest.approx([2 / 3, 1 / 2, 2 / 4])
    assert torch.isnan(recall[3])


def test_most_confused_pairs_order_and_shares():
    pairs = most_confused_pairs(confusion_matrix(PREDS, LABELS, num_classes=3), k=2)
    assert [(p.true, p.predicted, p.count) for p in pairs] == [(2, 1, 2), (0, 1, 1)]
    assert pairs[0].share_of_true == pytest.approx(0.5)
    # Only three off-diagonal cells are non-zero, so asking for more gives three.
    assert len(most_confused_pairs(confusion_matrix(PREDS, LABELS, num_classes=3), k=10)) == 3


def test_misclassified_indices_all_and_filtered():
    assert misclassified_indices(PREDS, LABELS).tolist() == [1, 4, 6, 7]
    assert misclassified_indices(PREDS, LABELS, limit=2).tolist() == [1, 4]
    top = most_confused_pairs(confusion_matrix(PREDS, LABELS, num_classes=3), k=1)
    assert misclassified_indices(PREDS, LABELS, pairs=top).tolist() == [6, 7]


def test_examples_per_class_takes_first_of_each():
    assert examples_per_class(LABELS, per_class=2, num_classes=3).tolist() == [0, 1, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="class 1 has only 2"):
        examples_per_class(LABELS, per_class=3, num_classes=3)


def test_figures_draw():
    images = torch.randint(0, 256, (9, 28, 28), dtype=torch.uint8)
    figures = [
        show_image_grid(images, LABELS, CLASS_NAMES, ncols=5),
        show_image_grid(images, LABELS, CLASS_NAMES, predictions=PREDS),
        plot_learning_curves([1.0, 0.5], [0.6, 0.8], [0.55, 0.75]),
        plot_confusion_matrix(confusion_matrix(PREDS, LABELS, num_classes=10), CLASS_NAMES),
    ]
    assert all(len(f.axes) >= 1 for f in figures)
    plt.close("all")
    with pytest.raises(ValueError, match="same lengths"):
        plot_learning_curves([1.0], [0.5, 0.6], [0.5])


def test_run_comparison_draws_each_run_per_epoch_and_per_minute():
    runs = {"a": [{"test_accuracy": 0.5, "wall_seconds": 60}, {"test_accuracy": 0.7, "wall_seconds": 120}],
            "b": [{"test_accuracy": 0.6, "wall_seconds": 600}]}
    fig = plot_run_comparison(runs)
    per_epoch, per_minute = fig.axes
    assert [line.get_label() for line in per_epoch.lines] == ["a", "b"]
    assert list(per_epoch.lines[0].get_xdata()) == [1, 2] and list(per_minute.lines[0].get_xdata()) == [1.0, 2.0]
    assert list(per_minute.lines[1].get_ydata()) == [0.6]
    plt.close("all")
    with pytest.raises(ValueError, match="at least one epoch"):
        plot_run_comparison({"a": []})


def test_accuracy_axes_span_the_accuracies_and_say_what_they_count():
    """A run from 0.73 to 0.94 fills its axis instead of a flat band at the top of 0-1 (chapter 5); the chance
    line is drawn only where it falls inside the axis, as it does for a stalled run."""
    fig = plot_learning_curves([0.9, 0.3], [0.73, 0.94], [0.74, 0.93])
    loss, acc = fig.axes
    low, high = acc.get_ylim()
    assert 0.6 < low < 0.73 and 0.94 < high <= 1.0
    assert "chance (10 classes)" not in acc.get_legend_handles_labels()[1]
    assert "nats" in loss.get_ylabel() and "share of images right" in acc.get_ylabel()
    stalled = plot_learning_curves([2.3026, 2.3026], [0.1, 0.1], [0.1, 0.1]).axes[1]
    assert stalled.get_ylim()[0] <= 0.1 and "chance (10 classes)" in stalled.get_legend_handles_labels()[1]
    runs = plot_run_comparison({"a": [{"test_accuracy": 0.8, "wall_seconds": 60},
                                      {"test_accuracy": 0.9, "wall_seconds": 120}]}).axes[0]
    assert runs.get_ylim()[0] > 0.7
    plt.close("all")


def test_image_grids_fit_the_page_width():
    images = torch.randint(0, 256, (20, 28, 28), dtype=torch.uint8)
    labels = [i % 10 for i in range(20)]
    for ncols in (5, 10, 20):
        fig = show_image_grid(images, labels, CLASS_NAMES, ncols=ncols)
        assert fig.get_figwidth() <= PAGE_WIDTH + 1e-9, ncols
    plt.close("all")
