"""Writing a coreset in the Hub's dataset layout, so that ``datasets.load_dataset(folder)`` and
``load_dataset(repo_id)`` read it the same way::

    README.md                              the dataset card (``hf_d2.hub.card``)
    data/{split}-00000-of-00001.parquet    the coreset (and any untouched splits), original features
    scores/{split}-00000-of-00001.parquet  the "scores" config: one row per row selected from, with
                                           original_index, difficulty, forward_score, pick_rank, kept
    hf_d2/selection.json                   the full selection record
"""

from __future__ import annotations

import io
import logging
import math
import re
from pathlib import Path
from typing import Any, Sequence

from hf_d2.folders import CARD_FILE, EXPORT_RECORD_FILE, folder_files, output_folder, read_prune_folder
from hf_d2.hub.card import dataset_bytes, dataset_card
from hf_d2.record import SelectionRecord, selection_record

logger = logging.getLogger("hf_d2")

DATA_DIR = "data"
SCORES_CONFIG = "scores"
DEFAULT_MAX_SHARD_SIZE = "500MB"
_SPLIT_NAME = re.compile(r"\w+(\.\w+)*")


def export_for_hub(result_or_dataset: Any, folder: str | Path, *, scores: Any = None,
                   record: SelectionRecord | None = None, split: str = "train", repo_id: str | None = None,
                   overwrite: bool = False, max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
                   protect: Sequence[str | Path] = ()) -> Path:
    """Writes a coreset to ``folder`` in the Hub's dataset layout (see the module docstring);
    returns the folder.

    result_or_dataset: a ``PruneResult``; a pruned ``Dataset`` (its record is read from it); a
        ``DatasetDict`` whose pruned split carries a record (the other splits are exported
        untouched); or the output folder of ``hf-d2 prune`` / ``hf-d2 select``.
    scores: the per-row scores table when not given a PruneResult or a folder holding
        scores.parquet; without it there is no "scores" config. record: overrides the record.
    split: the coreset's split name (default "train"; a DatasetDict keeps its own names).
    repo_id: the repository named in the card's examples (default: a placeholder that
        ``push_coreset`` fills in). overwrite: replace an earlier export (never a folder with
        other files in it). max_shard_size: parquet shard size, bytes or e.g. "500MB".
    protect: paths the folder must not overlap (the source, when exporting an output folder).
    """
    splits, pruned_split, record, scores = _export_inputs(result_or_dataset, scores, record, split)
    max_bytes = _shard_bytes(max_shard_size)
    protected = [*protect, *([result_or_dataset] if isinstance(result_or_dataset, (str, Path)) else [])]
    with output_folder(folder, kind="export", overwrite=overwrite, protect=protected, label="Export folder",
                       overwrite_hint="--overwrite (overwrite=True)") as target:
        staging = target.staging
        sizes = {"default": sum(_write_shards(dataset, staging / DATA_DIR, name, max_bytes)
                                for name, dataset in splits.items())}
        if scores is not None:
            sizes[SCORES_CONFIG] = _write_shards(scores, staging / SCORES_CONFIG, pruned_split, max_bytes)
        (staging / EXPORT_RECORD_FILE).parent.mkdir()
        (staging / EXPORT_RECORD_FILE).write_text(record.to_json())
        card = dataset_card(record, splits=splits, scores=scores, split=pruned_split, repo_id=repo_id,
                            download_sizes=sizes)
        card.save(staging / CARD_FILE)
    folder = target.path
    logger.info("Exported the coreset for the Hub to %s (%s)", folder, ", ".join(folder_files(folder)))
    return folder


def is_export_folder(path: str | Path) -> bool:
    """True for a folder written by ``export_for_hub`` (a card and hf_d2/selection.json)."""
    path = Path(path)
    return (path / CARD_FILE).is_file() and (path / EXPORT_RECORD_FILE).is_file()


def read_parquet(paths: Sequence[Path | bytes]) -> Any:
    """An in-memory ``Dataset`` from parquet files or their bytes (features from their metadata)."""
    import datasets  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415
    from datasets.table import InMemoryTable  # noqa: PLC0415

    tables = [pq.read_table(io.BytesIO(path) if isinstance(path, bytes) else path) for path in paths]
    return datasets.Dataset(InMemoryTable(pa.concat_tables(tables)))


def _export_inputs(obj, scores, record, split):
    """(splits by name, the pruned split's name, the record, the scores table or None)."""
    import datasets  # noqa: PLC0415

    from hf_d2.prune import PruneResult  # noqa: PLC0415 - prune imports the selection stack

    if isinstance(obj, (str, Path)):
        if is_export_folder(obj):
            raise ValueError(f"'{obj}' is already an export folder; push it as it is (hf-d2 push {obj} REPO).")
        loaded, folder_record, folder_scores = read_prune_folder(obj)
        return _export_inputs(loaded, scores if scores is not None else folder_scores, record or folder_record, split)
    if isinstance(obj, PruneResult):
        splits, pruned = {split: obj.dataset}, split
        record = record or obj.record
        scores = obj.scores if scores is None else scores
    elif isinstance(obj, datasets.DatasetDict):
        splits = dict(obj)
        recorded = [name for name, part in splits.items() if selection_record(part) is not None]
        if split in splits and (record is not None or split in recorded):
            pruned = split
        elif recorded:
            pruned = recorded[0]
        else:
            raise ValueError("No split of this DatasetDict was pruned by hf-d2 (none carries a selection record); "
                             "prune one with dataset_dict.d2_prune(rate=...) first.")
        record = record or selection_record(splits[pruned])
    elif isinstance(obj, datasets.Dataset):
        splits, pruned = {split: obj}, split
        record = record or selection_record(obj)
    else:
        raise ValueError(f"export_for_hub takes a PruneResult, a pruned Dataset or DatasetDict, or an hf-d2 output "
                         f"folder. Got {type(obj).__name__}.")
    if record is None:
        raise ValueError("This dataset has no hf-d2 selection record: export the PruneResult of hf_d2.prune_with_scores, "
                         "or a dataset returned by d2_prune.")
    for name in splits:
        if not _SPLIT_NAME.fullmatch(name):
            raise ValueError(f"Split name {name!r} cannot be a file name on the Hub; use letters, digits and '_' "
                             "(e.g. split='train').")
    if scores is not None and scores.num_rows != record.num_rows_before:
        raise ValueError(f"The scores table has {scores.num_rows} rows but the record was made from "
                         f"{record.num_rows_before}; pass the scores of the same run.")
    return splits, pruned, record, scores


def _shard_bytes(max_shard_size: int | str) -> int:
    from datasets.utils.py_utils import convert_file_size_to_int  # noqa: PLC0415

    value = convert_file_size_to_int(max_shard_size)
    if value <= 0:
        raise ValueError(f"The 'max_shard_size' parameter must be positive (e.g. '500MB'). Got {max_shard_size!r}.")
    return value


def _write_shards(dataset: Any, directory: Path, split: str, max_bytes: int) -> int:
    """Writes ``{split}-{i:05d}-of-{n:05d}.parquet`` shards as ``push_to_hub`` names them;
    returns their total size in bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    num_shards = max(1, math.ceil(dataset_bytes(dataset) / max_bytes)) if dataset.num_rows else 1
    num_shards = min(num_shards, max(1, dataset.num_rows))
    total = 0
    for index in range(num_shards):
        shard = dataset.shard(num_shards, index, contiguous=True) if num_shards > 1 else dataset
        path = directory / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"
        shard.to_parquet(str(path))
        total += path.stat().st_size
    return total
