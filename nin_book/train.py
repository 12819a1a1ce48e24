"""The trainer: SGD with Nesterov momentum and a one-cycle schedule, batches from device memory,
mixed precision by the GPU's capability (bf16, or fp16 with loss scaling; fp32 on the CPU), channels-last,
a NaN guard, a watch for the stall at loss ln 10, atomic checkpoints and resume.

Use it from Python (``train_preset``, ``fit``, ``evaluate``, ``predict``) or from the shell::

    python -m nin_book.train --preset cpu --checkpoint /tmp/cpu.pt --metrics-out /tmp/cpu.json

Explained in chapter 5, "Training NiN on Fashion-MNIST".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.distributed.elastic.multiprocessing.errors import record
from tqdm.auto import tqdm

from nin_book import distributed
from nin_book.batches import DeviceBatches
from nin_book.checkpoint import (
    OutputInUseError,
    atomic_write_bytes,
    checkpoint_config,
    load_checkpoint,
    load_weights,
    lock_output,
    output_problem,
    save_checkpoint,
)
from nin_book.data import FashionMNIST, load_fashion_mnist
from nin_book.presets import MAX_SEED, PRESET_NAMES, TrainConfig, build_model, default_preset, get_preset
from nin_book.results import RESULTS_DIR, cpu_model, in_results_dir
from nin_book.shapes import ShapeError, trace
from nin_book.stall_watch import ON_STALL, STALL_WINDOW, StallWatch, stall_advice

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "EpochRecord",
    "Terminated",
    "TrainResult",
    "TrainingDiverged",
    "TrainingStalled",
    "build_parser",
    "device_name",
    "evaluate",
    "fit",
    "gpu_settings",
    "gpu_supports_bf16",
    "main",
    "predict",
    "resolve_device",
    "select_precision",
    "train_preset",
]

# On CUDA the NaN check reads back only every this many steps; the first bad step is recorded on the device.
NAN_CHECK_EVERY = 50
# The CLI's exit status when a run is stopped: 128 + the signal's number, as a shell reports a process the signal
# killed. Ctrl-C is SIGINT (2); SIGTERM (15) is what timeout, kill, Slurm and Docker send.
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while training: handled exactly as Ctrl-C is (the run stops at a safe point, the checkpoint
    keeps the last finished epoch, the history so far is returned). Explained in chapter 5."""


@contextlib.contextmanager
def _sigterm_stops_training() -> Any:
    """While the block runs, SIGTERM raises :class:`Terminated` (a ``KeyboardInterrupt``) instead of killing the
    process; the previous handler is put back afterwards. Outside the main thread, where Python cannot set a
    handler, SIGTERM keeps its old meaning."""
    def stop(signum: int, frame: Any) -> None:
        raise Terminated("SIGTERM")

    previous: Any = None
    installed = False
    if threading.current_thread() is threading.main_thread():
        try:
            previous = signal.signal(signal.SIGTERM, stop)
            installed = True
        except (ValueError, OSError):  # not the main interpreter, or no SIGTERM on this platform
            pass
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _stopped_by(err: BaseException) -> str:
    return "SIGTERM" if isinstance(err, Terminated) else "SIGINT"


def _stop_words(err: BaseException) -> str:
    return "stopped by SIGTERM" if isinstance(err, Terminated) else "interrupted (Ctrl-C)"


def _stop_status(err: BaseException) -> int:
    return EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite. ``result`` holds the history up to the last good epoch."""

    def __init__(self, message: str, result: TrainResult) -> None:
        super().__init__(message)
        self.result = result


class TrainingStalled(TrainingDiverged):
    """The loss sat at ln(number of classes) with the same logits for every image for
    :data:`~nin_book.stall_watch.STALL_WINDOW` steps: the output stopped depending on the input (the stall chapter 7
    measures). A :class:`TrainingDiverged`, so code that catches divergence catches this too; ``result.stall_step``
    is the step it was recognised at. Explained in chapter 5 (Solution 2) and chapter 7."""


@dataclass
class EpochRecord:
    """One epoch of history. ``images_per_second`` counts training images over training time only;
    ``epoch_seconds`` is that training time; ``wall_seconds`` is the time since training started,
    evaluation included."""

    epoch: int
    images: int
    train_loss: float
    train_accuracy: float
    test_accuracy: float
    images_per_second: float
    epoch_seconds: float
    wall_seconds: float
    lr: float


@dataclass
class TrainResult:
    """What :func:`fit` returns: the config, the per-epoch history and the headline numbers.

    ``status`` is ``"completed"``, ``"interrupted"`` (Ctrl-C or SIGTERM, named in ``stopped_by``: the history so
    far is kept), ``"diverged"`` or ``"stalled"``; ``stall_step`` is the step at which the stall watch fired (also
    when it only warned), else None. ``wall_seconds`` is this call's wall time (a resumed run's history keeps counting
    from the earlier run's). Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """

    config: TrainConfig
    device: str
    device_name: str
    torch_version: str = torch.__version__
    history: list[EpochRecord] = field(default_factory=list)
    status: str = "completed"
    message: str = ""
    resumed_from_epoch: int = 0
    wall_seconds: float = 0.0
    checkpoint: str | None = None
    precision: str = "fp32"
    stopped_by: str | None = None  # "SIGINT" (Ctrl-C) or "SIGTERM" when status is "interrupted"
    stall_step: int | None = None
    # Under torchrun: world_size, backend and batch_size_per_rank (the appendix, "Training on several GPUs").
    distributed: dict[str, Any] | None = None

    @property
    def final_test_accuracy(self) -> float | None:
        """Test accuracy after the last completed epoch (``None`` before the first)."""
        return self.history[-1].test_accuracy if self.history else None

    @property
    def images_per_second(self) -> float | None:
        """Training throughput over all recorded epochs: training images over training seconds."""
        seconds = sum(r.epoch_seconds for r in self.history)
        return sum(r.images for r in self.history) / seconds if seconds else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: config, device, torch version, history and headline numbers."""
        return {
            "status": self.status,
            "message": self.message,
            "config": self.config.to_dict(),
            "device": self.device,
            "device_name": self.device_name,
            "torch_version": self.torch_version,
            "precision": self.precision,
            "final_test_accuracy": self.final_test_accuracy,
            "images_per_second": self.images_per_second,
            "wall_seconds": self.wall_seconds,
            "epochs_completed": len(self.history),
            "resumed_from_epoch": self.resumed_from_epoch,
            "checkpoint": self.checkpoint,
            "stopped_by": self.stopped_by,
            "stall_step": self.stall_step,
            "history": [vars(r) for r in self.history],
        } | ({} if self.distributed is None else {"distributed": self.distributed})


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → the GPU if torch sees one, else the CPU. Asking for ``"cuda"`` without a GPU raises
    ``ValueError`` saying how to fix it. Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    spec = str(spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for, but torch sees no CUDA GPU "
                         "(torch.cuda.is_available() is False); use device cpu or auto")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {spec!r}")
    return device


def device_name(device: torch.device) -> str:
    """A human-readable name of the device: the GPU model, or the CPU model and thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = cpu_model()
    return f"{model} ({os.cpu_count()} logical cores, torch uses {torch.get_num_threads()} threads)"


