"""Overhead of recording training dynamics (not a test: it prints figures and saves JSON).

Times one training epoch of the difficulty stage's own Accelerate loop (``train_epoch``) with
recording on (pre-update logits gathered, turned into the dynamics columns and streamed to
Parquet) and off (the same loop, same batches, no recording), alternating the two, and reports
the median of ``--repeats`` runs of each. Every run starts from the same initial weights and
optimizer state. Model load and tokenization are outside the timed region.

On a shared machine the A/B difference is at the mercy of other load, so the recorded runs also
time the recording call itself inside the loop (``_record_step`` plus closing the Parquet file)
and report it as a fraction of the rest of the epoch: the in-loop overhead, robust to drift.

    python benchmarks/dynamics_overhead.py                        # tiny-ish RoBERTa, ~2 minutes on 2 cores
    python benchmarks/dynamics_overhead.py --model bundled-minilm # all-MiniLM-L6-v2 (22M parameters)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_D2_DISABLE_PROGRESS", "1")

import datasets
import torch

from hf_d2.difficulty import recorder
from hf_d2.difficulty.api import tokenize_dataset
from hf_d2.difficulty.dynamics import DynamicsWriter
from hf_d2.difficulty.recorder import TrainingConfig, build_training_state, train_epoch
from hf_d2.models import bundled_minilm_path, resolve_model_name

RESULTS = Path(__file__).parent / "results" / "dynamics_overhead.json"
WORDS = ["the", "a", "movie", "film", "plot", "actor", "scene", "story", "was", "is", "very", "quite", "rather",
         "good", "bad", "long", "short", "director", "music", "ending", "dialogue", "cast", "camera"]


def synthetic_reviews(num_rows: int, words_per_row: int, seed: int = 0) -> datasets.Dataset:
    rng = random.Random(seed)
    rows = []
    for i in range(num_rows):
        words = [rng.choice(WORDS) for _ in range(words_per_row)]
        words.insert(rng.randrange(words_per_row), "great" if i % 2 else "awful")
        rows.append({"text": " ".join(words), "label": i % 2})
    return datasets.Dataset.from_list(rows)


def build_model(name: str, num_labels: int):
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        RobertaConfig,
        RobertaForSequenceClassification,
    )

    tokenizer = AutoTokenizer.from_pretrained(bundled_minilm_path())
    if name == "tiny-roberta":
        config = RobertaConfig(
            vocab_size=tokenizer.vocab_size, hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
            intermediate_size=512, max_position_embeddings=160, type_vocab_size=2,
            pad_token_id=tokenizer.pad_token_id, num_labels=num_labels,
        )
        torch.manual_seed(0)
        return RobertaForSequenceClassification(config), tokenizer
    path = resolve_model_name(name)
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels), AutoTokenizer.from_pretrained(path)


class TimedRecordStep:
    """Wraps ``recorder._record_step`` and adds up the seconds spent in it."""

    def __init__(self) -> None:
        self.original = recorder._record_step
        self.seconds = 0.0

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.original(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def time_epoch(accelerator, model, tokenized, tokenizer, config, record: bool, workdir: Path) -> tuple[float, float]:
    """(epoch seconds, seconds spent recording) for one epoch from fresh copies of the model
    (optimizer and schedule rebuilt)."""
    state = build_training_state(accelerator, copy.deepcopy(model), tokenized, tokenizer, 2, config)
    writer = DynamicsWriter(workdir / f"epoch_{time.perf_counter_ns()}.parquet", 2) if record else None
    timer = TimedRecordStep()
    recorder._record_step = timer
    try:
        started = time.perf_counter()
        train_epoch(state, 0, writer, record=record)
        if writer is not None:
            closing = time.perf_counter()
            writer.close()
            timer.seconds += time.perf_counter() - closing
        elapsed = time.perf_counter() - started
    finally:
        recorder._record_step = timer.original
    accelerator.free_memory()
    return elapsed, timer.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-roberta", help="tiny-roberta, bundled-minilm, or an id/path")
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--words", type=int, default=40, help="words per synthetic example")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)

    from accelerate import Accelerator

    accelerator = Accelerator()
    model, tokenizer = build_model(args.model, 2)
    dataset = synthetic_reviews(args.rows, args.words)
    labels = torch.tensor(dataset["label"]).numpy()
    tokenized = tokenize_dataset(dataset, tokenizer, "text", None, labels, 128)
    config = TrainingConfig(epochs=1, batch_size=args.batch_size, learning_rate=5e-5)
    timings: dict[str, list[float]] = {"record": [], "no_record": []}
    in_loop: list[float] = []
    with tempfile.TemporaryDirectory() as workdir:
        time_epoch(accelerator, model, tokenized, tokenizer, config, False, Path(workdir))  # warm-up
        for repeat in range(args.repeats):
            order = (True, False) if repeat % 2 == 0 else (False, True)
            for record in order:
                seconds, recording = time_epoch(accelerator, model, tokenized, tokenizer, config, record, Path(workdir))
                timings["record" if record else "no_record"].append(seconds)
                if record:
                    in_loop.append(recording / (seconds - recording))
                print(f"  repeat {repeat + 1}: {'record   ' if record else 'no record'} {seconds:7.3f} s"
                      + (f"  (recording {recording:.3f} s)" if record else ""), flush=True)
    median_record = statistics.median(timings["record"])
    median_plain = statistics.median(timings["no_record"])
    overhead = (median_record - median_plain) / median_plain
    in_loop_overhead = statistics.median(in_loop)
    num_params = sum(p.numel() for p in model.parameters())
    report = {
        "benchmark": "dynamics_overhead",
        "model": args.model,
        "parameters": num_params,
        "rows": args.rows,
        "mean_tokens_per_row": round(sum(map(len, tokenized["input_ids"])) / len(tokenized), 1),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "seconds_record": timings["record"],
        "seconds_no_record": timings["no_record"],
        "median_seconds_record": round(median_record, 4),
        "median_seconds_no_record": round(median_plain, 4),
        "examples_per_second_record": round(args.rows / median_record, 1),
        "overhead_fraction_ab": round(overhead, 4),
        "overhead_fraction_in_loop": round(in_loop_overhead, 5),
        "overhead_fraction_in_loop_runs": [round(x, 5) for x in in_loop],
        "target_overhead_fraction": 0.05,
        "device": str(accelerator.device),
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    print(
        f"{args.model} ({num_params / 1e6:.1f}M parameters), {args.rows} rows x "
        f"{report['mean_tokens_per_row']} tokens, batch {args.batch_size}, median of {args.repeats}:\n"
        f"  with recording    {median_record:.3f} s/epoch ({report['examples_per_second_record']} examples/s)\n"
        f"  without recording {median_plain:.3f} s/epoch\n"
        f"  overhead (A/B of medians)        {100 * overhead:+.2f}%\n"
        f"  overhead (in-loop, median)       {100 * in_loop_overhead:+.3f}% (target <= 5%)"
    )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
