"""``hf-d2 report``: one self-contained, interactive report.html for a prune, select or evaluate
output folder (``hf_d2.report``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hf_d2.folders import (
    EVALUATE_RESULTS,
    MARKER_FILE,
    RECORD_FILE,
    REPORT_FILE,
    Marker,
    acquire_lock,
    add_files,
    release_lock,
)

logger = logging.getLogger("hf_d2")


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report", help="write report.html: an interactive, offline page about a prune, select or evaluate run",
        description="Write one self-contained HTML page (plotly.js embedded; it loads nothing from the network) about "
        "FOLDER. For an hf-d2 prune / select output: the data map and the embedding projection with kept and pruned "
        "rows (hover for each row's text), per-label counts, the hardest kept and easiest pruned rows, the rows D2 "
        "pruned because a near neighbour was kept, and every parameter. For an hf-d2 evaluate output: accuracy vs "
        "pruning rate with 95% intervals and the paired difference to random. The pruned rows' texts come from the "
        "source named in selection.json (or --source). An existing report is replaced only when hf-d2 wrote it. "
        "Needs plotly: pip install 'hf-d2[report]'.")
    parser.add_argument("folder", help="an hf-d2 prune, select or evaluate output folder")
    parser.add_argument("--output", help=f"the HTML file to write (default: FOLDER/{REPORT_FILE})")
    parser.add_argument("--embeddings", help="a .npy file of the run's (n, d) embeddings, for the nearest-neighbour "
                        "list (default: the stage cache)")
    parser.add_argument("--cache-dir", help="the stage cache the run used (default $HF_D2_CACHE or ~/.cache/hf_d2)")
    parser.add_argument("--source", help="the source dataset (path) when the one named in selection.json cannot be "
                        "loaded")
    parser.set_defaults(func=run)
    return parser


def report_target(folder: Path, output: str | None) -> Path:
    """Where to write, checked: an existing file is replaced only when it is a report hf-d2
    wrote; a folder is refused."""
    from hf_d2.report import is_report  # noqa: PLC0415 - the report imports numpy and plots

    target = Path(output).expanduser() if output else folder / REPORT_FILE
    if target.is_dir():
        raise ValueError(f"--output '{target}' is a folder; pass a file path such as {target / REPORT_FILE}.")
    if target.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--output '{target}' must end in .html; e.g. {target.with_suffix('.html')}.")
    if target.exists() and not is_report(target):
        raise FileExistsError(f"'{target}' exists and was not written by hf-d2 report, so it is not replaced; move it "
                              "or pass another --output (nothing was changed).")
    return target


def run(args: argparse.Namespace) -> int:
    from hf_d2.report import require_plotly, write_report  # noqa: PLC0415 - plotly is optional

    require_plotly()
    folder = Path(args.folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"'{args.folder}' is not a folder; pass the --output folder of hf-d2 prune, select or "
                                "evaluate.")
    if not ((folder / RECORD_FILE).is_file() or (folder / EVALUATE_RESULTS).is_file()):
        raise ValueError(f"'{args.folder}' holds neither {RECORD_FILE} (hf-d2 prune / select) nor {EVALUATE_RESULTS} "
                         "(hf-d2 evaluate); pass one of those output folders.")
    target = report_target(folder, args.output)
    home = target.resolve().parent
    marker = Marker.read(home) if (home / MARKER_FILE).is_file() else None
    # Into an hf-d2 folder: under its lock (not while a run rewrites it), then listed in its marker
    # so that a later --overwrite still recognises the folder as hf-d2's.
    lock = acquire_lock(home, "FOLDER") if marker is not None else None
    try:
        written = write_report(folder, target, embeddings=args.embeddings, cache_dir=args.cache_dir,
                               source=args.source)
        if marker is not None:
            add_files(home, marker.kind, [written.name])
    finally:
        if lock is not None:
            release_lock(lock)
    if not args.quiet:
        print(f"{written} ({written.stat().st_size / 1e6:.2f} MB)")
    return 0


__all__ = ["register", "report_target", "run"]