def select_precision(requested: str, device_type: str, bf16_supported: bool) -> str:
    """The arithmetic a run uses: ``"bf16"``, ``"fp16"`` or ``"fp32"``.

    ``"auto"`` picks bf16 autocast on a GPU that supports it (same exponent range as fp32: no loss
    scaling needed), fp16 autocast with a gradient scaler on one that does not (Colab's free T4), and fp32
    on the CPU (exact, portable results). Asking for bf16 or fp16 on the CPU, or bf16 on a GPU without it,
    raises ``ValueError`` naming the fix. Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    if requested == "auto":
        if device_type != "cuda":
            return "fp32"
        return "bf16" if bf16_supported else "fp16"
    if requested in ("bf16", "fp16") and device_type != "cuda":
        raise ValueError(f"precision {requested} needs a CUDA GPU; on the {device_type} use precision auto or fp32")
    if requested == "bf16" and not bf16_supported:
        raise ValueError("this GPU does not support bfloat16; use precision auto (fp16 with loss scaling) or fp32")
    if requested not in ("fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {requested!r}")
    return requested


# cuDNN runs bf16 convolutions only from compute capability 8.0 (Ampere). torch.cuda.is_bf16_supported() says True
# below that too (it counts emulation), which would put a T4 (7.5) on a slow path without tensor cores.
BF16_CAPABILITY = (8, 0)


def gpu_supports_bf16(device: torch.device) -> bool:
    """Whether ``device`` (a CUDA device) runs bfloat16 natively: compute capability 8.0 or higher, read from the
    device itself (not the current GPU). Explained in the appendix, "How the trainer is fast"."""
    return device.type == "cuda" and tuple(torch.cuda.get_device_capability(device)) >= BF16_CAPABILITY


def _precision(config_precision: str, device: torch.device) -> str:
    return select_precision(config_precision, device.type, gpu_supports_bf16(device))


def _autocast(device: torch.device, precision: str = "auto") -> contextlib.AbstractContextManager:
    # A resolved precision (what fit passes every step) is used as it is; "auto" is resolved here, once per call.
    chosen = precision if precision in ("fp32", "bf16", "fp16") else _precision(precision, device)
    if chosen == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if chosen == "bf16" else torch.float16)


@contextlib.contextmanager
def gpu_settings(device: torch.device, precision: str) -> Any:
    """On CUDA, within the block: cuDNN's autotuner on (fixed input size) and, for ``precision="fp32"``, TF32 off so
    that fp32 means fp32; the process's own settings are restored afterwards. Nothing on the CPU. ``fit`` trains
    under it, and ``benchmarks/throughput.py`` runs the classic pipeline under the same settings. Explained in the
    appendix, "How the trainer is fast"."""
    if device.type != "cuda":
        yield
        return
    saved = (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.benchmark = True
    if precision == "fp32":
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32,
         torch.backends.cuda.matmul.allow_tf32) = saved


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig,
               steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    total = config.epochs * steps_per_epoch
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=total, pct_start=config.warmup_fraction,
            anneal_strategy="cos", cycle_momentum=False, div_factor=25.0, final_div_factor=1e3)
    if config.schedule == "cosine":
        warmup = max(1, round(config.warmup_fraction * total))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _logits(model: nn.Module, images: torch.Tensor, config_resolution: int, device: torch.device,
            batch_size: int, precision: str = "auto") -> torch.Tensor:
    batches = DeviceBatches(images, torch.zeros(len(images), dtype=torch.int64), batch_size=batch_size,
                            resolution=config_resolution, device=device, channels_last=True)
    was_training = model.training
    home = next(model.parameters()).device
    model.eval()
    out = []
    try:
        model.to(device)  # an explicit device= moves the model there for the call, and back afterwards
        with torch.inference_mode(), _autocast(device, precision):
            for x, _ in batches:
                out.append(model(x).float())
    finally:
        model.to(home)
        model.train(was_training)
    return torch.cat(out)


def predict(model: nn.Module, images: torch.Tensor, *, resolution: int = 28, batch_size: int = 1024,
            device: str | torch.device | None = None, logits: bool = False, precision: str = "auto") -> torch.Tensor:
    """Predicted labels (int64) — or, with ``logits=True``, the raw scores (N, classes) — for uint8 images
    (N, 28, 28), prepared exactly as in training. Results are returned on the CPU.

    ``device=None`` uses the device the model's parameters are on. Explained in chapter 6, "Reading NiN's class confidence maps".
    """
    dev = next(model.parameters()).device if device is None else resolve_device(device)
    scores = _logits(model, images, resolution, dev, batch_size, precision)
    return (scores if logits else scores.argmax(1)).cpu()


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, resolution: int = 28,
             batch_size: int = 1024, device: str | torch.device | None = None, precision: str = "auto") -> float:
    """Accuracy of ``model`` on uint8 ``images`` (N, 28, 28) with int64 ``labels`` (N,) (a float in [0, 1]).

    Labels of another shape or length raise ``ValueError`` naming both shapes, as
    :func:`nin_book.evaluate.accuracy` does. Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise ValueError(f"images and labels must be tensors, got {type(images).__name__} and {type(labels).__name__}")
    if labels.ndim != 1 or images.ndim < 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"labels of shape {tuple(labels.shape)} do not match images of shape {tuple(images.shape)}; "
                         f"pass one label per image, shape ({images.shape[0] if images.ndim else 0},)")
    if labels.numel() == 0:
        raise ValueError("no images given: evaluate needs at least one image and its label")
    dev = next(model.parameters()).device if device is None else resolve_device(device)
    scores = _logits(model, images, resolution, dev, batch_size, precision)
    return (scores.argmax(1) == labels.to(dev)).float().mean().item()


