"""One small table type for everything the book prints as a table (text and HTML)."""

from __future__ import annotations

import html
from collections.abc import Sequence

__all__ = ["Table"]


class Table:
    """A small table that shows as HTML in a notebook and as aligned text elsewhere.

    ``numeric`` lists the columns to right-align. Used for every table the chapters print (traces in
    chapter 3, comparisons in chapter 4).
    """

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()):
        self.header = list(header)
        self.rows = [list(r) for r in rows]
        self.numeric = set(numeric)
        if any(len(r) != len(self.header) for r in self.rows):
            raise ValueError(f"every row needs {len(self.header)} cells")

    def column(self, name: str) -> list[str]:
        i = self.header.index(name)
        return [r[i] for r in self.rows]

    def __str__(self) -> str:
        widths = [max(len(r[i]) for r in [self.header, *self.rows]) for i in range(len(self.header))]

        def line(cells: list[str]) -> str:
            return "  ".join(c.rjust(w) if i in self.numeric else c.ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

        return "\n".join([line(self.header), "  ".join("-" * w for w in widths), *(line(r) for r in self.rows)])

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        def cell(tag: str, i: int, text: str) -> str:
            # Inline padding: long numbers in neighbouring columns must not run together, in Jupyter or the book.
            # A number such as "91.2 ± 0.2" must not break over two lines on a narrow page; headers and text may wrap.
            style = "text-align:right" if i in self.numeric else "text-align:left"
            if tag == "td" and i in self.numeric:
                style += ";white-space:nowrap"
            return f'<{tag} style="{style};padding:2px 7px">{html.escape(text)}</{tag}>'

        head = "".join(cell("th", i, h) for i, h in enumerate(self.header))
        body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>" for r in self.rows)
        return f'<table class="nin-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
