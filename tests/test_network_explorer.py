"""Chapter 6's network explorer: the exported network, the Python probe and the page's JavaScript agree.

PyTorch (the committed ``cpu`` network in eval mode) is the reference. nin_book.probe (float64 NumPy from the
exported float32 weights) defines what the page shows; nin_book/widgets/nin_forward.mjs, run by Debian's ``node``
on the first 1,000 real test images (tests/js/network_parity.mjs), must give the same predicted class for every
image and logits and 7×7 maps within 1e-4 of PyTorch. The explorer's ``update`` (the bundle the page runs) must
give the data-* attributes NetworkExplorer.view_data gives, refusals included.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from nin_book.batches import FASHION_MNIST_MEAN, FASHION_MNIST_STD, prepare_images
from nin_book.confidence import class_maps
from nin_book.export import EXPLORER_DATA, export_network, load_explorer_data, network_payload, write_explorer_data
from nin_book.models import nin
from nin_book.probe import Patch, occlusion_sensitivity, probe
from nin_book.results import load_run
from nin_book.sensitivity import occlusion_drops
from nin_book.widgets.base import asset_path
from nin_book.widgets.network import NetworkExplorer, network_explorer, network_view

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "tests" / "js" / "network_parity.mjs"
PARITY_IMAGES = 1000
TOLERANCE = 1e-4
MAX_SHIPPED_BYTES = 1_000_000


@pytest.fixture(scope="module")
def shipped() -> dict:
    return load_explorer_data()


@pytest.fixture(scope="module")
def test_images() -> tuple[np.ndarray, np.ndarray]:
    from nin_book.data import load_fashion_mnist

    data = load_fashion_mnist(download=False)
    return data.test_images[:PARITY_IMAGES].numpy(), data.test_labels[:PARITY_IMAGES].numpy()


def _torch_maps(images: np.ndarray, patches: list[Patch | None] | None = None):
    """PyTorch's maps and logits for uint8 images, each with its patch covered by the mean gray level."""
    x = prepare_images(torch.from_numpy(images))
    for i, patch in enumerate(patches or []):
        if patch is not None:
            x[i, :, patch.y:patch.y + patch.size, patch.x:patch.x + patch.size] = 0.0  # the mean, normalised
    return class_maps(load_run("cpu").model().eval(), x, batch_size=250)


def _patches(count: int, seed: int = 0) -> list[Patch | None]:
    """No patch for half the images; a random one (edges included) for the rest."""
    rng = np.random.default_rng(seed)
    return [None if i % 2 == 0 else Patch(int(rng.integers(0, 28)), int(rng.integers(0, 28)), int(rng.choice([2, 4, 8, 14])))
            for i in range(count)]


