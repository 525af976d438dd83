"""The evaluation folder: resumable, so written in place (not staged), but with the same
guarantees as every hf-d2 output folder (``hf_d2.folders``): a marker, a lock, no other files
replaced, and a run that fails before its first cell leaves nothing behind."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any, Iterator

from hf_d2._io import to_jsonable, write_json
from hf_d2.folders import (
    EVALUATE_CELLS,
    EVALUATE_CONFIG,
    Marker,
    OutputFolderError,
    acquire_lock,
    folder_files,
    release_lock,
)
from hf_d2.version import __version__

KIND = "evaluate"


@contextlib.contextmanager
def evaluation_folder(output_dir: str | Path, identity: dict[str, Any], *, overwrite: bool) -> Iterator[Path]:
    """Yields the folder to write cells into. An existing folder is reused only when hf-d2
    made it with the same ``identity``; ``overwrite`` discards its cells (nothing else)."""
    output = Path(output_dir).expanduser()
    if output.exists() and not output.is_dir():
        raise OutputFolderError(f"--output '{output_dir}' is a file; pass a folder path.")
    created = not output.exists() or not any(output.iterdir())
    if not created:
        marker = Marker.read(output)
        if marker is None or marker.kind != KIND:
            raise OutputFolderError(f"--output '{output_dir}' exists and is not an hf-d2 evaluation folder; choose a "
                                    "new folder (nothing was deleted).")
        extra = sorted(set(folder_files(output)) - set(marker.files) - _ours(output))
        if extra:
            raise OutputFolderError(f"--output '{output_dir}' holds files hf-d2 did not write ({', '.join(extra[:3])}); "
                                    "move them, or choose a new folder (nothing was deleted).")
        previous = json.loads((output / EVALUATE_CONFIG).read_text()) if (output / EVALUATE_CONFIG).exists() else {}
        changed = sorted(key for key, value in to_jsonable(identity).items()
                         if key != "hf_d2_version" and previous.get(key) != value)
        if changed and not overwrite:
            raise OutputFolderError(f"--output '{output_dir}' holds cells made with other settings ({', '.join(changed)}); "
                                    "pass --overwrite to start again, or choose a new folder.")
    missing_parents = [p for p in output.parents if not p.exists()]
    output.mkdir(parents=True, exist_ok=True)
    lock = acquire_lock(output, "--output")
    try:
        if not created and overwrite:
            shutil.rmtree(output / EVALUATE_CELLS, ignore_errors=True)
        (output / EVALUATE_CELLS).mkdir(exist_ok=True)
        write_json(output / EVALUATE_CONFIG, identity)
        Marker(KIND, tuple(folder_files(output)), __version__).write(output)
        yield output
    except BaseException:
        if created and not any((output / EVALUATE_CELLS).glob("*.json")):
            shutil.rmtree(output, ignore_errors=True)
            for parent in missing_parents:
                with contextlib.suppress(OSError):
                    parent.rmdir()
        raise
    finally:
        if output.exists():
            Marker(KIND, tuple(folder_files(output)), __version__).write(output)
        release_lock(lock)


def _ours(output: Path) -> set[str]:
    """Files a run writes as it goes (cells, results, plots), whatever the marker listed."""
    return {path for path in folder_files(output)
            if path.startswith(f"{EVALUATE_CELLS}/") or path.split("/")[0] in (
                EVALUATE_CONFIG, "results.json", "results.md", "accuracy.png", "accuracy.svg", "macro_f1.png",
                "macro_f1.svg")}
