"""``hf-d2 plot``: accuracy vs pruning rate (an evaluate folder) or the data map and embedding
projection (a prune folder), as PNG and SVG."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger("hf_d2")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="plot an evaluate run (accuracy vs rate) or a prune run (data map, embedding projection)",
        description="FOLDER is an hf-d2 evaluate --output (draws accuracy.png/.svg, and macro_f1.png/.svg) or an "
        "hf-d2 prune --output (draws data_map.* from the difficulty run's confidence and variability, and "
        "projection.*, a PCA of the embeddings, kept examples coloured). The prune run's difficulty scores and "
        "embeddings are read from the stage cache (--cache-dir, the one prune used) or given with --scores / "
        "--embeddings. Needs matplotlib: pip install 'hf-d2[plots]'.",
    )
    parser.add_argument("folder", help="an hf-d2 evaluate or hf-d2 prune output folder")
    parser.add_argument("--output", help="folder for the plots (default: FOLDER itself)")
    parser.add_argument("--cache-dir", help="stage cache the prune run used (default $HF_D2_CACHE or ~/.cache/hf_d2)")
    parser.add_argument("--scores", help="a difficulty scores.parquet with confidence and variability columns")
    parser.add_argument("--embeddings", help="a .npy file of the prune run's embeddings (n, d)")
    parser.add_argument("--format", dest="formats", nargs="+", default=["png", "svg"], choices=["png", "svg", "pdf"],
                        help="file formats (default: png svg)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hf_d2.plots import plot_accuracy, plot_prune_output  # noqa: PLC0415

    folder = Path(args.folder)
    if not folder.is_dir():
        raise ValueError(f"'{args.folder}' is not a folder; pass an hf-d2 evaluate or hf-d2 prune --output folder.")
    output = Path(args.output) if args.output else folder
    if (folder / "results.json").exists():
        written = [plot_accuracy(folder, output / f"{metric}.{suffix}", metric=metric)
                   for metric in ("accuracy", "macro_f1") for suffix in args.formats]
    elif (folder / "selection.json").exists():
        written = plot_prune_output(folder, output, cache_dir=args.cache_dir, scores_path=args.scores,
                                    embeddings_path=args.embeddings, suffixes=args.formats)
    else:
        raise ValueError(f"'{args.folder}' holds neither results.json (hf-d2 evaluate) nor selection.json "
                         "(hf-d2 prune); pass one of those output folders.")
    for path in written:
        print(path)
    return 0
