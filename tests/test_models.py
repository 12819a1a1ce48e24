"""Parameter counts of NiN, VGG-11 and AlexNet against arithmetic written out independently."""

import math

import pytest
import torch
from torch import nn

from nin_book.counting import count_parameters
from nin_book.models import alexnet, nin, nin_block, vgg11


def conv(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out


def linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def nin_block_params(c_in: int, c_out: int, k: int) -> int:
    return conv(c_in, c_out, k) + 2 * conv(c_out, c_out, 1)


def test_nin_parameter_count_matches_arithmetic():
    expected = (nin_block_params(1, 96, 11) + nin_block_params(96, 256, 5)
                + nin_block_params(256, 384, 3) + nin_block_params(384, 10, 3))
    assert expected == 1_992_166
    assert count_parameters(nin()) == expected


def test_vgg11_parameter_count_matches_arithmetic():
    convs = [(1, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
    expected = sum(conv(a, b, 3) for a, b in convs) + linear(512 * 7 * 7, 4096) + linear(4096, 4096) + linear(4096, 10)
    assert expected == 128_806_154
    assert count_parameters(vgg11()) == expected


def test_alexnet_parameter_count_matches_arithmetic():
    expected = (conv(1, 96, 11) + conv(96, 256, 5) + conv(256, 384, 3) + conv(384, 384, 3) + conv(384, 256, 3)
                + linear(6400, 4096) + linear(4096, 4096) + linear(4096, 10))
    assert expected == 46_764_746
    assert count_parameters(alexnet()) == expected


@pytest.mark.parametrize("build", [nin, vgg11, alexnet])
def test_models_map_224_image_to_ten_logits(build):
    model = build().eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 224, 224)).shape == (2, 10)


def test_nin_block_is_kxk_then_two_1x1_each_with_relu():
    block = nin_block(3, 8, kernel_size=5, stride=2, padding=1)
    kinds = [type(m) for m in block]
    assert kinds == [nn.Conv2d, nn.ReLU] * 3
    assert [m.kernel_size for m in block if isinstance(m, nn.Conv2d)] == [(5, 5), (1, 1), (1, 1)]
    assert block.conv.stride == (2, 2) and block.conv.padding == (1, 1)


def test_nin_has_no_fully_connected_layer_and_global_average_pooling():
    model = nin()
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    assert isinstance(model.gap, nn.AdaptiveAvgPool2d)


def test_nin_widths_and_batch_norm_are_parameters():
    narrow = nin(widths=(16, 32, 48), first_block=(5, 1, 2), batch_norm=True)
    assert narrow.block1.conv.out_channels == 16 and narrow.block3.mlp2.out_channels == 48
    assert any(isinstance(m, nn.BatchNorm2d) for m in narrow.modules())
    with torch.no_grad():
        assert narrow.eval()(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    with pytest.raises(ValueError, match="three channel counts"):
        nin(widths=(8, 8))


def test_he_initialisation_applied_explicitly():
    torch.manual_seed(0)
    model = nin()
    conv2 = model.block2.conv  # 96·5·5 = 2400 inputs per output
    assert torch.all(conv2.bias == 0)
    assert conv2.weight.std().item() == pytest.approx(math.sqrt(2 / 2400), rel=0.05)


# --- Chapter 7's options: the defaults stay the classic network ----------------------------------------------

CPU_NIN = {"widths": (32, 64, 128), "first_block": (3, 1, 1), "kernels": (3, 3, 3),
           "pools": ((2, 2, 0), (2, 2, 0), None)}


def test_nin_defaults_are_gap_two_1x1_convs_and_relu_on_the_class_maps():
    model = nin()
    assert list(model.block4)[-1].__class__ is nn.ReLU
    assert [name for name, _ in model.block1.named_children()] == ["conv", "conv_relu", "mlp1", "mlp1_relu",
                                                                  "mlp2", "mlp2_relu"]
    assert count_parameters(nin(head="gap", mlp_convs=2, final_relu=True)) == count_parameters(model)


@pytest.mark.parametrize("head", ["fc", "fc_dropout"])
def test_fc_head_flattens_the_class_maps_into_one_linear_layer(head):
    model = nin(**CPU_NIN, head=head, image_size=28).eval()
    assert model.fc.in_features == 10 * 7 * 7 and model.fc.out_features == 10
    assert not any(isinstance(m, nn.AdaptiveAvgPool2d) for m in model.modules())
    assert (head == "fc_dropout") == hasattr(model, "fc_dropout")
    assert count_parameters(model) == count_parameters(nin(**CPU_NIN)) + linear(490, 10)
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    classic = nin(head="fc")  # 224×224: 5×5 class maps after three 3/2 pools
    assert classic.fc.in_features == 10 * 5 * 5
    with pytest.raises(ValueError, match="head must be one of"):
        nin(head="max")


@pytest.mark.parametrize("mlp_convs", [0, 1, 2])
def test_mlp_convs_sets_the_1x1_layers_per_block(mlp_convs):
    model = nin(mlp_convs=mlp_convs)
    expected = (conv(1, 96, 11) + conv(96, 256, 5) + conv(256, 384, 3) + conv(384, 10, 3)
                + mlp_convs * (conv(96, 96, 1) + conv(256, 256, 1) + conv(384, 384, 1) + conv(10, 10, 1)))
    assert count_parameters(model) == expected
    assert sum(1 for m in model.block2 if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)) == mlp_convs
    with pytest.raises(ValueError, match="mlp_convs"):
        nin(mlp_convs=3)


def test_final_relu_false_lets_the_class_maps_go_negative():
    model = nin(**CPU_NIN, final_relu=False)
    assert not isinstance(list(model.block4)[-1], nn.ReLU)
    assert isinstance(list(model.block3)[-1], nn.ReLU)  # only the class maps lose it
    with torch.no_grad():
        assert (model.eval()(torch.randn(8, 1, 28, 28)) < 0).any()
