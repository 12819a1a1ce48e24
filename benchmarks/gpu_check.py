"""The GPU path, measured once on a real GPU: what the CPU tests of issue 26 can only mock.

Run it on a machine with a CUDA GPU (the real Fashion-MNIST files must be findable, see README):

    python benchmarks/gpu_check.py --out nin_book/results/gpu_check.json

It measures, and writes with the GPU's name, torch version and the command:

1. 20 training steps of the ``seed224`` preset in bf16 (where the GPU has it natively), fp16 and fp32: images per
   second over the last 10 and ``torch.cuda.max_memory_allocated``;
2. ``benchmarks/throughput.py`` (ours against the classic pipeline, like with like);
3. a ``smoke`` run stopped after one epoch and resumed: the resumed history must equal an uninterrupted run's
   (exact resume on CUDA: the GPU's generator and the gradient scaler go through the checkpoint).

Without a GPU it says so and exits 1: it never estimates. Explained in the appendix, "How the trainer is fast".
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from nin_book.data import load_fashion_mnist
from nin_book.presets import build_model, get_preset
from nin_book.results import write_json
from nin_book.train import device_name, fit, gpu_supports_bf16

STEPS, TIMED = 20, 10


def step_speed(data, precision: str) -> dict:
    """``STEPS`` steps of seed224 in ``precision``: images per second over the last ``TIMED``, and peak memory."""
    config = get_preset("seed224").replace(precision=precision, epochs=1, test_limit=256)
    model = build_model(config).cuda()
    times: list[float] = []
    torch.cuda.reset_peak_memory_stats()

    def on_step() -> None:
        torch.cuda.synchronize()
        times.append(time.perf_counter())

    # One epoch of STEPS batches, timed per step with a forward hook on the model (synchronised).
    handle = model.register_forward_hook(lambda m, a, out: on_step() if m.training else None)
    try:
        fit(model, data, config.replace(train_limit=STEPS * config.batch_size), progress=False, on_stall="off")
    finally:
        handle.remove()
    timed = times[-TIMED - 1:]
    return {"precision": precision, "images_per_second": TIMED * config.batch_size / (timed[-1] - timed[0]),
            "max_memory_allocated_bytes": torch.cuda.max_memory_allocated()}


def resume_check(data) -> dict:
    """A smoke run interrupted after epoch 1 and resumed, against the same run without a stop."""
    config = get_preset("smoke").replace(device="cuda")
    whole = fit(build_model(config), data, config, progress=False)
    with tempfile.TemporaryDirectory() as folder:
        ckpt = Path(folder) / "run.pt"
        fit(build_model(config), data, config.replace(epochs=1), checkpoint=ckpt, progress=False)
        resumed = fit(build_model(config), data, config, checkpoint=ckpt, progress=False)
    same = [r.train_loss for r in resumed.history] == [r.train_loss for r in whole.history]
    return {"precision": whole.precision, "exact": same,
            "uninterrupted_losses": [r.train_loss for r in whole.history],
            "resumed_losses": [r.train_loss for r in resumed.history]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the JSON file to write")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: torch sees no CUDA GPU; this script measures only on a GPU and estimates nothing",
              file=sys.stderr)
        return 1
    device = torch.device("cuda")
    data = load_fashion_mnist()
    precisions = (["bf16"] if gpu_supports_bf16(device) else []) + ["fp16", "fp32"]
    throughput = Path(tempfile.gettempdir()) / "nin_book_gpu_throughput.json"
    subprocess.run([sys.executable, str(Path(__file__).with_name("throughput.py")), "--out", str(throughput)],
                   check=True)
    report = {
        "gpu": device_name(device),
        "capability": list(torch.cuda.get_device_capability(device)),
        "torch_version": torch.__version__,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "command": "python benchmarks/gpu_check.py " + shlex.join(sys.argv[1:] if argv is None else list(argv)),
        "seed224_steps": [step_speed(data, p) for p in precisions],
        "throughput": json.loads(throughput.read_text()),
        "resume": resume_check(data),
    }
    write_json(args.out, report)
    print(json.dumps({k: report[k] for k in ("gpu", "seed224_steps", "resume")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
