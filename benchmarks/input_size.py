"""Which input size can a CPU afford for the network chapters 2-4 study? Training speed against input size.

Trains the ``cpu112`` preset's network (the classic NiN's convolutions, 11x11/4 first block, with batch norm) through
the book's engine for a few batches at each input size, on the real Fashion-MNIST, in one run, and prints training
images/s, the minutes one epoch of 60,000 images would take, the class maps' size and FLOPs per image, with each
size's speed as a ratio to 224x224 measured in the same run.

    python benchmarks/input_size.py --out nin_book/results/input_sizes.json

Explained in chapter 5, "Training NiN on Fashion-MNIST" (why the studied network trains at 112x112 on a CPU).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from nin_book.data import load_fashion_mnist
from nin_book.presets import build_model, get_preset
from nin_book.results import machine_provenance, write_json
from nin_book.shapes import trace
from nin_book.train import fit

SIZES = (224, 160, 128, 112, 96, 80, 67)  # 67: the smallest input the network accepts (chapter 3)


def measure(size: int, batches: int, data) -> dict:
    config = get_preset("cpu112").replace(resolution=size, epochs=1, train_limit=batches * 128, test_limit=500,
                                          device="cpu")
    model = build_model(config)
    layers = trace(model, (1, size, size), depth=1)  # shapes and FLOPs, before training changes the layout
    maps = next(row for row in layers if row.name == "block4").output_shape
    result = fit(model, data, config, progress=False)
    return {"size": size, "images_per_second": result.images_per_second, "class_map_side": maps[1],
            "flops_per_image": layers.total_flops, "epoch_minutes": 60_000 / result.images_per_second / 60}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=8, help="training batches of 128 per size (default 8)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    data = load_fashion_mnist()
    provenance = machine_provenance()
    rows = [measure(size, args.batches, data) for size in SIZES]
    reference = rows[0]["images_per_second"]
    print(f"{provenance['cpu_model']}, {provenance['logical_cores']} logical cores, torch {provenance['torch_version']}, "
          f"load average before {provenance['load_average']}")
    print(f"{'input':>7} {'images/s':>9} {'vs 224':>7} {'min/epoch':>10} {'class maps':>11} {'GFLOPs/image':>13}")
    for row in rows:
        row["speed_vs_224"] = row["images_per_second"] / reference
        print(f"{row['size']:>7} {row['images_per_second']:>9.1f} {row['speed_vs_224']:>6.2f}x "
              f"{row['epoch_minutes']:>10.1f} {row['class_map_side']:>9}x{row['class_map_side']} "
              f"{row['flops_per_image'] / 1e9:>13.3f}")
    if args.out:
        command = "python benchmarks/input_size.py " + shlex.join(sys.argv[1:] if argv is None else list(argv))
        write_json(args.out, {"command": command, "preset": "cpu112", "batch_size": 128,
                              "timed_batches": args.batches, "provenance": provenance, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
