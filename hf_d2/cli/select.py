"""``hf-d2 select``: prune a local dataset whose difficulty and embeddings are columns, or rebuild a
coreset (at its rate or another one) from a selection record with ``--from-selection``."""

from __future__ import annotations

import argparse
import logging
import time

from hf_d2.cli._common import (
    D2_OPTIONS,
    add_d2_options,
    check_output_dir,
    given_d2_options,
    write_json,
    write_output_dir,
)

logger = logging.getLogger("hf_d2")


def register(subparsers) -> None:
    from hf_d2.selection import available_methods  # noqa: PLC0415

    methods = available_methods()
    method_help = "; ".join(f"{name}: {info.description}" for name, info in methods.items()).replace("%", "%%")
    parser = subparsers.add_parser(
        "select",
        help="prune a local dataset that already has difficulty and embedding columns",
        description="Select a coreset from a local dataset (save_to_disk folder, parquet, json, csv) "
        "whose difficulty scores and embeddings are columns; writes the pruned dataset (save_to_disk), "
        "selection.json and scores.parquet to --output. With --from-selection RECORD it rebuilds a coreset "
        "from an earlier run's record and scores instead (the recorded rate, or another --rate), without "
        "retraining; PATH then optionally says where the source rows are (default: the source in the record).",
    )
    parser.add_argument("path", nargs="?",
                        help="save_to_disk folder, or a .parquet/.json/.jsonl/.csv file or folder (with "
                        "--from-selection: the source rows, default the record's source)")
    parser.add_argument("--rate", type=float, help="fraction of rows to REMOVE, in [0, 1) (with --from-selection: "
                        "default the recorded rate)")
    parser.add_argument("--output", required=True, help="folder for the pruned dataset, selection.json and "
                        "scores.parquet")
    parser.add_argument("--from-selection", metavar="RECORD",
                        help="rebuild from a selection record: a selection.json (its scores.parquet beside it), an "
                        "hf-d2 output or export folder, or a Hub dataset repo pushed by hf-d2 push")
    parser.add_argument("--method", choices=list(methods), metavar="METHOD",
                        help=f"selection method (default d2). {method_help}")
    parser.add_argument("--score-column", help="difficulty per row (higher = harder unless --score-direction lower)")
    parser.add_argument("--score-direction", choices=["higher", "lower"], default="higher",
                        help="which end of --score-column is hard (AUM, confidence: lower)")
    parser.add_argument("--embedding-column", help="one equal-length vector per row")
    parser.add_argument("--label-column", help="class labels (for --partition label and per-label counts; "
                        "default: 'label' if present)")
    parser.add_argument("--split", help="split of a DatasetDict folder")
    add_d2_options(parser)
    parser.add_argument("--directed", action="store_true", help="directed kNN graph instead of the union")
    parser.add_argument("--clip-negative", action="store_true",
                        help="floor a pick's score at 0 before it suppresses its neighbours")
    parser.add_argument("--partition", choices=["none", "label", "strata"], help="select inside groups")
    parser.add_argument("--budget-allocation", choices=["proportional", "uniform"],
                        help="split of the budget over groups (uniform = smallest-first, CCS)")
    parser.add_argument("--num-strata", type=int, help="strata for --partition strata (default 50)")
    parser.add_argument("--prefilter", type=float, help="fraction of the hardest rows dropped first (default 0)")
    parser.add_argument("--prefilter-column", help="score the pre-filter drops by (default: the difficulty)")
    parser.add_argument("--prefilter-direction", choices=["higher", "lower"], default="higher",
                        help="which end of --prefilter-column is hard (AUM: lower)")
    parser.add_argument("--seed", type=int, default=0, help="seed for every stochastic step (default 0)")
    parser.add_argument("--add-columns", action="store_true",
                        help="add d2_difficulty, d2_forward_score, d2_pick_rank, d2_original_index")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output folder")
    parser.set_defaults(func=run)


def _require_columns(args: argparse.Namespace) -> None:
    """select reads difficulty and embeddings from columns; it never starts a model."""
    from hf_d2.prune import _stage_needs  # noqa: PLC0415
    from hf_d2.selection import available_methods  # noqa: PLC0415

    needs = _stage_needs(available_methods()[args.method], args.score_column, args.embedding_column,
                         args.prefilter_column, args.prefilter, args.partition)
    missing = [flag for flag, needed in (("--score-column", needs["difficulty"]),
                                         ("--embedding-column", needs["embeddings"])) if needed]
    if missing:
        raise ValueError(
            f"The {args.method!r} method needs {' and '.join(missing)} (hf-d2 select reads them from columns); "
            "pass them, or run hf-d2 prune to compute difficulty and embeddings."
        )


