"""Checkpoints that survive a crash: written to a temporary file beside the target, then renamed.

A checkpoint holds the weights, the optimiser and schedule state, the random-number state, the
history so far and the :class:`~nin_book.presets.TrainConfig`, so training can resume exactly and
chapter 6 can rebuild the network. Explained in chapter 5 (resuming) and chapter 6 (reloading).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nin_book.presets import TrainConfig, build_model, config_from_dict

__all__ = ["CHECKPOINT_FORMAT", "atomic_write_bytes", "load_checkpoint", "load_model", "save_checkpoint"]

CHECKPOINT_FORMAT = 1


def _atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as the target: os.replace is atomic only within one file system.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # also on Ctrl-C: never leave a half-written file behind
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half of one.

    Explained in chapter 5, "Training NiN" (checkpoints and metrics files).
    """
    _atomic(Path(path), lambda f: f.write(data))


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Atomically save a checkpoint dictionary (as built by :func:`nin_book.train.fit`).

    ``state`` must hold at least ``model`` (a state dict) and ``config`` (``TrainConfig.to_dict()``).
    Explained in chapter 5, "Training NiN".
    """
    missing = {"model", "config"} - set(state)
    if missing:
        raise ValueError(f"a checkpoint needs the keys {sorted(missing)}")
    _atomic(Path(path), lambda f: torch.save({"format": CHECKPOINT_FORMAT, **state}, f))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, with clear errors for a missing or
    foreign file. Explained in chapter 5 (resuming) and chapter 6 (reloading).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first, e.g. python -m nin_book.train --checkpoint {path} ...")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or "model" not in state:
        raise ValueError(f"{path} is not a nin_book checkpoint (format {CHECKPOINT_FORMAT})")
    return state


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, TrainConfig]:
    """Rebuild the trained NiN saved in a checkpoint: returns ``(model in eval mode, its config)``.

    Works for checkpoints of the presets and of any config whose ``model`` field describes a
    :func:`nin_book.models.nin`. Explained in chapter 6, "Confidence maps".
    """
    state = load_checkpoint(path, map_location=device)
    config = config_from_dict(state["config"])
    model = build_model(config)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), config
