"""Training throughput: nin_book's trainer against the classic Dive into Deep Learning pipeline.

Both train the same classic NiN (``nin_book.models.nin()``) on the same real Fashion-MNIST files, on the
same device, at the same resolution and batch size, in one run. The classic pipeline is a faithful
reimplementation of d2l's ``load_data_fashion_mnist`` + ``train_ch6``: a FashionMNIST-style ``Dataset``
that makes a PIL image per sample, ``transforms.Resize`` + ``ToTensor`` per sample, a ``DataLoader`` with
4 worker processes and shuffling, fp32, plain SGD, and d2l's per-batch metric read-back (``float(...)``).
Ours keeps the uint8 set on the device, resizes and normalises per batch there, uses channels-last, and on CUDA
autocasts to bf16 (fp16 below compute capability 8.0).

Like with like: both run under the same cuDNN settings (autotuner on, TF32 off for fp32: ``nin_book.train.gpu_settings``),
and on a GPU ours is also timed in fp32, so that two ratios separate what the input pipeline gains (ours in fp32
against classic, both fp32) from what the arithmetic gains (ours in bf16/fp16 against ours in fp32). The report
records each side's precision and settings and the GPU's name.

    python benchmarks/throughput.py                      # GPU: 224x224, batch 128; CPU: 96x96, batch 64
    python benchmarks/throughput.py --device cpu --resolution 96 --batches 8 --out nin_book/results/benchmark_cpu.json

Each pipeline first runs an untimed pass of the same number of batches it is timed on (cuDNN autotuning,
allocator, thread pools; for ours its first epoch); the timed part of the classic pipeline includes its worker
start-up, as every d2l epoch does.
Explained in chapter 5, "Training NiN on Fashion-MNIST" (why the classic loop is slow).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from nin_book.data import load_fashion_mnist
from nin_book.models import nin
from nin_book.presets import TrainConfig
from nin_book.results import load_average, write_json
from nin_book.train import device_name, fit, gpu_settings, resolve_device


class ClassicFashionMNIST(Dataset):
    """torchvision's ``FashionMNIST.__getitem__``: one PIL image per sample, then the transform."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: transforms.Compose) -> None:
        self.data, self.targets, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        img, target = self.data[index], int(self.targets[index])
        img = Image.fromarray(img.numpy(), mode="L")
        return self.transform(img), target


def classic_loader(images: torch.Tensor, labels: torch.Tensor, resolution: int, batch_size: int,
                   workers: int) -> DataLoader:
    """d2l's ``load_data_fashion_mnist(batch_size, resize)`` training iterator."""
    trans = transforms.Compose([transforms.Resize(resolution), transforms.ToTensor()])
    return DataLoader(ClassicFashionMNIST(images, labels, trans), batch_size, shuffle=True, num_workers=workers)