def fit(
    model: nn.Module,
    data: FashionMNIST,
    config: TrainConfig,
    *,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = True,
    progress: bool = True,
    on_epoch_end: Callable[[EpochRecord], None] | None = None,
    on_stall: str = "stop",
) -> TrainResult:
    """Train ``model`` (any classifier from (N, 1, R, R) images to class scores) on ``data`` with ``config``.

    - SGD with Nesterov momentum, weight decay and the ``config.schedule`` learning-rate schedule;
      cross-entropy with optional label smoothing; seeded from ``config.seed``.
    - On CUDA: bf16 autocast where the GPU supports it, else fp16 with a gradient scaler (``config.precision``
      can force fp32), and channels-last memory; on CPU: plain fp32. ``config.compile`` wraps the
      model in ``torch.compile``.
    - ``checkpoint``: after every epoch the state is saved there atomically; with ``resume=True`` an
      existing checkpoint of the same config is loaded and training continues from its epoch
      (``resume=False`` trains afresh over it). While training, the checkpoint is locked: another
      process training into it gets :class:`~nin_book.checkpoint.OutputInUseError` naming this one.
    - A NaN or infinite loss raises :class:`TrainingDiverged` naming the step (lower the learning rate).
    - The stall at loss ln 10 (for 50 steps the loss at ln(classes) and the logits the same for every image:
      :class:`~nin_book.stall_watch.StallWatch`) raises :class:`TrainingStalled`, naming the fixes chapter 7
      measured; ``on_stall="warn"`` warns once (``RuntimeWarning``) and trains on, ``"off"`` does not watch.
    - Ctrl-C (``KeyboardInterrupt``) stops training and returns the result with ``status="interrupted"``;
      the checkpoint keeps the last epoch whose save finished, and the message names it. SIGTERM (what
      ``timeout``, ``kill``, Slurm and Docker send) is handled the same way while ``fit`` runs in the main thread
      (``stopped_by`` says which); the previous SIGTERM handler is restored when it returns.
    - A checkpoint inside ``nin_book/results/`` (the committed runs) is refused: train elsewhere and publish.
    - ``on_epoch_end`` is called with each epoch's record (after the checkpoint is written).
    - Under ``torchrun`` (the command line, or a script that called :func:`nin_book.distributed.start`), each process
      trains its shard of every global batch with DistributedDataParallel; rank 0 evaluates and writes the
      checkpoint, every rank resumes from it (the appendix, "Training on several GPUs").
    - A ``checkpoint`` that is a directory or not a regular file (a device node such as ``/dev/null``), or in a
      folder that cannot be written, raises ``ValueError`` before training, as the command line refuses it.

    Returns a :class:`TrainResult`; ``model`` itself is trained in place.
    Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    if on_stall not in ON_STALL:
        raise ValueError(f"on_stall must be one of {', '.join(ON_STALL)}, got {on_stall!r}")
    if checkpoint is not None:  # a directory, a device node or an unwritable folder: refused before training
        problem = _output_problem("checkpoint", Path(checkpoint))
        if problem:
            raise ValueError(problem)
    if checkpoint is not None and in_results_dir(checkpoint):
        raise ValueError(f"checkpoint {checkpoint} is inside {RESULTS_DIR}, which holds the book's committed runs; "
                         "train into another folder and publish the finished run with python -m nin_book.results publish")
    with contextlib.ExitStack() as stack:
        if checkpoint is not None:
            _lock_on_rank0(stack, [("checkpoint", Path(checkpoint))])
        stack.enter_context(_sigterm_stops_training())
        device = resolve_device(config.device)
        stack.enter_context(gpu_settings(device, _precision(config.precision, device)))
        try:
            return _fit(model, data, config, checkpoint, resume, progress, on_epoch_end, on_stall)
        except torch.OutOfMemoryError:
            raise torch.OutOfMemoryError(
                f"the {device.type} ran out of memory training batches of {config.batch_size} images at "
                f"{config.resolution}×{config.resolution}; lower batch_size (--batch-size) or resolution (--resolution)"
                + ("" if checkpoint is None else f"; the checkpoint {checkpoint} keeps the last finished epoch")
            ) from None


def _fit(model: nn.Module, data: FashionMNIST, config: TrainConfig, checkpoint: str | os.PathLike | None, resume: bool,
         progress: bool, on_epoch_end: Callable[[EpochRecord], None] | None, on_stall: str = "stop") -> TrainResult:
    start = time.perf_counter()
    device = resolve_device(config.device)
    result = TrainResult(config=config, device=str(device), device_name=device_name(device),
                         checkpoint=None if checkpoint is None else str(checkpoint))
    group = distributed.current()  # None unless started by torchrun: then this process trains one shard
    if group is not None:
        problem = distributed.batch_problem(config.batch_size, group.world_size)
        if problem:
            raise ValueError(problem)
        result.distributed = {"world_size": group.world_size, "backend": group.backend,
                              "batch_size_per_rank": config.batch_size // group.world_size}
        progress = progress and group.rank == 0

    # Channels-last (NHWC) memory: faster convolutions on tensor cores, and measured ~25% faster
    # training steps on the 2-core CPU too (oneDNN); it changes layout, not results' precision.
    model.to(device=device, memory_format=torch.channels_last)
    options: dict[str, Any] = dict(resolution=config.resolution, device=device, shuffle=True, seed=config.seed,
                                   limit=config.train_limit, flip=config.flip, drop_last=True, channels_last=True)
    train_batches = (DeviceBatches(data.train_images, data.train_labels, batch_size=config.batch_size, **options)
                     if group is None else distributed.ShardedBatches(
                         data.train_images, data.train_labels, rank=group.rank, world_size=group.world_size,
                         batch_size=config.batch_size // group.world_size, **options))
    if len(train_batches) == 0:
        raise ValueError(f"batch_size {config.batch_size} is larger than the {len(train_batches.images)} training images")
    test_images = data.test_images if config.test_limit is None else data.test_images[:config.test_limit]
    test_labels = data.test_labels[:len(test_images)]

    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                nesterov=config.nesterov and config.momentum > 0, weight_decay=config.weight_decay)
    scheduler = _scheduler(optimizer, config, len(train_batches))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    result.precision = _precision(config.precision, device)
    # fp16 has a narrow exponent range: scale the loss so small gradients do not flush to zero.
    scaler = torch.amp.GradScaler(device.type, enabled=result.precision == "fp16")

    # Dropout masks (each rank its own); restored from the checkpoint when resuming.
    torch.manual_seed(config.seed + (0 if group is None else group.rank))
    first_epoch = 0
    saved_epoch: int | None = None  # the epoch the checkpoint file holds, for the Ctrl-C message
    if checkpoint is not None and resume and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, map_location=device)
        missing = [key for key in ("optimizer", "scheduler", "rng", "history") if key not in state]
        if missing:
            raise ValueError(f"checkpoint {checkpoint} holds published weights only (no {', '.join(missing)} state), which "
                             "cannot be resumed; train afresh over it with --fresh (resume=False in Python), or give "
                             "another --checkpoint")
        checkpoint_config(state, checkpoint)  # a config or epoch that does not describe a run: one line, not a traceback
        diff = _settings_differ(state, config, device)
        if diff:
            raise ValueError(f"checkpoint {checkpoint} was written with different settings ({', '.join(diff)}); "
                             "pass the same settings, or train afresh over it (--fresh on the command line, "
                             "resume=False in Python)")
        saved_precision = state.get("precision")
        if saved_precision is not None and saved_precision != result.precision:
            raise ValueError(f"checkpoint {checkpoint} was trained in {saved_precision}, and this device ({result.device_name}) "
                             f"would go on in {result.precision}; resume on a device with the same precision, or train "
                             "afresh over it (--fresh on the command line, resume=False in Python)")
        load_weights(model, state["model"], checkpoint)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _restore_random_state(state, device, group)
        if state.get("scaler"):  # fp16: go on with the loss scale reached, not 65536 again
            scaler.load_state_dict(state["scaler"])
        result.history = [EpochRecord(**r) for r in state["history"]]
        first_epoch = result.resumed_from_epoch = saved_epoch = state["epoch"]

    watch = None if on_stall == "off" else StallWatch(device)
    train_model = model if group is None else group.wrap(model)  # DDP: gradients averaged over the ranks
    step_model = torch.compile(train_model) if config.compile else train_model
    wall_offset = result.history[-1].wall_seconds if result.history else 0.0
    epochs = tqdm(range(first_epoch, config.epochs), desc="epochs", initial=first_epoch, total=config.epochs,
                  disable=not progress, unit="epoch")
    try:
        for epoch in epochs:
            record = _train_epoch(step_model, model, train_batches, optimizer, scheduler, scaler, loss_fn, epoch,
                                  config, device, progress, result, watch, on_stall, group)
            # The uncompiled model: evaluation batches (inference mode, a short last batch) would recompile it.
            # Under torchrun rank 0 evaluates the weights it saves, once, and tells the others.
            if group is None or group.rank == 0:
                record.test_accuracy = evaluate(model, test_images, test_labels, resolution=config.resolution,
                                                batch_size=config.eval_batch_size, device=device,
                                                precision=config.precision)
            if group is not None:
                record.test_accuracy = group.from_rank0(record.test_accuracy)
            record.wall_seconds = wall_offset + time.perf_counter() - start
            result.history.append(record)
            epochs.set_postfix(loss=f"{record.train_loss:.3f}", test_acc=f"{record.test_accuracy:.4f}")
            if checkpoint is not None:
                rng = _random_state(device)
                if group is not None:  # each rank's generators, so that every rank resumes its own dropout masks
                    rng["rank_rng"] = group.gather(rng["rng"])
                if group is None or group.rank == 0:
                    save_checkpoint(checkpoint, {
                        "config": config.to_dict(), "epoch": epoch + 1, "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        **rng, "history": [vars(r) for r in result.history],
                        "device": device.type, "precision": result.precision, "scaler": scaler.state_dict(),
                    })
                saved_epoch = epoch + 1
            if on_epoch_end is not None:
                on_epoch_end(record)
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (Terminated)
        result.status = "interrupted"
        result.stopped_by = _stopped_by(err)
        done = len(result.history)
        # Ctrl-C during a save leaves the previous file: name the epoch the checkpoint really holds.
        if checkpoint is None:
            kept = ""
        elif saved_epoch is None:
            kept = f"; no checkpoint was written to {checkpoint} yet"
        else:
            kept = f" and the checkpoint {checkpoint}, which holds epoch {saved_epoch} (run again to resume from there)"
        how = "stopped by SIGTERM" if result.stopped_by == "SIGTERM" else "interrupted"
        result.message = f"{how} after {done} of {config.epochs} epochs; kept their history{kept}"
    finally:
        epochs.close()
        result.wall_seconds = time.perf_counter() - start
    return result


def _random_state(device: torch.device) -> dict[str, torch.Tensor | None]:
    """The generators a resumed run must continue: the CPU's (shuffling, flips), and on CUDA the device's own
    (dropout masks drawn on the GPU), as CPU byte tensors for the checkpoint."""
    return {"rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device).cpu() if device.type == "cuda" else None}


def _restore_random_state(state: dict[str, Any], device: torch.device,
                          group: distributed.DataParallel | None = None) -> None:
    torch.set_rng_state((state["rng"] if group is None else group.own_rng(state)).cpu())
    if device.type == "cuda" and state.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)


def _settings_differ(state: dict[str, Any], config: TrainConfig, device: torch.device) -> list[str]:
    """The config fields in which a checkpoint differs from ``config``. The device is compared as resolved
    (``auto`` on a CPU-only machine is ``cpu``), since that, not its spelling, decides the numbers."""
    saved, current = state["config"], config.to_dict()
    diff = sorted(k for k in set(saved) | set(current) if k != "device" and saved.get(k) != current.get(k))
    saved_device = state.get("device")
    if saved_device is None:  # checkpoints from before the resolved device was stored
        try:
            saved_device = resolve_device(saved.get("device", "auto")).type
        except ValueError:
            saved_device = str(saved.get("device"))
    if saved_device != device.type:
        diff.append("device")
    return diff


def _train_epoch(step_model: nn.Module, model: nn.Module, batches: DeviceBatches, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler, loss_fn: nn.Module,
                 epoch: int, config: TrainConfig, device: torch.device, progress: bool,
                 result: TrainResult, watch: StallWatch | None = None, on_stall: str = "stop",
                 group: distributed.DataParallel | None = None) -> EpochRecord:
    # Under torchrun every check is a collective (all ranks stop at the same step): not every step on the CPU either.
    check_every = _nan_check_interval(device) if group is None else NAN_CHECK_EVERY
    steps = len(batches)
    batches.set_epoch(epoch)
    model.train()
    # Running sums stay on the device: reading them back every step would stall a GPU.
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    first_bad = torch.full((), -1, dtype=torch.int64, device=device)
    bad_loss = torch.zeros((), device=device)  # the loss at first_bad, kept on the device as well
    _sync(device)
    t0 = time.perf_counter()
    bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", total=steps, leave=False, disable=not progress,
               unit="batch")
    for i, (x, y) in enumerate(bar):
        step = epoch * steps + i + 1  # 1-based global step, as a reader counts
        with _autocast(device, result.precision):  # resolved once per run by fit
            logits = step_model(x)
        loss = loss_fn(logits.float(), y)
        newly_bad = ~torch.isfinite(loss) & (first_bad < 0)
        bad_loss = torch.where(newly_bad, loss.detach().float(), bad_loss)
        first_bad.masked_fill_(newly_bad, step)  # stays on the device: no stall
        if watch is not None and result.stall_step is None:
            watch.update(step, loss, logits)
        if (i + 1) % check_every == 0 or i + 1 == steps:
            if group is not None:  # the earliest bad step or stall of any rank, the same on every rank
                first_bad, bad_loss = group.earliest(first_bad, bad_loss)
                if watch is not None and result.stall_step is None:
                    watch.first_step = group.earliest(watch.first_step, watch.first_step)[0]
            _raise_if_diverged(int(first_bad), bad_loss, config, result)
            if watch is not None and result.stall_step is None:
                _check_stall(watch, logits.shape[1], config, result, on_stall)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()  # without fp16 the scaler is disabled and this is loss.backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
    _sync(device)
    seconds = time.perf_counter() - t0
    bar.close()
    n = batches.num_images
    if group is not None:  # the epoch's numbers over the global batches, as one process would count them
        group.total(loss_sum), group.total(correct)
        n *= group.world_size
    return EpochRecord(epoch=epoch + 1, images=n, train_loss=loss_sum.item() / n, train_accuracy=correct.item() / n,
                       test_accuracy=float("nan"), images_per_second=n / seconds, epoch_seconds=seconds,
                       wall_seconds=0.0, lr=optimizer.param_groups[0]["lr"])


def _nan_check_interval(device: torch.device) -> int:
    # Reading a value back stalls a GPU's queue, so on CUDA check every NAN_CHECK_EVERY steps (the bad step
    # is still named exactly); on the CPU there is no queue to stall, so check every step.
    return NAN_CHECK_EVERY if device.type == "cuda" else 1


def _raise_if_diverged(step: int, loss: torch.Tensor, config: TrainConfig, result: TrainResult) -> None:
    if step < 0:
        return
    result.status = "diverged"
    result.message = (f"the training loss became {loss.item()} at step {step}; lower the learning rate "
                      f"(it was {config.lr:g}, try {config.lr / 10:g}) and train again")
    raise TrainingDiverged(f"Training stopped: {result.message}.", result)


def _check_stall(watch: StallWatch, classes: int, config: TrainConfig, result: TrainResult, on_stall: str) -> None:
    step = watch.fired_at()
    if step is None:
        return
    result.stall_step = step
    detected = (f"for {STALL_WINDOW} steps in a row (steps {step - STALL_WINDOW + 1}-{step}) the training loss sat at "
                f"ln {classes} = {math.log(classes):.4f} with the same logits for every image: the output no longer "
                f"depends on the input (the stall chapter 7 measures)")
    if on_stall == "warn":
        warnings.warn(f"{detected}; training goes on (on_stall='warn'); {stall_advice(config.lr)}", RuntimeWarning,
                      stacklevel=2)
        return
    result.status = "stalled"
    result.message = f"{detected}; {stall_advice(config.lr)}; to train on anyway: on_stall='warn' (--on-stall warn)"
    raise TrainingStalled(f"Training stopped: {result.message}.", result)


def train_preset(
    preset: str | None = None,
    *,
    data: FashionMNIST | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = True,
    progress: bool = True,
    on_stall: str = "stop",
    **overrides: Any,
) -> tuple[nn.Module, TrainResult]:
    """Build and train the NiN of a preset; returns ``(trained model, TrainResult)``.

    ``preset=None`` picks one for the device (``$NIN_BOOK_PRESET`` overrides; the test suite sets
    ``smoke``). Keyword ``overrides`` change config fields, e.g. ``epochs=3`` or ``lr=0.05``.
    ``data`` defaults to :func:`nin_book.data.load_fashion_mnist`; ``on_stall`` as in :func:`fit`. Progress bars come from
    ``tqdm.auto`` (widgets in a notebook). Explained in chapter 5, "Training NiN on Fashion-MNIST".
    """
    name = preset or default_preset(overrides.get("device"))
    config = get_preset(name).replace(**overrides)
    model = build_model(config)
    # The command line's check, before any data is loaded: a batch that cannot fit is a message, not an OOM.
    problem = _memory_problem(model, config, resolve_device(config.device))
    if problem:
        raise ValueError(problem.replace("--resolution", "resolution").replace("--batch-size", "batch_size"))
    result = fit(model, data if data is not None else load_fashion_mnist(), config,
                 checkpoint=checkpoint, resume=resume, progress=progress, on_stall=on_stall)
    return model, result


# --- Command line -------------------------------------------------------------------------------------

class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage block, no traceback)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        launch = distributed.Launch.from_env()
        if launch is not None and launch.rank != 0:
            # Under torchrun every rank finds the same fault: rank 0 says it, once, and exits first; the launcher
            # then stops the others (this wait is only the fallback).
            time.sleep(LAUNCH_ERROR_WAIT)
            self.exit(2)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive(kind: type, at_most: float | None = None) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}") from None
        if not value > 0 or (kind is float and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        if at_most is not None and value > at_most:
            raise argparse.ArgumentTypeError(f"must be at most {at_most:g}, got {text}")
        return value
    return parse


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {MAX_SEED}, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_SEED} (2**32 - 1), got {text}")
    return value


# Seconds the other ranks wait after a bad argument under torchrun, so that rank 0's line is the one reported.
LAUNCH_ERROR_WAIT = 10.0
# Learning rates far above 1 only diverge, and from ~1e38 on they overflow float32 inside the optimiser
# (a traceback, not the NaN guard's message): refuse them as arguments.
MAX_LR = 1000.0


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m nin_book.train`` argument parser. Explained in chapter 5."""
    p = _OneLineParser(prog="python -m nin_book.train",
                       description="Train NiN on Fashion-MNIST with a preset and write the metrics as JSON.")
    p.add_argument("--preset", choices=PRESET_NAMES, default=None,
                   help="settings to start from (default: $NIN_BOOK_PRESET, else seed224 on a GPU and cpu otherwise)")
    p.add_argument("--epochs", type=_positive(int))
    p.add_argument("--batch-size", type=_positive(int))
    p.add_argument("--lr", type=_positive(float, at_most=MAX_LR), help=f"peak learning rate (at most {MAX_LR:g})")
    p.add_argument("--resolution", type=_positive(int), help="image side in pixels after resizing")
    p.add_argument("--train-limit", type=_positive(int), help="train on the first N images only")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--seed", type=_seed, help=f"random seed, a whole number from 0 to {MAX_SEED} (2**32 - 1)")
    p.add_argument("--compile", action="store_true", default=None, help="wrap the model in torch.compile")
    p.add_argument("--checkpoint", help="save a checkpoint there after every epoch and resume from it if present "
                                        "(locked while training: a second run on it is refused)")
    p.add_argument("--fresh", action="store_true",
                   help="do not resume: train from the start and overwrite the --checkpoint after the first epoch")
    p.add_argument("--on-stall", choices=ON_STALL, default="stop",
                   help="when the loss sits at ln 10 with the output ignoring the input for 50 steps (the stall "
                        "of chapter 7): stop with a message (default), warn and train on, or do not watch")
    p.add_argument("--metrics-out", required=True, help="where to write the metrics JSON")
    return p


