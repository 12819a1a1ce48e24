"""Numbers in the chapters' prose: plain text on every surface, still tied to the value the code computes.

A number in a markdown cell is written as plain text between two HTML comments that name the value:

    NiN has <!--glue:ch2_total_params:,-->1,992,166<!--/glue--> parameters.

JupyterLab, Colab, GitHub and the HTML book all hide HTML comments, so every reader sees "1,992,166". The
comment names a value that a code cell of the same chapter records with myst-nb's ``glue(name, value,
display=False)`` (kept in cells hidden from the page), and the optional format spec after the name is applied
as myst-nb's ``{glue:text}`` role would apply it. nbval compares those recorded values with a fresh run, and
``check`` compares the prose with the recorded values, so a number can go stale neither way.

Usage:
    python tools/prose_numbers.py [CHAPTER.ipynb ...]           # check (default: every chapter); exit 1 on a stale number
    python tools/prose_numbers.py --write [CHAPTER.ipynb ...]   # rewrite the prose from the recorded values

``tools/execute_chapters.py`` runs ``--write`` after executing a chapter, so re-executing is all a deliberate change
needs. A new number is added by writing the two comments with nothing between them and running ``--write``.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from myst_nb.ext.glue.roles import format_plain_text  # the {glue:text} role's own formatting

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
MARKER = re.compile(r"<!--glue:(?P<key>[\w.-]+)(?::(?P<fmt>[^>]*?))?-->(?P<text>.*?)<!--/glue-->", re.S)
# What a reader would see as markup on a surface other than the HTML book: MyST roles and directives.
MYST_MARKUP = re.compile(r"\{[a-z][\w:-]*\}`|^\s*(```|~~~|:::)\s*\{", re.M)
# A marker that begins a line (of a paragraph, list item or quote) starts an HTML block there: the rest of that
# line is then raw HTML instead of markdown on every surface, and the PDF drops it. Put a word before it.
MARKER_STARTS_LINE = re.compile(r"^[ \t]*(?:>[ \t]*)*(?:(?:[*+-]|\d+[.)])[ \t]+)?<!--glue:", re.M)


@dataclass(frozen=True)
class StaleNumber:
    """A number in the prose that differs from the value the code recorded."""

    chapter: str
    key: str
    prose: str
    computed: str | None  # None: no code cell records this value
    sentence: str

    def __str__(self) -> str:
        computed = "no code cell records it" if self.computed is None else f"the code computes {self.computed!r}"
        return f"{self.chapter}: {self.key}: the prose says {self.prose!r}, {computed}, in: {self.sentence}"


def recorded_values(nb: nbformat.NotebookNode) -> dict[str, str]:
    """The values the chapter's code handed to its prose with ``glue()``, as their stored text/plain form."""
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook", {})
            if "name" in record:
                values[record["name"]] = output["data"][record["mime_prefix"] + "text/plain"]
    return values


def _plain(text: str) -> str:
    """Markdown as a reader sees it: each marked number without its comments."""
    return MARKER.sub(lambda m: m["text"], text)


def _sentence(source: str, start: int, end: int) -> str:
    """The sentence around source[start:end], markers removed, the number in [brackets]."""
    before = source[:start]
    after = source[end:]
    left = max(before.rfind(". "), before.rfind("\n\n"), before.rfind("\n* "))
    stops = [i for i in (after.find(". "), after.find("\n\n")) if i >= 0]
    right = min(stops) + 1 if stops else len(after)
    number = MARKER.match(source, start)
    text = _plain(before[left + 1:]) + "[" + (number["text"] if number else "") + "]" + _plain(after[:right])
    return " ".join(text.split())


def stale_numbers(nb: nbformat.NotebookNode, chapter: str) -> list[StaleNumber]:
    """Every marked number of the chapter's markdown that differs from what its code recorded."""
    values = recorded_values(nb)
    stale = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for match in MARKER.finditer(cell.source):
            key, fmt = match["key"], match["fmt"] or ""
            computed = format_plain_text(values[key], fmt) if key in values else None
            if computed != match["text"]:
                stale.append(StaleNumber(chapter, key, match["text"], computed,
                                         _sentence(cell.source, match.start(), match.end())))
    return stale


def rewrite(nb: nbformat.NotebookNode) -> list[tuple[str, str, str]]:
    """Write each recorded value into the prose; returns (key, old, new) for every number changed.

    A marker whose value no code cell records is left as it is (``stale_numbers`` reports it).
    """
    values = recorded_values(nb)
    changed: list[tuple[str, str, str]] = []

    def replace(match: re.Match) -> str:
        key, fmt = match["key"], match["fmt"] or ""
        if key not in values:
            return match[0]
        new = format_plain_text(values[key], fmt)
        if new != match["text"]:
            changed.append((key, match["text"], new))
        suffix = f":{match['fmt']}" if match["fmt"] is not None else ""
        return f"<!--glue:{key}{suffix}-->{new}<!--/glue-->"

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = MARKER.sub(replace, cell.source)
    return changed


def markup_seen_as_text(nb: nbformat.NotebookNode) -> list[str]:
    """MyST roles and directives in markdown cells (only the HTML book renders them; JupyterLab, Colab and GitHub
    show them as they are), and markers that begin a line (which turn that line into raw HTML)."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            found += [f"cell {index}: {m[0].strip()!r}" for m in MYST_MARKUP.finditer(_plain(cell.source))]
            found += [f"cell {index}: a line begins with a marker: {cell.source[m.start():m.start() + 60]!r}"
                      for m in MARKER_STARTS_LINE.finditer(cell.source)]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", type=Path, help="notebooks (default: every chapter)")
    parser.add_argument("--write", action="store_true", help="rewrite the prose from the recorded values")
    args = parser.parse_args(argv)
    paths = args.chapters or sorted(CHAPTERS.glob("*.ipynb"))
    problems = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if args.write:
            changed = rewrite(nb)
            if changed:
                nbformat.write(nb, path)
            for key, old, new in changed:
                print(f"{path.name}: {key}: {old!r} -> {new!r}")
        for stale in stale_numbers(nb, path.name):
            print(stale, file=sys.stderr)
            problems += 1
    if problems:
        print(f"{problems} number(s) in the prose differ from the code; `python tools/prose_numbers.py --write` "
              "rewrites them after `python tools/execute_chapters.py` has recorded the new values", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
