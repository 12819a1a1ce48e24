"""Counting a network's parameters, forward FLOPs and memory.

Explained in chapter 4, "Parameters and compute against VGG".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nin_book.shapes import probe_input

__all__ = ["count_parameters", "count_flops", "model_size_mb"]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (weights and biases) of ``model``.

    Explained in chapter 4, "Parameters and compute against VGG".
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Forward FLOPs for one input of ``input_shape`` (C, H, W), counted by ``FlopCounterMode``.

    A multiply-add counts as 2 FLOPs; activations and pooling count 0. The model runs once in
    eval mode on zeros and is left in the mode it was in. Explained in chapter 4.
    """
    was_training = model.training
    model.eval()
    try:
        x = probe_input(model, input_shape)
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def model_size_mb(model: nn.Module, bytes_per_parameter: int = 4) -> float:
    """Size of the weights in megabytes (10⁶ bytes); 4 bytes per parameter is fp32.

    Explained in chapter 4, "Parameters and compute against VGG".
    """
    return count_parameters(model) * bytes_per_parameter / 1e6
