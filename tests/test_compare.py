"""Comparing NiN, VGG-11 and AlexNet (chapter 4)."""

import pytest
from torch import nn

from nin_book.compare import (
    MODEL_NAMES,
    ModelStats,
    Table,
    activation_elements,
    build_model,
    compare_models,
    comparison_table,
    first_linear,
    format_count,
    layer_share,
    nin_with_fc_head,
    parameter_breakdown,
)
from nin_book.counting import count_flops, count_parameters
from nin_book.models import nin


def test_compare_models_matches_the_counting_module_on_real_models():
    stats = {s.name: s for s in compare_models()}
    assert list(stats) == list(MODEL_NAMES)
    real = nin()
    assert stats["NiN"].parameters == count_parameters(real) == 1_992_166
    assert stats["NiN"].flops == count_flops(real, (1, 224, 224))
    # VGG-11 for 10 classes, by hand: the convolutions, then 25088·4096 + 4096·4096 + 4096·10 weights plus biases.
    convs = sum(9 * a * b + b for a, b in [(1, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512),
                                           (512, 512)])
    assert stats["VGG-11"].parameters == convs + 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 10 + 10
    assert stats["NiN"].parameters < stats["AlexNet"].parameters < stats["VGG-11"].parameters


def test_model_stats_derived_quantities():
    s = ModelStats("x", 1.0, parameters=1_000_000, flops=3_000_000_000, activations=2_500_000)
    assert s.size_mb == 4.0 and s.flops_per_parameter == 3000 and s.activation_mb == 10.0


def test_activation_elements_counts_new_tensors_only():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * 4 * 4, 5))
    # conv 2×8×8 = 128, pool 2×4×4 = 32, linear 5; ReLU (in place) and flatten (a view) add nothing.
    assert activation_elements(model, (1, 10, 10)) == 128 + 32 + 5


def test_width_multiplier_scales_parameters_roughly_quadratically():
    half = {s.name: s for s in compare_models(width_multiplier=0.5)}
    full = {s.name: s for s in compare_models()}
    for name in MODEL_NAMES:
        ratio = half[name].parameters / full[name].parameters
        assert 0.2 < ratio < 0.3, (name, ratio)
    assert build_model("NiN", 0.5)[0].conv.out_channels == 48


@pytest.mark.parametrize(("names", "mult", "message"), [([], 1.0, "choose at least one model"),
                                                          (["ResNet"], 1.0, "unknown model 'ResNet'"),
                                                          (["NiN"], 0, "width_multiplier must be a positive number")])
def test_compare_models_rejects_bad_requests(names, mult, message):
    with pytest.raises(ValueError, match=message):
        compare_models(names, mult)


def test_vgg_first_fully_connected_layer_holds_most_parameters():
    vgg = build_model("VGG-11")
    name, layer = first_linear(vgg)
    assert name == "fc1" and layer.in_features == 512 * 7 * 7
    assert layer_share(vgg, "fc1") == pytest.approx((25088 * 4096 + 4096) / 128_806_154)
    with pytest.raises(ValueError, match="no fully connected"):
        first_linear(build_model("NiN"))
    with pytest.raises(ValueError, match="no layer called 'fc9'"):
        layer_share(vgg, "fc9")


def test_nin_with_fc_head_replaces_block4_and_gap():
    model = nin_with_fc_head()
    names = [n for n, _ in model.named_children()]
    assert "gap" not in names and "block4" not in names and names[-1] == "fc3"
    assert model.fc1.in_features == 384 * 5 * 5
    features = count_parameters(nin()) - count_parameters(nin().block4)
    head = (9600 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 10 + 10)
    assert count_parameters(model) == features + head
    # The head is sized for its input: 227×227 leaves 6×6 maps.
    assert nin_with_fc_head(hidden=(), input_shape=(1, 227, 227)).fc1.in_features == 384 * 6 * 6
    with pytest.raises(ValueError, match="positive"):
        nin_with_fc_head(hidden=(0,))


def test_tables_show_exact_counts():
    table = comparison_table(compare_models(["NiN"]))
    assert table.column("parameters") == ["1,992,166"]
    assert "1,992,166" in str(table) and "<table" in table._repr_html_()
    breakdown = parameter_breakdown(build_model("VGG-11"))
    assert breakdown.column("layer")[-1] == "total" and breakdown.column("parameters")[-1] == "128,806,154"
    assert "fc1" in breakdown.column("layer") and "pool1" not in breakdown.column("layer")
    assert "gap" in parameter_breakdown(build_model("NiN"), include_empty=True).column("layer")
    with pytest.raises(ValueError, match="every row needs 2 cells"):
        Table(["a", "b"], [["1"]])


def test_format_count():
    assert format_count(1_992_166) == "1.99 M"
    assert format_count(15_094_464_512) == "15.1 G"
    assert format_count(742) == "742"
