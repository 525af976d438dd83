"""JSON values and files: numpy-aware conversion, and atomic writes (a killed run never leaves half a
file). Output folders live in ``hf_d2.folders``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np


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
