"""``hf-d2 score``: fine-tune a classifier, record training dynamics, write difficulty scores.

Runs data-parallel under ``accelerate launch [...] -m hf_d2.cli score ...``; only the main
process writes the output folder.
"""

from __future__ import annotations

import argparse
import logging

from hf_d2.difficulty.scores import DEFAULT_SCORE

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="fine-tune a classifier and score every example's difficulty from its training dynamics",
        description=(
            "Fine-tunes a sequence classifier (default roberta-base; 'bundled-minilm' offline), records "
            "per-example training dynamics each epoch, and writes dynamics.parquet, scores.parquet "
            "(row_index, every score raw and as <name>_hardness, higher = harder) and metadata.json."
        ),
    )
    parser.add_argument("dataset", help="Hub id, repo:config, local file or folder, or bundled rotten_tomatoes / imdb")
    parser.add_argument("--split", default=None, help="split of a saved DatasetDict (default: train)")
    parser.add_argument("--text-column", required=True, help="column with the (first) text")
    parser.add_argument("--text-pair-column", default=None, help="second text, e.g. the hypothesis")
    parser.add_argument("--label-column", required=True, help="ClassLabel, int 0..C-1 or string column")
    parser.add_argument("--output", required=True, help="folder for the outputs (must be empty or new)")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")
    parser.add_argument("--model", default=None,
                        help="Hub id or local folder; 'bundled-minilm' for the offline weights "
                             "(default: roberta-base, or bundled-minilm when HF_HUB_OFFLINE=1)")
    parser.add_argument("--revision", default=None, help="model revision (branch, tag or commit)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer id or folder (default: the model's)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8, help="per process")
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--warmup-ratio", type=float, default=0.05)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--max-length", type=int, default=128, help="tokens")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=None, help="default: $HF_D2_CACHE or ~/.cache/hf_d2")
    parser.add_argument("--embeddings", action="store_true",
                        help="also write embeddings.npy: the fine-tuned model's last-layer first-token states")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from accelerate import Accelerator

    from hf_d2.data import resolve_dataset
    from hf_d2.difficulty.api import compute_difficulty, prepare_output_dir

    # Accelerator (not a bare PartialState) so that ACCELERATE_USE_CPU from the launcher is honoured.
    state = Accelerator()
    if state.is_main_process:  # fail before training, not after
        prepare_output_dir(args.output, args.overwrite)
    dataset = resolve_dataset(args.dataset, split=args.split).dataset
    result = compute_difficulty(
        dataset, args.text_column, args.label_column, args.text_pair_column,
        model=args.model, revision=args.revision, tokenizer=args.tokenizer, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay, max_length=args.max_length, seed=args.seed,
        cache_dir=args.cache_dir, return_embeddings=args.embeddings,
    )
    if state.is_main_process:
        result.metadata["source_dataset"] = args.dataset
        output = result.save(args.output, overwrite=True)
        logger.info(
            "Scored %d examples over %d epochs; wrote %s (default score: %s, higher = harder).",
            result.num_examples, result.arrays.num_epochs, output, DEFAULT_SCORE,
        )
    state.wait_for_everyone()
    return 0
