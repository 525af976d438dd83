"""The report's entry points: ``write_report`` (the file, atomically) and ``report_html`` (the
page as a string), for a prune / select folder or an evaluate folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from hf_d2._io import write_atomically
from hf_d2.folders import EVALUATE_RESULTS, RECORD_FILE
from hf_d2.report.evaluate_page import evaluate_page
from hf_d2.report.html import require_plotly
from hf_d2.report.prune_page import MAX_POINTS, prune_page

logger = logging.getLogger("hf_d2")


def write_report(folder: str | os.PathLike, path: str | os.PathLike, *, plan: Any = None,
                 embeddings: str | os.PathLike | np.ndarray | None = None, cache_dir: str | os.PathLike | None = None,
                 source: Any = None, max_points: int = MAX_POINTS) -> Path:
    """Writes the report of ``folder`` to ``path`` (atomically: a killed run leaves no partial
    file) and returns ``path``. Writes nothing else.

    folder: an ``hf-d2 prune`` / ``hf-d2 select`` output folder (reads selection.json,
        scores.parquet and, without ``plan`` or a loadable source, the coreset) or an ``hf-d2
        evaluate`` output folder (reads results.json).
    plan: the ``RunPlan`` of the run that is writing ``folder`` (``hf-d2 prune --report``): its
        rows give every row's text and label, and its cache dir and given embeddings are used.
    embeddings: a .npy file (or array) of the run's (n, d) embeddings, row i = scores row i; by
        default they are read from the stage cache (``record.embeddings.cache_key``).
    cache_dir: the stage cache to look in (default: the plan's, else $HF_D2_CACHE / ~/.cache/hf_d2).
    source: the source rows (a ``Dataset`` or a path) when the record's source cannot be loaded.
    max_points: most points per chart (a larger selection is drawn as a seeded sample).
    """
    page = report_html(folder, plan=plan, embeddings=embeddings, cache_dir=cache_dir, source=source,
                       max_points=max_points)
    target = Path(path).expanduser()
    write_atomically(target, lambda handle: handle.write(page.encode("utf-8")))
    logger.debug("Wrote %s (%.2f MB)", target, target.stat().st_size / 1e6)  # callers say where it ends up
    return target


def report_html(folder: str | os.PathLike, *, plan: Any = None, embeddings: Any = None, cache_dir: Any = None,
                source: Any = None, max_points: int = MAX_POINTS) -> str:
    """The report page of ``folder`` as a string (see ``write_report``); reads the folder only."""
    require_plotly()
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"'{folder}' is not a folder; pass the --output folder of hf-d2 prune, select or "
                                "evaluate.")
    if (folder / EVALUATE_RESULTS).is_file():
        return evaluate_page(folder)
    if (folder / RECORD_FILE).is_file():
        return prune_page(folder, plan=plan, embeddings=embeddings, cache_dir=cache_dir, source=source,
                          max_points=max_points)
    raise ValueError(f"'{folder}' holds neither {RECORD_FILE} (hf-d2 prune / select) nor {EVALUATE_RESULTS} "
                     "(hf-d2 evaluate); pass one of those output folders.")
