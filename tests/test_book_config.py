"""The book's configuration agrees with itself: table of contents, Colab cells, launch buttons, offline assets.

These run without building the book; tests/test_browser.py checks the built pages themselves.
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import nbformat
import pytest
import tomllib
import yaml
from toys import load_script

import nin_book

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))  # the chapters and the appendices
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())


def _vendor_tool() -> types.ModuleType:
    return load_script(ROOT / "tools" / "vendor_assets.py", "vendor_assets")


def _colab_tool() -> types.ModuleType:
    return load_script(ROOT / "tools" / "colab_cell.py", "colab_cell")


def _toc_entries(node: dict, numbered: bool = False) -> list[tuple[str, bool]]:
    """(file, numbered) for every entry below node, in order."""
    entries = []
    for part in node.get("parts", []):
        entries += _toc_entries(part, numbered or bool(part.get("numbered")))
    for entry in node.get("chapters", []) + node.get("sections", []):
        entries.append((entry["file"], numbered))
        entries += _toc_entries(entry, numbered)
    return entries


def _first_code_cell(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    return next(cell for cell in nb.cells if cell.cell_type == "code")


def test_there_are_chapters() -> None:
    assert len(CHAPTERS) >= 6, [p.name for p in CHAPTERS]


def test_toc_lists_every_chapter_numbered_in_order() -> None:
    entries = _toc_entries(TOC, bool(TOC.get("options", {}).get("numbered")))
    files = [file for file, _ in entries]
    chapters = [f"chapters/{p.stem}" for p in CHAPTERS]
    assert [f for f in files if f in chapters] == chapters, "every chapter notebook, in file-name order"
    assert all(numbered for file, numbered in entries if file in chapters), "chapters are numbered"
    assert "chapters/references" in files
    for file in [TOC["root"], *files]:
        assert any((ROOT / file).with_suffix(s).exists() for s in (".md", ".ipynb")), f"{file} in _toc.yml has no source"
    sources = [p for p in (ROOT / "chapters").glob("*") if p.suffix in (".md", ".ipynb")]
    pages = {p.relative_to(ROOT).with_suffix("").as_posix() for p in sources}
    assert pages <= set(files) | {TOC["root"]}, f"pages missing from _toc.yml: {sorted(pages - set(files))}"


def test_repository_and_launch_buttons_are_set_once() -> None:
    repo = CONFIG["repository"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repo["url"]), repo["url"]
    assert repo["branch"] == "main"
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_colab_install_cell_matches_config(path: Path) -> None:
    """The first code cell installs nin_book's release tag from the configured repository, and only in Colab.

    `git+{repository.url}@v{version}`: the repository from _config.yml, the version from pyproject.toml, so a fork
    changes one setting and a release one number (`python tools/colab_cell.py --write` rewrites the cells).
    """
    cell = _first_code_cell(path)
    assert "remove-cell" in cell.metadata.get("tags", []), "hidden from the HTML book"
    assert "colab-install" in cell.metadata.get("tags", []), "tools/colab_cell.py finds the cell by this tag"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    spec = f"git+{CONFIG['repository']['url']}@v{version}"
    assert spec in cell.source, f"the install cell should install {spec}: run python tools/colab_cell.py --write {path.name}"
    assert _colab_tool().install_cell_source() == cell.source, f"run python tools/colab_cell.py --write {path.name}"

    calls: list[list[str]] = []
    fake_subprocess = types.SimpleNamespace(run=lambda args, **kwargs: calls.append(list(args)))
    code = compile(cell.source, f"{path.name} cell 1", "exec")
    real_subprocess = sys.modules["subprocess"]
    try:
        # Elsewhere than Colab (Jupyter, nbval, the book build) it does nothing.
        sys.modules["subprocess"] = fake_subprocess
        assert "google.colab" not in sys.modules
        exec(code, {})
        assert calls == [], "the install cell ran pip outside Colab"
        # In Colab it runs pip once, for that repository and tag.
        sys.modules["google.colab"] = types.ModuleType("google.colab")
        exec(code, {})
    finally:
        sys.modules["subprocess"] = real_subprocess
        sys.modules.pop("google.colab", None)
    assert len(calls) == 1 and calls[0][-1] == spec and "pip" in calls[0], calls


def test_package_version_is_set_once() -> None:
    """The release tag v{version} the Colab cells install is the version pip reports and nin_book.__version__."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    assert nin_book.__version__ == version, "bump nin_book/__init__.py's __version__ with pyproject.toml's version"


