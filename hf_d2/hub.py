"""Publishing a coreset: the Hub layout, the dataset card, the push, and re-selection from a record.

An export folder has the Hub's dataset layout, so ``datasets.load_dataset(folder)`` and
``load_dataset(repo_id)`` read it the same way::

    README.md                              the dataset card (YAML metadata + body)
    data/{split}-00000-of-00001.parquet    the coreset (and any untouched splits), original features
    scores/{split}-00000-of-00001.parquet  the "scores" config: every SOURCE row with original_index,
                                           difficulty, forward_score, pick_rank, kept
    hf_d2/selection.json                   the full selection record

``export_for_hub`` writes it, ``dataset_card`` builds the card, ``push_coreset`` uploads a folder
in ONE commit (data, scores, record and card together, so the card's ``configs`` always describe
the files next to it), and ``load_selection`` + ``reselect`` rebuild the coreset, at the recorded
rate or another one, without retraining.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from hf_d2._io import check_output_dir, write_json, write_output_dir

logger = logging.getLogger("hf_d2")

DATA_DIR = "data"
SCORES_CONFIG = "scores"
RECORD_FILE = "hf_d2/selection.json"
CARD_FILE = "README.md"
TAGS = ("hf-d2", "data-pruning", "coreset")
TASK_CATEGORIES = ("text-classification",)
DEFAULT_MAX_SHARD_SIZE = "500MB"
# Stands for the repository id in a card exported without one; ``push_coreset`` fills it in.
REPO_PLACEHOLDER = "USER/REPO"
PAPER_URL = "https://arxiv.org/abs/2310.07931"
CITATION = """@inproceedings{maharana2024d2pruning,
  title     = {D2 Pruning: Message Passing for Balancing Diversity and Difficulty in Data Pruning},
  author    = {Maharana, Adyasha and Yadav, Prateek and Bansal, Mohit},
  booktitle = {The Twelfth International Conference on Learning Representations (ICLR)},
  year      = {2024},
  url       = {https://arxiv.org/abs/2310.07931}
}"""

# License ids the Hub accepts in a card (https://huggingface.co/docs/hub/repositories-licenses).
HUB_LICENSES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5
cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0
cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl
lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openrail++
osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license fair-noncommercial-research-license
llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 gemma unknown other
""".split())
NON_COMMERCIAL_LICENSES = frozenset({"fair-noncommercial-research-license", "h-research", "intel-research",
                                     "apple-amlr", "c-uda"})
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))
_SPLIT_NAME = re.compile(r"\w+(\.\w+)*")
_HF_TOKEN = re.compile(r"hf_[A-Za-z0-9]{16,}")
_RECORD_KEYS = ("method", "rate", "budget", "num_rows_before", "kept_row_ids")


# ---------------------------------------------------------------------------------------------
# Commands as recorded: never with a token in them.
# ---------------------------------------------------------------------------------------------

def command_line(argv: Sequence[str]) -> str:
    """``hf-d2 ARGS`` as a shell line for the record: ``--token VALUE`` is left out (re-running
    the line takes the token from HF_TOKEN or ``hf auth login``), and anything else that looks
    like a Hugging Face token becomes ``***``."""
    kept, skip_next = [], False
    for arg in argv:
        if skip_next:
            skip_next = False
        elif arg == "--token":
            skip_next = True
        elif not arg.startswith("--token="):
            kept.append(_HF_TOKEN.sub("***", arg))
    return "hf-d2 " + shlex.join(kept)


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------

def export_for_hub(
    result_or_dataset: Any,
    folder: str | Path,
    *,
    scores: Any = None,
    record: dict[str, Any] | None = None,
    split: str = "train",
    repo_id: str | None = None,
    overwrite: bool = False,
    max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
) -> Path:
    """Writes a coreset to ``folder`` in the Hub's dataset layout (see the module docstring);
    returns the folder.

    result_or_dataset: a ``PruneResult``; a pruned ``Dataset`` (its selection record is read
        from it); a ``DatasetDict`` whose pruned split carries a record (the other splits are
        exported untouched); or the output folder of ``hf-d2 prune`` / ``hf-d2 select``.
    scores: the per-example scores table (``PruneResult.scores``) when not given a PruneResult or
        a folder holding scores.parquet; without it there is no "scores" config.
    record: overrides the selection record read from the input.
    split: the coreset's split name (default "train"; a DatasetDict keeps its own names).
    repo_id: the repository named in the card's examples (default: a placeholder filled in by
        ``push_coreset``).
    overwrite: replace a non-empty ``folder`` (refused otherwise). The folder is written next to
        it first and swapped in, so a failure leaves the old one untouched.
    max_shard_size: parquet shard size, bytes or a string such as "500MB" (as ``push_to_hub``).
    """
    splits, pruned_split, record, scores = _export_inputs(result_or_dataset, scores, record, split)
    folder = check_output_dir(folder, overwrite, label="Export folder", overwrite_hint="--overwrite (overwrite=True)")
    max_bytes = _shard_bytes(max_shard_size)

    def write(staging: Path) -> None:
        sizes = {"default": sum(_write_shards(dataset, staging / DATA_DIR, name, max_bytes)
                                for name, dataset in splits.items())}
        if scores is not None:
            sizes[SCORES_CONFIG] = _write_shards(scores, staging / SCORES_CONFIG, pruned_split, max_bytes)
        (staging / "hf_d2").mkdir()
        write_json(staging / RECORD_FILE, record)
        card = dataset_card(record, splits=splits, scores=scores, split=pruned_split, repo_id=repo_id,
                            download_sizes=sizes)
        card.save(staging / CARD_FILE)

    write_output_dir(folder, write)
    logger.info("Exported the coreset for the Hub to %s (%s)", folder, ", ".join(sorted(_folder_files(folder))))
    return folder


def is_export_folder(path: str | Path) -> bool:
    """True for a folder written by ``export_for_hub`` (a card and hf_d2/selection.json)."""
    path = Path(path)
    return (path / CARD_FILE).is_file() and (path / RECORD_FILE).is_file()


