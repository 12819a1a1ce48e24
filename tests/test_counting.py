"""Parameter, FLOP and size counts."""

import pytest
from torch import nn

from nin_book.counting import count_flops, count_parameters, model_size_mb
from nin_book.models import nin, vgg11
from nin_book.shapes import trace


def test_flops_of_a_single_convolution():
    layer = nn.Sequential(nn.Conv2d(3, 2, kernel_size=1))
    assert count_flops(layer, (3, 5, 7)) == 2 * 3 * 2 * 5 * 7


def test_linear_flops_and_trainable_parameters():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    assert count_flops(model, (3, 2, 2)) == 2 * 12 * 4
    model[1].bias.requires_grad_(False)
    assert count_parameters(model) == 52 and count_parameters(model, trainable_only=True) == 48


def test_whole_model_flops_equal_the_sum_of_the_trace():
    model = nin()
    assert count_flops(model, (1, 224, 224)) == trace(model, (1, 224, 224)).total_flops


def test_vgg_needs_about_ten_times_the_flops_of_nin():
    ratio = count_flops(vgg11(), (1, 224, 224)) / count_flops(nin(), (1, 224, 224))
    assert 9 < ratio < 11


def test_model_size_fp32():
    assert model_size_mb(nin()) == pytest.approx(1_992_166 * 4 / 1e6)
