"""Design your NiN: the pure function and its explorer."""

import pytest

from nin_book.design import design_nin, funnel_values
from nin_book.widgets.design import DesignExplorer


def test_defaults_are_the_book_nin_next_to_vgg_and_alexnet():
    d = design_nin()
    assert d.ok and d.parameters == 1_992_166 and d.result.trace[-1].output_shape == (10,)
    assert d.reference("VGG-11").parameters == 128_806_154 and d.reference("AlexNet").flops is not None
    assert d.parameter_ratio("VGG-11") == pytest.approx(128_806_154 / 1_992_166)
    assert d.flop_ratio("AlexNet") == d.reference("AlexNet").flops / d.flops


def test_an_impossible_design_names_the_failing_layer():
    d = design_nin(input_size=40)
    assert not d.ok and d.failing_layer == "pool3" and d.flops is None
    assert d.reference("VGG-11").result.error is not None and d.flop_ratio("VGG-11") is None
    with pytest.raises(ValueError, match="block 2 width must be at least 1"):
        design_nin(width2=0)


def test_funnel_is_input_then_every_new_3d_shape():
    names = [name for name, _, _ in funnel_values(design_nin().result)]
    assert names == ["input", "block1", "pool1", "block2", "pool2", "block3", "pool3", "block4", "gap"]
    assert funnel_values(design_nin().result)[1][2] == 96 * 54 * 54


def test_explorer_view_data():
    explorer = DesignExplorer()
    data = explorer.view_data()
    assert data["parameters"] == "1992166" and data["output-shape"] == "10" and data["failing-layer"] == ""
    assert data["vgg-11-failing-layer"] == "" and data["alexnet-parameters"] == "46764746"
    explorer.input_size = 100
    data = explorer.view_data()
    assert data["vgg-11-failing-layer"] == "fc1" and data["vgg-11-flops"] == "" and data["failing-layer"] == ""
