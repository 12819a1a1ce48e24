"""The chapter-3 trace explorer and the funnel figure."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from nin_book.design import failing_layer  # noqa: E402
from nin_book.figures.tracing import funnel_stages, plot_funnel  # noqa: E402
from nin_book.shapes import trace_nin  # noqa: E402
from nin_book.widgets.tracing import trace_explorer  # noqa: E402


def test_view_data_says_ok_or_names_the_failing_layer():
    explorer = trace_explorer()
    data = explorer.view_data()
    assert data["output-shape"] == "10" and data["failing-layer"] == "" and "runs through every layer" in data["message"]
    explorer.input_size = 28
    data = explorer.view_data()
    assert data["failing-layer"] == "pool2" and "256×2×2" in data["message"] and data["rows"] == "3"
    explorer.input_size, explorer.stride = 227, 2
    assert "NiN block 11×11/2" in str(explorer.compute().trace[0].layer)


def test_failing_layer_of_an_impossible_first_window():
    assert failing_layer(trace_nin(5)) == "block1.conv"
    assert failing_layer(trace_nin(224)) is None
    assert failing_layer(trace_nin(0)) is None  # a setting error, not a layer


def test_funnel_stages_skip_dropout_and_flatten():
    stages = funnel_stages(trace_nin(224).trace)
    assert [name for name, _ in stages] == ["input", "block1", "pool1", "block2", "pool2", "block3", "pool3", "block4", "gap"]
    assert stages[-1][1] == (10, 1, 1)
    fig = plot_funnel(trace_nin(224).trace)
    assert fig.axes[1].get_yscale() == "log"
    plt.close(fig)
