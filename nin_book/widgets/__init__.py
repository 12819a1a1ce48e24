"""Interactive explorers for the chapters: anywidgets that compute in the browser, over pure, tested functions.

Import the one you need, e.g. ``from nin_book.widgets.blocks import one_by_one_explorer``. Each explorer's
numbers come from ``nin_math.mjs`` in the browser, which mirrors ``nin_book.blocks``, ``shapes``, ``compare``
and ``design`` (tests/test_explorer_parity.py checks it); the pictures are SVG drawn by the same modules.
Chapter 6's network explorer (``network``) runs the trained NiN itself with ``nin_forward.mjs``, which mirrors
``nin_book.probe`` (tests/test_network_explorer.py checks it against Python and PyTorch).
"""
