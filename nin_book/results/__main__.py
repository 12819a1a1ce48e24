"""``python -m nin_book.results publish NAME --metrics M.json --checkpoint C.pt``: commit a finished run.

Exit status: 0 published; 2 refused before anything was written (a bad or reserved NAME, an existing run without
``--replace``, a smoke run under a preset's name, a ``--metrics`` file that is not a training run's); 1 any other
error (a checkpoint that does not belong to the metrics, the data missing).
"""

from __future__ import annotations

import argparse
import sys

from nin_book.results import PublishRefused, publish_run


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage block, no traceback)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _OneLineParser(prog="python -m nin_book.results")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    publish = sub.add_parser("publish", help="copy a finished run (metrics, weights, test predictions) into the package")
    publish.add_argument("name", help="the run's name, e.g. cpu: lower-case letters, digits, '-' and '_'")
    publish.add_argument("--metrics", required=True, help="the JSON written by python -m nin_book.train --metrics-out")
    publish.add_argument("--checkpoint", required=True, help="the checkpoint written by --checkpoint")
    publish.add_argument("--note", default="", help="how the run went (machine load, anything a reader should know)")
    publish.add_argument("--replace", action="store_true", help="replace the committed run of this NAME")
    args = parser.parse_args(argv)
    try:
        run = publish_run(args.name, args.metrics, args.checkpoint, note=args.note, replace=args.replace)
    except PublishRefused as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"published {run.name}: test accuracy {run.final_test_accuracy:.4f}, {run.checkpoint_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
