"""Probe classifiers: fast learners that judge a coreset in seconds instead of a fine-tuning.

Each probe trains on the coreset only and predicts held-out rows:

- ``logistic`` (default): scikit-learn logistic regression (L2, C = 1, lbfgs) on the frozen
  embeddings of the embed stage. Deterministic.
- ``mlp``: a one-hidden-layer network on the same embeddings, trained by
  ``hf_d2.difficulty.head.fit_head`` (the trainer of the head difficulty, with the probe's own
  settings), seeded.
- ``tfidf``: logistic regression (C = 10, the saga solver) on word uni- and bi-gram TF-IDF features of the raw
  texts. It shares nothing with the embeddings that the selection saw, so it checks that a
  coreset is good for more than one view of the data. The vocabulary and idf weights are fitted
  once on the texts of the whole pool (``tfidf_features``; no labels are read), so every
  coreset is judged in the same feature space; without precomputed features they are fitted on
  the coreset.

Metrics come from scikit-learn: accuracy and macro-F1, in [0, 1].
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from hf_d2._validation import check_choice
from hf_d2.difficulty.head import HeadConfig, fit_head

PROBES = ("logistic", "mlp", "tfidf")
DEFAULT_PROBE = "logistic"
LOGISTIC_C = 1.0
TFIDF_C = 10.0
MLP_PROBE = HeadConfig(epochs=30, hidden_size=256, learning_rate=1e-3, batch_size=64, weight_decay=1e-4)


@dataclass(frozen=True)
class ProbeInputs:
    """What the probes read for a set of rows: ``features`` (n, d) float32 frozen embeddings,
    ``texts`` (n,) str, and ``tfidf`` an (n, V) sparse TF-IDF matrix from ``tfidf_features``
    (texts or tfidf are read by the ``tfidf`` probe; None when unused)."""

    features: np.ndarray | None
    texts: Sequence[str] | None = None
    tfidf: Any = None

    def take(self, positions: np.ndarray) -> ProbeInputs:
        texts = None if self.texts is None else [self.texts[int(i)] for i in positions]
        return ProbeInputs(None if self.features is None else self.features[positions], texts,
                           None if self.tfidf is None else self.tfidf[positions])


def tfidf_features(pool_texts: Sequence[str], other_texts: Sequence[str]) -> tuple[Any, Any]:
    """(pool, other) sparse TF-IDF matrices, the vocabulary and idf fitted on the pool texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2 if len(pool_texts) >= 50 else 1, sublinear_tf=True)
    return vectorizer.fit_transform(pool_texts), vectorizer.transform(other_texts)


def classification_metrics(true_labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """accuracy and macro-F1 (scikit-learn, in [0, 1]) of (n,) integer predictions."""
    from sklearn.metrics import accuracy_score, f1_score  # noqa: PLC0415

    true_labels, predicted = np.asarray(true_labels), np.asarray(predicted)
    if true_labels.shape != predicted.shape or true_labels.size == 0:
        raise ValueError(f"Need equal-length non-empty label arrays; got {true_labels.shape} and {predicted.shape}.")
    return {"accuracy": float(accuracy_score(true_labels, predicted)),
            "macro_f1": float(f1_score(true_labels, predicted, average="macro"))}


def probe_predict(kind: str, train: ProbeInputs, train_labels: np.ndarray, test: ProbeInputs, *,
                  num_labels: int, seed: int = 0) -> np.ndarray:
    """Trains probe ``kind`` on (train, train_labels) and returns (m,) int64 predictions for ``test``."""
    check_choice("classifier", kind, PROBES)
    train_labels = np.asarray(train_labels, dtype=np.int64)
    if np.unique(train_labels).size < 2:  # one class: every learner predicts it
        return np.full(_num_rows(test), int(train_labels[0]), dtype=np.int64)
    if kind == "mlp":
        config = HeadConfig(**{**MLP_PROBE.as_dict(), "seed": int(seed)})
        logits = fit_head(train.features, train_labels, config, num_labels)(test.features)
        return logits.argmax(axis=1).astype(np.int64)
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    if kind == "logistic":
        model = LogisticRegression(C=LOGISTIC_C, max_iter=2000).fit(train.features, train_labels)
        return model.predict(test.features).astype(np.int64)
    if train.tfidf is not None and test.tfidf is not None:
        train_matrix, test_matrix = train.tfidf, test.tfidf
    elif train.texts is None or test.texts is None:
        raise ValueError("The 'tfidf' classifier reads the texts; pass texts for the training and held-out rows.")
    else:
        train_matrix, test_matrix = tfidf_features(train.texts, test.texts)
    # saga: the same L2-regularised objective as lbfgs, solved to the same tolerance (1e-4), several
    # times faster on sparse multi-class features (10 classes: 3 s against 25 s on 5,000 docstrings)
    model = LogisticRegression(C=TFIDF_C, solver="saga", max_iter=1000, random_state=0).fit(train_matrix, train_labels)
    return model.predict(test_matrix).astype(np.int64)


def probe_scores(kind: str, train: ProbeInputs, train_labels: np.ndarray, test: ProbeInputs,
                 test_labels: np.ndarray, *, num_labels: int, seed: int = 0) -> dict[str, Any]:
    """Trains probe ``kind`` and scores it: accuracy, macro_f1, num_train, train_seconds, and
    ``predictions`` ((m,) int64, for any further metric)."""
    started = time.perf_counter()
    predicted = probe_predict(kind, train, train_labels, test, num_labels=num_labels, seed=seed)
    return {**classification_metrics(test_labels, predicted), "num_train": int(len(train_labels)),
            "train_seconds": round(time.perf_counter() - started, 3), "predictions": predicted}


def load_metric(name_or_path: str) -> Any:
    """An ``evaluate`` metric by name (from the Hub, or its cache) or by a local path (a metric
    script or its folder: works offline); a clear one-line error when it cannot be loaded."""
    try:
        import evaluate  # noqa: PLC0415 - the Hugging Face evaluate library
    except ImportError:
        raise ValueError("--metric needs the evaluate library: pip install 'hf-d2[metrics]' (or pip install "
                         "evaluate).") from None
    try:
        return evaluate.load(name_or_path)
    except Exception as error:  # noqa: BLE001 - evaluate raises many kinds; one line for all
        raise ValueError(f"Cannot load the metric {name_or_path!r} ({type(error).__name__}: "
                         f"{' '.join(str(error).split())[:200]}); pass a metric name the Hub knows, or a local metric "
                         "script or folder.") from None


def metric_values(metric: Any, predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
    """The numeric results of an ``evaluate`` metric, keyed ``metric_<name>``."""
    result = metric.compute(predictions=np.asarray(predictions).tolist(), references=np.asarray(references).tolist())
    return {f"metric_{key}": float(value) for key, value in (result or {}).items()
            if isinstance(value, (int, float, np.integer, np.floating))}


def _num_rows(inputs: ProbeInputs) -> int:
    if inputs.features is not None:
        return int(inputs.features.shape[0])
    return int(inputs.tfidf.shape[0]) if inputs.tfidf is not None else len(inputs.texts)
