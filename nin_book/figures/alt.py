"""Alt text: what each of the book's figures shows, in words, for a reader who cannot see it.

Every figure function in ``nin_book.figures`` ends with ``return with_alt(fig, "...")``, written from the data it
drew; a figure made elsewhere is described from its own titles and axis labels (``describe_figure``).
``enable_alt_text()``, called once in a chapter's hidden plumbing cell, makes IPython attach that text to the
figure's PNG output as the output metadata ``{"image/png": {"alt": ...}}`` (the key nbconvert's HTML export reads);
the book's Sphinx extension (``_ext/figure_alt.py``) puts it on the page's ``<img alt=...>``. Importing this module
changes nothing.

Used by the figures of every chapter, first in chapter 1, "The 1×1 convolution".
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["alt_text", "describe_figure", "enable_alt_text", "with_alt"]

# Weak: a figure closed after plt.show() takes its text with it.
_ALT: WeakKeyDictionary[Figure, str] = WeakKeyDictionary()


def with_alt(fig: Figure, text: str) -> Figure:
    """Record ``text`` as the alt text of ``fig`` and return ``fig``.

    Used by the figures of every chapter, first in chapter 1, "The 1×1 convolution".
    """
    text = " ".join(text.split())
    if not text:
        raise ValueError("alt text is empty: say in words what the figure shows")
    _ALT[fig] = text
    return fig


def alt_text(fig: Figure) -> str | None:
    """The alt text recorded for ``fig`` by ``with_alt``, or None.

    Used by the figures of every chapter, first in chapter 1, "The 1×1 convolution".
    """
    return _ALT.get(fig)


def _kind(ax: Axes) -> str:
    if ax.images:
        return "image"
    if ax.patches and not ax.lines:
        return "bar chart"
    if ax.collections and not ax.lines:
        return "scatter plot"
    return "line plot" if ax.lines else "drawing"


def describe_figure(fig: Figure) -> str:
    """A figure without ``with_alt`` text, in words from its own titles and axis labels (better than a file name).

    Used by the figures of every chapter, first in chapter 1, "The 1×1 convolution".
    """
    panels = []
    for ax in fig.get_axes():
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        words = [f"{_kind(ax)}" + (f" titled {ax.get_title()!r}" if ax.get_title() else "")]
        words += [f"{axis} axis {label!r}" for axis, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())) if label]
        panels.append(", ".join(words))
    title = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""  # matplotlib >= 3.8
    head = f"Figure {title!r}" if title else "Figure"
    count = f"{len(panels)} panels" if len(panels) != 1 else "one panel"
    return " ".join(f"{head} with {count}: {'; '.join(panels)}.".split()) if panels else head + "."


def _alt_metadata(fig: Figure) -> tuple[dict, dict]:
    # A mime-bundle formatter that adds metadata only: IPython still asks matplotlib's inline backend for the PNG.
    # It survives the backend re-registering its PNG formatter (on `%matplotlib inline` or a first pyplot import),
    # which replaces only the per-format formatters.
    return {}, {"image/png": {"alt": alt_text(fig) or describe_figure(fig)}}


def enable_alt_text() -> None:
    """Attach each figure's alt text to its displayed output in this IPython session (outside IPython: nothing).

    Used by the figures of every chapter, first in chapter 1, "The 1×1 convolution".
    """
    from IPython import get_ipython  # IPython is there wherever a figure is displayed

    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.mimebundle_formatter.for_type(Figure, _alt_metadata)
