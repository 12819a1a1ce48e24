"""How long chapter 6's network explorer takes from an input change to all ten maps and the bars redrawn, in headless
Chromium (a benchmark, not a test).

Usage: python benchmarks/explorer_network.py [--changes 200] [--out nin_book/results/explorer_network.json]

Opens the built book's chapter 6 (`jupyter-book build .` first) from file://, finds the network explorer, ticks the
grey patch, and times three kinds of input change, each `--changes` times after a warm-up: the patch moved by one
pixel (its slider set and an `input` event, as the arrow keys and the mouse do: the pass recomputes what the move
reaches), the gallery image changed (a whole forward pass: the reference, measured in the same run), and one
drawing step (a pointer move on the canvas, drawing and erasing in turn). Each time runs from the event to the redrawn view
(its data-renders count grew, a forced layout ran), taken with performance.now() inside the page. Reports median,
95th percentile and maximum per kind, with the date, the load average, the CPU model and the Chromium version;
the JSON is written atomically. The goal: median under 16 ms (one 60 Hz frame) and 95th percentile under 33 ms.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import statistics
import sys
from pathlib import Path

from headless_chromium import chromium_version, explorer_page  # benchmarks/, beside this script

from nin_book.results import cpu_model, load_average, write_json

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "_build" / "html" / "chapters" / "06_confidence_maps.html"
GOAL_MEDIAN_MS, GOAL_P95_MS = 16, 33

# Times `changes` input changes of one kind; milliseconds, each from the event to the redrawn, laid-out view.
CHANGE_JS = """
const [kind, changes] = arguments;
const root = [...document.querySelectorAll('.nin-explorer')].find(r => r.dataset.explorer === 'network');
const slider = (trait) => root.querySelector(`input[data-trait="${trait}"]`);
const canvas = root.querySelector('canvas.nin-input');
canvas.scrollIntoView({block: 'center'});
const box = canvas.getBoundingClientRect();
const pointer = (type, i) => canvas.dispatchEvent(new PointerEvent(type, {bubbles: true, pointerId: 7, pointerType: 'mouse',
  isPrimary: true, clientX: box.left + box.width * (0.2 + 0.6 * ((i % 40) / 40)), clientY: box.top + box.height * 0.5}));
const times = [];
if (kind === 'draw') { root.querySelector('button[data-tool=draw]').click(); pointer('pointerdown', 0); }
for (let i = 0; i < changes; i++) {
  // Drawing and erasing in turn: each step changes pixels (a stroke over its own white would redraw nothing).
  if (kind === 'draw') root.querySelector(`button[data-tool=${i % 2 ? 'draw' : 'erase'}]`).click();
  const before = Number(root.dataset.renders);
  const t0 = performance.now();
  if (kind === 'patch') {
    const s = slider('patch_x');
    s.value = String(6 + (i % 8));
    s.dispatchEvent(new Event('input', {bubbles: true}));
  } else if (kind === 'gallery') {
    const s = slider('gallery_index');
    s.value = String((i * 7) % 100);
    s.dispatchEvent(new Event('input', {bubbles: true}));
  } else {
    pointer('pointermove', i + 1);
  }
  void root.offsetHeight;  // layout of the redrawn view
  if (Number(root.dataset.renders) <= before) throw new Error(`the view did not redraw (${kind})`);
  times.push(performance.now() - t0);
}
if (kind === 'draw') { pointer('pointerup', changes); root.querySelector('button[data-action=reset]').click(); }
return times;
"""

TICK_PATCH_JS = """
const root = [...document.querySelectorAll('.nin-explorer')].find(r => r.dataset.explorer === 'network');
const box = root.querySelector('input[data-trait="patch"]');
if (!box.checked) box.click();
"""


def _summary(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    return {"median_ms": round(statistics.median(times), 3), "p95_ms": round(p95, 3), "max_ms": round(times[-1], 3),
            "changes": len(times)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None, help="write the result JSON here (atomically)")
    args = parser.parse_args(argv)
    kinds = {}
    with explorer_page(PAGE, "network") as driver:
        driver.execute_script(TICK_PATCH_JS)
        for kind in ("patch", "gallery", "draw"):
            driver.execute_script(CHANGE_JS, kind, 20)  # warm-up: the JIT compiles the hot loops
            kinds[kind] = _summary(driver.execute_script(CHANGE_JS, kind, args.changes))
        version = chromium_version(driver)
    result = {
        "what": "chapter 6 network explorer: input change → ten class maps, logits, bars and summary redrawn (+ layout)",
        "kinds": {"patch": "grey patch moved 1-7 px (patch_x slider, input event)", "gallery": "another gallery image "
                  "(a whole forward pass: the reference)", "draw": "one pointer move of a stroke (draw and erase in turn)"},
        **{kind: stats for kind, stats in kinds.items()},
        "patch_over_full_pass": round(kinds["patch"]["median_ms"] / kinds["gallery"]["median_ms"], 3),
        "goal": {"median_ms": GOAL_MEDIAN_MS, "p95_ms": GOAL_P95_MS},
        "meets_goal": all(s["median_ms"] < GOAL_MEDIAN_MS and s["p95_ms"] < GOAL_P95_MS for s in kinds.values()),
        "load_average": load_average(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": cpu_model(),
        "cpus": os.cpu_count(),
        "chromium": version,
        "command": "python benchmarks/explorer_network.py " + shlex.join(argv),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
