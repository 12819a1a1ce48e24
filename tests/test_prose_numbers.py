"""Numbers in the prose are plain text on every surface and equal what the chapter's code computes.

tools/prose_numbers.py ties each number to a value the chapter records with glue(); nbval (the chapters under the
same test command) holds the recorded values to a fresh run. Here: the prose equals the recorded values, no
markdown cell shows MyST markup that only the HTML book renders, and the tool itself finds and fixes a stale number.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from toys import load_script

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
TOOL = ROOT / "tools" / "prose_numbers.py"


prose_numbers = load_script(TOOL, "prose_numbers")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_prose_numbers_equal_the_recorded_values(path: Path) -> None:
    stale = prose_numbers.stale_numbers(nbformat.read(path, as_version=4), path.name)
    assert not stale, ("numbers in the prose differ from what the code records (after a deliberate change run "
                       "`python tools/prose_numbers.py --write`):\n" + "\n".join(map(str, stale)))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_prose_shows_no_markup(path: Path) -> None:
    """No {glue} or {cite} role and no MyST directive: JupyterLab, Colab and GitHub would show them as text."""
    found = prose_numbers.markup_seen_as_text(nbformat.read(path, as_version=4))
    assert not found, f"{path.name}: markup only the HTML book renders: {found}"


def test_chapters_tie_their_numbers_to_the_code() -> None:
    counts = {path.stem: sum(len(prose_numbers.MARKER.findall(cell.source))
                             for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown")
              for path in CHAPTERS}
    assert sum(counts.values()) >= 300, counts


def _chapter(number_text: str, value: object = 1992166) -> nbformat.NotebookNode:
    """A two-cell chapter: a code cell whose stored output records `params`, and prose that quotes it."""
    code = nbformat.v4.new_code_cell("glue('params', net_params, display=False)")
    code.outputs = [nbformat.v4.new_output("display_data", data={"application/papermill.record/text/plain": repr(value)},
                                           metadata={"scrapbook": {"name": "params",
                                                                   "mime_prefix": "application/papermill.record/"}})]
    prose = nbformat.v4.new_markdown_cell(
        f"NiN is small. It has <!--glue:params:,-->{number_text}<!--/glue--> parameters, fewer than VGG.")
    return nbformat.v4.new_notebook(cells=[code, prose])


def test_a_number_changed_by_hand_is_named_with_its_sentence_and_both_values() -> None:
    assert prose_numbers.stale_numbers(_chapter("1,992,166"), "ch.ipynb") == []
    (stale,) = prose_numbers.stale_numbers(_chapter("1,992,167"), "ch.ipynb")
    message = str(stale)
    for part in ("ch.ipynb", "params", "'1,992,167'", "'1,992,166'", "It has [1,992,167] parameters, fewer than VGG."):
        assert part in message, message


def test_rewrite_restores_the_computed_value_and_fills_a_new_marker() -> None:
    nb = _chapter("1,992,167")
    assert prose_numbers.rewrite(nb) == [("params", "1,992,167", "1,992,166")]
    assert "It has <!--glue:params:,-->1,992,166<!--/glue--> parameters" in nb.cells[1].source
    assert prose_numbers.rewrite(nb) == []
    empty = _chapter("", value=0.4567)
    empty.cells[1].source = "Accuracy <!--glue:params:.1%--><!--/glue-->."
    prose_numbers.rewrite(empty)
    assert empty.cells[1].source == "Accuracy <!--glue:params:.1%-->45.7%<!--/glue-->."


def test_a_number_no_code_records_is_reported() -> None:
    nb = _chapter("1,992,166")
    nb.cells[1].source = nb.cells[1].source.replace("glue:params", "glue:parameters")
    (stale,) = prose_numbers.stale_numbers(nb, "ch.ipynb")
    assert stale.computed is None and "no code cell records it" in str(stale)


def test_markup_only_the_html_book_renders_is_found() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text) for text in (
        "{glue:text}`params:,` parameters", "as {cite}`lin2013network` say", "```{admonition} Solution\nx\n```",
        "plain <!--glue:x-->1<!--/glue--> and `code` and ```python fences```",
        "a line\n<!--glue:x-->1<!--/glue--> begins with a number", "* <!--glue:x-->1<!--/glue--> item")])
    found = prose_numbers.markup_seen_as_text(nb)
    assert [f.split(":")[0] for f in found] == ["cell 0", "cell 1", "cell 2", "cell 4", "cell 5"], found


def test_the_command_fails_on_a_stale_number_and_write_fixes_it(tmp_path: Path) -> None:
    path = tmp_path / "ch.ipynb"
    nbformat.write(_chapter("2,000,000"), path)
    check = subprocess.run([sys.executable, str(TOOL), str(path)], capture_output=True, text=True)
    assert check.returncode == 1 and "'2,000,000'" in check.stderr and "--write" in check.stderr, check.stderr
    write = subprocess.run([sys.executable, str(TOOL), "--write", str(path)], capture_output=True, text=True)
    assert write.returncode == 0 and "'2,000,000' -> '1,992,166'" in write.stdout, write
    assert subprocess.run([sys.executable, str(TOOL), str(path)], capture_output=True).returncode == 0
