"""Resolving a dataset name: Hub ids, ``repo:config``, local paths, bundled offline copies, and
unambiguous aliases (``glue/anli`` is ``facebook/anli``, split ``train_r3`` as in the paper).

An alias resolves with one log line and is recorded (``source["resolved_from"]``); an
ambiguous or unknown name keeps the "did you mean" error.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from hf_d2._validation import spell
from hf_d2.data.loading import (
    BUNDLED_DATASETS,
    ResolvedDataset,
    load_bundled_dataset,
    load_local_dataset,
    pick_split,
)
from hf_d2.env import OFFLINE_REASON, forced_offline, hub_offline_reason, offline_mode, why_offline

logger = logging.getLogger("hf_d2")

BUNDLED_ALIASES = {alias: name for name, entry in BUNDLED_DATASETS.items()
                   for alias in (name, *entry.get("aliases", ()),
                                 *((entry["repo_id"], entry["repo_id"].split("/")[-1]) if entry["repo_id"] else ()))}

# What a mistyped name most likely meant: token → hint (used in "did you mean" messages).
DATASET_HINTS = {
    "anli": "ANLI is facebook/anli (splits train_r1..train_r3, e.g. --split train_r3)",
    "glue": "GLUE is nyu-mll/glue with configs cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli "
            "(e.g. nyu-mll/glue:rte)",
    "rte": "RTE is nyu-mll/glue:rte",
    "sst2": "SST-2 is nyu-mll/glue:sst2 (or stanfordnlp/sst2)",
    "sst": "SST-2 is nyu-mll/glue:sst2 (or stanfordnlp/sst2)",
    "mnli": "MultiNLI is nyu-mll/multi_nli (or nyu-mll/glue:mnli)",
    "multi_nli": "MultiNLI is nyu-mll/multi_nli",
    "snli": "SNLI is stanfordnlp/snli",
    "qnli": "QNLI is nyu-mll/glue:qnli",
    "mrpc": "MRPC is nyu-mll/glue:mrpc",
    "qqp": "QQP is nyu-mll/glue:qqp",
    "cola": "CoLA is nyu-mll/glue:cola",
    "imdb": "IMDB is stanfordnlp/imdb (offline: the bundled copy 'imdb')",
    "rotten": "Rotten Tomatoes is cornell-movie-review-data/rotten_tomatoes (offline: 'rotten_tomatoes')",
    "ag_news": "AG News is fancyzhx/ag_news",
    "agnews": "AG News is fancyzhx/ag_news",
    "boolq": "BoolQ is google/boolq",
    "emotion": "Emotion is dair-ai/emotion",
    "yelp": "Yelp polarity is fancyzhx/yelp_polarity",
    "cifar10": "CIFAR-10 is uoft-cs/cifar10 (the recipe: --recipe cifar10)",
    "cifar100": "CIFAR-100 is uoft-cs/cifar100 (labels: --label-column fine_label; the recipe: --recipe cifar100)",
    "cifar": "CIFAR-10 is uoft-cs/cifar10, CIFAR-100 uoft-cs/cifar100",
    "imagenet": "ImageNet-1k is ILSVRC/imagenet-1k (gated; the recipe: --recipe imagenet-1k)",
    "mnist": "MNIST is ylecun/mnist (offline, the bundled 8x8 digits: 'digits')",
    "digits": "the bundled 8x8 digits are 'digits' (scikit-learn's load_digits)",
}


# Unambiguous other names of Hub datasets: name -> (repo_id, config, default split or None).
DATASET_ALIASES = {
    "anli": ("facebook/anli", None, "train_r3"),
    "glue/anli": ("facebook/anli", None, "train_r3"),
    "facebook/anli": ("facebook/anli", None, "train_r3"),
    "glue/rte": ("nyu-mll/glue", "rte", None),
    "rte": ("nyu-mll/glue", "rte", None),
    "glue/sst2": ("nyu-mll/glue", "sst2", None),
    "sst2": ("stanfordnlp/sst2", None, None),
    "glue/mrpc": ("nyu-mll/glue", "mrpc", None),
    "glue/qnli": ("nyu-mll/glue", "qnli", None),
    "glue/cola": ("nyu-mll/glue", "cola", None),
    "glue/qqp": ("nyu-mll/glue", "qqp", None),
    "mnli": ("nyu-mll/multi_nli", None, None),
    "multi_nli": ("nyu-mll/multi_nli", None, None),
    "snli": ("stanfordnlp/snli", None, None),
    "ag_news": ("fancyzhx/ag_news", None, None),
    "boolq": ("google/boolq", None, None),
}


def split_name_and_config(name: str, config: str | None) -> tuple[str, str | None]:
    """"repo:config" → (repo, config); an explicit ``config`` must agree."""
    if ":" in name and not Path(name).exists():
        repo, _, inline_config = name.rpartition(":")
        if config and config != inline_config:
            raise ValueError(f"'{name}' names config '{inline_config}' but --config is '{config}'; give one.")
        return repo, inline_config
    return name, config


def resolve_dataset(
    name: str,
    config: str | None = None,
    split: str | None = None,
    *,
    offline: bool = False,
    revision: str | None = None,
) -> ResolvedDataset:
    """Loads one split from a Hub id (``facebook/anli``), ``repo:config`` (``nyu-mll/glue:rte``), a
    local file or folder, or a bundled offline copy (``rotten_tomatoes``, ``imdb``: used when
    ``offline`` is asked for or the Hub is unreachable, with a log line saying so; ``digits``,
    scikit-learn's 8 × 8 images, always bundled). ``offline``: nothing connects to the network
    (``hf_d2.env.offline_mode``).

    split: default "train"; a dataset without one gets an error listing its splits.
    """
    with offline_mode(offline):
        return _resolve(name, config, split, offline, revision)


def _resolve(name: str, config: str | None, split: str | None, offline: bool, revision: str | None) -> ResolvedDataset:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("Name a dataset: a Hub id (facebook/anli), repo:config, a local path, or rotten_tomatoes.")
    if _looks_like_a_path(name) and not Path(name).expanduser().exists():
        raise FileNotFoundError(f"File not found: '{name}' (a local path); check the path, or name a Hub dataset "
                                "(user/name) or a bundled copy (rotten_tomatoes, imdb, digits).")
    if Path(name).expanduser().exists():
        dataset = load_local_dataset(name, split=split)
        return ResolvedDataset(dataset, {"kind": "local", "path": str(Path(name).expanduser().resolve()),
                                         "split": split or "train", "fingerprint": dataset._fingerprint})
    repo_id, config = split_name_and_config(name, config)
    resolved_from = None
    alias = DATASET_ALIASES.get(repo_id.lower())
    if alias is not None and not (repo_id == alias[0] and split is not None):
        target, alias_config, alias_split = alias
        if config is not None and alias_config is not None and config != alias_config:
            raise ValueError(f"'{name}' is {target}:{alias_config}, but --config is '{config}'; give one.")
        notes = []
        if repo_id != target:
            resolved_from = name
            notes.append(f"'{name}' is {target}" + (f":{alias_config}" if alias_config else ""))
        if split is None and alias_split is not None:
            split = alias_split
            notes.append(f"split {alias_split}, as in the D2 paper ({spell('split')} picks another)")
        if notes:
            logger.info("Resolved: %s.", "; ".join(notes))
        repo_id, config = target, config or alias_config
    bundled = BUNDLED_ALIASES.get(repo_id)
    entry = BUNDLED_DATASETS.get(bundled) if bundled is not None else None
    if entry is not None and not entry.get("hub", True):  # no Hub twin: always the bundled copy
        if split not in (None, "train"):
            raise ValueError(f"The bundled copy of {bundled} has only the train split; drop --split {split}.")
        logger.info("Using the bundled %s (%s rows, from the %s package).", bundled, f"{entry['rows']:,}",
                    entry["package"])
        return load_bundled_dataset(bundled)
    reason = OFFLINE_REASON if offline else hub_offline_reason() if bundled is not None else None
    if bundled is not None and reason:
        if split not in (None, "train"):
            raise ValueError(f"The bundled copy of {bundled} has only the train split; drop --split {split}.")
        logger.info("Using the bundled offline copy of %s (%s rows, from the %s package): %s.", bundled,
                    f"{entry['rows']:,}", entry["package"], why_offline(reason))
        return load_bundled_dataset(bundled)
    if offline:
        raise ValueError(
            f"'{name}' is not bundled and offline mode was asked for; bundled copies: "
            f"{', '.join(BUNDLED_DATASETS)}. Drop --offline or use a local copy."
        )
    resolved = _load_hub_dataset(name, repo_id, config, split, revision, resolved=resolved_from is not None)
    if resolved_from is not None:
        resolved.source["resolved_from"] = resolved_from
    return resolved


def _load_hub_dataset(name, repo_id, config, split, revision, *, resolved: bool = False) -> ResolvedDataset:
    """One split of a Hub dataset. ``resolved``: ``name`` is an alias of ``repo_id`` (its errors
    state what it resolved to instead of guessing what was meant)."""
    import datasets  # noqa: PLC0415

    reason = hub_offline_reason()
    target = repo_id + (f":{config}" if config else "") + (f", split {split}" if split else "")
    hint = "" if resolved else _hint_suffix(name, typed=target)
    if reason is not None:
        try:  # a dataset already in the local cache still loads offline
            with forced_offline():
                loaded = datasets.load_dataset(repo_id, config, revision=revision)
        except (ConnectionError, FileNotFoundError, ValueError):
            raise ValueError(
                f"Cannot load '{name}'" + (f" ({target})" if resolved or target != name else "")
                + f": {why_offline(reason)} and it is not in the local cache. "
                f"Bundled offline copies: {', '.join(BUNDLED_DATASETS)}; or pass a local file or folder." + hint
            ) from None
    else:
        try:
            loaded = datasets.load_dataset(repo_id, config, revision=revision)
        except datasets.exceptions.DatasetNotFoundError:
            raise ValueError(f"Dataset '{name}'" + (f" ({target})" if resolved else "") + " was not found on the Hub."
                             + hint) from None
        except ValueError as error:
            if "Config name is missing" in str(error) or "BuilderConfig" in str(error):
                configs = _available_configs(repo_id)
                raise ValueError(
                    f"'{repo_id}' needs a config: pass {repo_id}:CONFIG or --config CONFIG"
                    + (f" (configs: {', '.join(configs)})." if configs else ".")
                ) from None
            raise
    dataset = pick_split(loaded, split or ("train" if "train" in loaded else None), source=name)
    return ResolvedDataset(dataset, {
        "kind": "hub", "repo_id": repo_id, "config": config, "split": str(dataset.split or split or "train"),
        "revision": revision or _hub_revision(repo_id), "license": getattr(dataset.info, "license", None) or None,
        "fingerprint": dataset._fingerprint,
    })


def _available_configs(repo_id: str) -> list[str]:
    import datasets  # noqa: PLC0415

    try:
        return list(datasets.get_dataset_config_names(repo_id))
    except Exception:  # noqa: BLE001 - only used to improve an error message
        return []


def _hub_revision(repo_id: str) -> str | None:
    try:
        from huggingface_hub import HfApi  # noqa: PLC0415

        return HfApi().dataset_info(repo_id, timeout=10).sha
    except Exception:  # noqa: BLE001 - the revision is informative; its absence is recorded as None
        return None


def _hint_suffix(name: str, typed: str = "") -> str:
    """" Did you mean: ...?" for the known datasets ``name`` mentions, leaving out any hint that
    only repeats what was typed (``typed``: the id, config and split asked for)."""
    tokens = [token for token in re.split(r"[/:\-\s.]+", name.lower()) if token]
    asked = typed.split(",")[0].lower()  # repo or repo:config
    hints = []
    for token in tokens:
        for key, hint in DATASET_HINTS.items():
            target = hint.lower().split(" is ", 1)[-1].split()[0].strip("(),")
            repeats = target == asked and (":" in asked or "with configs" not in hint)
            if (token == key or (len(token) > 3 and token.startswith(key))) and hint not in hints and not repeats:
                hints.append(hint)
    return (" Did you mean: " + "; ".join(hints) + "?") if hints else ""


def _looks_like_a_path(name: str) -> bool:
    """"./x", "../x", "/x", "~/x", or a name with a data-file suffix: never a Hub id."""
    suffixes = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".arrow", ".txt")
    return name.startswith(("./", "../", "/", "~")) or name.lower().endswith(suffixes) or name.count("/") > 1


