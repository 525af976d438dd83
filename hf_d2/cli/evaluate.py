"""``hf-d2 evaluate``: select every method's coreset, train a judge on it (and on the full pool),
score on held-out rows, and compare with random on the same seeds."""

from __future__ import annotations

import argparse
import logging

from hf_d2.cli.flags import EVALUATE_GROUPS, add_groups, add_recipe_option, options_and_arguments
from hf_d2.recipes import COMMAND_KEYS

logger = logging.getLogger("hf_d2")

ARGUMENTS = tuple(key for key in COMMAND_KEYS if key != "rate")  # evaluate takes the rates as an option


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate", help="train on coresets vs random / CCS / full data and score on held-out rows",
        description="For every METHOD, pruning RATE and seed, select a coreset of DATASET's training rows exactly as "
        "hf-d2 prune does, train a judge on it and score accuracy and macro-F1 on held-out rows: the --eval-split, or "
        "a stratified --holdout carved off BEFORE anything else runs (never seen by the difficulty model, the "
        "embeddings or the selection). The judge is a probe (--classifier probe, default: --probe logistic / mlp on "
        "the frozen embeddings, tfidf on the words; 10 seeds) or a fine-tuned classifier (--classifier finetune; "
        "3 seeds). Every row shows the mean with its 95% interval over seeds and the PAIRED difference to random "
        "(same seed, same held-out rows). Writes results.md, results.json, cells/*.json and accuracy.png/.svg to "
        "--output; a re-run skips finished cells.")
    parser.add_argument("dataset", nargs="?", help="Hub id, repo:config, local path, or rotten_tomatoes / imdb (bundled)")
    parser.add_argument("--config", help="dataset config (or write repo:config)")
    parser.add_argument("--split", help="training split (default train; ANLI: train_r3)")
    parser.add_argument("--output", help="folder for the results (required)")
    parser.add_argument("--overwrite", action="store_true", help="discard the finished cells of --output and start again")
    parser.add_argument("--offline", action="store_true", default=None, help="never contact the Hub (bundled data "
                        "and models)")
    parser.add_argument("--no-plots", dest="plots", action="store_false", help="do not draw accuracy.png / .svg")
    names = add_groups(parser, EVALUATE_GROUPS, exclude=("method",))  # --methods lists the methods compared
    add_recipe_option(parser)
    parser.set_defaults(func=run, option_names=names)
    return parser


def run(args: argparse.Namespace) -> int:
    from hf_d2.evaluate import evaluate, limits_markdown, results_markdown  # noqa: PLC0415

    options, command = options_and_arguments(args, args.option_names, ARGUMENTS)  # flags, then the recipe
    if command["dataset"] is None:
        raise ValueError("Name a DATASET (e.g. rotten_tomatoes), or pass --recipe with a 'dataset' entry.")
    if not args.output:
        raise ValueError("hf-d2 evaluate needs --output DIR (results and finished cells go there).")
    report = evaluate(command["dataset"], output_dir=args.output, overwrite=args.overwrite, plots=args.plots,
                      config=command["config"], split=command["split"], offline=bool(command["offline"]), **options)
    if not args.quiet:
        print(results_markdown(report.rows), end="")
        if report.limits:
            print(limits_markdown(report.limits), end="")
    logger.info("%d cell(s) trained, %d reused; wrote %s (results.md, results.json, cells/%s)", report.trained_cells,
                report.reused_cells, report.output_dir, ", plots" if report.plots else "")
    return 0
