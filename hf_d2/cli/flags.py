"""Flags from the parameter table, recipes, and the flags every command shares.

Each command adds the groups of options it takes (``add_groups``); a flag that is not given is
absent from the parsed namespace, so ``given_options`` returns exactly what the user typed and
every default stays where it is declared (``hf_d2.params``; the table of every option is
``hf_d2.parameter_table``). A recipe (``--recipe``) fills the options and arguments the user did not
give (``options_and_arguments``, which returns them and never writes into the namespace).
"""

from __future__ import annotations

import argparse
from typing import Any, Iterable

from hf_d2.parameter_table import GROUPS
from hf_d2.params import Param

# The groups of options each command takes (names of the groups in ``hf_d2.parameter_table``).
PRUNE_GROUPS = ("run", "rate", "selection", "d2", "training", "head", "embedding", "label_free", "vision")
SELECT_GROUPS = ("run", "selection", "d2")
EVALUATE_GROUPS = (*PRUNE_GROUPS, "evaluate")
# Options of the run group that make no sense for hf-d2 select (no model runs there).
SELECT_EXCLUDED = ("difficulty", "difficulty_source", "prefilter_score", "strata_score", "label_free",
                   "allow_degenerate", "drop_empty", "sample_seed", "max_examples", "text_column",
                   "text_pair_column", "text_template", "cache_dir", "use_cache")


def add_groups(parser: argparse.ArgumentParser, groups: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
    """Adds the flags of ``groups`` (a section per group in ``--help``); returns the option names."""
    excluded = set(exclude)
    names = []
    for group in groups:
        params = [param for param in GROUPS[group].values() if param.name not in excluded]
        section = parser.add_argument_group(f"{group} options")
        add_arguments(section, params)
        names += [param.name for param in params]
    return names


def add_arguments(parser: argparse.ArgumentParser, params: Iterable[Param], *, suppress_defaults: bool = True) -> None:
    """Adds one flag per parameter. With ``suppress_defaults`` a flag that is not given is
    absent from the namespace (``given_options``), so only what the user typed is passed on and
    every default stays where it is declared."""
    for param in params:
        if not param.cli:
            continue
        default = argparse.SUPPRESS if suppress_defaults else param.default
        shown = " ".join(param.format(v) for v in param.default) if param.many and param.default else (
            None if param.default is None else param.format(param.default))
        text = param.help + ("" if shown is None else f" (default {shown})")
        text = text.replace("%", "%%")
        if param.kind is bool:
            parser.add_argument(param.cli_flag, dest=param.name, action=argparse.BooleanOptionalAction,
                                default=default, help=text)
        else:
            parser.add_argument(param.cli_flag, dest=param.name, type=_parser_type(param), default=default,
                                choices=param.choices, metavar=param.name.upper() if param.choices is None else None,
                                nargs="+" if param.many else None, help=text)


def given_options(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """The options among ``names`` that were given (on the command line or by a recipe)."""
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


def add_common_flags(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """-q / -v / --debug, accepted before or after the subcommand."""
    default = (lambda value: value) if top_level else (lambda value: argparse.SUPPRESS)
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False),
                        help="print nothing but errors (no progress bars, no summary)")
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False),
                        help="also show the libraries' progress bars, load reports and warnings")
    parser.add_argument("--debug", action="store_true", default=default(False), help="show full tracebacks on errors")


def add_recipe_option(parser: argparse.ArgumentParser) -> None:
    from hf_d2.recipes import available_recipes  # noqa: PLC0415 - reads the packaged recipe folder

    parser.add_argument("--recipe", metavar="FILE_OR_NAME",
                        help="a YAML recipe (a path, or a shipped name: " + ", ".join(available_recipes())
                        + "); its values fill the options not given here")


def options_and_arguments(args: argparse.Namespace, names: Iterable[str],
                          arguments: Iterable[str] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the options among ``names``, the command's own ``arguments`` such as ``dataset``): what the
    command line gave, and for the rest what ``--recipe`` sets (converted to the option's type,
    ``recipes.recipe_value``); flags win. The recipe is merged here, once; ``args`` is only read."""
    from hf_d2.recipes import load_recipe, recipe_value  # noqa: PLC0415

    recipe = load_recipe(args.recipe) if getattr(args, "recipe", None) else {}
    options = {}
    for name in names:  # in the order of ``names``: the first bad value is the one reported
        if hasattr(args, name):
            options[name] = getattr(args, name)
        elif name in recipe:
            options[name] = recipe_value(name, recipe[name])
    given = {key: getattr(args, key, None) for key in arguments}
    return options, {key: recipe_value(key, recipe[key]) if value is None and key in recipe else value
                     for key, value in given.items()}


def _parser_type(param: Param):
    if param.kind is int:
        return int
    if param.kind is float:
        return float
    return str
