"""The ``hf-d2`` command. Each subcommand lives in its own module under ``hf_d2.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (``args -> int``).

Bad input raises ``ValueError`` (or ``FileNotFoundError`` / ``KeyError``) somewhere below; here it
becomes one line on stderr and exit code 2, with no traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Sequence

# Subcommand modules, in the order `hf-d2 --help` lists them.
SUBCOMMAND_MODULES = ("prune", "score", "embed", "select", "evaluate", "plot", "push")

EXIT_OK = 0
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """Bad flags: one line naming the problem and where to look, exit code 2 (as argparse)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from hf_d2 import __version__

    parser = _Parser(
        prog="hf-d2",
        description="D2 Pruning for Hugging Face datasets: keep a coreset that is both hard and diverse.",
    )
    parser.add_argument("--version", action="version", version=f"hf-d2 {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"hf_d2.cli.{module_name}")
        except ModuleNotFoundError as error:  # a stage not built in this install
            if error.name != f"hf_d2.cli.{module_name}":
                raise
            continue
        module.register(subparsers)
    return parser


def configure_logging(quiet: bool, debug: bool) -> None:
    """hf-d2's own messages at INFO (WARNING with --quiet); other libraries' at WARNING, and
    transformers' load reports (an expected new classification head) only with --debug."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(message)s")
    logging.getLogger("hf_d2").setLevel(logging.WARNING if quiet else logging.INFO)
    if not debug:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as typed, for the selection record's command
    configure_logging(quiet=args.quiet, debug=args.debug)
    try:
        return int(args.func(args) or EXIT_OK)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError) as error:
        if args.debug:
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        print(f"hf-d2 {args.command}: error: {' '.join(str(message).split())}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
