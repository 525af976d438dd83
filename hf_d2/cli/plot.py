"""``hf-d2 plot``: accuracy vs pruning rate (an evaluate folder) or the data map and embedding
projection (a prune folder), as PNG and SVG."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hf_d2.folders import EVALUATE_RESULTS, RECORD_FILE, add_files

logger = logging.getLogger("hf_d2")


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "plot", help="plot an evaluate run (accuracy vs rate) or a prune run (data map, embedding projection)",
        description="FOLDER is an hf-d2 evaluate --output (draws accuracy.* and macro_f1.*) or an hf-d2 prune --output "
        "(draws data_map.* from the scores table's confidence and variability, and projection.*, the PCA of the "
        "embeddings stored there, or of --embeddings; kept examples coloured). Needs "
        "matplotlib: pip install 'hf-d2[plots]'.")
    parser.add_argument("folder", help="an hf-d2 evaluate or hf-d2 prune output folder")
    parser.add_argument("--output", help="folder for the plots (default: FOLDER itself)")
    parser.add_argument("--embeddings", help="a .npy file of the prune run's embeddings (n, d)")
    parser.add_argument("--format", dest="formats", nargs="+", default=["png", "svg"], choices=["png", "svg", "pdf"],
                        help="file formats (default: png svg)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from hf_d2.plots import plot_accuracy, plot_prune_output  # noqa: PLC0415 - matplotlib is optional

    folder = Path(args.folder)
    if not folder.is_dir():
        raise ValueError(f"'{args.folder}' is not a folder; pass an hf-d2 evaluate or hf-d2 prune --output folder.")
    output = Path(args.output) if args.output else folder
    if (folder / EVALUATE_RESULTS).exists():
        written = [plot_accuracy(folder, output / f"{metric}.{suffix}", metric=metric)
                   for metric in ("accuracy", "macro_f1") for suffix in args.formats]
    elif (folder / RECORD_FILE).exists():
        written = plot_prune_output(folder, output, embeddings_path=args.embeddings, suffixes=args.formats)
    else:
        raise ValueError(f"'{args.folder}' holds neither {EVALUATE_RESULTS} (hf-d2 evaluate) nor {RECORD_FILE} "
                         "(hf-d2 prune); pass one of those output folders.")
    if output == folder:
        add_files(folder, "", [Path(path).relative_to(folder).as_posix() for path in written])
    for path in written:
        if not args.quiet:
            print(path)
    return 0
