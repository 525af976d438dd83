"""JSON values and files: numpy-aware conversion, and atomic writes with the umask's permissions (a
killed run never leaves half a file). Output folders live in ``hf_d2.folders``, which builds on this."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

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


def current_umask() -> int:
    """The process's umask (read without changing it)."""
    current = os.umask(0)
    os.umask(current)
    return current


def make_readable(path: Path) -> None:
    """Gives a file made by ``tempfile`` (mode 0600) the umask's permissions instead."""
    os.chmod(path, 0o666 & ~current_umask())


@contextmanager
def staged_file(target: Path, suffix: str = "") -> Iterator[Path]:
    """An empty temporary file beside ``target`` to write; moved onto ``target`` (atomically, with
    the umask's permissions) when the block finishes, deleted if it raises, so a killed run never
    leaves a partial file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, staging = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(descriptor)
    try:
        yield Path(staging)
        make_readable(Path(staging))
        os.replace(staging, target)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def write_atomically(target: Path, write) -> None:
    """Runs ``write(handle)`` on a temporary file beside ``target`` and moves it into place
    (``staged_file``)."""
    with staged_file(target) as staging, open(staging, "wb") as handle:
        write(handle)


def write_json(path: Path, payload: Any) -> None:
    """Writes ``payload`` (numpy values converted) atomically: a killed run never leaves half a file."""
    text = json.dumps(to_jsonable(payload), indent=2, sort_keys=True) + "\n"
    write_atomically(Path(path), lambda handle: handle.write(text.encode()))
