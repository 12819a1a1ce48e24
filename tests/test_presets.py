"""Presets: what each one builds, how one is chosen, and the errors for bad settings."""

import json

import pytest
import torch

from nin_book.blocks import receptive_fields
from nin_book.models import nin
from nin_book.presets import (
    PRESET_ENV_VAR,
    PRESET_NAMES,
    PRESETS,
    TrainConfig,
    build_model,
    config_from_dict,
    default_preset,
    get_preset,
)
from nin_book.shapes import trace


def test_the_four_presets_exist():
    assert PRESET_NAMES == ("seed224", "cpu", "cpu112", "classic", "smoke")


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_each_preset_builds_a_network_for_its_resolution(name):
    config = get_preset(name)
    model = build_model(config).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 1, config.resolution, config.resolution))
    assert out.shape == (2, 10)


def test_seed224_is_the_classic_architecture_at_224():
    config = get_preset("seed224")
    assert config.resolution == 224
    classic = {k: v.shape for k, v in nin().state_dict().items() if k.endswith(".weight") and v.dim() == 4}
    ours = {k: v.shape for k, v in build_model(config).state_dict().items() if k.endswith(".weight") and v.dim() == 4}
    assert ours == classic  # same convolutions, widths and kernels; only batch norm is added between them


def test_cpu_preset_is_native_28_and_narrower():
    config = get_preset("cpu")
    assert config.resolution == 28
    assert config.model["first_block"] != (11, 4, 0)  # 11x11/4 needs 224 inputs (chapter 3)
    assert sum(p.numel() for p in build_model(config).parameters()) < sum(p.numel() for p in nin().parameters()) / 5


def test_cpu_preset_keeps_7x7_class_maps_that_see_less_than_the_image():
    # Chapter 6 reads the class maps before global average pooling: they must have cells to read, and each
    # cell must see only part of the 28x28 image. Sizes and receptive field worked out by hand:
    # 28 -(3x3/1 pad 1)-> 28 -(pool 2/2)-> 14 -(3x3 pad 1)-> 14 -(pool 2/2)-> 7 -> 7 -> 7;
    # receptive field 3, +1 (pool, jump 1->2) = 4, +2*2 = 8, +1*2 = 10 (jump 4), +2*4 = 18, +2*4 = 26.
    model = build_model(get_preset("cpu"))
    block4 = next(r for r in trace(model, (1, 28, 28), depth=1) if r.name == "block4")
    assert block4.output_shape == (10, 7, 7)
    rf = next(r for r in receptive_fields(model) if r.name == "block4.mlp2")
    assert (rf.receptive_field, rf.jump) == (26, 4)


def test_classic_preset_is_d2l_recipe_on_the_2013_network():
    config = get_preset("classic")
    model = build_model(config)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    classic = {k: v.shape for k, v in nin().state_dict().items()}
    assert {k: v.shape for k, v in model.state_dict().items()} == classic  # exactly the 2013 network
    assert (config.schedule, config.momentum, config.weight_decay, config.flip, config.label_smoothing) == (
        "constant", 0.0, 0.0, False, 0.0)


def test_smoke_preset_is_small():
    config = get_preset("smoke")
    assert config.train_limit <= 1000 and config.test_limit <= 1000 and config.epochs <= 3


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown preset 'gpu'; valid presets: seed224, cpu, cpu112, classic, smoke"):
        get_preset("gpu")


def test_default_preset_follows_the_device_and_the_environment(monkeypatch):
    monkeypatch.delenv(PRESET_ENV_VAR, raising=False)
    assert default_preset("cpu") == "cpu"
    assert default_preset("cuda") == "seed224"
    assert default_preset(None) == ("seed224" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv(PRESET_ENV_VAR, "smoke")
    assert default_preset("cuda") == "smoke"
    monkeypatch.setenv(PRESET_ENV_VAR, "fast")
    with pytest.raises(ValueError, match="valid presets"):
        default_preset("cpu")


def test_same_seed_same_initial_weights_and_no_global_seeding():
    config = get_preset("smoke")
    torch.manual_seed(123)
    before = torch.rand(1)
    a, b = build_model(config), build_model(config)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    c = build_model(config.replace(seed=1))
    assert not torch.equal(a.state_dict()["block1.conv.weight"], c.state_dict()["block1.conv.weight"])
    # build_model forks the global generator: building a model does not change what comes next.
    torch.manual_seed(123)
    build_model(config)
    assert torch.equal(torch.rand(1), before)


@pytest.mark.parametrize("field, value", [("epochs", 0), ("batch_size", -1), ("resolution", 0), ("train_limit", 0),
                                          ("lr", 0.0), ("schedule", "linear"), ("label_smoothing", 1.0),
                                          ("device", "tpu")])
def test_bad_settings_are_rejected(field, value):
    with pytest.raises(ValueError, match=field if field != "device" else "device"):
        TrainConfig(**{field: value})


def test_replace_ignores_none_so_cli_flags_can_be_passed_through():
    config = get_preset("cpu")
    assert config.replace(epochs=None, lr=0.5) == TrainConfig(**{**config.__dict__, "lr": 0.5})


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_config_survives_a_json_round_trip(name):
    config = PRESETS[name]
    assert config_from_dict(json.loads(json.dumps(config.to_dict()))) == config
