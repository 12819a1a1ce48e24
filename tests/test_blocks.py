"""The pure logic behind the chapter 1 and 2 explorers: 1×1 convolution and NiN block summaries."""

import pytest
import torch
from torch import nn

from nin_book.blocks import nin_block_summary, one_by_one_summary, receptive_fields
from nin_book.counting import count_flops, count_parameters
from nin_book.models import nin, nin_block, vgg_block


@pytest.mark.parametrize(("c_in", "c_out", "h", "w"), [(3, 2, 4, 4), (256, 64, 28, 28), (1, 1, 1, 1), (5, 7, 3, 9)])
def test_one_by_one_summary_matches_formulas_and_pytorch(c_in, c_out, h, w):
    s = one_by_one_summary(c_in, c_out, h, w)
    assert s.weight_shape == (c_out, c_in, 1, 1)
    assert (s.weights, s.biases, s.parameters) == (c_in * c_out, c_out, c_in * c_out + c_out)
    assert s.flops == 2 * c_in * c_out * h * w
    assert s.flops_per_pixel == 2 * c_in * c_out
    assert s.input_shape == (c_in, h, w) and s.output_shape == (c_out, h, w)
    # Against a real layer on a real (CPU) tensor.
    layer = nn.Conv2d(c_in, c_out, 1)
    assert count_parameters(layer) == s.parameters
    assert count_flops(layer, (c_in, h, w)) == s.flops
    assert tuple(layer(torch.zeros(1, c_in, h, w)).shape[1:]) == s.output_shape


def test_one_by_one_summary_rows_read_well():
    rows = dict(one_by_one_summary(3, 2, 4, 4).rows())
    assert rows["weight shape"] == "2×3×1×1"
    assert rows["parameters"] == "6 weights + 2 biases = 8"
    assert rows["FLOPs"] == "192 (12 per pixel)"
    assert rows["output shape"] == "2×4×4"


@pytest.mark.parametrize(
    ("args", "message"),
    [((0, 2, 4, 4), "input channels must be at least 1, got 0"),
     ((3, -1, 4, 4), "output channels must be at least 1, got -1"),
     ((3, 2, 0, 4), "height must be at least 1"),
     ((3, 2, 4, 0), "width must be at least 1"),
     ((3.0, 2, 4, 4), "input channels must be a whole number, got 3.0"),
     ((True, 2, 4, 4), "input channels must be a whole number"),
     ((10**10, 2, 4, 4), "input channels must be at most 1,048,576"),
     ((3, 2, 10**6, 4), "height must be at most 65,536")],
)
def test_one_by_one_summary_rejects_impossible_settings(args, message):
    with pytest.raises(ValueError, match=message):
        one_by_one_summary(*args)


def test_one_by_one_summary_is_instant_for_huge_layers():
    # Built on the meta device: 4096 channels at 224×224 would be 1.7 TFLOPs to actually run.
    s = one_by_one_summary(4096, 4096, 224, 224)
    assert s.flops == 2 * 4096 * 4096 * 224 * 224


@pytest.mark.parametrize(("args", "out_shape"),
                         [((11, 4, 0, 224, 1, 96), (96, 54, 54)), ((5, 1, 2, 26, 96, 256), (256, 26, 26)),
                          ((3, 1, 1, 12, 256, 384), (384, 12, 12)), ((3, 1, 1, 5, 384, 10), (10, 5, 5)),
                          ((1, 1, 0, 1, 2, 3), (3, 1, 1))])