def _export_inputs(obj, scores, record, split):
    """(splits by name, the pruned split's name, the record, the scores table or None)."""
    import datasets  # noqa: PLC0415

    from hf_d2.prune import PruneResult, selection_record  # noqa: PLC0415

    if isinstance(obj, (str, Path)):
        return _export_inputs_from_folder(Path(obj), scores, record, split)
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
    if scores is not None and scores.num_rows != record["num_rows_before"]:
        raise ValueError(f"The scores table has {scores.num_rows} rows but the record was made from "
                         f"{record['num_rows_before']}; pass the scores of the same run.")
    return splits, pruned, record, scores


def _export_inputs_from_folder(folder: Path, scores, record, split):
    import datasets  # noqa: PLC0415

    if is_export_folder(folder):
        raise ValueError(f"'{folder}' is already an export folder; push it as it is (hf-d2 push {folder} REPO).")
    if not (folder / "selection.json").is_file():
        raise FileNotFoundError(f"No selection.json in '{folder}': pass the --output folder of hf-d2 prune or hf-d2 "
                                "select.")
    if not ((folder / "dataset_info.json").exists() or (folder / "dataset_dict.json").exists()):
        raise FileNotFoundError(f"'{folder}' holds no save_to_disk dataset: pass the --output folder of hf-d2 prune "
                                "or hf-d2 select.")
    record = record or json.loads((folder / "selection.json").read_text())
    if scores is None and (folder / "scores.parquet").is_file():
        scores = _read_parquet([folder / "scores.parquet"])
    loaded = datasets.load_from_disk(str(folder))
    return _export_inputs(loaded, scores, record, split)


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
    num_shards = max(1, math.ceil(_nbytes(dataset) / max_bytes)) if dataset.num_rows else 1
    num_shards = min(num_shards, max(1, dataset.num_rows))
    total = 0
    for index in range(num_shards):
        shard = dataset.shard(num_shards, index, contiguous=True) if num_shards > 1 else dataset
        path = directory / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"
        shard.to_parquet(str(path))
        total += path.stat().st_size
    return total


def _nbytes(dataset: Any) -> int:
    estimate = getattr(dataset, "_estimate_nbytes", None)
    return int(estimate()) if estimate is not None else int(dataset.data.nbytes)


def _folder_files(folder: Path) -> list[str]:
    """Relative POSIX paths of the files under ``folder`` (hidden files and folders excluded)."""
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*")
                  if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts))


def _read_parquet(paths: Sequence[Path]) -> Any:
    """An in-memory ``Dataset`` from parquet files (features restored from their metadata)."""
    import datasets  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415
    from datasets.table import InMemoryTable  # noqa: PLC0415

    tables = [pq.read_table(io.BytesIO(path) if isinstance(path, bytes) else path) for path in paths]
    return datasets.Dataset(InMemoryTable(pa.concat_tables(tables)))


# ---------------------------------------------------------------------------------------------
# The dataset card
# ---------------------------------------------------------------------------------------------

def dataset_card(
    record: dict[str, Any],
    *,
    splits: Mapping[str, Any] | Any = None,
    scores: Any = None,
    split: str = "train",
    repo_id: str | None = None,
    download_sizes: Mapping[str, int] | None = None,
) -> Any:
    """The dataset card of a coreset, as a ``huggingface_hub.DatasetCard``.

    YAML: ``license`` (the source's), ``source_datasets``, ``tags`` (hf-d2, data-pruning,
    coreset), ``task_categories``, ``size_categories`` (of the coreset), ``pretty_name``,
    ``configs`` (``default``: data/{split}-*, ``scores``: scores/{split}-*) and ``dataset_info``
    (features and sizes of each config, as ``push_to_hub`` writes them).
    Body: parameters, per-label counts before/after, score statistics, the command that
    reproduces it, how to re-select, files, license and the D2 citation.

    record: the selection record. splits: the exported ``Dataset`` (or {name: Dataset}); the
    coreset is ``split``. scores: the scores table (None: no scores config). repo_id: named in
    the examples. download_sizes: parquet bytes per config, for ``dataset_info``.
    """
    from datasets.info import DatasetInfosDict  # noqa: PLC0415
    from datasets.utils.metadata import MetadataConfigs  # noqa: PLC0415
    from huggingface_hub import DatasetCard, DatasetCardData  # noqa: PLC0415

    if splits is not None and not isinstance(splits, Mapping):
        splits = {split: splits}
    splits = dict(splits or {})
    license_id = _card_license(_source_license(record))
    data = DatasetCardData(
        license=license_id,
        source_datasets=[_source_name(record)],
        task_categories=list(TASK_CATEGORIES),
        size_categories=[size_category(int(record["num_rows_after"]))],
        pretty_name=_pretty_name(record),
        tags=list(TAGS),
    )
    configs = {"default": {"data_files": [{"split": name, "path": f"{DATA_DIR}/{name}-*"}
                                          for name in (splits or {split: None})]}}
    if scores is not None:
        configs[SCORES_CONFIG] = {"data_files": [{"split": split, "path": f"{SCORES_CONFIG}/{split}-*"}]}
    infos = {}
    sizes = dict(download_sizes or {})
    if splits:
        infos["default"] = _config_info("default", splits, sizes.get("default"))
    if scores is not None:
        infos[SCORES_CONFIG] = _config_info(SCORES_CONFIG, {split: scores}, sizes.get(SCORES_CONFIG))
    if infos:
        DatasetInfosDict(infos).to_dataset_card_data(data)
    MetadataConfigs(configs).to_dataset_card_data(data)
    body = _card_body(record, splits, scores, split, repo_id or REPO_PLACEHOLDER, license_id)
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def merge_cards(existing: Any, ours: Any) -> Any:
    """``ours`` with what ``existing`` (the card already in the repository) has and ours does not:
    other configs and their ``dataset_info`` stay, YAML keys we do not set stay, and its tags are
    kept after ours; ours wins on every other key it sets, and its body replaces the old one."""
    from datasets.info import DatasetInfosDict  # noqa: PLC0415
    from datasets.utils.metadata import MetadataConfigs  # noqa: PLC0415
    from huggingface_hub import DatasetCard, DatasetCardData  # noqa: PLC0415

    merged = DatasetCardData(**existing.data.to_dict())
    for key, value in ours.data.to_dict().items():
        if key == "tags":
            old = merged.get("tags") or []
            value = list(value) + [tag for tag in ([old] if isinstance(old, str) else old) if tag not in value]
        if key not in ("configs", "dataset_info"):
            merged[key] = value
    DatasetInfosDict.from_dataset_card_data(ours.data).to_dataset_card_data(merged)
    MetadataConfigs.from_dataset_card_data(ours.data).to_dataset_card_data(merged)
    return DatasetCard(f"---\n{merged.to_yaml()}\n---\n\n{ours.text.lstrip()}")


