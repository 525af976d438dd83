"""Recipes: ready configurations for ``hf-d2 prune`` and ``hf-d2 evaluate`` (``--recipe``).

A recipe is a flat YAML mapping of option names (the names of the parameter table,
``hf_d2.parameter_table``: ``epochs``, ``learning_rate``, ``eval_split`` ...; plus ``dataset``,
``config``, ``split``, ``rate`` and ``offline``) to values, with ``name`` and ``description``.
Its values fill the options the command line does not give; flags given explicitly win. A key
that one command has no flag for (e.g. ``eval_split`` for prune) is ignored by that command; a
key that no command knows is an error (a typo must not silently drop a setting).

Recipes ship inside the package (``hf_d2/recipe_files/*.yaml``, found by name: ``anli-r3``);
``--recipe`` also takes a path to a YAML file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hf_d2.parameter_table import PARAMETERS, recipe_keys

RECIPES_DIR = Path(__file__).resolve().parent / "recipe_files"
DESCRIPTIVE_KEYS = ("name", "description")
COMMAND_KEYS = ("dataset", "config", "split", "rate", "offline")  # what a command takes besides options


def recipe_key_set() -> frozenset[str]:
    """Every key a recipe may set: every declared option, and the commands' own arguments."""
    return recipe_keys() | frozenset(COMMAND_KEYS)


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
    known = recipe_key_set()
    unknown = sorted(set(settings) - known - set(DESCRIPTIVE_KEYS))
    if unknown:
        raise ValueError(f"Recipe '{path}' has unknown option(s) {', '.join(unknown)}; recipes may set: "
                         f"{', '.join(sorted(known))}.")
    return settings


def recipe_value(key: str, value: Any) -> Any:
    """A recipe value converted to its option's type (YAML reads ``5e-5`` as a string), item by
    item for list options; a value the type refuses is an error naming the option."""
    param = PARAMETERS.get(key)
    if param is None or value is None or param.kind in (bool, str):
        return value
    try:
        if isinstance(value, list):
            return [param.kind(item) for item in value]
        return param.kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"Recipe option '{key}' has the value {value!r}, which is not a valid "
                         f"{param.kind.__name__}; fix the recipe.") from None


