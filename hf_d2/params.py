"""Parameter declarations: every option hf-d2 takes is declared once, where it is used.

A module that owns an option declares it with ``Param`` in a named group (``param_group``), a plain
value with no side effect:

    D2_PARAMS = param_group("d2", Param("gamma_reverse", float, 0.1, "reverse suppression width γr"))

From that one declaration come:

- the default (``D2_PARAMS["gamma_reverse"].default``; dataclass fields and signatures read it);
- validation (``Param.check``, by the rules of ``hf_d2._validation.check_value``, the one set of
  rules that the checks of undeclared arguments apply too), raising ``InvalidParameterError`` that
  names the parameter the
  way the caller spelled it: ``'gamma_reverse'`` for Python, ``--gamma-reverse`` on the
  command line (``InvalidParameterError.render``, given the command line's ``flag_for``);
- the command-line flags of ``prune``, ``select`` and ``evaluate`` (``hf_d2.cli.flags``);
- the recipe keys, the card's parameter rows and the reproduce command (``Param.flag`` and
  ``Param.format``).

Groups are put together into tables (``ParamTable``) by the modules above them: ``hf_d2.options``
(the options of one prune) and ``hf_d2.parameter_table`` (every option, for the command line,
recipes and docs/options.md). This module imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from hf_d2._validation import InvalidParameterError, check_value


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

    def check(self, value: Any) -> Any:
        """``value`` converted to ``kind`` (an int for a float option, say), or an
        ``InvalidParameterError`` naming this parameter, the value and what is allowed (the rules
        of ``hf_d2._validation.check_value``, which every check of hf-d2 applies)."""
        return check_value(self.name, value, self.kind, choices=self.choices, low=self.low, high=self.high,
                           low_open=self.low_open, high_open=self.high_open, nullable=self.nullable,
                           meaning=self.meaning, many=self.many, validate=self.validate)

    def format(self, value: Any) -> str:
        """The value as the command line writes it (``1e-05``, ``0.1``, ``d2``)."""
        return f"{value:g}" if isinstance(value, float) else str(value)


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


def param_group(name: str, *params: Param) -> ParamGroup:
    """The parameters ``params`` as the group ``name`` (one group per module that owns options)."""
    return ParamGroup(name, params)


class ParamTable(Mapping[str, Param]):
    """The parameters of several groups, by name (a read-only mapping); ``groups`` keeps them by
    group, in the given order. A name means one option everywhere: declaring it twice,
    differently, is an error."""

    def __init__(self, groups: Iterable[ParamGroup]) -> None:
        self.groups = {group.name: group for group in groups}
        self._params: dict[str, Param] = {}
        for group in self.groups.values():
            for param in group.values():
                existing = self._params.get(param.name)
                if existing is not None and existing != param:
                    raise RuntimeError(f"Parameter {param.name!r} is declared twice, differently.")
                self._params[param.name] = param

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self):
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def flag_for(self, name: str) -> str:
        """The command-line flag of parameter ``name`` (``--`` + name when it is not in the table)."""
        param = self._params.get(name)
        return param.cli_flag if param is not None else "--" + name.replace("_", "-")


def unknown_option_error(name: str, known: Iterable[str], what: str = "an hf-d2 option") -> InvalidParameterError:
    """"{name} is not <what>; did you mean ...?" with the closest known names."""
    import difflib  # noqa: PLC0415

    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else f"; the options are: {', '.join(sorted(known))}."
    return InvalidParameterError(name, f"{{name}} is not {what}{hint}")
