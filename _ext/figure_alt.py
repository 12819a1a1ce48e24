"""Sphinx glue, loaded through `sphinx: local_extensions` in _config.yml: each figure's alt text onto its <img alt>.

The book's figures carry their alt text in the notebook output's metadata, `{"image/png": {"alt": ...}}`
(nin_book.figures.alt; the key nbconvert's HTML export reads). myst-nb 1.x takes an image's alt only from the
cell's metadata (`mystnb: image: alt:`), so without this the page's <img> falls back to the file's name and a screen
reader reads out a hash. myst-nb names each output image by the SHA-256 of its bytes; that name finds the output
whose metadata holds the text, in the executed notebook myst-nb writes beside the build (jupyter_execute/).

tests/test_a11y.py checks the built pages: every <img> has an alt that is not a file name.
"""

from __future__ import annotations

import binascii
import hashlib
from pathlib import Path
from typing import Any

import nbformat
from docutils import nodes
from sphinx.application import Sphinx


def output_alts(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """SHA-256 of each PNG output's bytes → the alt text in that output's metadata."""
    alts = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            alt = output.get("metadata", {}).get("image/png", {}).get("alt")
            png = output.get("data", {}).get("image/png")
            if alt and png:
                alts[hashlib.sha256(binascii.a2b_base64(png)).hexdigest()] = str(alt)
    return alts


def set_figure_alts(app: Sphinx, doctree: nodes.document) -> None:
    images = [node for node in doctree.findall(nodes.image) if "alt" not in node]
    config = getattr(app.env, "mystnb_config", None)
    if not images or config is None or not config.output_folder:
        return
    executed = Path(config.output_folder, *app.env.docname.split("/")).with_suffix(".ipynb")
    if not executed.is_file():
        return
    alts = output_alts(nbformat.read(executed, as_version=4))
    for node in images:
        alt = alts.get(Path(node["uri"]).stem)
        if alt:
            node["alt"] = alt


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("doctree-read", set_figure_alts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
