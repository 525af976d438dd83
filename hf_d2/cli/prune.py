"""``hf-d2 prune``: from raw text to coreset (embeddings → difficulty → graph → selection)."""

from __future__ import annotations

import argparse
import logging
import time

from hf_d2.cache import TIMINGS_FILE, cache_root
from hf_d2.cli.flags import PRUNE_GROUPS, add_groups, add_recipe_option, options_and_arguments
from hf_d2.cli.push import add_push_options, check_push_options, push_to_hub
from hf_d2.env import offline_mode
from hf_d2.folders import check_target, output_folder, write_prune_folder
from hf_d2.options import PruneOptions
from hf_d2.plan import RunPlan, make_plan
from hf_d2.recipes import COMMAND_KEYS
from hf_d2.record import command_line
from hf_d2.selection.rate_finder import AUTO_RATE

logger = logging.getLogger("hf_d2")

HUB_EXPORT_DIR = "hub"  # --push-to-hub writes the Hub export here inside --output, then pushes it
REPORT_FILE = "report.html"


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "prune", help="prune a dataset end to end: embed, score difficulty, select",
        description="Prune DATASET (a Hub id such as facebook/anli, repo:config such as nyu-mll/glue:rte, a local file "
        "or folder (csv/json/parquet, save_to_disk, a folder of images), or the bundled offline rotten_tomatoes / imdb / "
        "digits) to a coreset. Writes the pruned dataset (save_to_disk, "
        "and parquet/), selection.json and scores.parquet to --output, and prints a summary. Every stage is cached: "
        "changing only --rate, --k, the gammas or --selection-seed re-runs only the selection. --dry-run checks "
        "everything a run checks and prints the stages, cached or not, with time estimates.")
    parser.add_argument("dataset", nargs="?",
                        help="Hub id, repo:config, local path, or rotten_tomatoes / imdb / digits (bundled)")
    parser.add_argument("--config", help="dataset config (or write repo:config)")
    parser.add_argument("--split", help="split to prune (default train; ANLI: train_r3)")
    parser.add_argument("--rate", type=rate_value, help="fraction of rows to REMOVE, in [0, 1) (required), or auto: the "
                        "largest of 0.1, ..., 0.9 whose coreset loses at most --max-drop accuracy points against the "
                        "full pool (inner cross-validation; the summary prints the curve)")
    parser.add_argument("--output", help="folder for the results (required unless --dry-run)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier hf-d2 output in --output (never "
                        "a folder with other files)")
    parser.add_argument("--offline", action="store_true", default=None,
                        help="never contact the Hub (bundled data and models)")
    parser.add_argument("--dry-run", action="store_true", help="check everything and print the plan; run nothing")
    parser.add_argument("--report", action="store_true", help=f"also write {REPORT_FILE} (hf-d2 report) into --output")
    parser.add_argument("--push-to-hub", metavar="REPO", help="also export to --output/hub/ and push it to this Hub "
                        "dataset repository")
    add_push_options(parser, repo_flag=True)
    names = add_groups(parser, PRUNE_GROUPS)
    add_recipe_option(parser)
    parser.set_defaults(func=run, option_names=names)
    return parser


def rate_value(text: str) -> float | str:
    """--rate: a number, or "auto"."""
    if text == AUTO_RATE:
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1) or 'auto', got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    values, command = options_and_arguments(args, args.option_names, COMMAND_KEYS)  # flags, then the recipe
    with offline_mode(bool(command["offline"])):  # nothing connects; the default models are the bundled ones
        return _run(args, values, command)


