"""SHD and SSC (Cramer et al. 2020, Heidelberg spiking data sets) from the user's HDF5 files.

File layout (one file per split: ``shd_{train,test}.h5``, ``ssc_{train,valid,test}.h5``):

========================  =====================================================================
``spikes/times``          N variable-length arrays, **float16**, seconds
``spikes/units``          N variable-length arrays, uint16, channel 0..699
``labels``                N integers (SHD 0..19, SSC 0..34), any integer width
``extra/keys``            class names (byte strings), optional
``extra/speaker``         N speaker ids, optional (needed for leave-one-speaker-out)
========================  =====================================================================

Times are cast to float64 **before** any arithmetic (float16 overflows when scaled to µs, tonic
issue #321); their float16 resolution is about 1 ms near 1 s. Every field is checked and a bad
one raises :class:`~eventbench.data.DataFormatError` naming the file and the field; a missing file
raises :class:`~eventbench.data.DataMissingError` naming the file, where it was looked for, and
where it is published. h5py only; tonic is optional (see :func:`from_tonic`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .dataset import EventDataset, events_fingerprint
from .errors import DataFormatError, DataMissingError, resolve_data_dir
from .events import BinnedEvents, EventSample, bin_samples, index_dtype, time_to_bin

__all__ = [
    "SHD",
    "SSC",
    "HeidelbergRaw",
    "HeidelbergSpec",
    "HeidelbergWindow",
    "from_tonic",
    "load_heidelberg",
    "load_shd",
    "load_ssc",
    "read_heidelberg",
    "read_heidelberg_window",
    "validation_indices",
    "validation_split",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeidelbergSpec:
    """Constants of one Heidelberg data set."""

    name: str
    n_channels: int
    n_classes: int
    splits: tuple[str, ...]
    url: str


SHD = HeidelbergSpec(
    "shd", 700, 20, ("train", "test"),
    "https://zenkelab.org/datasets/ (Heidelberg Spiking Data Sets, Cramer et al. 2020: "
    "shd_train.h5.gz, shd_test.h5.gz; also https://compneuro.net/datasets/)",
)
SSC = HeidelbergSpec(
    "ssc", 700, 35, ("train", "valid", "test"),
    "https://zenkelab.org/datasets/ (Heidelberg Spiking Data Sets, Cramer et al. 2020: "
    "ssc_train.h5.gz, ssc_valid.h5.gz, ssc_test.h5.gz; also https://compneuro.net/datasets/)",
)


@dataclass(frozen=True, eq=False)
class HeidelbergRaw:
    """Checked content of one SHD/SSC file (see :func:`read_heidelberg`)."""

    times: np.ndarray  # float64 [E], all samples concatenated (the file's dtype: widen=False)
    units: np.ndarray  # int64 [E] (the file's dtype: widen=False)
    ptr: np.ndarray  # int64 [N+1]
    labels: np.ndarray  # int64 [N]
    speakers: np.ndarray | None  # int64 [N]
    keys: tuple[str, ...] | None


#: samples read from the HDF5 file at a time (bounds the reader's transient memory)
_READ_CHUNK = 1024


def _vlen_dataset(f: Any, key: str, path: Path, kind: Literal["float", "int"]) -> Any:
    """The checked variable-length dataset ``key`` (rows are read in chunks by the caller)."""
    import h5py

    if key not in f:
        raise DataFormatError(path, key, "missing")
    ds = f[key]
    if not isinstance(ds, h5py.Dataset):
        raise DataFormatError(path, key, "is a group, expected a dataset")
    base = h5py.check_vlen_dtype(ds.dtype)
    if base is None:
        raise DataFormatError(path, key, f"must be variable-length arrays, got dtype {ds.dtype}")
    ok = np.issubdtype(base, np.floating) if kind == "float" else np.issubdtype(base, np.integer)
    if not ok:
        raise DataFormatError(path, key, f"wrong dtype {base}: expected {kind} elements")
    if ds.ndim != 1:
        raise DataFormatError(path, key, f"must be 1-D, got shape {ds.shape}")
    return ds


def _read_rows(ds: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    """The rows of a variable-length dataset, read ``_READ_CHUNK`` at a time: the length of every
    row, int64 ``[N]``, and each chunk's rows concatenated in the file's dtype (no list of all
    rows: a Python object per row costs more than a float16 SHD row itself)."""
    n = int(ds.shape[0])
    lengths = np.empty(n, np.int64)
    chunks: list[np.ndarray] = []
    for i0 in range(0, n, _READ_CHUNK):
        rows = ds[i0 : i0 + _READ_CHUNK]
        lengths[i0 : i0 + len(rows)] = [r.shape[0] for r in rows]
        chunks.append(np.concatenate(rows))
    return lengths, chunks


def _widen(chunks: list[np.ndarray], total: int, dtype: type | None) -> np.ndarray:
    """Concatenate ``chunks`` into one ``dtype`` array (``None``: the chunks' own) of ``total``
    elements, releasing each chunk once copied (empties the list)."""
    if dtype is None:
        dtype = chunks[0].dtype.type if chunks else np.float64
    out: np.ndarray = np.empty(total, dtype)
    pos = 0
    chunks.reverse()
    while chunks:
        c = chunks.pop()
        out[pos : pos + c.shape[0]] = c
        pos += c.shape[0]
    return out


def _int_array(f: Any, key: str, path: Path) -> np.ndarray:
    if key not in f:
        raise DataFormatError(path, key, "missing")
    a = np.asarray(f[key][()])
    if not np.issubdtype(a.dtype, np.integer):
        raise DataFormatError(path, key, f"wrong dtype {a.dtype}: expected integers")
    if a.ndim != 1:
        raise DataFormatError(path, key, f"must be 1-D, got shape {a.shape}")
    return a.astype(np.int64)


def read_heidelberg(
    path: str | os.PathLike[str],
    n_channels: int = 700,
    n_classes: int | None = None,
    *,
    widen: bool = True,
) -> HeidelbergRaw:
    """Read and check one SHD/SSC-layout HDF5 file (see the module docstring).

    Returns the concatenated events (float64 seconds, int64 channels), per-sample offsets
    ``ptr`` (events of sample ``i`` are ``ptr[i]:ptr[i+1]``), labels, speakers and class names.
    ``widen=False`` keeps the file's dtypes (SHD: float16 times, uint16 units: 4 bytes per event
    instead of 16), for loaders that widen a block of samples at a time; the checks are the
    same (float16 to float64 is exact).
    """
    import h5py

    p = Path(path)
    try:
        f = h5py.File(p, "r")
    except OSError as exc:  # truncated or not HDF5
        raise DataFormatError(p, "<HDF5 file>", f"cannot be opened as HDF5: {exc}") from exc
    field = "<HDF5 file>"
    try:
        with f:
            field = "spikes/times"
            t_len, t_chunks = _read_rows(_vlen_dataset(f, field, p, "float"))
            field = "spikes/units"
            u_len, u_chunks = _read_rows(_vlen_dataset(f, field, p, "int"))
            n = t_len.shape[0]
            if u_len.shape[0] != n:
                raise DataFormatError(p, "spikes/units", f"{u_len.shape[0]} rows but spikes/times has {n}")
            bad = np.flatnonzero(t_len != u_len)
            if bad.size:
                i = int(bad[0])
                raise DataFormatError(
                    p, "spikes/units",
                    f"sample {i}: {u_len[i]} units but {t_len[i]} times",
                )
            ptr = np.zeros(n + 1, np.int64)
            np.cumsum(t_len, out=ptr[1:])
            # float16 -> float64 (exact) before any arithmetic
            times = _widen(t_chunks, int(ptr[-1]), np.float64 if widen else None)
            units = _widen(u_chunks, int(ptr[-1]), np.int64 if widen else None)
            field = "labels"
            labels = _int_array(f, field, p)
            field = "extra/speaker"
            speakers = _int_array(f, field, p) if field in f else None
            field = "extra/keys"
            keys = None
            if field in f:
                keys = tuple(
                    k.decode() if isinstance(k, bytes) else str(k) for k in np.asarray(f[field][()])
                )
    except OSError as exc:  # data blocks missing in a truncated file
        raise DataFormatError(p, field, f"cannot be read (truncated or corrupt file?): {exc}") from exc
    if labels.shape[0] != n:
        raise DataFormatError(p, "labels", f"{labels.shape[0]} labels for {n} samples")
    if speakers is not None and speakers.shape[0] != n:
        raise DataFormatError(p, "extra/speaker", f"{speakers.shape[0]} entries for {n} samples")

    def first_bad(mask: np.ndarray) -> tuple[int, int]:
        e = int(np.argmax(mask))
        return int(np.searchsorted(ptr, e, side="right") - 1), e

    # min/max first (no temporaries; NaN propagates), masks only to locate an error
    if times.size and not (times.min() >= 0.0 and np.isfinite(times.max())):
        i, e = first_bad(~np.isfinite(times) | (times < 0))
        raise DataFormatError(
            p, "spikes/times", f"sample {i}: invalid time {np.float64(times[e])!r} s"
        )
    if units.size and not (units.min() >= 0 and units.max() < n_channels):
        i, e = first_bad((units < 0) | (units >= n_channels))
        raise DataFormatError(
            p, "spikes/units", f"sample {i}: unit {units[e]} outside [0, {n_channels})"
        )
    if n_classes is not None:
        bad_l = np.flatnonzero((labels < 0) | (labels >= n_classes))
        if bad_l.size:
            i = int(bad_l[0])
            raise DataFormatError(
                p, "labels", f"sample {i}: label {labels[i]} outside [0, {n_classes})"
            )
        if keys is not None and len(keys) != n_classes:
            raise DataFormatError(p, "extra/keys", f"{len(keys)} class names, expected {n_classes}")
    return HeidelbergRaw(times, units, ptr, labels, speakers, keys)


def _compact(a: np.ndarray, keep: np.ndarray, chunk: int = 1 << 22) -> np.ndarray:
    """``a[keep]`` computed in place in ``a`` (chunk by chunk: the write position never passes
    the read position), so that no second full-size array exists; returns a view of ``a``."""
    w = 0
    for r in range(0, a.shape[0], chunk):
        part = a[r : r + chunk][keep[r : r + chunk]]
        a[w : w + part.shape[0]] = part
        w += part.shape[0]
    return a[:w]


@dataclass(frozen=True, eq=False)
class HeidelbergWindow:
    """One SHD/SSC file cropped to a trial window, kept in the file's dtypes (SHD: float16
    times and uint16 units, 4 bytes per event) until it is binned: the bounded-memory way from a
    file to :class:`~eventbench.data.BinnedEvents` (:func:`read_heidelberg_window`).

    :meth:`binned` and :meth:`fingerprint` of a list of sample indices give exactly what
    ``load_heidelberg(...).subset(indices)`` followed by :func:`~eventbench.data.crop_to_grid`
    and :meth:`~eventbench.data.EventDataset.binned` / ``fingerprint()`` give, widening one
    block of samples to float64 / int64 at a time.
    """

    name: str
    source: str
    raw: HeidelbergRaw  # cropped, in the file's dtypes
    n_channels: int
    n_classes: int

    def __len__(self) -> int:
        return int(self.raw.labels.shape[0])

    def _block(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(times float64, channels int64, ptr)`` of the samples ``idx``, concatenated."""
        r = self.raw
        starts, stops = r.ptr[idx], r.ptr[idx + 1]
        ptr = np.zeros(idx.shape[0] + 1, np.int64)
        np.cumsum(stops - starts, out=ptr[1:])
        pos = np.arange(int(ptr[-1]), dtype=np.int64) + np.repeat(starts - ptr[:-1], stops - starts)
        return r.times[pos].astype(np.float64), r.units[pos].astype(np.int64), ptr

    def binned(self, indices: np.ndarray, dt_s: float, n_steps: int) -> BinnedEvents:
        """The samples ``indices`` on the grid (:func:`~eventbench.data.bin_samples`, a block of
        512 samples at a time)."""
        idx = np.asarray(indices, np.int64)
        lengths = self.raw.ptr[idx + 1] - self.raw.ptr[idx]
        ptr = np.zeros(idx.shape[0] + 1, np.int64)
        np.cumsum(lengths, out=ptr[1:])
        step = np.empty(int(ptr[-1]), index_dtype(n_steps, self.n_channels))
        channel = np.empty(int(ptr[-1]), index_dtype(n_steps, self.n_channels))
        block = 512
        for k in range(0, idx.shape[0], block):
            sel = idx[k : k + block]
            times, chans, bptr = self._block(sel)
            samples = [
                EventSample._unchecked(times[bptr[i] : bptr[i + 1]], chans[bptr[i] : bptr[i + 1]],
                                       self.n_channels, int(self.raw.labels[j]))
                for i, j in enumerate(sel)
            ]  # fmt: skip
            part = bin_samples(samples, self.n_channels, dt_s, n_steps, flat=(times, chans, bptr))
            step[ptr[k] : ptr[k] + part.n_events] = part.step
            channel[ptr[k] : ptr[k] + part.n_events] = part.channel
        return BinnedEvents(
            dt_s=float(dt_s), n_steps=int(n_steps), n_channels=self.n_channels, ptr=ptr,
            step=step, channel=channel, labels=self.raw.labels[idx].astype(np.int64),
        )  # fmt: skip

    def fingerprint(self, indices: np.ndarray) -> str:
        """:meth:`~eventbench.data.EventDataset.fingerprint` of the samples ``indices``."""
        idx = np.asarray(indices, np.int64)
        r = self.raw

        def blocks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            return ((r.times[r.ptr[i] : r.ptr[i + 1]], r.units[r.ptr[i] : r.ptr[i + 1]]) for i in idx)

        return events_fingerprint(
            self.n_channels, self.n_classes, r.ptr[idx + 1] - r.ptr[idx], blocks,
            r.labels[idx].astype(np.int64),
        )


