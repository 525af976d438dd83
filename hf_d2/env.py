"""The environment a run sees: is the Hub reachable, which device trains, what is printed. Probed
once per run.

``hub_offline_reason()`` checks offline mode (``offline_mode()``, the one switch behind
``--offline`` and ``offline=True``) and HF_HUB_OFFLINE / HF_DATASETS_OFFLINE / TRANSFORMERS_OFFLINE,
and only then makes one TCP connect to the endpoint (3 s), so an unreachable Hub costs seconds,
not the client's minute of retries. The answer is kept for the process (``reset_probes()``
forgets it, e.g. in tests). In offline mode nothing connects: the Hub libraries' own offline
switches are set too, before they are imported when the caller asks early enough (the CLI does).

``configure_output(quiet, verbose, debug)`` sets what a run prints: hf-d2's messages and progress
bars, and the libraries' (``hf-d2 --quiet / --verbose / --debug``; benchmarks call it too).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import socket
import sys
import warnings
from urllib.parse import urlparse

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
# The Hub libraries' offline flags, read from the environment when they are imported: (module, attribute).
LIBRARY_OFFLINE_FLAGS = (("huggingface_hub.constants", "HF_HUB_OFFLINE"), ("datasets.config", "HF_HUB_OFFLINE"),
                         ("datasets.config", "HF_DATASETS_OFFLINE"))
OFFLINE_REASON = "offline mode"  # what hub_offline_reason() says while offline_mode() is on
TRUE_VALUES = ("1", "ON", "YES", "TRUE")
PROGRESS_VARIABLE = "HF_D2_DISABLE_PROGRESS"  # set (e.g. by --quiet): hf-d2 draws no progress bars
PROBE_TIMEOUT_SECONDS = 3.0
WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")  # torchrun, MPI
LIBRARY_LOGGERS = ("datasets", "transformers", "sentence_transformers", "huggingface_hub", "accelerate", "torch",
                   "urllib3", "httpx", "filelock", "numba", "faiss")


_offline_depth = 0  # nesting depth of offline_mode() blocks (the CLI's --offline holds one for the whole run)


def hub_offline_reason() -> str | None:
    """Why the Hub cannot be used right now (None when it looks reachable). In offline mode, or
    with an offline variable set, nothing is probed."""
    if _offline_depth:
        return OFFLINE_REASON
    for variable in OFFLINE_VARIABLES:
        if os.environ.get(variable, "").upper() in TRUE_VALUES:
            return f"{variable}=1"
    return _probe_endpoint()


def why_offline(reason: str) -> str:
    """``hub_offline_reason()``'s answer as the end of a sentence: "offline mode", or "the Hub is
    not reachable (HF_HUB_OFFLINE=1)"."""
    return reason if reason == OFFLINE_REASON else f"the Hub is not reachable ({reason})"


def offline_requested() -> bool:
    """True inside ``offline_mode()`` (``--offline``, ``offline=True``)."""
    return _offline_depth > 0


@contextlib.contextmanager
def offline_mode(enabled: bool = True):
    """Offline for the duration of the block: no hf-d2 probe, and the Hub libraries (huggingface_hub,
    datasets, transformers, sentence-transformers) offline too. They read their switch from the
    environment when imported, so the variables are set for libraries imported inside the block,
    and the flags of those already imported are set; both are restored on exit. ``enabled=False``
    does nothing. The one switch behind ``--offline`` and ``offline=True``."""
    global _offline_depth
    if not enabled:
        yield
        return
    saved_environment = {variable: os.environ.get(variable) for variable in OFFLINE_VARIABLES}
    saved_flags = _library_flags()
    os.environ.update({variable: "1" for variable in OFFLINE_VARIABLES})
    _set_library_flags(dict.fromkeys(saved_flags, True))
    _offline_depth += 1
    try:
        yield
    finally:
        _offline_depth -= 1
        for variable, value in saved_environment.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value
        environment_says = any(os.environ.get(v, "").upper() in TRUE_VALUES for v in OFFLINE_VARIABLES[:2])
        # libraries imported inside the block took the offline environment: back to what theirs says now
        _set_library_flags({**dict.fromkeys(_library_flags(), environment_says), **saved_flags})


def _library_flags() -> dict[tuple[str, str], bool]:
    """The offline flags of the Hub libraries imported so far."""
    return {(module, name): getattr(sys.modules[module], name) for module, name in LIBRARY_OFFLINE_FLAGS
            if module in sys.modules and hasattr(sys.modules[module], name)}


def _set_library_flags(values: dict[tuple[str, str], bool]) -> None:
    for (module, name), value in values.items():
        setattr(sys.modules[module], name, value)


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
    import datasets  # noqa: F401, PLC0415 - imported so that its flags exist to be set
    import huggingface_hub.constants  # noqa: F401, PLC0415

    saved = _library_flags()
    _set_library_flags(dict.fromkeys(saved, True))
    try:
        yield
    finally:
        _set_library_flags(saved)


def device_kind() -> str:
    """"cuda" when torch sees a CUDA device, else "cpu"."""
    import torch  # noqa: PLC0415 - heavy

    return "cuda" if torch.cuda.is_available() else "cpu"


def num_processes() -> int:
    """The processes this run trains on: those of ``accelerate launch`` (1 otherwise), read from the
    environment the launcher sets, as Accelerate reads it, without starting Accelerate's state (the
    command starts it later, with its own settings)."""
    for variable in WORLD_SIZE_VARIABLES:
        if os.environ.get(variable, "").strip().isdigit():
            return max(1, int(os.environ[variable]))
    return 1


def release_process_group_at_exit() -> None:
    """Under ``accelerate launch`` / torchrun (more than one process), destroys the torch process
    group at interpreter exit if it is still open, while Python is fully alive. Without it, Gloo's
    worker threads are torn down during finalization and the process aborts (SIGABRT, "terminate
    called without an active exception") after a successful run, failing the whole launch. A group
    the caller already destroyed is left alone. Registered once, by ``import hf_d2``."""
    if num_processes() > 1:
        atexit.register(_destroy_process_group)


def _destroy_process_group() -> None:
    distributed = sys.modules.get("torch.distributed")  # never import torch at exit
    if distributed is not None and distributed.is_available() and distributed.is_initialized():
        with contextlib.suppress(Exception):  # exiting anyway: a group that cannot close must not mask the exit code
            distributed.destroy_process_group()


def package_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def silenced():
    """hf-d2's messages below ERROR are not shown inside the block: a step repeated with the
    same messages (a stream's peek plan, each seed's plan of an evaluation) says them once."""
    hf_d2_logger = logging.getLogger("hf_d2")
    level = hf_d2_logger.level
    hf_d2_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hf_d2_logger.setLevel(level)


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
