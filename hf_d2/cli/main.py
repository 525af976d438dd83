"""The ``hf-d2`` command. Each subcommand lives in its own module under ``hf_d2.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (``args -> int``).

Bad input raises ``ValueError`` (``InvalidParameterError`` for a parameter; or
``FileNotFoundError`` / ``FileExistsError`` / ``KeyError``) somewhere below; here it becomes one
line on stderr in the command line's words (``--gamma-reverse``, not ``'gamma_reverse'``) and
exit code 2, with no traceback unless ``--debug`` is given. Ctrl-C is one line and exit 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from hf_d2._validation import InvalidParameterError, spelled_as_flags
from hf_d2.cli.flags import add_common_flags, options_and_arguments
from hf_d2.env import configure_output, progress_disabled
from hf_d2.parameter_table import flag_for
from hf_d2.version import __version__

# Subcommand modules, in the order `hf-d2 --help` lists them.
SUBCOMMAND_MODULES = ("prune", "score", "embed", "select", "evaluate", "plot", "report", "push")

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """Bad flags: one line naming the problem and where to look, exit code 2 (as argparse)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hf-d2",
                     description="D2 Pruning for Hugging Face datasets: keep a coreset that is both hard and diverse.")
    parser.add_argument("--version", action="version", version=f"hf-d2 {__version__}")
    add_common_flags(parser, top_level=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module_name in SUBCOMMAND_MODULES:
        module = importlib.import_module(f"hf_d2.cli.{module_name}")
        command = module.register(subparsers)
        add_common_flags(command, top_level=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # --help, --version, or a bad flag (argparse printed one line)
        return int(exit_request.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as typed, for the selection record's command
    configure_output(quiet=args.quiet, verbose=args.verbose, debug=args.debug)
    try:
        with spelled_as_flags(flag_for):  # messages name flags (--label-column), not parameters
            return int(args.func(args) or EXIT_OK)
    except InvalidParameterError as error:
        if args.debug:
            raise
        return _fail(args, error.render(flag_for))
    except (ValueError, FileNotFoundError, FileExistsError, KeyError) as error:
        if args.debug:
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        return _fail(args, str(message))
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"{_fresh_line()}hf-d2 {args.command}: interrupted. {_resume_hint(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _fail(args: argparse.Namespace, message: str) -> int:
    text = " ".join(message.split())
    print(f"hf-d2 {args.command}: error: {text}", file=sys.stderr)
    return EXIT_USAGE


def _fresh_line() -> str:
    """What starts the interrupt's line on a line of its own: a progress bar may hold the cursor
    (cleared on a terminal; elsewhere, a new line)."""
    if sys.stderr.isatty():
        return "\r\033[K"
    return "" if progress_disabled() else "\n"


def _fine_tunes(args: argparse.Namespace) -> bool:
    """The command fine-tunes its difficulty model (``--difficulty-source finetune``, or its recipe's)."""
    try:
        options, _ = options_and_arguments(args, getattr(args, "option_names", ()))
    except (ValueError, OSError):  # an unreadable recipe: the command stopped before any fine-tuning
        return False
    return options.get("difficulty_source") == "finetune"


def _resume_hint(args: argparse.Namespace) -> str:
    """What an interrupted run kept, and the command that resumes it."""
    from hf_d2.record import command_line  # noqa: PLC0415

    fine_tuned = _fine_tunes(args)
    kept = {"prune": "Finished stages are cached" + (" and the difficulty fine-tuning resumes from its last finished "
                                                     "epoch" if fine_tuned else "")
                     + "; nothing was written to --output.",
            "score": "The fine-tuning resumes from its last finished epoch; nothing was written to --output.",
            "evaluate": "Finished cells are kept in --output and are not run again."}.get(
        args.command, "Nothing was written to --output.")
    return f"{kept} Run it again to resume: {command_line(args.argv)}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
