"""Shared small types of the benchmark harness (no torch-heavy logic here)."""

from __future__ import annotations

import warnings
from typing import Literal

Mode = Literal["exact", "neurobench"]
"""Counting rules.

``"exact"``: EventBench's corrected definitions (integer counts divided once by the samples
actually seen, MAC vs AC by declared encoding, recurrent layers supported).
``"neurobench"``: the numbers of the official NeuroBench 2.3.0 package, including its
MAC/AC-by-value rule and its batch-weighted means (see ``docs`` of each metric).
"""

MODES: tuple[Mode, ...] = ("exact", "neurobench")


class BenchWarning(UserWarning):
    """Warning raised by the harness when something cannot be measured as asked."""


def check_mode(mode: str) -> Mode:
    """Validate a mode string and return it typed."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    return mode


def warn(message: str) -> None:
    """Emit a :class:`BenchWarning` pointing at the caller of the harness."""
    warnings.warn(message, BenchWarning, stacklevel=3)
