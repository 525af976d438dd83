"""The dataset card of a coreset: YAML metadata (license, sources, configs, sizes) and a body that
says exactly how it was selected (every parameter, per-label counts, score statistics, the
difficulty model's training curve, the command that reproduces it, the D2 citation).

Everything is read from the ``SelectionRecord``; parameter names and flags come from the table of
a prune's options (``hf_d2.options.PRUNE_OPTIONS``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hf_d2.folders import EXPORT_RECORD_FILE
from hf_d2.hub.licenses import card_license, license_text, source_license
from hf_d2.options import PRUNE_OPTIONS
from hf_d2.record import SelectionRecord, command_line
from hf_d2.selection import available_methods

DATA_DIR = "data"
SCORES_CONFIG = "scores"
TAGS = ("hf-d2", "data-pruning", "coreset")
TASK_CATEGORIES = ("text-classification",)
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
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))
# Options that never change which rows are kept (left out of the reproduce command).
_NOT_SELECTION = ("use_cache", "cache_dir")


def dataset_card(record: SelectionRecord, *, splits: Mapping[str, Any] | Any = None, scores: Any = None,
                 split: str = "train", repo_id: str | None = None,
                 download_sizes: Mapping[str, int] | None = None) -> Any:
    """The card as a ``huggingface_hub.DatasetCard`` (see the module docstring).

    splits: the exported ``Dataset`` (or {name: Dataset}); the coreset is ``split``. scores:
    the scores table (None: no scores config). repo_id: named in the examples.
    download_sizes: parquet bytes per config, for ``dataset_info``.
    """
    from datasets.info import DatasetInfosDict  # noqa: PLC0415
    from datasets.utils.metadata import MetadataConfigs  # noqa: PLC0415
    from huggingface_hub import DatasetCard, DatasetCardData  # noqa: PLC0415

    if splits is not None and not isinstance(splits, Mapping):
        splits = {split: splits}
    splits = dict(splits or {})
    license_id = card_license(source_license(record))
    hub_source = record.source.repo_id  # source_datasets names Hub datasets; a local file has none
    data = DatasetCardData(license=license_id, source_datasets=[hub_source] if hub_source else None,
                           task_categories=list(TASK_CATEGORIES), size_categories=[size_category(record.num_rows_after)],
                           pretty_name=pretty_name(record), tags=list(TAGS))
    configs = {"default": {"data_files": [{"split": name, "path": f"{DATA_DIR}/{name}-*"}
                                          for name in (splits or {split: None})]}}
    if scores is not None:
        configs[SCORES_CONFIG] = {"data_files": [{"split": split, "path": f"{SCORES_CONFIG}/{split}-*"}]}
    sizes = dict(download_sizes or {})
    infos = {}
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


def reproduce_command(record: SelectionRecord) -> str:
    """The command that made this selection: the recorded one (the CLI records it, without
    tokens), else one rebuilt from the record's source and options (the parameter table's flags)."""
    if record.command:
        return record.command
    origin = record.reselected_from or {}
    if origin.get("location"):
        return command_line(["select", "--from-selection", origin["location"], "--rate", f"{record.rate:g}",
                             "--output", "OUTPUT"])
    source = record.source
    if record.selected_from_columns:
        parts = ["select", source.path or "DATASET", "--rate", f"{record.rate:g}"]
    else:
        parts = ["prune", _dataset_argument(record)]
        if source.kind == "hub" and source.split:
            parts += ["--split", source.split]
        parts += ["--rate", f"{record.rate:g}"]
    for name, value in sorted(record.options.items()):
        if name in _NOT_SELECTION or name not in PRUNE_OPTIONS or value is None:
            continue
        flag = PRUNE_OPTIONS.flag_for(name)
        if PRUNE_OPTIONS[name].kind is bool:
            parts.append(flag if value else "--no-" + flag[2:])
        else:
            parts += [flag, PRUNE_OPTIONS[name].format(value)]
    return command_line(parts)


def source_name(record: SelectionRecord) -> str:
    source = record.source
    if source.repo_id:
        return source.repo_id
    if source.path:
        return Path(source.path).name or str(source.path)
    return source.dataset_name or source.name or "unknown"


def pretty_name(record: SelectionRecord) -> str:
    return f"{source_name(record)}: D2 coreset ({record.num_rows_after:,} of {record.num_rows_before:,} rows)"


def reselectable_rates(record: SelectionRecord) -> str:
    """Which rates ``reselect`` rebuilds exactly from the record and its scores, in words."""
    if prefix_method(record):
        return "in [0, 1)" if record.ranked_rows >= record.num_rows_before else (
            f"≥ {1 - record.ranked_rows / record.num_rows_before:.3g}")
    if record.selected_from_columns:
        return "in [0, 1) (by re-running it on the source's columns)"
    info = available_methods().get(record.method)
    why = (f"{record.method} inside {record.partition} groups" if info is not None and info.prefix_consistent
           else record.method)
    return f"= {record.rate:g} only ({why} is not prefix-consistent)"


def prefix_method(record: SelectionRecord) -> bool:
    info = available_methods().get(record.method)
    return bool(info is not None and info.prefix_consistent and record.partition == "none")


def _dataset_argument(record: SelectionRecord) -> str:
    source = record.source
    if source.kind == "hub":
        return source.repo_id + (f":{source.config}" if source.config else "")
    if source.kind == "bundled":
        return source.name or source.repo_id
    return source.path or source.dataset_name or "DATASET"


def _config_info(name: str, parts: Mapping[str, Any], download_size: int | None) -> Any:
    import datasets  # noqa: PLC0415

    first = next(iter(parts.values()))
    split_infos = datasets.SplitDict()
    for split_name, part in parts.items():
        split_infos.add(datasets.SplitInfo(name=split_name, num_bytes=dataset_bytes(part), num_examples=part.num_rows))
    return datasets.DatasetInfo(config_name=name, features=first.features, splits=split_infos,
                                download_size=download_size,
                                dataset_size=sum(info.num_bytes for info in split_infos.values()))


def dataset_bytes(dataset: Any) -> int:
    """The Arrow size of a dataset's rows (of its selected rows, for a ``select`` view)."""
    estimate = getattr(dataset, "_estimate_nbytes", None)
    return int(estimate()) if estimate is not None else int(dataset.data.nbytes)


