"""The code a reader sees is the code a learner would write; the book's own checks stay out of sight.

A cell the HTML page shows (any cell not tagged remove-cell or remove-input) holds no glue() call and no nbval
marker, and no line wider than the page's code block at 1400 px. A cell removed from the page is also collapsed
in Jupyter (jupyter.source_hidden). nbval markers are cell tags, never comments. Executing a chapter leaves no
per-cell timing metadata behind. tests/test_browser.py checks the built pages for code that scrolls sideways.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
HIDDEN_FROM_PAGE = {"remove-cell", "remove-input"}
# A code block of the built page at 1400 px holds 87 characters a line (measured in headless Chromium: 768 px
# less 32 px of padding, 8.43 px a character); one less leaves room for wider glyphs such as ×.
PAGE_CODE_WIDTH = 86
# A cell tagged hide-cell (the exercises' solutions) opens inside a toggle 18 px narrower: 85 characters fit.
TOGGLE_CODE_WIDTH = 84


def _code_cells(path: Path) -> list[tuple[int, nbformat.NotebookNode]]:
    nb = nbformat.read(path, as_version=4)
    return [(i, cell) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def _on_page(cell: nbformat.NotebookNode) -> bool:
    return not HIDDEN_FROM_PAGE & set(cell.metadata.get("tags", []))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_visible_code_is_the_lesson(path: Path) -> None:
    problems = []
    for index, cell in _code_cells(path):
        if not _on_page(cell):
            continue
        if "glue(" in cell.source:
            problems.append(f"cell {index} shows glue() to readers: move it to a hidden cell")
        toggled = {"hide-cell", "hide-input"} & set(cell.metadata.get("tags", []))
        width = TOGGLE_CODE_WIDTH if toggled else PAGE_CODE_WIDTH
        problems += [f"cell {index} line {n}: {len(line)} characters (the page shows {width})"
                     for n, line in enumerate(cell.source.splitlines(), 1) if len(line) > width]
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_nbval_markers_are_tags(path: Path) -> None:
    comments = [index for index, cell in _code_cells(path) if re.search(r"#\s*NBVAL", cell.source)]
    assert not comments, f"{path.name}: cells {comments} carry an nbval comment; use the cell tag instead"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_cells_removed_from_the_page_are_collapsed_in_jupyter(path: Path) -> None:
    open_cells = [index for index, cell in _code_cells(path)
                  if not _on_page(cell) and not cell.metadata.get("jupyter", {}).get("source_hidden")]
    assert not open_cells, f"{path.name}: cells {open_cells} are hidden on the page but open in Jupyter"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_execution_timing_metadata(path: Path) -> None:
    timed = [i for i, cell in enumerate(nbformat.read(path, as_version=4).cells) if "execution" in cell.metadata]
    assert not timed, f"{path.name}: cells {timed} carry nbclient's timing metadata (tools/execute_chapters.py drops it)"


def test_the_rules_catch_what_they_name(tmp_path: Path) -> None:
    wide = nbformat.v4.new_code_cell("x = 1  # " + "w" * PAGE_CODE_WIDTH)
    checks = nbformat.v4.new_code_cell("glue('x', x, display=False)")
    comment = nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nprint(1)")
    hidden_open = nbformat.v4.new_code_cell("glue('x', x, display=False)", metadata={"tags": ["remove-cell"]})
    timed = nbformat.v4.new_code_cell("y = 2", metadata={"execution": {"iopub.status.idle": "2026-11-29"}})
    path = tmp_path / "ch.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[wide, checks, comment, hidden_open, timed]), path)
    for test in (test_visible_code_is_the_lesson, test_nbval_markers_are_tags,
                 test_cells_removed_from_the_page_are_collapsed_in_jupyter, test_no_execution_timing_metadata):
        with pytest.raises(AssertionError):
            test(path)
