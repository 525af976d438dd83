"""Coreset fingerprints: does a refactoring leave every coreset of the bundled data bit-identical?

Prunes the bundled offline data through the public Python API (``hf_d2.prune_with_scores``,
``Dataset.d2_prune``, ``IterableDataset.d2_prune``, ``hf_d2.reselect``), with settings that cover the
pipeline's code paths (the default method at two rates, ccs, random, auto, the label partition,
near duplicates with the relative reverse pass, rate "auto", label-free, score and embedding
columns, images, a stream, a re-selection at another rate), and prints one JSON object per run:
the sha256 of its kept row ids, the sha256 of its selection record without timings
(``SelectionRecord.fingerprint_fields``), and the record's method and settings.

    python benchmarks/coreset_fingerprints.py                # print, and compare with the saved baseline
    python benchmarks/coreset_fingerprints.py --save         # write benchmarks/results/coreset_fingerprints.json

Exit status 1 when a run differs from the saved baseline. The stage cache lives in
``$HF_D2_CACHE`` (default: a folder under the system's temporary folder), so a second run reuses the
embeddings and the difficulty head's dynamics: about a minute warm on two busy cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_D2_DISABLE_PROGRESS", "1")
os.environ.setdefault("HF_D2_CACHE", str(Path(tempfile.gettempdir()) / "hf_d2_coreset_fingerprints_cache"))

RESULTS = Path(__file__).resolve().parent / "results" / "coreset_fingerprints.json"
SAMPLE = {"max_examples": 600, "sample_seed": 0}  # a seeded 600-row sample of Rotten Tomatoes' train split
# (name, dataset, rate, options) of the prunes that go through hf_d2.prune_with_scores(..., offline=True)
RUNS = [
    ("rt600-d2-rate0.3", "rotten_tomatoes", 0.3, {**SAMPLE}),
    ("rt600-d2-rate0.9", "rotten_tomatoes", 0.9, {**SAMPLE}),
    ("rt600-ccs", "rotten_tomatoes", 0.5, {**SAMPLE, "method": "ccs"}),
    ("rt600-random", "rotten_tomatoes", 0.5, {**SAMPLE, "method": "random"}),
    ("rt600-auto", "rotten_tomatoes", 0.5, {**SAMPLE, "method": "auto"}),
    ("rt600-partition-label", "rotten_tomatoes", 0.5, {**SAMPLE, "partition": "label"}),
    ("rt600-near-duplicates-relative", "rotten_tomatoes", 0.5, {**SAMPLE, "duplicates": "near",
                                                                 "reverse": "relative"}),
    ("rt600-rate-auto", "rotten_tomatoes", "auto", {**SAMPLE}),
    ("rt600-label-free", "rotten_tomatoes", 0.5, {**SAMPLE, "label_free": True}),
    ("rt600-prototypicality", "rotten_tomatoes", 0.5, {**SAMPLE, "difficulty_source": "prototypicality"}),
    ("rt600-kcenter-selection-seed", "rotten_tomatoes", 0.7, {**SAMPLE, "method": "kcenter", "selection_seed": 3}),
    ("imdb400-d2", "imdb", 0.5, {"max_examples": 400, "sample_seed": 1}),
    ("digits-d2", "digits", 0.5, {}),
]


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def record_fields(record) -> dict:
    """What determines the coreset (``SelectionRecord.fingerprint_fields``), minus the seconds that
    ``method="auto"``'s inner validation took (a wall-clock time that the record keeps there)."""
    fields = record.fingerprint_fields()
    (fields.get("auto") or {}).pop("seconds", None)
    (fields.get("rate_search") or {}).pop("seconds", None)
    return fields


def fingerprint(record) -> dict:
    """The hashes of a run's kept row ids and record, and its method and settings in clear."""
    fields = record_fields(record)
    if os.environ.get("FINGERPRINT_DUMP"):  # every record in full, one JSON line each, to diff two runs
        with open(os.environ["FINGERPRINT_DUMP"], "a") as dump:
            dump.write(json.dumps(fields, sort_keys=True, default=str) + "\n")
    return {"kept_row_ids_sha256": digest(list(record.kept_row_ids)), "num_kept": len(record.kept_row_ids),
            "record_sha256": digest(fields), "method": record.method,
            "auto_chose": (record.auto or {}).get("chosen"), "rate": record.rate, "partition": record.partition,
            "budget_allocation": record.budget_allocation, "num_strata": record.num_strata,
            "prefilter": record.prefilter, "method_params": record.method_params,
            "duplicates": (record.duplicates or {}).get("mode"), "label_free": record.label_free,
            "options": record.options}


