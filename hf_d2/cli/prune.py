"""``hf-d2 prune``: from raw text to coreset (difficulty → embeddings → graph → selection)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from hf_d2.cli._common import add_d2_options, check_output_dir, given_d2_options, write_json, write_output_dir

logger = logging.getLogger("hf_d2")

HUB_EXPORT_DIR = "hub"  # --push-to-hub writes the Hub export here inside --output, then pushes it


def register(subparsers) -> None:
    from hf_d2.selection import available_methods  # noqa: PLC0415

    methods = available_methods()
    parser = subparsers.add_parser(
        "prune",
        help="prune a dataset end to end: fine-tune for difficulty, embed, select",
        description="Prune DATASET (a Hub id such as facebook/anli, repo:config such as nyu-mll/glue:rte, "
        "a local file or folder, or the bundled offline rotten_tomatoes / imdb) to a coreset. Writes the "
        "pruned dataset (save_to_disk, and parquet under parquet/), selection.json and scores.parquet to "
        "--output, and prints a summary. Every stage is cached: changing only --rate, --k or the gammas "
        "re-runs only the selection. With --push-to-hub REPO it also writes the Hub export to --output/hub/ "
        "and pushes exactly that folder (see hf-d2 push).",
    )
    parser.add_argument("dataset", help="Hub id, repo:config, local path, or rotten_tomatoes / imdb (bundled)")
    parser.add_argument("--config", help="dataset config (or write repo:config)")
    parser.add_argument("--split", help="split to prune (default train; ANLI: train_r1..train_r3)")
    parser.add_argument("--rate", type=float, required=True, help="fraction of rows to REMOVE, in [0, 1)")
    parser.add_argument("--output", help="folder for the results (required unless --dry-run)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output folder")
    parser.add_argument("--method", default="d2", choices=list(methods), metavar="METHOD",
                        help="selection method: " + ", ".join(methods) + " (default d2: D2 on variability "
                        "after dropping the hardest 10%% by AUM)")
    parser.add_argument("--difficulty", default="variability",
                        help="difficulty score from the training dynamics (default variability); "
                        "see hf-d2 score --help for the list")
    parser.add_argument("--prefilter", type=float,
                        help="fraction of the hardest rows by AUM dropped first (d2 default 0.1; 0 = bare D2)")
    parser.add_argument("--model", help="classifier to fine-tune (default roberta-base; offline: bundled-minilm)")
    parser.add_argument("--embedding-model", help="sentence-transformers model (default all-MiniLM-L6-v2)")
    parser.add_argument("--embedding-source", choices=["sentence-transformers", "classifier"],
                        default="sentence-transformers",
                        help="embed with a sentence-transformer, or the fine-tuned classifier's first token")
    add_d2_options(parser)
    parser.add_argument("--partition", choices=["none", "label", "strata"], help="select inside groups")
    parser.add_argument("--seed", type=int, default=0, help="seed for sampling, training and selection (default 0)")
    parser.add_argument("--max-examples", type=int, help="prune a seeded sample of this many rows")
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs (default 3)")
    parser.add_argument("--batch-size", type=int, default=8, help="fine-tuning batch size per device (default 8)")
    parser.add_argument("--learning-rate", type=float, default=5e-5, help="AdamW learning rate (default 5e-5)")
    parser.add_argument("--max-length", type=int, default=128, help="tokens per example (default 128)")
    parser.add_argument("--text-column", help="text column (default: inferred)")
    parser.add_argument("--text-pair-column", help="second text of a pair (default: inferred, e.g. hypothesis)")
    parser.add_argument("--label-column", help="label column (default: inferred)")
    parser.add_argument("--cache-dir", help="stage cache (default $HF_D2_CACHE or ~/.cache/hf_d2)")
    parser.add_argument("--no-cache", action="store_true", help="recompute every stage (refreshes the cache)")
    parser.add_argument("--offline", action="store_true", help="never contact the Hub (bundled data and models)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the stages that would run, cached or not, with rough time and memory")
    parser.add_argument("--push-to-hub", metavar="REPO",
                        help="also export to --output/hub/ and push it to this Hub dataset repository")
    from hf_d2.cli.push import add_push_options  # noqa: PLC0415

    add_push_options(parser, repo_flag=True)
    from hf_d2.recipes import add_recipe_option  # noqa: PLC0415

    add_recipe_option(parser)  # --recipe FILE_OR_NAME: its values are defaults, explicit flags win
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hf_d2.hub import command_line, export_for_hub  # noqa: PLC0415
    from hf_d2.prune import prune  # noqa: PLC0415
    from hf_d2.recipes import apply_recipe  # noqa: PLC0415

    apply_recipe(args)
    if args.dry_run:
        return dry_run(args)
    if not args.output:
        raise ValueError("hf-d2 prune needs --output DIR (or --dry-run to only plan the run).")
    _check_push_options(args)
    from accelerate import Accelerator  # noqa: PLC0415

    # Under `accelerate launch` the model stages run data-parallel on every process; only the main
    # process checks and writes --output. (An Accelerator, not a bare PartialState, so that the
    # launcher's CPU flag is honoured.)
    state = Accelerator()
    output = check_output_dir(args.output, args.overwrite) if state.is_main_process else None
    started = time.perf_counter()
    result = prune(args.dataset, args.rate, return_result=True, **_prune_arguments(args))
    if not state.is_main_process:
        return 0
    result.record["command"] = command_line(args.argv) if args.argv else None  # as typed (main sets it), without --token
    result.record["total_seconds"] = round(time.perf_counter() - started, 2)

    def write(folder: Path) -> None:
        result.dataset.save_to_disk(str(folder))
        (folder / "parquet").mkdir()
        result.dataset.to_parquet(str(folder / "parquet" / "train.parquet"))
        result.scores.to_parquet(str(folder / "scores.parquet"))
        write_json(folder / "selection.json", result.record)
        if args.push_to_hub:
            export_for_hub(result, folder / HUB_EXPORT_DIR, repo_id=args.push_to_hub)

    write_output_dir(output, write)
    print(summary_table(result.record), file=sys.stderr if args.quiet else sys.stdout)
    logger.info("Wrote %s (save_to_disk), parquet/train.parquet, scores.parquet, selection.json%s", output,
                f", {HUB_EXPORT_DIR}/ (the Hub export)" if args.push_to_hub else "")
    if args.push_to_hub:
        from hf_d2.cli.push import push_to_hub  # noqa: PLC0415

        try:
            push_to_hub(output / HUB_EXPORT_DIR, args.push_to_hub, private=args.private, revision=args.revision,
                        create_pr=args.create_pr, token=args.token)
        except ValueError as error:
            raise ValueError(f"Wrote {output}, but the push failed: {error} Push again with: hf-d2 push "
                             f"{output / HUB_EXPORT_DIR} {args.push_to_hub}") from None
    return 0


def _check_push_options(args: argparse.Namespace) -> None:
    """Push flags are checked before the (long) run, not after it."""
    given = [flag for flag, value in (("--private", args.private), ("--revision", args.revision),
                                      ("--create-pr", args.create_pr), ("--token", args.token)) if value]
    if given and not args.push_to_hub:
        raise ValueError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only with --push-to-hub REPO; "
                         "add it, or drop them.")
    if args.create_pr and args.revision not in (None, "main"):
        raise ValueError(f"Pull requests are opened against main: pass --revision {args.revision} or --create-pr, "
                         "not both.")


def _prune_arguments(args: argparse.Namespace) -> dict:
    method_params = given_d2_options(args)
    return dict(
        config=args.config, split=args.split, max_examples=args.max_examples, offline=args.offline, seed=args.seed,
        method=args.method, difficulty=args.difficulty, prefilter=args.prefilter, partition=args.partition,
        model=args.model or ("bundled-minilm" if args.offline else None), embedding_model=args.embedding_model,
        embedding_source=args.embedding_source, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, max_length=args.max_length, text_column=args.text_column,
        text_pair_column=args.text_pair_column, label_column=args.label_column, cache_dir=args.cache_dir,
        load_from_cache_file=not args.no_cache, **method_params,
    )


def dry_run(args: argparse.Namespace) -> int:
    """Plans the run: resolves the data and columns, looks up the caches, estimates cost."""
    from hf_d2.data import infer_columns, resolve_dataset  # noqa: PLC0415
    from hf_d2.pipeline import StageSettings, plan_model_stages  # noqa: PLC0415
    from hf_d2.prune import _stage_needs, sample_row_ids  # noqa: PLC0415
    from hf_d2.selection import available_methods  # noqa: PLC0415

    arguments = _prune_arguments(args)
    resolved = resolve_dataset(args.dataset, args.config, args.split, offline=args.offline)
    dataset = resolved.dataset
    row_ids = sample_row_ids(dataset.num_rows, args.max_examples, args.seed)
    if row_ids is not None:
        dataset = dataset.select(row_ids)
    info = available_methods()[args.method]
    needs = _stage_needs(info, None, None, None, args.prefilter, args.partition)
    columns = infer_columns(dataset, args.text_column, args.text_pair_column, args.label_column)
    settings = StageSettings(
        difficulty=args.difficulty, model=arguments["model"], embedding_model=args.embedding_model,
        embedding_source=args.embedding_source, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, max_length=args.max_length, cache_dir=args.cache_dir,
        load_from_cache_file=not args.no_cache)
    plan = plan_model_stages(dataset, columns, need_difficulty=needs["difficulty"], need_embeddings=needs["embeddings"],
                             settings=settings, seed=args.seed)
    k = arguments.get("k", 5)
    plan.append({"stage": "graph + select", "cache": "-", "seconds": dataset.num_rows * 2e-5 + 1.0,
                 "memory_mb": dataset.num_rows * (k * 2 * 8 + 64) / 2**20})
    print(f"Dry run: {args.dataset} ({resolved.source.get('kind')}), {dataset.num_rows:,} rows, columns "
          f"text={columns.text}" + (f", pair={columns.text_pair}" if columns.text_pair else "")
          + f", label={columns.label}; method {args.method}, rate {args.rate}")
    print(f"{'stage':<16} {'cache':<6} {'est. time':>10} {'est. memory':>12}")
    for row in plan:
        print(f"{row['stage']:<16} {row['cache']:<6} {_duration(row['seconds']):>10} {row['memory_mb']:>9,.0f} MB")
    print("Estimates are rough (device throughput tables in hf_d2/pipeline.py); nothing was run or written.")
    return 0


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def summary_table(record: dict) -> str:
    """Rows and per-label counts before/after, time per stage and cache hits, as text."""
    lines = [f"hf-d2 prune: kept {record['num_rows_after']:,} of {record['num_rows_before']:,} rows "
             f"(method {record['method']}, rate {record['rate']}, seed {record['seed']})"]
    before, after = record.get("label_counts_before") or {}, record.get("label_counts_after") or {}
    if before:
        lines.append(f"  {'label':<20} {'before':>9} {'after':>9}")
        for label, count in before.items():
            lines.append(f"  {label:<20} {count:>9,} {after.get(label, 0):>9,}")
        lines.append(f"  {'total':<20} {record['num_rows_before']:>9,} {record['num_rows_after']:>9,}")
    timings = record.get("timings") or []
    if timings:
        lines.append(f"  {'stage':<20} {'seconds':>9} {'cache':>9}")
        for row in timings:
            lines.append(f"  {row['stage']:<20} {row['seconds']:>9.1f} {row['cache']:>9}")
    if record.get("total_seconds") is not None:
        lines.append(f"  {'total':<20} {record['total_seconds']:>9.1f}")
    return "\n".join(lines)
