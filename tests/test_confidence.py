"""Class confidence maps: averaging each map gives the logit, the argmax is the prediction, the helpers are exact."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from nin_book.confidence import (  # noqa: E402
    MapMismatchError,
    average_by_class,
    class_maps,
    evidence_on_object,
    object_mask,
    select_class_maps,
    summarize_evidence,
    upsample_maps,
)
from nin_book.data import CLASS_NAMES  # noqa: E402
from nin_book.figures.maps import (  # noqa: E402
    plot_averaged_maps,
    plot_evidence_on_object,
    show_class_averages,
    show_class_maps,
    show_map_cells,
)
from nin_book.models import nin  # noqa: E402


def tiny_nin() -> nn.Sequential:
    # A narrow NiN on 28×28 input: the same structure as the classic one, seconds to run.
    return nin(widths=(8, 8, 8), first_block=(3, 1, 1), dropout=0.5)


def test_maps_average_to_logits_and_argmax_is_prediction():
    torch.manual_seed(0)
    model = tiny_nin()
    result = class_maps(model, torch.randn(4, 1, 28, 28))
    assert result.maps.shape == (4, 10, 2, 2)  # 28 → 13 → 6 → 2 through the three max-pools
    assert result.map_size == (2, 2)
    assert result.max_abs_difference < 1e-5
    torch.testing.assert_close(result.averaged, result.logits)
    assert torch.equal(result.averaged.argmax(dim=1), result.predictions)
    # The last block ends in ReLU, so every map is non-negative.
    assert result.maps.min() >= 0


def test_class_maps_in_batches_equals_one_pass():
    torch.manual_seed(0)
    model, x = tiny_nin(), torch.randn(5, 1, 28, 28)
    whole, chunked = class_maps(model, x), class_maps(model, x, batch_size=2)
    torch.testing.assert_close(chunked.maps, whole.maps)
    torch.testing.assert_close(chunked.logits, whole.logits)


def test_classic_nin_at_224_gives_ten_5x5_maps():
    torch.manual_seed(0)
    result = class_maps(nin(), torch.randn(1, 1, 224, 224))
    assert result.maps.shape == (1, 10, 5, 5)


def test_class_maps_restores_training_mode():
    model = tiny_nin().train()
    class_maps(model, torch.randn(1, 1, 28, 28))
    assert model.training


def test_class_maps_detects_a_head_that_is_not_gap():
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("block4", nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU()))
    model.add_module("pool", nn.AdaptiveMaxPool2d(1))  # max, not average: the logits are not the means
    model.add_module("flatten", nn.Flatten())
    with pytest.raises(MapMismatchError, match="not global average pooling"):
        class_maps(model, torch.randn(2, 1, 8, 8))


def test_class_maps_names_missing_layer():
    with pytest.raises(ValueError, match="no layer named 'head'"):
        class_maps(tiny_nin(), torch.randn(1, 1, 28, 28), layer="head")


def test_upsample_constant_map_stays_constant_and_keeps_shape():
    maps = torch.full((2, 10, 5, 5), 3.0)
    up = upsample_maps(maps, 224)
    assert up.shape == (2, 10, 224, 224)
    torch.testing.assert_close(up, torch.full_like(up, 3.0))
    assert upsample_maps(maps[0], (28, 28)).shape == (10, 28, 28)


def test_object_mask_and_evidence_share():
    image = torch.zeros(1, 4, 4)
    image[0, :2, :] = 200  # the "object" is the top half
    mask = object_mask(image)
    assert mask.float().mean() == 0.5
    on_object = torch.zeros(1, 4, 4)
    on_object[0, 0, 0] = 1.0
    uniform = torch.ones(1, 4, 4)
    share, area = evidence_on_object(on_object, mask)
    assert share.item() == 1.0 and area.item() == 0.5
    share, _ = evidence_on_object(uniform, mask)
    assert share.item() == pytest.approx(0.5)
    share, _ = evidence_on_object(torch.zeros(1, 4, 4), mask)
    assert torch.isnan(share).all()


def test_select_and_average_by_class():
    maps = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    chosen = select_class_maps(maps, torch.tensor([2, 0]))
    assert torch.equal(chosen, torch.stack([maps[0, 2], maps[1, 0]]))
    with pytest.raises(ValueError, match="one class per image"):
        select_class_maps(maps, torch.tensor([0]))
    values = torch.tensor([[1.0], [3.0], [10.0]])
    means = average_by_class(values, torch.tensor([0, 0, 2]), num_classes=3)
    assert means[0].item() == 2.0 and means[2].item() == 10.0
    assert torch.isnan(means[1]).all()


def test_map_figures_draw():
    torch.manual_seed(0)
    result = class_maps(tiny_nin(), torch.randn(1, 1, 28, 28))
    up = upsample_maps(result.maps[0], 28)
    image = torch.rand(28, 28)
    figs = [
        show_class_maps(image, up, CLASS_NAMES, result.averaged[0], true_label=3),
        show_class_maps(image, up, CLASS_NAMES, result.averaged[0], true_label=3, classes=[3, 4]),
        show_map_cells(result.maps[0, 3], CLASS_NAMES[3], float(result.logits[0, 3])),
        plot_averaged_maps(result.averaged[0], CLASS_NAMES, true_label=3),
        plot_evidence_on_object(torch.rand(5), torch.rand(5), correct=torch.tensor([1, 0, 1, 1, 0]).bool()),
        show_class_averages(torch.rand(10, 28, 28), upsample_maps(result.maps[0], 28), CLASS_NAMES),
    ]
    assert all(f.axes for f in figs)
    plt.close("all")
    with pytest.raises(ValueError, match="upsample"):
        show_class_maps(image, result.maps[0], CLASS_NAMES, result.averaged[0])


def test_summarize_evidence_verdicts():
    area = torch.full((100,), 0.5)
    assert summarize_evidence(torch.full((100,), 0.8), area).verdict == "concentrates on the garment"
    assert summarize_evidence(torch.full((100,), 0.2), area).verdict == "avoids the garment"
    # 53 of 100 above: not distinguishable from a coin toss.
    mixed = torch.cat([torch.full((53,), 0.6), torch.full((47,), 0.4)])
    summary = summarize_evidence(mixed, area)
    assert summary.fraction_above == pytest.approx(0.53)
    assert summary.low < 0.5 < summary.high and summary.verdict == "shows no clear preference"
    # Maps with no evidence (NaN) are left out.
    with_nan = torch.cat([torch.full((10,), 0.9), torch.full((5,), float("nan"))])
    assert summarize_evidence(with_nan, torch.full((15,), 0.5)).images == 10
    with pytest.raises(ValueError, match="no map has any evidence"):
        summarize_evidence(torch.full((3,), float("nan")), torch.full((3,), 0.5))


@pytest.mark.parametrize("n", [20, 100, 500])
def test_evidence_interval_when_every_image_is_above(n):
    # Every point above the diagonal, the good outcome: the interval must contain 1 exactly (a hand-rolled
    # Wilson formula gave 0.9999999999999999 here), and its lower end is Wilson's n / (n + z²).
    summary = summarize_evidence(torch.full((n,), 0.9), torch.full((n,), 0.5))
    assert summary.fraction_above == 1.0 and summary.high == 1.0
    assert summary.low == pytest.approx(n / (n + 1.959963984540054**2))


def test_evidence_sign_test_leaves_out_ties():
    # 30 above, 10 below, 60 exactly on the diagonal: the sign test counts 30 of 40 votes.
    share = torch.cat([torch.full((30,), 0.7), torch.full((10,), 0.3), torch.full((60,), 0.5)])
    summary = summarize_evidence(share, torch.full((100,), 0.5))
    assert summary.images == 100 and summary.fraction_above == 0.75
    # Wilson interval for 30/40 at 95%, worked out by hand: centre (p + z²/2n)/(1 + z²/n), half-width
    # z·sqrt(p(1-p)/n + z²/4n²)/(1 + z²/n) with p = 0.75, n = 40, z = 1.96.
    assert (summary.low, summary.high) == (pytest.approx(0.5981, abs=1e-3), pytest.approx(0.8581, abs=1e-3))