def read_heidelberg_window(
    spec: HeidelbergSpec,
    path_or_dir: str | os.PathLike[str] | None,
    split: str,
    dt_s: float,
    n_steps: int,
) -> HeidelbergWindow:
    """Read one split of SHD/SSC (file search as :func:`load_shd`) and drop the events outside
    the trial ``[0, n_steps * dt_s)`` (``t >= n_steps * dt_s`` or a bin index ``>= n_steps``,
    :func:`~eventbench.data.crop_to_grid`), keeping the file's dtypes (see
    :class:`HeidelbergWindow`). Checks and errors as :func:`read_heidelberg`."""
    if split == "val" and "valid" in spec.splits:
        split = "valid"
    if split not in spec.splits:
        raise ValueError(f"{spec.name} has splits {spec.splits}, got {split!r}")
    path = _find_file(spec, path_or_dir, split)
    raw = read_heidelberg(path, spec.n_channels, spec.n_classes, widen=False)
    t_stop = n_steps * dt_s
    times, units, ptr = raw.times, raw.units, raw.ptr
    keep = np.empty(times.shape[0], bool)
    for c0 in range(0, times.shape[0], 1 << 22):
        t = times[c0 : c0 + (1 << 22)].astype(np.float64)
        keep[c0 : c0 + t.shape[0]] = (t < t_stop) & (time_to_bin(t, dt_s) < n_steps)
    gone = np.flatnonzero(~keep)
    if gone.shape[0]:
        ptr = ptr - np.searchsorted(gone, ptr, side="left")
        times, units = _compact(times, keep), _compact(units, keep)
    del keep
    logger.info("%s: cropped to [0, %g) s, dropped %d of %d events",
                path, t_stop, gone.shape[0], raw.times.shape[0])  # fmt: skip
    logger.info("read %s: %d samples, %d events", path, raw.labels.shape[0], int(ptr[-1]))
    cropped = HeidelbergRaw(times, units, ptr, raw.labels, raw.speakers, raw.keys)
    return HeidelbergWindow(f"{spec.name}/{split}", str(path), cropped, spec.n_channels, spec.n_classes)


