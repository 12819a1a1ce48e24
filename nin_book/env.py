"""Reading the package's environment switches (``NIN_BOOK_OFFLINE``) the same way everywhere.

Explained in chapter 5, "Training NiN on Fashion-MNIST" (where the data comes from).
"""

from __future__ import annotations

import os

__all__ = ["FALSE_SPELLINGS", "TRUE_SPELLINGS", "env_flag"]

TRUE_SPELLINGS = ("1", "true", "yes", "on")
FALSE_SPELLINGS = ("0", "false", "no", "off", "")


def env_flag(name: str, default: bool = False) -> bool:
    """The boolean environment variable ``name``: ``default`` if unset; true for 1/true/yes/on and false for
    0/false/no/off or an empty value (any case, surrounding spaces ignored). Any other value raises ``ValueError``
    naming the variable and the accepted spellings, rather than guessing what was meant.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_SPELLINGS:
        return True
    if value in FALSE_SPELLINGS:
        return False
    raise ValueError(f"{name}={raw!r} is not a true or false value; set it to one of {', '.join(TRUE_SPELLINGS)} "
                     f"(true) or {', '.join(s for s in FALSE_SPELLINGS if s)} or empty (false), or unset it")
