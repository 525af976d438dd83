"""``hf-d2 select``: prune a local dataset whose difficulty and embeddings are columns (or whose
difficulty comes from saved training dynamics, ``--scores-from``), or rebuild a coreset from a
selection record with ``--from-selection``. It never starts a model."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from hf_d2.cli.flags import SELECT_EXCLUDED, SELECT_GROUPS, add_groups, given_options
from hf_d2.cli.prune import graph_line
from hf_d2.folders import output_folder, write_prune_folder
from hf_d2.options import RUN_PARAMS, PruneOptions
from hf_d2.record import command_line

logger = logging.getLogger("hf_d2")


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "select", help="prune a local dataset that already has difficulty and embedding columns",
        description="Select a coreset from a local dataset (save_to_disk folder, parquet, json, csv) whose difficulty "
        "scores and embeddings are columns, or whose difficulty comes from saved training dynamics (--scores-from: an "
        "hf-d2 score output or hf_d2.DynamicsCallback.save folder); writes the pruned dataset, selection.json and "
        "scores.parquet to --output. With --from-selection RECORD it rebuilds a coreset from an earlier run's record "
        "(the recorded rate, or another --rate) without retraining; PATH then says where the source rows are "
        "(default: the source in the record).")
    parser.add_argument("path", nargs="?", help="save_to_disk folder, or a .parquet/.json/.jsonl/.csv file or folder "
                        "(with --from-selection: the source rows, default the record's source)")
    parser.add_argument("--rate", type=float, help="fraction of rows to REMOVE, in [0, 1) (with --from-selection: "
                        "default the recorded rate)")
    parser.add_argument("--output", required=True, help="folder for the pruned dataset, selection.json and "
                        "scores.parquet")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier hf-d2 output in --output")
    parser.add_argument("--split", help="split of a DatasetDict folder")
    parser.add_argument("--from-selection", metavar="RECORD", help="rebuild from a selection record: a selection.json "
                        "(its scores.parquet beside it), an hf-d2 output or export folder, or a Hub dataset repo")
    difficulty, prefilter = RUN_PARAMS["difficulty"], RUN_PARAMS["prefilter_score"]
    parser.add_argument("--scores-from", metavar="DYNAMICS", help=f"take the difficulty (--difficulty, default "
                        f"{difficulty.default}) and the pre-filter score ({prefilter.default.upper()}) from saved training "
                        "dynamics, row i = row i")
    parser.add_argument(difficulty.cli_flag, help=f"with --scores-from: the score to use (default {difficulty.default})")
    names = add_groups(parser, SELECT_GROUPS, exclude=SELECT_EXCLUDED)
    parser.set_defaults(func=run, option_names=names)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.from_selection:
        return run_from_selection(args)
    from hf_d2.data.loading import load_local_dataset  # noqa: PLC0415
    from hf_d2.plan import make_plan  # noqa: PLC0415
    from hf_d2.prune import run_plan  # noqa: PLC0415

    if args.path is None:
        raise ValueError("hf-d2 select needs PATH (the dataset with score / embedding columns), or --from-selection "
                         "RECORD to rebuild an earlier selection.")
    if args.rate is None:
        raise ValueError("hf-d2 select needs --rate R, the fraction of rows to remove (e.g. --rate 0.5).")
    values = given_options(args, args.option_names)
    values.setdefault("use_cache", False)
    dataset = load_local_dataset(args.path, split=args.split)
    arrays = _scores_from(args, dataset.num_rows) if args.scores_from else None
    plan = make_plan(dataset, args.rate, PruneOptions.from_values(values),
                     source={"kind": "local", "path": str(args.path), "split": args.split or "train"}, arrays=arrays)
    if plan.needs.difficulty or plan.needs.embeddings:
        missing = [flag for flag, needed in (("--score-column (or --scores-from)", plan.needs.difficulty),
                                             ("--embedding-column", plan.needs.embeddings)) if needed]
        raise ValueError(f"The {plan.settings.method!r} method needs {' and '.join(missing)} (hf-d2 select reads them "
                         "from columns); pass them, or run hf-d2 prune to compute difficulty and embeddings.")
    started = time.perf_counter()
    with output_folder(args.output, kind="select", overwrite=args.overwrite, protect=[args.path]) as output:
        result = run_plan(plan)
        result.record.command = command_line(args.argv, local_source=(str(args.path), str(Path(args.path).resolve())))
        write_prune_folder(output.staging, result.dataset, result.record, result.scores)
    record = result.record
    logger.info("Kept %d of %d rows (%s, rate %.2f) in %.1fs -> %s", record.num_rows_after, record.num_rows_before,
                record.method, record.rate, time.perf_counter() - started, output.path)
    for label, before in (record.label_counts_before or {}).items():
        logger.info("  %-20s %8d -> %d", label, before, (record.label_counts_after or {}).get(label, 0))
    if record.graph:
        logger.info("  %s", graph_line(record.graph))
    return 0


def _scores_from(args: argparse.Namespace, num_rows: int):
    """The difficulty and AUM hardness of every row from a saved dynamics folder."""
    from hf_d2.difficulty import load_result  # noqa: PLC0415
    from hf_d2.difficulty.scores import mean_margins  # noqa: PLC0415
    from hf_d2.plan import GivenArrays  # noqa: PLC0415
    from hf_d2.record import DifficultyRecord  # noqa: PLC0415

    result = load_result(args.scores_from)
    if result.num_examples != num_rows:
        raise ValueError(f"The dynamics in '{args.scores_from}' cover {result.num_examples:,} rows but the dataset has "
                         f"{num_rows:,}; pass the dynamics recorded on these rows.")
    # the run's own defaults and checks: the difficulty score and the pre-filter score of RUN_PARAMS
    score = RUN_PARAMS["difficulty"].check(args.difficulty) if args.difficulty else RUN_PARAMS["difficulty"].default
    prefilter = RUN_PARAMS["prefilter_score"].default
    accuracy, loss = result.training_curve()
    record = DifficultyRecord(score=score, source=f"dynamics from {args.scores_from}",
                              model=result.metadata.get("model") or result.metadata.get("source"),
                              train_accuracy=accuracy, train_loss=loss, prefilter_score=prefilter)
    return GivenArrays(scores=result.scores(score), prefilter_scores=result.scores(prefilter), difficulty=record,
                       mean_margins=mean_margins(result.arrays))


# Flags that choose the selection; --from-selection re-runs the recorded one, so they are refused there.
def _selection_flags_given(args: argparse.Namespace) -> list[str]:
    from hf_d2.parameter_table import flag_for  # noqa: PLC0415

    given = [flag_for(name) for name in given_options(args, args.option_names)]
    return given + (["--scores-from"] if args.scores_from else [])


def run_from_selection(args: argparse.Namespace) -> int:
    """Rebuilds the coreset of a selection record (the recorded rate, or --rate) from its scores."""
    from hf_d2.reselect import load_selection, reselect  # noqa: PLC0415

    given = _selection_flags_given(args)
    if given:
        raise ValueError(f"--from-selection re-runs the recorded selection; drop {', '.join(given)} (only --rate, "
                         "PATH and --split apply).")
    if args.rate is not None:
        from hf_d2._validation import check_rate  # noqa: PLC0415

        check_rate(args.rate)
    selection = load_selection(args.from_selection)
    protect = [path for path in (args.path, selection.record.source.path) if path]
    started = time.perf_counter()
    with output_folder(args.output, kind="select", overwrite=args.overwrite, protect=protect) as output:
        result = reselect(selection, args.rate, source=args.path, split=args.split)
        local = (str(args.path), str(Path(args.path).resolve())) if args.path else None
        result.record.command = command_line(args.argv, local_source=local)
        write_prune_folder(output.staging, result.dataset, result.record, result.scores)
    record = result.record
    logger.info("Rebuilt %d of %d rows (%s, rate %g; recorded rate %g) from %s in %.1fs -> %s", record.num_rows_after,
                record.num_rows_before, record.method, record.rate, record.reselected_from["rate"], selection.location,
                time.perf_counter() - started, output.path)
    return 0
