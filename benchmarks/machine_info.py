"""The machine a benchmark ran on, for its JSON: platform, CPU model and count, memory, niceness and
the load average at the start (the 2-core VMs here are often shared; the load says how much)."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str | None:
    """The first ``model name`` of /proc/cpuinfo (None where there is none)."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), None)
    except OSError:
        return None


def machine(note: str) -> dict:
    """The machine's description, with ``note`` (what else ran, how to read the times)."""
    import psutil  # noqa: PLC0415

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_model": cpu_model(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "memory_gb": round(psutil.virtual_memory().total / 1e9, 1), "niceness": os.nice(0),
            "load_average_1m_at_start": round(os.getloadavg()[0], 2), "note": note}
