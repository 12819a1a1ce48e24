"""Helpers for *nin-book*, an executable book about Network in Network (Lin, Chen & Yan, 2013).

Import what you need from the submodules, e.g. ``from nin_book.models import nin``.
Importing the package has no side effects: no seeding, no plotting style, no downloads.
"""

__version__ = "0.1.0"