def _find_file(spec: HeidelbergSpec, path_or_dir: str | os.PathLike[str] | None, split: str) -> Path:
    filename = f"{spec.name}_{split}.h5"
    if path_or_dir is not None and Path(path_or_dir).expanduser().is_file():
        return Path(path_or_dir).expanduser()
    root = resolve_data_dir(path_or_dir)
    dirs = [root, root / spec.name.upper(), root / spec.name]
    searched = [d / filename for d in dirs]
    for cand in searched:
        if cand.is_file():
            return cand
    hint = None
    for d in dirs:
        for ext in (".gz", ".zip"):
            packed = d / (filename + ext)
            if packed.is_file():
                hint = f"found {packed}: decompress it (gunzip / unzip) next to it"
                break
        if hint:
            break
    raise DataMissingError(filename, searched, spec.url, hint)


def load_heidelberg(
    spec: HeidelbergSpec,
    path_or_dir: str | os.PathLike[str] | None = None,
    split: str = "train",
    t_stop_s: float | None = None,
) -> EventDataset:
    """Load one split of SHD or SSC (see :func:`load_shd`)."""
    if split == "val" and "valid" in spec.splits:
        split = "valid"
    if split not in spec.splits:
        raise ValueError(f"{spec.name} has splits {spec.splits}, got {split!r}")
    path = _find_file(spec, path_or_dir, split)
    raw = read_heidelberg(path, spec.n_channels, spec.n_classes)
    n = raw.labels.shape[0]
    times, units, ptr = raw.times, raw.units, raw.ptr
    if t_stop_s is not None:
        if not t_stop_s > 0:
            raise ValueError(f"t_stop_s must be > 0, got {t_stop_s!r}")
        keep = times < t_stop_s
        gone = np.flatnonzero(~keep)  # sorted positions of dropped events
        dropped = int(gone.shape[0])
        if dropped:
            # a sample's new start = old start - number of dropped events before it
            ptr = ptr - np.searchsorted(gone, ptr, side="left")
            times, units = _compact(times, keep), _compact(units, keep)
        logger.info("%s: cropped to [0, %g) s, dropped %d of %d events",
                    path, t_stop_s, dropped, raw.times.shape[0])
    # Content was checked in bulk by read_heidelberg; build the samples without re-checking.
    samples = [
        EventSample._unchecked(times[ptr[i]:ptr[i + 1]], units[ptr[i]:ptr[i + 1]],
                               spec.n_channels, int(raw.labels[i]))
        for i in range(n)
    ]
    logger.info("read %s: %d samples, %d events", path, n, int(ptr[-1]))
    return EventDataset(
        name=f"{spec.name}/{split}",
        samples=samples,
        n_channels=spec.n_channels,
        n_classes=spec.n_classes,
        origin="user-file",
        source=str(path),
        class_names=raw.keys,
        groups=raw.speakers,
        params={"t_stop_s": t_stop_s},
        flat=(times, units, ptr),
    )


