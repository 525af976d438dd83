"""D2's own parameters, declared once (``hf_d2.params``), and ``D2Params``, the typed bundle
that carries them from the caller to ``d2_rank`` (docs/method.md §2-4)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from hf_d2._validation import InvalidParameterError
from hf_d2.graph import BACKENDS, FACTORY_PREFIX, check_backend
from hf_d2.message_passing import FORWARD_MODES, REVERSE_MODES
from hf_d2.params import Param, param_group


def _check_knn(value: str) -> str:
    """A kNN backend of ``hf_d2.graph``: one of ``BACKENDS`` or "factory:<faiss string>"."""
    return check_backend(value, name="knn")


D2_PARAMS = param_group(
    "d2",
    Param("k", int, 5, "neighbours per example in the kNN graph", low=1),
    Param("gamma_forward", float, 1.0, "forward kernel width γf: neighbour j adds exp(−γf·d_ij)·s_j"),
    Param("gamma_reverse", float, 0.1, "reverse suppression width γr: a pick lowers neighbour j by exp(−γr·d_ij)·S_i"),
    Param("forward", str, "sum", "forward messages: sum (S_i = s_i + Σ …) or product (S_i = s_i · Σ …)",
          choices=FORWARD_MODES),
    Param("reverse", str, "weighted", "reverse updates: weighted (a pick lowers neighbour j by exp(−γr·d)·S_pick, "
          "the reference), absolute (by S_pick) or relative (j keeps the fraction 1 − exp(−γr·d) of its own score: "
          "never negative, so a pick's duplicate goes last)", choices=REVERSE_MODES),
    Param("symmetric", bool, True, "union-symmetrised kNN graph (the reference); --no-symmetric keeps each "
          "node's own k out-neighbours", flag="--symmetric"),
    Param("knn", str, "exact", "kNN search backend: " + " | ".join(BACKENDS) + f" | {FACTORY_PREFIX}<faiss "
          "index_factory string>; auto chooses by n, d and free memory and the record says which",
          validate=_check_knn),
    Param("clip_negative", bool, False, "floor a pick's score at 0 before it suppresses its neighbours "
          "(the reference does not)"),
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
