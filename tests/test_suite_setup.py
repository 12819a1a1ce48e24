"""The test suite's own machinery (issue 15): nbval's sanitising file, and notebook cells kept in order when
pytest-randomly shuffles the tests."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns

ROOT = Path(__file__).resolve().parents[1]


def sanitize(text: str) -> str:
    for regex, replace in get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text()):
        text = re.sub(regex, replace, text)
    return text


def test_sanitising_hides_library_formatting():
    assert sanitize("<Figure size 685x600 with 2 Axes>") == "<Figure>"
    assert sanitize("<nin_book.Thing object at 0x7f3a2c1b9d30>") == "<nin_book.Thing object at 0xADDRESS>"
    assert sanitize("epoch 1/2: 100%|██| 8/8 [00:01<00:00, 7.31batch/s]") == "epoch 1/2: 100%|██| 8/8 [00:01<00:00, N/s]"


@pytest.mark.parametrize("claim", [
    "10,000 test images, 9,301 right: accuracy 0.9301",
    "84% of the points lie above the diagonal (95% interval 81% to 87%)",
    "block1   NiN block 3×3/1    32×28×28           2,528   3,662,848",
    "the largest-maximum class is the prediction for 92% of 500 images",
])
def test_sanitising_never_touches_the_numbers_the_prose_reads(claim):
    assert sanitize(claim) == claim


@pytest.mark.skipif(importlib.util.find_spec("pytest_randomly") is None,
                    reason="pytest-randomly is not installed (pip install -e .[test])")
def test_shuffled_suite_keeps_each_notebooks_cells_in_order():
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "randomly", "-p", "no:cacheprovider",
                           "--randomly-seed=12345", "tests/test_counting.py",
                           "chapters/02_nin_block.ipynb", "chapters/03_shape_tracing.ipynb"],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    cells = [i for i in ids if ".ipynb::" in i]
    assert ids[:len(ids) - len(cells)] == [i for i in ids if i.startswith("tests/")]  # unit tests first
    for notebook in ("02_nin_block", "03_shape_tracing"):
        numbers = [int(i.rsplit(" ", 1)[1]) for i in cells if notebook in i]
        assert numbers == list(range(len(numbers))) and numbers, notebook
    notebooks = [i.split("::")[0] for i in cells]
    switches = sum(a != b for a, b in zip(notebooks, notebooks[1:], strict=False))
    assert switches == 1  # each notebook's cells in one run (one kernel), not interleaved
