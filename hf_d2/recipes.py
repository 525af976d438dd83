"""Recipes: ready configurations for ``hf-d2 prune`` and ``hf-d2 evaluate`` (``--recipe``).

A recipe is a flat YAML mapping of option names (the command-line flags with ``_`` for ``-``:
``epochs``, ``learning_rate``, ``eval_split`` ...) to values, plus ``name`` and ``description``.
Its values become the command's defaults; flags given on the command line win. A key that one
command has no flag for (e.g. ``eval_split`` for prune) is ignored by that command; a key that
no command knows is an error (a typo must not silently drop a setting).

Recipes ship inside the package (``hf_d2/recipe_files/*.yaml``, found by name: ``anli-r3``);
``--recipe`` also takes a path to a YAML file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

RECIPES_DIR = Path(__file__).resolve().parent / "recipe_files"
DESCRIPTIVE_KEYS = ("name", "description")
# Every option a recipe may set (the union of prune's and evaluate's flags that make sense in one).
RECIPE_KEYS = frozenset({
    "dataset", "config", "split", "eval_split", "holdout", "max_examples", "max_eval_examples",
    "method", "methods", "rates", "seeds", "rate", "difficulty", "prefilter", "partition",
    "model", "embedding_model", "embedding_source", "k", "gamma_forward", "gamma_reverse", "knn",
    "epochs", "batch_size", "learning_rate", "warmup_ratio", "max_length",
    "eval_model", "eval_epochs", "eval_batch_size", "eval_learning_rate", "eval_max_length",
    "seed", "split_seed", "difficulty_seed", "text_column", "text_pair_column", "label_column", "offline",
})


class _Unset:
    """Marks a flag the user did not give (so that a recipe value may fill it)."""

    def __repr__(self) -> str:
        return "<unset>"


UNSET = _Unset()


def available_recipes() -> dict[str, Path]:
    """{name: path} of the recipes shipped with hf-d2."""
    return {path.stem: path for path in sorted(RECIPES_DIR.glob("*.yaml"))}


def load_recipe(name_or_path: str | Path) -> dict[str, Any]:
    """The recipe's settings as a dict (``name`` and ``description`` included).

    name_or_path: an existing YAML file, or the name of a shipped recipe (``anli-r3``,
    ``rotten-tomatoes-offline``, ...; see ``available_recipes()``).
    """
    import yaml  # noqa: PLC0415

    path = Path(name_or_path).expanduser()
    if not path.is_file():
        shipped = available_recipes()
        if str(name_or_path) not in shipped:
            raise ValueError(
                f"No recipe '{name_or_path}': not a file, and the shipped recipes are {', '.join(shipped)}; "
                "pass one of those names or a path to a YAML file."
            )
        path = shipped[str(name_or_path)]
    try:
        settings = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"Recipe '{path}' is not valid YAML ({' '.join(str(error).split())}); fix the file.") from None
    if not isinstance(settings, dict):
        raise ValueError(f"Recipe '{path}' must be a mapping of option: value; got {type(settings).__name__}.")
    unknown = sorted(set(settings) - RECIPE_KEYS - set(DESCRIPTIVE_KEYS))
    if unknown:
        raise ValueError(
            f"Recipe '{path}' has unknown option(s) {', '.join(unknown)}; recipes may set: {', '.join(sorted(RECIPE_KEYS))}."
        )
    return settings


def add_recipe_option(parser: argparse.ArgumentParser, positional_dataset: bool = True) -> None:
    """Adds ``--recipe FILE_OR_NAME`` to ``parser`` and lets recipe values fill the options the
    user did not give: every optional flag's default is remembered and replaced by ``UNSET``,
    and ``apply_recipe`` (called first thing in the command's ``run``) fills them in (explicit
    flag > recipe > built-in default). With ``positional_dataset`` the DATASET argument becomes
    optional, so a recipe may name it. Call after every other argument is added."""
    builtin = {}
    for action in parser._actions:
        if action.dest in ("help", "recipe") or action.dest == argparse.SUPPRESS:
            continue
        if action.dest == "dataset" and positional_dataset and not action.option_strings:
            action.nargs = "?"
        builtin[action.dest] = (action.default, action.type)
        action.default = UNSET
    parser.add_argument("--recipe", metavar="FILE_OR_NAME",
                        help="a YAML recipe (path, or a shipped name: " + ", ".join(available_recipes())
                        + "); its values are defaults, flags given here win")
    parser.set_defaults(_builtin_defaults=builtin)


def apply_recipe(args: argparse.Namespace) -> dict[str, Any]:
    """Fills every option the user did not give from the recipe (``args.recipe``), else from the
    built-in default; returns the recipe ({} without one). A missing DATASET (not given and not
    in the recipe) is an error naming both ways to give it."""
    recipe = load_recipe(args.recipe) if getattr(args, "recipe", None) else {}
    for dest, (default, kind) in getattr(args, "_builtin_defaults", {}).items():
        if getattr(args, dest, UNSET) is UNSET:
            setattr(args, dest, _converted(dest, recipe[dest], kind) if dest in recipe else default)
    if hasattr(args, "dataset") and args.dataset is None:
        raise ValueError("Name a DATASET (e.g. rotten_tomatoes), or pass --recipe with a 'dataset' entry.")
    return recipe


def _converted(dest: str, value: Any, kind: Any) -> Any:
    """A recipe value through the flag's ``type`` (YAML reads ``5e-5`` as a string), item by item
    for lists; a value the type refuses is an error naming the option."""
    if kind is None or value is None or isinstance(value, bool):
        return value
    try:
        if isinstance(value, list):
            return [kind(item) for item in value]
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"Recipe option '{dest}' has the value {value!r}, which is not a valid "
                         f"{getattr(kind, '__name__', 'value')}; fix the recipe.") from None
