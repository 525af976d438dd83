"""``evaluate``: does a coreset train a better classifier than random (or CCS) at the same size?

``harness``: the methods × rates × seeds table; ``probe``: fast classifiers on frozen features;
``stats``: means with 95% intervals and paired differences.
"""

from hf_d2.evaluate.harness import *  # noqa: F401,F403
from hf_d2.evaluate.harness import (  # noqa: F401
    DEFAULT_HOLDOUT,
    DEFAULT_METHODS,
    DEFAULT_RATES,
    ClassifierSettings,
    EvaluationReport,
    evaluate,
    results_markdown,
)
