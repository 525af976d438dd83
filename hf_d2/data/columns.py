"""Which columns hold the text (or the image, and its caption) and the label, how a text is built
from several columns, and the checks on them (empty texts, labels).

Column inference, in order: an image (the one ``datasets.Image`` column, else a column named
image / img / image_path / ... whose values are image file paths) with an optional caption
(caption / text / alt_text / ...); a text pair by name (premise/hypothesis, ...), an instruction
or chat layout (instruction/input/output, prompt/response, messages, ...; rendered to one text by
a template), a single text by name (text, sentence, ...), the only string column. The label is
the one ``ClassLabel`` or a column named label / labels / ...; without one the run is
label-free. Every choice that was not given is announced in one log line.
"""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from hf_d2._validation import InvalidParameterError
from hf_d2.data.labels import infer_label_column
from hf_d2.data.loading import IMAGE_SUFFIXES, arrow_column, require_column

logger = logging.getLogger("hf_d2")

TEXT_PAIR_COLUMNS = (("premise", "hypothesis"), ("sentence1", "sentence2"), ("question1", "question2"),
                     ("question", "sentence"), ("question", "passage"), ("text_a", "text_b"), ("text1", "text2"))
TEXT_COLUMNS = ("text", "sentence", "review", "content", "document", "tweet", "comment", "utterance")
# Instruction / chat layouts: the columns that identify one, and the template that renders it.
INSTRUCTION_LAYOUTS = (
    (("instruction", "input", "output"), "{instruction}\n{input}\n{output}"),
    (("instruction", "output"), "{instruction}\n{output}"),
    (("instruction", "response"), "{instruction}\n{response}"),
    (("prompt", "response"), "{prompt}\n{response}"),
    (("prompt", "completion"), "{prompt}\n{completion}"),
    (("prompt", "chosen"), "{prompt}\n{chosen}"),
    (("question", "answer"), "{question}\n{answer}"),
    (("query", "response"), "{query}\n{response}"),
)
CHAT_COLUMNS = ("messages", "conversations", "conversation", "chat")
# Image columns by name (when no column has the datasets.Image feature: a column of file paths).
IMAGE_COLUMNS = ("image", "img", "images", "picture", "photo", "image_path", "image_file", "img_path", "file_name",
                 "filepath", "file_path", "path")
CAPTION_COLUMNS = ("caption", "text", "alt_text", "sentence", "title", "description", "prompt")
RENDERED_TEXT_COLUMN = "hf_d2_text"  # the column a template's text is written to (never the user's data)
CHAT_TEMPLATE = "chat"  # the text_template value meaning "render a list of messages"


@dataclass(frozen=True)
class TextColumns:
    """Which columns hold the model's inputs and the label.

    text: the column the stages read (``RENDERED_TEXT_COLUMN`` when the text is rendered from
    ``template``); for an image dataset, the caption (None: images only). label: None for a
    label-free run. text_pair: the second text of a pair. template: the template (a format string
    over column names, or ``"chat"``) that builds the text; source_columns: the columns it reads.
    image: the image column (a ``datasets.Image`` feature or image file paths; None for text).
    """

    text: str | None
    label: str | None = None
    text_pair: str | None = None
    template: str | None = None
    source_columns: tuple[str, ...] = ()
    image: str | None = None

    @property
    def modality(self) -> str:
        """"text", "image" or "image-text" (an image with a caption)."""
        if self.image is None:
            return "text"
        return "image" if self.text is None else "image-text"


