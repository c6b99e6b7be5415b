"""Compiled CPU kernels of EventProp (Numba), selected by ``EventProp(backend=...)``.

:func:`available` says whether Numba can be imported; :func:`unsupported_reason` names the cases
that the kernels do not cover (the ``"auto"`` backend runs those on the torch path).
"""

from __future__ import annotations

import importlib.util

__all__ = ["available"]


def available() -> bool:
    """Whether the compiled CPU kernels can be used (Numba is installed)."""
    return importlib.util.find_spec("numba") is not None
