"""The book's cross-references stay true: README's chapter table lists what each chapter imports, and every
docstring that names a chapter uses that chapter's current title."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
IMPORT = re.compile(r"^\s*(?:from nin_book\.([\w.]+) import|import nin_book\.([\w.]+))", re.MULTILINE)
README_ROW = re.compile(r"^\| (\d+) \| \[[^\]]+\]\((chapters/[^)]+)\) \| ([^|]+) \| ([^|]+) \|$", re.MULTILINE)
# "Explained in chapter 5, "Training NiN on Fashion-MNIST"" and the like, titles possibly wrapped over lines.
TITLE_MENTION = re.compile(r'chapters? (\d+)[^"\n]{0,3}, "([^"]+)"')


def chapter_title(path: Path) -> str:
    first = nbformat.read(path, as_version=4).cells[0].source.splitlines()[0]
    return first.lstrip("#").strip()


def chapter_imports(path: Path) -> set[str]:
    nb = nbformat.read(path, as_version=4)
    return {a or b for cell in nb.cells if cell.cell_type == "code" for a, b in IMPORT.findall(cell.source)}


def readme_rows() -> dict[str, tuple[set[str], list[str]]]:
    rows = {}
    for _, link, modules, tests in README_ROW.findall((ROOT / "README.md").read_text()):
        rows[link] = (set(re.findall(r"`([\w.]+)`", modules)), re.findall(r"`(tests/[\w./]+)`", tests))
    return rows


def test_readme_has_a_row_for_every_chapter() -> None:
    assert sorted(readme_rows()) == [p.relative_to(ROOT).as_posix() for p in CHAPTERS]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_readme_row_lists_the_modules_the_chapter_imports(chapter: Path) -> None:
    modules, tests = readme_rows()[chapter.relative_to(ROOT).as_posix()]
    imported = chapter_imports(chapter)
    assert modules == imported, (f"README row of {chapter.name}: missing {sorted(imported - modules)}, "
                                 f"not imported {sorted(modules - imported)}")
    assert tests and all((ROOT / t).is_file() for t in tests), f"README row of {chapter.name} names missing tests"


def test_docstrings_name_chapters_by_their_current_titles() -> None:
    titles = {int(p.name[:2]): chapter_title(p) for p in CHAPTERS}
    wrong = []
    for source in sorted((ROOT / "nin_book").rglob("*")):
        if source.suffix not in (".py", ".mjs"):
            continue
        for number, title in TITLE_MENTION.findall(source.read_text()):
            title = " ".join(title.split())  # a title wrapped over two docstring lines
            if titles.get(int(number)) != title:
                wrong.append(f"{source.relative_to(ROOT)}: chapter {number}, {title!r} (is {titles.get(int(number))!r})")
    assert not wrong, "\n".join(wrong)


# One name per concept across the book (issue 13): the prose writes the name on the left, never a variant.
TERMS = {
    "1×1": r"(?<![\w`])1x1(?![\w`])",
    "fully connected": r"fully-connected",
    "global average pooling": r"global average-pooling|Global Average Pooling(?! as a Regularizer)",
    "NiN": r"\bNIN\b|Network-in-Network",
    "1×1 convolution": r"point-?wise convolution",
}


def test_chapters_use_one_name_per_concept() -> None:
    pages = {p.name: "\n".join(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "markdown")
             for p in CHAPTERS}
    pages.update({p.name: p.read_text() for p in (ROOT / "chapters").glob("*.md")})
    found = [f"{name}: {m.group(0)!r} (write {term!r})" for name, text in pages.items()
             for term, variants in TERMS.items() for m in re.finditer(variants, text)]
    assert not found, "\n".join(found)
