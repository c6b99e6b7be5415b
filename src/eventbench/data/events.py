"""The event-sample type, the time-to-bin rule, cropping, binning and collation.

Conventions (``docs/design.md``): time is in **seconds**, dense tensors are **time-major**
``[T, B, N]`` (steps, batch, channels).

The binning rule is defined once, in :func:`time_to_bin`::

    bin(t) = floor(t / dt + 1e-9)

The ``1e-9`` (in units of bins) absorbs floating-point error so that an event stamped exactly on a
grid time ``k * dt`` (e.g. ``0.3e-3 / 0.1e-3 = 2.9999999999999996``) lands in bin ``k``, the bin that
*starts* at that time, as the engine expects ("events act at their own time stamp"). Consequently an
event less than ``1e-9 * dt`` before a grid time is counted in the next bin. Events whose bin index
is ``>= n_steps`` lie outside the trial ``[0, n_steps * dt)``; :func:`bin_events` refuses them
instead of dropping them, and :func:`crop_to_grid` removes exactly those events when dropping is
intended.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from .errors import DataFormatError

__all__ = [
    "BIN_EPSILON",
    "BinMode",
    "BinnedEvents",
    "EventBatch",
    "EventSample",
    "bin_events",
    "bin_samples",
    "collate_events",
    "crop_events",
    "crop_to_grid",
    "iter_batches",
    "time_to_bin",
]

logger = logging.getLogger(__name__)

#: Tolerance, in bins, added before flooring in :func:`time_to_bin`.
BIN_EPSILON = 1e-9

BinMode = Literal["binary", "count"]

_MEMORY = "<in-memory EventSample>"


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


@dataclass(frozen=True, eq=False)
class EventSample:
    """One sample of spike events.

    Args:
        times_s: spike times in seconds, float64 ``[S]`` (float16/float32 are widened losslessly;
            integer arrays are refused). Finite and ``>= 0``. Order is kept as given.
        channels: channel (input neuron) ids, int64 ``[S]`` (any integer dtype is widened),
            each in ``[0, n_channels)``.
        n_channels: number of input channels ``N`` of the data set.
        label: class index for classification tasks, else ``None``.
        target: regression target (any shape, float64), else ``None``.

    The arrays are stored as read-only views, so a sample cannot be changed after construction.
    Invalid content raises :class:`~eventbench.data.DataFormatError` naming the field.

    >>> s = EventSample(np.array([0.0, 1e-3]), np.array([3, 1]), n_channels=4, label=2)
    >>> s.n_events
    2
    """

    times_s: np.ndarray
    channels: np.ndarray
    n_channels: int
    label: int | None = None
    target: np.ndarray | None = None

    def __post_init__(self) -> None:
        t = np.asarray(self.times_s)
        c = np.asarray(self.channels)
        if t.ndim != 1:
            raise DataFormatError(_MEMORY, "times_s", f"must be 1-D, got shape {t.shape}")
        if c.ndim != 1:
            raise DataFormatError(_MEMORY, "channels", f"must be 1-D, got shape {c.shape}")
        if not np.issubdtype(t.dtype, np.floating):
            raise DataFormatError(_MEMORY, "times_s", f"must be floating (seconds), got {t.dtype}")
        if not np.issubdtype(c.dtype, np.integer):
            raise DataFormatError(_MEMORY, "channels", f"must be integer, got {c.dtype}")
        if t.shape != c.shape:
            raise DataFormatError(
                _MEMORY, "channels", f"length {c.shape[0]} != times_s length {t.shape[0]}"
            )
        if isinstance(self.n_channels, bool) or not isinstance(self.n_channels, int | np.integer):
            raise DataFormatError(_MEMORY, "n_channels", f"must be an int, got {self.n_channels!r}")
        if self.n_channels <= 0:
            raise DataFormatError(_MEMORY, "n_channels", f"must be > 0, got {self.n_channels}")
        t = t.astype(np.float64, copy=False)
        if t.size:
            if not np.isfinite(t).all():
                raise DataFormatError(_MEMORY, "times_s", "contains NaN or inf")
            if t.min() < 0.0:
                raise DataFormatError(_MEMORY, "times_s", f"negative time {t.min()!r} s")
            cmin, cmax = int(c.min()), int(c.max())
            if cmin < 0 or cmax >= self.n_channels:
                bad = cmin if cmin < 0 else cmax
                raise DataFormatError(
                    _MEMORY, "channels", f"channel {bad} outside [0, {self.n_channels})"
                )
        c = c.astype(np.int64, copy=False)
        label = self.label
        if label is not None:
            if isinstance(label, bool) or not isinstance(label, int | np.integer):
                raise DataFormatError(_MEMORY, "label", f"must be an int or None, got {label!r}")
            label = int(label)
        target = self.target
        if target is not None:
            target = _readonly(np.asarray(target, dtype=np.float64))
        object.__setattr__(self, "times_s", _readonly(t))
        object.__setattr__(self, "channels", _readonly(c))
        object.__setattr__(self, "n_channels", int(self.n_channels))
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "target", target)

    @property
    def n_events(self) -> int:
        """Number of events ``S``."""
        return int(self.times_s.shape[0])

    @classmethod
    def _unchecked(
        cls, times_s: np.ndarray, channels: np.ndarray, n_channels: int, label: int | None = None
    ) -> EventSample:
        """Construct without validation, for loaders that validated the content in bulk
        (float64 finite non-negative times, int64 channels in range, int label)."""
        obj = object.__new__(cls)
        object.__setattr__(obj, "times_s", _readonly(times_s))
        object.__setattr__(obj, "channels", _readonly(channels))
        object.__setattr__(obj, "n_channels", n_channels)
        object.__setattr__(obj, "label", label)
        object.__setattr__(obj, "target", None)
        return obj

    def replace_events(
        self, times_s: np.ndarray, channels: np.ndarray, n_channels: int | None = None
    ) -> EventSample:
        """A copy with other events (and optionally another channel count); label and target kept."""
        return EventSample(
            times_s,
            channels,
            self.n_channels if n_channels is None else n_channels,
            self.label,
            self.target,
        )


def time_to_bin(times_s: np.ndarray, dt_s: float) -> np.ndarray:
    """Bin index of each time: ``floor(t / dt + 1e-9)`` as int64 (see the module docstring)."""
    if not dt_s > 0.0:
        raise ValueError(f"dt_s must be > 0, got {dt_s!r}")
    x = np.asarray(times_s, dtype=np.float64) / dt_s  # a new array: the steps below are in place
    x += BIN_EPSILON
    np.floor(x, out=x)
    return x.astype(np.int64)


def crop_events(sample: EventSample, t_stop_s: float, t_start_s: float = 0.0) -> EventSample:
    """Keep the events with ``t_start_s <= t < t_stop_s`` (times are not shifted)."""
    if not t_stop_s > t_start_s:
        raise ValueError(f"need t_stop_s > t_start_s, got {t_start_s!r}, {t_stop_s!r}")
    t = sample.times_s
    keep = (t >= t_start_s) & (t < t_stop_s)
    if keep.all():
        return sample
    return sample.replace_events(t[keep], sample.channels[keep])


def crop_to_grid(sample: EventSample, dt_s: float, n_steps: int) -> EventSample:
    """Drop exactly the events that :func:`bin_events` would refuse (bin index ``>= n_steps``)."""
    if n_steps <= 0:
        raise ValueError(f"n_steps must be > 0, got {n_steps}")
    keep = time_to_bin(sample.times_s, dt_s) < n_steps
    if keep.all():
        return sample
    return sample.replace_events(sample.times_s[keep], sample.channels[keep])


def _concat(samples: Sequence[EventSample]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times float64 [E], channels int64 [E], ptr int64 [B+1]) over all samples."""
    lengths = np.fromiter((s.n_events for s in samples), dtype=np.int64, count=len(samples))
    ptr = np.zeros(len(samples) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    if len(samples) == 0:
        return np.zeros(0, np.float64), np.zeros(0, np.int64), ptr
    times = np.concatenate([s.times_s for s in samples])
    chans = np.concatenate([s.channels for s in samples])
    return times, chans, ptr


@dataclass(frozen=True, eq=False)
class BinnedEvents:
    """Events of many samples placed on a time grid, kept sparse (one entry per event).

    This is the cacheable intermediate between :class:`EventSample` lists and dense
    ``[T, B, N]`` tensors: for ``B`` samples and ``E`` events in total,

    * ``ptr``: int64 ``[B+1]``, the events of sample ``b`` are ``ptr[b]:ptr[b+1]``;
    * ``step``: ``[E]``, bin index in ``[0, n_steps)``;
    * ``channel``: ``[E]``, channel in ``[0, n_channels)``;
    * both uint16 when ``n_steps`` and ``n_channels`` are at most 65 536 (2 bytes per event and
      field: SSC's 600 M training events take 2.4 GB), else int32 (:func:`index_dtype`);
    * ``labels``: int64 ``[B]`` or ``None``.

    Several events in one (step, channel) bin stay separate entries; :meth:`dense` turns them into
    one spike (``"binary"``) or their number (``"count"``).
    """

    dt_s: float
    n_steps: int
    n_channels: int
    ptr: np.ndarray
    step: np.ndarray
    channel: np.ndarray
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ptr.shape[0] - 1)

    @property
    def n_events(self) -> int:
        """Total number of events ``E``."""
        return int(self.step.shape[0])

    def _gather(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Event positions (into step/channel) and batch index for the selected samples."""
        starts = self.ptr[indices]
        lengths = self.ptr[indices + 1] - starts
        total = int(lengths.sum())
        batch = np.repeat(np.arange(indices.shape[0], dtype=np.int64), lengths)
        first = np.zeros(indices.shape[0], dtype=np.int64)
        np.cumsum(lengths[:-1], out=first[1:])
        pos = np.arange(total, dtype=np.int64) - np.repeat(first - starts, lengths)
        return pos, batch

    def _flat_bins(
        self, indices: Sequence[int] | np.ndarray | None, mode: BinMode
    ) -> tuple[np.ndarray, int]:
        """Flat bin index ``(step * b + sample) * N + channel`` of every event of the selected
        samples (all when ``indices=None``) and their number ``b``; checks ``mode`` and the
        sample indices."""
        if mode not in ("binary", "count"):
            raise ValueError(f"mode must be 'binary' or 'count', got {mode!r}")
        n = len(self)
        idx = (
            np.arange(n, dtype=np.int64)
            if indices is None
            else np.asarray(indices, dtype=np.int64).reshape(-1)
        )
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"sample index out of range [0, {n})")
        b = int(idx.shape[0])
        pos, batch = self._gather(idx)
        flat = (self.step[pos].astype(np.int64) * b + batch) * self.n_channels + self.channel[pos]
        return flat, b

    def dense(
        self,
        indices: Sequence[int] | np.ndarray | None = None,
        mode: BinMode = "binary",
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Dense input tensor ``[T, b, N]`` for the selected samples (all when ``indices=None``).

        ``mode="binary"``: 1 where a (step, channel) bin holds at least one event, else 0.
        ``mode="count"``: the number of events in the bin.
        """
        flat, b = self._flat_bins(indices, mode)
        out = torch.zeros(self.n_steps * b * self.n_channels, dtype=dtype, device=device)
        index = torch.from_numpy(flat).to(device=out.device)
        if mode == "binary":
            out[index] = 1
        else:
            out.index_put_((index,), torch.ones(index.shape[0], dtype=dtype, device=out.device),
                           accumulate=True)
        return out.view(self.n_steps, b, self.n_channels)

    def sparse(
        self,
        indices: Sequence[int] | np.ndarray | None = None,
        mode: BinMode = "binary",
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """The input of :meth:`dense` as a coalesced sparse COO tensor ``[T, b, N]`` (indices
        sorted by ``(step, sample, channel)``, one entry per non-empty bin), built in
        ``O(E log E)`` from the events without a dense tensor. EventProp's CPU kernels read it
        directly (``SNN(x_sparse)``), with no pass over the ``T x b x N`` bins."""
        flat, b = self._flat_bins(indices, mode)
        keys, counts = np.unique(flat, return_counts=True)
        step, rest = np.divmod(keys, b * self.n_channels)
        sample, channel = np.divmod(rest, self.n_channels)
        values = np.ones(keys.shape[0]) if mode == "binary" else counts.astype(np.float64)
        return torch.sparse_coo_tensor(
            torch.from_numpy(np.stack([step, sample, channel])),
            torch.from_numpy(values).to(dtype),
            (self.n_steps, b, self.n_channels),
            is_coalesced=True,
            check_invariants=False,
        )

    def save(self, path: str | Path) -> None:
        """Write to an ``.npz`` file (no pickles)."""
        arrays: dict[str, np.ndarray] = {
            "dt_s": np.array(self.dt_s, np.float64),
            "n_steps": np.array(self.n_steps, np.int64),
            "n_channels": np.array(self.n_channels, np.int64),
            "ptr": self.ptr,
            "step": self.step,
            "channel": self.channel,
        }
        if self.labels is not None:
            arrays["labels"] = self.labels
        with open(Path(path), "wb") as fh:  # a handle: np.savez would append ".npz" to a name
            np.savez(fh, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> BinnedEvents:
        """Read a file written by :meth:`save`; malformed content raises DataFormatError."""
        p = Path(path)
        try:
            with open(p, "rb") as fh, np.load(fh, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DataFormatError(p, "<npz archive>", f"cannot be read: {exc}") from exc
        for key in ("dt_s", "n_steps", "n_channels", "ptr", "step", "channel"):
            if key not in arrays:
                raise DataFormatError(p, key, "missing")
        out = cls(
            dt_s=float(arrays["dt_s"]),
            n_steps=int(arrays["n_steps"]),
            n_channels=int(arrays["n_channels"]),
            ptr=arrays["ptr"].astype(np.int64, copy=False),
            step=arrays["step"].astype(_stored_dtype(arrays["step"]), copy=False),
            channel=arrays["channel"].astype(_stored_dtype(arrays["channel"]), copy=False),
            labels=arrays.get("labels"),
        )
        if out.ptr.ndim != 1 or out.ptr[0] != 0 or int(out.ptr[-1]) != out.step.shape[0]:
            raise DataFormatError(p, "ptr", "inconsistent with the number of events")
        if out.step.shape != out.channel.shape:
            raise DataFormatError(p, "channel", "length differs from 'step'")
        return out


def bin_samples(
    samples: Sequence[EventSample],
    n_channels: int,
    dt_s: float,
    n_steps: int,
    flat: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> BinnedEvents:
    """Place the events of all samples on the grid ``t_n = n * dt_s`` (vectorised, no event loop).

    Raises:
        ValueError: if an event falls at or beyond ``n_steps * dt_s`` (bin ``>= n_steps``), if a
            sample declares more channels than ``n_channels``, or if arguments are invalid. Crop
            first with :func:`crop_to_grid` when dropping late events is intended.

    ``flat`` may pass the samples' events already concatenated, ``(times, channels, ptr)`` as
    returned by :meth:`EventDataset.flat_events`, to skip the concatenation.
    """
    if n_steps <= 0:
        raise ValueError(f"n_steps must be > 0, got {n_steps}")
    if n_channels <= 0:
        raise ValueError(f"n_channels must be > 0, got {n_channels}")
    for i, s in enumerate(samples):
        if s.n_channels > n_channels:
            raise ValueError(
                f"sample {i} has n_channels={s.n_channels} > n_channels={n_channels} of the batch"
            )
    if flat is None:
        lengths = np.fromiter((s.n_events for s in samples), np.int64, count=len(samples))
        ptr = np.zeros(len(samples) + 1, np.int64)
        np.cumsum(lengths, out=ptr[1:])
    else:
        ptr = flat[2]
    if ptr.shape[0] != len(samples) + 1:
        raise ValueError(f"flat arrays describe {ptr.shape[0] - 1} samples, not {len(samples)}")
    # filled a block of samples at a time, so the float64 temporaries of time_to_bin never exist
    # for the whole data set
    idx_dtype = index_dtype(n_steps, n_channels)
    step = np.empty(int(ptr[-1]), idx_dtype)
    channel = np.empty(int(ptr[-1]), idx_dtype)
    n_late, first_late = 0, ""
    for s0 in range(0, len(samples), _BIN_BLOCK):
        s1 = min(len(samples), s0 + _BIN_BLOCK)
        e0, e1 = int(ptr[s0]), int(ptr[s1])
        if flat is None:
            times, chans, _ = _concat(samples[s0:s1])
        else:
            times, chans = flat[0][e0:e1], flat[1][e0:e1]
        bins = time_to_bin(times, dt_s)
        late = bins >= n_steps
        if late.any():
            if not n_late:
                k = int(np.argmax(late))
                sample_idx = int(np.searchsorted(ptr, e0 + k, side="right") - 1)
                first_late = f"sample {sample_idx}, t = {float(times[k])!r} s, bin {int(bins[k])}"
            n_late += int(late.sum())
            continue
        step[e0:e1] = bins
        channel[e0:e1] = chans
    if n_late:
        raise ValueError(
            f"{n_late} event(s) at or beyond the window n_steps*dt = {n_steps * dt_s!r} s "
            f"(first: {first_late} >= {n_steps}); crop first with crop_to_grid()"
        )
    labels: np.ndarray | None = None
    if samples and all(s.label is not None for s in samples):
        labels = np.array([s.label for s in samples], dtype=np.int64)
    return BinnedEvents(
        dt_s=float(dt_s),
        n_steps=int(n_steps),
        n_channels=int(n_channels),
        ptr=ptr,
        step=step,
        channel=channel,
        labels=labels,
    )


def index_dtype(n_steps: int, n_channels: int) -> type[np.unsignedinteger] | type[np.signedinteger]:
    """dtype of :class:`BinnedEvents`' ``step`` and ``channel``: uint16 when both ranges fit
    (``<= 65 536``), else int32."""
    return np.uint16 if max(n_steps, n_channels) <= 1 << 16 else np.int32


def _stored_dtype(a: np.ndarray) -> type[np.unsignedinteger] | type[np.signedinteger]:
    return np.uint16 if a.dtype == np.uint16 else np.int32


#: samples binned at a time by :func:`bin_samples`
_BIN_BLOCK = 512


def bin_events(
    samples: Sequence[EventSample],
    n_channels: int,
    dt_s: float,
    n_steps: int,
    mode: BinMode = "binary",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    r"""Dense time-major input ``[T, B, N]`` (``T = n_steps``, ``B = len(samples)``, ``N = n_channels``).

    An event at time :math:`t` goes to bin :math:`\lfloor t/\Delta t + 10^{-9} \rfloor` (see
    :func:`time_to_bin`). ``mode="binary"`` writes 1 per occupied bin, ``mode="count"`` the number of
    events in it. Events at or beyond ``n_steps * dt_s`` raise ``ValueError`` (crop first with
    :func:`crop_to_grid`).

    >>> s = EventSample(np.array([0.0, 0.0021, 0.0029]), np.array([1, 0, 0]), n_channels=2)
    >>> bin_events([s], 2, 1e-3, 3, mode="count")[:, 0, :].tolist()
    [[0.0, 1.0], [0.0, 0.0], [2.0, 0.0]]
    """
    return bin_samples(samples, n_channels, dt_s, n_steps).dense(
        None, mode=mode, dtype=dtype, device=device
    )


@dataclass(frozen=True, eq=False)
class EventBatch:
    """A collated batch.

    Attributes:
        times_s: float64 ``[B, S_max]``, events of each sample sorted by time (stable), padded
            with ``+inf``.
        channels: int64 ``[B, S_max]``, padded with ``-1``. The padding is deliberately invalid so
            that code ignoring ``mask`` fails loudly instead of injecting events.
        mask: bool ``[B, S_max]``, True for real events.
        lengths: int64 ``[B]``, number of events per sample.
        labels: int64 ``[B]`` or ``None`` (when no sample has a label).
        targets: float64 ``[B, ...]`` or ``None``.
        dense: ``[T, B, N]`` binned input when a grid was requested, else ``None``.
        n_channels: ``N``.
    """

    times_s: torch.Tensor
    channels: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor | None
    targets: torch.Tensor | None
    dense: torch.Tensor | None
    n_channels: int


def collate_events(
    samples: Sequence[EventSample],
    n_channels: int | None = None,
    dt_s: float | None = None,
    n_steps: int | None = None,
    mode: BinMode = "binary",
    dtype: torch.dtype = torch.float32,
) -> EventBatch:
    """Collate samples into padded sparse events (always) and a dense ``[T, B, N]`` tensor (when
    ``dt_s`` and ``n_steps`` are given). Deterministic: sample order is kept and the events of each
    sample are sorted by time with a stable sort (ties keep their original order).

    Raises ``ValueError`` for an empty batch, mixed labelled/unlabelled samples, targets of
    different shapes, or (dense part) events beyond the window.
    """
    if len(samples) == 0:
        raise ValueError("cannot collate an empty list of samples")
    n_ch = max(s.n_channels for s in samples) if n_channels is None else int(n_channels)
    if (dt_s is None) != (n_steps is None):
        raise ValueError("give both dt_s and n_steps for a dense tensor, or neither")
    n_labels = sum(s.label is not None for s in samples)
    if 0 < n_labels < len(samples):
        raise ValueError("some samples have labels and others do not")
    n_targets = sum(s.target is not None for s in samples)
    if 0 < n_targets < len(samples):
        raise ValueError("some samples have targets and others do not")
    dense = None
    if dt_s is not None and n_steps is not None:
        dense = bin_events(samples, n_ch, dt_s, n_steps, mode=mode, dtype=dtype)
    elif any(s.n_channels > n_ch for s in samples):
        raise ValueError(f"a sample has more than n_channels={n_ch} channels")
    times, chans, ptr = _concat(samples)
    b = len(samples)
    lengths = np.diff(ptr)
    batch = np.repeat(np.arange(b, dtype=np.int64), lengths)
    order = np.lexsort((times, batch))  # by batch, then time; lexsort is stable
    s_max = int(lengths.max()) if b else 0
    col = np.arange(times.shape[0], dtype=np.int64) - np.repeat(ptr[:-1], lengths)
    t_pad = np.full((b, s_max), np.inf, dtype=np.float64)
    c_pad = np.full((b, s_max), -1, dtype=np.int64)
    m_pad = np.zeros((b, s_max), dtype=bool)
    t_pad[batch, col] = times[order]
    c_pad[batch, col] = chans[order]
    m_pad[batch, col] = True
    labels = (
        torch.tensor([s.label for s in samples], dtype=torch.int64) if n_labels else None
    )
    targets = None
    if n_targets:
        shapes = {s.target.shape for s in samples if s.target is not None}
        if len(shapes) != 1:
            raise ValueError(f"targets have different shapes: {sorted(shapes)}")
        targets = torch.from_numpy(np.stack([np.asarray(s.target) for s in samples]))
    return EventBatch(
        times_s=torch.from_numpy(t_pad),
        channels=torch.from_numpy(c_pad),
        mask=torch.from_numpy(m_pad),
        lengths=torch.from_numpy(lengths.astype(np.int64)),
        labels=labels,
        targets=targets,
        dense=dense,
        n_channels=n_ch,
    )


def iter_batches(
    binned: BinnedEvents,
    batch_size: int,
    rng: np.random.Generator | None = None,
    mode: BinMode = "binary",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield ``(x [T, b, N], labels int64 [b] or None)`` over all samples of ``binned``.

    Order: sample order, or ``rng.permutation(len(binned))`` when ``rng`` is given (one epoch).
    The last batch is smaller unless ``drop_last``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(binned)
    order = np.arange(n, dtype=np.int64) if rng is None else rng.permutation(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        x = binned.dense(idx, mode=mode, dtype=dtype, device=device)
        labels = None
        if binned.labels is not None:
            labels = torch.from_numpy(binned.labels[idx]).to(x.device)
        yield x, labels
