"""Training settings: one frozen ``TrainConfig`` and five named presets (``seed224``, ``cpu``, ``cpu112``, ``classic``,
``smoke``).

A config is plain data (numbers, strings, tuples), so it goes into checkpoints and metrics JSON as is
and chapter 6 can rebuild the exact network from a checkpoint. Explained in chapter 5, "Training NiN on Fashion-MNIST".
"""

from __future__ import annotations

import inspect
import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch
from torch import nn

from nin_book.literature import RECIPE_SETTINGS
from nin_book.models import nin

__all__ = [
    "PRESET_ENV_VAR",
    "PRESETS",
    "PRESET_NAMES",
    "PRECISIONS",
    "MAX_SEED",
    "SCHEDULES",
    "TrainConfig",
    "build_model",
    "config_from_dict",
    "default_preset",
    "get_preset",
    "model_arguments",
    "recipe_settings",
]

PRESET_ENV_VAR = "NIN_BOOK_PRESET"
SCHEDULES = ("onecycle", "cosine", "constant")
# "auto": bf16 autocast on a GPU that supports it, fp16 with loss scaling on one that does not (Colab's T4),
# fp32 on the CPU. "fp32" forces full precision everywhere (the classic preset, as Dive into Deep Learning).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Seeds are 32-bit, as numpy's: larger ones overflow the shuffling generator's arithmetic.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. ``model`` holds the keyword arguments of
    :func:`nin_book.models.nin`, so :func:`build_model` can rebuild the network from a checkpoint.

    ``lr`` is the peak learning rate: SGD with (Nesterov) momentum follows a one-cycle schedule
    (warm up for ``warmup_fraction`` of the steps, then cosine down), a warm-up + cosine schedule,
    or a constant rate. ``train_limit``/``test_limit`` keep only the first N images (the smoke preset).
    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """

    preset: str = "custom"
    model: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    warmup_fraction: float = 0.2
    label_smoothing: float = 0.0
    flip: bool = False
    resolution: int = 28
    train_limit: int | None = None
    test_limit: int | None = None
    eval_batch_size: int = 1024
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    precision: str = "auto"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "resolution", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be a whole number from 0 to {MAX_SEED} (2**32 - 1), got {self.seed!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if not 0.0 < self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in (0, 1), got {self.warmup_fraction!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (tuples become lists in JSON; :func:`config_from_dict` undoes that)."""
        return asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (``None`` values are ignored, which suits CLI flags)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Rebuild a :class:`TrainConfig` from :meth:`TrainConfig.to_dict` output (e.g. read from JSON).

    Explained in chapter 6, where a saved network is reloaded.
    """
    known = {f.name for f in fields(TrainConfig)}
    values = {k: v for k, v in values.items() if k in known}
    model = dict(values.get("model", {}))
    for key in ("widths", "first_block", "kernels"):
        if key in model:
            model[key] = tuple(model[key])
    if "pools" in model:
        model["pools"] = tuple(None if p is None else tuple(p) for p in model["pools"])
    values["model"] = model
    return TrainConfig(**values)


# --- The presets -------------------------------------------------------------------------------------
# seed224: the classic NiN (widths 96/256/384, 11x11/4 first block) on 224x224 inputs, for one GPU.
#   Batch normalisation is added after each convolution: the 2013 network without it learns slowly at
#   the small constant learning rate Dive into Deep Learning uses; the goal here is >= 0.93 in 10 epochs.
#   Label smoothing and horizontal flips regularise the 2-million-parameter network. Not measured: no GPU
#   was lent while this was written.
# cpu: a narrower NiN (32/64/128 wide, ~150k parameters) on native 28x28, sized for a 2-core CPU. 11x11/4
#   on 28 pixels leaves almost nothing (chapter 3), so block 1 is 3x3/1; blocks 2-4 use 3x3 kernels and the
#   pools are 2x2 after blocks 1 and 2 only, so the class maps before GAP are 7x7 and each map cell sees a
#   26x26 window, smaller than the 28x28 image (chapter 6 needs maps that can localise). Batch norm, light
#   dropout and flips. Measured: results in nin_book/results/ (cpu.json says machine, torch and command).
# cpu112: the network chapters 2-4 study (the classic NiN's convolutions, 11x11/4 first block, with seed224's batch
#   norm, dropout and recipe) on a 2-core CPU. 224x224 costs ~10 min an epoch there at 128x128 already; 112x112
#   (half the side, a quarter of the pixels) trains at ~165 images/s on a 2-core AMD EPYC, so 6 epochs take about
#   40 minutes, and it still leaves 2x2 class maps (99 is the smallest input that does; 224 gives 5x5).
#   Batch 128 at lr 0.1 (seed224's 0.2 at batch 256, scaled). Measured: results in nin_book/results/.
# classic: Dive into Deep Learning's recipe as release 0.17 prints it (nin_book.literature.D2L_NIN, checked by a
#   test: the 2013 network: no batch norm; Xavier initialisation; plain SGD without momentum or weight decay at
#   lr 0.1; batch 128; 10 epochs at 224; fp32), so that a GPU run can set it beside seed224. Not measured:
#   no GPU was lent while this was written.
# smoke: a tiny NiN of the cpu preset's shape on a few hundred images, seconds, for CI and for executing
#   the chapters in tests.
PRESETS: dict[str, TrainConfig] = {
    "seed224": TrainConfig(
        preset="seed224",
        model={"batch_norm": True, "dropout": 0.5},
        epochs=10, batch_size=256, lr=0.2, weight_decay=5e-4, schedule="onecycle", warmup_fraction=0.2,
        label_smoothing=0.1, flip=True, resolution=224, eval_batch_size=1024,
    ),
    "cpu": TrainConfig(
        preset="cpu",
        model={"widths": (32, 64, 128), "first_block": (3, 1, 1), "kernels": (3, 3, 3),
               "pools": ((2, 2, 0), (2, 2, 0), None), "batch_norm": True, "dropout": 0.2},
        epochs=8, batch_size=128, lr=0.2, weight_decay=5e-4, schedule="onecycle", warmup_fraction=0.2,
        label_smoothing=0.0, flip=True, resolution=28, eval_batch_size=1000,
    ),
    "cpu112": TrainConfig(
        preset="cpu112",
        model={"batch_norm": True, "dropout": 0.5},
        epochs=6, batch_size=128, lr=0.1, weight_decay=5e-4, schedule="onecycle", warmup_fraction=0.2,
        label_smoothing=0.1, flip=True, resolution=112, eval_batch_size=500,
    ),
    "classic": TrainConfig(
        preset="classic",
        model={"batch_norm": False, "dropout": 0.5, "init": "xavier"},
        epochs=10, batch_size=128, lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0, schedule="constant",
        label_smoothing=0.0, flip=False, resolution=224, eval_batch_size=1024, precision="fp32",
    ),
    "smoke": TrainConfig(
        preset="smoke",
        model={"widths": (8, 16, 32), "first_block": (3, 1, 1), "kernels": (3, 3, 3),
               "pools": ((2, 2, 0), (2, 2, 0), None), "batch_norm": True, "dropout": 0.0},
        # Batches of 32: 16 steps an epoch, enough for the 7x7-map network to beat chance clearly in seconds.
        epochs=2, batch_size=32, lr=0.1, schedule="onecycle", resolution=28,
        train_limit=512, test_limit=256, eval_batch_size=256,
    ),
}
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)


def get_preset(name: str) -> TrainConfig:
    """The preset called ``name``; an unknown name raises ``ValueError`` listing the valid ones.

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESET_NAMES)}") from None


