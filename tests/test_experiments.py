"""Chapter 7's experiments: every variant builds and trains, the stall detector tells a dead network from a
healthy one, shifted images are shifted, and the results JSON holds what chapter 7 reads."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from nin_book.counting import count_parameters
from nin_book.data import FashionMNIST
from nin_book.experiments import (
    LN10,
    VARIANTS,
    StallMonitor,
    is_stalled,
    is_stuck,
    select_variants,
    shift_images,
    stall_mechanism,
    variant_config,
)
from nin_book.experiments.__main__ import main
from nin_book.models import nin
from nin_book.presets import TrainConfig, build_model
from nin_book.results import load_experiments
from nin_book.train import fit


def _tiny_data(train: int = 128, test: int = 64, seed: int = 0) -> FashionMNIST:
    """Random uint8 images whose class sets the brightness of a square, so that a network can learn a little."""
    g = torch.Generator().manual_seed(seed)

    def images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(10, (n,), generator=g)
        x = torch.randint(0, 40, (n, 28, 28), generator=g, dtype=torch.uint8)
        x[:, 8:20, 8:20] = (labels * 25).to(torch.uint8)[:, None, None]
        return x, labels

    (a, b), (c, d) = images(train), images(test)
    return FashionMNIST(a, b, c, d, source="synthetic")


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_builds_and_trains_one_step(name):
    config = variant_config(VARIANTS[name], seed=0, smoke=True)
    model = build_model(config).train()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    x, y = torch.randn(4, 1, config.resolution, config.resolution), torch.arange(4)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    assert math.isfinite(loss.item())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_variants_change_what_they_say():
    params = {name: count_parameters(build_model(variant_config(v))) for name, v in VARIANTS.items()}
    assert params["head_fc"] == params["head_fc_dropout"] == params["baseline"] + 10 * 7 * 7 * 10 + 10
    assert params["mlp0"] < params["mlp1"] < params["baseline"] == params["no_dropout"]
    baseline = variant_config(VARIANTS["baseline"])
    assert baseline.model == {**variant_config(VARIANTS["no_dropout"]).model, "dropout": 0.2}
    assert not variant_config(VARIANTS["stall_recipe"]).model["batch_norm"]
    assert variant_config(VARIANTS["stall_fix_lr"]).lr == pytest.approx(baseline.lr / 10)
    assert [v.name for v in select_variants(["translation"])] == ["baseline", "head_fc", "head_fc_dropout"]
    assert [v.name for v in select_variants(["baseline", "stall_recipe"])] == ["baseline", "stall_recipe"]
    assert len(select_variants(["stall"])) == 6
    d2l = variant_config(VARIANTS["stall_d2l"])  # Dive into Deep Learning's recipe, at a reduced size
    assert d2l.model["init"] == "xavier" and not d2l.model["batch_norm"] and d2l.momentum == 0.0 and d2l.lr == 0.1
    assert d2l.resolution == 112 and d2l.schedule == "constant" and VARIANTS["stall_d2l"].max_seeds == 1
    with pytest.raises(ValueError, match="valid names"):
        select_variants(["nope"])


def test_stall_detector_on_sequences():
    assert is_stalled([2.5, LN10, LN10 + 5e-4], [3.0, 0.0, 0.0], records=2)
    assert not is_stalled([LN10, LN10], [0.0, 1e-3], records=2)  # a logit moved: not dead
    assert not is_stalled([LN10, 2.2], [0.0, 0.0], records=2)  # the loss moved
    assert not is_stalled([LN10], [0.0], records=2)  # too short to tell
    assert is_stuck([LN10, LN10 - 4e-4], [0.0, 1e-7], records=2)  # the same logits for every image
    assert not is_stuck([LN10, LN10], [0.0, 0.3], records=2)
    assert not is_stuck([2.2, LN10], [0.0, 0.0], records=2)


def _train_monitored(model: nn.Module, data: FashionMNIST) -> tuple[list[float], list[float], StallMonitor]:
    config = TrainConfig(epochs=3, batch_size=32, lr=0.05, schedule="constant", train_limit=64, test_limit=32,
                         eval_batch_size=64, device="cpu")
    monitor = StallMonitor(model)
    try:
        result = fit(model, data, config, progress=False)
    finally:
        monitor.close()
    return [r.train_loss for r in result.history], monitor.per_epoch(config.epochs), monitor


def _small_nin() -> nn.Module:
    torch.manual_seed(0)
    return nin(widths=(8, 16, 32), first_block=(3, 1, 1), kernels=(3, 3, 3), pools=((2, 2, 0), (2, 2, 0), None),
               dropout=0.0)


def test_stall_detector_fires_on_a_dead_network_and_not_on_a_healthy_one():
    data = _tiny_data()
    dead = _small_nin()
    with torch.no_grad():
        dead.block4.mlp2.bias.fill_(-1e3)  # every class map's last ReLU gets a hugely negative input
    losses, logits, monitor = _train_monitored(dead, data)
    assert is_stalled(losses, logits, records=2)
    assert all(v == pytest.approx(LN10, abs=1e-6) for v in losses)
    assert set(monitor.alive_fractions) == {0.0}
    assert is_stuck(losses, monitor.per_epoch(3, "logit_spreads"), records=2)
    mechanism = stall_mechanism(dead, data.test_images, data.test_labels)
    assert mechanism["all_logits_zero"] and mechanism["dead_class_maps"] == 10
    assert mechanism["softmax_min"] == mechanism["softmax_max"] == pytest.approx(0.1)
    assert mechanism["loss"] == pytest.approx(LN10, abs=1e-6)
    assert mechanism["first_layer_gradient_norm"] == 0.0 and mechanism["logit_spread"] == 0.0

    losses, logits, monitor = _train_monitored(_small_nin(), data)
    assert not is_stalled(losses, logits, records=2)
    assert not is_stuck(losses, monitor.per_epoch(3, "logit_spreads"), records=2)
    assert min(logits) > 0
    healthy = stall_mechanism(_small_nin(), data.test_images, data.test_labels)
    assert not healthy["all_logits_zero"] and healthy["first_layer_gradient_norm"] > 0


def test_shift_images_moves_each_image_its_way_with_zero_fill():
    x = torch.arange(1, 17, dtype=torch.uint8).reshape(1, 4, 4).repeat(4, 1, 1)
    shifted = shift_images(x, 1, torch.tensor([0, 1, 2, 3]))  # down, up, right, left
    assert torch.equal(shifted[0, 1:], x[0, :-1]) and shifted[0, 0].sum() == 0
    assert torch.equal(shifted[1, :-1], x[1, 1:]) and shifted[1, -1].sum() == 0
    assert torch.equal(shifted[2, :, 1:], x[2, :, :-1]) and shifted[2, :, 0].sum() == 0
    assert torch.equal(shifted[3, :, :-1], x[3, :, 1:]) and shifted[3, :, -1].sum() == 0
    assert torch.equal(shift_images(x, 0, torch.tensor([0, 1, 2, 3])), x)
    assert shift_images(x, 4, torch.tensor([0, 1, 2, 3])).sum() == 0


def test_cli_lists_and_rejects_unknown_names(capsys):
    assert main(["--list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in VARIANTS)
    with pytest.raises(SystemExit) as exit_info:
        main(["--only", "nope", "--smoke"])
    assert exit_info.value.code == 2


def test_smoke_run_writes_the_fields_chapter_7_reads(tmp_path):
    out = tmp_path / "experiments.json"
    assert main(["--smoke", "--only", "baseline,stall_recipe", "--seeds", "2", "--no-progress", "--out", str(out)],
                data=_tiny_data(train=64, test=32)) == 0
    report = json.loads(out.read_text())
    assert report["complete"] and report["smoke"] and not report["full_set"]
    assert report["command"].startswith("python -m nin_book.experiments --smoke")
    for key in ("cpu_model", "torch_version", "date_utc", "load_average"):
        assert key in report["provenance"]
    assert report["settings"]["epochs"] < report["settings"]["preset_epochs"]
    assert set(report["variants"]) == {"baseline", "stall_recipe"}
    for entry in report["variants"].values():
        assert [r["seed"] for r in entry["runs"]] == [0, 1]
        for run in entry["runs"]:
            for key in ("final_test_accuracy", "final_train_accuracy", "parameters", "epochs", "wall_seconds"):
                assert run[key] is not None
            assert 0.0 <= run["final_train_accuracy"] <= 1.0
        summary = entry["summary"]
        assert summary["seeds"] == 2 and summary["final_test_accuracy"]["n"] == 2
        assert {"mean", "std", "min", "max"} <= set(summary["final_train_accuracy"])
    assert set(report["variants"]["baseline"]["runs"][0]["shifted_test_accuracy"]) == {"0", "1", "2", "3", "4"}
    stall = report["variants"]["stall_recipe"]
    assert isinstance(stall["runs"][0]["stalled"], bool) and isinstance(stall["runs"][0]["stuck"], bool)
    assert stall["runs"][0]["mechanism"]["ln10"] == LN10
    assert 0 <= stall["summary"]["stalled"] <= 2
    assert load_experiments(out, require_full=False)["variants"].keys() == report["variants"].keys()
    with pytest.raises(ValueError, match="not a finished full run"):
        load_experiments(out)
    with pytest.raises(FileNotFoundError, match="python -m nin_book.experiments"):
        load_experiments(tmp_path / "missing.json")
