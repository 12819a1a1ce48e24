"""Parameter, FLOP and size counts."""

import pytest
from torch import nn

from nin_book.counting import count_flops, count_parameters, model_size_mb
from nin_book.models import nin, vgg11


def test_flops_of_a_single_convolution():
    layer = nn.Sequential(nn.Conv2d(3, 2, kernel_size=1))
    assert count_flops(layer, (3, 5, 7)) == 2 * 3 * 2 * 5 * 7


def test_linear_flops_and_trainable_parameters():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    assert count_flops(model, (3, 2, 2)) == 2 * 12 * 4
    model[1].bias.requires_grad_(False)
    assert count_parameters(model) == 52 and count_parameters(model, trainable_only=True) == 48


# The two networks written out by hand from their definitions (chapters 2 and 4), with each output size worked
# out from (size + 2*padding - kernel) // stride + 1: (k, c_in, c_out, output height = width) per convolution.
NIN_224_CONVS = [
    (11, 1, 96, 54), (1, 96, 96, 54), (1, 96, 96, 54),          # block1: (224 - 11) // 4 + 1 = 54; pool1 -> 26
    (5, 96, 256, 26), (1, 256, 256, 26), (1, 256, 256, 26),     # block2 (pad 2); pool2 -> 12
    (3, 256, 384, 12), (1, 384, 384, 12), (1, 384, 384, 12),    # block3 (pad 1); pool3 -> 5
    (3, 384, 10, 5), (1, 10, 10, 5), (1, 10, 10, 5),            # block4 (pad 1), then global average pooling
]
VGG11_224_CONVS = [  # 3×3 convolutions with padding 1 keep the size; each block's 2×2 pool halves it
    (3, 1, 64, 224), (3, 64, 128, 112), (3, 128, 256, 56), (3, 256, 256, 56),
    (3, 256, 512, 28), (3, 512, 512, 28), (3, 512, 512, 14), (3, 512, 512, 14),
]
VGG11_LINEARS = [(512 * 7 * 7, 4096), (4096, 4096), (4096, 10)]  # (in, out)


def flops_by_formula(convs, linears=()) -> int:
    """2 FLOPs per multiply-add: 2·k·k·c_in·c_out·H·W per convolution, 2·in·out per linear layer. Biases,
    ReLU, pooling and dropout count 0, as FlopCounterMode counts them (one matrix product per layer)."""
    return sum(2 * k * k * c_in * c_out * size * size for k, c_in, c_out, size in convs) + \
        sum(2 * n_in * n_out for n_in, n_out in linears)


def parameters_by_formula(convs, linears=()) -> int:
    return sum(k * k * c_in * c_out + c_out for k, c_in, c_out, _ in convs) + sum(n_in * n_out + n_out for n_in, n_out in linears)


def test_nin_flops_and_parameters_equal_the_formula():
    assert count_flops(nin(), (1, 224, 224)) == flops_by_formula(NIN_224_CONVS)
    assert count_parameters(nin()) == parameters_by_formula(NIN_224_CONVS)


def test_vgg11_flops_and_parameters_equal_the_formula():
    assert count_flops(vgg11(), (1, 224, 224)) == flops_by_formula(VGG11_224_CONVS, VGG11_LINEARS)
    assert count_parameters(vgg11()) == parameters_by_formula(VGG11_224_CONVS, VGG11_LINEARS)


def test_vgg_needs_about_ten_times_the_flops_of_nin():
    ratio = flops_by_formula(VGG11_224_CONVS, VGG11_LINEARS) / flops_by_formula(NIN_224_CONVS)
    assert 9 < ratio < 11


def test_model_size_fp32():
    assert model_size_mb(nin()) == pytest.approx(parameters_by_formula(NIN_224_CONVS) * 4 / 1e6)