def _run(args: argparse.Namespace, values: dict, command: dict) -> int:
    """``values``: the prune options given (flags, then the recipe); ``command``: the dataset,
    config, split, rate and offline switch, likewise."""
    if command["dataset"] is None:
        raise ValueError("Name a DATASET (e.g. rotten_tomatoes), or pass --recipe with a 'dataset' entry.")
    if command["rate"] is None:
        raise ValueError("hf-d2 prune needs --rate R, the fraction of rows to remove (e.g. --rate 0.5 keeps half).")
    check_push_options(args)
    if args.report:
        from hf_d2.report import require_plotly  # noqa: PLC0415 - fail before the run, not after it

        require_plotly()
    options = PruneOptions.from_values(values)
    plan = make_plan(command["dataset"], command["rate"], options, config=command["config"], split=command["split"],
                     offline=bool(command["offline"]))  # every check a run makes, before any model loads
    if args.report and plan.text_columns is not None and plan.text_columns.image is not None:
        raise ValueError("--report shows each row's text, and this dataset holds images (column "
                         f"'{plan.text_columns.image}'); drop --report (the report does not draw images yet).")
    protect = [path for path in (plan.source.path, cache_root(options.cache_dir)) if path]
    if args.dry_run:
        if args.output:
            check_target(args.output, overwrite=args.overwrite, protect=protect)
        print(dry_run_text(command["dataset"], plan))
        return 0
    if not args.output:
        raise ValueError("hf-d2 prune needs --output DIR (or --dry-run to only plan the run).")
    from accelerate import Accelerator  # noqa: PLC0415 - heavy; the dry run never needs it

    from hf_d2.prune import run_plan  # noqa: PLC0415 - imports the model stages

    state = Accelerator()  # under `accelerate launch` the stages run on every process; only the main one writes
    started = time.perf_counter()
    with output_folder(args.output, kind="prune", overwrite=args.overwrite, protect=protect,
                       enabled=state.is_main_process) as output:
        result = run_plan(plan)
        if output is None:
            return 0
        local = (command["dataset"], plan.source.path) if plan.source.kind == "local" and plan.source.path else None
        result.record.command = command_line(args.argv, local_source=local)
        write_prune_folder(output.staging, result.dataset, result.record, result.scores)
        if args.push_to_hub:
            from hf_d2.hub.export import export_for_hub  # noqa: PLC0415

            export_for_hub(result, output.staging / HUB_EXPORT_DIR, repo_id=args.push_to_hub)
        if args.report:
            from hf_d2.report import write_report  # noqa: PLC0415 - plotly is heavy

            write_report(output.staging, output.staging / REPORT_FILE, plan=plan)
    if not args.quiet:
        print(summary_table(result.record, time.perf_counter() - started))
    logger.info("Wrote %s (save_to_disk), parquet/train.parquet, scores.parquet, selection.json%s%s", output.path,
                f", {HUB_EXPORT_DIR}/ (the Hub export)" if args.push_to_hub else "",
                f", {REPORT_FILE}" if args.report else "")
    if args.push_to_hub:
        try:
            push_to_hub(output.path / HUB_EXPORT_DIR, args.push_to_hub, private=args.private, revision=args.revision,
                        create_pr=args.create_pr, token=args.token, quiet=args.quiet)
        except ValueError as error:
            raise ValueError(f"Wrote {output.path}, but the push failed: {error} Push again with: hf-d2 push "
                             f"{output.path / HUB_EXPORT_DIR} {args.push_to_hub}") from None
    return 0


def dry_run_text(name: str, plan: RunPlan) -> str:
    columns = plan.text_columns
    text = ("" if columns is None else (f", image={columns.image}" if columns.image else "")
            + (f", text={columns.text}" if columns.text or not columns.image else "")
            + (f", pair={columns.text_pair}" if columns.text_pair else "")
            + (f" (template {columns.template!r})" if columns.template else ""))
    lines = [f"Dry run: {name} ({plan.source.kind}), {plan.num_rows:,} rows{text}, label={plan.label_column}; method "
             f"{plan.options.selection.method}, " + ("rate auto (found after the stages, at most "
                                                     f"{plan.options.max_drop:g} points below the full pool)"
                                                     if plan.find_rate else f"rate {plan.rate:g}, keeping {plan.budget:,}"),
             f"{'stage':<16} {'what':<44} {'cache':<12} {'est. time':>10} {'est. memory':>12}"]
    stages = plan.describe()
    for stage in stages:
        lines.append(f"{stage.stage:<16} {stage.what[:44]:<44} {stage.cache:<12} {_duration(stage.seconds):>10} "
                     f"{stage.memory_mb:>9,.0f} MB")
    lines.append("Every check of a run passed; nothing was run or written. Times: from the throughput earlier runs "
                 f"measured on this machine ({cache_root(plan.options.cache_dir) / TIMINGS_FILE})"
                 + ("; ? = not measured here yet: the first run of that stage measures it."
                    if any(stage.seconds is None for stage in stages) else "."))
    return "\n".join(lines)


