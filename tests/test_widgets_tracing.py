"""The chapter-3 trace explorer and its static figure."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from nin_book.figures_tracing import funnel_stages  # noqa: E402
from nin_book.shapes import trace_nin  # noqa: E402
from nin_book.widgets.tracing import plot_trace_setting, trace_explorer, trace_report_html  # noqa: E402


def controls(explorer):
    left, right = explorer.children[0].children
    return {c.description: c for c in (*left.children, *right.children)}


def test_report_html_says_ok_or_names_the_failing_layer():
    ok = trace_report_html(trace_nin(224))
    assert "✓" in ok and "10×1×1" in ok
    bad = trace_report_html(trace_nin(28))
    assert "stops here" in bad and "pool2" in bad and "256×2×2" in bad


def test_explorer_updates_when_the_size_changes_and_shows_the_error_inside():
    explorer = trace_explorer()
    view = explorer.children[1]
    assert "96×54×54" in view.value
    controls(explorer)["input size"].value = 28
    assert "stops here" in view.value and "pool2" in view.value
    controls(explorer)["input size"].value = 227
    assert "96×55×55" in view.value and "✓" in view.value


def test_explorer_first_block_controls_change_the_network():
    explorer = trace_explorer()
    controls(explorer)["block1 stride"].value = 2
    assert "NiN block 11×11/2" in explorer.children[1].value


def test_funnel_stages_skip_dropout_and_flatten():
    stages = funnel_stages(trace_nin(224).trace)
    assert [name for name, _ in stages] == ["input", "block1", "pool1", "block2", "pool2", "block3", "pool3", "block4", "gap"]
    assert stages[-1][1] == (10, 1, 1)


def test_static_figure_of_a_setting():
    fig = plot_trace_setting(28)
    assert "stops after block2" in fig.axes[0].get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="block1.conv"):
        plot_trace_setting(5)
