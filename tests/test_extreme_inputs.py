"""Extreme inputs to the tracing functions and the explorers: a one-line ShapeError / ValueError naming the setting
and its range, never a raw RuntimeError, TypeError or OverflowError from PyTorch (issue 25, row 16).

The JavaScript side (nin_math.mjs) refuses the same settings with the same words: tests/test_explorer_parity.py,
``test_javascript_matches_python_on_extreme_settings``.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nin_book import blocks
from nin_book.compare import MAX_WIDTH_MULTIPLIER, compare_models
from nin_book.models import nin
from nin_book.shapes import MAX_CHANNELS, MAX_SIZE, ShapeError, trace, trace_nin, trace_until_error
from nin_book.widgets.compare import CompareExplorer
from nin_book.widgets.tracing import TraceExplorer


@pytest.mark.parametrize("side", [10**10, 10**30])
def test_trace_refuses_an_input_pytorch_cannot_describe(side):
    model = nin(init=False)
    with pytest.raises(ShapeError, match=r"input_shape \(1, \d+, \d+\) holds .* values .*2⁶³ bytes"):
        trace(model, (1, side, side))
    partial = trace_until_error(model, (1, side, side))  # the non-raising form gives the same error back
    assert isinstance(partial.error, ShapeError) and len(partial.trace) == 0 and "2⁶³ bytes" in partial.message


def test_a_layer_whose_output_pytorch_cannot_describe_is_named_in_plain_words():
    with torch.device("meta"):
        wide = nn.Sequential(nn.Conv2d(1, MAX_CHANNELS, 1))
    with pytest.raises(ShapeError) as err:
        trace(wide, (1, 1 << 22, 1 << 22))  # the input fits (2⁴⁶ bytes); 2²⁰ maps of it do not
    assert str(err.value).startswith("layer '0' (Conv2d 1×1/1 pad 0) cannot take input 1×4194304×4194304: ")
    assert "2⁶³ bytes or more" in str(err.value) and "overflowed" not in str(err.value)
    partial = trace_until_error(nin(init=False), (1, 1 << 30, 1 << 30), depth=1)
    assert partial.error is not None and "block1" in partial.message and "2⁶³ bytes or more" in partial.message


def test_huge_inputs_within_the_limit_still_trace():
    assert trace(nin(init=False), (1, 10**6, 10**6), depth=1).shapes[-1] == (10,)


@pytest.mark.parametrize(("args", "message"), [
    ((10**12,), "input size must be at most 65,536, got 1,000,000,000,000"),
    ((MAX_SIZE + 1,), "input size must be at most 65,536, got 65,537"),
    ((224, (10**18, 4, 0)), "kernel must be at most 65,536, got 1,000,000,000,000,000,000"),
    ((224, (11, 10**12, 0)), "stride must be at most 65,536, got 1,000,000,000,000"),
    ((224, (11, 4, 10**12)), "padding must be at most 65,536, got 1,000,000,000,000"),
    ((224, (11, 4, 0), 10**9), "channels must be at most 1,048,576, got 1,000,000,000"),
    ((math.inf,), "input size must be a whole number, got inf"),
    ((math.nan,), "input size must be a whole number, got nan"),
    ((224.0,), "input size must be a whole number, got 224.0"),
    (("224",), "input size must be a whole number, got '224'"),
    ((224, (11, 4)), "first_block must be (kernel, stride, padding), got (11, 4)"),
    ((224, None), "first_block must be (kernel, stride, padding), got None"),
    ((-10**12, (0, -1, math.inf)), "input size must be at least 1, got -1000000000000; kernel must be at least 1, got 0; "
                                   "stride must be at least 1, got -1; padding must be a whole number, got inf"),
])
def test_trace_nin_returns_extreme_settings_as_its_error_and_never_raises(args, message):
    result = trace_nin(*args)
    assert isinstance(result.error, ShapeError) and len(result.trace) == 0
    assert result.message == message


def test_trace_nin_runs_at_its_bounds():
    assert trace_nin(MAX_SIZE).ok
    assert trace_nin(MAX_SIZE, (1, 1, MAX_SIZE), channels=MAX_CHANNELS).ok
    assert trace_nin(1, (MAX_SIZE, MAX_SIZE, MAX_SIZE)).error is not None  # a layer's error, not a setting's
    assert blocks.MAX_SIZE == MAX_SIZE and blocks.MAX_CHANNELS == MAX_CHANNELS  # one bound for every explorer


def test_trace_explorer_shows_extreme_settings_as_a_message():
    data = TraceExplorer(kernel=10**18).view_data()
    assert data["message"] == "kernel must be at most 65,536, got 1,000,000,000,000,000,000"
    assert data["rows"] == "0" and data["failing-layer"] == ""
    assert TraceExplorer(input_size=10**12).view_data()["message"].startswith("input size must be at most 65,536")


@pytest.mark.parametrize("multiplier", [math.inf, -math.inf, math.nan, 1e6, MAX_WIDTH_MULTIPLIER + 0.25, 0.0, -1.0])
def test_compare_explorer_refuses_a_multiplier_outside_its_range(multiplier):
    expected = ("width_multiplier must be a positive number up to 256 (1.0 is the published width), "
                f"got {multiplier!r}")
    assert CompareExplorer(width_multiplier=multiplier).view_data() == {"error": expected}
    with pytest.raises(ValueError, match="width_multiplier must be a positive number up to 256"):
        compare_models(["VGG-11"], multiplier)


def test_the_largest_multiplier_still_compares():
    (stats,) = compare_models(["NiN"], MAX_WIDTH_MULTIPLIER)
    assert stats.parameters > 10**11


def test_the_explorers_controls_stay_inside_the_bounds():
    controls = {c.trait: c for c in TraceExplorer.CONTROLS}
    assert [(c.min, c.max) for c in controls.values()] == [(1, 320), (1, 15), (1, 6), (0, 6)]  # unchanged
    assert all(c.max <= MAX_SIZE for c in controls.values())
    (width,) = [c for c in CompareExplorer.CONTROLS if c.trait == "width_multiplier"]
    assert (width.min, width.max) == (0.25, 2.0) and width.max <= MAX_WIDTH_MULTIPLIER
