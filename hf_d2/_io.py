"""Output folders that never clobber user files, and JSON records (shared by the stages and the CLI)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable


def check_output_dir(output: str | Path, overwrite: bool) -> Path:
    """Refuses an existing non-empty folder (or a file) unless ``overwrite``; nothing is deleted here."""
    path = Path(output).expanduser()
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"--output '{output}' is a file; pass a folder path.")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(
            f"--output '{output}' exists and is not empty; pass --overwrite to replace it, or choose a new folder."
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


def write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
