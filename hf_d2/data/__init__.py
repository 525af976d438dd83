"""Data: loading (``loading``), name resolution and bundled copies (``names``), columns (text, or
images and captions) and text templates (``columns``), labels (``labels``)."""

from hf_d2.data.columns import (
    CHAT_TEMPLATE,
    RENDERED_TEXT_COLUMN,
    TextColumns,
    check_texts,
    empty_text_rows,
    infer_columns,
    render_chat,
    render_texts,
)
from hf_d2.data.labels import EncodedLabels, encode_labels, label_name
from hf_d2.data.loading import (
    BUNDLED_DATASETS,
    ResolvedDataset,
    arrow_column,
    column_as_matrix,
    column_as_vector,
    load_bundled_dataset,
    load_digits_dataset,
    load_local_dataset,
    pick_split,
    require_column,
)
from hf_d2.data.names import DATASET_ALIASES, resolve_dataset, split_name_and_config

__all__ = [
    "BUNDLED_DATASETS",
    "CHAT_TEMPLATE",
    "DATASET_ALIASES",
    "RENDERED_TEXT_COLUMN",
    "EncodedLabels",
    "ResolvedDataset",
    "TextColumns",
    "arrow_column",
    "check_texts",
    "column_as_matrix",
    "column_as_vector",
    "empty_text_rows",
    "encode_labels",
    "infer_columns",
    "label_name",
    "load_bundled_dataset",
    "load_digits_dataset",
    "load_local_dataset",
    "pick_split",
    "render_chat",
    "render_texts",
    "require_column",
    "resolve_dataset",
    "split_name_and_config",
]
