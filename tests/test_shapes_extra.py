"""Partial traces, the inverted size rule and the smallest input NiN accepts (chapter 3)."""

import pytest
import torch
from torch import nn

from nin_book.models import alexnet, nin
from nin_book.presets import build_model, get_preset
from nin_book.shapes import (
    ShapeError,
    accepts_input,
    conv_output_size,
    min_input_size,
    smallest_input_by_inversion,
    smallest_valid_input,
    trace,
    trace_nin,
    trace_until_error,
)


def meta_nin(**kwargs):
    with torch.device("meta"):
        return nin(init=False, **kwargs)


def test_trace_until_error_keeps_the_rows_before_the_failing_layer():
    result = trace_until_error(nin(), (1, 28, 28), depth=1)
    assert not result.ok
    assert [r.name for r in result.trace] == ["block1", "pool1", "block2"]
    assert result.trace[-1].output_shape == (256, 2, 2)
    assert isinstance(result.error, ShapeError)
    assert "layer 'pool2'" in result.message and "kernel 3 is larger than the padded input 2" in result.message


def test_trace_until_error_gives_the_hand_computed_shapes_when_everything_fits():
    # 96×96 by (size + 2p - k) // s + 1: block1 (96 - 11) // 4 + 1 = 22, pool1 (22 - 3) // 2 + 1 = 10,
    # block2 keeps 10, pool2 4, block3 keeps 4, pool3 1, block4 keeps 1.
    result = trace_until_error(nin(), (1, 96, 96), depth=1)
    assert result.ok and result.error is None
    assert result.trace.shapes == [(96, 22, 22), (96, 10, 10), (256, 10, 10), (256, 4, 4), (384, 4, 4), (384, 1, 1),
                                   (384, 1, 1), (10, 1, 1), (10, 1, 1), (10,)]
    assert result.message.endswith("output 10")


def test_trace_of_the_cpu_network_by_hand():
    # The cpu preset's network (chapter 5): 3×3/1 pad 1 blocks keep the size, 2/2 pools halve it, no third pool.
    rows = trace(build_model(get_preset("cpu")), (1, 28, 28), depth=1)
    by_name = {r.name: r.output_shape for r in rows}
    assert [by_name[n] for n in ("block1", "pool1", "block2", "pool2", "block3", "block4", "gap", "flatten")] == [
        (32, 28, 28), (32, 14, 14), (64, 14, 14), (64, 7, 7), (128, 7, 7), (10, 7, 7), (10, 1, 1), (10,)]
    # Per block, 2·k·k·c_in·c_out·H·W for its 3×3 convolution and its two 1×1 convolutions; batch norm counts 0.
    block = {r.name: r.flops for r in rows}
    for name, c_in, c_out, size in (("block1", 1, 32, 28), ("block2", 32, 64, 14), ("block3", 64, 128, 7),
                                    ("block4", 128, 10, 7)):
        assert block[name] == 2 * size * size * (9 * c_in * c_out + 2 * c_out * c_out), name


def test_trace_until_error_rejects_non_positive_sizes_without_raising():
    result = trace_until_error(nin(), (1, 0, 5))
    assert not result.ok and len(result.trace) == 0 and "non-positive" in result.message


@pytest.mark.parametrize(("m", "k", "s", "p"), [(1, 3, 2, 0), (5, 3, 1, 1), (54, 11, 4, 0), (3, 3, 2, 0), (7, 5, 3, 2)])
def test_min_input_size_is_the_exact_inverse_of_the_rule(m, k, s, p):
    n = min_input_size(m, k, s, p)
    assert conv_output_size(n, k, s, p) >= m
    if n > 1 and n - 1 + 2 * p >= k:
        assert conv_output_size(n - 1, k, s, p) < m


def test_min_input_size_rejects_bad_arguments():
    with pytest.raises(ValueError, match="stride must be positive"):
        min_input_size(3, 3, 0)
    with pytest.raises(ValueError, match="padding must be zero or more"):
        min_input_size(3, 3, 1, -1)


def test_smallest_valid_input_of_nin_by_search_and_by_inversion_agree():
    model = meta_nin()
    smallest = smallest_valid_input(model)
    assert smallest == smallest_input_by_inversion(model) == 67
    assert accepts_input(model, (1, smallest, smallest))
    assert not accepts_input(model, (1, smallest - 1, smallest - 1))
    # On real weights the forward pass agrees.
    real = nin().eval()
    assert real(torch.zeros(1, 1, smallest, smallest)).shape == (1, 10)


def test_smallest_valid_input_follows_the_first_block():
    model = meta_nin(first_block=(3, 1, 1))
    assert smallest_valid_input(model) == smallest_input_by_inversion(model)


def test_inversion_refuses_fully_connected_heads_and_search_finds_alexnets_size():
    with torch.device("meta"):
        model = alexnet(init=False)
    with pytest.raises(ValueError, match="fully connected"):
        smallest_input_by_inversion(model)
    smallest = smallest_valid_input(model, stop=260)
    # AlexNet's fc1 wants exactly 256×5×5 values, so the size is pinned to a narrow window.
    assert trace(model, (1, smallest, smallest), depth=1)[-1].output_shape == (10,)
    failed = trace_until_error(model, (1, 227, 227), depth=1)
    assert "layer 'fc1' (Linear) cannot take input 9216: it expects 6,400 input features, got 9,216" in failed.message


def test_smallest_valid_input_says_when_nothing_fits():
    with pytest.raises(ValueError, match="no square input from 1 to 20"):
        smallest_valid_input(meta_nin(), stop=20)
    with pytest.raises(ValueError, match="start ≤ stop"):
        smallest_valid_input(nn.Sequential(nn.Identity()), start=5, stop=2)


def test_trace_nin_output_is_ten_for_any_valid_size():
    for size in (67, 100, 224, 227):
        result = trace_nin(size)
        assert result.ok and result.trace[-1].output_shape == (10,)
    assert trace_nin(224).trace.shapes[-3] == (10, 5, 5)
    assert trace_nin(227).trace.shapes[-3] == (10, 6, 6)


def test_trace_nin_reports_bad_settings_as_errors():
    assert "kernel must be at least 1" in trace_nin(224, (0, 4, 0)).message
    failed = trace_nin(8)
    assert not failed.ok and "block1.conv" in failed.message and len(failed.trace) == 0
