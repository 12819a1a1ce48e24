"""The chapter-4 comparison explorer and its bar chart."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from nin_book.compare import compare_models  # noqa: E402
from nin_book.widgets.compare import compare_explorer, plot_comparison  # noqa: E402


def test_plot_comparison_draws_one_log_bar_per_model_and_panel():
    fig = plot_comparison(compare_models(["NiN", "VGG-11"]))
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert ax.get_yscale() == "log" and len(ax.patches) == 2
    assert fig.axes[0].patches[0].get_height() == 1_992_166
    plt.close(fig)
    with pytest.raises(ValueError, match="choose at least one model"):
        plot_comparison([])


def test_explorer_table_follows_the_controls():
    explorer = compare_explorer()
    *boxes, width = explorer.children[0].children
    table = explorer.children[1]
    assert "1,992,166" in table.value and "128,806,154" in table.value
    width.value = 0.5
    assert "×0.5" in table.value and "1,992,166" not in table.value
    for box in boxes:
        box.value = False
    assert "choose at least one model" in table.value
    boxes[0].value = True
    assert "NiN" in table.value and "VGG-11" not in table.value
    plt.close("all")