def infer_columns(dataset: Any, text_column: str | None = None, text_pair_column: str | None = None,
                  label_column: str | None = None, *, text_template: str | Callable | None = None,
                  require_label: bool = True, image_column: str | None = None) -> TextColumns:
    """Finds the image (and its caption), or the text (or text pair, or a layout to render), and
    the label column; names given explicitly win and are checked. ``require_label=False`` allows
    a dataset without labels. ``image_column``: the image column (default: inferred)."""
    label = label_column or infer_label_column(dataset, required=require_label)
    if label is not None:
        require_column(dataset, label, "class labels", "label_column")
    image = image_column or _infer_image_column(dataset, exclude=(label, text_column, text_pair_column))
    if image is not None:
        return _image_columns(dataset, image, label, text_column, text_pair_column, text_template,
                              given=image_column is not None)
    if text_template is not None:
        if text_column is not None or text_pair_column is not None:
            raise InvalidParameterError("text_template", "{name} builds the text itself; drop {param:text_column} / "
                                        "{param:text_pair_column}, or the template.")
        return _templated(dataset, text_template, label)
    if text_column is not None:
        require_column(dataset, text_column, "text", "text_column")
        if text_pair_column is not None:
            require_column(dataset, text_pair_column, "second text of a pair", "text_pair_column")
        return TextColumns(text=text_column, label=label, text_pair=text_pair_column)
    if text_pair_column is not None:
        raise InvalidParameterError("text_pair_column", "{name} needs {param:text_column} too (the first text of the "
                                    "pair).")
    columns = set(dataset.column_names)
    for first, second in TEXT_PAIR_COLUMNS:
        if first in columns and second in columns:
            return _announce(TextColumns(text=first, label=label, text_pair=second))
    for names, template in INSTRUCTION_LAYOUTS:
        if all(name in columns for name in names):
            return _announce(_templated(dataset, template, label))
    for name in CHAT_COLUMNS:
        if name in columns and _is_chat_column(dataset, name):
            return _announce(TextColumns(text=RENDERED_TEXT_COLUMN, label=label, template=CHAT_TEMPLATE,
                                         source_columns=(name,)))
    for candidate in TEXT_COLUMNS:
        if candidate in columns:
            return TextColumns(text=candidate, label=label)
    string_columns = [name for name, feature in dataset.features.items()
                      if getattr(feature, "dtype", None) in ("string", "large_string") and name != label]
    if len(string_columns) == 1:
        return _announce(TextColumns(text=string_columns[0], label=label))
    if not string_columns:
        raise InvalidParameterError(
            "text_column", f"No text column found (columns: {', '.join(dataset.column_names)}); name it with {{set}}COLUMN, "
            "or build it with {param:text_template}.")
    raise InvalidParameterError(
        "text_column", f"Ambiguous text columns: {', '.join(string_columns)} all hold text; name the text with "
        "{set}COLUMN (and {param:text_pair_column} for a pair), or build it with {param:text_template}.")


def _infer_image_column(dataset: Any, exclude: tuple[str | None, ...] = ()) -> str | None:
    """The one ``datasets.Image`` column; else the first column named as in ``IMAGE_COLUMNS``
    whose first value is an image file path (not a URL); else None (a text dataset)."""
    import datasets  # noqa: PLC0415

    images = [name for name, feature in dataset.features.items() if isinstance(feature, datasets.Image)]
    if len(images) > 1:
        raise InvalidParameterError("image_column", f"Ambiguous image columns: {', '.join(images)} all hold images; pick "
                                    "one with {set}COLUMN.")
    if images:
        return images[0]
    for name in IMAGE_COLUMNS:
        feature = dataset.features.get(name)
        if name in exclude or getattr(feature, "dtype", None) not in ("string", "large_string") or not dataset.num_rows:
            continue
        first = next((value for value in arrow_column(dataset.select(range(min(dataset.num_rows, 50))), name).to_pylist()
                      if value), None)
        if isinstance(first, str) and first.lower().endswith(IMAGE_SUFFIXES) and "://" not in first:
            return name
    return None


def _image_columns(dataset: Any, image: str, label: str | None, text_column: str | None, text_pair_column: str | None,
                   text_template: str | Callable | None, *, given: bool) -> TextColumns:
    """An image dataset's columns: the image, and the caption when there is one (given, built by a
    template, or a column named as in ``CAPTION_COLUMNS``); announced in one log line."""
    import datasets  # noqa: PLC0415

    require_column(dataset, image, "images", "image_column")
    feature = dataset.features[image]
    is_paths = getattr(feature, "dtype", None) in ("string", "large_string")
    if not isinstance(feature, datasets.Image) and not is_paths:
        raise InvalidParameterError("image_column", f"Column '{image}' holds {feature} values, not images; name a column "
                                    "with the datasets.Image feature or with image file paths.")
    if text_pair_column is not None:
        raise InvalidParameterError("text_pair_column", "{name} pairs two texts; an image dataset takes one caption "
                                    "({param:text_column}).")
    if text_template is not None:
        caption = _templated(dataset, text_template, label)
    else:
        if text_column is not None:
            require_column(dataset, text_column, "captions", "text_column")
        name = text_column or next((candidate for candidate in CAPTION_COLUMNS if candidate in dataset.column_names
                                    and candidate not in (image, label)
                                    and getattr(dataset.features[candidate], "dtype", None) in ("string", "large_string")),
                                   None)
        caption = TextColumns(text=name, label=label) if name is not None else None
    columns = TextColumns(text=caption.text if caption else None, label=label,
                          template=caption.template if caption else None,
                          source_columns=caption.source_columns if caption else (), image=image)
    kind = "image file paths" if is_paths else "datasets.Image"
    caption = f"the template {columns.template!r}" if columns.template else f"column {columns.text}"
    captions = "" if columns.text is None else f"; captions: {caption}"
    if not given or columns.text is not None:
        logger.info("Images: column %s (%s)%s.", image, kind, captions)
    return columns