def column_dataset():
    """600 rows with a score column and an embedding column (seeded random; no model runs) and a
    two-class label."""
    import datasets
    import numpy as np

    rng = np.random.default_rng(7)
    embeddings = rng.normal(size=(600, 16)).astype(np.float32)
    return datasets.Dataset.from_dict({"difficulty": rng.random(600), "emb": embeddings.tolist(),
                                       "label": rng.integers(0, 2, 600).tolist(), "id": list(range(600))})


def run_all() -> dict[str, dict]:
    import datasets

    import hf_d2
    from hf_d2.reselect import Selection, reselect

    results = {}
    for name, dataset, rate, options in RUNS:
        started = time.perf_counter()
        result = hf_d2.prune_with_scores(dataset, rate, offline=True, **options)
        results[name] = fingerprint(result.record)
        print(f"{name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        if name == "rt600-d2-rate0.3":
            first = result

    # the same prune through Dataset.d2_prune (a Dataset in hand, not a name)
    from hf_d2.data.loading import load_bundled_dataset

    started = time.perf_counter()
    rows = load_bundled_dataset("rotten_tomatoes").dataset
    pruned = rows.d2_prune(rate=0.3, offline=True, **SAMPLE)
    results["rt600-d2-rate0.3-d2_prune"] = fingerprint(hf_d2.selection_record(pruned))
    print(f"rt600-d2-rate0.3-d2_prune: {time.perf_counter() - started:.1f} s", file=sys.stderr)

    # re-selection from the first run's record and scores, at another rate (a prefix of its ranking or a re-run)
    plain = hf_d2.prune_with_scores("rotten_tomatoes", 0.3, offline=True, partition="none", prefilter=0.0, **SAMPLE)
    results["rt600-d2-plain-rate0.3"] = fingerprint(plain.record)
    again = reselect(Selection(record=plain.record, scores=plain.scores, location="memory"), 0.6, source=rows)
    results["rt600-reselect-rate0.6"] = fingerprint(again.record)
    same = reselect(Selection(record=first.record, scores=first.scores, location="memory"), None, source=rows)
    results["rt600-reselect-recorded-rate"] = fingerprint(same.record)

    # score and embedding columns: no model runs (what hf-d2 select does)
    columns = column_dataset()
    for method in ("d2", "ccs-d2", "moderate"):
        pruned = columns.d2_prune(rate=0.6, method=method, score_column="difficulty", embedding_column="emb",
                                  use_cache=False)
        results[f"columns-{method}"] = fingerprint(hf_d2.selection_record(pruned))
    reselected = reselect(Selection(record=hf_d2.selection_record(pruned), scores=None, location="memory"), None,
                          source=columns)
    results["columns-reselect-recorded-rate"] = fingerprint(reselected.record)

    # a stream: IterableDataset.d2_prune on the score and embedding columns
    stream = datasets.Dataset.to_iterable_dataset(columns, num_shards=1)
    kept = stream.d2_prune(rate=0.5, score_column="difficulty", embedding_column="emb", use_cache=False)
    results["columns-stream"] = fingerprint(hf_d2.selection_record(kept))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/coreset_fingerprints.json")
    args = parser.parse_args()
    from hf_d2.env import configure_output

    configure_output(quiet=True, verbose=False, debug=False)
    started = time.perf_counter()
    results = run_all()
    print(json.dumps(results, indent=2, sort_keys=True))
    print(f"{len(results)} runs in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.save:
        RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        print(f"saved {RESULTS}", file=sys.stderr)
        return 0
    if not RESULTS.exists():
        return 0
    saved = json.loads(RESULTS.read_text())
    differ = sorted(name for name in set(saved) | set(results) if saved.get(name) != results.get(name))
    for name in differ:
        print(f"DIFFERS: {name}\n  saved: {saved.get(name)}\n  now:   {results.get(name)}", file=sys.stderr)
    print("coresets bit-identical to the saved baseline" if not differ else f"{len(differ)} run(s) differ",
          file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
