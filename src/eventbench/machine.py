"""What the machine offers this process: its CPU's model name and the cores it may run on.

Shared by the engine (:func:`eventbench.core.threads.default_threads`, the default thread
count) and the benchmark harness (the CPU in a result's provenance), which does not import the
engine.
"""

from __future__ import annotations

import functools
import os
import platform

__all__ = ["available_cores", "cpu_model"]


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` where the platform
    has no affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


@functools.cache
def cpu_model() -> str:
    """The processor's model name: the first ``model name`` of ``/proc/cpuinfo`` on Linux,
    ``platform.processor()`` elsewhere, the architecture when neither says more."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
