"""Chapter 6's independent checks: occlusion sensitivity, rank agreement and a map cell's gradient, on models whose
answers are known by hand."""

import pytest
import torch
from torch import nn

from nin_book.sensitivity import (
    cell_gradient_map,
    mass_within_squares,
    occlusion_drops,
    rank_agreement,
    window_means,
)


class RegionSum(nn.Module):
    """Logit 0 is the sum of the pixels in rows 2-3, columns 4-5; logit 1 is the sum of the whole image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[:, 0, 2:4, 4:6].sum(dim=(1, 2)), x[:, 0].sum(dim=(1, 2))], dim=1)


def test_occlusion_of_a_known_region_drops_the_logit_by_what_it_covers():
    x = torch.ones(2, 1, 6, 6)
    occ = occlusion_drops(RegionSum(), x, torch.tensor([0, 1]), patch=2, stride=2, fill=0.0)
    assert occ.grid == (3, 3)
    assert occ.baseline.tolist() == [4.0, 36.0]
    expected = torch.zeros(3, 3)
    expected[1, 2] = 4.0  # only the patch at rows 2-3, columns 4-5 covers the region
    torch.testing.assert_close(occ.drops[0], expected)
    torch.testing.assert_close(occ.drops[1], torch.full((3, 3), 4.0))  # every patch covers 4 of the 36 ones
    # Overlapping patches (stride 1): the drop is the overlap of patch and region.
    occ1 = occlusion_drops(RegionSum(), x[:1], torch.tensor([0]), patch=2, stride=1, fill=0.0, batch_size=3)
    assert occ1.grid == (5, 5)
    assert occ1.drops[0, 2, 4].item() == 4.0 and occ1.drops[0, 1, 3].item() == 1.0 and occ1.drops[0, 0, 0].item() == 0
    # Filling with the pixel value itself changes nothing.
    same = occlusion_drops(RegionSum(), x, torch.tensor([0, 1]), patch=2, stride=2, fill=1.0)
    assert same.drops.abs().max().item() == 0.0


def test_occlusion_pixel_map_averages_the_patches_over_each_pixel():
    x = torch.ones(1, 1, 6, 6)
    occ = occlusion_drops(RegionSum(), x, torch.tensor([0]), patch=2, stride=2, fill=0.0)
    pixels = occ.pixel_map()
    assert pixels.shape == (1, 6, 6)
    expected = torch.zeros(6, 6)
    expected[2:4, 4:6] = 4.0  # non-overlapping patches: each pixel has one patch's drop
    torch.testing.assert_close(pixels[0], expected)
    # A patch grid that misses the last column leaves it NaN.
    occ5 = occlusion_drops(RegionSum(), torch.ones(1, 1, 5, 5), torch.tensor([1]), patch=2, stride=2, fill=0.0)
    assert torch.isnan(occ5.pixel_map()[0, :, 4]).all() and not torch.isnan(occ5.pixel_map()[0, :4, :4]).any()


def test_occlusion_restores_training_mode_and_checks_its_arguments():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten()).train()
    occlusion_drops(model, torch.randn(1, 1, 6, 6), torch.tensor([1]), patch=3, stride=3)
    assert model.training
    with pytest.raises(ValueError, match="patch"):
        occlusion_drops(model, torch.randn(1, 1, 6, 6), torch.tensor([1]), patch=7)
    with pytest.raises(ValueError, match="one class per input"):
        occlusion_drops(model, torch.randn(2, 1, 6, 6), torch.tensor([1]))


def test_window_means_line_up_with_the_occlusion_grid():
    values = torch.arange(36, dtype=torch.float32).reshape(1, 6, 6)
    means = window_means(values, patch=2, stride=2)
    assert means.shape == (1, 3, 3)
    assert means[0, 1, 2].item() == values[0, 2:4, 4:6].mean().item()


def test_rank_agreement_is_spearman_per_image():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]])
    y = torch.tensor([[10.0, 20.0, 30.0, 1000.0], [4.0, 3.0, 2.0, 1.0], [1.0, 3.0, 2.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    rho = rank_agreement(x, y)
    assert rho[0].item() == pytest.approx(1.0)  # same order, whatever the spacing
    assert rho[1].item() == pytest.approx(-1.0)
    assert rho[2].item() == pytest.approx(0.8)  # 1 - 6·Σd²/(n(n²-1)) = 1 - 6·2/60
    assert torch.isnan(rho[3])  # a constant image has no ranking
    assert rank_agreement(x[:3].reshape(3, 2, 2), y[:3].reshape(3, 2, 2)).tolist() == pytest.approx(rho[:3].tolist())
    # Keeping only some positions: image 2 without its swapped middle pair ranks alike; 2 positions are too few.
    keep = torch.tensor([[True, True, False, True], [True, True, False, False], [True, False, False, True],
                         [True, True, True, True]])
    kept = rank_agreement(x, y, keep=keep)
    assert kept[0].item() == pytest.approx(1.0) and torch.isnan(kept[1]) and torch.isnan(kept[2])
    kept3 = rank_agreement(x[2:3], y[2:3], keep=torch.tensor([[True, False, True, True]]))
    assert kept3.item() == pytest.approx(1.0)  # 1, 3, 4 against 1, 2, 4
    with pytest.raises(ValueError, match="keep"):
        rank_agreement(x, y, keep=keep[:, :2])


def test_cell_gradient_map_is_the_cells_window():
    # One 3×3 convolution of ones (padding 1) as the class map: a cell's gradient is the 3×3 window around it.
    model = nn.Sequential()
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.weight[1] *= -2.0  # class 1: the gradient is −2 in the window; its size is 2
    model.add_module("block4", conv)
    model.add_module("gap", nn.AdaptiveAvgPool2d(1))
    model.add_module("flatten", nn.Flatten())
    gradient = cell_gradient_map(model, torch.randn(3, 1, 7, 7), torch.tensor([0, 1, 1]), cell=(3, 3), batch_size=2)
    expected = torch.zeros(7, 7)
    expected[2:5, 2:5] = (1 + 2 + 2) / 3
    torch.testing.assert_close(gradient, expected)
    assert conv.weight.grad is None  # no gradients left on the model
    with pytest.raises(ValueError, match="no layer named"):
        cell_gradient_map(model, torch.randn(1, 1, 7, 7), torch.tensor([0]), cell=(3, 3), layer="head")


def test_mass_within_squares_by_hand():
    weights = torch.zeros(6, 6)
    weights[2:4, 2:4] = 1.0  # the middle 2×2 holds half the mass
    weights[0, 0] = 4.0  # a corner holds the other half
    assert mass_within_squares(weights, (2.5, 2.5), [2, 4, 6]) == [0.5, 0.5, 1.0]
    assert mass_within_squares(weights, (2.0, 2.0), [1, 3]) == [0.125, 0.5]
    with pytest.raises(ValueError, match="zero everywhere"):
        mass_within_squares(torch.zeros(3, 3), (1.0, 1.0), [1])
