"""The one base every explorer shares: an anywidget whose view computes in the browser.

A subclass declares its settings as synced traitlets and its controls as :class:`Control` rows, names its
ES module (``*.mjs`` beside this file), and says which pure ``nin_book`` function it shows
(:meth:`Explorer.compute`). The browser recomputes every number from the settings with ``nin_math.mjs``, so
the widget answers on the static HTML page (no kernel) as well as in JupyterLab, Notebook 7 and Colab.
:meth:`Explorer.view_data` gives, from Python, the ``data-*`` attributes the view must show for the current
settings: the tests compare the two. Explained in chapters 1–4 (each chapter's explorer).
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import traitlets

__all__ = ["Control", "Explorer", "asset_path", "esm_bundle"]

_HERE = Path(__file__).resolve().parent
# A relative import between the package's modules (one line each; the bundler checks none is left).
_LOCAL_IMPORT = re.compile(r'^import \{[^}\n]*\} from "\./[a-z_]+\.mjs";\n', re.MULTILINE)


def asset_path(name: str) -> Path:
    """The path of one of the explorers' ES modules (``nin_math.mjs``, ``view.mjs``, ``design.mjs``, ...).

    Explained in chapter 1, "The 1×1 convolution" (how the explorers run in the browser).
    """
    path = _HERE / name
    if not path.is_file():
        raise FileNotFoundError(f"no explorer module {name} beside {__file__}")
    return path


@functools.cache
def esm_bundle(entry: str, *modules: str) -> str:
    """One self-contained ES module: ``nin_math.mjs``, ``view.mjs``, any further ``modules`` the entry imports
    (e.g. ``nin_forward.mjs``) and the explorer's ``entry``, imports inlined.

    anywidget loads a widget's module from a Blob URL, where relative imports cannot resolve, so the
    files travel as one. Explained in chapter 1, "The 1×1 convolution".
    """
    code = "\n".join(_LOCAL_IMPORT.sub("", asset_path(name).read_text(encoding="utf-8"))
                     for name in ("nin_math.mjs", "view.mjs", *modules, entry))
    if 'from "./' in code:
        raise ValueError(f"{entry}: a relative import the bundler cannot inline (write each import on one line)")
    return code


@dataclass(frozen=True)
class Control:
    """One control of an explorer: a slider (``range``), a typed number (``number``) or a ``checkbox``."""

    trait: str
    label: str
    kind: str = "range"
    min: float = 0
    max: float = 100
    step: float = 1


def _text(value: object) -> str:
    return "" if value is None else str(value)


class Explorer(anywidget.AnyWidget):
    """Settings as synced traits, controls built by the view, every number recomputed in the browser.

    Subclasses set ``_esm = esm_bundle("<name>.mjs")``, ``CONTROLS`` and :meth:`compute` / :meth:`_view_data`.
    Explained in chapters 1–4 (the explorers).
    """

    CONTROLS: ClassVar[tuple[Control, ...]] = ()
    _controls = traitlets.List().tag(sync=True)

    @traitlets.default("_controls")
    def _default_controls(self) -> list[dict[str, Any]]:
        return [asdict(c) for c in self.CONTROLS]

    @property
    def settings(self) -> dict[str, Any]:
        """The current value of every control, by trait name."""
        return {c.trait: getattr(self, c.trait) for c in self.CONTROLS}

    def compute(self) -> Any:
        """The pure ``nin_book`` function's result for the current settings (``ValueError`` when impossible)."""
        raise NotImplementedError

    def _view_data(self, result: Any) -> dict[str, object]:
        raise NotImplementedError

    def view_data(self) -> dict[str, str]:
        """The ``data-*`` attributes (without ``data-``) the browser view must show for the current settings."""
        try:
            result = self.compute()
        except ValueError as err:
            return {"error": str(err)}
        return {key: _text(value) for key, value in self._view_data(result).items()}