def load_shd(
    path_or_dir: str | os.PathLike[str] | None = None,
    split: str = "train",
    t_stop_s: float | None = None,
) -> EventDataset:
    """Spiking Heidelberg Digits, one split (``"train"`` or ``"test"``): 700 channels, 20 classes.

    Args:
        path_or_dir: the ``.h5`` file itself, or a directory holding ``shd_<split>.h5`` directly
            or in ``SHD/`` or ``shd/``; ``None``: ``$EVENTBENCH_DATA``, then ``~/.eventbench/data``.
        split: ``"train"`` or ``"test"``.
        t_stop_s: when given, drop events at ``t >= t_stop_s`` (e.g. 1.0 s or 1.4 s windows);
            the number dropped is logged. Without it, late events are kept and binning to a
            shorter window raises.

    ``groups`` holds the speaker ids (for :func:`validation_split`), ``class_names`` the keys.
    """
    return load_heidelberg(SHD, path_or_dir, split, t_stop_s)


def load_ssc(
    path_or_dir: str | os.PathLike[str] | None = None,
    split: str = "train",
    t_stop_s: float | None = None,
) -> EventDataset:
    """Spiking Speech Commands, one split (``"train"``, ``"valid"``/``"val"`` or ``"test"``): 700
    channels, 35 classes. Arguments as for :func:`load_shd` (files ``ssc_<split>.h5``)."""
    return load_heidelberg(SSC, path_or_dir, split, t_stop_s)


