"""The book's one figure style, applied explicitly (importing this module changes nothing).

Use ``with book_style(): ...`` around a figure, or ``apply_book_style()`` once at the top of a chapter.
Explained in the introduction, "How to read this book".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import matplotlib as mpl

__all__ = ["BOOK_STYLE", "CLASS_COLORS", "apply_book_style", "book_style"]

# One palette for the whole book: colour-blind safe (Okabe–Ito), NiN always in the first colour.
CLASS_COLORS: tuple[str, ...] = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#999999", "#882255",
)

BOOK_STYLE: dict[str, object] = {
    "figure.figsize": (7.0, 3.6),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": mpl.cycler(color=list(CLASS_COLORS)),
    "image.cmap": "viridis",
    "legend.frameon": False,
}


def apply_book_style() -> None:
    """Set the book's figure style for the rest of the session (call it once per chapter).

    Explained in the introduction, "How to read this book".
    """
    mpl.rcParams.update(BOOK_STYLE)


@contextlib.contextmanager
def book_style() -> Iterator[None]:
    """Use the book's figure style inside a ``with`` block only."""
    with mpl.rc_context(BOOK_STYLE):
        yield
