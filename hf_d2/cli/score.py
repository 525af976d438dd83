"""``hf-d2 score``: fine-tune a classifier, record training dynamics, write difficulty scores.

Runs data-parallel under ``accelerate launch [...] -m hf_d2.cli score ...``; only the main
process writes the output folder.
"""

from __future__ import annotations

import argparse
import logging

from hf_d2.cache import cache_root
from hf_d2.cli.flags import add_groups, given_options
from hf_d2.folders import output_folder

logger = logging.getLogger("hf_d2")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "score", help="fine-tune a classifier and score every example's difficulty from its training dynamics",
        description="Fine-tunes a sequence classifier (default roberta-base; 'bundled-minilm' offline), records "
        "per-example training dynamics each epoch, and writes dynamics.parquet, scores.parquet (row_index, every "
        "score raw and as <name>_hardness, higher = harder) and metadata.json. Scores (hf_d2.difficulty.list_scores): "
        "confidence, variability, correctness, forgetting, aum, aum_logit, el2n, entropy, loss.")
    parser.add_argument("dataset", help="Hub id, repo:config, local file or folder, or bundled rotten_tomatoes / imdb")
    parser.add_argument("--split", default=None, help="split (default: train)")
    parser.add_argument("--text-column", help="column with the (first) text (or --image-column)")
    parser.add_argument("--image-column", help="image column (datasets.Image or image paths): fine-tune an image "
                        "classifier (AutoModelForImageClassification, default microsoft/resnet-18) instead")
    parser.add_argument("--from-scratch", action="store_true", help="images: train --model from its config with "
                        "random weights instead of fine-tuning its pretrained weights")
    parser.add_argument("--text-pair-column", default=None, help="second text, e.g. the hypothesis")
    parser.add_argument("--label-column", required=True, help="ClassLabel, int 0..C-1 or string column")
    parser.add_argument("--output", required=True, help="folder for the outputs (must be new or an earlier output)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier hf-d2 score output")
    parser.add_argument("--revision", default=None, help="model revision (branch, tag or commit)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer id or folder (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fine-tuning (default 0)")
    parser.add_argument("--cache-dir", default=None, help="default: $HF_D2_CACHE or ~/.cache/hf_d2")
    parser.add_argument("--embeddings", action="store_true",
                        help="also write embeddings.npy: the fine-tuned model's last-layer first-token states")
    names = add_groups(parser, ("training",))
    parser.set_defaults(func=run, option_names=names)
    return parser


def run(args: argparse.Namespace) -> int:
    from accelerate import Accelerator  # noqa: PLC0415

    from hf_d2.data.names import resolve_dataset  # noqa: PLC0415
    from hf_d2.difficulty.api import compute_difficulty  # noqa: PLC0415
    from hf_d2.difficulty.result import write_result  # noqa: PLC0415
    from hf_d2.difficulty.training import TrainingConfig  # noqa: PLC0415

    if (args.text_column is None) == (args.image_column is None):
        raise ValueError("hf-d2 score needs one of --text-column (a text classifier) or --image-column (an image "
                         "classifier).")
    config = TrainingConfig(**given_options(args, args.option_names), seed=args.seed)
    state = Accelerator()  # not a bare PartialState: ACCELERATE_USE_CPU from the launcher is honoured
    resolved = resolve_dataset(args.dataset, split=args.split)
    protect = [path for path in (resolved.source.get("path"), cache_root(args.cache_dir)) if path]
    with output_folder(args.output, kind="score", overwrite=args.overwrite, protect=protect,
                       enabled=state.is_main_process) as output:
        result = compute_difficulty(resolved.dataset, args.text_column, args.label_column, args.text_pair_column,
                                    config=config, revision=args.revision, tokenizer=args.tokenizer,
                                    cache_dir=args.cache_dir, return_embeddings=args.embeddings,
                                    image_column=args.image_column, from_scratch=args.from_scratch)
        if output is not None:
            result.metadata["source_dataset"] = args.dataset
            write_result(result, output.staging)
    state.wait_for_everyone()
    if state.is_main_process:
        accuracy, _ = result.training_curve()
        logger.info("Scored %d examples over %d epoch(s) (training accuracy by epoch: %s); wrote %s (default score: "
                    "variability, higher = harder).", result.num_examples, result.arrays.num_epochs,
                    ", ".join(f"{100 * a:.1f}%" for a in accuracy), output.path)
    return 0
