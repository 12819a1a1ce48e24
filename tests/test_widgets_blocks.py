"""The chapter 1 and 2 explorers: anywidgets whose settings sync, whose module is self-contained, and whose
Python side says what the browser view must show (tests/test_browser.py checks the view against it)."""

import json

import pytest

from nin_book.widgets.base import Control, esm_bundle
from nin_book.widgets.blocks import NinBlockExplorer, OneByOneExplorer, nin_block_explorer, one_by_one_explorer


def test_one_by_one_explorer_settings_and_view_data():
    explorer = one_by_one_explorer()
    assert explorer.settings == {"in_channels": 256, "out_channels": 64, "height": 28, "width": 28}
    assert explorer.view_data() == {"parameters": "16448", "flops": str(2 * 256 * 64 * 28 * 28), "output-shape": "64×28×28",
                                    "weight-shape": "64×256×1×1"}
    explorer.out_channels, explorer.height = 32, 14
    assert explorer.compute().output_shape == (32, 14, 28)


def test_impossible_setting_is_a_message_not_an_exception():
    explorer = one_by_one_explorer()
    explorer.in_channels = 0
    assert explorer.view_data() == {"error": "input channels must be at least 1, got 0: a 1×1 convolution mixes the channels "
                                             "of its input, so it needs one or more"}
    block = nin_block_explorer(input_size=8)
    assert "kernel 11 is larger than the padded input 8" in block.view_data()["error"]
    block.padding = 2  # 8 + 2·2 = 12 ≥ 11: possible again
    assert block.view_data()["output-shape"] == "96×1×1"


def test_nin_block_explorer_defaults_to_block_one():
    data = nin_block_explorer().view_data()
    assert data["output-shape"] == "96×54×54" and data["parameters"] == "30336" and data["receptive-field"] == "11"
    assert data["notes"] == "1"  # the leftover border row: a note, not an error


def test_controls_are_synced_and_carry_each_trait():
    explorer = NinBlockExplorer()
    state = explorer.get_state()
    traits = [c["trait"] for c in state["_controls"]]
    assert traits == list(explorer.settings) and all(t in state for t in traits)
    json.dumps(state["_controls"])  # plain data, as the browser receives it
    assert {c["kind"] for c in state["_controls"]} <= {"range", "number", "checkbox"}
    assert Control("x", "x").kind == "range"


@pytest.mark.parametrize("cls", [OneByOneExplorer, NinBlockExplorer])
def test_module_is_one_self_contained_file(cls):
    esm = cls().get_state()["_esm"]
    assert esm == esm_bundle({OneByOneExplorer: "one_by_one.mjs", NinBlockExplorer: "nin_block.mjs"}[cls])
    assert 'from "./' not in esm and "export default explorerModule(" in esm
    assert "export function oneByOneSummary" in esm  # the math travels with the view
