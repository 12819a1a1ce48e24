"""``python -m nin_book.experiments``: chapter 7's experiments from the shell.

Explained in chapter 7, "The paper's claims, measured".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from nin_book.checkpoint import OutputInUseError, lock_output
from nin_book.data import FashionMNIST, load_fashion_mnist
from nin_book.experiments.run import MAX_SEEDS, ExperimentsInterrupted, run_experiments
from nin_book.experiments.variants import BASELINE_PRESET, EXPERIMENT_EPOCHS, GROUPS, VARIANTS, select_variants, variant_config
from nin_book.presets import get_preset
from nin_book.results import EXPERIMENTS_FILE, RESULTS_DIR, in_results_dir, write_json

# The training CLI's one-line argument errors and its output-path check, shared so that both commands refuse the
# same paths (directories, device nodes, folders that are files or cannot be written) with the same words.
from nin_book.train import _OneLineParser, _output_problem

__all__ = ["DEFAULT_OUT", "PARTIAL_OUT", "WORK_OUT", "build_parser", "main"]

# The committed results chapter 7 reads. Only a finished full set replaces it, and never while it runs: the run
# writes WORK_OUT (outside the package) after every run and resumes from it, and moves it here when all are done.
DEFAULT_OUT = RESULTS_DIR / EXPERIMENTS_FILE
WORK_OUT = (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nin_book"
            / "experiments.partial.json")
# Anything short of the full set (--smoke, --only, fewer than 3 seeds) goes to a temporary file unless --out says
# otherwise, so that a partial run never lands where chapter 7 reads.
PARTIAL_OUT = Path(tempfile.gettempdir()) / "nin_book_experiments_partial.json"


def build_parser() -> argparse.ArgumentParser:
    """The command line's flags. Explained in chapter 7."""
    preset_epochs = get_preset(BASELINE_PRESET).epochs
    parser = _OneLineParser(
        prog="python -m nin_book.experiments",
        description=(f"Chapter 7's experiments: variants of the {BASELINE_PRESET} preset's NiN trained through the "
                     f"book's engine at 28×28 on the CPU, {EXPERIMENT_EPOCHS} epochs each (fewer than the preset's "
                     f"{preset_epochs}, so that the full set fits in about an hour on 2 cores), and short runs that "
                     "reproduce and fix the stall at loss ln 10."),
    )
    parser.add_argument("--list", action="store_true", help="list the variants and groups, and exit")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this variant or group (repeat, or separate with commas); default: all")
    parser.add_argument("--seeds", type=int, default=3, metavar="N",
                        help=f"seeds 0 … N-1 per variant (default 3, at most {MAX_SEEDS})")
    parser.add_argument("--smoke", action="store_true",
                        help="the same networks on a few hundred images for one short epoch: seconds, for tests")
    parser.add_argument("--out", type=Path, metavar="PATH",
                        help=f"the results JSON, rewritten after every run; a rerun of the same command resumes an "
                             f"unfinished one (default: {PARTIAL_OUT} for --smoke, --only or fewer than 3 seeds; "
                             f"for the full set, the committed {DEFAULT_OUT}, which is replaced only when every run "
                             f"has finished: until then the runs go to {WORK_OUT}; only a full set may name it)")
    parser.add_argument("--extend", action="store_true",
                        help="keep the finished runs of the existing results (the committed file, or --out) and run "
                             "only what they lack: more --seeds, or a variant added since")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _list() -> str:
    lines = ["groups:"] + [f"  {name:12} {text}" for name, text in GROUPS.items()] + ["variants:"]
    for v in VARIANTS.values():
        config = variant_config(v)
        lines.append(f"  {v.name:18} [{', '.join(v.groups)}] {v.description} "
                     f"({config.epochs} epochs{'' if config.train_limit is None else f' of {config.train_limit} images'})")
    return "\n".join(lines)


def _is_committed(path: Path) -> bool:
    try:
        return path.resolve() == DEFAULT_OUT.resolve()
    except (OSError, RuntimeError):
        return False


