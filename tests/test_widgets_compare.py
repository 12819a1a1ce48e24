"""The chapter-4 comparison explorer and its bar chart."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from nin_book.compare import compare_models  # noqa: E402
from nin_book.figures.compare import plot_comparison  # noqa: E402
from nin_book.widgets.compare import compare_explorer  # noqa: E402


def test_plot_comparison_draws_linear_bars_with_the_ratio_written():
    fig = plot_comparison(compare_models(["NiN", "VGG-11"]))
    assert len(fig.axes) == 3
    for ax in fig.axes:
        # Linear, from zero: bar heights compare truthfully (a log axis shows 65x as about 4x).
        assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0 and len(ax.patches) == 2
    # Each axis names its unit and shows plain numbers in it: millions of parameters, GFLOPs, MB (as the table).
    assert [ax.get_ylabel() for ax in fig.axes] == ["parameters (millions)", "GFLOPs per image", "MB per image (fp32)"]
    fig.canvas.draw()
    assert all(ax.yaxis.get_offset_text().get_text() == "" for ax in fig.axes), "an offset exponent such as 1e8"
    _, vgg = compare_models(["NiN", "VGG-11"])
    assert fig.axes[0].patches[0].get_height() == pytest.approx(1_992_166 / 1e6)
    assert fig.axes[2].patches[1].get_height() == pytest.approx(vgg.activation_mb)
    # VGG-11's parameter bar says how many times NiN's it is: 128,806,154 / 1,992,166 = 64.7.
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert any("64.7× NiN" in text for text in labels), labels
    plt.close(fig)
    with pytest.raises(ValueError, match="choose at least one model"):
        plot_comparison([])


def test_explorer_view_data_follows_the_settings():
    explorer = compare_explorer()
    data = explorer.view_data()
    assert data["nin-parameters"] == "1992166" and data["vgg-11-parameters"] == "128806154"
    explorer.width_multiplier = 0.5
    assert explorer.view_data()["nin-parameters"] != "1992166"
    explorer.show_nin = explorer.show_vgg11 = explorer.show_alexnet = False
    assert "choose at least one model" in explorer.view_data()["error"]
    explorer.show_nin = True
    assert set(explorer.view_data()) == {"nin-parameters", "nin-flops", "nin-activations"}
