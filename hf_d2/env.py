"""The environment a run sees: is the Hub reachable, which device trains, what is printed. Probed
once per run.

``hub_offline_reason()`` checks HF_HUB_OFFLINE / HF_DATASETS_OFFLINE, then one TCP connect to
the endpoint (3 s), so an unreachable Hub costs seconds, not the client's minute of retries.
The answer is kept for the process (``reset_probes()`` forgets it, e.g. in tests).

``configure_output(quiet, verbose, debug)`` sets what a run prints: hf-d2's messages and progress
bars, and the libraries' (``hf-d2 --quiet / --verbose / --debug``; benchmarks call it too).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import warnings
from urllib.parse import urlparse

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
PROGRESS_VARIABLE = "HF_D2_DISABLE_PROGRESS"  # set (e.g. by --quiet): hf-d2 draws no progress bars
PROBE_TIMEOUT_SECONDS = 3.0
LIBRARY_LOGGERS = ("datasets", "transformers", "sentence_transformers", "huggingface_hub", "accelerate", "torch",
                   "urllib3", "httpx", "filelock", "numba", "faiss")


def hub_offline_reason() -> str | None:
    """Why the Hub cannot be used right now (None when it looks reachable)."""
    for variable in OFFLINE_VARIABLES:
        if os.environ.get(variable, "").upper() in ("1", "ON", "YES", "TRUE"):
            return f"{variable}=1"
    return _probe_endpoint()


@functools.lru_cache(maxsize=4)
def _probe_endpoint_for(endpoint: str) -> str | None:
    parsed = urlparse(endpoint)
    host, port = parsed.hostname or "huggingface.co", parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_SECONDS).close()
    except OSError as error:
        return f"{host} is unreachable ({error.strerror or error})"
    return None


def _probe_endpoint() -> str | None:
    from huggingface_hub import constants  # noqa: PLC0415 - huggingface_hub reads the environment at import

    return _probe_endpoint_for(os.environ.get("HF_ENDPOINT") or constants.ENDPOINT)


def reset_probes() -> None:
    """Forgets the cached reachability answer (the next call probes again)."""
    _probe_endpoint_for.cache_clear()


@contextlib.contextmanager
def forced_offline():
    """Offline mode for datasets and huggingface_hub for the duration of the block (they read
    the environment at import, so their flags are patched and restored)."""
    import datasets  # noqa: PLC0415
    from huggingface_hub import constants  # noqa: PLC0415

    saved = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


def device_kind() -> str:
    """"cuda" when torch sees a CUDA device, else "cpu"."""
    import torch  # noqa: PLC0415 - heavy

    return "cuda" if torch.cuda.is_available() else "cpu"


def package_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def progress_disabled() -> bool:
    """True when hf-d2's own progress bars are off (``PROGRESS_VARIABLE`` set to anything)."""
    return bool(os.environ.get(PROGRESS_VARIABLE))


def configure_output(quiet: bool, verbose: bool, debug: bool) -> None:
    """hf-d2's messages at INFO (only errors with ``quiet``). The libraries' load reports,
    progress bars and warnings only with ``verbose`` (or ``debug``); hf-d2's own progress bars
    unless ``quiet``."""
    loud = verbose or debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(message)s")
    logging.getLogger("hf_d2").setLevel(logging.ERROR if quiet else logging.DEBUG if debug else logging.INFO)
    if quiet:
        os.environ[PROGRESS_VARIABLE] = "1"
    if loud and not quiet:
        return
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    _silence_libraries()


def _silence_libraries() -> None:
    """The libraries keep their own verbosity switches; set them when they are importable."""
    try:
        import datasets  # noqa: PLC0415

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - datasets is a dependency
        pass
    try:
        import transformers  # noqa: PLC0415

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    try:
        from huggingface_hub.utils import disable_progress_bars  # noqa: PLC0415

        disable_progress_bars()
    except ImportError:  # pragma: no cover
        pass