def validation_split(
    dataset: EventDataset,
    method: Literal["random", "speaker"] = "random",
    n_val: int | None = None,
    speaker: int | Sequence[int] | None = None,
    seed: int = 0,
    fraction: float = 0.1,
) -> tuple[EventDataset, EventDataset]:
    """Split a training set into ``(train, val)``; both parts keep the original order.

    Args:
        dataset: the training set.
        method: ``"random"``: samples drawn by ``numpy.random.default_rng(seed)``;
            ``"speaker"``: whole speakers (``dataset.groups``, SHD's ``extra/speaker``) held
            out, so that no validation speaker is heard in training (leave-speakers-out, as the
            loss-shaping paper tuned its SHD recipe).
        n_val: validation size. ``"random"``: exactly this many samples (SHD's customary
            7644 + 512 is ``n_val=512``); ``"speaker"``: the speakers are chosen so that their
            samples come closest to it. ``None``: ``round(fraction * len(dataset))``, at least 1.
        speaker: ``"speaker"`` only: the speaker id(s) to hold out (leave-one-speaker-out;
            ``n_val`` and ``fraction`` are then ignored). ``None``: the speakers are shuffled
            with ``seed`` and the shortest leading run of them whose sample count is closest to
            the target is held out (at least one speaker, at most all but one).
        seed: seed of the random choice.
        fraction: validation share of the samples when ``n_val`` is ``None`` (default 0.1).

    Raises:
        ValueError: a target outside ``(0, len)``, no speaker ids, a single speaker, an
            unknown speaker, or ``speaker`` with ``method="random"``.
    """
    train_idx, val_idx, tag = validation_indices(
        len(dataset), dataset.groups, dataset.name, method, n_val, speaker, seed, fraction
    )
    train = dataset.subset(train_idx, name=f"{dataset.name}-minus-{tag}")
    val = dataset.subset(val_idx, name=f"{dataset.name}-val-{tag}")
    logger.info("%s: validation split %s: %d train / %d validation samples",
                dataset.name, tag, len(train), len(val))
    return train, val


