"""Means with 95% confidence intervals over seeds, and paired differences.

A coreset method is compared with random on the SAME seeds and the SAME held-out rows, so the
honest statistic is the paired difference per seed (method − random), with a Student-t interval
over seeds: it removes the variance the two share (the held-out rows, the evaluation
classifier's initialisation) and keeps what differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """mean ± half_width over ``count`` values (a Student-t interval at ``confidence``).

    half_width is NaN with fewer than two values (no spread can be estimated).
    """

    mean: float
    half_width: float
    count: int
    confidence: float = CONFIDENCE

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of 0 (a difference that is not noise)."""
        return bool(np.isfinite(self.half_width) and (self.low > 0 or self.high < 0))

    def format(self, scale: float = 100.0, digits: int = 1, signed: bool = False) -> str:
        """"77.4 ± 0.6" (scaled, e.g. to %); "77.4" alone with one value (no "± 0.0")."""
        sign = "+" if signed else ""
        text = f"{scale * self.mean:{sign}.{digits}f}"
        return text if not np.isfinite(self.half_width) else f"{text} ± {scale * self.half_width:.{digits}f}"

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "half_width": self.half_width, "low": self.low, "high": self.high,
                "count": self.count, "confidence": self.confidence}


def t_quantile(probability: float, degrees_of_freedom: int) -> float:
    """The Student-t quantile (scipy, which scikit-learn already depends on)."""
    from scipy import stats  # noqa: PLC0415

    return float(stats.t.ppf(probability, degrees_of_freedom))


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean of ``values`` with its two-sided Student-t interval: mean ± t_{(1+c)/2, n−1} · s / √n,
    s the sample standard deviation (ddof 1)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"mean_interval needs a non-empty 1-D sequence of numbers; got shape {array.shape}.")
    if array.size == 1:
        return Interval(float(array[0]), float("nan"), 1, confidence)
    half = t_quantile((1.0 + confidence) / 2.0, array.size - 1) * array.std(ddof=1) / np.sqrt(array.size)
    return Interval(float(array.mean()), float(half), int(array.size), confidence)


def paired_difference(values: Mapping[int, float], baseline: Mapping[int, float],
                      confidence: float = CONFIDENCE) -> Interval | None:
    """The interval of (value − baseline) over the seeds both have; None when they share none.

    values / baseline: {seed: metric}. Pairs are matched by seed, never by position.
    """
    seeds = sorted(set(values) & set(baseline))
    if not seeds:
        return None
    return mean_interval([values[seed] - baseline[seed] for seed in seeds], confidence)
