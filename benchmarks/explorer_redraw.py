"""How long an explorer takes from a slider move to its redrawn view, in headless Chromium (a benchmark, not a test).

Usage: python benchmarks/explorer_redraw.py [--moves 200] [--out nin_book/results/explorer_redraw.json]

Opens the built book's chapter 4 (`jupyter-book build .` first) from file://, finds "Design your NiN" at its
defaults, and moves one slider back and forth: each move sets the range input and dispatches its `input` event,
then the time until the view has redrawn (its data-renders count grew, and a forced layout has run) is taken with
performance.now() inside the page. Reports the median and the 95th percentile, with the date, the CPU model and
the Chromium version; the JSON is written atomically. The goal is a median below 16 ms, one frame.
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
PAGE = ROOT / "_build" / "html" / "chapters" / "04_parameters_vs_vgg.html"

# One move: set the slider to the other of two values, fire its input event, force layout; milliseconds.
MOVE_JS = """
const [index, trait, values, moves] = arguments;
const root = document.querySelectorAll('.nin-explorer')[index];
const slider = root.querySelector(`input[data-trait="${trait}"]`);
const times = [];
for (let i = 0; i < moves; i++) {
  const before = Number(root.dataset.renders);
  const t0 = performance.now();
  slider.value = String(values[i % 2]);
  slider.dispatchEvent(new Event('input', {bubbles: true}));
  void root.offsetHeight;  // layout of the redrawn view
  if (Number(root.dataset.renders) !== before + 1) throw new Error('the view did not redraw');
  times.push(performance.now() - t0);
}
return times;
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=200)
    parser.add_argument("--trait", default="width3", help="the Design your NiN slider to move")
    parser.add_argument("--out", type=Path, default=None, help="write the result JSON here (atomically)")
    args = parser.parse_args(argv)
    with explorer_page(PAGE, "design") as driver:
        index = driver.execute_script(
            "return [...document.querySelectorAll('.nin-explorer')].findIndex(r => r.dataset.explorer === 'design')")
        default = driver.execute_script(f"return Number(document.querySelectorAll('.nin-explorer')[{index}]"
                                        f".querySelector('input[data-trait={args.trait}]').value)")
        driver.execute_script(MOVE_JS, index, args.trait, [default + 8, default], 20)  # warm-up
        times = driver.execute_script(MOVE_JS, index, args.trait, [default + 8, default], args.moves)
        version = chromium_version(driver)
    times.sort()
    result = {
        "what": f"Design your NiN at its defaults: {args.trait} slider moved {args.moves} times, set + input event + layout",
        "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 3),
        "max_ms": round(times[-1], 3),
        "moves": len(times),
        "goal_median_ms": 16,
        "median_share_of_a_frame": round(statistics.median(times) / 16, 3),  # the reference: one 60 Hz frame
        "load_average": load_average(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": cpu_model(),
        "cpus": os.cpu_count(),
        "chromium": version,
        "command": "python benchmarks/explorer_redraw.py " + shlex.join(argv),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