def classic_train(loader: DataLoader, model: nn.Module, device: torch.device, lr: float, batches: int) -> float:
    """d2l's ``train_ch6`` inner loop for ``batches`` batches; returns images per second (fp32, plain SGD)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    model.train()
    metric = [0.0, 0.0, 0.0]  # d2l.Accumulator(3): loss sum, correct, count
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for i, (X, y) in enumerate(loader):
        if i == batches:
            break
        optimizer.zero_grad()
        X, y = X.to(device), y.to(device)
        y_hat = model(X)
        l = loss(y_hat, y)  # noqa: E741 (d2l's name)
        l.backward()
        optimizer.step()
        with torch.no_grad():  # d2l reads both metrics back to the CPU every batch
            metric[0] += float(l * X.shape[0])
            metric[1] += float((y_hat.argmax(axis=1).type(y.dtype) == y).type(y.dtype).sum())
            metric[2] += X.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return metric[2] / (time.perf_counter() - start)


def ours_train(data, device: torch.device, resolution: int, batch_size: int, batches: int, lr: float,
               precision: str = "auto") -> tuple[float, str]:
    """nin_book's ``fit`` for two epochs of ``batches`` batches: the second epoch's images per second, and the
    precision it trained in."""
    config = TrainConfig(preset="benchmark", model={}, epochs=2, batch_size=batch_size, lr=lr, resolution=resolution,
                         train_limit=batches * batch_size, test_limit=batch_size, eval_batch_size=batch_size,
                         device=str(device), precision=precision)
    torch.manual_seed(0)
    result = fit(nin(), data, config, progress=False, on_stall="off")  # a speed test: a stall is not its business
    return result.history[-1].images_per_second, result.precision


def side(images_per_second: float, precision: str, device: torch.device, pipeline: str) -> dict:
    """What one timed side ran with: its speed, precision and the cuDNN settings in force."""
    gpu = device.type == "cuda"
    return {"images_per_second": images_per_second, "precision": precision, "pipeline": pipeline,
            "cudnn_benchmark": True if gpu else None, "tf32": (precision != "fp32") if gpu else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--resolution", type=int, help="default: 224 on a GPU, 96 on the CPU")
    parser.add_argument("--batch-size", type=int, help="default: 128 on a GPU (d2l's), 64 on the CPU")
    parser.add_argument("--batches", type=int, help="timed batches per pipeline; default: 100 on a GPU, 8 on the CPU")
    parser.add_argument("--workers", type=int, default=4, help="classic DataLoader workers (d2l: 4)")
    parser.add_argument("--lr", type=float, default=0.1, help="d2l's NiN learning rate")
    parser.add_argument("--out", help="also write the numbers and the machine description to this JSON file")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    gpu = device.type == "cuda"
    resolution = args.resolution or (224 if gpu else 96)
    batch_size = args.batch_size or (128 if gpu else 64)
    batches = args.batches or (100 if gpu else 8)
    if min(resolution, batch_size, batches) < 1:
        parser.error("--resolution, --batch-size and --batches must be positive")
    data = load_fashion_mnist()
    load_before = load_average()

    # Classic pipeline: an untimed pass, then a timed one (new epoch: workers start again, as in d2l), under the
    # cuDNN settings fit uses for fp32.
    torch.manual_seed(0)
    model = nin().to(device)
    loader = classic_loader(data.train_images, data.train_labels, resolution, batch_size, args.workers)
    with gpu_settings(device, "fp32"):
        classic_train(loader, model, device, args.lr, batches)
        classic = classic_train(loader, model, device, args.lr, batches)
    del model, loader

    ours, precision = ours_train(data, device, resolution, batch_size, batches, args.lr)
    # On a GPU, ours again in fp32: the input pipeline's gain and the arithmetic's, as two ratios.
    ours_fp32 = ours_train(data, device, resolution, batch_size, batches, args.lr, "fp32")[0] if precision != "fp32" \
        else ours
    load_after = load_average()

    report = {
        "device": str(device),
        "device_name": device_name(device),
        "cpu_model": device_name(torch.device("cpu")),
        "logical_cores": os.cpu_count(),
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "resolution": resolution,
        "batch_size": batch_size,
        "timed_batches": batches,
        "classic_workers": args.workers,
        "classic_images_per_second": classic,
        "ours_images_per_second": ours,
        "ours_precision": precision,
        "speedup": ours / classic,
        "input_pipeline_speedup": ours_fp32 / classic,
        "precision_speedup": ours / ours_fp32,
        "sides": {"classic": side(classic, "fp32", device, "DataLoader + PIL transforms"),
                  "ours": side(ours, precision, device, "device-resident batches, channels-last"),
                  "ours_fp32": side(ours_fp32, "fp32", device, "device-resident batches, channels-last")},
        "load_average_before": load_before,
        "load_average_after": load_after,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "command": "python benchmarks/throughput.py " + shlex.join(sys.argv[1:] if argv is None else list(argv)),
    }
    print(f"device: {report['device_name']}; torch {torch.__version__}; {resolution}x{resolution}, batch {batch_size}, "
          f"{batches} timed batches")
    print(f"classic d2l pipeline (DataLoader, {args.workers} workers, PIL Resize + ToTensor, fp32): {classic:10.1f} images/s")
    print(f"nin_book trainer (device-resident batches, channels-last, {precision}): {ours:10.1f} images/s")
    if precision != "fp32":
        print(f"nin_book trainer (the same, fp32):                             {ours_fp32:10.1f} images/s")
    print(f"speed-up: {ours / classic:.2f}x = input pipeline {ours_fp32 / classic:.2f}x (both fp32) "
          f"× precision {ours / ours_fp32:.2f}x   (load average before {load_before}, after {load_after})")
    if args.out:
        write_json(args.out, report)  # atomic: a result is never half-written
    return 0


if __name__ == "__main__":
    sys.exit(main())
