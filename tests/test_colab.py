"""Colab, simulated: every chapter runs from a plain (non-editable) install of the built wheel, alone in an
empty folder, as it does when a reader opens it in Colab.

Colab installs `nin_book` with `pip install git+…` (the chapters' first, hidden cell): a wheel built from the
repository, not the editable checkout. A subpackage or data file that the wheel leaves out (widget JavaScript,
the committed results) therefore breaks Colab while every local test passes. Here the wheel is built from a
copy of the sources and installed into a fresh virtual environment; the environment borrows the third-party
packages (torch, matplotlib, ...) already installed for the test run, as Colab brings its own, but the editable
`nin_book` is invisible there. Each chapter is copied alone into an empty folder and executed by a kernel running
in that environment under the `smoke` preset (conftest.py), and must show the committed results.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from toys import load_script

from nin_book.results import load_run

ROOT = Path(__file__).resolve().parents[1]
prose_numbers = load_script(ROOT / "tools" / "prose_numbers.py", "prose_numbers")
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
# Not part of the package: what a wheel built from the checkout must not depend on.
NOT_SOURCES = shutil.ignore_patterns(".git", "_build", "node_modules", ".venv", "build", "dist", "*.egg-info",
                                     "checkpoints", "data", "__pycache__", ".pytest_cache", ".ruff_cache")


def _glued(nb: nbformat.NotebookNode) -> dict[str, str]:
    """The values a notebook handed to its prose with myst-nb's glue(), as the prose shows them."""
    return {name: prose_numbers.format_plain_text(text, "") for name, text in prose_numbers.recorded_values(nb).items()}


@pytest.fixture(scope="module")
def colab_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("colab")
    shutil.copytree(ROOT, tmp / "src", ignore=NOT_SOURCES)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(tmp / "src"), "-w", str(tmp / "dist")], check=True)
    (wheel,) = (tmp / "dist").glob("nin_book-*.whl")

    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # The third-party packages of this test run, after the venv's own site-packages: a plain path entry, so
    # the editable install's import hook (a .pth file there) is not run and the checkout stays invisible.
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "outer_packages.pth").write_text("\n".join(sorted(outer)) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                   check=True)

    # Every dependency the wheel declares is importable there, at a version it accepts.
    check = """
import importlib.metadata as md, sys
from packaging.requirements import Requirement
bad = [str(r) for r in map(Requirement, md.requires("nin-book") or []) if r.marker is None or r.marker.evaluate({"extra": ""})
       if not r.specifier.contains(md.version(r.name), prereleases=True)]
sys.exit(f"unmet: {bad}" if bad else 0)
"""
    subprocess.run([str(python), "-c", check], check=True)

    kernels = tmp / "jupyter" / "kernels" / "colab-sim"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab (simulated)", "language": "python",
    }))
    return {"tmp": tmp, "venv": venv, "jupyter": tmp / "jupyter"}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_runs_from_a_plain_install(chapter: Path, colab_env: dict[str, Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(colab_env["jupyter"]))
    monkeypatch.delenv("PYTHONPATH", raising=False)  # nothing but the venv decides what is imported
    alone = colab_env["tmp"] / chapter.stem
    alone.mkdir()
    shutil.copy(chapter, alone)
    nb = nbformat.read(alone / chapter.name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import nin_book\nprint(nin_book.__file__)"))
    NotebookClient(nb, timeout=900, kernel_name="colab-sim", resources={"metadata": {"path": str(alone)}}).execute()

    imported_from = Path(nb.cells[-1].outputs[0]["text"].strip())
    assert imported_from.is_relative_to(colab_env["venv"]), f"nin_book came from {imported_from}, not the wheel"
    glued = _glued(nb)
    if chapter.stem.startswith("05_"):
        run = load_run("cpu")
        assert glued["final_acc"] == f"{run.final_test_accuracy:.3f}"
        assert glued["run_command"] == run.provenance["command"]
    if chapter.stem.startswith("06_"):
        assert glued["net_accuracy"] == f"{load_run('cpu').final_test_accuracy:.3f}"
        assert glued["net_preset"] == "cpu"