def validation_indices(
    n: int,
    groups: np.ndarray | None,
    name: str,
    method: Literal["random", "speaker"] = "random",
    n_val: int | None = None,
    speaker: int | Sequence[int] | None = None,
    seed: int = 0,
    fraction: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, str]:
    """The sample indices of :func:`validation_split` for a set of ``n`` samples with speaker
    ids ``groups``: ``(train, val, tag)``, both in the original order; ``name`` is used in
    messages. Same arguments and errors as :func:`validation_split`."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction!r}")
    target = n_val if n_val is not None else max(1, round(fraction * n))
    if not 0 < target < n:
        what = f"n_val={n_val}" if n_val is not None else f"fraction {fraction} gives {target}"
        raise ValueError(
            f"{name}: a validation split needs between 1 and {n - 1} of the {n} samples "
            f"({what}); n_val must be in (0, {n})"
        )
    if method == "random":
        if speaker is not None:
            raise ValueError("speaker=... needs method='speaker'")
        val_idx = np.sort(np.random.default_rng(seed).choice(n, size=target, replace=False))
        mask = np.zeros(n, bool)
        mask[val_idx] = True
        tag = f"random{target}/seed{seed}"
    elif method == "speaker":
        mask, held = _speaker_mask(groups, name, target, speaker, seed)
        tag = "speaker" + "+".join(str(v) for v in held)
    else:
        raise ValueError(f"method must be 'random' or 'speaker', got {method!r}")
    idx = np.arange(n)
    return idx[~mask], idx[mask], tag


def _speaker_mask(
    groups: np.ndarray | None, name: str, target: int, speaker: int | Sequence[int] | None,
    seed: int,
) -> tuple[np.ndarray, list[int]]:
    """Mask of the held-out speakers' samples and the sorted held-out speaker ids."""
    if groups is None:
        raise ValueError(
            f"{name} has no speaker ids (extra/speaker) to split on; "
            "use a random validation split (data.val_split = \"random\")"
        )
    ids, sizes = np.unique(groups, return_counts=True)
    if ids.shape[0] < 2:
        raise ValueError(
            f"{name} has only one speaker (id {int(ids[0])}): a speaker-held-out "
            "validation split needs at least two; use a random one (data.val_split = \"random\")"
        )
    if speaker is not None:
        held = sorted({int(v) for v in np.atleast_1d(np.asarray(speaker))})
        missing = [v for v in held if v not in set(ids.tolist())]
        if missing:
            raise ValueError(
                f"speaker {missing[0]} not in {name} (speakers: {ids.tolist()})"
            )
        if len(held) == ids.shape[0]:
            raise ValueError(f"holding out every speaker of {name} leaves no training data")
    else:
        order = np.random.default_rng(seed).permutation(ids.shape[0])
        cum = np.cumsum(sizes[order])[:-1]  # keep at least one speaker for training
        k = int(np.argmin(np.abs(cum - target))) + 1
        held = sorted(int(v) for v in ids[order[:k]])
    return np.isin(groups, held), held