def _card_body(record: SelectionRecord, splits, scores, split, repo_id, license_id) -> str:
    before, after = record.num_rows_before, record.num_rows_after
    other_splits = [name for name in splits if name != split]
    lines = [f"# {pretty_name(record)}", "",
             f"A coreset of {source_link(record)}: **{after:,} of {before:,} rows kept** (pruning rate {record.rate:g}, "
             f"the fraction removed) with **{_method_title(record.method)}**, selected by hf-d2 "
             f"{record.hf_d2_version}. Rows keep the source's features and order."
             + (f" The splits {', '.join(f'`{n}`' for n in other_splits)} are the source's, unpruned."
                if other_splits else ""),
             "", "```python", "from datasets import load_dataset", "",
             f'coreset = load_dataset("{repo_id}", split="{split}")  # the kept rows']
    if scores is not None:
        lines.append(f'scores = load_dataset("{repo_id}", "{SCORES_CONFIG}", split="{split}")'
                     "  # every source row: original_index, difficulty, forward_score, pick_rank, kept")
    lines += ["```", "", "## How it was selected", "", "| parameter | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in _parameter_rows(record)]
    if record.auto:
        lines += ["", "## Method chosen by inner cross-validation (`auto`)", "", "| candidate | inner accuracy (%) |",
                  "|---|---:|"]
        lines += [f"| {_cell(c['name'])}{' (chosen)' if c['name'] == record.auto.get('chosen') else ''} | "
                  f"{100 * c['score']:.2f} |" for c in record.auto.get("candidates", [])]
    counts_before, counts_after = record.label_counts_before or {}, record.label_counts_after or {}
    if counts_before:
        lines += ["", f"## Labels before and after (`{record.columns.label}`)", "",
                  "| label | before | after | kept |", "|---|---:|---:|---:|"]
        for label, count in counts_before.items():
            kept = counts_after.get(label, 0)
            lines.append(f"| {_cell(label)} | {count:,} | {kept:,} | {100 * kept / count if count else 0:.1f}% |")
        lines.append(f"| **total** | {before:,} | {after:,} | {100 * after / before:.1f}% |")
    stats = _score_rows(scores)
    if stats:
        lines += ["", "## Scores", "", "Difficulty is oriented higher = harder; the forward score is D2's difficulty "
                  "after the forward message pass (a node's own score plus its neighbours', weighted by distance).", "",
                  "| score | rows | count | min | mean | median | max |", "|---|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {name} | {rows} | {count:,} | {low} | {mean} | {median} | {high} |"
                  for name, rows, count, low, mean, median, high in stats]
    if record.warnings:
        lines += ["", "## Warnings", ""] + [f"- {_cell(warning)}" for warning in record.warnings]
    lines += ["", "## Reproduce it", ""]
    origin = record.reselected_from or {}
    if origin.get("command"):
        lines += ["The run it was re-selected from:", "", "```bash", origin["command"], "```", "", "and the re-selection:", ""]
    elif not record.command:
        lines += ["An equivalent command, rebuilt from the selection record (the run used the Python API):", ""]
    lines += ["```bash", reproduce_command(record), "```", ""]
    if scores is not None and (prefix_method(record) or record.selected_from_columns):
        lines += ["Re-select at another rate from the scores config, without retraining (exact for the rates "
                  f"{reselectable_rates(record)}; the source rows are loaded from the source named in the record):",
                  "", "```bash", f"hf-d2 select --from-selection {repo_id} --rate 0.7 --output coreset-70", "```", ""]
    elif scores is not None:
        lines += [f"This selection can be rebuilt from the record at rate {record.rate:g} only ("
                  f"`hf-d2 select --from-selection {repo_id}`); for another rate, run the command above with "
                  "`--rate R`.", ""]
    lines += ["## Files", "",
              f"- `{DATA_DIR}/{split}-*.parquet`: the coreset" + (", and the untouched splits" if other_splits else "")]
    if scores is not None:
        lines.append(f"- `{SCORES_CONFIG}/{split}-*.parquet` (config `{SCORES_CONFIG}`): one row per source example: "
                     "`original_index`, `difficulty`, `forward_score` (NaN without a graph), `pick_rank` (0 = picked "
                     "first, -1 = not ranked), `kept`")
    lines += [f"- `{EXPORT_RECORD_FILE}`: the full selection record: method, every parameter, models and revisions, "
              "source and its revision or fingerprint, per-label counts, seeds, hf-d2 version, kept row ids",
              "", "## License", "", license_text(record, license_id), "", "## Citation", "",
              "Selected with D2 Pruning (Maharana, Yadav & Bansal, \"D2 Pruning: Message Passing for Balancing "
              f"Diversity and Difficulty in Data Pruning\", ICLR 2024, [arXiv 2310.07931]({PAPER_URL})):", "",
              "```bibtex", CITATION, "```", ""]
    return "\n".join(lines)


def _parameter_rows(record: SelectionRecord) -> list[tuple[str, str]]:
    source = record.source
    rows = [("source", source_link(record))]
    if source.resolved_from:
        rows.append(("resolved from", f"`{source.resolved_from}`"))
    if source.revision or source.fingerprint:
        rows.append(("source revision" if source.revision else "source fingerprint",
                     f"`{source.revision or source.fingerprint}`"))
    if source.max_examples:
        rows.append(("sample", f"a seeded sample of {source.max_examples:,} of {source.num_rows_in_split or 0:,} rows "
                     f"(sample seed {source.sample_seed})"))
    rows += [("method", f"`{record.method}`: {_method_description(record.method)}"),
             ("pruning rate", f"{record.rate:g} (kept {record.num_rows_after:,} of {record.num_rows_before:,})")]
    difficulty = record.difficulty
    rows.append(("pre-filter", _cell(record.prefilter_text()) if record.prefilter_margin is not None else
                 f"{record.prefilter:g}: {_cell(record.prefilter_text())}" if record.prefilter else "none"))
    rows.append(("duplicates", _cell(record.duplicates_text())))
    if record.rate_search:
        search = record.rate_search
        rows.append(("rate", _cell(f"auto: {search['chosen']:g}, the largest rate whose coreset lost at most "
                                   f"{search['max_drop']:g} accuracy points against the full pool (inner ridge "
                                   "classifier, 5 folds; loss by rate: " + ", ".join(
                                       f"{p['rate']:g}: {p['drop']:+.2f}" for p in search["points"]) + ")")))
    if record.partition != "none":
        rows.append(("partition", _cell(record.partition_text())))
    rows += [(f"`{name}`", f"`{value}`") for name, value in record.method_params.items()]
    if difficulty is not None:
        rows.append(("difficulty", _difficulty_text(record)))
        if difficulty.train_accuracy:
            epochs = len(difficulty.train_accuracy)
            curve = ", ".join(f"{100 * value:.1f}%" for value in difficulty.train_accuracy)
            rows.append(("difficulty model training accuracy", f"{curve} ({epochs} {'epoch' if epochs == 1 else 'epochs'})"))
    if record.embeddings is not None:
        embeddings = record.embeddings
        rows.append(("embeddings", f"column `{embeddings.model}`" if embeddings.source == "column" else
                     model_ref(embeddings.model, embeddings.revision)
                     + (" (the fine-tuned classifier's first token)" if embeddings.source == "classifier" else "")))
    if record.label_free:
        rows.append(("labels", "not read by the selection (label-free)"))
    rows.append(("seeds", f"training {record.seeds.training}, selection {record.seeds.selection}"))
    rows.append(("ranked rows", f"{record.ranked_rows:,}: re-selectable at rates {reselectable_rates(record)}"))
    rows.append(("hf-d2 version", f"`{record.hf_d2_version}`"))
    return rows


def _difficulty_text(record: SelectionRecord) -> str:
    difficulty = record.difficulty
    if difficulty.source == "column":
        return f"column `{difficulty.score}` ({difficulty.direction})"
    settings = difficulty.settings
    if difficulty.source == "head":
        epochs = settings.get("head_epochs")
        return (f"`{difficulty.score}` ({difficulty.direction}) from the training dynamics of a head "
                f"(hidden {settings.get('head_hidden_size')}) trained {epochs} {'epoch' if epochs == 1 else 'epochs'} "
                f"on the frozen embeddings; labels: {difficulty.labels}")
    epochs = settings.get("epochs")
    return (f"`{difficulty.score}` ({difficulty.direction}) from the training dynamics of "
            f"{model_ref(difficulty.model, difficulty.revision)} fine-tuned for {epochs} "
            f"{'epoch' if epochs == 1 else 'epochs'} (batch {settings.get('batch_size')}, lr "
            f"{settings.get('learning_rate')}, max length {settings.get('max_length')}); labels: {difficulty.labels}")


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
            if chosen.size:
                rows.append((title, subset, int(chosen.size), *(f"{stat:.4g}" for stat in (
                    chosen.min(), chosen.mean(), np.median(chosen), chosen.max()))))
    return rows


def source_link(record: SelectionRecord) -> str:
    source = record.source
    name = source_name(record)
    text = f"[{name}](https://huggingface.co/datasets/{name})" if source.repo_id else f"`{name}`"
    if source.config:
        text += f" (config `{source.config}`)"
    if source.split:
        text += f", split `{source.split}`"
    if source.kind == "bundled":
        text += f" (the offline copy from {source.revision})"
    return text


def _method_title(method: str) -> str:
    titles = {"d2": "D2 Pruning (message passing over difficulty and diversity)", "ccs": "coverage-centric selection (CCS)",
              "ccs-d2": "CCS strata with D2 inside each stratum", "auto": "the method chosen per rate by hf-d2 auto"}
    return titles.get(method, f"the `{method}` selection")


def _method_description(method: str) -> str:
    if method == "auto":
        return "chosen per rate among candidates by inner cross-validation (see below)"
    info = available_methods().get(method)
    return _cell(info.description) if info is not None else "not available in this hf-d2 version"


def model_ref(name: str | None, revision: str | None) -> str:
    name = name or "?"
    link = f"[{name}](https://huggingface.co/{name})" if re.fullmatch(r"[\w.-]+/[\w.-]+", str(name)) else f"`{name}`"
    return link + (f" @ `{revision}`" if revision else "")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
