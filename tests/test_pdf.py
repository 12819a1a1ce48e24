"""The printable edition: its configuration (always) and the PDF itself (when one has been built).

Building the PDF executes every chapter again and runs XeLaTeX (tools/build_pdf.py, README "The PDF"): too slow
for .ci/run, so CI checks the configuration and the Sphinx glue here, and the PDF checks run on
`_build/latex/nin-book.pdf` when it exists (tools/build_pdf.py runs them on the file it has just made; the GitHub
workflow builds the PDF before its tests). `NIN_BOOK_PDF=path` checks another file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
PDF = Path(os.environ.get("NIN_BOOK_PDF", ROOT / "_build" / "latex" / "nin-book.pdf"))
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))
EXPLORER_LINE = "Move its controls on this chapter's HTML page"

sys.path.insert(0, str(ROOT / "_ext"))
import book_pdf  # noqa: E402

sys.path.remove(str(ROOT / "_ext"))


def _title(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    heading = next(re.search(r"^# (.+)$", c.source, flags=re.M) for c in nb.cells
                   if c.cell_type == "markdown" and re.search(r"^# ", c.source, flags=re.M))
    return heading[1].strip()


# --- The configuration (runs everywhere) ----------------------------------------------------------------------------

def test_latex_configuration_builds_with_debians_tex_live() -> None:
    latex = CONFIG["latex"]
    assert latex["latex_engine"] == "xelatex", "Unicode in the text (×, →, ±) needs XeLaTeX"
    # jupyter-book's own LaTeX package needs bbm.sty, only in texlive-fonts-extra (1.4 GB).
    assert latex["use_jupyterbook_latex"] is False
    assert latex["latex_documents"]["targetname"] == "nin-book.tex" == Path(book_pdf.PDF_NAME).with_suffix(".tex").name
    assert CONFIG["sphinx"]["local_extensions"]["book_pdf"] == "_ext"


def test_pages_url_follows_the_repository_setting() -> None:
    assert book_pdf.pages_url(CONFIG["repository"]["url"]).startswith("https://")
    assert book_pdf.pages_url("https://github.com/Some-One/nin-book") == "https://some-one.github.io/nin-book/"
    assert book_pdf.pages_url("https://github.com/someone/someone.github.io") == "https://someone.github.io/"
    with pytest.raises(ValueError, match="repository: url:"):
        book_pdf.pages_url("https://gitlab.com/someone/nin-book")


def test_explorer_summary_reads_the_saved_controls() -> None:
    state = {"_controls": [{"trait": "c_in", "label": "input channels"}, {"trait": "relu", "label": "ReLU"}],
             "c_in": 3, "relu": False, "other": 9}
    assert book_pdf.explorer_summary(state) == "input channels 3; ReLU off"
    assert book_pdf.explorer_summary({}) == ""


def test_every_saved_explorer_has_controls_to_describe() -> None:
    """The PDF describes an explorer from its saved `_controls`: each chapter's saved explorers must carry them."""
    found = 0
    for path in NOTEBOOKS:
        for state in book_pdf.widget_states(nbformat.read(path, as_version=4)).values():
            if state.get("_model_name") == "AnyModel" and state.get("_controls"):
                found += 1
                assert book_pdf.explorer_summary(state), path.name
    assert found >= 4, f"only {found} saved explorers with controls"


# --- The PDF (when built) -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pdf_text() -> str:
    if not PDF.is_file():
        pytest.skip(f"no PDF at {PDF}: python tools/build_pdf.py builds and checks it (needs TeX Live)")
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing: apt-get install poppler-utils", pytrace=False)
    return subprocess.run(["pdftotext", "-layout", str(PDF), "-"], capture_output=True, text=True, check=True).stdout


def _plain(text: str) -> str:
    """Words as pdftotext gives them and as the source writes them alike: LaTeX prints ' as ’."""
    return " ".join(text.replace("\u2019", "'").split())


def test_pdf_has_every_chapter(pdf_text: str) -> None:
    flat = _plain(pdf_text)
    missing = [(p.name, _title(p)) for p in NOTEBOOKS if _plain(_title(p)) not in flat]
    assert not missing, f"chapter titles not in {PDF.name}: {missing}"


def test_pdf_numbers_the_chapters_as_the_html_book_does(pdf_text: str) -> None:
    """The root page's own sections are not chapters in print (_ext/book_pdf.py): the contents list the numbered
    chapters of _toc.yml as 1, 2, ... in order, as the HTML book's sidebar does."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    numbered = next(part for part in toc["parts"] if part.get("numbered"))["chapters"]
    flat = _plain(pdf_text)
    wrong = [(n, entry["file"]) for n, entry in enumerate(numbered, 1)
             if f"{n} {_plain(_title(ROOT / (entry['file'] + '.ipynb')))}" not in flat]
    assert not wrong, f"chapters not numbered as in the HTML book: {wrong}"


def test_pdf_has_no_unresolved_reference(pdf_text: str) -> None:
    lines = [line.strip() for line in pdf_text.splitlines() if "??" in line]
    assert not lines, f"unresolved references (??) in {PDF.name}: {lines[:5]}"


def test_pdf_page_count_and_figures_are_sane(pdf_text: str) -> None:
    info = subprocess.run(["pdfinfo", str(PDF)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, flags=re.M)[1])
    assert 60 <= pages <= 400, f"{pages} pages"
    images = subprocess.run(["pdfimages", "-list", str(PDF)], capture_output=True, text=True, check=True).stdout
    assert len(images.splitlines()) - 2 >= 30, "the chapters' figures are in the PDF"


def test_pdf_explorers_point_to_the_html_pages(pdf_text: str) -> None:
    flat = _plain(pdf_text)
    assert flat.count(EXPLORER_LINE) >= 4, "each explorer's static state and a line to its HTML page"
    assert book_pdf.pages_url(CONFIG["repository"]["url"]) in flat