def size_category(num_rows: int) -> str:
    """The Hub's ``size_categories`` value for ``num_rows`` rows ("n<1K", "1K<n<10K", ...)."""
    for limit, name in SIZE_CATEGORIES:
        if num_rows < limit:
            return name
    return "n>1B"


def _config_info(name: str, parts: Mapping[str, Any], download_size: int | None) -> Any:
    import datasets  # noqa: PLC0415

    first = next(iter(parts.values()))
    split_infos = datasets.SplitDict()
    for split_name, part in parts.items():
        split_infos.add(datasets.SplitInfo(name=split_name, num_bytes=_nbytes(part), num_examples=part.num_rows))
    dataset_size = sum(info.num_bytes for info in split_infos.values())
    return datasets.DatasetInfo(config_name=name, features=first.features, splits=split_infos,
                                download_size=download_size, dataset_size=dataset_size)


def _card_body(record, splits, scores, split, repo_id, license_id) -> str:
    before, after, rate = int(record["num_rows_before"]), int(record["num_rows_after"]), record["rate"]
    source = _source_link(record)
    other_splits = [name for name in splits if name != split]
    lines = [
        f"# {_pretty_name(record)}",
        "",
        f"A coreset of {source}: **{after:,} of {before:,} rows kept** (pruning rate {rate:g}, the fraction "
        f"removed) with **{_method_title(record['method'])}**, selected by hf-d2 "
        f"{record.get('hf_d2_version', '')}. Rows keep the source's "
        "features and order." + (f" The splits {', '.join(f'`{n}`' for n in other_splits)} are the source's, "
                                 "unpruned." if other_splits else ""),
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'coreset = load_dataset("{repo_id}", split="{split}")' + "  # the kept rows",
    ]
    if scores is not None:
        lines.append(f'scores = load_dataset("{repo_id}", "{SCORES_CONFIG}", split="{split}")'
                     "  # every source row: original_index, difficulty, forward_score, pick_rank, kept")
    lines += ["```", "", "## How it was selected", "", "| parameter | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in _parameter_rows(record)]
    counts_before, counts_after = record.get("label_counts_before") or {}, record.get("label_counts_after") or {}
    if counts_before:
        lines += ["", f"## Labels before and after (`{record.get('label_column')}`)", "",
                  "| label | before | after | kept |", "|---|---:|---:|---:|"]
        for label, count in counts_before.items():
            kept = counts_after.get(label, 0)
            lines.append(f"| {_cell(label)} | {count:,} | {kept:,} | {100 * kept / count if count else 0:.1f}% |")
        lines.append(f"| **total** | {before:,} | {after:,} | {100 * after / before:.1f}% |")
    stats = _score_rows(scores)
    if stats:
        lines += ["", "## Scores", "",
                  "Difficulty is oriented higher = harder; the forward score is D2's difficulty after the "
                  "forward message pass (a node's own score plus its neighbours', weighted by distance).", "",
                  "| score | rows | count | min | mean | median | max |", "|---|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {name} | {rows} | {count:,} | {low} | {mean} | {median} | {high} |"
                  for name, rows, count, low, mean, median, high in stats]
    lines += ["", "## Reproduce it", ""]
    origin = record.get("reselected_from") or {}
    if origin.get("command"):
        lines += ["The run it was re-selected from:", "", "```bash", origin["command"], "```", "",
                  "and the re-selection:", ""]
    elif not record.get("command"):
        lines += ["An equivalent command, rebuilt from the selection record (the run used the Python API):", ""]
    lines += ["```bash", reproduce_command(record), "```", ""]
    if scores is not None:
        lines += ["Re-select at another rate from the scores config, without retraining (exact for the rates "
                  f"{_reselectable_rates(record)}; the source rows are loaded from the source named in the record):",
                  "", "```bash", f"hf-d2 select --from-selection {repo_id} --rate 0.7 --output coreset-70", "```", ""]
    lines += [
        "## Files", "",
        f"- `{DATA_DIR}/{split}-*.parquet`: the coreset" + (", and the untouched splits" if other_splits else ""),
    ]
    if scores is not None:
        lines.append(f"- `{SCORES_CONFIG}/{split}-*.parquet` (config `{SCORES_CONFIG}`): one row per source example: "
                     "`original_index`, `difficulty`, `forward_score` (NaN without a graph), `pick_rank` (0 = picked "
                     "first, -1 = not ranked), `kept`")
    lines += [
        f"- `{RECORD_FILE}`: the full selection record: method, every parameter, models and revisions, source and "
        "its revision or fingerprint, per-label counts, seed, hf-d2 version, kept row ids",
        "", "## License", "", _license_text(record, license_id),
        "", "## Citation", "",
        "Selected with D2 Pruning (Maharana, Yadav & Bansal, \"D2 Pruning: Message Passing for Balancing Diversity "
        f"and Difficulty in Data Pruning\", ICLR 2024, [arXiv 2310.07931]({PAPER_URL})):", "",
        "```bibtex", CITATION, "```", "",
    ]
    return "\n".join(lines)


def _parameter_rows(record) -> list[tuple[str, str]]:
    source = record.get("source") or {}
    rows = [("source", _source_link(record))]
    if source.get("revision") or source.get("fingerprint"):
        rows.append(("source revision" if source.get("revision") else "source fingerprint",
                     f"`{source.get('revision') or source.get('fingerprint')}`"))
    if source.get("max_examples"):
        rows.append(("sample", f"a seeded sample of {source['max_examples']:,} of {source.get('num_rows_in_split', 0):,} "
                     "rows"))
    rows += [("method", f"`{record['method']}`: {_method_description(record['method'])}"),
             ("pruning rate", f"{record['rate']:g} (kept {record['num_rows_after']:,} of {record['num_rows_before']:,})")]
    prefilter = record.get("prefilter") or 0
    prefilter_by = (record.get("prefilter_column") or ("AUM" if record.get("stages") and not record.get("score_column")
                                                        else "the difficulty"))
    rows.append(("pre-filter", f"{prefilter:g}: the hardest {prefilter:.0%} by {_cell(prefilter_by)} dropped first"
                 if prefilter else "none"))
    partition = record.get("partition") or "none"
    if partition != "none":
        detail = f"`{partition}`, budget allocation `{record.get('budget_allocation')}`"
        if partition == "strata":
            detail += f", {record.get('num_strata')} strata"
        rows.append(("partition", detail))
    for name, value in (record.get("method_params") or {}).items():
        rows.append((f"`{name}`", f"`{value}`"))
    stages = record.get("stages") or {}
    if record.get("score_column"):
        rows.append(("difficulty", f"column `{record['score_column']}` ({record.get('score_direction')})"))
    elif stages.get("difficulty"):
        settings = stages.get("stages") or {}
        classifier = stages.get("classifier") or {}
        rows.append(("difficulty", f"`{stages['difficulty']['score']}` (higher = harder) from the training dynamics of "
                     f"{_model_ref(classifier)} fine-tuned for {settings.get('epochs')} epochs (batch "
                     f"{settings.get('batch_size')}, lr {settings.get('learning_rate')}, max length "
                     f"{settings.get('max_length')})"))
    if record.get("embedding_column"):
        rows.append(("embeddings", f"column `{record['embedding_column']}`"))
    elif stages.get("embedder"):
        rows.append(("embeddings", _model_ref(stages["embedder"])))
    rows.append(("seed", str(record.get("seed"))))
    rows.append(("ranked rows", f"{record.get('ranked_rows', record.get('budget')):,}: re-selectable at rates "
                 f"{_reselectable_rates(record)}"))
    rows.append(("hf-d2 version", f"`{record.get('hf_d2_version')}`"))
    return rows


def _score_rows(scores) -> list[tuple]:
    """(score, rows, count, min, mean, median, max) for difficulty and forward score, all rows
    and kept rows; scores that are NaN everywhere are left out."""
    if scores is None:
        return []
    kept = np.asarray(scores["kept"], dtype=bool)
    rows = []
    for column, title in (("difficulty", "difficulty"), ("forward_score", "forward score")):
        values = np.asarray(scores[column], dtype=np.float64)
        for subset, mask in (("all", np.ones_like(kept)), ("kept", kept)):
            chosen = values[mask]
            chosen = chosen[~np.isnan(chosen)]
            if chosen.size == 0:
                continue
            rows.append((title, subset, int(chosen.size), *(f"{stat:.4g}" for stat in (
                chosen.min(), chosen.mean(), np.median(chosen), chosen.max()))))
    return rows


def reproduce_command(record: dict[str, Any]) -> str:
    """The command that made this selection: the recorded one (``hf-d2 prune`` / ``select``
    record it, without tokens), else one rebuilt from the record's source and parameters."""
    if record.get("command"):
        return record["command"]
    origin = record.get("reselected_from") or {}
    if origin.get("location"):
        return command_line(["select", "--from-selection", origin["location"], "--rate", f"{record['rate']:g}",
                             "--output", "OUTPUT"])
    from hf_d2.cli._common import D2_OPTIONS  # noqa: PLC0415

    source = record.get("source") or {}
    params = record.get("method_params") or {}
    preset = _is_preset(record["method"])
    if record.get("stages") is None:  # selected from columns: hf-d2 select
        parts = ["select", source.get("path") or "DATASET", "--rate", f"{record['rate']:g}", "--method", record["method"]]
        for flag, key in (("--score-column", "score_column"), ("--embedding-column", "embedding_column"),
                          ("--label-column", "label_column"), ("--prefilter-column", "prefilter_column")):
            if record.get(key):
                parts += [flag, record[key]]
        for flag, key in (("--score-direction", "score_direction"), ("--prefilter-direction", "prefilter_direction")):
            if (record.get(key) or "").startswith("lower"):
                parts += [flag, "lower"]
        if not params.get("symmetric", True):
            parts.append("--directed")
        if params.get("clip_negative"):
            parts.append("--clip-negative")
        if record.get("partition") not in (None, "none") and not preset:
            parts += ["--partition", record["partition"], "--budget-allocation", record["budget_allocation"]]
            if record["partition"] == "strata":
                parts += ["--num-strata", str(record["num_strata"])]
    else:
        settings = (record.get("stages") or {}).get("stages") or {}
        parts = ["prune", _dataset_argument(source)]
        if source.get("kind") == "hub" and source.get("split"):
            parts += ["--split", source["split"]]
        parts += ["--rate", f"{record['rate']:g}", "--method", record["method"]]
        if source.get("max_examples"):
            parts += ["--max-examples", str(source["max_examples"])]
        for flag, key in (("--difficulty", "difficulty"), ("--model", "model"), ("--embedding-model", "embedding_model"),
                          ("--embedding-source", "embedding_source"), ("--epochs", "epochs"),
                          ("--batch-size", "batch_size"), ("--learning-rate", "learning_rate"),
                          ("--max-length", "max_length")):
            if settings.get(key) is not None:
                parts += [flag, str(settings[key])]
        if record.get("partition") not in (None, "none") and not preset:
            parts += ["--partition", record["partition"]]
    parts += ["--prefilter", f"{record.get('prefilter') or 0:g}", "--seed", str(record.get("seed", 0))]
    for flag, dest, _, _ in D2_OPTIONS:
        if dest in params:
            parts += [flag, str(params[dest])]
    return command_line(parts)


def _dataset_argument(source: Mapping[str, Any]) -> str:
    if source.get("kind") == "hub":
        return source["repo_id"] + (f":{source['config']}" if source.get("config") else "")
    if source.get("kind") == "bundled":
        return source.get("name") or source.get("repo_id")
    return source.get("path") or source.get("dataset_name") or "DATASET"


def _reselectable_rates(record) -> str:
    """Which rates ``reselect`` rebuilds exactly from the record and its scores, in words."""
    before = int(record["num_rows_before"])
    ranked = int(record.get("ranked_rows", record["budget"]))
    if _prefix_method(record):
        return "in [0, 1)" if ranked >= before else f"≥ {1 - ranked / before:.3g}"
    if record.get("stages") is None:
        return "in [0, 1) (by re-running it on the source's columns)"
    return f"= {record['rate']:g} only ({record['method']} is not prefix-consistent)"


def _source_license(record) -> str | None:
    return (record.get("source") or {}).get("license")


def _card_license(license_value: Any) -> str:
    """A license id the Hub accepts: the source's when it is one, "unknown" when absent, else "other"."""
    if isinstance(license_value, (list, tuple)):
        license_value = license_value[0] if len(license_value) == 1 else None
    if not license_value:
        return "unknown"
    normalised = str(license_value).strip().lower()
    return normalised if normalised in HUB_LICENSES else "other"


def license_warning(license_value: Any) -> str | None:
    """One line when a source license may forbid publishing a coreset of it (non-commercial only,
    no derivatives, unknown or unrecognised); None for licenses that allow redistribution."""
    license_id = _card_license(license_value)
    if license_id in ("unknown", "other"):
        text = str(license_value).strip() if license_value else ""
        state = ("The source dataset records no license" if not text
                 else "The source dataset's license is unknown" if text.lower() == "unknown"
                 else "The source dataset's license is 'other' (custom terms)" if text.lower() == "other"
                 else f"The source dataset's license is not one the Hub knows ({text})")
        return f"{state}: check that it allows redistribution before publishing a coreset of it, or push with --private."
    if "-nd" in license_id:
        return (f"The source dataset's license ({license_id}) forbids sharing modified copies, and a coreset is one: "
                "push with --private, or not at all.")
    if "-nc" in license_id or license_id in NON_COMMERCIAL_LICENSES:
        return (f"The source dataset's license ({license_id}) allows redistribution only for non-commercial use: the "
                f"coreset keeps {license_id} and must not be used commercially; consider --private.")
    return None


def _license_text(record, license_id) -> str:
    """The card's license paragraph: the inherited id, and what it means for users of the coreset."""
    original = _source_license(record)
    text = f"Inherited from the source dataset: `{license_id}`."
    if original and str(original).strip().lower() != license_id:
        text += f" The source states: {_cell(original)}."
    if license_id in ("unknown", "other"):
        text += " Check the source's terms before using or sharing this coreset."
    elif "-nd" in license_id:
        text += " That license does not allow sharing modified copies (a coreset is one): keep this repository private."
    elif "-nc" in license_id or license_id in NON_COMMERCIAL_LICENSES:
        text += " Non-commercial use only, as for the source."
    return text


def _source_name(record) -> str:
    source = record.get("source") or {}
    if source.get("repo_id"):
        return source["repo_id"]
    if source.get("path"):
        return Path(source["path"]).name or str(source["path"])
    return source.get("dataset_name") or source.get("name") or "unknown"


def _source_link(record) -> str:
    source = record.get("source") or {}
    name = _source_name(record)
    text = (f"[{name}](https://huggingface.co/datasets/{name})" if source.get("repo_id") else f"`{name}`")
    if source.get("config"):
        text += f" (config `{source['config']}`)"
    if source.get("split"):
        text += f", split `{source['split']}`"
    if source.get("kind") == "bundled":
        text += f" (the offline copy from {source.get('revision')})"
    return text


def _pretty_name(record) -> str:
    return f"{_source_name(record)}: D2 coreset ({int(record['num_rows_after']):,} of {int(record['num_rows_before']):,} rows)"


def _method_title(method: str) -> str:
    titles = {"d2": "D2 Pruning (message passing over difficulty and diversity)", "ccs": "coverage-centric selection (CCS)",
              "ccs-d2": "CCS strata with D2 inside each stratum"}
    return titles.get(method, f"the `{method}` selection")


def _method_description(method: str) -> str:
    from hf_d2.selection import available_methods  # noqa: PLC0415

    info = available_methods().get(method)
    return _cell(info.description) if info is not None else "not available in this hf-d2 version"


def _is_preset(method: str) -> bool:
    from hf_d2.selection import Preset, available_methods  # noqa: PLC0415

    return isinstance(available_methods().get(method), Preset)


def _prefix_method(record) -> bool:
    from hf_d2.selection import available_methods  # noqa: PLC0415

    info = available_methods().get(record["method"])
    return bool(info is not None and info.prefix_consistent and (record.get("partition") or "none") == "none")


def _model_ref(model: Mapping[str, Any]) -> str:
    name = model.get("model") or "?"
    revision = model.get("revision")
    link = f"[{name}](https://huggingface.co/{name})" if re.fullmatch(r"[\w.-]+/[\w.-]+", str(name)) else f"`{name}`"
    return link + (f" @ `{revision}`" if revision else "")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------------------------------------
# Push
# ---------------------------------------------------------------------------------------------

def push_coreset(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
    endpoint: str | None = None,
) -> Any:
    """Uploads an export folder (``export_for_hub``) to the dataset repository ``repo_id`` in ONE
    commit; returns the ``huggingface_hub.CommitInfo`` (``.commit_url``, ``.pr_url``).

    The repository is created if needed (``private``; an existing public repository is refused
    with ``private=True`` rather than published). When the repository already has a card, it is
    merged with ours (``merge_cards``: its other configs and keys stay), so the ``configs``
    always list the files of this commit; earlier files under data/, scores/ and hf_d2/ that the
    export does not have are deleted in the same commit (no stale shard matches data/train-*).
    revision: a branch (created from main if missing). create_pr: open a pull request against
    main instead of committing. token: default from HF_TOKEN or ``hf auth login``; it is only
    ever sent in the Authorization header. endpoint: default ``HF_ENDPOINT`` / huggingface.co.
    A source license that may forbid redistribution logs a warning unless ``private``.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, DatasetCard, HfApi  # noqa: PLC0415

    folder = Path(folder).expanduser()
    if not is_export_folder(folder):
        raise FileNotFoundError(f"'{folder}' is not an export folder (no {CARD_FILE} and {RECORD_FILE}): write one with "
                                "hf_d2.hub.export_for_hub or hf-d2 push OUTPUT_DIR REPO.")
    if create_pr and revision not in (None, "main"):
        raise ValueError(f"Pull requests are opened against main: pass --revision {revision} or --create-pr, not both.")
    record = json.loads((folder / RECORD_FILE).read_text())
    warning = license_warning(_source_license(record))
    if warning and not private:
        logger.warning("Warning: %s", warning)

    api = HfApi(endpoint=endpoint, token=token)
    repo_id = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True).repo_id
    if private and api.dataset_info(repo_id).private is False:
        raise ValueError(f"Dataset repo {repo_id} exists and is public; --private does not change an existing "
                         "repository: make it private on the Hub first, or push without --private.")
    if revision not in (None, "main"):
        api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
    base = revision or "main"
    remote_files = set(api.list_repo_files(repo_id, repo_type="dataset", revision=base))
    local_files = _folder_files(folder)
    card_text = (folder / CARD_FILE).read_text(encoding="utf-8")
    if CARD_FILE in remote_files:
        existing = _download_text(api, repo_id, CARD_FILE, base)
        try:
            if existing is not None:
                card_text = merge_cards(DatasetCard(existing), DatasetCard(card_text)).content
        except (ValueError, TypeError, KeyError) as error:  # an unreadable old card is replaced, not merged
            logger.warning("The README.md in %s could not be read as a dataset card (%s); it is replaced.",
                           repo_id, " ".join(str(error).split()))
    card_text = card_text.replace(REPO_PLACEHOLDER, repo_id)
    operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=card_text.encode("utf-8") if path == CARD_FILE
                                     else str(folder / path)) for path in local_files]
    stale = sorted(path for path in remote_files - set(local_files)
                   if path.split("/", 1)[0] in (DATA_DIR, SCORES_CONFIG, "hf_d2"))
    operations += [CommitOperationDelete(path_in_repo=path) for path in stale]
    message = commit_message or (f"hf-d2: {record['method']} coreset, {int(record['num_rows_after']):,} of "
                                 f"{int(record['num_rows_before']):,} rows (rate {record['rate']:g})")
    commit = api.create_commit(repo_id, operations, repo_type="dataset", revision=revision, create_pr=create_pr,
                               commit_message=message)
    logger.info("Pushed %d files to %s%s", len(local_files), repo_id,
                f" (pull request {commit.pr_url})" if commit.pr_url else f" ({commit.commit_url})")
    return commit


def _download_text(api: Any, repo_id: str, path: str, revision: str) -> str | None:
    content = _download(api, repo_id, path, revision)
    return None if content is None else content.decode("utf-8")


def _download(api: Any, repo_id: str, path: str, revision: str | None) -> bytes | None:
    """One file of a dataset repository (None when it does not exist)."""
    from urllib.parse import quote  # noqa: PLC0415

    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status  # noqa: PLC0415

    # Built from api.endpoint (hf_hub_url's template is fixed when huggingface_hub is imported).
    url = f"{api.endpoint}/datasets/{repo_id}/resolve/{quote(revision or 'main', safe='')}/{quote(path)}"
    response = get_session().get(url, headers=build_hf_headers(token=api.token), follow_redirects=True)
    if response.status_code == 404:
        return None
    hf_raise_for_status(response)
    return response.content


def hub_error_message(error: BaseException, repo_id: str) -> str | None:
    """One line for a failed Hub call (auth, missing repo, network), or None for other errors.
    Never includes the token."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled  # noqa: PLC0415

    if isinstance(error, OfflineModeIsEnabled):
        return "The Hub client is in offline mode (HF_HUB_OFFLINE=1): unset HF_HUB_OFFLINE to reach the Hub."
    if isinstance(error, HfHubHTTPError):
        status = getattr(error.response, "status_code", None)
        if status == 401:
            return (f"The Hub refused the token for {repo_id} (401): log in with `hf auth login`, set HF_TOKEN, or pass "
                    "--token with a write token.")
        if status == 403:
            return f"The token has no write access to {repo_id} (403): use a write token for that namespace."
        if status == 404:
            return f"Dataset repo {repo_id} (or its revision) was not found on the Hub (404): check the name."
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"The Hub answered {status} for {repo_id}: {first}"
    module = type(error).__module__ or ""
    if isinstance(error, (ConnectionError, TimeoutError)) or module.startswith(("httpx", "httpcore", "requests")):
        from huggingface_hub import constants  # noqa: PLC0415

        return (f"Cannot reach the Hub at {constants.ENDPOINT} ({type(error).__name__}): check the connection or "
                "HF_ENDPOINT, then push again.")
    return None


# ---------------------------------------------------------------------------------------------
# Re-selection from a record
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Selection:
    """A selection record read back: ``record`` (the dict of selection.json), ``scores`` (the
    per-example scores table as a ``Dataset``, or None when none was found) and ``location``
    (where it was read from)."""

    record: dict[str, Any]
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
        candidates = [path / RECORD_FILE, path / "selection.json"]
        record_path = next((candidate for candidate in candidates if candidate.is_file()), None)
        if record_path is None:
            raise FileNotFoundError(f"No selection record in '{path_or_repo}': pass a selection.json, an hf-d2 output "
                                    "folder, an export folder or a Hub dataset repo id.")
    elif re.fullmatch(r"[\w.-]+/[\w.-]+", str(path_or_repo)):
        return _load_selection_from_hub(str(path_or_repo), revision, token, endpoint)
    else:
        raise FileNotFoundError(f"No selection record at '{path_or_repo}': pass a selection.json, an hf-d2 output "
                                "folder, an export folder or a Hub dataset repo id (user/name).")
    record = _parse_record(record_path.read_bytes(), str(record_path))
    root = record_path.parent.parent if record_path.parent.name == "hf_d2" else record_path.parent
    score_files = [record_path.parent / "scores.parquet"] if (record_path.parent / "scores.parquet").is_file() else []
    score_files = score_files or sorted((root / SCORES_CONFIG).glob("*.parquet")) or sorted(
        (root / DATA_DIR).glob("scores*.parquet"))
    scores = _read_parquet(score_files) if score_files else None
    return Selection(record=record, scores=scores, location=str(record_path))


def _load_selection_from_hub(repo_id, revision, token, endpoint) -> Selection:
    from huggingface_hub import HfApi  # noqa: PLC0415

    api = HfApi(endpoint=endpoint, token=token)
    try:
        files = api.list_repo_files(repo_id, repo_type="dataset", revision=revision)
        if RECORD_FILE not in files:
            raise FileNotFoundError(f"Dataset repo {repo_id} has no {RECORD_FILE}: it was not pushed by hf-d2 push.")
        record = _parse_record(_download(api, repo_id, RECORD_FILE, revision), f"{repo_id}/{RECORD_FILE}")
        score_paths = sorted(path for path in files if path.startswith(f"{SCORES_CONFIG}/") and path.endswith(".parquet"))
        contents = [_download(api, repo_id, path, revision) for path in score_paths]
    except Exception as error:  # noqa: BLE001 - Hub failures become one line
        message = hub_error_message(error, repo_id)
        if message is None:
            raise
        raise ValueError(message + " Or pass a local selection.json or export folder.") from None
    scores = _read_parquet(contents) if contents else None
    return Selection(record=record, scores=scores, location=f"{repo_id}" + (f"@{revision}" if revision else ""))


def _parse_record(content: bytes | None, where: str) -> dict[str, Any]:
    try:
        record = json.loads(content or b"")
    except ValueError:
        raise ValueError(f"'{where}' is not valid JSON; pass the selection.json written by hf-d2.") from None
    missing = [key for key in _RECORD_KEYS if not isinstance(record, dict) or key not in record]
    if missing:
        raise ValueError(f"'{where}' is not an hf-d2 selection record (no {', '.join(missing)}); pass the "
                         "selection.json written by hf-d2.")
    return record


def reselect(selection: Selection | str | Path, rate: float | None = None, *, source: Any = None,
             split: str | None = None) -> Any:
    """Rebuilds a coreset from a selection record; returns a ``PruneResult``.

    rate: the fraction removed; default the recorded rate, which gives exactly the recorded rows
        (``kept_row_ids``). Another rate is exact, without retraining, for prefix-consistent
        methods without partitions (d2, random, hard, easy, kcenter, moderate): the coreset is the
        rows with the lowest ``pick_rank``, provided the pre-filter leaves the same rows (rates at
        least the pre-filter's). A record made from columns (``hf-d2 select``, ``score_column=``)
        is re-run on the source's columns instead. Anything else (e.g. ccs at another rate) needs
        the model stages: a ValueError says to re-run ``hf-d2 prune --rate R`` (cached stages).
    source: where the source rows are: a ``Dataset`` or a path / name for ``resolve_dataset``;
        default the source named in the record. split: the split of ``source``.
    """
    from hf_d2._validation import budget_from_rate, check_rate  # noqa: PLC0415
    from hf_d2.prune import PruneResult, _derived_fingerprint, _label_counts, _labels, _with_record  # noqa: PLC0415
    from hf_d2.selection.partition import prefilter_count  # noqa: PLC0415

    if not isinstance(selection, Selection):
        selection = load_selection(selection)
    record, scores = selection.record, selection.scores
    num_rows = int(record["num_rows_before"])
    rate = float(record["rate"]) if rate is None else check_rate(rate)
    budget = budget_from_rate(num_rows, rate)
    if scores is not None and scores.num_rows != num_rows:
        raise ValueError(f"The scores at {selection.location} have {scores.num_rows} rows but the record was made from "
                         f"{num_rows}; keep selection.json with the scores of the same run.")
    rows = _source_rows(record, source, split)
    row_ids = np.asarray(scores["original_index"], dtype=np.int64) if scores is not None else None
    kept_ids = None
    if budget == int(record["budget"]):
        kept_ids = np.asarray(record["kept_row_ids"], dtype=np.int64)
        if scores is not None and not np.array_equal(np.sort(row_ids[np.asarray(scores["kept"], dtype=bool)]), kept_ids):
            raise ValueError(f"The scores at {selection.location} do not belong to this selection record (their kept "
                             "rows differ); keep selection.json with the scores of the same run.")
    elif scores is None:
        raise ValueError(f"Re-selecting at another rate needs the scores table (scores.parquet, or the export's "
                         f"scores/ config) next to {selection.location}; without it only rate {record['rate']:g} "
                         "can be rebuilt.")
    else:
        ranks = np.asarray(scores["pick_rank"], dtype=np.int64)
        ranked = int((ranks >= 0).sum())
        same_survivors = num_rows - prefilter_count(num_rows, float(record.get("prefilter") or 0), budget) == ranked
        if _prefix_method(record) and budget <= ranked and same_survivors:
            kept_ids = np.sort(row_ids[(ranks >= 0) & (ranks < budget)])
        elif record.get("stages") is None:
            return _rerun_from_columns(record, rows, row_ids, rate, selection.location)
        else:
            lowest = f"; rates ≥ {1 - ranked / num_rows:.3g} can be re-selected" if _prefix_method(record) else ""
            raise ValueError(
                f"The record ranks {ranked:,} of {num_rows:,} rows ({record['method']}, partition "
                f"{record.get('partition')}, pre-filter {record.get('prefilter')}), so rate {rate:g} needs the "
                f"difficulty and embedding stages again{lowest}: re-run hf-d2 prune with --rate {rate:g} (its "
                "cached stages make that fast)."
            )
    if rows.num_rows <= int(kept_ids.max(initial=-1)):
        raise ValueError(f"The source rows have {rows.num_rows:,} rows but the record keeps row {int(kept_ids.max()):,}; "
                         "pass the same source split (PATH and --split).")
    labels, names = None, None
    if record.get("label_column"):
        labels, names, _ = _labels(rows.select(kept_ids), record["label_column"])
    new_record = dict(record)
    new_record.update({
        "rate": rate, "budget": int(budget), "num_rows_after": int(kept_ids.size),
        "label_counts_after": _label_counts(labels, names, None) if labels is not None else None,
        "kept_row_ids": kept_ids.tolist(),
        "reselected_from": {"location": selection.location, "rate": record["rate"], "budget": record["budget"],
                            "command": record.get("command")},
        "command": None,
    })
    pruned = rows.select(kept_ids, new_fingerprint=_derived_fingerprint(rows, new_record))
    pruned.info.description = _with_record(rows.info.description, new_record)
    new_scores = None
    if scores is not None:
        kept = np.isin(row_ids, kept_ids)
        new_scores = scores.remove_columns("kept").add_column("kept", kept.tolist())
    return PruneResult(dataset=pruned, record=new_record, scores=new_scores)


def _rerun_from_columns(record, rows, row_ids, rate, location):
    """Re-runs the recorded selection on the source's own score / embedding columns."""
    from hf_d2.prune import prune_with_scores  # noqa: PLC0415

    subset = rows if row_ids is None or np.array_equal(row_ids, np.arange(rows.num_rows)) else rows.select(row_ids)
    for key in ("score_column", "embedding_column", "prefilter_column"):
        if record.get(key) and record[key] not in subset.column_names:
            raise ValueError(f"The record selected from column '{record[key]}', which the source rows do not have; "
                             "pass the dataset it was made from (PATH).")
    direction = (record.get("score_direction") or "higher").split()[0]
    prefilter_direction = (record.get("prefilter_direction") or "higher").split()[0]
    result = prune_with_scores(
        subset, rate, method=record["method"], score_column=record.get("score_column"),
        embedding_column=record.get("embedding_column"), label_column=record.get("label_column"),
        score_direction=direction, prefilter=record.get("prefilter"), prefilter_column=record.get("prefilter_column"),
        prefilter_direction=prefilter_direction,
        partition=None if _is_preset(record["method"]) else record.get("partition"),
        budget_allocation=record.get("budget_allocation"), num_strata=record.get("num_strata"),
        seed=int(record.get("seed", 0)), source=record.get("source"),
        source_row_ids=None if subset is rows else row_ids, **(record.get("method_params") or {}),
    )
    result.record["reselected_from"] = {"location": location, "rate": record["rate"], "budget": record["budget"],
                                        "command": record.get("command")}
    result.record["command"] = None
    return result


def _source_rows(record, source, split) -> Any:
    """The full source split the record's row ids refer to."""
    import datasets  # noqa: PLC0415

    from hf_d2.data import resolve_dataset  # noqa: PLC0415

    recorded = record.get("source") or {}
    if isinstance(source, datasets.Dataset):
        rows, where = source, "the given dataset"
    else:
        if source is not None:
            name, config, split, revision = str(source), None, split, None
        elif recorded.get("kind") == "hub":
            name, config = recorded["repo_id"], recorded.get("config")
            split, revision = split or recorded.get("split"), recorded.get("revision")
        elif recorded.get("kind") == "bundled":  # the offline copy it was made from, even when the Hub is up
            name, config, split, revision = recorded.get("name") or recorded["repo_id"], None, None, None
        elif recorded.get("path"):
            name, config, revision = recorded["path"], None, None
            split = split or (recorded.get("split") if recorded.get("split") not in (None, "None") else None)
        else:
            raise ValueError("The selection record names no source to load the rows from; pass the source dataset "
                             "(PATH, or source=).")
        where = name
        try:
            rows = resolve_dataset(name, config, split, revision=revision,
                                   offline=source is None and recorded.get("kind") == "bundled").dataset
        except (ValueError, FileNotFoundError, OSError, ConnectionError) as error:
            reason = " ".join(str(error).split())
            raise ValueError(f"Cannot load the source rows from '{name}' ({reason.rstrip('.')}); pass a local copy "
                             "of the source split as PATH (with --split if needed).") from None
    expected = int(recorded.get("num_rows_in_split") or record["num_rows_before"])
    if rows.num_rows != expected:
        raise ValueError(f"The source rows from {where} have {rows.num_rows:,} rows but the record was made from a split "
                         f"of {expected:,}; pass the same source split (PATH and --split).")
    return rows


__all__ = [
    "Selection",
    "command_line",
    "dataset_card",
    "export_for_hub",
    "hub_error_message",
    "is_export_folder",
    "license_warning",
    "load_selection",
    "merge_cards",
    "push_coreset",
    "reproduce_command",
    "reselect",
    "size_category",
]
