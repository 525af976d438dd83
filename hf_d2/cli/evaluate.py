"""``hf-d2 evaluate``: fine-tune on every method's coreset (and on the full pool), score on held-out rows."""

from __future__ import annotations

import argparse
import logging
import sys

logger = logging.getLogger("hf_d2")


def register(subparsers) -> None:
    from hf_d2.evaluate import DEFAULT_HOLDOUT, DEFAULT_METHODS, DEFAULT_RATES  # noqa: PLC0415
    from hf_d2.recipes import add_recipe_option  # noqa: PLC0415

    parser = subparsers.add_parser(
        "evaluate",
        help="train on coresets vs random / CCS / full data and score on held-out rows",
        description="For every METHOD, pruning RATE and seed, select a coreset of DATASET's training rows, "
        "fine-tune a classifier on it and score accuracy and macro-F1 on held-out rows: the --eval-split, or a "
        "stratified --holdout fraction carved off BEFORE anything else runs (never seen by the difficulty run, "
        "the embeddings or the selection). Difficulty and embeddings are computed once (cached). The full pool "
        "(rate 0) is the reference row. Each seed seeds the selection AND the evaluation classifier. Writes "
        "results.md, results.json, cells/*.json and accuracy.png/.svg to --output; a re-run skips finished cells.",
    )
    parser.add_argument("dataset", help="Hub id, repo:config, local path, or rotten_tomatoes / imdb (bundled)")
    parser.add_argument("--config", help="dataset config (or write repo:config)")
    parser.add_argument("--split", help="training split (default train; ANLI: train_r3)")
    parser.add_argument("--eval-split", help="held-out split to score on (e.g. validation, dev_r3); default: --holdout")
    parser.add_argument("--holdout", type=float, default=DEFAULT_HOLDOUT,
                        help=f"fraction of the training rows held out, stratified, when there is no --eval-split "
                        f"(default {DEFAULT_HOLDOUT})")
    parser.add_argument("--max-examples", type=int, help="use a seeded sample of this many training rows (before the holdout)")
    parser.add_argument("--max-eval-examples", type=int, help="score on a seeded sample of this many --eval-split rows")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), metavar="METHOD",
                        help="selection methods (default: " + " ".join(DEFAULT_METHODS) + "); see hf-d2 prune --help")
    parser.add_argument("--rates", nargs="+", type=float, default=list(DEFAULT_RATES), metavar="RATE",
                        help="pruning rates, fraction REMOVED, in [0, 1) (default: 0.3 0.5 0.7)")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds 0..N-1 per cell (default 3)")
    parser.add_argument("--no-full", dest="include_full", action="store_false",
                        help="skip the full-data reference row")
    parser.add_argument("--output", required=False, help="folder for the results (required)")
    parser.add_argument("--overwrite", action="store_true", help="discard the finished cells of --output and start again")
    parser.add_argument("--difficulty", default="variability", help="difficulty score (default variability)")
    parser.add_argument("--prefilter", type=float,
                        help="fraction dropped as hardest by AUM before d2 / ccs / ccs-d2 (default 0.1)")
    parser.add_argument("--model", help="difficulty classifier (default roberta-base; offline: bundled-minilm)")
    parser.add_argument("--embedding-model", help="sentence-transformers model (default all-MiniLM-L6-v2)")
    parser.add_argument("--epochs", type=int, default=3, help="difficulty fine-tuning epochs (default 3)")
    parser.add_argument("--batch-size", type=int, default=8, help="difficulty batch size per device (default 8)")
    parser.add_argument("--learning-rate", type=float, default=5e-5, help="difficulty AdamW learning rate (default 5e-5)")
    parser.add_argument("--warmup-ratio", type=float, default=0.05, help="linear warm-up fraction (default 0.05)")
    parser.add_argument("--max-length", type=int, default=128, help="tokens per example (default 128)")
    for flag, text in (("model", "evaluation classifier"), ("epochs", "evaluation epochs"),
                       ("batch-size", "evaluation batch size"), ("learning-rate", "evaluation learning rate"),
                       ("max-length", "evaluation max length")):
        kind = {"model": str, "epochs": int, "batch-size": int, "learning-rate": float, "max-length": int}[flag]
        parser.add_argument(f"--eval-{flag}", type=kind, help=f"{text} (default: the difficulty run's)")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the sample and the holdout (default 0)")
    parser.add_argument("--difficulty-seed", type=int, default=0, help="seed of the one difficulty run (default 0)")
    parser.add_argument("--text-column", help="text column (default: inferred)")
    parser.add_argument("--text-pair-column", help="second text of a pair (default: inferred)")
    parser.add_argument("--label-column", help="label column (default: inferred)")
    parser.add_argument("--cache-dir", help="stage cache (default $HF_D2_CACHE or ~/.cache/hf_d2)")
    parser.add_argument("--offline", action="store_true", help="never contact the Hub (bundled data and models)")
    parser.add_argument("--no-plots", dest="plots", action="store_false", help="do not draw accuracy.png / .svg")
    add_recipe_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hf_d2.evaluate import ClassifierSettings, evaluate  # noqa: PLC0415
    from hf_d2.recipes import apply_recipe  # noqa: PLC0415

    apply_recipe(args)
    if not args.output:
        raise ValueError("hf-d2 evaluate needs --output DIR (results and finished cells go there).")
    difficulty_model = args.model or ("bundled-minilm" if args.offline else None)
    classifier = ClassifierSettings(model=difficulty_model, epochs=args.epochs, batch_size=args.batch_size,
                                    learning_rate=args.learning_rate, warmup_ratio=args.warmup_ratio,
                                    max_length=args.max_length)
    eval_classifier = ClassifierSettings(
        model=args.eval_model or difficulty_model, epochs=_first(args.eval_epochs, args.epochs),
        batch_size=_first(args.eval_batch_size, args.batch_size),
        learning_rate=_first(args.eval_learning_rate, args.learning_rate), warmup_ratio=args.warmup_ratio,
        max_length=_first(args.eval_max_length, args.max_length),
    )
    report = evaluate(
        args.dataset, output_dir=args.output, methods=args.methods, rates=args.rates, seeds=args.seeds,
        config=args.config, split=args.split, eval_split=args.eval_split, holdout=args.holdout,
        max_examples=args.max_examples, max_eval_examples=args.max_eval_examples, split_seed=args.split_seed,
        difficulty_seed=args.difficulty_seed, difficulty=args.difficulty, prefilter=args.prefilter,
        classifier=classifier, eval_classifier=eval_classifier, embedding_model=args.embedding_model,
        include_full=args.include_full, cache_dir=args.cache_dir, offline=args.offline,
        text_column=args.text_column, text_pair_column=args.text_pair_column, label_column=args.label_column,
        overwrite=args.overwrite, plots=args.plots,
    )
    from hf_d2.evaluate import results_markdown  # noqa: PLC0415

    print(results_markdown(report.rows), file=sys.stderr if args.quiet else sys.stdout, end="")
    logger.info("%d cell(s) trained, %d reused; wrote %s (results.md, results.json, cells/%s)", report.trained_cells,
                report.reused_cells, report.output_dir, ", plots" if report.plots else "")
    return 0


def _first(value, fallback):
    return fallback if value is None else value
