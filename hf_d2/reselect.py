"""Re-selection: read a selection record back (a folder, a selection.json, an export, a Hub repo)
and rebuild its coreset, at the recorded rate or another one, without retraining.

The source rows are loaded from the source named in the record (or given), and checked to be
the same rows: the same number, and the same ``datasets`` fingerprint or, failing that, the
same content hash. Another file with the same row count is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from hf_d2._validation import budget_from_rate, check_rate
from hf_d2.cache import rows_hash
from hf_d2.data.labels import encode_labels
from hf_d2.data.names import resolve_dataset
from hf_d2.folders import EXPORT_RECORD_FILE, RECORD_FILE, SCORES_FILE
from hf_d2.hub.card import SCORES_CONFIG, prefix_method
from hf_d2.hub.export import read_parquet
from hf_d2.hub.push import check_repo_id, download, hub_error_message
from hf_d2.prune import PruneResult, derived_fingerprint, prune_with_scores
from hf_d2.record import SelectionRecord
from hf_d2.selection.partition import prefilter_count


@dataclass(frozen=True)
class Selection:
    """A selection record read back: ``record``, ``scores`` (the per-row scores table as a
    ``Dataset``, or None when none was found) and ``location`` (where it was read from)."""

    record: SelectionRecord
    scores: Any
    location: str


def load_selection(path_or_repo: str | Path, *, revision: str | None = None, token: str | None = None,
                   endpoint: str | None = None) -> Selection:
    """Reads a selection record and its scores from a selection.json (scores from the sibling
    scores.parquet, or the export's scores/ config), an ``hf-d2 prune`` / ``select`` output
    folder, an export folder, or a Hub dataset repository id pushed by ``push_coreset``."""
    path = Path(path_or_repo).expanduser()
    if path.is_file():
        record_path = path
    elif path.is_dir():
        record_path = next((c for c in (path / EXPORT_RECORD_FILE, path / RECORD_FILE) if c.is_file()), None)
        if record_path is None:
            raise FileNotFoundError(f"No selection record in '{path_or_repo}': pass a selection.json, an hf-d2 output "
                                    "folder, an export folder or a Hub dataset repo id.")
    elif re.fullmatch(r"[\w.-]+/[\w.-]+", str(path_or_repo)):
        return _load_from_hub(check_repo_id(str(path_or_repo)), revision, token, endpoint)
    else:
        raise FileNotFoundError(f"No selection record at '{path_or_repo}': pass a selection.json, an hf-d2 output "
                                "folder, an export folder or a Hub dataset repo id (user/name).")
    record = SelectionRecord.from_json(record_path.read_bytes(), str(record_path))
    root = record_path.parent.parent if record_path.parent.name == "hf_d2" else record_path.parent
    score_files = [record_path.parent / SCORES_FILE] if (record_path.parent / SCORES_FILE).is_file() else []
    score_files = score_files or sorted((root / SCORES_CONFIG).glob("*.parquet"))
    return Selection(record=record, scores=read_parquet(score_files) if score_files else None,
                     location=str(record_path))


def _load_from_hub(repo_id: str, revision: str | None, token: str | None, endpoint: str | None) -> Selection:
    from huggingface_hub import HfApi  # noqa: PLC0415

    api = HfApi(endpoint=endpoint, token=token)
    try:
        files = api.list_repo_files(repo_id, repo_type="dataset", revision=revision)
        if EXPORT_RECORD_FILE not in files:
            raise FileNotFoundError(f"Dataset repo {repo_id} has no {EXPORT_RECORD_FILE}: it was not pushed by hf-d2 push.")
        record = SelectionRecord.from_json(download(api, repo_id, EXPORT_RECORD_FILE, revision),
                                           f"{repo_id}/{EXPORT_RECORD_FILE}")
        score_paths = sorted(p for p in files if p.startswith(f"{SCORES_CONFIG}/") and p.endswith(".parquet"))
        contents = [download(api, repo_id, p, revision) for p in score_paths]
    except Exception as error:  # noqa: BLE001 - Hub failures become one line
        message = hub_error_message(error, repo_id)
        if message is None:
            raise
        raise ValueError(message + " Or pass a local selection.json or export folder.") from None
    return Selection(record=record, scores=read_parquet(contents) if contents else None,
                     location=repo_id + (f"@{revision}" if revision else ""))


def reselect(selection: Selection | str | Path, rate: float | None = None, *, source: Any = None,
             split: str | None = None) -> PruneResult:
    """Rebuilds a coreset from a selection record; returns a ``PruneResult``.

    rate: the fraction removed; default the recorded rate, which gives exactly the recorded rows
        (``kept_row_ids``). Another rate is exact, without retraining, for prefix-consistent
        methods without partitions (d2, random, hard, easy, kcenter, moderate): the coreset is the
        rows with the lowest ``pick_rank``, provided the pre-filter leaves the same rows (rates at
        least the pre-filter's). A record made from columns (``hf-d2 select``, ``score_column=``)
        is re-run on the source's columns instead. Anything else needs the model stages: the
        error says to re-run ``hf-d2 prune --rate R`` (its cached stages make that fast).
    source: the source rows (a ``Dataset``, or a path / name); default the record's source.
    """
    if not isinstance(selection, Selection):
        selection = load_selection(selection)
    record, scores = selection.record, selection.scores
    num_rows = record.num_rows_before
    rate = record.rate if rate is None else check_rate(rate)
    budget = budget_from_rate(num_rows, rate)
    if scores is not None and scores.num_rows != num_rows:
        raise ValueError(f"The scores at {selection.location} have {scores.num_rows} rows but the record was made from "
                         f"{num_rows}; keep selection.json with the scores of the same run.")
    rows = source_rows(record, source, split)
    row_ids = np.asarray(scores["original_index"], dtype=np.int64) if scores is not None else None
    if budget == record.budget:
        kept_ids = np.asarray(record.kept_row_ids, dtype=np.int64)
        if scores is not None and not np.array_equal(np.sort(row_ids[np.asarray(scores["kept"], dtype=bool)]), kept_ids):
            raise ValueError(f"The scores at {selection.location} do not belong to this selection record (their kept "
                             "rows differ); keep selection.json with the scores of the same run.")
    elif scores is None:
        raise ValueError(f"Re-selecting at another rate needs the scores table (scores.parquet, or the export's "
                         f"scores/ config) next to {selection.location}; without it only rate {record.rate:g} can be "
                         "rebuilt.")
    else:
        ranks = np.asarray(scores["pick_rank"], dtype=np.int64)
        ranked = int((ranks >= 0).sum())
        same_survivors = num_rows - prefilter_count(num_rows, record.prefilter, budget) == ranked
        if prefix_method(record) and budget <= ranked and same_survivors:
            kept_ids = np.sort(row_ids[(ranks >= 0) & (ranks < budget)])
        elif record.selected_from_columns:
            return _rerun_from_columns(record, rows, row_ids, rate, selection.location)
        else:
            lowest = f"; rates ≥ {1 - ranked / num_rows:.3g} can be re-selected" if prefix_method(record) else ""
            raise ValueError(
                f"The record ranks {ranked:,} of {num_rows:,} rows ({record.method}, partition {record.partition}, "
                f"pre-filter {record.prefilter:g}), so rate {rate:g} needs the difficulty and embedding stages "
                f"again{lowest}: re-run hf-d2 prune with --rate {rate:g} (its cached stages make that fast).")
    if rows.num_rows <= int(kept_ids.max(initial=-1)):
        raise ValueError(f"The source rows have {rows.num_rows:,} rows but the record keeps row {int(kept_ids.max()):,}; "
                         "pass the same source split (PATH and --split).")
    counts = None
    if record.columns.label and record.label_counts_before is not None:
        encoded = encode_labels(rows.select(kept_ids), record.columns.label, allow_many_classes=True)  # counts only
        tally = np.bincount(encoded.ids, minlength=encoded.num_labels)
        counts = {name: int(tally[i]) for i, name in enumerate(encoded.names) if name in record.label_counts_before}
        counts = {name: counts.get(name, 0) for name in record.label_counts_before}
    new_record = replace(record, rate=rate, budget=int(budget), num_rows_after=int(kept_ids.size),
                         label_counts_after=counts, kept_row_ids=kept_ids.tolist(), command=None,
                         reselected_from={"location": selection.location, "rate": record.rate,
                                          "budget": record.budget, "command": record.command})
    pruned = rows.select(kept_ids, new_fingerprint=derived_fingerprint(rows, new_record))
    pruned.info.description = new_record.attach(rows.info.description)
    new_scores = None
    if scores is not None:
        new_scores = scores.remove_columns("kept").add_column("kept", np.isin(row_ids, kept_ids).tolist())
    return PruneResult(dataset=pruned, record=new_record, scores=new_scores)


def _rerun_from_columns(record: SelectionRecord, rows: Any, row_ids: Any, rate: float, location: str) -> PruneResult:
    """Re-runs the recorded selection on the source's own score / embedding columns."""
    subset = rows if row_ids is None or np.array_equal(row_ids, np.arange(rows.num_rows)) else rows.select(row_ids)
    for column in (record.columns.score, record.columns.embedding, record.columns.prefilter):
        if column and column not in subset.column_names:
            raise ValueError(f"The record selected from column '{column}', which the source rows do not have; pass the "
                             "dataset it was made from (PATH).")
    options = {name: value for name, value in record.options.items() if name not in ("max_examples", "sample_seed")}
    result = prune_with_scores(subset, rate, method=record.method, **{k: v for k, v in options.items() if k != "method"},
                               source={**record.source.__dict__}, source_row_ids=None if subset is rows else row_ids)
    result.record.reselected_from = {"location": location, "rate": record.rate, "budget": record.budget,
                                     "command": record.command}
    result.record.command = None
    return result


def source_rows(record: SelectionRecord, source: Any = None, split: str | None = None) -> Any:
    """The full source split the record's row ids refer to, checked to be the same rows."""
    import datasets  # noqa: PLC0415

    recorded = record.source
    if isinstance(source, datasets.Dataset):
        rows, where = source, "the given dataset"
    else:
        if source is not None:
            name, config, revision = str(source), None, None
        elif recorded.kind == "hub":
            name, config, split, revision = recorded.repo_id, recorded.config, split or recorded.split, recorded.revision
        elif recorded.kind == "bundled":  # the offline copy it was made from, even when the Hub is up
            name, config, split, revision = recorded.name or recorded.repo_id, None, None, None
        elif recorded.path:
            name, config, revision = recorded.path, None, None
            split = split or (recorded.split if recorded.split not in (None, "None") else None)
        else:
            raise ValueError("The selection record names no source to load the rows from; pass the source dataset "
                             "(PATH, or source=).")
        where = name
        try:
            rows = resolve_dataset(name, config, split, revision=revision,
                                   offline=source is None and recorded.kind == "bundled").dataset
        except (ValueError, FileNotFoundError, OSError, ConnectionError) as error:
            reason = " ".join(str(error).split())
            raise ValueError(f"Cannot load the source rows from '{name}' ({reason.rstrip('.')}); pass a local copy of "
                             "the source split as PATH (with --split if needed).") from None
    expected = int(recorded.num_rows_in_split or record.num_rows_before)
    if rows.num_rows != expected:
        raise ValueError(f"The source rows from {where} have {rows.num_rows:,} rows but the record was made from a split "
                         f"of {expected:,}; pass the same source split (PATH and --split).")
    same_fingerprint = recorded.fingerprint is not None and rows._fingerprint == recorded.fingerprint
    if not same_fingerprint and recorded.content_hash and rows_hash(rows, rows.column_names) != recorded.content_hash \
            and rows_hash(rows, rows.column_names, as_stored=True) != recorded.content_hash:  # a 0.2.0 record
        raise ValueError(f"The source rows from {where} are not the rows this record was made from (same row count, "
                         "other content); pass the dataset it was made from (PATH).")
    return rows
