"""Output folders: what each command writes, how it is read back, and how it is written safely.

Every command that writes a folder (prune, select, score, embed, evaluate, plot, push
``--export-dir``, report) goes through ``output_folder``:

- the folder is built in a staging folder beside the target and moved into place at the end
  (two renames), with the permissions the umask gives (not ``mkdtemp``'s 0700);
- a marker file (``.hf-d2-output``) lists what hf-d2 wrote; ``overwrite=True`` replaces only a
  folder carrying that marker and holding nothing else, and never a folder that is, contains
  or lies inside the input dataset or the stage cache;
- a lock beside the target makes a second concurrent writer fail at once;
- a failed or interrupted run leaves nothing behind: not the staging folder, not the lock, not
  parent folders it created.

Layouts (``PRUNE_FILES`` …) are the one place that names the files of a folder.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from hf_d2._io import current_umask
from hf_d2.version import __version__

MARKER_FILE = ".hf-d2-output"
LOCK_SUFFIX = ".hf-d2-lock"
STAGING_INFIX = ".hf-d2-staging-"
OLD_INFIX = ".hf-d2-replaced-"

# The files of each folder kind (relative paths; a trailing "/" is a folder).
RECORD_FILE = "selection.json"
SCORES_FILE = "scores.parquet"
PARQUET_DIR = "parquet"
PARQUET_FILE = "parquet/train.parquet"
EXPORT_RECORD_FILE = "hf_d2/selection.json"
CARD_FILE = "README.md"
REPORT_FILE = "report.html"
EVALUATE_CONFIG = "config.json"
EVALUATE_CELLS = "cells"
EVALUATE_RESULTS = "results.json"
EVALUATE_TABLE = "results.md"


class OutputFolderError(FileExistsError):
    """An output folder cannot be written: it holds other files, overlaps the input or the
    cache, or another run is writing it. The message says what to do."""


@dataclass(frozen=True)
class Marker:
    """What the marker file says: the kind of folder, the hf-d2 version and the files written."""

    kind: str
    files: tuple[str, ...]
    hf_d2_version: str = ""

    @classmethod
    def read(cls, folder: Path) -> Marker | None:
        path = folder / MARKER_FILE
        if not path.is_file():
            return None
        try:
            payload = json.loads(path.read_text())
            return cls(kind=str(payload["kind"]), files=tuple(payload.get("files", ())),
                       hf_d2_version=str(payload.get("hf_d2_version", "")))
        except (ValueError, KeyError, TypeError):
            return None

    def write(self, folder: Path) -> None:
        payload = {"kind": self.kind, "files": sorted(self.files), "hf_d2_version": self.hf_d2_version,
                   "note": "written by hf-d2; --overwrite may replace this folder"}
        (folder / MARKER_FILE).write_text(json.dumps(payload, indent=2) + "\n")


def folder_files(folder: Path) -> list[str]:
    """Relative POSIX paths of every file under ``folder`` (the marker excluded)."""
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*")
                  if path.is_file() and path.name != MARKER_FILE)


def is_hf_d2_folder(folder: str | os.PathLike, kind: str | None = None) -> bool:
    marker = Marker.read(Path(folder))
    return marker is not None and (kind is None or marker.kind == kind)


def check_target(target: str | os.PathLike, *, overwrite: bool, protect: Iterable[str | os.PathLike] = (),
                 label: str = "--output", overwrite_hint: str = "--overwrite") -> Path:
    """Refuses a target that must not be written (see the module docstring); deletes nothing.

    protect: paths that must survive (the input dataset, the stage cache): the target may not
    be, contain or lie inside any of them.
    """
    path = Path(target).expanduser()
    resolved = path.resolve()
    for kept in protect:
        if kept is None:
            continue
        kept_path = Path(kept).expanduser().resolve()
        if resolved == kept_path or kept_path.is_relative_to(resolved) or resolved.is_relative_to(kept_path):
            raise OutputFolderError(
                f"{label} '{target}' overlaps '{kept}' (the input dataset or the stage cache), which hf-d2 never "
                "writes into or replaces; choose a folder outside it.")
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{label} '{target}' is a file; pass a folder path.")
    if path.is_dir() and any(path.iterdir()):
        marker = Marker.read(path)
        extra = sorted(set(folder_files(path)) - set(marker.files)) if marker is not None else []
        if marker is None:  # never suggest the overwrite that would then be refused
            raise OutputFolderError(f"{label} '{target}' exists and holds files hf-d2 did not write (no {MARKER_FILE}); "
                                    f"{overwrite_hint} never replaces such a folder: choose a new folder "
                                    "(nothing was deleted).")
        if extra:
            raise OutputFolderError(f"{label} '{target}' holds files hf-d2 did not write ({', '.join(extra[:3])}"
                                    f"{', ...' if len(extra) > 3 else ''}), so {overwrite_hint} will not replace it; "
                                    "move them, or choose a new folder (nothing was deleted).")
        if not overwrite:
            raise OutputFolderError(f"{label} '{target}' holds an earlier hf-d2 output; pass {overwrite_hint} to replace "
                                    "it, or choose a new folder.")
    return path


class OutputFolder:
    """A folder being written: ``path`` (where it will be), ``staging`` (where to write now).

    Use ``output_folder(...)``; on a clean exit the staging folder replaces ``path``.
    """

    def __init__(self, path: Path, staging: Path, kind: str) -> None:
        self.path = path
        self.staging = staging
        self.kind = kind


@contextlib.contextmanager
def output_folder(target: str | os.PathLike, *, kind: str, overwrite: bool = False,
                  protect: Iterable[str | os.PathLike] = (), label: str = "--output",
                  overwrite_hint: str = "--overwrite", enabled: bool = True) -> Iterator[OutputFolder | None]:
    """Checks ``target``, locks it, yields an ``OutputFolder`` whose ``staging`` folder the
    caller fills, and moves it into place when the block ends without an exception. On an
    exception (Ctrl-C included) the staging folder, the lock and any parent folders created
    here are removed and the old target, if any, is untouched. ``enabled=False`` (the other
    processes of a distributed run) yields None and writes nothing."""
    if not enabled:
        yield None
        return
    path = check_target(target, overwrite=overwrite, protect=protect, label=label, overwrite_hint=overwrite_hint)
    created = _missing_parents(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = acquire_lock(path, label)
    staging = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}{STAGING_INFIX}", dir=path.parent))
        os.chmod(staging, 0o777 & ~current_umask())
        folder = OutputFolder(path, staging, kind)
        yield folder
        check_target(path, overwrite=overwrite, protect=protect, label=label, overwrite_hint=overwrite_hint)
        _commit(staging, path, kind)
        staging = None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        release_lock(lock)
        if staging is not None or not path.exists():
            for folder in created:
                with contextlib.suppress(OSError):
                    folder.rmdir()


def add_files(folder: Path, kind: str, written: Iterable[str]) -> None:
    """Records files that a command added to an existing hf-d2 folder (``hf-d2 plot`` into a
    prune folder), so that a later ``--overwrite`` still recognises the folder as ours."""
    marker = Marker.read(folder)
    if marker is None:
        return
    Marker(marker.kind, tuple(sorted(set(marker.files) | set(written))), marker.hf_d2_version).write(folder)


def _commit(staging: Path, path: Path, kind: str) -> None:
    Marker(kind, tuple(folder_files(staging)), __version__).write(staging)
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}{OLD_INFIX}{os.getpid()}-{time.monotonic_ns()}")
        os.rename(path, old)
    os.rename(staging, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _missing_parents(path: Path) -> list[Path]:
    """The parent folders of ``path`` that do not exist yet, deepest first."""
    missing = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    return missing


def acquire_lock(path: Path, label: str):
    import fcntl  # noqa: PLC0415 - POSIX only; imported where used

    lock_path = path.with_name(f".{path.name}{LOCK_SUFFIX}")
    handle = open(lock_path, "a+")  # noqa: SIM115 - held open for the whole run
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise OutputFolderError(f"Another hf-d2 run{f' (pid {holder})' if holder else ''} is writing {label} "
                                    f"'{path}'; wait for it to finish, or choose another folder.") from None
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle, lock_path


def release_lock(lock) -> None:
    handle, lock_path = lock
    with contextlib.suppress(OSError):
        lock_path.unlink()
    handle.close()


# ------------------------------------------------------------------ prune / select folders

def write_prune_folder(folder: Path, dataset: Any, record: Any, scores: Any) -> None:
    """The layout of an ``hf-d2 prune`` / ``hf-d2 select`` output folder: the coreset
    (``save_to_disk`` at the top, so ``datasets.load_from_disk(folder)`` works, and
    ``parquet/train.parquet``), ``scores.parquet`` (one row per row selected from) and
    ``selection.json`` (the record)."""
    dataset.save_to_disk(str(folder))
    (folder / PARQUET_DIR).mkdir(exist_ok=True)
    dataset.to_parquet(str(folder / PARQUET_FILE))
    if scores is not None:
        scores.to_parquet(str(folder / SCORES_FILE))
    (folder / RECORD_FILE).write_text(record.to_json())


def read_prune_folder(folder: str | os.PathLike) -> tuple[Any, Any, Any]:
    """(coreset ``Dataset``, ``SelectionRecord``, scores ``Dataset`` or None) of a prune or
    select output folder; a clear error for anything else."""
    import datasets  # noqa: PLC0415 - heavy

    from hf_d2.record import SelectionRecord  # noqa: PLC0415 - record imports this module's neighbours

    folder = Path(folder)
    if not (folder / RECORD_FILE).is_file():
        raise FileNotFoundError(f"No {RECORD_FILE} in '{folder}': pass the --output folder of hf-d2 prune or hf-d2 "
                                "select.")
    if not ((folder / "dataset_info.json").exists() or (folder / "dataset_dict.json").exists()):
        raise FileNotFoundError(f"'{folder}' holds no save_to_disk dataset: pass the --output folder of hf-d2 prune "
                                "or hf-d2 select.")
    record = SelectionRecord.from_json((folder / RECORD_FILE).read_text(), str(folder / RECORD_FILE))
    scores = None
    if (folder / SCORES_FILE).is_file():
        import pyarrow.parquet as pq  # noqa: PLC0415
        from datasets.table import InMemoryTable  # noqa: PLC0415

        scores = datasets.Dataset(InMemoryTable(pq.read_table(folder / SCORES_FILE)))
    return datasets.load_from_disk(str(folder)), record, scores
