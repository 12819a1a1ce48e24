"""Sphinx glue for the printed book (`tools/build_pdf.py`), loaded through `sphinx: local_extensions` in _config.yml.

- **Explorers in the PDF.** An explorer is drawn by JavaScript in the HTML page; LaTeX would print its Python repr.
  For the LaTeX builder each saved explorer becomes a paragraph with its saved state (every control's label and
  value, from the notebook's saved widget state) and a line that points to the chapter's HTML page, whose address
  follows `repository: url:` in _config.yml (GitHub Pages: https://<owner>.github.io/<repository>/).
- **Chapter numbers as in the HTML.** The root page's own sections are printed unnumbered, so that the PDF numbers
  the chapters 1-7 as the HTML book does.
- **The PDF in the HTML book.** When `tools/build_pdf.py` has made `_build/latex/nin-book.pdf` before the HTML build,
  the HTML build copies it to the book's root and adds "the book (PDF)" to every page's download menu. Without a
  PDF there is no link, so a book built without TeX has no broken link (tests/test_browser.py checks links).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform

PDF_NAME = "nin-book.pdf"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_MODEL_ID = re.compile(r'"model_id":\s*"([^"]+)"')


def pages_url(repository_url: str) -> str:
    """The GitHub Pages address the workflow publishes a repository to (README, "Publishing your own copy")."""
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)/?", repository_url or "")
    if not match:
        raise ValueError(f"repository: url: in _config.yml must be https://github.com/<owner>/<repository>, "
                         f"got {repository_url!r}")
    owner, repo = match.groups()
    site = f"https://{owner.lower()}.github.io/"
    return site if repo.lower() == f"{owner.lower()}.github.io" else f"{site}{repo}/"


def explorer_summary(state: dict[str, Any]) -> str:
    """An explorer's saved settings in words: "label value; label value" from its controls (`_controls`)."""
    parts = []
    for control in state.get("_controls", []):
        value = state.get(control["trait"])
        if isinstance(value, bool):
            value = "on" if value else "off"
        parts.append(f"{control['label']} {value}")
    return "; ".join(parts)


def widget_states(notebook: nbformat.NotebookNode) -> dict[str, dict[str, Any]]:
    """Model id → saved state of every widget in the notebook's metadata."""
    saved = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    return {model_id: model.get("state", {}) for model_id, model in saved.items()}


class ExplorersForPrint(SphinxPostTransform):
    """Replace each saved widget output by its static state and a line to the HTML page (LaTeX builder only)."""

    default_priority = 3  # before myst-nb picks one mime type per output (priority 4)
    builders = ("latex",)

    def run(self, **kwargs: Any) -> None:
        bundles = [node for node in self.document.findall(nodes.container)
                   if node.get("nb_element") == "mime_bundle"
                   and any(child.get("mime_type") == WIDGET_VIEW for child in node.children)]
        if not bundles:
            return
        site = pages_url(self.app.config.html_theme_options.get("repository_url", ""))
        for bundle in bundles:
            # The LaTeX builder joins every chapter into one document: each output's own source names its chapter.
            docname = self.env.path2doc(bundle.source or "") or self.env.docname
            states = self._states(docname)
            url = f"{site}{docname}.html"
            view = next(child for child in bundle.children if child.get("mime_type") == WIDGET_VIEW)
            model_id = _MODEL_ID.search(view.astext())
            state = states.get(model_id.group(1), {}) if model_id else {}
            summary = explorer_summary(state)
            paragraph = nodes.paragraph(classes=["explorer-for-print"])
            paragraph += nodes.strong(text="Interactive explorer. ")
            if summary:
                paragraph += nodes.Text(f"Shown here as saved: {summary}. ")
            paragraph += nodes.Text("Move its controls on this chapter's HTML page: ")
            paragraph += nodes.reference(refuri=url, text=url)
            bundle.replace_self(paragraph)

    def _states(self, docname: str) -> dict[str, dict[str, Any]]:
        executed = Path(self.env.mystnb_config.output_folder, *docname.split("/")).with_suffix(".ipynb")
        return widget_states(nbformat.read(executed, as_version=4)) if executed.is_file() else {}


class FrontMatterUnnumbered(SphinxPostTransform):
    """The root page's own sections (What you will learn, ...) as unnumbered headings in print (LaTeX builder only).

    LaTeX turns the root page's second-level sections into chapters 1-4 and numbers the book's chapters from 5,
    while the HTML book numbers them from 1. The LaTeX builder joins every page into one document under the root
    page; each included page sits in a ``start_of_file`` node, so the root's own sections are those outside one.
    """

    default_priority = 5
    builders = ("latex",)

    def run(self, **kwargs: Any) -> None:
        for section in list(self.document.findall(nodes.section)):
            if not isinstance(section.parent, nodes.section) or _inside(section, addnodes.start_of_file):
                continue  # the root page's title (the PDF's title page), or a section of a chapter
            title, *body = section.children
            section.replace_self([nodes.rubric("", "", *title.children), *body])


def _inside(node: nodes.Node, kind: type[nodes.Node]) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, kind):
            return True
        parent = parent.parent
    return False


def _built_pdf(app: Sphinx) -> Path:
    return Path(app.outdir).parent / "latex" / PDF_NAME


def add_pdf_link(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    if app.builder.format != "html" or not _built_pdf(app).is_file():
        return
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            group["buttons"].append({
                "type": "link", "url": context["pathto"](PDF_NAME, 1), "text": "book .pdf",
                "tooltip": "Download the whole book as a PDF", "icon": "fas fa-book", "label": "download-book-pdf-button",
            })


def copy_pdf(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html" and _built_pdf(app).is_file():
        shutil.copy2(_built_pdf(app), Path(app.outdir) / PDF_NAME)


def note_pdf(app: Sphinx, config: Any) -> None:
    # In the pages' context, so that a PDF made (or removed) since the last build rewrites every page (its menu).
    config.html_context = {**config.html_context, "nin_book_pdf": _built_pdf(app).is_file()}


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_post_transform(ExplorersForPrint)
    app.add_post_transform(FrontMatterUnnumbered)
    app.connect("config-inited", note_pdf)
    # After sphinx-book-theme (priority 501) has made the page's download menu.
    app.connect("html-page-context", add_pdf_link, priority=950)
    app.connect("build-finished", copy_pdf)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