def _announce(columns: TextColumns) -> TextColumns:
    if columns.template is not None:
        logger.info("Text: rendered from %s with the template %r.", ", ".join(columns.source_columns), columns.template)
    else:
        logger.info("Text: column %s%s.", columns.text, f" paired with {columns.text_pair}" if columns.text_pair else "")
    return columns


def _templated(dataset: Any, template: str | Callable, label: str | None) -> TextColumns:
    if callable(template):
        return TextColumns(text=RENDERED_TEXT_COLUMN, label=label, template="<callable>",
                           source_columns=tuple(name for name in dataset.column_names if name != label))
    if template == CHAT_TEMPLATE:
        chat = [name for name in CHAT_COLUMNS if name in dataset.column_names]
        if not chat:
            raise InvalidParameterError(
                "text_template", f"{{name}} 'chat' renders a messages column ({', '.join(CHAT_COLUMNS)}); the columns "
                f"are: {', '.join(dataset.column_names)}.")
        return TextColumns(text=RENDERED_TEXT_COLUMN, label=label, template=CHAT_TEMPLATE, source_columns=(chat[0],))
    try:
        names = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as error:
        raise InvalidParameterError("text_template", f"{{name}} {template!r} is not a valid template ({error}); write "
                                    "column names in braces, e.g. '{instruction}\\n{output}'.") from None
    if not names:
        raise InvalidParameterError("text_template", f"{{name}} {template!r} names no column; write column names in "
                                    "braces, e.g. '{instruction}\\n{output}'.")
    missing = [name for name in names if name not in dataset.column_names]
    if missing:
        raise InvalidParameterError("text_template", f"{{name}} names column(s) {', '.join(missing)} that the dataset "
                                    f"does not have; its columns are: {', '.join(dataset.column_names)}.")
    return TextColumns(text=RENDERED_TEXT_COLUMN, label=label, template=template, source_columns=tuple(dict.fromkeys(names)))


def render_chat(messages: Any) -> str:
    """A list of messages as text: one "role: content" line per message (ShareGPT's from/value
    too). Roles are kept, so a user turn and an assistant turn with the same words differ."""
    if not messages:
        return ""
    lines = []
    for message in messages:
        if isinstance(message, dict):
            role = message.get("role", message.get("from", ""))
            content = message.get("content", message.get("value", ""))
            lines.append(f"{role}: {'' if content is None else content}" if role else str(content or ""))
        else:
            lines.append(str(message))
    return "\n".join(lines)


def render_texts(dataset: Any, columns: TextColumns, template: str | Callable | None = None) -> list[str | None]:
    """The text of every row as the stages see it: the text column, or the rendered template
    (a missing value renders as an empty string; a row whose columns are all missing is None)."""
    if columns.template is None:
        return list(arrow_column(dataset, columns.text).to_pylist())
    if columns.template == CHAT_TEMPLATE:
        return [render_chat(messages) for messages in arrow_column(dataset, columns.source_columns[0]).to_pylist()]
    values = {name: arrow_column(dataset, name).to_pylist() for name in columns.source_columns}
    texts = []
    for position in range(dataset.num_rows):
        row = {name: values[name][position] for name in columns.source_columns}
        if all(value is None for value in row.values()):
            texts.append(None)
        elif callable(template):
            texts.append(template(row))
        else:
            texts.append(columns.template.format(**{key: "" if value is None else value for key, value in row.items()}))
    return texts


def empty_text_rows(texts: list[Any]) -> np.ndarray:
    """(m,) int64 positions whose text is None, not a string, empty or only whitespace."""
    return np.array([position for position, text in enumerate(texts)
                     if not isinstance(text, str) or not text.strip()], dtype=np.int64)


def check_texts(texts: list[Any], column: str, *, drop_empty: bool) -> np.ndarray:
    """Positions of the rows to keep. Without ``drop_empty`` any missing, empty or
    whitespace-only text is an error naming the column, the first rows and the fix."""
    empty = empty_text_rows(texts)
    if empty.size and not drop_empty:
        preview = ", ".join(str(int(row)) for row in empty[:5]) + (", ..." if empty.size > 5 else "")
        raise InvalidParameterError(
            "drop_empty", f"Column '{column}' has {empty.size} missing, empty or whitespace-only text(s) (rows "
            f"{preview}); fill them, or pass {{on}} to drop those rows.")
    keep = np.ones(len(texts), dtype=bool)
    keep[empty] = False
    if empty.size:
        logger.info("Dropped %d row(s) with an empty text in column %s (--drop-empty).", empty.size, column)
    return np.flatnonzero(keep).astype(np.int64)


def _is_chat_column(dataset: Any, name: str) -> bool:
    feature = dataset.features[name]
    inner = getattr(feature, "feature", None)
    if isinstance(feature, list) and feature:
        inner = feature[0]
    return isinstance(inner, dict) and bool({"role", "content", "from", "value"} & set(inner))
