"""The explorers' JavaScript gives the numbers, messages and failing layers nin_book's Python gives.

Random settings (a fixed seed; impossible ones included) are computed by the Python functions, written to a
JSON file, and run through the `.mjs` exports with Debian's `node` (tests/js/parity.mjs). Python is the source
of truth: a difference is a bug in nin_book/widgets/nin_math.mjs. Extreme settings (far beyond the controls,
inf, nan, zero, negative, the bounds themselves) must be refused with the same words on both sides.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
from pathlib import Path

import pytest

from nin_book.blocks import nin_block_summary, one_by_one_summary
from nin_book.compare import MAX_WIDTH_MULTIPLIER, MODEL_NAMES, compare_models
from nin_book.design import DEFAULT_DESIGN, design_nin, failing_layer, funnel_values
from nin_book.shapes import MAX_CHANNELS, MAX_SIZE, PartialTrace, trace_nin
from nin_book.widgets.base import asset_path

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "tests" / "js" / "parity.mjs"
CASES_PER_KIND = {"one_by_one": 300, "nin_block": 300, "trace": 300, "compare": 60, "design": 240}


def _rows(result: PartialTrace) -> list:
    return [[r.name, r.layer, list(r.output_shape), str(r.parameters), str(r.flops)] for r in result.trace]


def _python(kind: str, s: dict) -> dict:
    """The Python answer for one case, in the form tests/js/parity.mjs writes the JavaScript one."""
    try:
        if kind == "one_by_one":
            r = one_by_one_summary(**s)
            return {"weight_shape": list(r.weight_shape), "parameters": str(r.parameters), "flops": str(r.flops),
                    "output_shape": list(r.output_shape)}
        if kind == "nin_block":
            r = nin_block_summary(**s)
            return {"layers": [[x.name, x.layer, list(x.output_shape), str(x.parameters), str(x.flops), x.receptive_field]
                               for x in r.layers], "notes": list(r.notes)}
        if kind == "trace":
            r = trace_nin(s["input_size"], (s["kernel"], s["stride"], s["padding"]))
            return {"rows": _rows(r), "message": r.message, "failing_layer": failing_layer(r)}
        if kind == "compare":
            stats = compare_models(s["names"], s["width_multiplier"])
            return {"stats": [[x.name, str(x.parameters), str(x.flops), str(x.activations)] for x in stats]}
        d = design_nin(**s)
        opt = lambda v: None if v is None else str(v)  # noqa: E731
        return {"rows": _rows(d.result), "message": d.result.message, "failing_layer": d.failing_layer,
                "parameters": str(d.parameters), "flops": opt(d.flops),
                "funnel": [[name, list(shape), str(values)] for name, shape, values in funnel_values(d.result)],
                "references": [[x.name, str(x.parameters), opt(x.flops), failing_layer(x.result), x.result.message]
                               for x in d.references]}
    except ValueError as err:
        return {"error": str(err)}


def _settings(kind: str, rng: random.Random) -> dict:
    """One random setting: mostly within the explorers' controls, sometimes outside them (impossible on purpose)."""
    def size(low: int, high: int) -> int:
        return rng.randint(-2, 0) if rng.random() < 0.04 else rng.randint(low, high)

    if kind == "one_by_one":
        return {"in_channels": size(1, 1024), "out_channels": size(1, 1024), "height": size(1, 224), "width": size(1, 224)}
    if kind == "nin_block":
        return {"kernel": size(1, 15), "stride": size(1, 8), "padding": rng.randint(-1, 7), "input_size": size(1, 64),
                "in_channels": size(1, 512), "out_channels": size(1, 512)}
    if kind == "trace":
        return {"input_size": rng.choice([size(1, 120), size(1, 320)]), "kernel": size(1, 15), "stride": size(1, 6),
                "padding": rng.randint(-1, 6)}
    if kind == "compare":
        names = [n for n in MODEL_NAMES if rng.random() < 0.6]
        return {"names": rng.sample(names, len(names)),
                "width_multiplier": rng.choice([0.25 * rng.randint(1, 8), round(rng.uniform(-0.5, 3.0), 3)])}
    return {"width1": size(1, 512), "width2": size(1, 512), "width3": size(1, 768), "kernel": size(1, 15),
            "stride": size(1, 6), "padding": rng.randint(0, 6), "in_channels": size(1, 4), "num_classes": size(1, 1000),
            "input_size": rng.choice([224, size(1, 320), size(32, 320)])}


def _cases() -> list[dict]:
    rng = random.Random(20260601)
    cases = [{"kind": kind, "settings": _settings(kind, rng)} for kind, n in CASES_PER_KIND.items() for _ in range(n)]
    # The defaults, and the edges that break a layer exactly, are always in.
    cases += [{"kind": "design", "settings": {}}, {"kind": "trace", "settings": {"input_size": 63, "kernel": 11, "stride": 4,
                                                                             "padding": 0}},
              {"kind": "trace", "settings": {"input_size": 28, "kernel": 11, "stride": 4, "padding": 0}},
              {"kind": "compare", "settings": {"names": [], "width_multiplier": 1.0}}]
    return cases