def default_preset(device: str | torch.device | None = None) -> str:
    """The preset to use when none is named: ``$NIN_BOOK_PRESET`` if set, else ``seed224`` on a CUDA
    device and ``cpu`` otherwise (``device=None`` means: is a GPU visible?).

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    chosen = os.environ.get(PRESET_ENV_VAR, "").strip()
    if chosen:
        try:  # validate: a typo in the environment should not silently pick another preset
            get_preset(chosen)
        except ValueError as err:
            raise ValueError(f"{PRESET_ENV_VAR}={chosen!r}: {err}; fix or unset {PRESET_ENV_VAR}") from None
        return chosen
    if device is None or str(device) == "auto":
        on_gpu = torch.cuda.is_available()
    else:
        on_gpu = torch.device(device).type == "cuda"
    return "seed224" if on_gpu else "cpu"


def model_arguments(config: TrainConfig) -> dict[str, Any]:
    """Every keyword argument :func:`nin_book.models.nin` gets for ``config``: its ``model`` field, with ``nin``'s
    defaults for what it leaves out. Explained in chapter 5, "Training NiN on Fashion-MNIST" (the presets).
    """
    return {name: p.default for name, p in inspect.signature(nin).parameters.items()} | config.model


def recipe_settings(config: TrainConfig) -> dict[str, object]:
    """``config``'s settings in the terms of a published recipe (keyed by ``nin_book.literature.RECIPE_SETTINGS``),
    so that a preset can be set beside Dive into Deep Learning's recipe (model settings from
    :func:`model_arguments`).

    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    model = model_arguments(config)
    init = model["init"]
    settings = {
        "resolution": config.resolution, "epochs": config.epochs, "batch_size": config.batch_size,
        "learning_rate": config.lr, "schedule": config.schedule, "momentum": config.momentum,
        "weight_decay": config.weight_decay, "batch_norm": model["batch_norm"], "dropout": model["dropout"],
        "initialisation": "kaiming" if init is True else ("none" if init is False else init),
    }
    return {name: settings[name] for name in RECIPE_SETTINGS}


def build_model(config: TrainConfig) -> nn.Module:
    """A fresh NiN built from ``config.model`` (keyword arguments of :func:`nin_book.models.nin`),
    initialised from ``config.seed`` so that the same config gives the same starting weights.

    Explained in chapter 5, "Training NiN on Fashion-MNIST", and used in chapter 6 to rebuild a saved network.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return nin(**config.model)
