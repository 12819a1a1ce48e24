"""``python -m nin_book.results publish NAME --metrics M.json --checkpoint C.pt``: commit a finished run."""

from __future__ import annotations

import argparse
import sys

from nin_book.results import publish_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nin_book.results")
    sub = parser.add_subparsers(dest="command", required=True)
    publish = sub.add_parser("publish", help="copy a finished run (metrics, weights, test predictions) into the package")
    publish.add_argument("name", help="the run's name, e.g. cpu")
    publish.add_argument("--metrics", required=True, help="the JSON written by python -m nin_book.train --metrics-out")
    publish.add_argument("--checkpoint", required=True, help="the checkpoint written by --checkpoint")
    publish.add_argument("--note", default="", help="how the run went (machine load, anything a reader should know)")
    args = parser.parse_args(argv)
    try:
        run = publish_run(args.name, args.metrics, args.checkpoint, note=args.note)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"published {run.name}: test accuracy {run.final_test_accuracy:.4f}, {run.checkpoint_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
