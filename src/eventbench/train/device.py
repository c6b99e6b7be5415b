"""Where training and benchmarking run: ``--device cpu|cuda|cuda:N|auto``.

One function, :func:`resolve_device`, turns the user's text into a :class:`torch.device` and
checks that it exists here; the model is moved there once (:func:`eventbench.tasks.pipeline.build`)
and every batch follows the model's parameters (:func:`module_device`).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DEVICE_CHOICES", "DeviceError", "module_device", "resolve_device"]

DEVICE_CHOICES = "cpu, cuda, cuda:N or auto"


class DeviceError(ValueError):
    """The requested device does not exist on this machine (or the text names no device)."""


def resolve_device(text: str | None, flag: str = "--device") -> torch.device:
    """The device named by ``text``: ``cpu``, ``cuda`` (the current CUDA device), ``cuda:N``,
    or ``auto`` / ``None`` (CUDA when one is visible, else the CPU).

    >>> resolve_device("cpu")
    device(type='cpu')

    Raises:
        DeviceError: unknown text, no CUDA device, or ``N`` past the last CUDA device; the
            message names ``flag``.
    """
    choice = (text or "auto").strip().lower()
    if choice == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "cuda" or choice.startswith("cuda:"):
        index: int | None = None
        if choice != "cuda":
            tail = choice.split(":", 1)[1]
            if not tail.isdigit():
                raise DeviceError(f"{flag} {text}: the CUDA index must be a number (cuda:0, cuda:1, ...)")
            index = int(tail)
        if not torch.cuda.is_available():
            why = (
                "this torch build has no CUDA support"
                if torch.version.cuda is None
                else "no CUDA device is visible"
            )
            raise DeviceError(f"{flag} {text}: {why} (torch {torch.__version__}); use {flag} cpu or auto")
        count = torch.cuda.device_count()
        if index is not None and index >= count:
            raise DeviceError(f"{flag} {text}: only {count} CUDA device(s) here (cuda:0 to cuda:{count - 1})")
        return torch.device("cuda", index) if index is not None else torch.device("cuda")
    raise DeviceError(f"{flag} {text!r}: unknown device; use {DEVICE_CHOICES}")


def module_device(module: nn.Module) -> torch.device:
    """The device of the module's first parameter or buffer (the CPU for a module without
    tensors)."""
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    return torch.device("cpu")