def summary_table(record, total_seconds: float | None = None) -> str:
    """Rows and per-label counts before/after, the difficulty model's training curve, time per
    stage with its cache state, and how many warnings were printed above, as text."""
    seeds = record.seeds
    lines = [f"hf-d2 prune: kept {record.num_rows_after:,} of {record.num_rows_before:,} rows (method {record.method}, "
             f"rate {record.rate:g}, seed {seeds.training}, selection seed {seeds.selection})"]
    before, after = record.label_counts_before or {}, record.label_counts_after or {}
    if before:
        lines.append(f"  {'label':<20} {'before':>9} {'after':>9}")
        lines += [f"  {label:<20} {count:>9,} {after.get(label, 0):>9,}" for label, count in before.items()]
        lines.append(f"  {'total':<20} {record.num_rows_before:>9,} {record.num_rows_after:>9,}")
    if record.prefilter or record.partition != "none":
        lines.append(f"  pre-filter: {record.prefilter_text()}; groups: {record.partition_text()}")
    if record.duplicates:
        lines.append(f"  duplicates: {record.duplicates_text()}")
    if record.rate_search:
        search = record.rate_search
        lines.append(f"  rate auto: {search['chosen']:g}, the largest rate within {search['max_drop']:g} points of the full "
                     f"pool ({100 * search['full_accuracy']:.1f}% inner accuracy; loss in points by rate: "
                     + ", ".join(f"{p['rate']:g}: {p['drop']:+.2f}" for p in search["points"]) + ")")
    difficulty = record.difficulty
    if difficulty is not None and difficulty.train_accuracy:
        epochs = len(difficulty.train_accuracy)
        lines.append(f"  difficulty: {difficulty.score} from {difficulty.source} ({epochs} "
                     f"{'epoch' if epochs == 1 else 'epochs'}); training accuracy by epoch: "
                     + ", ".join(f"{100 * value:.1f}%" for value in difficulty.train_accuracy))
    if record.auto:
        lines.append(f"  auto chose: {record.auto.get('chosen')} (inner accuracy "
                     + ", ".join(f"{c['name']} {100 * c['score']:.1f}%" for c in record.auto.get("candidates", []))
                     + ")")
    if record.graph:
        lines.append(f"  {graph_line(record.graph)}")
    if record.timings:
        lines.append(f"  {'stage':<20} {'seconds':>9} {'cache':>22}")
        lines += [f"  {row['stage']:<20} {row['seconds']:>9.1f} {row['cache']:>22}" for row in record.timings]
    if total_seconds is not None:
        lines.append(f"  {'total':<20} {total_seconds:>9.1f}")
    if record.warnings:  # each was printed when it arose; the record keeps them
        lines.append(f"  {len(record.warnings)} warning{'s' if len(record.warnings) > 1 else ''} above (kept in "
                     "selection.json)")
    return "\n".join(lines)


def graph_line(graph: dict) -> str:
    """One line on the record's kNN graph: the backend that ran (and auto's reason), k, edges,
    and the measured recall (or that it was not measured)."""
    k = graph.get("k")
    count = graph.get("groups")
    groups = f" in {count} group{'s' if count != 1 else ''} ({', '.join(f'{n} {b}' for b, n in graph['backends'].items())})" \
        if count else ""
    chosen = f" (auto: {graph['reason']})" if graph.get("requested") == "auto" and graph.get("reason") else ""
    if graph.get("recall") is not None:
        sample = graph.get("recall_sample")
        measured = f"recall@{k} {graph['recall']:.4f}" + (f" on {sample:,} rows" if sample else "") + (
            " (lowest group)" if graph.get("groups") else "")
    elif graph.get("backend") == "exact":
        measured = "exact search"
    else:
        measured = "recall not measured (--check-recall measures it)"
    return (f"graph: {graph.get('backend')}{groups}{chosen}, k={k}, {int(graph.get('num_edges') or 0):,} edges, "
            f"{measured}")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


__all__ = ["dry_run_text", "graph_line", "register", "run", "summary_table"]