def _is_unfinished(path: Path) -> bool:
    try:
        return json.loads(Path(path).read_text()).get("complete") is False
    except (OSError, ValueError, AttributeError):
        return False


def main(argv: Sequence[str] | None = None, *, data: FashionMNIST | None = None) -> int:
    """Run the command line; ``data`` replaces the real Fashion-MNIST (for tests). Returns the exit status:
    0 done, 1 data missing or the output in use by another run, 2 a bad argument (nothing run, nothing written),
    130 interrupted by Ctrl-C, 143 by SIGTERM (the finished runs kept; the same command resumes).

    Explained in chapter 7, "The paper's claims, measured"."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(_list())
        return 0
    if not 1 <= args.seeds <= MAX_SEEDS:
        parser.error(f"--seeds must be between 1 and {MAX_SEEDS} (the full set uses 3), got {args.seeds}")
    only = [name.strip() for item in args.only or [] for name in item.split(",") if name.strip()]
    if args.only is not None and not only:
        parser.error(f"--only {' '.join(map(shlex.quote, args.only))} names no variant or group; give names such as "
                     "baseline or head (see --list), or leave --only out to run them all")
    try:
        variants = select_variants(only)
    except ValueError as err:
        parser.error(f"--only: {err}")
    full_set = not args.smoke and {v.name for v in variants} == set(VARIANTS) and args.seeds >= 3
    out = args.out or (DEFAULT_OUT if full_set else PARTIAL_OUT)
    committed = _is_committed(out)
    if committed and not full_set:
        parser.error(f"--out {out} is the committed results file chapter 7 reads; only a full run (every variant, "
                     "--seeds 3 or more, no --smoke) may replace it; give another --out")
    if not committed and in_results_dir(out):
        parser.error(f"--out {out} is inside {RESULTS_DIR}, which holds the book's committed results (chapters 5-7 "
                     f"read them); give a path elsewhere")
    # The committed file is written once, at the end; until then the runs go to a working file outside the package.
    work = WORK_OUT if committed else out
    for path in dict.fromkeys([out, work]):
        problem = _output_problem("--out", path)
        if problem:
            parser.error(problem)
    command = "python -m nin_book.experiments " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    with contextlib.ExitStack() as locks:
        try:
            locks.enter_context(lock_output(work, "--out"))
        except OutputInUseError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        try:
            if data is None:
                data = load_fashion_mnist()
            # An unfinished working file is always resumed; --extend starts from the finished results instead.
            unfinished = _is_unfinished(work)
            report = run_experiments(variants, data, seeds=args.seeds, smoke=args.smoke, out=work,
                                     command=command.strip(), progress=not args.no_progress, resume=True,
                                     resume_from=out if args.extend and not unfinished else None)
        except ExperimentsInterrupted as err:
            print(f"interrupted: {err}; the finished runs are in {work} (complete: false); run the same command "
                  "again to resume", file=sys.stderr)
            return 143 if err.stopped_by == "SIGTERM" else 130  # 128 + the signal's number, as a shell reports it
        except KeyboardInterrupt:
            print(f"interrupted; the runs that finished, if any, are in {work} (complete: false); run the same "
                  "command again to resume", file=sys.stderr)
            return 130
        except (OSError, ValueError) as err:  # DataNotFoundError is an OSError; its message says how to get the data
            print(f"error: {err}", file=sys.stderr)
            return 1
        if committed:
            try:
                write_json(out, report)  # atomically: chapter 7 sees the old set or the new one
            except OSError as err:  # checked before the runs, so only a full disk or a changed folder gets here
                print(f"error: could not replace {out} ({err}); the finished set is in {work}", file=sys.stderr)
                return 1
            Path(work).unlink(missing_ok=True)
    if report.get("resumed"):
        print(f"resumed: {report['resumed']['runs']} finished runs kept "
              f"(from {report['resumed']['earlier_command'] or 'an earlier run'})")
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
