"""Alt text: every figure says in words what it shows, and the text reaches the notebook output and the page's <img>.

nin_book.figures.alt records the text on the figure; enable_alt_text() (one call in each chapter's hidden plumbing
cell) puts it in the output's metadata; _ext/figure_alt.py copies it onto the built page's <img alt>, which
tests/test_a11y.py checks on every page of the built book.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from torch import nn  # noqa: E402

from nin_book.figures.alt import alt_text, describe_figure, with_alt  # noqa: E402
from nin_book.figures.conv import block_diagrams_figure, one_by_one_example_figure  # noqa: E402
from nin_book.figures.eval import plot_learning_curves, show_image_grid  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIGURE_MODULES = sorted(p for p in (ROOT / "nin_book" / "figures").glob("*.py") if p.stem not in ("__init__", "alt"))


def _figure_functions(path: Path) -> list[ast.FunctionDef]:
    tree = ast.parse(path.read_text())
    return [node for node in tree.body if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
            and isinstance(node.returns, ast.Name | ast.Constant) and "Figure" in ast.unparse(node.returns)]


def _own_returns(function: ast.FunctionDef) -> list[ast.Return]:
    """The function's return statements, not those of functions nested in it."""
    found, todo = [], list(function.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Return):
            found.append(node)
        elif not isinstance(node, ast.FunctionDef | ast.Lambda):
            todo += list(ast.iter_child_nodes(node))
    return found


@pytest.mark.parametrize("path", FIGURE_MODULES, ids=lambda p: p.stem)
def test_every_figure_function_returns_its_alt_text(path: Path) -> None:
    """Written where the figure is made: each public function that returns a Figure returns with_alt(fig, ...)."""
    functions = _figure_functions(path)
    assert functions, f"{path.name} makes no figure"
    for function in functions:
        returns = _own_returns(function)
        bare = [ast.unparse(r) for r in returns
                if not (isinstance(r.value, ast.Call) and ast.unparse(r.value.func) == "with_alt")]
        assert returns and not bare, f"{path.name}: {function.name} returns without alt text: {bare}"


def test_with_alt_records_words_and_refuses_nothing() -> None:
    fig = plt.figure()
    try:
        assert alt_text(fig) is None
        assert with_alt(fig, "  Two\n bars. ") is fig and alt_text(fig) == "Two bars."
        with pytest.raises(ValueError, match="say in words"):
            with_alt(fig, " \n")
    finally:
        plt.close(fig)


def test_alt_text_says_what_the_figure_shows() -> None:
    """The text is written from the data drawn, not a generic caption."""
    curves = plot_learning_curves([0.9, 0.3], [0.73, 0.94], [0.74, 0.93])
    assert "2 epochs" in alt_text(curves) and "0.900" in alt_text(curves) and "93.0%" in alt_text(curves)
    grid = show_image_grid(torch.zeros(3, 4, 4), [0, 1, 1], ["coat", "bag"], predictions=[0, 0, 1])
    assert "3 Fashion-MNIST images" in alt_text(grid) and "(2 right)" in alt_text(grid)
    assert "predicted coat, true bag" in alt_text(grid)
    block = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 1))
    diagram = block_diagrams_figure({"NiN block": block})
    assert alt_text(diagram).startswith("Layer diagrams") and "NiN block:" in alt_text(diagram)
    x = torch.arange(8.0).reshape(2, 2, 2)
    weight, bias = torch.tensor([[1.0, -1.0]]), torch.tensor([0.5])
    output = torch.einsum("oc,chw->ohw", weight, x) + bias[:, None, None]
    example = one_by_one_example_figure(x, weight, bias, output)
    assert "2 input channels of 2×2" in alt_text(example) and "output values -3.5." in alt_text(example)
    plt.close("all")


def test_figures_made_elsewhere_are_described_from_their_titles() -> None:
    fig, axes = plt.subplots(1, 2)
    axes[0].barh(["a", "b"], [1, 2])
    axes[0].set(title="Parameters", xlabel="parameters (thousands)")
    picture = axes[1].imshow([[1.0, 2.0]])
    axes[1].set_title("28×28, as stored")
    fig.colorbar(picture)
    fig.suptitle("Two designs")
    assert describe_figure(fig) == ("Figure 'Two designs' with 2 panels: bar chart titled 'Parameters', x axis "
                                    "'parameters (thousands)'; image titled '28×28, as stored'.")
    plt.close(fig)


def test_alt_text_reaches_the_notebook_output(tmp_path: Path) -> None:
    """In a real kernel: after enable_alt_text(), a figure's PNG output carries {"alt": ...}; a figure made without
    with_alt() is described from its titles."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from nin_book.figures.alt import enable_alt_text\nenable_alt_text()"),
        nbformat.v4.new_code_cell("from nin_book.figures.eval import plot_learning_curves\nimport matplotlib.pyplot as plt\n"
                                  "plot_learning_curves([0.9, 0.3], [0.73, 0.94], [0.74, 0.93])\nplt.show()"),
        nbformat.v4.new_code_cell("fig, ax = plt.subplots()\nax.plot([1, 2])\nax.set_title('Rise')\nplt.show()"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    with_text, without = nb.cells[1].outputs, nb.cells[2].outputs
    assert [o.output_type for o in with_text] == ["display_data"] and "image/png" in with_text[0].data
    assert with_text[0].metadata["image/png"]["alt"].startswith("Learning curves over 2 epochs")
    assert without[0].metadata["image/png"]["alt"] == "Figure with one panel: line plot titled 'Rise'."


def test_extension_finds_each_outputs_alt_by_the_images_hash() -> None:
    """myst-nb names an output image by the SHA-256 of its bytes; the extension maps that name to the output's alt."""
    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        from figure_alt import output_alts
    finally:
        sys.path.remove(str(ROOT / "_ext"))
    png = b"\x89PNG fake bytes"
    data = base64.b64encode(png).decode()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("", outputs=[
        nbformat.v4.new_output("display_data", data={"image/png": data}, metadata={"image/png": {"alt": "Two bars."}}),
        nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(b"other").decode()}),
    ])]
    assert output_alts(nb) == {hashlib.sha256(png).hexdigest(): "Two bars."}


NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapters_that_draw_figures_enable_alt_text(path: Path) -> None:
    """One explicit call, in the hidden plumbing cell: `from nin_book.figures.alt import enable_alt_text` and
    `enable_alt_text()` (importing nin_book changes nothing by itself)."""
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    if not any("nin_book.figures" in c.source for c in cells):
        pytest.skip("draws no figure")
    calls = [c for c in cells if "enable_alt_text()" in c.source]
    assert calls, f"{path.name}: call enable_alt_text() in the hidden cell that calls apply_book_style()"
    assert all("remove-cell" in c.metadata.get("tags", []) for c in calls), "the call sits in a hidden cell"
    first_figure = next(i for i, c in enumerate(cells) if "plt.show()" in c.source)  # plot cells end with it
    assert cells.index(calls[0]) < first_figure, f"{path.name}: enable_alt_text() before the first figure"
