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
    border_ring,
    class_maps,
    controls_by_class,
    evidence_on_object,
    mask_partners,
    mean_over_other_classes,
    object_mask,
    paired_sign_test,
    select_class_maps,
    shares_by_class,
    shares_on_partner_masks,
    summarize_evidence,
    upsample_maps,
)
from nin_book.data import CLASS_NAMES  # noqa: E402
from nin_book.figures.maps import (  # noqa: E402
    plot_agreement,
    plot_averaged_maps,
    plot_controls_by_class,
    plot_effective_receptive_field,
    plot_evidence_against_control,
    show_class_averages,
    show_class_maps,
    show_map_cells,
    show_occlusion,
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
        plot_evidence_against_control(torch.rand(5), torch.rand(5) - 0.5, torch.rand(5) - 0.5),
        show_class_averages(torch.rand(10, 28, 28), upsample_maps(result.maps[0], 28), CLASS_NAMES),
        plot_controls_by_class(CLASS_NAMES, [0.01] * 10, [0.0] * 10, [-0.02] * 10, [(0.5, 0.4, 0.6)] * 10),
        show_occlusion(torch.rand(3, 28, 28), torch.rand(3, 28, 28), torch.rand(3, 28, 28) - 0.2, ["a", "b", "c"]),
        plot_agreement({"own": torch.rand(20), "template": torch.tensor([0.1, float("nan"), 0.3])}),
        plot_effective_receptive_field(torch.rand(28, 28), (13.5, 13.5), 26, [2, 14, 28], [0.1, 0.5, 1.0],
                                       marks=[(14, 0.5)]),
    ]
    assert all(f.axes for f in figs)
    plt.close("all")
    with pytest.raises(ValueError, match="upsample"):
        show_class_maps(image, result.maps[0], CLASS_NAMES, result.averaged[0])
    with pytest.raises(ValueError, match="must all be"):
        show_occlusion(torch.rand(2, 28, 28), torch.rand(3, 28, 28), torch.rand(3, 28, 28), ["a", "b"])


def test_shared_colour_scales_have_a_colour_bar():
    # Panels that are compared share one scale: the class averages get one colour bar running from 0 to the
    # largest mean map value of any class.
    mean_maps = torch.zeros(10, 28, 28)
    mean_maps[3, 5, 5] = 7.0
    fig = show_class_averages(torch.rand(10, 28, 28), mean_maps, CLASS_NAMES)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and bars[0].get_ylim() == pytest.approx((0.0, 7.0))
    fig = show_occlusion(torch.rand(2, 8, 8), torch.full((2, 8, 8), 2.0), torch.full((2, 8, 8), 3.0), ["a", "b"])
    limits = sorted(ax.get_ylim()[1] for ax in fig.axes if ax.get_label() == "<colorbar>")
    assert limits == pytest.approx([2.0, 3.0])  # one bar for the maps, one for the drops
    plt.close("all")


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


# --- Chapter 6's controls: the map against a centred garment it does not belong to, and the other classes' maps.


def test_a_map_that_is_exactly_the_mask_puts_all_its_evidence_on_the_garment():
    masks = torch.zeros(2, 6, 6, dtype=torch.bool)
    masks[0, 1:4, 2:5] = True
    masks[1, 3:6, 0:2] = True
    share, area = evidence_on_object(masks.float(), masks)
    assert share.tolist() == [1.0, 1.0]
    assert area.tolist() == pytest.approx([9 / 36, 6 / 36])


def test_mask_partners_are_derangements_fixed_by_the_seed():
    partners = mask_partners(7, shuffles=5, seed=3)
    assert partners.shape == (5, 7)
    for row in partners:
        assert sorted(row.tolist()) == list(range(7))  # every mask is borrowed exactly once
        assert (row != torch.arange(7)).all()  # never an image's own mask
    assert torch.equal(partners, mask_partners(7, shuffles=5, seed=3))
    assert not torch.equal(partners, mask_partners(7, shuffles=5, seed=4))
    with pytest.raises(ValueError):
        mask_partners(1, shuffles=1)


def test_shares_on_partner_masks_by_hand_on_three_images():
    # Three 1×4 "images". Image 0's map sits on pixel 0, image 1's on pixels 1-2, image 2's evenly everywhere.
    maps = torch.tensor([[[4.0, 0, 0, 0]], [[0, 1.0, 3.0, 0]], [[1.0, 1.0, 1.0, 1.0]]])
    masks = torch.tensor([[[1, 1, 0, 0]], [[0, 0, 1, 1]], [[0, 1, 0, 0]]]).bool()
    partners = torch.tensor([[1, 2, 0], [2, 0, 1]])
    share, area = shares_on_partner_masks(maps, masks, partners)
    # Shuffle 0: map 0 on mask 1 (pixels 2-3): 0; map 1 on mask 2 (pixel 1): 1/4; map 2 on mask 0: 2/4.
    # Shuffle 1: map 0 on mask 2 (pixel 1): 0; map 1 on mask 0 (pixels 0-1): 1/4; map 2 on mask 1: 2/4.
    assert share.tolist() == [[0.0, 0.25, 0.5], [0.0, 0.25, 0.5]]
    assert area.tolist() == [[0.5, 0.25, 0.5], [0.25, 0.5, 0.5]]
    # On their own masks: map 0 scores 1, map 1 3/4, map 2 1/4 (its mask's area: an even spread).
    own, _ = evidence_on_object(maps, masks)
    assert own.tolist() == [1.0, 0.75, 0.25]


