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

logger = logging.getLogger("hf_d2")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "embed",
        help="embed every example with a sentence-transformers model (the embedding stage alone)",
        description=(
            "Embeds every row of DATASET (default model sentence-transformers/all-MiniLM-L6-v2; the bundled copy "
            "offline), L2-normalised, cached like hf-d2 prune's stage. Writes embeddings.npy ((n, d) float32, row i = "
            "row i), metadata.json and, with --add-column NAME, dataset/ (save_to_disk) with the vectors as column NAME. "
            "A text pair is embedded as 'first <sep> second'."
        ),
    )
    parser.add_argument("dataset", help="Hub id, repo:config, local file or folder, or bundled rotten_tomatoes / imdb")
    parser.add_argument("--config", help="dataset config (or write repo:config)")
    parser.add_argument("--split", help="split (default: train)")
    parser.add_argument("--text-column", help="column with the (first) text (default: inferred)")
    parser.add_argument("--text-pair-column", help="second text of a pair, e.g. the hypothesis (default: inferred)")
    parser.add_argument("--embedding-model", help="sentence-transformers id or folder (default all-MiniLM-L6-v2)")
    parser.add_argument("--batch-size", type=int, default=64, help="inputs per batch (default 64)")
    parser.add_argument("--max-length", type=int, default=256, help="tokens per input (default 256)")
    parser.add_argument("--no-normalize", dest="normalize", action="store_false",
                        help="keep the model's raw vectors (default: unit L2 norm)")
    parser.add_argument("--add-column", metavar="NAME", help="also write dataset/ with the vectors as column NAME")
    parser.add_argument("--cache-dir", help="stage cache (default $HF_D2_CACHE or ~/.cache/hf_d2)")
    parser.add_argument("--offline", action="store_true", help="never contact the Hub (bundled data and models)")
    parser.add_argument("--output", required=True, help="folder for the outputs (must be empty or new)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np  # noqa: PLC0415

    from hf_d2._io import check_output_dir, write_json, write_output_dir  # noqa: PLC0415
    from hf_d2.data import resolve_dataset  # noqa: PLC0415
    from hf_d2.embed import _is_main_process, compute_embeddings  # noqa: PLC0415

    output = check_output_dir(args.output, args.overwrite)  # fail before embedding, not after
    resolved = resolve_dataset(args.dataset, args.config, args.split, offline=args.offline)
    dataset = resolved.dataset
    if args.add_column and args.add_column in dataset.column_names:
        raise ValueError(f"The dataset already has a column '{args.add_column}'; pass another --add-column name.")
    text_column, text_pair_column = _text_columns(dataset, args.text_column, args.text_pair_column)
    result = compute_embeddings(dataset, text_column, text_pair_column, model=args.embedding_model,
                                batch_size=args.batch_size, max_length=args.max_length, normalize=args.normalize,
                                cache_dir=args.cache_dir)
    if not _is_main_process():
        return 0
    metadata = {**result.metadata, "source": {key: value for key, value in resolved.source.items()
                                              if isinstance(value, (str, int, float, bool, type(None)))},
                "text_column": text_column, "text_pair_column": text_pair_column, "from_cache": result.from_cache}

    def write(folder):
        np.save(folder / "embeddings.npy", result.embeddings)
        write_json(folder / "metadata.json", metadata)
        if args.add_column:
            dataset.add_column(args.add_column, list(result.embeddings)).save_to_disk(str(folder / "dataset"))

    write_output_dir(output, write)
    logger.info("Embedded %d rows (%d dimensions, %s); wrote %s", result.embeddings.shape[0],
                result.embeddings.shape[1], "cache hit" if result.from_cache else "computed", output)
    return 0


def _text_columns(dataset, text_column: str | None, text_pair_column: str | None) -> tuple[str, str | None]:
    """The text (and pair) columns: as given, or inferred as hf-d2 prune infers them."""
    from hf_d2.data import infer_columns, require_column  # noqa: PLC0415

    if text_column is not None:
        require_column(dataset, text_column, "text", "--text-column")
        if text_pair_column is not None:
            require_column(dataset, text_pair_column, "second text of a pair", "--text-pair-column")
        return text_column, text_pair_column
    try:
        columns = infer_columns(dataset, None, text_pair_column, None)
    except ValueError as error:
        raise ValueError(f"{str(error).rstrip('.')}; or name the text with --text-column.") from None
    return columns.text, columns.text_pair
