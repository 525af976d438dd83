"""Writes docs/options.md from the parameter table: every option, by group, with its Python name,
flag, type, default and help.

    python docs/gen_options.py            # rewrite docs/options.md
    python docs/gen_options.py --check    # exit 1 (and say so) when docs/options.md is stale

Run it in a fresh interpreter, as above: the order of the groups follows the order in which the
modules that declare them were imported. ``tests/test_docs.py`` runs ``--check``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The one line to change when the generator moves to another module:
from hf_d2.parameter_table import options_markdown as render_options

OPTIONS_PAGE = Path(__file__).resolve().with_name("options.md")
COMMAND = "python docs/gen_options.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 when stale")
    args = parser.parse_args(argv)
    text = render_options()
    if not args.check:
        OPTIONS_PAGE.write_text(text, encoding="utf-8")
        print(f"wrote {OPTIONS_PAGE}")
        return 0
    current = OPTIONS_PAGE.read_text(encoding="utf-8") if OPTIONS_PAGE.exists() else ""
    if current == text:
        return 0
    print(f"docs/options.md is stale (it differs from the parameter table); regenerate it with: {COMMAND}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
