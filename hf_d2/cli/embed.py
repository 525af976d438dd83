"""``hf-d2 embed``: the embedding stage on its own (sentence-transformers, cached).

Writes ``embeddings.npy`` ((n, d) float32, row i = dataset row i) and ``metadata.json`` (model id
and revision, dimensions, parameters, cache key); with ``--add-column NAME`` also the dataset
with the vectors as a column (``save_to_disk`` under ``dataset/``), ready for ``hf-d2 select
--embedding-column NAME``. Runs data-parallel under ``accelerate launch``; only the main process
writes.
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
        "embed", help="embed every example with a sentence-transformers model (the embedding stage alone)",
        description="Embeds every row of DATASET (default model sentence-transformers/all-MiniLM-L6-v2; the bundled "
        "copy offline), L2-normalised, cached like hf-d2 prune's stage. Writes embeddings.npy ((n, d) float32, row i = "
        "row i), metadata.json and, with --add-column NAME, dataset/ (save_to_disk) with the vectors as column NAME. "
        "A text pair is embedded as 'first <sep> second'.")
    parser.add_argument("dataset", help="Hub id, repo:config, local file or folder, or bundled rotten_tomatoes / imdb")
    parser.add_argument("--config", help="dataset config (or write repo:config)")
    parser.add_argument("--split", help="split (default: train)")
    parser.add_argument("--text-column", help="column with the (first) text (default: inferred)")
    parser.add_argument("--text-pair-column", help="second text of a pair, e.g. the hypothesis (default: inferred)")
    parser.add_argument("--text-template", help="build the text from several columns, e.g. '{instruction}\\n{output}'")
    parser.add_argument("--no-normalize", dest="normalize", action="store_false",
                        help="keep the model's raw vectors (default: unit L2 norm)")
    parser.add_argument("--add-column", metavar="NAME", help="also write dataset/ with the vectors as column NAME")
    parser.add_argument("--cache-dir", help="stage cache (default $HF_D2_CACHE or ~/.cache/hf_d2)")
    parser.add_argument("--offline", action="store_true", help="never contact the Hub (bundled data and models)")
    parser.add_argument("--output", required=True, help="folder for the outputs (must be new or an earlier output)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier hf-d2 embed output")
    names = add_groups(parser, ("embedding",), exclude=("embedding_source",))
    parser.set_defaults(func=run, option_names=names)
    return parser


def run(args: argparse.Namespace) -> int:
    from hf_d2.env import offline_mode  # noqa: PLC0415

    with offline_mode(bool(args.offline)):  # nothing connects; the default model is the bundled one
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    import numpy as np  # noqa: PLC0415
    from accelerate import PartialState  # noqa: PLC0415

    from hf_d2._io import write_json  # noqa: PLC0415
    from hf_d2.data.columns import infer_columns, render_texts  # noqa: PLC0415
    from hf_d2.data.names import resolve_dataset  # noqa: PLC0415
    from hf_d2.embed import EMBEDDING_PARAMS, compute_embeddings  # noqa: PLC0415

    options = {**EMBEDDING_PARAMS.defaults(), **given_options(args, args.option_names)}
    resolved = resolve_dataset(args.dataset, args.config, args.split, offline=args.offline)
    dataset = resolved.dataset
    if args.add_column and args.add_column in dataset.column_names:
        raise ValueError(f"The dataset already has a column '{args.add_column}'; pass another --add-column name.")
    columns = infer_columns(dataset, args.text_column, args.text_pair_column, None, text_template=args.text_template,
                            require_label=False)
    rows = dataset if columns.template is None else dataset.add_column(columns.text, render_texts(dataset, columns))
    protect = [path for path in (resolved.source.get("path"), cache_root(args.cache_dir)) if path]
    state = PartialState()
    with output_folder(args.output, kind="embed", overwrite=args.overwrite, protect=protect,
                       enabled=state.is_main_process) as output:
        if columns.image is not None:  # images: hf_d2.vision's encoders (CLIP, ViT / ResNet, pixels)
            from hf_d2.vision import embed_images  # noqa: PLC0415

            result = embed_images(rows, columns.image, model=options["embedding_model"],
                                  batch_size=options["embedding_batch_size"], normalize=args.normalize,
                                  cache_dir=args.cache_dir)
        else:
            result = compute_embeddings(rows, columns.text, columns.text_pair, model=options["embedding_model"],
                                        batch_size=options["embedding_batch_size"],
                                        max_length=options["embedding_max_length"], normalize=args.normalize,
                                        cache_dir=args.cache_dir)
        if output is None:
            return 0
        metadata = {**result.metadata, "source": {key: value for key, value in resolved.source.items()
                                                  if isinstance(value, (str, int, float, bool, type(None)))},
                    "text_column": columns.text, "text_pair_column": columns.text_pair, "image_column": columns.image,
                    "text_template": columns.template, "from_cache": result.from_cache}
        np.save(output.staging / "embeddings.npy", result.embeddings)
        write_json(output.staging / "metadata.json", metadata)
        if args.add_column:
            dataset.add_column(args.add_column, list(result.embeddings)).save_to_disk(str(output.staging / "dataset"))
    logger.info("Embedded %d rows (%d dimensions, %s); wrote %s", result.embeddings.shape[0],
                result.embeddings.shape[1], "cache hit" if result.from_cache else "computed", output.path)
    return 0
