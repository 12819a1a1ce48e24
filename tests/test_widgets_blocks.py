"""The chapter 1 and 2 explorers: built, driven like a reader would, and showing messages, not tracebacks."""

import matplotlib
import matplotlib.pyplot as plt
import pytest

from nin_book.widgets.blocks import (
    nin_block_explorer,
    nin_block_explorer_figure,
    one_by_one_explorer,
    one_by_one_explorer_figure,
)

matplotlib.use("Agg")

PNG = b"\x89PNG"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_one_by_one_explorer_shows_numbers_and_a_figure():
    explorer = one_by_one_explorer()
    assert explorer.summary.parameters == 256 * 64 + 64
    assert "64×256×1×1" in explorer.table.value and "16,448" in explorer.table.value
    assert bytes(explorer.image.value).startswith(PNG)
    assert explorer.message.value == ""
    assert plt.get_fignums() == []  # the widget's figure is closed once rendered


def test_one_by_one_explorer_updates_when_a_control_changes():
    explorer = one_by_one_explorer()
    before = explorer.image.value
    explorer.controls["out_channels"].value = 32
    explorer.controls["height"].value = 14
    assert explorer.summary.output_shape == (32, 14, 28)
    assert "32×14×28" in explorer.table.value
    assert explorer.image.value != before


def test_one_by_one_explorer_impossible_setting_shows_a_message():
    explorer = one_by_one_explorer()
    explorer.controls["in_channels"].value = 0
    assert explorer.summary is None
    assert "Impossible setting" in explorer.message.value
    assert "input channels must be at least 1, got 0" in explorer.message.value
    assert explorer.table.value == "" and explorer.image.layout.display == "none"
    explorer.controls["in_channels"].value = 3  # and it recovers
    assert explorer.message.value == "" and explorer.image.layout.display is None
    assert explorer.summary.parameters == 3 * 64 + 64


def test_nin_block_explorer_defaults_to_block_one():
    explorer = nin_block_explorer()
    assert explorer.summary.output_shape == (96, 54, 54)
    assert "30,336" in explorer.table.value and "11×11" in explorer.table.value
    assert "dropped" in explorer.message.value  # the note about the leftover border row, not an error
    assert "Impossible" not in explorer.message.value


def test_nin_block_explorer_kernel_larger_than_input_shows_the_fix():
    explorer = nin_block_explorer()
    explorer.controls["input_size"].value = 8
    assert explorer.summary is None
    text = explorer.message.value
    assert "kernel 11 is larger than the padded input 8" in text
    assert "use a larger input, a smaller kernel or more padding" in text
    explorer.controls["padding"].value = 2  # 8 + 2·2 = 12 ≥ 11: possible again
    assert explorer.summary.output_shape == (96, 1, 1)
    assert "Impossible" not in explorer.message.value


def test_nin_block_explorer_escapes_and_reports_bad_channels():
    explorer = nin_block_explorer(in_channels=3)
    explorer.controls["out_channels"].value = -4
    assert "output channels must be at least 1, got -4" in explorer.message.value
    explorer.controls["out_channels"].value = 10**12  # typed by mistake: a message, not an overflow
    assert "output channels must be at most" in explorer.message.value


def test_static_figures_match_the_explorers_defaults():
    fig = one_by_one_explorer_figure()
    assert "256 → 64" in fig.axes[0].get_title()
    fig = nin_block_explorer_figure()
    assert "30,336 parameters" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="kernel 11 is larger"):
        nin_block_explorer_figure(input_size=5)