def test_colab_tool_follows_the_settings(tmp_path: Path) -> None:
    """A fork's url or a version bump reaches every chapter's install cell through tools/colab_cell.py --write."""
    tool = _colab_tool()
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/someone/fork\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "9.8.7"\n')
    nb_path = tmp_path / "chapter.ipynb"
    nbformat.write(nbformat.read(NOTEBOOKS[0], as_version=4), nb_path)
    assert tool.sync([nb_path], write=False, root=tmp_path) == [nb_path]
    assert tool.sync([nb_path], write=True, root=tmp_path) == [nb_path]
    assert tool.sync([nb_path], write=False, root=tmp_path) == []
    cell = _first_code_cell(nb_path)
    assert '"git+https://github.com/someone/fork@v9.8.7"' in cell.source
    def others(path: Path) -> list:
        return [c for c in nbformat.read(path, as_version=4).cells if "colab-install" not in c.metadata.get("tags", [])]
    assert others(nb_path) == others(NOTEBOOKS[0]), "only the install cell changes"


def test_offline_assets_are_local_files() -> None:
    """MathJax, RequireJS and the widget manager come from the book's own files, not from a CDN."""
    sphinx = CONFIG["sphinx"]["config"]
    extra = [ROOT / path for path in sphinx["html_extra_path"]]
    scripts = [sphinx["mathjax_path"], *sphinx["nb_ipywidgets_js"]]
    assert len(scripts) == 3
    for script in scripts:
        assert "://" not in script and not script.startswith("//"), f"{script} would need the internet"
        # Sphinx resolves these against the built _static/; "../x" is x at the book's root, copied from html_extra_path.
        assert script.startswith("../"), script
        assert any((folder / script.removeprefix("../")).is_file() for folder in extra), f"{script} is not in {extra}"
    for url, attributes in sphinx["nb_ipywidgets_js"].items():
        assert not any("://" in str(value) for value in attributes.values()), f"{url} names a CDN: {attributes}"


def test_vendored_assets_match_the_lock_file() -> None:
    tool = _vendor_tool()
    assert tool.check_against_manifest() == []
    package = json.loads((ROOT / "package.json").read_text())
    assert package["dependencies"] == tool.locked_versions(), "package.json pins exactly what package-lock.json locks"


def test_every_citation_is_in_the_bibliography() -> None:
    """Chapters cite in plain text, linked to the references page: "Fashion-MNIST ([Xiao et al., 2017](references.md))".

    Plain text reads the same in Jupyter, Colab and on GitHub as on the HTML page (a {cite} role shows as markup
    there). Each citation's first author and year must name an entry of references.bib, which the references
    page lists in full.
    """
    bib = (ROOT / "references.bib").read_text()
    entries = {(m["surname"], m["year"]) for m in re.finditer(
        r"^@\w+\{[^,]+,(?:(?!^@).)*?author\s*=\s*\{(?P<surname>[^,}]+),(?:(?!^@).)*?year\s*=\s*\{(?P<year>\d{4})\}",
        bib, flags=re.M | re.S)}
    assert {("Lin", "2013"), ("Zhang", "2023"), ("Xiao", "2017")} <= entries, entries
    sources = [p.read_text() for p in (ROOT / "chapters").glob("*.md")]
    for path in CHAPTERS:
        sources += [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown"]
    citations = [(m["text"], text[max(0, m.start() - 40):m.start()]) for text in sources
                 for m in re.finditer(r"\[(?P<text>[^\]]*\d{4}[^\]]*)\]\(references\.md\)", text)]
    assert len(citations) >= 8, citations
    for link_text, before in citations:
        year = re.search(r"\d{4}", link_text)
        authors = [surname for surname, y in entries if y == year[0] and surname in link_text + before]
        assert authors, f"[{link_text}](references.md) after {before!r} names no entry of references.bib"
