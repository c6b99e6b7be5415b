"""Cache of binned data (:class:`~eventbench.data.BinnedEvents`) keyed by data fingerprint.

Binning a whole data set is vectorised and takes seconds even for SHD, but training runs bin the
same data again and again; :class:`BinCache` keeps results in memory and, when given a directory,
on disk as ``binned-<key>.npz`` (no pickles), where ``key`` hashes the data fingerprint, ``dt_s``,
``n_steps``, ``n_channels`` and the cache format version. The cache is an explicit object the
caller owns; there is no global cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import DataFormatError
from .events import BinnedEvents, bin_samples

if TYPE_CHECKING:
    from .dataset import EventDataset

__all__ = ["BinCache", "cache_key", "cached_arrays"]

logger = logging.getLogger(__name__)

_CACHE_FORMAT = "binned.v1"


class BinCache:
    """In-memory and optional on-disk cache of binned data sets.

    Args:
        directory: where to keep ``.npz`` files; ``None`` keeps results in memory only.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self._memory: dict[str, BinnedEvents] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(fingerprint: str, n_channels: int, dt_s: float, n_steps: int) -> str:
        """Cache key (hex) of one binning of one data set."""
        text = f"{_CACHE_FORMAT}|{fingerprint}|{n_channels}|{float(dt_s)!r}|{int(n_steps)}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def path(self, key: str) -> Path | None:
        """On-disk file of ``key`` (``None`` without a directory)."""
        return None if self.directory is None else self.directory / f"binned-{key}.npz"

    def binned(self, dataset: EventDataset, dt_s: float, n_steps: int) -> BinnedEvents:
        """The binned form of ``dataset`` on the grid ``n * dt_s``, from cache when possible."""
        key = self.key(dataset.fingerprint(), dataset.n_channels, dt_s, n_steps)
        hit = self._memory.get(key)
        if hit is not None:
            self.hits += 1
            return hit
        path = self.path(key)
        if path is not None and path.exists():
            try:
                out = BinnedEvents.load(path)
            except DataFormatError:
                logger.error("corrupt cache file %s; delete it to rebuild", path)
                raise
            if (
                out.n_steps != n_steps
                or out.n_channels != dataset.n_channels
                or len(out) != len(dataset)
            ):
                raise DataFormatError(path, "header", "does not match the requested binning")
            self.hits += 1
            logger.debug("bin cache hit on disk: %s", path)
            self._memory[key] = out
            return out
        self.misses += 1
        out = bin_samples(dataset.samples, dataset.n_channels, dt_s, n_steps,
                          flat=dataset.flat_events())
        self._memory[key] = out
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
            os.close(fd)
            try:
                out.save(tmp)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
            logger.info("binned %s (%d samples) -> %s", dataset.name, len(dataset), path)
        return out

    def clear_memory(self) -> None:
        """Forget in-memory entries (files on disk stay)."""
        self._memory.clear()


def cache_key(**parts: object) -> str:
    """Hex key (24 characters) of JSON-able ``parts`` (file lists, settings) for
    :func:`cached_arrays` file names."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cached_arrays(
    path: Path, compute: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Arrays of a preprocessing step, read from ``path`` (``.npz``, no pickles) when it exists,
    else computed and written there atomically (temporary file, then rename). An unwritable
    folder only logs a warning; an unreadable file is an error naming it (delete it to
    rebuild)."""
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise DataFormatError(path, "<cache file>",
                                  f"unreadable ({exc}); delete it to rebuild") from exc
        logger.info("read cached %s", path)
        return out
    out = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        os.close(fd)
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, allow_pickle=False, **out)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        logger.info("cached %s", path)
    except OSError as exc:
        logger.warning("cannot write the cache file %s: %s", path, exc)
    return out
