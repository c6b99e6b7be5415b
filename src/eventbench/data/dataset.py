"""Data-set containers: event data sets, dense (regression) data sets and train/val/test splits.

Every container carries ``name``, ``n_channels``, ``n_classes`` (``None`` for regression),
``origin`` (how the data came to be, recorded in results) and ``fingerprint()``, a sha256 over the
data content (not the name) that is stable across runs, machines and NumPy versions, used for
result provenance.

``origin`` values:

* ``"generated"``: produced exactly by a deterministic generator in this package (Yin-Yang);
* ``"regenerated"``: re-created by a faithful but not bit-exact generator (Mackey-Glass);
* ``"package"``: read from data shipped inside an installed PyPI package (scikit-learn digits);
* ``"user-file"``: read from a file the user supplied (MNIST IDX, SHD/SSC HDF5, NHP .mat, ...).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

import numpy as np

from .errors import DataFormatError
from .events import BinnedEvents, EventSample, _concat, bin_samples

if TYPE_CHECKING:
    from .cache import BinCache

__all__ = ["ORIGINS", "DenseDataset", "EventDataset", "Origin", "Splits", "events_fingerprint"]

logger = logging.getLogger(__name__)

Origin = Literal["generated", "regenerated", "package", "user-file"]
ORIGINS: tuple[str, ...] = ("generated", "regenerated", "package", "user-file")

_FINGERPRINT_VERSION = b"eventbench.data.fingerprint.v1\x00"


def _hash_header(h: hashlib._Hash, kind: str, header: Mapping[str, object]) -> None:
    h.update(_FINGERPRINT_VERSION)
    h.update(kind.encode() + b"\x00")
    h.update(json.dumps(dict(header), sort_keys=True).encode() + b"\x00")


def _hash_array(h: hashlib._Hash, a: np.ndarray, dtype: str) -> None:
    arr = np.ascontiguousarray(a, dtype=np.dtype(dtype))
    h.update(dtype.encode() + repr(arr.shape).encode() + b"\x00")
    h.update(arr.tobytes())


def events_fingerprint(
    n_channels: int,
    n_classes: int | None,
    lengths: np.ndarray,
    blocks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
    labels: np.ndarray,
    targets: Sequence[np.ndarray | None] | None = None,
) -> str:
    """:meth:`EventDataset.fingerprint` of samples given as consecutive blocks of events:
    ``lengths`` int64 ``[S]`` events per sample, ``blocks()`` an iterable of ``(times_s,
    channels)`` pieces that concatenate to all events in sample order (called twice), ``labels``
    int64 ``[S]`` (-1: none), ``targets`` per sample (``None``: no targets). Lets a loader
    fingerprint a data set without holding it as float64 / int64 arrays."""
    h = hashlib.sha256()
    _hash_header(h, "EventDataset", {
        "n_channels": n_channels, "n_classes": n_classes, "n_samples": int(lengths.shape[0]),
    })
    _hash_array(h, lengths, "<i8")
    total = int(lengths.sum())
    for k, dtype in ((0, "<f8"), (1, "<i8")):
        h.update(dtype.encode() + repr((total,)).encode() + b"\x00")  # as _hash_array
        for block in blocks():
            h.update(np.ascontiguousarray(block[k], dtype=np.dtype(dtype)).tobytes())
    _hash_array(h, labels, "<i8")
    for target in targets if targets is not None else [None] * int(lengths.shape[0]):
        if target is None:
            h.update(b"\x00")
        else:
            h.update(b"\x01")
            _hash_array(h, target, "<f8")
    return h.hexdigest()


def _check_origin(origin: str) -> None:
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}, got {origin!r}")


@dataclass(frozen=True, eq=False)
class EventDataset:
    """A list of :class:`EventSample` with data-set metadata.

    Attributes:
        name: data-set name including the split, e.g. ``"shd/train"``.
        samples: the samples (all with ``n_channels`` channels).
        n_channels: number of input channels ``N``.
        n_classes: number of classes, or ``None`` when the samples carry regression targets.
        origin: see the module docstring.
        source: the file read, or a description of the generator, for provenance.
        class_names: optional class names, ``len == n_classes``.
        groups: optional int64 ``[len(samples)]`` group ids (e.g. SHD speakers).
        params: encoding/preprocessing parameters (plain JSON-able values), recorded in results.
        flat: (constructor only) a loader's concatenated ``(times, channels, ptr)`` arrays of
            which the samples are views; saves one copy in :meth:`flat_events`. Only shapes are
            checked, so pass it only when the samples were cut from exactly these arrays.
    """

    name: str
    samples: list[EventSample]
    n_channels: int
    n_classes: int | None
    origin: Origin
    source: str | None = None
    class_names: tuple[str, ...] | None = None
    groups: np.ndarray | None = None
    params: Mapping[str, object] = field(default_factory=dict)
    flat: InitVar[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = None

    def __post_init__(self, flat: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> None:
        _check_origin(self.origin)
        where = self.source or f"<{self.name}>"
        if flat is not None:
            # A loader's concatenated arrays that the samples are views of (saves a copy).
            t, c, ptr = flat
            if ptr.shape != (len(self.samples) + 1,) or t.shape != c.shape or t.shape[0] != ptr[-1]:
                raise ValueError("flat arrays do not match the samples")
            self.__dict__["_flat"] = (t, c, ptr)
        for i, s in enumerate(self.samples):
            if s.n_channels != self.n_channels:
                raise DataFormatError(
                    where, f"samples[{i}].n_channels",
                    f"{s.n_channels} != data set n_channels {self.n_channels}",
                )
            if self.n_classes is not None and (
                s.label is None or not 0 <= s.label < self.n_classes
            ):
                raise DataFormatError(
                    where, f"samples[{i}].label", f"{s.label!r} outside [0, {self.n_classes})"
                )
        if self.class_names is not None and len(self.class_names) != self.n_classes:
            raise DataFormatError(
                where, "class_names", f"{len(self.class_names)} names for {self.n_classes} classes"
            )
        if self.groups is not None:
            g = np.asarray(self.groups)
            if g.shape != (len(self.samples),):
                raise DataFormatError(
                    where, "groups", f"shape {g.shape} != ({len(self.samples)},)"
                )
            object.__setattr__(self, "groups", g.astype(np.int64, copy=False))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> EventSample:
        return self.samples[index]

    def __iter__(self) -> Iterator[EventSample]:
        return iter(self.samples)

    def labels(self) -> np.ndarray:
        """int64 ``[len]`` labels (raises ``ValueError`` if a sample has none)."""
        if any(s.label is None for s in self.samples):
            raise ValueError(f"{self.name}: not every sample has a label")
        return np.array([s.label for s in self.samples], dtype=np.int64)

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> EventDataset:
        """A new data set with the samples at ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        return EventDataset(
            name=name or self.name,
            samples=[self.samples[int(i)] for i in idx],
            n_channels=self.n_channels,
            n_classes=self.n_classes,
            origin=self.origin,
            source=self.source,
            class_names=self.class_names,
            groups=None if self.groups is None else self.groups[idx],
            params=dict(self.params),
        )

    def with_samples(
        self, samples: list[EventSample], name: str | None = None, n_channels: int | None = None,
        groups: np.ndarray | None = None, **params: object,
    ) -> EventDataset:
        """A new data set with other samples (e.g. augmented), metadata kept, ``params`` extended."""
        return EventDataset(
            name=name or self.name,
            samples=samples,
            n_channels=self.n_channels if n_channels is None else n_channels,
            n_classes=self.n_classes,
            origin=self.origin,
            source=self.source,
            class_names=self.class_names,
            groups=groups,
            params={**self.params, **params},
        )

    @cached_property
    def _flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _concat(self.samples)

    def flat_events(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All events concatenated: ``(times_s float64 [E], channels int64 [E], ptr int64
        [len+1])``, sample ``i`` owning ``ptr[i]:ptr[i+1]``; computed once per object."""
        return self._flat

    @cached_property
    def _fingerprint(self) -> str:
        flat = self.__dict__.get("_flat")
        if flat is not None:
            lengths = np.diff(flat[2])

            def blocks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
                yield flat[0], flat[1]
        else:  # sample by sample, without concatenating the data set
            lengths = np.fromiter((s.n_events for s in self.samples), np.int64, len(self.samples))

            def blocks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
                return ((s.times_s, s.channels) for s in self.samples)

        labels = np.array([-1 if s.label is None else s.label for s in self.samples], np.int64)
        return events_fingerprint(
            self.n_channels, self.n_classes, lengths, blocks, labels,
            [s.target for s in self.samples],
        )

    def fingerprint(self) -> str:
        """sha256 (hex) over the samples' times, channels, labels, targets, ``n_channels`` and
        ``n_classes``; computed once per object."""
        return self._fingerprint

    def binned(self, dt_s: float, n_steps: int, cache: BinCache | None = None) -> BinnedEvents:
        """All samples on the grid ``n * dt_s`` (see :func:`~eventbench.data.bin_samples`),
        looked up in / stored to ``cache`` when given."""
        if cache is not None:
            return cache.binned(self, dt_s, n_steps)
        # a loader's concatenated arrays when there are some; else sample by sample (no copy
        # of the whole data set)
        flat = self.__dict__.get("_flat")
        return bin_samples(self.samples, self.n_channels, dt_s, n_steps, flat=flat)


@dataclass(frozen=True, eq=False)
class DenseDataset:
    """A dense, time-major regression data set (one long recording/sequence).

    Attributes:
        name: e.g. ``"mackey_glass/tau17/train"``.
        inputs: ``[T, N]`` inputs per step (Mackey-Glass: windows of past values; NHP: spike
            counts per channel).
        targets: ``[T, K]`` targets per step (Mackey-Glass: next value, ``K = 1``; NHP: cursor
            velocity, ``K = 2``).
        n_channels: ``N``.
        origin: see the module docstring.
        dt_s: sampling step in seconds, or ``None`` when time is dimensionless (Mackey-Glass; the
            step in model time units is in ``params``).
        n_classes: always ``None`` (kept for a uniform interface).
        source: file read or generator description.
        params: preprocessing parameters, recorded in results.
    """

    name: str
    inputs: np.ndarray
    targets: np.ndarray
    n_channels: int
    origin: Origin
    dt_s: float | None = None
    n_classes: None = None
    source: str | None = None
    params: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_origin(self.origin)
        where = self.source or f"<{self.name}>"
        if self.inputs.ndim != 2 or self.inputs.shape[1] != self.n_channels:
            raise DataFormatError(
                where, "inputs", f"shape {self.inputs.shape} is not [T, {self.n_channels}]"
            )
        if self.targets.ndim != 2 or self.targets.shape[0] != self.inputs.shape[0]:
            raise DataFormatError(
                where, "targets", f"shape {self.targets.shape} is not [{self.inputs.shape[0]}, K]"
            )
        for key in ("inputs", "targets"):
            a: np.ndarray = getattr(self, key)
            if not np.isfinite(a).all():
                raise DataFormatError(where, key, "contains NaN or inf")
            v = a.view()
            v.flags.writeable = False
            object.__setattr__(self, key, v)

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @cached_property
    def _fingerprint(self) -> str:
        h = hashlib.sha256()
        _hash_header(h, "DenseDataset", {"n_channels": self.n_channels, "dt_s": self.dt_s})
        _hash_array(h, self.inputs, "<f8")
        _hash_array(h, self.targets, "<f8")
        return h.hexdigest()

    def fingerprint(self) -> str:
        """sha256 (hex) over ``inputs`` and ``targets`` (as float64), ``n_channels`` and ``dt_s``."""
        return self._fingerprint


D = TypeVar("D", EventDataset, DenseDataset)


@dataclass(frozen=True, eq=False)
class Splits(Generic[D]):
    """Train / validation / test splits of one data set (``val`` may be ``None``)."""

    train: D
    val: D | None
    test: D

    def items(self) -> list[tuple[str, D]]:
        """``[("train", ...), ("val", ...), ("test", ...)]`` without absent splits."""
        out = [("train", self.train)]
        if self.val is not None:
            out.append(("val", self.val))
        out.append(("test", self.test))
        return out