def test_nin_block_summary_matches_the_real_block(args, out_shape):
    k, s, p, n, c_in, c_out = args
    summary = nin_block_summary(*args)
    block = nin_block(c_in, c_out, k, s, p)
    assert summary.output_shape == out_shape == tuple(block(torch.zeros(1, c_in, n, n)).shape[1:])
    assert summary.parameters == count_parameters(block)
    assert summary.flops == count_flops(block, (c_in, n, n))
    assert [layer.name for layer in summary.layers] == ["conv", "conv_relu", "mlp1", "mlp1_relu", "mlp2", "mlp2_relu"]
    conv, mlp1 = summary.layers[0], summary.layers[2]
    assert conv.parameters == c_in * c_out * k * k + c_out
    assert mlp1.parameters == c_out * c_out + c_out
    assert summary.receptive_field == k  # 1×1 layers see no further than the k×k conv


def test_nin_block_summary_first_block_numbers():
    summary = nin_block_summary(11, 4, 0, 224, 1, 96)
    assert summary.parameters == 30_336
    assert summary.layers[0].flops == 2 * 11 * 11 * 96 * 54 * 54
    assert summary.rows()[-1] == ("total", "", "", "30,336", f"{summary.flops:,}")
    assert summary.notes == ("the last 1 padded row(s) and column(s) do not fit a whole window and are dropped",)


@pytest.mark.parametrize(
    ("args", "message"),
    [((11, 4, 0, 8, 1, 96), "impossible block: kernel 11 is larger than the padded input 8 .*use a larger input, "
                            "a smaller kernel or more padding"),
     ((5, 1, 1, 2, 1, 8), "kernel 5 is larger than the padded input 4"),
     ((0, 1, 0, 28, 1, 8), "kernel must be at least 1, got 0"),
     ((3, 0, 0, 28, 1, 8), "stride must be at least 1, got 0"),
     ((3, 1, -1, 28, 1, 8), "padding must be 0 or more, got -1"),
     ((3, 1, 0, 0, 1, 8), "input size must be at least 1"),
     ((3, 1, 0, 28, 0, 8), "input channels must be at least 1"),
     ((3, 1, 0, 28, 1, 0), "output channels must be at least 1"),
     ((3, 1, 0.5, 28, 1, 8), "padding must be a whole number"),
     ((3, 1, 10**6, 28, 1, 8), "padding must be at most 65,536"),
     ((3, 1, 1, 28, 1, 10**7), "output channels must be at most 1,048,576")],
)
def test_nin_block_summary_rejects_impossible_settings(args, message):
    with pytest.raises(ValueError, match=message):
        nin_block_summary(*args)


def test_summaries_too_large_for_pytorch_say_so():
    with pytest.raises(ValueError, match="more weights or activations than PyTorch can index"):
        nin_block_summary(1 << 16, 1, 0, 1 << 16, 1 << 20, 1 << 20)


def test_nin_block_summary_notes_wasteful_settings():
    assert nin_block_summary(3, 1, 1, 28, 1, 8).notes == ()
    notes = nin_block_summary(3, 5, 0, 28, 1, 8).notes
    assert notes[0] == "stride 5 is larger than the kernel 3: 2 of every 5 input rows and columns are never seen"
    assert "padding 4 is at least the kernel 3" in nin_block_summary(3, 1, 4, 28, 1, 8).notes[-1]


def test_receptive_fields_of_nin_and_vgg():
    fields = {r.name: (r.receptive_field, r.jump) for r in receptive_fields(nin(), depth=1)}
    assert fields["block1"] == (11, 4)
    assert fields["pool1"] == (19, 8)
    assert fields["block2"] == (51, 8)
    assert fields["block4"] == (195, 32)
    assert fields["gap"][0] is None  # global pooling sees everything
    vgg = [(r.name, r.receptive_field) for r in receptive_fields(vgg_block(1, 8, 2))]
    assert vgg == [("conv1", 3), ("relu1", 3), ("conv2", 5), ("relu2", 5), ("pool", 6)]
    # A list of (name, module) pairs works too, and dilation widens the window.
    rows = receptive_fields([("a", nn.Conv2d(1, 1, 3, dilation=2)), ("b", nn.Conv2d(1, 1, 1))])
    assert [r.receptive_field for r in rows] == [5, 5]
