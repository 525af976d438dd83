"""Output folders that never clobber user files, and JSON records (shared by the stages and the CLI)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np


def check_output_dir(output: str | Path, overwrite: bool, label: str = "--output",
                     overwrite_hint: str = "--overwrite") -> Path:
    """Refuses an existing non-empty folder (or a file) unless ``overwrite``; nothing is deleted here.
    ``label`` names the folder in the message, ``overwrite_hint`` how to allow replacing it."""
    path = Path(output).expanduser()
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{label} '{output}' is a file; pass a folder path.")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{label} '{output}' exists and is not empty; pass {overwrite_hint} to replace it, or choose a new folder."
        )
    return path


def write_output_dir(path: Path, write: Callable[[Path], None]) -> None:
    """Writes into a temporary sibling folder, then swaps it in, so a failed run leaves the old
    output (if any) untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        write(staging)
        if path.exists():
            shutil.rmtree(path)
        staging.rename(path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def to_jsonable(value: Any) -> Any:
    """Numpy arrays and scalars and nested containers as plain JSON values (keys as strings)."""
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value


def write_json(path: Path, payload: Any) -> None:
    """Writes ``payload`` (numpy values converted) atomically: a killed run never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(json.dumps(to_jsonable(payload), indent=2, sort_keys=True) + "\n")
    os.replace(staging, path)