# Whole-number settings at and beyond every edge. Each is exact in a JavaScript number (JSON carries it unchanged);
# a float that is a whole number (5.0) is left out: JSON cannot tell it from the int 5 that Python refuses it for.
EXTREME_WHOLE = (0, -1, -10**12, 10**12, 10**18, -10**18, MAX_SIZE, MAX_SIZE + 1, MAX_CHANNELS, MAX_CHANNELS + 1,
                 math.inf, -math.inf, math.nan, 2.5)
EXTREME_MULTIPLIERS = (0.0, -1.0, 1e-300, 1e-5, MAX_WIDTH_MULTIPLIER, MAX_WIDTH_MULTIPLIER + 0.25, 1e12, 1e18, 1e300,
                       math.inf, -math.inf, math.nan)
BASE_SETTINGS = {
    "one_by_one": {"in_channels": 3, "out_channels": 8, "height": 28, "width": 28},
    "nin_block": {"kernel": 11, "stride": 4, "padding": 0, "input_size": 224, "in_channels": 1, "out_channels": 96},
    "trace": {"input_size": 224, "kernel": 11, "stride": 4, "padding": 0},
    "design": dict(DEFAULT_DESIGN),
}


def _extreme_cases() -> list[dict]:
    """Every whole-number setting of every explorer set, one at a time, to each extreme; every multiplier extreme."""
    cases = [{"kind": kind, "settings": {**base, key: value}}
             for kind, base in BASE_SETTINGS.items() for key in base for value in EXTREME_WHOLE]
    cases += [{"kind": "compare", "settings": {"names": list(MODEL_NAMES), "width_multiplier": m}} for m in EXTREME_MULTIPLIERS]
    cases += [{"kind": "trace", "settings": {"input_size": math.inf, "kernel": 10**18, "stride": -1, "padding": math.nan}},
              {"kind": "trace", "settings": {"input_size": 10**12, "kernel": 10**12, "stride": 10**12, "padding": 10**12}},
              {"kind": "trace", "settings": {"input_size": MAX_SIZE, "kernel": MAX_SIZE, "stride": MAX_SIZE,
                                             "padding": MAX_SIZE}}]
    return cases


def _to_json(value: object) -> object:
    """JSON cannot hold inf or nan: they travel as {"$float": "inf"} and tests/js/parity.mjs turns them back."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": repr(value)}
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    return value


def _differences(node: str, cases: list[dict], expected: list[dict], tmp_path: Path) -> str:
    """The cases where the JavaScript's answer is not Python's, described (empty when they all agree)."""
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(_to_json(cases), allow_nan=False))
    run = subprocess.run([node, str(RUNNER), str(asset_path("nin_math.mjs")), str(path)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    actual = json.loads(run.stdout)
    wrong = [(c, e, a) for c, e, a in zip(cases, expected, actual, strict=True) if e != a]
    report = "\n".join(f"{c}\n  Python: {e}\n  JS:     {a}" for c, e, a in wrong[:5])
    return f"{len(wrong)} of {len(cases)} settings differ:\n{report}" if wrong else ""


def test_javascript_matches_python_on_random_settings(node: str, tmp_path: Path) -> None:
    cases = _cases()
    assert len(cases) >= 1000
    expected = [_python(c["kind"], c["settings"]) for c in cases]
    kinds = {c["kind"] for c, e in zip(cases, expected, strict=True) if "error" in e or e.get("failing_layer")}
    assert kinds >= {"one_by_one", "nin_block", "trace", "compare", "design"}, "every kind needs impossible settings too"
    report = _differences(node, cases, expected, tmp_path)
    assert not report, report


def test_javascript_matches_python_on_extreme_settings(node: str, tmp_path: Path) -> None:
    """1e12, 1e18, inf, nan, zero, negative and the bounds: Python refuses them with ValueError (never a raw
    RuntimeError or OverflowError) and the JavaScript refuses the same ones with the same words."""
    cases = _extreme_cases()
    expected = [_python(c["kind"], c["settings"]) for c in cases]
    refused = {c["kind"] for c, e in zip(cases, expected, strict=True) if "error" in e or "must be" in e.get("message", "")}
    assert refused == {"one_by_one", "nin_block", "trace", "compare", "design"}
    trace = {json.dumps(_to_json(c["settings"])): e for c, e in zip(cases, expected, strict=True) if c["kind"] == "trace"}
    assert trace[json.dumps({**BASE_SETTINGS["trace"], "input_size": 10**12})]["message"] == \
        "input size must be at most 65,536, got 1,000,000,000,000"
    assert trace[json.dumps({**BASE_SETTINGS["trace"], "input_size": MAX_SIZE})]["failing_layer"] is None  # the bound runs
    report = _differences(node, cases, expected, tmp_path)
    assert not report, report


def test_defaults_reproduce_the_book_nin() -> None:
    design = design_nin()
    assert design.ok and design.parameters == 1_992_166


@pytest.mark.parametrize("entry", ["one_by_one.mjs", "nin_block.mjs", "trace.mjs", "compare.mjs", "design.mjs"])
def test_every_explorer_bundle_is_one_valid_module(node, entry, tmp_path):
    """The page runs each explorer as one module (nin_math.mjs, view.mjs and the entry inlined): a name declared in
    two of them is a SyntaxError there that no test of the separate modules sees."""
    from nin_book.widgets.base import esm_bundle

    bundle = tmp_path / entry
    bundle.write_text(esm_bundle(entry), encoding="utf-8")
    checked = subprocess.run([node, "--check", str(bundle)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
