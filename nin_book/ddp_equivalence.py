"""Measure that a data-parallel step is the single-process step: train the same network on the same global batches,
once in one process and once under ``torchrun`` with N processes, and compare the weights.

Run the same command both ways, then compare the two files with :func:`parameter_difference`::

    python -m nin_book.ddp_equivalence --out one.pt
    torchrun --standalone --nproc-per-node=2 -m nin_book.ddp_equivalence --out two.pt

Each file holds two networks trained with the trainer itself (:func:`nin_book.train.fit`): the smoke preset's NiN
without batch norm (where the two are defined to agree) and with batch norm in training mode (where, on the CPU without
SyncBatchNorm, each process normalises its own shard, so they differ). Explained in the appendix, "Training on several
GPUs".
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.distributed.elastic.multiprocessing.errors import record

from nin_book import distributed
from nin_book.data import FashionMNIST, load_fashion_mnist
from nin_book.presets import TrainConfig, build_model, get_preset
from nin_book.train import fit

__all__ = ["VARIANTS", "equivalence_config", "main", "parameter_difference", "train_variants"]

# The network without batch norm (a data-parallel step is the single-process step), and with it in training mode.
VARIANTS = {"without_batch_norm": False, "with_batch_norm": True}


def equivalence_config(batch_norm: bool, *, batch_size: int = 64, steps: int = 1) -> TrainConfig:
    """The smoke preset's NiN (with or without batch norm, no dropout) trained for ``steps`` SGD steps of
    ``batch_size`` images at a constant learning rate on the CPU. Explained in the appendix, "Training on several
    GPUs"."""
    smoke = get_preset("smoke")
    return smoke.replace(preset="ddp-equivalence", model={**smoke.model, "batch_norm": batch_norm, "dropout": 0.0},
                         epochs=1, batch_size=batch_size, train_limit=batch_size * steps, test_limit=64,
                         eval_batch_size=64, schedule="constant", device="cpu")


def train_variants(data: FashionMNIST, *, batch_size: int = 64, steps: int = 1) -> dict[str, object]:
    """Train every variant of :data:`VARIANTS` in this process (one shard of each global batch under torchrun);
    returns the starting weights and the trained ones, keyed by variant. Explained in the appendix, "Training on
    several GPUs"."""
    group = distributed.current()
    out: dict[str, object] = {"world_size": 1 if group is None else group.world_size, "batch_size": batch_size,
                              "steps": steps, "initial": {}, "trained": {}}
    for name, batch_norm in VARIANTS.items():
        config = equivalence_config(batch_norm, batch_size=batch_size, steps=steps)
        model = build_model(config)
        out["initial"][name] = _parameters(model)  # type: ignore[index]
        fit(model, data, config, progress=False, on_stall="off")
        out["trained"][name] = _parameters(model)  # type: ignore[index]
    return out


def _parameters(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters()}


def parameter_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """The largest absolute difference between two sets of the same parameters. Explained in the appendix,
    "Training on several GPUs"."""
    if a.keys() != b.keys():
        raise ValueError(f"the two sets name different parameters: {sorted(a.keys() ^ b.keys())[:3]}")
    return max(float((a[k].detach() - b[k].detach()).abs().max()) for k in a)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nin_book.ddp_equivalence --out FILE``, alone or under torchrun; rank 0 writes ``FILE``."""
    parser = argparse.ArgumentParser(prog="python -m nin_book.ddp_equivalence", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="where to save the weights (torch.save)")
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch")
    parser.add_argument("--steps", type=int, default=1, help="optimisation steps")
    args = parser.parse_args(argv)
    launch = distributed.Launch.from_env()
    device = torch.device("cpu")
    if launch is not None:
        problem = distributed.launch_problem(launch, device, args.batch_size)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        distributed.start(launch, device)
    try:
        result = train_variants(load_fashion_mnist(), batch_size=args.batch_size, steps=args.steps)
        if launch is None or launch.rank == 0:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            torch.save(result, args.out)
    finally:
        distributed.stop()
    return 0


if __name__ == "__main__":
    sys.exit((main if "WORLD_SIZE" not in os.environ else record(main))())
