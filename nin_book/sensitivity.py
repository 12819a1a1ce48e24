"""Where the network's evidence sits, measured without the class maps: occlusion and input gradients.

Two checks on chapter 6's reading of NiN's class maps, each independent of the maps themselves:

- **Occlusion sensitivity** (Zeiler & Fergus, 2014): slide a patch of background over the image and record
  how far the true class's logit falls at each position. Where the map is high, covering the image
  should cost the class most, if the map shows where the evidence is.
- **Effective receptive field** (Luo et al., 2016): the mean size of the gradient of one map cell with respect
  to every input pixel. The theoretical receptive field says which pixels *can* change the cell; the
  gradient says which ones do, in practice.

Pure logic on tensors (the figures live in :mod:`nin_book.figures.maps`).
Explained in chapter 6, "Reading NiN's class confidence maps".
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from torch import nn

__all__ = [
    "Occlusion",
    "cell_gradient_map",
    "mass_within_squares",
    "occlusion_drops",
    "rank_agreement",
    "window_means",
]


def _device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


@dataclass(frozen=True)
class Occlusion:
    """The result of :func:`occlusion_drops`, on the CPU.

    ``drops`` (N, P, Q): how far image n's logit of its class fell when the patch at grid position (p, q)
    was covered (top-left corner at ``(p * stride, q * stride)``); positive means covering it cost the class.
    ``baseline`` (N,): the logit with nothing covered. Explained in chapter 6.
    """

    drops: torch.Tensor
    baseline: torch.Tensor
    patch: int
    stride: int
    image_size: tuple[int, int]

    @property
    def grid(self) -> tuple[int, int]:
        """(P, Q): the number of patch positions down and across."""
        return int(self.drops.shape[1]), int(self.drops.shape[2])

    def pixel_map(self) -> torch.Tensor:
        """Each pixel's mean drop over the patches that cover it: (N, H, W), NaN where no patch reaches.

        For showing the drops at image resolution beside a map. Explained in chapter 6.
        """
        n = len(self.drops)
        columns = self.drops.reshape(n, 1, -1).expand(n, self.patch * self.patch, -1)
        fold = dict(output_size=self.image_size, kernel_size=self.patch, stride=self.stride)
        total = F.fold(columns.contiguous(), **fold)[:, 0]
        count = F.fold(torch.ones_like(columns[:1]), **fold)[:, 0]
        return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, float("nan")))


def occlusion_drops(model: nn.Module, inputs: torch.Tensor, classes: torch.Tensor, patch: int = 8,
                    stride: int = 4, fill: float = 0.0, batch_size: int = 512) -> Occlusion:
    """Cover each ``patch``×``patch`` square (``stride`` apart) of each input with ``fill`` and record the logit's fall.

    ``inputs`` (N, C, H, W) as the model takes them (normalised: ``fill`` is the background's normalised value);
    ``classes`` (N,): the class whose logit is watched, usually the true one. Runs the model in eval mode
    without gradients, ``batch_size`` occluded images at a time; P × Q forward passes per image.
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if inputs.ndim != 4 or classes.shape != inputs.shape[:1]:
        raise ValueError(f"need inputs (N, C, H, W) and one class per input, got {tuple(inputs.shape)} "
                         f"and {tuple(classes.shape)}")
    height, width = int(inputs.shape[-2]), int(inputs.shape[-1])
    if not 1 <= patch <= min(height, width) or stride < 1:
        raise ValueError(f"patch must be 1 to {min(height, width)} pixels and stride at least 1, "
                         f"got patch={patch}, stride={stride}")
    rows = list(range(0, height - patch + 1, stride))
    cols = list(range(0, width - patch + 1, stride))
    corners = [(r, c) for r in rows for c in cols]
    device = _device(model)
    was_training = model.training
    model.eval()
    per_batch = max(1, batch_size // len(corners))
    logits, baseline = [], []
    try:
        with torch.inference_mode():
            for start in range(0, len(inputs), per_batch):
                x = inputs[start:start + per_batch].to(device)
                label = classes[start:start + per_batch].to(device).long()
                index = torch.arange(len(x), device=device)
                baseline.append(model(x)[index, label].float().cpu())
                covered = x.repeat_interleave(len(corners), dim=0)
                for k, (r, c) in enumerate(corners):
                    covered[k::len(corners), :, r:r + patch, c:c + patch] = fill
                out = model(covered)[torch.arange(len(covered), device=device),
                                     label.repeat_interleave(len(corners))]
                logits.append(out.float().cpu().reshape(len(x), len(rows), len(cols)))
    finally:
        model.train(was_training)
    if not logits:
        raise ValueError("occlusion_drops needs at least one input")
    base = torch.cat(baseline)
    return Occlusion(drops=base[:, None, None] - torch.cat(logits), baseline=base, patch=patch, stride=stride,
                     image_size=(height, width))


def window_means(values: torch.Tensor, patch: int, stride: int) -> torch.Tensor:
    """Mean of ``values`` (N, H, W) under every patch position of :func:`occlusion_drops`: (N, P, Q).

    With an upsampled class map, it is the map's value where each patch covered the image, so it lines up
    with :attr:`Occlusion.drops` position by position. Explained in chapter 6.
    """
    if values.ndim != 3:
        raise ValueError(f"expected (N, H, W), got {tuple(values.shape)}")
    return F.avg_pool2d(values.float()[:, None], kernel_size=patch, stride=stride)[:, 0]


def rank_agreement(x: torch.Tensor, y: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Spearman's rank correlation between ``x[n]`` and ``y[n]`` for every n: (N,), from ``scipy.stats.spearmanr``.

    ``x`` and ``y`` have the same shape (N, ...); each image's values are flattened. ``keep`` (bool, same shape)
    limits each image to some positions (for instance the patches on the garment). +1: the two rank the
    positions in the same order; 0: no relation; NaN where fewer than 3 positions are kept or either side is
    constant (no ranking to compare). Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if x.shape != y.shape or x.ndim < 2:
        raise ValueError(f"need two tensors of the same shape (N, ...), got {tuple(x.shape)} and {tuple(y.shape)}")
    if keep is not None and keep.shape != x.shape:
        raise ValueError(f"keep must have the shape of x, {tuple(x.shape)}, got {tuple(keep.shape)}")
    a, b = x.reshape(len(x), -1).double().numpy(), y.reshape(len(y), -1).double().numpy()
    kept = (torch.ones_like(x, dtype=torch.bool) if keep is None else keep.bool()).reshape(len(x), -1).numpy()
    out = torch.full((len(x),), float("nan"), dtype=torch.float64)
    for n in range(len(x)):
        u, v = a[n][kept[n]], b[n][kept[n]]
        if len(u) < 3 or u.min() == u.max() or v.min() == v.max():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[n] = float(spearmanr(u, v)[0])  # the correlation (first field on every scipy version)
    return out


def cell_gradient_map(model: nn.Module, inputs: torch.Tensor, classes: torch.Tensor, cell: tuple[int, int],
                      layer: str = "block4", batch_size: int = 100) -> torch.Tensor:
    """Mean |∂ map cell / ∂ input pixel| over the inputs: the cell's *effective* receptive field, (H, W).

    For each input n the cell is ``layer``'s output at channel ``classes[n]``, position ``cell`` (row, column);
    the absolute gradients are summed over input channels and averaged over inputs. Eval mode.
    Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    modules = dict(model.named_modules())
    if layer not in modules:
        raise ValueError(f"the model has no layer named {layer!r}")
    if inputs.ndim != 4 or classes.shape != inputs.shape[:1]:
        raise ValueError(f"need inputs (N, C, H, W) and one class per input, got {tuple(inputs.shape)} "
                         f"and {tuple(classes.shape)}")
    captured: list[torch.Tensor] = []
    handle = modules[layer].register_forward_hook(lambda _m, _i, out: captured.append(out))
    device = _device(model)
    was_training = model.training
    model.eval()
    total = torch.zeros(inputs.shape[-2:], dtype=torch.float64)
    try:
        for start in range(0, len(inputs), batch_size):
            captured.clear()
            x = inputs[start:start + batch_size].to(device).clone().requires_grad_(True)
            label = classes[start:start + batch_size].to(device).long()
            model(x)
            out = captured[-1]
            out[torch.arange(len(x), device=device), label, cell[0], cell[1]].sum().backward()
            total += x.grad.abs().sum(dim=1).sum(dim=0).double().cpu()
    finally:
        handle.remove()
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    return (total / len(inputs)).float()


def mass_within_squares(weights: torch.Tensor, centre: tuple[float, float], sides: list[int]) -> list[float]:
    """Share of the total of ``weights`` (H, W, non-negative) inside squares of the given ``sides`` around ``centre``.

    A square of side s around (r, c), in pixel coordinates (a pixel's centre is its index; a centre between
    pixels is x.5), holds the pixels with |row − r| < s/2 and |column − c| < s/2: 26 pixels a side for s = 26
    around 13.5. Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    if weights.ndim != 2:
        raise ValueError(f"expected weights (H, W), got {tuple(weights.shape)}")
    w = weights.double().clamp(min=0)
    total = w.sum()
    if total <= 0:
        raise ValueError("the weights are zero everywhere: no mass to locate")
    rows = (torch.arange(w.shape[0], dtype=torch.float64) - centre[0]).abs()
    cols = (torch.arange(w.shape[1], dtype=torch.float64) - centre[1]).abs()
    shares = []
    for side in sides:
        inside = (rows[:, None] < side / 2) & (cols[None, :] < side / 2)
        shares.append(float((w * inside).sum() / total))
    return shares
