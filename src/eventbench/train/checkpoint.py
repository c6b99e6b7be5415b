"""Checkpoints: model and optimiser state dicts, the network description, schedule, epoch,
history and RNG states, written atomically (temporary file, then ``os.replace``).

A checkpoint records a *model description* (a plain dictionary: the SNN's
:class:`~eventbench.core.NetworkSpec` as nested dictionaries, or a baseline's constructor
arguments). Loading it into a model with another description raises
:class:`CheckpointMismatchError` with a one-line message naming the first difference.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "CheckpointMismatchError",
    "describe",
    "first_difference",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_VERSION = 1
"""Layout version of the checkpoint dictionary."""


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be used (missing, unreadable, wrong layout)."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint belongs to another network than the one it is loaded into."""


def describe(obj: Any) -> Any:
    """A plain, comparable description of a (nested) dataclass: dictionaries, lists and scalars.

    >>> from eventbench.core import LayerSpec
    >>> describe(LayerSpec(3))["size"]
    3
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"__type__": type(obj).__name__}
        for f in dataclasses.fields(obj):
            out[f.name] = describe(getattr(obj, f.name))
        return out
    if isinstance(obj, (list, tuple)):
        return [describe(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): describe(v) for k, v in obj.items()}
    return obj


def first_difference(expected: Any, found: Any, path: str = "") -> str | None:
    """Dotted path and values of the first difference between two descriptions, or ``None``."""
    if isinstance(expected, dict) and isinstance(found, dict):
        for key in sorted(set(expected) | set(found)):
            sub = f"{path}.{key}" if path else key
            if key not in expected or key not in found:
                return f"{sub} present in only one of them"
            diff = first_difference(expected[key], found[key], sub)
            if diff is not None:
                return diff
        return None
    if isinstance(expected, list) and isinstance(found, list):
        if len(expected) != len(found):
            return f"{path or '<root>'} has {len(found)} entries, the network has {len(expected)}"
        for i, (a, b) in enumerate(zip(expected, found, strict=True)):
            diff = first_difference(a, b, f"{path}[{i}]")
            if diff is not None:
                return diff
        return None
    if expected != found:
        return f"{path or '<root>'} = {found!r} in the checkpoint, {expected!r} in the network"
    return None


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus the layout version) with ``torch.save`` atomically.

    The data goes to a temporary file in the same folder, is flushed and synced, then renamed
    over ``path``; an interruption leaves either the old file or the new one, never a torn one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = {"checkpoint_version": CHECKPOINT_VERSION, **payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _load_failure(path: Path, exc: BaseException) -> str:
    """A short reason why ``torch.load(weights_only=True)`` refused a file. Torch's own text
    for files with arbitrary Python objects advises turning the safe loader off, which we never
    suggest for a file of unknown origin."""
    if not zipfile.is_zipfile(path):  # torch.save writes zip archives
        return "it is not a file written by torch.save (or a truncated one)"
    text = " ".join(str(exc).split())
    if isinstance(exc, pickle.UnpicklingError) or "weights_only" in text:
        return ("it holds Python objects other than tensors and plain values, which are not "
                "loaded (loading them could run code)")
    if isinstance(exc, OSError):
        return f"it cannot be read ({exc.strerror or type(exc).__name__})"
    return f"a torch.save file that cannot be read ({type(exc).__name__})"


def load_checkpoint(
    path: str | os.PathLike[str], expected_model: Any | None = None
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the file.
        expected_model: the description (see :func:`describe`) of the network it will be loaded
            into; when given, a different ``payload["model"]`` raises
            :class:`CheckpointMismatchError`.
    Raises:
        CheckpointError: missing or unreadable file, or an unknown layout.
        CheckpointMismatchError: the checkpoint describes another network.
    """
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(
            f"checkpoint {str(p)!r} is a folder, not a file; pass a file in it such as "
            f"{str(p / 'best.pt')!r}"
        )
    if not p.is_file():
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign files; none is the user's bug
        raise CheckpointError(
            f"{str(p)!r} is not an EventBench checkpoint: {_load_failure(p, exc)}"
        ) from exc
    if not isinstance(data, dict):
        raise CheckpointError(
            f"{str(p)!r} is not an EventBench checkpoint: it holds a {type(data).__name__}, "
            "not a checkpoint dictionary"
        )
    version = data.get("checkpoint_version")
    if version is None:
        raise CheckpointError(
            f"{str(p)!r} is not an EventBench checkpoint: no 'checkpoint_version' field "
            "(a plain torch file?)"
        )
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{str(p)!r}: checkpoint_version = {version!r}, this eventbench reads "
            f"version {CHECKPOINT_VERSION}"
        )
    if expected_model is not None:
        diff = first_difference(expected_model, data.get("model"))
        if diff is not None:
            raise CheckpointMismatchError(
                f"checkpoint {str(p)!r} was written for another network: {diff}"
            )
    return data
