"""Interactive explorers for the chapters: each is a thin ipywidgets view over a pure, tested function.

Import the one you need, e.g. ``from nin_book.widgets.blocks import one_by_one_explorer``.
"""
