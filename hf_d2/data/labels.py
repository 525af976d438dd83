"""The label column: which column holds the classes (``infer_label_column``), and its values as
class ids (``encode_labels``), with the checks that refuse a column that cannot be class labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hf_d2._validation import InvalidParameterError, assign
from hf_d2.data.loading import arrow_column

LABEL_COLUMNS = ("label", "labels", "gold_label", "class", "target", "sentiment")


def infer_label_column(dataset: Any, required: bool = True) -> str | None:
    import datasets  # noqa: PLC0415

    class_labels = [name for name, feature in dataset.features.items() if isinstance(feature, datasets.ClassLabel)]
    if len(class_labels) == 1:
        return class_labels[0]
    if len(class_labels) > 1:
        raise InvalidParameterError("label_column", f"Ambiguous label columns: {', '.join(class_labels)} are all class "
                                    "labels; pick one with {set}COLUMN.")
    for candidate in LABEL_COLUMNS:
        if candidate in dataset.column_names:
            return candidate
    if not required:
        return None
    raise InvalidParameterError("label_column", f"No label column found (columns: {', '.join(dataset.column_names)}); "
                                "name it with {set}COLUMN, or pass {param:label_free} to select without labels.")


def columns_like_labels(dataset: Any, exclude: tuple[str | None, ...] = (), sample_rows: int = 10_000) -> list[tuple[str, int]]:
    """(column, number of classes) of the columns that ``encode_labels`` would accept as class
    labels, judged on the first ``sample_rows`` rows: what a run without a label column could
    have meant (e.g. a column named ``topic``). Columns in ``exclude`` (the text, the image) are
    skipped, and so are lists, images and embeddings."""
    import datasets  # noqa: PLC0415

    rows = dataset.select(range(min(dataset.num_rows, sample_rows)))
    found = []
    for name, feature in dataset.features.items():
        if name in exclude or not isinstance(feature, (datasets.Value, datasets.ClassLabel)):
            continue
        try:
            found.append((name, encode_labels(rows, name).num_labels))
        except ValueError:
            continue
    return found


def label_free_warning(dataset: Any, exclude: tuple[str | None, ...] = ()) -> str:
    """What a run without a label column says when it switches to label-free, in the caller's
    words, naming the columns that look like class labels (``columns_like_labels``)."""
    candidates = columns_like_labels(dataset, exclude=exclude)
    named = (f"column {', '.join(repr(name) + f' ({count} classes)' for name, count in candidates)} "
             f"{'looks' if len(candidates) == 1 else 'look'} like class labels: pass {assign('label_column', candidates[0][0])} "
             "to use it" if candidates else f"name the labels with {assign('label_column', 'COLUMN')}")
    return (f"No label column (none is a ClassLabel or named {', '.join(LABEL_COLUMNS)}): pruning label-free, on "
            "k-means pseudo-labels of the embeddings, which in our measurements was never below random but gained "
            "much less than selecting with labels (docs/benchmarks/quality.md). "
            f"{named[0].upper()}{named[1:]}, or pass {assign('label_free')} to prune label-free without this warning.")


@dataclass(frozen=True)
class EncodedLabels:
    """Integer labels 0..C-1 for every row, with the class names in id order."""

    ids: np.ndarray  # (n,) int64
    names: list[str]

    @property
    def num_labels(self) -> int:
        return len(self.names)

    def counts(self, positions: np.ndarray | None = None) -> dict[str, int]:
        """{class name: rows} over every row, or over the rows at ``positions``, every class included."""
        ids = self.ids if positions is None else self.ids[positions]
        return {name: int(count) for name, count in zip(self.names, np.bincount(ids, minlength=self.num_labels))}


# A label column with more than MIN_CLASSES_QUESTIONED classes, most of them a single row, or more
# classes than MAX_CLASSES_PER_ROW of its rows, is refused as class labels (``allow_many_classes``
# accepts it): the text column, an id, a regression target read as strings.
MIN_CLASSES_QUESTIONED = 10
MAX_SINGLETON_CLASS_FRACTION = 0.5
MAX_CLASSES_PER_ROW = 0.5


def label_name(value: Any) -> str:
    """The class name of a label value that is not a ``ClassLabel`` id: its text, and an
    integer-valued float (2.0, as pandas writes integer labels with a missing value) as the integer."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def encode_labels(dataset: Any, label_column: str, *, allow_many_classes: bool = False) -> EncodedLabels:
    """Labels as int64 ids 0..C-1 in the order of the class names: a ClassLabel keeps its ids and
    names; integers (and integer-valued floats: 0.0, 1.0, ...) and strings (and booleans) map to
    their sorted distinct values, so labels 1..4 are four classes named "1".."4". Refused, in the
    caller's words (``InvalidParameterError`` on ``label_column``): floats that are not whole
    numbers (a regression target), missing or negative labels, one class, and, unless
    ``allow_many_classes``, a column that cannot be class labels: more than 10 classes, and most of
    them a single row or more classes than half the rows."""
    import datasets  # noqa: PLC0415

    feature = dataset.features[label_column]
    values = arrow_column(dataset, label_column).to_numpy(zero_copy_only=False)
    if isinstance(feature, datasets.ClassLabel):
        ids, names = values.astype(np.int64), list(feature.names)
        _check_not_negative(ids, label_column)
    else:
        if values.dtype.kind == "f":
            values = _whole_numbers(values, label_column)
        elif values.dtype.kind == "O" and any(value is None for value in values.tolist()):
            raise InvalidParameterError(
                "label_column", f"Column '{label_column}' ({{name}}) has missing labels (None); fill or drop those "
                "rows before pruning, or pass {param:label_free}.")
        elif values.dtype.kind not in "iubUSO":
            raise InvalidParameterError(
                "label_column", f"Column '{label_column}' ({{name}}) holds {values.dtype} values, not class labels; "
                "name the column of classes with {set}COLUMN, or pass {param:label_free}.")
        if values.dtype.kind in "iu":
            _check_not_negative(values, label_column)
        classes, ids = np.unique(values if values.dtype.kind in "iu" else values.astype(str), return_inverse=True)
        ids = ids.astype(np.int64).reshape(-1)
        names = [label_name(value) for value in classes.tolist()]
    present, counts = np.unique(ids, return_counts=True)
    if len(names) < 2 or present.size < 2:
        shown = [names[int(i)] for i in present] if len(names) else []
        raise InvalidParameterError(
            "label_column", f"The label column {label_column!r} has only one class "
            f"({', '.join(map(str, shown)) or names}); difficulty from training dynamics needs at least 2. Check the "
            "split, or pass {param:label_free}.")
    singletons = int((counts == 1).sum())
    questioned = present.size > MIN_CLASSES_QUESTIONED and (
        singletons > MAX_SINGLETON_CLASS_FRACTION * present.size or present.size > MAX_CLASSES_PER_ROW * ids.size)
    if questioned and not allow_many_classes:
        examples = ", ".join(repr(names[int(i)][:40]) for i in present[:3])
        raise InvalidParameterError(
            "label_column", f"Column '{label_column}' cannot be class labels: it has {present.size:,} classes in "
            f"{ids.size:,} rows, {singletons:,} of them a single row (e.g. {examples}). Name the column of classes "
            "with {set}COLUMN, pass {param:label_free} to select without labels, or {param:allow_many_classes} to use "
            "it as it is.")
    return EncodedLabels(ids=ids, names=names)


