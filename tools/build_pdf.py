"""Build the printable edition of the book, `_build/latex/nin-book.pdf`, with XeLaTeX, and check it.

Usage:
    python tools/build_pdf.py            # build (executes every chapter, as the HTML build does), then check
    python tools/build_pdf.py --check    # only check an existing _build/latex/nin-book.pdf

Needs TeX Live from Debian's packages (about 400 MB installed; no texlive-fonts-extra):
    apt-get install texlive-xetex texlive-latex-extra texlive-latex-recommended texlive-fonts-recommended \\
        latexmk xindy fonts-freefont-otf poppler-utils

The build is `jupyter-book build . --builder latex` (Sphinx writes `_build/latex/nin-book.tex`, the settings are
`latex:` in _config.yml) followed by `latexmk -xelatex` in `_build/latex`; the check is tests/test_pdf.py (every
chapter's title, no unresolved reference, a sane page count), run on the new file. Build the PDF before the HTML
book: the HTML build then copies it beside the pages and links it from every page's download menu
(_ext/book_pdf.py). It prints the time each step took and the CPU it ran on.

The LaTeX and HTML builds share Sphinx's cache (_build/.doctrees): a chapter executed by one is not executed again by
the other unless it changed. Both builds treat warnings as errors, so a warning met first in the PDF build still
fails it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LATEX = ROOT / "_build" / "latex"
PDF = LATEX / "nin-book.pdf"
NEEDED = ("xelatex", "latexmk", "pdftotext", "pdfinfo")
APT = ("texlive-xetex texlive-latex-extra texlive-latex-recommended texlive-fonts-recommended latexmk xindy "
       "fonts-freefont-otf poppler-utils")


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def _run(command: list[str], cwd: Path) -> float:
    print(f"$ {' '.join(command)}   (in {cwd.relative_to(ROOT) if cwd != ROOT else '.'})", flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd)
    if result.returncode != 0:
        sys.exit(f"{command[0]} failed (exit status {result.returncode}); see its output above")
    return time.perf_counter() - start


def build() -> None:
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        sys.exit(f"{', '.join(missing)} not found: apt-get install {APT}")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    sphinx_s = _run([str(jupyter_book if jupyter_book.exists() else "jupyter-book"), "build", ".", "--builder", "latex",
                     "--warningiserror", "--keep-going"], ROOT)
    tex_s = _run(["latexmk", "-xelatex", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
                  "nin-book.tex"], LATEX)
    print(f"\nbuilt {PDF.relative_to(ROOT)} ({PDF.stat().st_size / 1e6:.1f} MB): Sphinx and the chapters' execution "
          f"{sphinx_s / 60:.1f} min, XeLaTeX {tex_s / 60:.1f} min, on {cpu_model()} ({_cores()} cores)")


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check() -> int:
    if not PDF.is_file():
        sys.exit(f"no {PDF.relative_to(ROOT)}: run python tools/build_pdf.py")
    return subprocess.run([sys.executable, "-m", "pytest", "tests/test_pdf.py", "-p", "no:randomly", "-q"],
                          cwd=ROOT, env={**os.environ, "NIN_BOOK_PDF": str(PDF)}).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the PDF that is there")
    args = parser.parse_args(argv)
    if not args.check:
        build()
    return check()


if __name__ == "__main__":
    sys.exit(main())
