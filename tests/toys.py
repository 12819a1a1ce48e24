"""Small stand-ins and helpers the unit tests share: random images with random labels, a metrics record of the shape
the training engine writes, a script of tools/ or benchmarks/ loaded as a module, and what a refusal is checked by
(a one-line message, an unchanged folder). They test mechanics only; the chapters and benchmarks use the real
Fashion-MNIST."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import torch

from nin_book.data import FashionMNIST


def toy_data(n_train: int = 128, n_test: int = 64, seed: int = 0) -> FashionMNIST:
    """Random 28x28 uint8 images with random labels: learnable only by memorising."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n_train + n_test, 28, 28), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n_train + n_test,), generator=g)
    return FashionMNIST(images[:n_train], labels[:n_train], images[n_train:], labels[n_train:], source="toy")


def metrics(preset: str = "seed224", accuracies: tuple[float, ...] = (0.8, 0.9)) -> dict[str, Any]:
    """The shape of what the training engine writes (TrainResult.to_dict() / the CLI's JSON)."""
    return {
        "config": {"preset": preset, "epochs": len(accuracies)},
        "device_name": "NVIDIA H100 80GB HBM3",
        "torch_version": "2.14.1",
        "images_per_second": 40000.0,
        "wall_seconds": 55.0,
        "history": [{"epoch": i + 1, "test_accuracy": a} for i, a in enumerate(accuracies)],
    }


def load_script(path: Path, name: str) -> types.ModuleType:
    """A script that is not part of the package (tools/, benchmarks/), imported as the module ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def one_line(text: str) -> str:
    """``text`` is one line of message and no traceback (what every refusal prints)."""
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text


def listing(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` (files with their bytes, folders as None): what a refusal must leave unchanged."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}
