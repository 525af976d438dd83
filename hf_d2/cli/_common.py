"""Helpers shared by the subcommands (output folders live in ``hf_d2._io``, shared with the stages)."""

from __future__ import annotations

import argparse
from typing import Any

from hf_d2._io import check_output_dir, write_json, write_output_dir

# D2's parameters as flags: passed to the method only when given, so that a method without them
# (random, ccs, ...) can say so instead of silently ignoring them.
D2_OPTIONS = (
    ("--k", "k", int, "neighbours per example in the kNN graph (d2; default 5)"),
    ("--gamma-forward", "gamma_forward", float, "forward kernel width γf (d2; default 1.0)"),
    ("--gamma-reverse", "gamma_reverse", float, "reverse suppression width γr (d2; default 0.1)"),
    ("--forward", "forward", str, "forward messages: sum | product (d2; default sum)"),
    ("--reverse", "reverse", str, "reverse updates: weighted | absolute (d2; default weighted)"),
    ("--knn", "knn", str, "kNN backend: exact | hnsw | ivf | auto (d2; default exact)"),
)


def add_d2_options(parser: argparse.ArgumentParser) -> None:
    for flag, dest, kind, text in D2_OPTIONS:
        parser.add_argument(flag, dest=dest, type=kind, default=None, help=text)


def given_d2_options(args: argparse.Namespace) -> dict[str, Any]:
    """The D2 parameters the user passed (None = not given)."""
    return {dest: getattr(args, dest) for _, dest, _, _ in D2_OPTIONS if getattr(args, dest) is not None}


__all__ = ["D2_OPTIONS", "add_d2_options", "check_output_dir", "given_d2_options", "write_json", "write_output_dir"]
