"""Sphinx glue for accessibility, loaded through `sphinx: local_extensions` in _config.yml (tests/test_a11y.py runs
axe-core's WCAG 2.1 A/AA rules on every page).

Fixes to what the theme, myst-nb and docutils write. The toggle and the button below are reported by axe-core as
label-content-name-mismatch (WCAG 2.5.3, "the visible text is part of the accessible name": speech-input users must
be able to say what they see):

- myst-nb's toggle for hidden code (`hide-input`, `hide-cell`) is a <summary aria-label="Toggle hidden content"> that
  shows "Show code cell source": the aria-label is dropped, so the summary is named by the text it shows.
- The references page: docutils' citation list (role="list") holds items with the deprecated role doc-biblioentry,
  so it has no list items (aria-required-children, critical): they become role="listitem".
- pydata-sphinx-theme's colour-mode button ("Color mode") held icons titled Light / Dark / System Settings, which
  Font Awesome turns into text inside the button: templates/theme-switcher.html hides them instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from myst_nb.sphinx_ import HideCodeCellNode, depart_HideCellInput, visit_HideCellInput
from sphinx.application import Sphinx

TEMPLATES = Path(__file__).resolve().parent / "templates"


def visit_hide_cell(self: Any, node: HideCodeCellNode) -> None:
    start = len(self.body)
    visit_HideCellInput(self, node)
    self.body[start:] = [part.replace(' aria-label="Toggle hidden content"', "") for part in self.body[start:]]


def fix_citation_roles(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    # docutils writes the references as <div role="list"> holding role="doc-biblioentry" items, a role ARIA 1.2
    # deprecates: the list then has no list items (axe-core: aria-required-children, critical).
    if "body" in context:
        context["body"] = context["body"].replace('role="doc-biblioentry"', 'role="listitem"')


def add_templates(app: Sphinx, config: Any) -> None:
    # Before the theme's own templates, so that the component above replaces the theme's.
    config.templates_path = [str(TEMPLATES), *config.templates_path]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_node(HideCodeCellNode, override=True, html=(visit_hide_cell, depart_HideCellInput))
    app.connect("config-inited", add_templates)
    app.connect("html-page-context", fix_citation_roles)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