def _check_not_negative(ids: np.ndarray, label_column: str) -> None:
    if ids.size and ids.min() < 0:
        raise InvalidParameterError(
            "label_column", f"The label column {label_column!r} has negative labels ({int(ids.min())}, e.g. unlabelled "
            "test rows); drop those rows before pruning, or pass {param:label_free}.")


def _whole_numbers(values: np.ndarray, label_column: str) -> np.ndarray:
    """Float labels that are whole numbers, as int64 (0.0, 1.0, ... from pandas); NaN is a missing
    label and any other fraction a regression target, both refused."""
    if np.isnan(values).any():
        raise InvalidParameterError(
            "label_column", f"Column '{label_column}' ({{name}}) has missing labels (NaN); fill or drop those rows "
            "before pruning, or pass {param:label_free}.")
    if not np.isfinite(values).all() or not np.all(values == np.round(values)):
        example = next(float(value) for value in values.tolist() if not float(value).is_integer())
        raise InvalidParameterError(
            "label_column", f"Column '{label_column}' ({{name}}) holds numbers that are not whole (e.g. {example:g}): a "
            "regression target, not class labels. Difficulty needs classes: bin it into integer classes, name "
            "another column with {set}COLUMN, or pass {param:label_free}.")
    return values.astype(np.int64)
