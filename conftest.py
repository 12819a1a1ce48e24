"""Test-session settings shared by the unit tests and the nbval run of the chapters."""

import os
from pathlib import Path

# Chapters that train pick their preset from NIN_BOOK_PRESET; under the test suite they use the
# seconds-long "smoke" preset unless the caller asks for another. The nbval kernels inherit this.
os.environ.setdefault("NIN_BOOK_PRESET", "smoke")
# Chapters and tests never reach the network: with the data missing, loading fails with the loader's
# message (which says downloads are off) instead of downloading. Readers keep the download (unset).
os.environ.setdefault("NIN_BOOK_OFFLINE", "1")


def pytest_configure(config) -> None:
    """nbval compares outputs after the substitutions in tests/nbval_sanitize.cfg (unless the caller gives a file).

    Set here rather than in addopts so the path holds from any working directory.
    """
    if hasattr(config.option, "nbval_sanitize_with") and not (config.option.nbval_sanitize_with or config.option.sanitize_with):
        config.option.nbval_sanitize_with = str(Path(__file__).parent / "tests" / "nbval_sanitize.cfg")


def pytest_collection_modifyitems(items: list) -> None:
    """Keep each notebook's cells in order, one notebook after another, after the unit tests.

    pytest-randomly (in the test extras) shuffles every collected item, nbval's cells included, but a chapter's
    cells share one kernel and only make sense in order. Its hook wraps this one, so this runs after the
    shuffle: the unit tests stay shuffled, the chapters keep the shuffled order of their first cells.
    """
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: no notebooks are collected either
        return
    cells = [item for item in items if isinstance(item, IPyNbCell)]
    if not cells:
        return
    notebook_rank: dict[str, int] = {}
    for cell in cells:
        notebook_rank.setdefault(cell.parent.nodeid, len(notebook_rank))
    cells.sort(key=lambda cell: (notebook_rank[cell.parent.nodeid], cell.cell_num))
    items[:] = [item for item in items if not isinstance(item, IPyNbCell)] + cells
