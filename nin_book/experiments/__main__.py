"""``python -m nin_book.experiments``: chapter 7's experiments from the shell.

Explained in chapter 7, "The paper's claims, measured".
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from nin_book.data import FashionMNIST, load_fashion_mnist
from nin_book.experiments.run import run_experiments
from nin_book.experiments.variants import BASELINE_PRESET, EXPERIMENT_EPOCHS, GROUPS, VARIANTS, select_variants, variant_config
from nin_book.presets import get_preset
from nin_book.results import RESULTS_DIR

__all__ = ["DEFAULT_OUT", "PARTIAL_OUT", "build_parser", "main"]

DEFAULT_OUT = RESULTS_DIR / "experiments.json"
# Anything short of the full set (--smoke, --only, fewer than 3 seeds) goes to a temporary file unless --out says
# otherwise, so that a partial run never lands where chapter 7 reads.
PARTIAL_OUT = Path(tempfile.gettempdir()) / "nin_book_experiments_partial.json"


def build_parser() -> argparse.ArgumentParser:
    """The command line's flags. Explained in chapter 7."""
    preset_epochs = get_preset(BASELINE_PRESET).epochs
    parser = argparse.ArgumentParser(
        prog="python -m nin_book.experiments",
        description=(f"Chapter 7's experiments: variants of the {BASELINE_PRESET} preset's NiN trained through the "
                     f"book's engine at 28×28 on the CPU, {EXPERIMENT_EPOCHS} epochs each (fewer than the preset's "
                     f"{preset_epochs}, so that the full set fits in about an hour on 2 cores), and short runs that "
                     "reproduce and fix the stall at loss ln 10."),
    )
    parser.add_argument("--list", action="store_true", help="list the variants and groups, and exit")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this variant or group (repeat, or separate with commas); default: all")
    parser.add_argument("--seeds", type=int, default=3, metavar="N", help="seeds 0 … N-1 per variant (default 3)")
    parser.add_argument("--smoke", action="store_true",
                        help="the same networks on a few hundred images for one short epoch: seconds, for tests")
    parser.add_argument("--out", type=Path, metavar="PATH",
                        help=f"the results JSON (default: {DEFAULT_OUT} for the full set, all variants with at least "
                             f"3 seeds; {PARTIAL_OUT} for --smoke, --only or fewer seeds)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _list() -> str:
    lines = ["groups:"] + [f"  {name:12} {text}" for name, text in GROUPS.items()] + ["variants:"]
    for v in VARIANTS.values():
        config = variant_config(v)
        lines.append(f"  {v.name:18} [{', '.join(v.groups)}] {v.description} "
                     f"({config.epochs} epochs{'' if config.train_limit is None else f' of {config.train_limit} images'})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, *, data: FashionMNIST | None = None) -> int:
    """Run the command line; ``data`` replaces the real Fashion-MNIST (for tests). Returns the exit status.

    Explained in chapter 7, "The paper's claims, measured"."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(_list())
        return 0
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    only = [name.strip() for item in args.only or [] for name in item.split(",") if name.strip()]
    try:
        variants = select_variants(only)
    except ValueError as err:
        parser.error(str(err))
    full_set = not args.smoke and not only and args.seeds >= 3
    out = args.out or (DEFAULT_OUT if full_set else PARTIAL_OUT)
    command = "python -m nin_book.experiments " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    report = run_experiments(variants, data if data is not None else load_fashion_mnist(), seeds=args.seeds,
                             smoke=args.smoke, out=out, command=command.strip(), progress=not args.no_progress)
    for name, entry in report["variants"].items():
        s = entry["summary"]
        test = s["final_test_accuracy"]
        line = f"{name:18} test {test.get('mean', float('nan')):.4f} ± {test.get('std', float('nan')):.4f}"
        if "stalled" in s:
            line += f"  stalled {s['stalled']}/{s['seeds']}, stuck {s['stuck']}/{s['seeds']}"
        print(line)
    print(f"{report['wall_seconds']:.0f} s; results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
