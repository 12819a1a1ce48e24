"""Execute chapter notebooks in place, so their stored outputs are the ones nbval compares against.

Usage: python tools/execute_chapters.py [chapters/03_shape_tracing.ipynb ...]   (default: every chapter)

Runs with NIN_BOOK_PRESET=smoke (as the test suite does) from the chapters/ folder, and stores the
widget state so widgets render in the static HTML book. Cells keep no timing metadata (old timestamps are dropped
too, so a diff shows only real changes). Then the numbers in the prose are rewritten from the values the code
recorded (tools/prose_numbers.py), and every number that changed is printed.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from prose_numbers import rewrite  # tools/ is on sys.path when this file runs as a script

ROOT = Path(__file__).resolve().parents[1]


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                            store_widget_state=True, record_timing=False)  # no per-cell timestamps: diffs show real changes
    client.execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    for key, old, new in rewrite(nb):
        print(f"{path.name}: prose number {key}: {old!r} -> {new!r}", flush=True)
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main(argv: list[str]) -> None:
    os.environ.setdefault("NIN_BOOK_PRESET", "smoke")
    paths = [Path(a).resolve() for a in argv] or sorted((ROOT / "chapters").glob("*.ipynb"))
    for path in paths:
        print(f"{path.relative_to(ROOT)}: {execute(path):.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
