"""Reading images lazily. An image column is a ``datasets.Image`` feature or a column of image
file paths (``hf_d2.data.columns.infer_columns`` finds it). ``ImageReader(dataset, column)``
decodes only the rows asked for, in batches, straight from Arrow (never every image at once), and
names the row when one cannot be read. ``check_images`` is the run plan's check before any model
loads: no missing image, no missing file, and (up to ``IMAGE_VERIFY_MAX_ROWS`` rows) every
image's header readable by PIL.
"""

from __future__ import annotations

import io
import logging
import os
import re
from typing import Any, Sequence

import numpy as np

from hf_d2._validation import InvalidParameterError

logger = logging.getLogger("hf_d2")

IMAGE_VERIFY_MAX_ROWS = 200_000  # the plan opens every image header up to this many rows (else only checks presence)
CHECK_BATCH_ROWS = 2048


class UnreadableImageError(ValueError):
    """One row's image cannot be read; the message names the row, the column and the fix."""


def describe_image_problem(value: Any, *, decode: bool) -> str | None:
    """Why ``value`` (a ``datasets.Image`` cell, bytes or a path) is not a readable image, or
    None when it is. ``decode=False`` opens only the header (fast); True decodes the pixels."""
    try:
        image = open_image(value)
        if decode:
            image.load()
        else:
            image.close()
    except _Missing as problem:
        return str(problem)
    except Exception as error:  # noqa: BLE001 - PIL raises OSError, ValueError, SyntaxError, DecompressionBombError...
        return _reason(error)
    return None


def _reason(error: Exception) -> str:
    """One line: the error's type and message, without PIL's ``<_io.BytesIO object at 0x...>``."""
    text = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", str(error))
    return f"{type(error).__name__}: {' '.join(text.split())}"


class _Missing(Exception):
    pass


def open_image(value: Any):
    """A PIL image, lazily opened (header read, pixels not yet decoded), from a ``datasets.Image``
    cell ({"bytes", "path"}), raw bytes or a file path. Raises on a missing or unreadable one."""
    from PIL import Image  # noqa: PLC0415 - Pillow comes with datasets' Image feature

    if value is None:
        raise _Missing("no image (the value is missing)")
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data, path = bytes(value), None
    elif isinstance(value, str):
        data, path = None, value
    else:
        raise _Missing(f"a {type(value).__name__}, not an image or an image path")
    if data is None:
        if not path:
            raise _Missing("no image (neither bytes nor a path)")
        if path.startswith(("http://", "https://")):
            raise _Missing(f"'{path}' is a URL; download the images first (e.g. with img2dataset) and give local paths")
        if not os.path.exists(path):
            raise _Missing(f"file not found: '{path}' (relative paths are read from the current directory)")
        return Image.open(path)
    return Image.open(io.BytesIO(data))


class ImageReader:
    """Reads the images of ``column`` at given row positions of ``dataset``, decoded and converted
    to ``mode`` (None = as stored), straight from Arrow: nothing else is decoded or held.

    ``reader(positions)`` -> list of PIL images, in the order of ``positions``. A row that cannot
    be read raises ``UnreadableImageError`` naming the row (its position in ``dataset``)."""

    def __init__(self, dataset: Any, column: str, mode: str | None = None) -> None:
        self.rows = dataset.select_columns([column]).with_format("arrow")
        self.column = column
        self.mode = mode

    def __len__(self) -> int:
        return len(self.rows)

    def values(self, positions: Sequence[int]) -> list[Any]:
        positions = [int(p) for p in positions]
        if positions and positions == list(range(positions[0], positions[0] + len(positions))):
            table = self.rows[positions[0]:positions[0] + len(positions)]
        else:
            table = self.rows[positions]
        return table.column(self.column).to_pylist()

    def __call__(self, positions: Sequence[int]) -> list[Any]:
        images = []
        for position, value in zip(positions, self.values(positions)):
            try:
                image = open_image(value)
                image.load()
            except Exception as error:  # noqa: BLE001 - one message for every way an image fails
                reason = str(error) if isinstance(error, _Missing) else _reason(error)
                raise UnreadableImageError(
                    f"Row {int(position)} of column '{self.column}': cannot read the image ({' '.join(reason.split())}); "
                    "fix or remove that row.") from None
            images.append(image.convert(self.mode) if self.mode and image.mode != self.mode else image)
        return images


def check_images(dataset: Any, column: str, *, drop_empty: bool, row_ids: np.ndarray | None = None,
                 verify_max_rows: int | None = None) -> np.ndarray:
    """The run plan's image check: (m,) int64 positions of the rows to keep.

    Every row must have an image (not None, an existing file for a path); up to
    ``verify_max_rows`` rows (default ``IMAGE_VERIFY_MAX_ROWS``) each image's header is also
    opened, so an unreadable file fails here, before any model loads (beyond that, at first read,
    naming the row). Without ``drop_empty`` a bad row is an error naming the column, the first
    rows (source row ids when ``row_ids`` is given) and the fix; with it those rows are dropped."""
    limit = IMAGE_VERIFY_MAX_ROWS if verify_max_rows is None else verify_max_rows
    verify = dataset.num_rows <= limit
    reader = ImageReader(dataset, column)
    bad: list[tuple[int, str]] = []
    for start in range(0, dataset.num_rows, CHECK_BATCH_ROWS):
        positions = range(start, min(start + CHECK_BATCH_ROWS, dataset.num_rows))
        for position, value in zip(positions, reader.values(positions)):
            problem = describe_image_problem(value, decode=False) if verify else _presence_problem(value)
            if problem is not None:
                bad.append((position, problem))
    keep = np.ones(dataset.num_rows, dtype=bool)
    if bad and not drop_empty:
        ids = [int(row_ids[p]) if row_ids is not None else p for p, _ in bad]
        preview = ", ".join(str(i) for i in ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise InvalidParameterError(
            "drop_empty", f"Column '{column}' has {len(bad)} missing or unreadable image(s) (rows {preview}; row "
            f"{ids[0]}: {bad[0][1]}); fix or remove them, or pass {{on}} to drop those rows.")
    if bad:
        keep[[p for p, _ in bad]] = False
        logger.info("Dropped %d row(s) with a missing or unreadable image in column %s (--drop-empty).", len(bad), column)
    return np.flatnonzero(keep).astype(np.int64)


def _presence_problem(value: Any) -> str | None:
    """Why ``value`` has no image (None, no bytes and no path, a URL, a missing file), without
    opening it; None when an image is there to read."""
    if value is None:
        return "no image (the value is missing)"
    if isinstance(value, dict):
        if value.get("bytes") is not None:
            return None
        path = value.get("path")
        if not path:
            return "no image (neither bytes nor a path)"
    elif isinstance(value, str):
        path = value
    else:
        return None
    if path.startswith(("http://", "https://")):
        return f"'{path}' is a URL; download the images first and give local paths"
    return None if os.path.exists(path) else f"file not found: '{path}'"
