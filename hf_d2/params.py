"""The parameter table: every option hf-d2 takes, declared once, where it is used.

A module that owns an option declares it with ``Param`` and registers it with
``register_params(group, ...)``, in the shape of ``hf_d2.difficulty.register_score``:

    D2_PARAMS = register_params("d2", Param("gamma_reverse", float, 0.1, "reverse suppression width γr"))

From that one declaration come:

- the default (``D2_PARAMS["gamma_reverse"].default``; dataclass fields and signatures read it);
- validation (``Param.check``), raising ``InvalidParameterError`` that names the parameter the
  way the caller spelled it: ``'gamma_reverse'`` for Python, ``--gamma-reverse`` on the
  command line (``InvalidParameterError.render``);
- the command-line flags of ``prune``, ``select`` and ``evaluate`` (``add_arguments``);
- the recipe keys (``recipe_keys``), the card's parameter rows and the reproduce command
  (``Param.flag`` and ``Param.format``).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from hf_d2._validation import InvalidParameterError

_NUMBER_TYPES = (int, float, np.integer, np.floating)


@dataclass(frozen=True)
class Param:
    """One option.

    name: the Python name (keyword argument, dataclass field, recipe key). kind: int, float,
    str or bool. default: the value when not given (None = decided at run time, e.g. "the
    bundled model offline"; ``help`` says how). help: one line for ``--help`` and the card.
    choices: allowed values (str options). low / high: inclusive bounds unless ``low_open`` /
    ``high_open``. nullable: None is a valid value. flag: the command-line spelling (default
    ``--`` + name with ``-``); ``cli=False`` keeps an option off the command line.
    validate: an extra check after the type check, ``value -> value`` (raises
    ``InvalidParameterError``), for rules a bound cannot say (e.g. a faiss factory string).
    meaning: what the value is, for error messages ("{name} is <meaning> and must be ...").
    many: the value is a non-empty list of such values (``--rates 0.3 0.5``); ``check`` returns
    a list without duplicates, in the given order.
    """

    name: str
    kind: type
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False
    flag: str | None = None
    cli: bool = True
    validate: Callable[[Any], Any] | None = None
    meaning: str | None = None
    many: bool = False

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def error(self, template: str) -> InvalidParameterError:
        if self.meaning and template.startswith("{name} must"):
            template = "{name} is " + self.meaning + " and must" + template[len("{name} must"):]
        return InvalidParameterError(self.name, template, flag=self.cli_flag)

    def check(self, value: Any) -> Any:
        """``value`` converted to ``kind`` (an int for a float option, say), or an
        ``InvalidParameterError`` naming this parameter, the value and what is allowed."""
        if self.many and value is not None:
            values = [value] if isinstance(value, (str, int, float)) else list(value)
            if not values:
                raise self.error(f"{{name}} needs at least one value ({self._allowed()}). Got none.")
            checked = [self._check_one(item) for item in values]
            return list(dict.fromkeys(checked))
        return self._check_one(value)

    def _check_one(self, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise self.error(f"{{name}} needs a value ({self._allowed()}). Got None instead.")
        if self.kind is bool:
            if isinstance(value, (bool, np.bool_)):
                return self._validated(bool(value))
            raise self.error(f"{{name}} must be True or False. Got {value!r} instead.")
        if self.kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES):
                raise self.error(f"{{name}} must be {self._allowed()}. Got {value!r} instead.")
            if self.kind is int and not float(value).is_integer():
                raise self.error(f"{{name}} must be {self._allowed()}. Got {value!r} instead.")
            value = self.kind(value)
            if not math.isfinite(value):
                raise self.error(f"{{name}} must be a finite number ({self._allowed()}). Got {value} instead.")
            if not self._in_bounds(value):
                raise self.error(f"{{name}} must be {self._allowed()}. Got {value} instead.")
            return self._validated(value)
        if not isinstance(value, str):
            raise self.error(f"{{name}} must be {self._allowed()}. Got {value!r} instead.")
        if self.choices is not None and value not in self.choices:
            raise self.error(f"{{name}} must be one of {', '.join(map(repr, self.choices))}. Got {value!r} instead.")
        return self._validated(value)

    def _validated(self, value: Any) -> Any:
        if self.validate is None:
            return value
        try:
            return self.validate(value)
        except InvalidParameterError as error:  # the validator's words, this parameter's name
            raise self.error(error.template) from None

    def format(self, value: Any) -> str:
        """The value as the command line writes it (``1e-05``, ``0.1``, ``d2``)."""
        return f"{value:g}" if isinstance(value, float) else str(value)

    def _in_bounds(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def _allowed(self) -> str:
        if self.kind is bool:
            return "True or False"
        if self.choices is not None:
            return "one of " + ", ".join(map(repr, self.choices))
        if self.kind is str:
            return "a string"
        noun = "an int" if self.kind is int else "a number"
        if self.low is None and self.high is None:
            return noun + (" (or None)" if self.nullable else "")
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{noun} in {'the range ' if self.kind is int else ''}{left}{low}, {high}{right}"


class ParamGroup(Mapping[str, Param]):
    """The parameters one module owns, by name (a read-only mapping)."""

    def __init__(self, name: str, params: Iterable[Param]) -> None:
        self.name = name
        self._params = {param.name: param for param in params}

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self):
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def defaults(self) -> dict[str, Any]:
        return {name: param.default for name, param in self._params.items()}

    def check(self, values: Mapping[str, Any], *, what: str = "options") -> dict[str, Any]:
        """Every value checked; an unknown name is an error listing the accepted ones."""
        unknown = sorted(set(values) - set(self._params))
        if unknown:
            raise InvalidParameterError(
                unknown[0], f"{{name}} is not one of the {what}; accepted: {', '.join(self._params)}.")
        return {name: self._params[name].check(value) for name, value in values.items()}


PARAMETERS: dict[str, Param] = {}
GROUPS: dict[str, ParamGroup] = {}


def register_params(group: str, *params: Param) -> ParamGroup:
    """Declares ``params`` as the group ``group`` (module import time); names are unique
    across groups, so that one name means one option everywhere."""
    for param in params:
        existing = PARAMETERS.get(param.name)
        if existing is not None and existing != param:
            raise RuntimeError(f"Parameter {param.name!r} is declared twice, differently.")
        PARAMETERS[param.name] = param
    GROUPS[group] = ParamGroup(group, params)
    return GROUPS[group]


def unknown_option_error(name: str, known: Iterable[str], what: str = "an hf-d2 option") -> InvalidParameterError:
    """"{name} is not <what>; did you mean ...?" with the closest known names."""
    import difflib  # noqa: PLC0415

    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else f"; the options are: {', '.join(sorted(known))}."
    return InvalidParameterError(name, f"{{name}} is not {what}{hint}")


def flag_for(name: str) -> str:
    """The command-line flag of parameter ``name`` (``--`` + name when it is not declared)."""
    param = PARAMETERS.get(name)
    return param.cli_flag if param is not None else "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, params: Iterable[Param], *, suppress_defaults: bool = True) -> None:
    """Adds one flag per parameter. With ``suppress_defaults`` a flag that is not given is
    absent from the namespace's values (``given_values``), so only what the user typed is
    passed on and every default stays where it is declared."""
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


def given_values(args: argparse.Namespace, params: Iterable[Param]) -> dict[str, Any]:
    """The values of ``params`` the user gave on the command line (see ``add_arguments``)."""
    return {param.name: getattr(args, param.name) for param in params if hasattr(args, param.name)}


def recipe_keys() -> frozenset[str]:
    """Every option a recipe may set: every declared parameter."""
    return frozenset(PARAMETERS)


def _parser_type(param: Param):
    if param.kind is int:
        return int
    if param.kind is float:
        return float
    return str


def options_markdown() -> str:
    """docs/options.md: every option, by group, with its flag, type, default and help
    (``python -m hf_d2.params > docs/options.md``; a test keeps the file in step)."""
    import hf_d2.evaluate  # noqa: F401, PLC0415 - declares the evaluate options
    import hf_d2.options  # noqa: F401, PLC0415 - declares the run options

    lines = ["# hf-d2 options", "",
             "Every option of `d2_prune` / `hf_d2.prune` (Python name) and of `hf-d2 prune`, `select` and `evaluate` "
             "(flag), declared once in the parameter table (`hf_d2.params`). Generated by `python -m hf_d2.params`.", ""]
    for group_name, group in GROUPS.items():
        lines += [f"## {group_name}", "", "| Python | flag | type | default | what |", "|---|---|---|---|---|"]
        for param in group.values():
            kind = param.kind.__name__ + ("s" if param.many else "")
            if param.choices:
                kind = " \\| ".join(map(str, param.choices))
            default = ("—" if param.default is None else
                       " ".join(param.format(v) for v in param.default) if param.many else param.format(param.default))
            flag = param.cli_flag if param.cli else "(Python only)"
            lines.append(f"| `{param.name}` | `{flag}` | {kind} | `{default}` | {param.help.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - run as a module, this file is a second copy: use the package's
    from hf_d2.params import options_markdown as render

    print(render(), end="")