def from_tonic(
    tonic_dataset: Iterable[tuple[np.ndarray, int]],
    name: str,
    n_classes: int | None = None,
    sensor_size: tuple[int, ...] | None = None,
) -> EventDataset:
    """Convert a tonic data set (e.g. ``tonic.datasets.SHD``, ``SSC``, ``DVSGesture``).

    tonic events are structured arrays with ``t`` in µs and ``x`` (plus ``y``, ``p`` for
    cameras). ``t`` is cast to float64 before it is scaled to seconds. The channel of an event is
    ``(x * H + y) * P + p`` for ``sensor_size = (W, H, P)`` (just ``x`` for SHD's
    ``(700, 1, 1)``). ``sensor_size`` and ``n_classes`` default to the data set's
    ``sensor_size`` and ``len(classes)`` attributes. tonic itself is not imported here.
    """
    size = sensor_size if sensor_size is not None else getattr(tonic_dataset, "sensor_size", None)
    if size is None:
        raise ValueError("sensor_size is unknown: pass sensor_size=(W, H, P)")
    dims = tuple(int(v) for v in size) + (1,) * (3 - len(tuple(size)))
    w, h, pol = dims[:3]
    n_ch = w * h * pol
    if n_classes is None and hasattr(tonic_dataset, "classes"):
        n_classes = len(tonic_dataset.classes)
    where = f"<tonic {name}>"
    samples: list[EventSample] = []
    for i, (events, target) in enumerate(tonic_dataset):
        ev = np.asarray(events)
        if ev.dtype.names is None or "t" not in ev.dtype.names or "x" not in ev.dtype.names:
            raise DataFormatError(where, f"[{i}].events", f"need fields t and x, got {ev.dtype}")
        t = ev["t"].astype(np.float64) * 1e-6
        ch = ev["x"].astype(np.int64)
        y = ev["y"].astype(np.int64) if "y" in ev.dtype.names else np.zeros_like(ch)
        p = ev["p"].astype(np.int64) if "p" in ev.dtype.names else np.zeros_like(ch)
        for fld, a, hi in (("x", ch, w), ("y", y, h), ("p", p, pol)):
            if a.size and (a.min() < 0 or a.max() >= hi):
                raise DataFormatError(where, f"[{i}].events.{fld}", f"outside [0, {hi})")
        label = int(np.asarray(target).item())
        if n_classes is not None and not 0 <= label < n_classes:
            raise DataFormatError(where, f"[{i}].target", f"{label} outside [0, {n_classes})")
        samples.append(EventSample(t, (ch * h + y) * pol + p, n_ch, label))
    return EventDataset(
        name=name, samples=samples, n_channels=n_ch, n_classes=n_classes, origin="user-file",
        source=f"tonic:{type(tonic_dataset).__name__}", params={"sensor_size": list(dims)},
    )
