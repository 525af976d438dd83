"""D2's parameters as one group, and ``D2Params``, the typed bundle that carries them from the caller
to ``d2_rank`` (docs/method.md §2-4). Each is declared once, where it is used: the graph's (``k``,
``symmetric``, ``knn``) in ``hf_d2.graph.search``, the passes' (the gammas, ``forward``, ``reverse``,
``clip_negative``) in ``hf_d2.message_passing``, and ``check_recall`` here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from hf_d2._validation import InvalidParameterError
from hf_d2.graph import KNN_PARAMS
from hf_d2.message_passing import PASSING_PARAMS
from hf_d2.params import Param, param_group

D2_PARAMS = param_group(
    "d2",
    KNN_PARAMS["k"],
    PASSING_PARAMS["gamma_forward"],
    PASSING_PARAMS["gamma_reverse"],
    PASSING_PARAMS["forward"],
    PASSING_PARAMS["reverse"],
    KNN_PARAMS["symmetric"],
    KNN_PARAMS["knn"],
    PASSING_PARAMS["clip_negative"],
    Param("check_recall", bool, True, "measure the recall@k of an approximate kNN search (hnsw, ivf, ivfpq, factory "
          "strings; also what auto chose) against exact search on a seeded sample of up to 500 rows (fewer when n·d "
          "is large); exact search is never checked (its recall is 1); the record's graph holds the figure; "
          "--no-check-recall skips it"),
)


@dataclass(frozen=True)
class D2Params:
    """D2's parameters (defaults: ``D2_PARAMS``). ``D2Params.from_values(mapping)`` builds and
    checks one from names given by a caller; unknown names are an error listing the accepted."""

    k: int = D2_PARAMS["k"].default
    gamma_forward: float = D2_PARAMS["gamma_forward"].default
    gamma_reverse: float = D2_PARAMS["gamma_reverse"].default
    forward: str = D2_PARAMS["forward"].default
    reverse: str = D2_PARAMS["reverse"].default
    symmetric: bool = D2_PARAMS["symmetric"].default
    knn: str = D2_PARAMS["knn"].default
    clip_negative: bool = D2_PARAMS["clip_negative"].default
    check_recall: bool = D2_PARAMS["check_recall"].default

    def __post_init__(self) -> None:
        for field in fields(self):
            object.__setattr__(self, field.name, D2_PARAMS[field.name].check(getattr(self, field.name)))

    @classmethod
    def from_values(cls, values: Mapping[str, Any] | None, *, method: str = "d2") -> D2Params:
        values = dict(values or {})
        unknown = sorted(set(values) - set(D2_PARAMS))
        if unknown:
            raise InvalidParameterError(
                unknown[0], f"The {method!r} method does not take the parameter(s) {', '.join(map(repr, unknown))}. "
                f"It accepts: {', '.join(map(repr, D2_PARAMS))}.")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