def test_a_centred_blob_passes_the_area_test_but_not_the_shuffle_control():
    # Garments of different sizes, all centred; a map that is one blob in the middle of every image.
    n, side = 40, 16
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    radius = torch.linspace(3, 7, n)
    distance = ((yy - 7.5) ** 2 + (xx - 7.5) ** 2).sqrt()
    masks = distance[None] < radius[:, None, None]
    blob = torch.exp(-distance**2 / 8)[None].expand(n, side, side)
    share, area = evidence_on_object(blob, masks)
    assert summarize_evidence(share, area).verdict == "concentrates on the garment"  # the weak test passes
    shuffled, shuffled_area = shares_on_partner_masks(blob, masks, mask_partners(n, shuffles=20))
    # Against other images' garments it does exactly as well: the same map everywhere scores f(j) on garment j,
    # and every garment is borrowed once per shuffle, so the mean excess over the area is the same.
    own = share - area
    control = (shuffled - shuffled_area).mean(dim=0)
    assert own.mean().item() == pytest.approx(control.mean().item(), abs=1e-6)
    # A map that is each image's own garment beats the control on every image.
    follows = masks.float()
    share_f, area_f = evidence_on_object(follows, masks)
    shuffled_f, shuffled_area_f = shares_on_partner_masks(follows, masks, mask_partners(n, shuffles=20))
    test = paired_sign_test(share_f - area_f, (shuffled_f - shuffled_area_f).mean(dim=0))
    assert test.fraction_above == 1.0 and test.direction == "above"


def test_shares_by_class_and_the_other_classes_mean():
    masks = torch.zeros(2, 2, 2, dtype=torch.bool)
    masks[:, 0, :] = True  # the top row is the garment
    maps = torch.zeros(2, 3, 2, 2)
    maps[:, 0, 0, :] = 1.0  # class 0: all on the garment
    maps[:, 1] = 1.0  # class 1: even
    maps[0, 2, 1, :] = 1.0  # class 2: all off the garment in image 0, no evidence in image 1
    shares = shares_by_class(maps, masks)
    assert shares[0].tolist() == [1.0, 0.5, 0.0]
    assert shares[1, :2].tolist() == [1.0, 0.5] and torch.isnan(shares[1, 2])
    others = mean_over_other_classes(shares, torch.tensor([0, 2]))
    assert others[0].item() == pytest.approx(0.25)  # classes 1 and 2 of image 0
    assert others[1].item() == pytest.approx(0.75)  # classes 0 and 1 of image 1 (its own class is 2)
    assert torch.isnan(mean_over_other_classes(torch.tensor([[0.3, float("nan")]]), torch.tensor([0]))).all()


def test_average_by_class_can_skip_nan():
    values = torch.tensor([1.0, float("nan"), 3.0])
    labels = torch.tensor([0, 0, 0])
    assert torch.isnan(average_by_class(values, labels, num_classes=1)).all()
    assert average_by_class(values, labels, num_classes=1, skip_nan=True).item() == 2.0


def test_border_ring_is_the_background_just_outside_the_garment():
    mask = torch.zeros(7, 7, dtype=torch.bool)
    mask[3, 3] = True
    ring = border_ring(mask, width=1)
    assert int(ring.sum()) == 8 and not ring[3, 3] and ring[2:5, 2:5].sum() == 8
    assert int(border_ring(mask, width=2).sum()) == 24
    assert border_ring(mask[None], width=1).shape == (1, 7, 7)
    with pytest.raises(ValueError):
        border_ring(mask, width=0)


def test_paired_sign_test_counts_votes_and_says_the_supported_phrase():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0, float("nan"), 5.0])
    b = torch.tensor([0.0, 0.0, 3.0, 5.0, 1.0, 0.0])
    test = paired_sign_test(a, b)
    assert (test.images, test.votes, test.fraction_above) == (5, 4, 0.75)
    assert test.mean_a == pytest.approx(3.0) and test.mean_b == pytest.approx(1.6)
    assert test.direction == "undecided" and test.says("more", "less", "no clear difference") == "no clear difference"
    many = paired_sign_test(torch.zeros(50), torch.ones(50))
    assert many.direction == "below" and many.says("more", "less", "same") == "less"
    assert many.p_value < 1e-10
    with pytest.raises(ValueError, match="tied"):
        paired_sign_test(torch.ones(3), torch.ones(3))


def test_controls_by_class_by_hand():
    labels = torch.tensor([0, 0, 0, 2])
    area = torch.tensor([0.5, 0.5, 0.4, 0.3])
    share = torch.tensor([0.7, 0.6, float("nan"), 0.2])
    shuffled = torch.tensor([0.0, 0.2, 0.1, 0.0])
    others = torch.tensor([0.3, -0.1, 0.0, -0.2])
    rows = controls_by_class(labels, share, area, shuffled, others, num_classes=3)
    assert [r.label for r in rows] == [0, 2]  # class 1 has no images
    first = rows[0]  # image 2's map has no evidence (NaN): every column leaves it out
    assert first.images == 2 and first.area == pytest.approx(0.5)
    assert first.share == pytest.approx(0.65) and first.own == pytest.approx(0.15)
    assert first.shuffled == pytest.approx(0.1) and first.others == pytest.approx(0.1)
    # Own excess 0.2 and 0.1 against shuffled 0.0 and 0.2: one vote each way; against others 0.3, -0.1: one each.
    assert first.versus_shuffled.votes == 2 and first.versus_shuffled.fraction_above == 0.5
    assert first.versus_others.fraction_above == 0.5
    assert rows[1].own == pytest.approx(-0.1) and rows[1].versus_shuffled.fraction_above == 0.0
    with pytest.raises(ValueError, match="must all be"):
        controls_by_class(labels[:2], share, area, shuffled, others)
