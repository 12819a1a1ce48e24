"""The output-size rule and the layer-by-layer trace."""

import pytest
import torch
from torch import nn

from nin_book.models import nin
from nin_book.shapes import ShapeError, conv_output_size, trace


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "expected"),
    [(224, 11, 4, 0, 54), (54, 3, 2, 0, 26), (26, 5, 1, 2, 26), (26, 3, 2, 0, 12), (12, 3, 2, 0, 5),
     (5, 3, 1, 1, 5), (28, 11, 4, 0, 5), (7, 7, 1, 0, 1), (224, 11, 4, 1, 54), (227, 11, 4, 0, 55)],
)
def test_conv_output_size_values(size, kernel, stride, padding, expected):
    assert conv_output_size(size, kernel, stride, padding) == expected
    # Cross-check against PyTorch itself.
    out = nn.Conv2d(1, 1, kernel, stride, padding)(torch.zeros(1, 1, size, size))
    assert out.shape[-1] == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [((2, 3, 2, 0), "kernel 3 is larger than the padded input 2"), ((0, 3), "input size must be positive"),
     ((10, 0), "kernel must be positive"), ((10, 3, 0), "stride must be positive"),
     ((10, 3, 1, -1), "padding must be zero or more"), ((10.5, 3), "input size must be an integer")],
)
def test_conv_output_size_errors_say_what_is_wrong(args, message):
    with pytest.raises(ValueError, match=message):
        conv_output_size(*args)


def test_trace_224_down_to_ten():
    rows = trace(nin(), (1, 224, 224), depth=1)
    shapes = [r.output_shape for r in rows if r.name not in ("dropout",)]
    assert shapes == [(96, 54, 54), (96, 26, 26), (256, 26, 26), (256, 12, 12), (384, 12, 12),
                      (384, 5, 5), (10, 5, 5), (10, 1, 1), (10,)]
    assert [r.name for r in rows][:2] == ["block1", "pool1"]
    assert rows.total_parameters == 1_992_166


def test_trace_leaf_rows_count_flops_of_each_convolution():
    rows = {r.name: r for r in trace(nin(), (1, 224, 224))}
    # A k×k convolution costs 2·c_in·k²·c_out FLOPs per output pixel (a multiply-add is 2).
    assert rows["block1.conv"].flops == 2 * 1 * 11 * 11 * 96 * 54 * 54
    assert rows["block1.mlp1"].flops == 2 * 96 * 96 * 54 * 54
    assert rows["block1.mlp1"].parameters == 96 * 96 + 96
    assert rows["pool1"].flops == 0


def test_trace_renders_as_text_and_html():
    rows = trace(nin(), (1, 224, 224), depth=1)
    text = str(rows)
    assert "96×54×54" in text and "1,992,166" in text
    assert "<table" in rows._repr_html_() and "10×1×1" in rows._repr_html_()


def test_trace_names_the_failing_layer_for_28x28_input():
    with pytest.raises(ShapeError, match=r"layer 'pool2' \(MaxPool2d 3/2\) cannot take input 256×2×2.*kernel 3 is larger"):
        trace(nin(), (1, 28, 28), depth=1)


def test_trace_reports_channel_mismatch_in_words():
    with pytest.raises(ShapeError, match="expects 1 input channels, got 3"):
        trace(nin(), (3, 224, 224))


def test_trace_rejects_non_positive_input_and_restores_training_mode():
    model = nin()
    model.train()
    with pytest.raises(ShapeError, match="non-positive"):
        trace(model, (1, 0, 224))
    trace(model, (1, 224, 224))
    assert model.training