# Flags that choose the selection; --from-selection re-runs the recorded one, so they are refused there.
SELECTION_FLAGS = (("--method", "method"), ("--score-column", "score_column"), ("--embedding-column", "embedding_column"),
                   ("--label-column", "label_column"), ("--prefilter", "prefilter"),
                   ("--prefilter-column", "prefilter_column"), ("--partition", "partition"),
                   ("--budget-allocation", "budget_allocation"), ("--num-strata", "num_strata"),
                   ("--directed", "directed"), ("--clip-negative", "clip_negative"), ("--add-columns", "add_columns"))


def run(args: argparse.Namespace) -> int:
    if args.from_selection:
        return run_from_selection(args)
    from hf_d2.data import load_local_dataset  # noqa: PLC0415
    from hf_d2.prune import prune_with_scores  # noqa: PLC0415

    if args.path is None:
        raise ValueError("hf-d2 select needs PATH (the dataset with score / embedding columns), or --from-selection "
                         "RECORD to rebuild an earlier selection.")
    if args.rate is None:
        raise ValueError("hf-d2 select needs --rate R, the fraction of rows to remove (e.g. --rate 0.5).")
    args.method = args.method or "d2"
    _require_columns(args)
    output = check_output_dir(args.output, args.overwrite)
    started = time.perf_counter()
    dataset = load_local_dataset(args.path, split=args.split)
    method_params = given_d2_options(args)
    if args.directed:
        method_params["symmetric"] = False
    if args.clip_negative:
        method_params["clip_negative"] = True
    result = prune_with_scores(
        dataset, args.rate, method=args.method, score_column=args.score_column,
        embedding_column=args.embedding_column, label_column=args.label_column,
        score_direction=args.score_direction, prefilter=args.prefilter, prefilter_column=args.prefilter_column,
        prefilter_direction=args.prefilter_direction, partition=args.partition,
        budget_allocation=args.budget_allocation, num_strata=args.num_strata, seed=args.seed,
        add_columns=args.add_columns, **method_params,
    )
    record = result.record
    record["source"]["path"] = str(args.path)
    record["command"] = _command(args)
    _write(output, result.dataset, record, result.scores)
    logger.info(
        "Kept %d of %d rows (%s, rate %.2f) in %.1fs -> %s",
        record["num_rows_after"], record["num_rows_before"], args.method, args.rate,
        time.perf_counter() - started, output,
    )
    if record["label_counts_before"]:
        for label, before in record["label_counts_before"].items():
            logger.info("  %-20s %8d -> %d", label, before, record["label_counts_after"].get(label, 0))
    return 0


def run_from_selection(args: argparse.Namespace) -> int:
    """Rebuilds the coreset of a selection record (the recorded rate, or --rate) from its scores."""
    from hf_d2.hub import load_selection, reselect  # noqa: PLC0415

    given = [flag for flag, dest in SELECTION_FLAGS + tuple((flag, dest) for flag, dest, _, _ in D2_OPTIONS)
             if getattr(args, dest, None) not in (None, False)]
    if given:
        raise ValueError(f"--from-selection re-runs the recorded selection; drop {', '.join(given)} (only --rate, "
                         "PATH and --split apply).")
    output = check_output_dir(args.output, args.overwrite)
    started = time.perf_counter()
    selection = load_selection(args.from_selection)
    result = reselect(selection, args.rate, source=args.path, split=args.split)
    result.record["command"] = _command(args)
    _write(output, result.dataset, result.record, result.scores)
    record = result.record
    logger.info("Rebuilt %d of %d rows (%s, rate %g; recorded rate %g) from %s in %.1fs -> %s",
                record["num_rows_after"], record["num_rows_before"], record["method"], record["rate"],
                record["reselected_from"]["rate"], selection.location, time.perf_counter() - started, output)
    return 0


def _command(args: argparse.Namespace) -> str | None:
    from hf_d2.hub import command_line  # noqa: PLC0415

    return command_line(args.argv) if args.argv else None


def _write(output, dataset, record, scores) -> None:
    def write(folder):
        dataset.save_to_disk(str(folder))
        write_json(folder / "selection.json", record)
        if scores is not None:
            scores.to_parquet(str(folder / "scores.parquet"))

    write_output_dir(output, write)
