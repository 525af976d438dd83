"""Tiny, offline test material: a RoBERTa classifier built from a config (with the bundled
MiniLM's BERT tokenizer) and synthetic labelled text with a learnable signal."""

from __future__ import annotations

import random
from pathlib import Path

import datasets
import torch

from hf_d2.difficulty import bundled_minilm_path

FILLER = ["the", "a", "movie", "film", "plot", "actor", "scene", "story", "was", "is", "very", "quite", "rather"]


def keyword_rows(num_rows: int, flipped: set[int] = frozenset(), seed: int = 0) -> datasets.Dataset:
    """label 1 iff the sentence holds "great" (else "awful"); rows in ``flipped`` get the wrong label."""
    rng = random.Random(seed)
    rows = []
    for i in range(num_rows):
        label = i % 2
        words = [rng.choice(FILLER) for _ in range(8)]
        words.insert(rng.randrange(9), "great" if label else "awful")
        rows.append({"text": " ".join(words), "label": 1 - label if i in flipped else label})
    return datasets.Dataset.from_list(rows)


def pair_rows(num_rows: int, seed: int = 0) -> datasets.Dataset:
    """premise/hypothesis pairs, string labels: "entailment" iff the hypothesis repeats the
    premise's colour, else "contradiction"."""
    rng = random.Random(seed)
    colours = ["red", "blue", "green", "black"]
    rows = []
    for i in range(num_rows):
        colour = rng.choice(colours)
        other = colour if i % 2 else rng.choice([c for c in colours if c != colour])
        rows.append({
            "premise": f"the {colour} car is {rng.choice(FILLER)}",
            "hypothesis": f"a {other} car",
            "label": "entailment" if i % 2 else "contradiction",
        })
    return datasets.Dataset.from_list(rows)


def save_tiny_roberta(folder: Path, dropout: float = 0.1) -> str:
    from transformers import (
        AutoTokenizer,
        RobertaConfig,
        RobertaForSequenceClassification,
    )

    tokenizer = AutoTokenizer.from_pretrained(bundled_minilm_path())
    config = RobertaConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=160, type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id, hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout, num_labels=2,
    )
    torch.manual_seed(0)
    RobertaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