def _run_node(node: str, network, images: np.ndarray, patches, sensitivity, tmp_path: Path, sequences=()) -> dict:
    cases = {"network": network_payload(network),
             "images": base64.b64encode(np.ascontiguousarray(images, dtype=np.uint8).tobytes()).decode(),
             "patches": [None if p is None else {"x": p.x, "y": p.y, "size": p.size} for p in patches],
             "sensitivity": sensitivity,
             "sequences": [{"image": i, "patches": [None if p is None else {"x": p.x, "y": p.y, "size": p.size} for p in steps]}
                           for i, steps in sequences]}
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    run = subprocess.run([node, str(RUNNER), str(asset_path("nin_forward.mjs")), str(path)], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


# --- The export ---------------------------------------------------------------------------------------------------

def test_export_folds_batch_norm_exactly_on_a_small_network() -> None:
    torch.manual_seed(0)
    model = nin(widths=(4, 6, 8), first_block=(3, 1, 1), kernels=(3, 3, 3), pools=((2, 2, 0), (2, 2, 0), None),
                batch_norm=True, dropout=0.2)
    for m in model.modules():  # statistics far from the identity, so a wrong fold shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    model.eval()
    net = export_network(model)
    assert [layer["op"] for layer in net.layers].count("conv") == 12 and net.weights.dtype == np.float32
    assert not any(layer["op"] == "batchnorm" for layer in net.layers)
    images = np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    with torch.no_grad():
        expected = model(prepare_images(torch.from_numpy(images))).double().numpy()
    got = np.stack([probe(net, image).logits for image in images])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_export_refuses_what_the_browser_cannot_run() -> None:
    with pytest.raises(ValueError, match=r"cannot export Flatten: the browser runs nin\(\) with the 'gap' head only"):
        export_network(nin(widths=(4, 6, 8), first_block=(3, 1, 1), pools=((2, 2, 0), (2, 2, 0), None), head="fc",
                           image_size=28))


def test_shipped_data_is_the_committed_network_and_real_test_images(shipped: dict, test_images, tmp_path: Path) -> None:
    """The shipped file is what `python -m nin_book.export` writes today (not a stale export), within 1 MB."""
    fresh = write_explorer_data(tmp_path / "fresh.npz")
    again = load_explorer_data(fresh)
    np.testing.assert_array_equal(again["network"].weights, shipped["network"].weights)
    assert again["network"].layers == shipped["network"].layers
    np.testing.assert_array_equal(again["gallery"], shipped["gallery"])
    net = export_network(load_run("cpu").model())
    np.testing.assert_array_equal(net.weights, shipped["network"].weights)
    assert (net.mean, net.std) == (FASHION_MNIST_MEAN, FASHION_MNIST_STD)
    assert EXPLORER_DATA.stat().st_size <= MAX_SHIPPED_BYTES
    from nin_book.data import load_fashion_mnist

    data = load_fashion_mnist(download=False)
    indices = shipped["gallery_indices"]
    np.testing.assert_array_equal(shipped["gallery"], data.test_images[indices].numpy())
    np.testing.assert_array_equal(shipped["gallery_labels"], data.test_labels[indices].numpy())
    assert np.bincount(shipped["gallery_labels"]).tolist() == [10] * 10
    assert len(shipped["gallery"]) - 1 == next(c.max for c in NetworkExplorer.CONTROLS if c.trait == "gallery_index")


# --- Python and JavaScript against PyTorch --------------------------------------------------------------------------

def test_python_probe_matches_pytorch_on_real_test_images(shipped: dict, test_images) -> None:
    images, _ = test_images
    images = images[:300]
    patches = _patches(len(images))
    reference = _torch_maps(images, patches)
    got = [probe(shipped["network"], image, patch) for image, patch in zip(images, patches, strict=True)]
    assert [g.predicted for g in got] == reference.predictions.tolist()
    assert max(np.abs(g.logits - reference.logits[i].numpy()).max() for i, g in enumerate(got)) < TOLERANCE
    assert max(np.abs(g.maps - reference.maps[i].numpy()).max() for i, g in enumerate(got)) < TOLERANCE


def test_javascript_matches_pytorch_on_1000_test_images(node: str, shipped: dict, test_images, tmp_path: Path,
                                                        capsys) -> None:
    images, _ = test_images
    assert len(images) == PARITY_IMAGES
    patches = _patches(len(images))
    out = _run_node(node, shipped["network"], images, patches, [], tmp_path)
    reference = _torch_maps(images, patches)
    logits, maps = np.array(out["logits"]), np.array(out["maps"]).reshape(reference.maps.shape)
    wrong = int((np.array(out["predicted"]) != reference.predictions.numpy()).sum())
    logit_error = float(np.abs(logits - reference.logits.numpy()).max())
    map_error = float(np.abs(maps - reference.maps.numpy()).max())
    python = np.stack([probe(shipped["network"], image, patch).logits for image, patch in zip(images, patches, strict=True)])
    with capsys.disabled():
        print(f"\nJS vs PyTorch on {len(images)} test images ({sum(p is not None for p in patches)} with a patch): "
              f"{wrong} different predictions, max |logit error| {logit_error:.2e}, max |map error| {map_error:.2e}; "
              f"JS vs Python probe {np.abs(logits - python).max():.1e}; node {out['ms_per_image']:.1f} ms per image")
    assert wrong == 0
    assert logit_error < TOLERANCE and map_error < TOLERANCE
    assert np.abs(logits - python).max() < 1e-9  # both float64 from the same float32 weights


def test_a_moving_patch_recomputes_only_what_changed_and_still_agrees(node: str, shipped: dict, tmp_path: Path) -> None:
    """The page recomputes only the outputs a change reaches (a patch moved by a pixel, a stroke): step after step
    its numbers stay those of a whole pass (Python's) and PyTorch's."""
    walk = [Patch(x, 10, 8) for x in range(0, 21)] + [Patch(20, y, 8) for y in range(11, 21)] + [None, Patch(27, 27, 14),
                                                                                                  Patch(0, 0, 2), None]
    sequences = [(5, walk), (64, walk[::-1])]
    out = _run_node(node, shipped["network"], shipped["gallery"], [None] * len(shipped["gallery"]), [], tmp_path, sequences)
    for (i, steps), logits in zip(sequences, out["sequences"], strict=True):
        python = np.stack([probe(shipped["network"], shipped["gallery"][i], p).logits for p in steps])
        np.testing.assert_allclose(np.array(logits), python, atol=1e-9)
        reference = _torch_maps(np.repeat(shipped["gallery"][i:i + 1], len(steps), axis=0), steps)
        np.testing.assert_allclose(np.array(logits), reference.logits.double().numpy(), atol=TOLERANCE)


def test_occlusion_sensitivity_agrees_everywhere(node: str, shipped: dict, tmp_path: Path) -> None:
    """The page's occlusion map = nin_book.probe's = nin_book.sensitivity.occlusion_drops with the mean as fill."""
    gallery = shipped["gallery"]
    picks = [(0, 8), (37, 4), (95, 14), (51, 2)]
    out = _run_node(node, shipped["network"], gallery, [None] * len(gallery),
                    [{"image": i, "size": size} for i, size in picks], tmp_path)
    model = load_run("cpu").model().eval()
    for (i, size), js in zip(picks, out["sensitivity"], strict=True):
        python = occlusion_sensitivity(shipped["network"], gallery[i], size)
        np.testing.assert_allclose(np.array(js), python, atol=1e-9)
        x = prepare_images(torch.from_numpy(gallery[i:i + 1]))
        predicted = probe(shipped["network"], gallery[i]).predicted
        drops = occlusion_drops(model, x, torch.tensor([predicted]), patch=size, stride=4, fill=0.0).drops[0]
        np.testing.assert_allclose(python, drops.double().numpy(), atol=TOLERANCE)


# --- The widget: Python's view data = the page's --------------------------------------------------------------------

UPDATE_RUNNER = """
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const [bundle, casesPath] = process.argv.slice(2);
const m = await import(pathToFileURL(bundle).href);
const answers = JSON.parse(readFileSync(casesPath, "utf8")).map((s) => {
  try { return m.update(s).data; } catch (err) {
    if (!(err instanceof Error) || err.constructor !== Error) throw err;
    return { error: err.message };
  }
});
process.stdout.write(JSON.stringify(answers));
"""


def _settings_cases() -> list[dict]:
    rng = np.random.default_rng(7)
    drawing = base64.b64encode(rng.integers(0, 256, 784, dtype=np.uint8).tobytes()).decode()
    blank = base64.b64encode(bytes(784)).decode()
    cases = [{"gallery_index": int(rng.integers(0, 100)), "patch": bool(rng.integers(0, 2)),
              "patch_size": int(rng.choice([2, 4, 6, 8, 10, 12, 14])), "patch_x": int(rng.integers(0, 28)),
              "patch_y": int(rng.integers(0, 28)), "brush": 2, "pixels": ""} for _ in range(40)]
    cases += [{**cases[0], "pixels": drawing}, {**cases[1], "pixels": blank, "patch": True},
              {**cases[2], "gallery_index": 100}, {**cases[2], "gallery_index": -1}, {**cases[3], "patch_size": 16},
              {**cases[4], "pixels": "AAAA"}, {**cases[4], "pixels": "not base64!"}]
    return cases


def test_page_update_gives_pythons_view_data(node: str, tmp_path: Path) -> None:
    explorer = NetworkExplorer()
    bundle = tmp_path / "network_bundle.mjs"
    bundle.write_text(explorer._esm, encoding="utf-8")
    (tmp_path / "update.mjs").write_text(UPDATE_RUNNER)
    shared = {trait: getattr(explorer, trait) for trait in ("_network", "_gallery", "_palettes", "_limits")}
    cases = _settings_cases()
    (tmp_path / "cases.json").write_text(json.dumps([{**shared, **c} for c in cases]))
    run = subprocess.run([node, str(tmp_path / "update.mjs"), str(bundle), str(tmp_path / "cases.json")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    answers = json.loads(run.stdout)
    expected = [NetworkExplorer(**c).view_data() for c in cases]
    assert sum("error" in e for e in expected) == 5
    for case, e, a in zip(cases, expected, answers, strict=True):
        shown = {k: v for k, v in case.items() if k != "pixels"}
        assert a == e, f"{shown}: JS {a.get('error', '')} Python {e.get('error', '')}"


def test_bundle_is_one_valid_module(node: str, tmp_path: Path) -> None:
    bundle = tmp_path / "network.mjs"
    bundle.write_text(NetworkExplorer()._esm, encoding="utf-8")
    checked = subprocess.run([node, "--check", str(bundle)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr


def test_explorer_shows_the_gallery_image_a_drawing_and_a_patch(shipped: dict) -> None:
    view = network_explorer(12).view_data()
    assert view["source"] == f"test image {shipped['gallery_indices'][12]}"
    logits = [float(v) for v in view["logits"].split(",")]
    reference = probe(shipped["network"], shipped["gallery"][12])
    np.testing.assert_allclose(logits, reference.logits, atol=5e-5)
    assert view["predicted"] == shipped["class_names"][reference.predicted]
    assert len(view["maps"].split(",")) == 10 * 7 * 7
    edited = shipped["gallery"][12].copy()
    edited[:, :14] = 0  # a test image edited by hand: its left half erased
    drawn = network_explorer(image=edited).view_data()
    assert drawn["source"] == "drawn" and drawn["logits"] != view["logits"]
    covered = network_explorer(12, patch=True, patch_x=10, patch_y=10, patch_size=8)
    assert covered.view_data()["logits"] != view["logits"]
    assert covered.compute().patch == Patch(10, 10, 8)
    assert network_view(12, patch=False, patch_x=3).probe.logits.tolist() == reference.logits.tolist()


def test_bad_input_gets_one_line_naming_the_fix() -> None:
    with pytest.raises(ValueError, match="uint8 gray levels.*np.asarray"):
        network_explorer(image=np.zeros((28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="the gallery image must be 0 to 99, got 100"):
        network_explorer(100)
    assert NetworkExplorer(patch_size=30).view_data() == {"error": "the patch size must be 2 to 14 pixels, got 30"}