def _output_problem(flag: str, path: Path) -> str | None:
    """Why ``path`` cannot be written (checked before training, so that no run's results are lost), or None:
    :func:`nin_book.checkpoint.output_problem`."""
    return output_problem(flag, path)


def _memory_problem(model: nn.Module, config: TrainConfig, device: torch.device) -> str | None:
    """A one-line refusal when one training batch's activations cannot fit in the device's memory."""
    rows = trace(model, (1, config.resolution, config.resolution))  # on the meta device: nothing is allocated
    values = config.batch_size * (config.resolution ** 2 + sum(math.prod(r.output_shape) for r in rows))
    # Training keeps every activation for the backward pass and makes a gradient of the same size: about twice the
    # forward activations, at 2 bytes a value under bf16/fp16 autocast and 4 in fp32.
    bytes_per_value = 2 if _precision(config.precision, device) in ("bf16", "fp16") else 4
    need = 2 * values * bytes_per_value
    if device.type == "cuda":
        have = torch.cuda.mem_get_info(device)[0]  # free now, not the card's total: other processes hold some
    else:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if need <= have:
        return None
    return (f"a batch of {config.batch_size} images at {config.resolution}×{config.resolution} needs about "
            f"{need / 1e9:,.0f} GB for its activations and their gradients, more than the {have / 1e9:,.0f} GB of "
            f"{device.type} memory {'free' if device.type == 'cuda' else 'in the machine'}; "
            "lower --resolution or --batch-size")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status: 0 done; 1 diverged, data missing or an output in use; 2 a bad argument;
    130 (``EXIT_INTERRUPTED``) stopped by Ctrl-C and 143 (``EXIT_TERMINATED``) stopped by SIGTERM, after writing the
    metrics of the finished epochs (the checkpoint keeps the last one); stopped while the data loads, nothing is written.

    Every argument, output path and input size is checked before any data is loaded or training starts;
    the checkpoint and metrics files are locked while the run lasts. Explained in chapter 5, "Training NiN on
    Fashion-MNIST".
    """
    try:
        return _main(argv)
    except KeyboardInterrupt as err:  # Ctrl-C before training (while checking, building or locking): nothing written
        print(f"{_stop_words(err)} before training; nothing was written", file=sys.stderr)
        return _stop_status(err)
    finally:
        distributed.stop()  # under torchrun: leave the process group (nothing otherwise)


def _main(argv: Sequence[str] | None) -> int:
    cli_start = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
        name = args.preset or default_preset(device)
        config = get_preset(name).replace(
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, resolution=args.resolution,
            train_limit=args.train_limit, seed=args.seed, compile=args.compile, device=args.device)
    except ValueError as err:
        parser.error(str(err))
    launch = distributed.Launch.from_env()  # None unless started by torchrun
    if launch is not None:
        problem = distributed.launch_problem(launch, device, config.batch_size)
        if problem:
            parser.error(problem)
    outputs = [("--metrics-out", Path(args.metrics_out))]
    if args.checkpoint is not None:
        outputs.insert(0, ("--checkpoint", Path(args.checkpoint)))
        if Path(args.checkpoint).resolve() == Path(args.metrics_out).resolve():
            parser.error(f"--checkpoint and --metrics-out are the same file ({args.metrics_out}); "
                         "give them different paths, or the metrics would overwrite the checkpoint")
    for flag, path in outputs:
        if in_results_dir(path):
            parser.error(f"{flag} {path} is inside {RESULTS_DIR}, which holds the book's committed runs; write it "
                         "elsewhere (e.g. /tmp) and publish the finished run with python -m nin_book.results publish")
        problem = _output_problem(flag, path)
        if problem:
            parser.error(problem)
    model = build_model(config)
    if launch is not None:  # every rank checks the same, so all of them stop on a fault, rank 0 saying so
        group = distributed.start(launch, device)
        device = group.device
    try:  # a dry pass on the meta device: a resolution the network cannot take is a bad argument, not a traceback
        problem = _memory_problem(
            model, config if launch is None else config.replace(batch_size=config.batch_size // launch.world_size),
            device)
    except ShapeError as err:
        parser.error(f"--resolution {config.resolution} does not fit preset {name}: {err}")
    if problem:
        parser.error(problem)
    with contextlib.ExitStack() as locks:
        try:
            _lock_on_rank0(locks, outputs)
        except OutputInUseError as err:
            distributed.say(f"error: {err}")
            return 1
        locks.enter_context(_sigterm_stops_training())  # SIGTERM while loading or training: as Ctrl-C
        return _run(args, argv, name, model, config, cli_start)


def _lock_on_rank0(stack: contextlib.ExitStack, outputs: list[tuple[str, Path]]) -> None:
    """Lock the outputs for the block of ``stack``. Under torchrun only rank 0 writes, so only it locks; then all
    ranks stop together (:class:`OutputInUseError`) if it could not."""
    group = distributed.current()
    error = None
    if group is None or group.rank == 0:
        try:
            for flag, path in outputs:
                stack.enter_context(lock_output(path, flag))
        except OutputInUseError as err:
            if group is None:
                raise
            error = err
    if group is not None and not group.all_ok(error is None):
        raise error or OutputInUseError("rank 0 could not lock the outputs")


def _one_line_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    tqdm.write(f"warning: {message}", file=sys.stderr)  # on its own line, not in the middle of a progress bar


def _run(args: argparse.Namespace, argv: Sequence[str] | None, name: str, model: nn.Module, config: TrainConfig,
         cli_start: float) -> int:
    group = distributed.current()
    data: FashionMNIST | None = None
    try:
        data = load_fashion_mnist()
    except (OSError, ValueError) as err:  # DataNotFoundError is an OSError; its message says how to get the data
        distributed.say(f"error: {err}")
    except KeyboardInterrupt as err:
        distributed.say(f"{_stop_words(err)} while loading the data, before training; nothing was written")
        return _stop_status(err)
    loaded = data is not None if group is None else group.all_ok(data is not None)  # all ranks go on, or none
    if not loaded:
        return 1
    code = 0
    try:
        with warnings.catch_warnings():  # --on-stall warn: one line on stderr, not a warning with its source line
            warnings.showwarning = _one_line_warning
            warnings.simplefilter("always", RuntimeWarning)  # once per run (the watch stops watching after it fires)
            result = fit(model, data, config, checkpoint=args.checkpoint, resume=not args.fresh,
                         on_stall=args.on_stall)
    except TrainingDiverged as err:
        result, code = err.result, 1
        distributed.say(f"error: {err}")
    except torch.OutOfMemoryError as err:  # fit's message names the sizes to lower
        distributed.say(f"error: {err}")
        return 1
    except (ValueError, OSError) as err:  # a checkpoint written with other settings, or corrupt
        distributed.say(f"error: {err}")
        return 1
    except RuntimeError as err:  # under torchrun: a collective failed because another rank died
        if group is None or not distributed.is_peer_failure(err):
            raise
        print(f"error: {group.describe_failure(err, args.checkpoint)}", file=sys.stderr)
        return 1
    if result.status == "interrupted":
        code = EXIT_TERMINATED if result.stopped_by == "SIGTERM" else EXIT_INTERRUPTED
        distributed.say(f"{result.message}")
        if group is not None and group.dead_peers():  # torchrun stops the others when a rank dies: say which
            print(f"error: {group.describe_failure(None, args.checkpoint)}", file=sys.stderr)
    if group is not None and group.rank != 0:  # rank 0 writes the metrics and says how it went
        return code
    metrics = result.to_dict()
    metrics["data_source"] = data.source
    launcher = "python -m" if group is None else group.launcher()
    metrics["command"] = f"{launcher} nin_book.train " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    metrics["cli_wall_seconds"] = time.perf_counter() - cli_start
    try:
        atomic_write_bytes(args.metrics_out, (json.dumps(metrics, indent=2) + "\n").encode())
    except OSError as err:  # checked before training, so only a full disk or a changed folder gets here
        print(f"error: could not write the metrics to {args.metrics_out}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:  # the write is atomic: the old file, if any, is still whole
        kept = f"; the checkpoint {args.checkpoint} keeps the finished epochs" if args.checkpoint else ""
        print(f"{_stop_words(err)} while writing the metrics; --metrics-out {args.metrics_out} was not written{kept}",
              file=sys.stderr)
        return _stop_status(err)
    if code == 0:
        print(f"{name}: test accuracy {result.final_test_accuracy:.4f} after {len(result.history)} epochs, "
              f"{result.images_per_second:.0f} images/s, {result.wall_seconds:.1f} s; metrics in {args.metrics_out}")
    return code


if __name__ == "__main__":
    # Under torchrun, record() writes an uncaught exception's traceback where the launcher reports it.
    sys.exit((main if distributed.Launch.from_env() is None else record(main))())
