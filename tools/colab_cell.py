"""Write or check the hidden Colab install cell at the top of every chapter, from the book's one setting.

Usage:
    python tools/colab_cell.py                     # check every notebook in chapters/ (exit 1, naming each that differs)
    python tools/colab_cell.py --write             # rewrite the cell in every notebook that differs
    python tools/colab_cell.py --write chapters/X.ipynb   # only these notebooks

The cell installs `nin_book` in Colab with `pip install git+{repository.url}@v{version}`: the repository is named once,
in _config.yml (`repository: url:`), and the version once, in pyproject.toml (`project.version`), whose release is the
git tag `v{version}` (README, "Publishing your own copy"). A tag, not a branch: a page then runs the code it was built
with, not whatever the branch holds by the time a reader opens it. tests/test_book_config.py holds every chapter to
this cell; after a version bump or a fork's change of `repository: url:`, run this with --write.

Only the first code cell's source changes (it prints nothing, so its stored outputs stay valid); it must already be
the install cell (tagged `colab-install`), which this tool refuses to guess.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
TAG = "colab-install"
CELL = '''\
# In Colab, install the book's helpers from the repository; elsewhere (Jupyter, nbval) this does nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "{spec}"], check=True)'''


def package_version(root: Path = ROOT) -> str:
    """The package version, from pyproject.toml (the one place it is set)."""
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]


def install_spec(root: Path = ROOT) -> str:
    """`git+{repository.url}@v{version}`: what the Colab cell installs."""
    url = yaml.safe_load((root / "_config.yml").read_text())["repository"]["url"]
    return f"git+{url}@v{package_version(root)}"


def install_cell_source(root: Path = ROOT) -> str:
    return CELL.format(spec=install_spec(root))


def _install_cell(nb: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    cell = next((c for c in nb.cells if c.cell_type == "code"), None)
    if cell is None or TAG not in cell.metadata.get("tags", []):
        raise SystemExit(f"{path}: the first code cell is not tagged {TAG!r}; add the install cell by hand first")
    return cell


def sync(paths: list[Path], write: bool, root: Path = ROOT) -> list[Path]:
    """The notebooks whose install cell differs from the configured one (rewritten when `write`)."""
    source = install_cell_source(root)
    stale = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        cell = _install_cell(nb, path)
        if cell.source != source:
            stale.append(path)
            if write:
                cell.source = source
                nbformat.write(nb, path)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in chapters/")
    parser.add_argument("--write", action="store_true", help="rewrite the cells that differ")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "chapters").glob("*.ipynb"))
    stale = sync(paths, args.write)
    verb = "rewrote" if args.write else "differs from"
    for path in stale:
        print(f"{path}: {verb} the install cell for {install_spec()}")
    return 0 if args.write or not stale else 1


if __name__ == "__main__":
    sys.exit(main())
