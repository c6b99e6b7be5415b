"""IBM DVS128 Gesture (Amir et al. 2017) from the user's own download, with NeuroBench's
preprocessing.

Files (the ``DvsGesture`` folder of ``DvsGesture.tar.gz``):

* ``userXX_<lighting>.aedat``: AEDAT 3.1 recordings: text header lines starting with ``#``
  (the first is ``#!AEDAT-3.1``, the last ``#!END-HEADER``), then packets of a 28-byte
  little-endian header (int16 ``eventType``, int16 ``eventSource``, int32 ``eventSize``,
  ``eventTSOffset``, ``eventTSOverflow``, ``eventCapacity``, ``eventNumber``, ``eventValid``) and
  ``eventNumber x eventSize`` bytes of events (files store no unused capacity; the readers used
  with this data set read ``eventNumber`` events too). Polarity events (``eventType = 1``, 8 bytes) are
  uint32 ``data``, uint32 ``timestamp`` (µs); ``x = (data >> 17) & 0x1FFF``,
  ``y = (data >> 2) & 0x1FFF``, ``p = (data >> 1) & 1``, valid when ``data & 1``; the full
  time is ``(eventTSOverflow << 31) | timestamp``. Other packet types are skipped.
* ``userXX_<lighting>_labels.csv``: ``class,startTime_usec,endTime_usec`` with classes 1..11;
  a gesture's events are those with ``start <= t < end``.
* ``trials_to_train.txt`` / ``trials_to_test.txt``: the official split, one ``.aedat`` name a
  line (users 1-23 train, 24-29 test).

Preprocessing as NeuroBench's DVS Gesture example (tonic ``Denoise(filter_time=10000)``,
``Downsample(spatial_factor=0.25)``, ``ToFrame(sensor_size=(32, 32, 2), n_time_bins=150)``),
per gesture, with times relative to the gesture's start:

1. **denoise** (:func:`denoise`): an event is kept when one of its 4 neighbour pixels
   (left, right, up, down; the pixel itself and diagonals do not count) had an earlier event
   less than ``filter_us`` before it; events in the first ``filter_us`` of the gesture are kept
   (tonic's timestamp memory starts at ``filter_us``);
2. **downsample**: ``x // 4``, ``y // 4`` (128 x 128 -> 32 x 32);
3. **frames** (:func:`frame_bins`): ``n_bins`` windows of ``w = (t_last - t_first) // n_bins``
   µs each from the first event; an event falls in window ``(t - t_first) // w`` and events past
   ``n_bins * w`` are dropped; channel ``p * 1024 + y * 32 + x`` (tonic's ``[P, H, W]`` frame
   flattened).

The result is an :class:`~eventbench.data.EventDataset` with one event per frame count at time
``(k + 0.5) * frame_s`` (frame ``k``), so that binning at ``dt = frame_s`` gives exactly the
frame counts: 2048 channels, 11 classes, ``n_bins`` steps.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cache import cache_key, cached_arrays
from .dataset import EventDataset, Splits
from .errors import DataFormatError, DataMissingError, resolve_data_dir
from .events import EventSample

__all__ = [
    "DVS_GESTURE_CLASSES",
    "DVS_GESTURE_DIRS",
    "DVS_GESTURE_URL",
    "DvsEvents",
    "denoise",
    "dvs_gesture_dir",
    "frame_bins",
    "load_dvs_gesture",
    "read_aedat31",
    "read_gesture_labels",
    "read_trial_list",
]

logger = logging.getLogger(__name__)

DVS_GESTURE_URL = (
    "https://research.ibm.com/interactive/dvsgesture/ (DvsGesture.tar.gz; unpack its DvsGesture "
    "folder into the data dir)"
)
#: folders under the data dir searched for the files, in order
DVS_GESTURE_DIRS: tuple[str, ...] = ("DvsGesture", "dvs_gesture", "DVSGesture")
DVS_GESTURE_CLASSES: tuple[str, ...] = (
    "hand clap", "right hand wave", "left hand wave", "right arm clockwise",
    "right arm counter-clockwise", "left arm clockwise", "left arm counter-clockwise",
    "arm roll", "air drums", "air guitar", "other gestures",
)
SENSOR = 128
_HEADER = struct.Struct("<hhiiiiii")
_POLARITY = 1


@dataclass(frozen=True)
class DvsEvents:
    """Events of one recording or gesture: int64 ``x``, ``y``, ``p`` (0 off, 1 on) and ``t_us``
    (µs), all ``[E]``, in file order (time order)."""

    x: np.ndarray
    y: np.ndarray
    p: np.ndarray
    t_us: np.ndarray

    def take(self, mask: np.ndarray) -> DvsEvents:
        """The events where ``mask`` (bool ``[E]``) holds, or the indices ``mask`` lists."""
        return DvsEvents(self.x[mask], self.y[mask], self.p[mask], self.t_us[mask])

    def __len__(self) -> int:
        return int(self.t_us.shape[0])


def read_aedat31(path: str | os.PathLike[str]) -> DvsEvents:
    """Valid polarity events of an AEDAT 3.1 file (see the module docstring for the layout)."""
    p = Path(path)
    raw = p.read_bytes()
    first = raw.split(b"\n", 1)[0].strip()
    if not first.startswith(b"#!AEDAT-3."):
        raise DataFormatError(
            p, "header", f"first line {first[:40]!r} is not '#!AEDAT-3.1' (only AEDAT 3.x is read)"
        )
    end = raw.find(b"#!END-HEADER")
    if end < 0:
        raise DataFormatError(p, "header", "no '#!END-HEADER' line")
    pos = raw.index(b"\n", end) + 1
    chunks: list[np.ndarray] = []
    overflows: list[np.ndarray] = []
    while pos < len(raw):
        if pos + _HEADER.size > len(raw):
            raise DataFormatError(p, f"packet at byte {pos}", "truncated packet header")
        etype, _, esize, ts_off, ts_over, capacity, number, _ = _HEADER.unpack_from(raw, pos)
        body = pos + _HEADER.size
        stop = body + number * esize
        if esize <= 0 or number < 0 or stop > len(raw):
            raise DataFormatError(
                p, f"packet at byte {pos}",
                f"eventSize {esize}, eventCapacity {capacity}, eventNumber {number}: "
                f"{'truncated file' if stop > len(raw) else 'inconsistent header'}",
            )
        if etype == _POLARITY:
            if esize != 8 or ts_off != 4:
                raise DataFormatError(p, f"packet at byte {pos}",
                                      f"polarity events of {esize} bytes (timestamp at "
                                      f"{ts_off}); expected 8 (at 4)")
            ev = np.frombuffer(raw, "<u4", count=2 * number, offset=body).reshape(-1, 2)
            chunks.append(ev)
            overflows.append(np.full(number, ts_over, np.int64))
        pos = stop
    if not chunks:
        empty = np.zeros(0, np.int64)
        return DvsEvents(empty, empty, empty, empty)
    ev = np.concatenate(chunks)
    data = ev[:, 0].astype(np.int64)
    t = (np.concatenate(overflows) << 31) | ev[:, 1].astype(np.int64)
    valid = (data & 1) == 1
    data, t = data[valid], t[valid]
    x, y = (data >> 17) & 0x1FFF, (data >> 2) & 0x1FFF
    if x.size and (x.max() >= SENSOR or y.max() >= SENSOR):
        raise DataFormatError(p, "polarity events",
                              f"address ({int(x.max())}, {int(y.max())}) outside the 128 x 128 "
                              "DVS128 sensor")
    order = np.argsort(t, kind="stable")
    return DvsEvents(x[order], y[order], (data >> 1)[order] & 1, t[order])


def read_gesture_labels(path: str | os.PathLike[str]) -> np.ndarray:
    """int64 ``[G, 3]``: (class 1..11, start µs, end µs) per gesture of a ``_labels.csv``."""
    p = Path(path)
    lines = [ln.strip() for ln in p.read_text().splitlines()]
    if not lines or lines[0].replace(" ", "") != "class,startTime_usec,endTime_usec":
        raise DataFormatError(p, "header", "expected 'class,startTime_usec,endTime_usec'")
    rows = []
    for i, ln in enumerate(lines[1:], start=2):
        if not ln:
            continue
        try:
            c, s, e = (int(v) for v in ln.split(","))
        except ValueError:
            raise DataFormatError(p, f"line {i}", f"{ln!r} is not three integers") from None
        if not 1 <= c <= len(DVS_GESTURE_CLASSES) or e <= s:
            raise DataFormatError(p, f"line {i}",
                                  f"class {c} not in 1..11 or end {e} <= start {s}")
        rows.append((c, s, e))
    return np.asarray(rows, np.int64).reshape(-1, 3)


def read_trial_list(path: str | os.PathLike[str]) -> list[str]:
    """The ``.aedat`` names of a ``trials_to_{train,test}.txt`` (blank lines ignored)."""
    p = Path(path)
    names = [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
    bad = [n for n in names if not n.endswith(".aedat")]
    if bad:
        raise DataFormatError(p, "trial list", f"{bad[0]!r} is not an .aedat file name")
    return names


def denoise(ev: DvsEvents, filter_us: int = 10_000) -> DvsEvents:
    """Drop isolated events (module docstring, step 1); times relative to the gesture start.

    Vectorised: for event ``i`` and neighbour pixel ``q``, the latest earlier event at ``q``
    is found by a binary search in the events sorted by (pixel, index)."""
    n = len(ev)
    if n == 0:
        return ev
    width, height = int(ev.x.max()) + 1, int(ev.y.max()) + 1
    idx = np.arange(n, dtype=np.int64)
    pix = ev.x * height + ev.y
    keys = np.sort(pix * n + idx)
    keep = ev.t_us < filter_us
    for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        nx, ny = ev.x + dx, ev.y + dy
        inside = (nx >= 0) & (nx < width) & (ny >= 0) & (ny < height)
        q = nx * height + ny
        pos = np.searchsorted(keys, q * n + idx) - 1
        prev = keys[np.clip(pos, 0, None)]
        found = inside & (pos >= 0) & (prev // n == q)
        j = prev % n
        keep |= found & (ev.t_us[j] > ev.t_us - filter_us)
    return ev.take(keep)


def frame_bins(t_us: np.ndarray, n_bins: int) -> np.ndarray:
    """Frame index per event (module docstring, step 3), ``-1`` for the dropped tail; an error
    when the events span fewer than ``n_bins`` µs."""
    w = (int(t_us[-1]) - int(t_us[0])) // n_bins if t_us.size else 0
    if w <= 0:
        raise ValueError(f"{t_us.size} events spanning less than {n_bins} µs cannot fill "
                         f"{n_bins} frames")
    k = (t_us - t_us[0]) // w
    return np.where(k < n_bins, k, -1)


def _gesture_sample(ev: DvsEvents, n_bins: int, frame_s: float, filter_us: int, factor: int,
                    label: int, where: str) -> EventSample:
    ev = denoise(ev, filter_us)
    if len(ev) == 0:
        raise DataFormatError(where, "events", "no event left after denoising")
    side = SENSOR // factor
    try:
        k = frame_bins(ev.t_us, n_bins)
    except ValueError as exc:
        raise DataFormatError(where, "events", str(exc)) from None
    ch = ev.p * side * side + (ev.y // factor) * side + ev.x // factor
    kept = k >= 0
    times = (k[kept].astype(np.float64) + 0.5) * frame_s
    return EventSample(times, ch[kept], n_channels=2 * side * side, label=label)


def dvs_gesture_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder with ``trials_to_train.txt`` (an error naming where to get and put it)."""
    root = resolve_data_dir(data_dir)
    searched = [root / d / "trials_to_train.txt" for d in DVS_GESTURE_DIRS]
    searched.append(root / "trials_to_train.txt")
    for cand in searched:
        if cand.is_file():
            return cand.parent
    raise DataMissingError("trials_to_train.txt", searched, DVS_GESTURE_URL,
                           hint=f"put the files in {root / DVS_GESTURE_DIRS[0]}")


def load_dvs_gesture(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    n_bins: int = 150,
    frame_s: float = 0.01,
    filter_us: int = 10_000,
    factor: int = 4,
    max_files: int | None = None,
    cache: bool = True,
) -> Splits[EventDataset]:
    """The official train/test split (no validation split), preprocessed as in the module
    docstring.

    Args:
        data_dir: data dir (resolved as usual) holding ``DvsGesture/`` (or the files directly).
        n_bins: frames per gesture (NeuroBench: 150).
        frame_s: nominal length of one frame on the simulation grid (s); the real frame length
            is the gesture's duration / ``n_bins`` and differs per gesture.
        filter_us: denoise window (µs; NeuroBench: 10 ms).
        factor: spatial downsampling factor (NeuroBench: 4, giving 32 x 32).
        max_files: read only the first ``max_files`` recordings of each list (quick runs).
        cache: keep the preprocessed events of each split in
            ``<folder>/.eventbench-cache/dvs-gesture-<split>-<key>.npz``, ``key`` hashing the
            settings and the recordings' names, sizes and modification times (about 5 s of
            preprocessing per recording otherwise).
    """
    if SENSOR % factor:
        raise ValueError(f"factor {factor} does not divide the 128-pixel sensor")
    folder = dvs_gesture_dir(data_dir)
    params = {"n_bins": n_bins, "filter_us": filter_us, "factor": factor,
              "frame_s": frame_s, "preprocessing": "denoise-downsample-frames"}

    side = SENSOR // factor

    def preprocess(folder: Path, lst: Path, files: list[str]) -> dict[str, np.ndarray]:
        samples: list[EventSample] = []
        groups: list[int] = []
        for fname in files:
            aedat = folder / fname
            ev = read_aedat31(aedat)
            user = int(fname[4:6]) if fname[:4] == "user" and fname[4:6].isdigit() else -1
            csv = folder / fname.replace(".aedat", "_labels.csv")
            for g, (c, start, stop) in enumerate(read_gesture_labels(csv)):
                sel = ev.take((ev.t_us >= start) & (ev.t_us < stop))
                rel = DvsEvents(sel.x, sel.y, sel.p, sel.t_us - start)
                samples.append(_gesture_sample(rel, n_bins, frame_s, filter_us, factor,
                                               int(c) - 1, f"{aedat} gesture {g}"))
                groups.append(user)
            logger.info("read %s: %d events", aedat, len(ev))
        if not samples:
            raise DataFormatError(lst, "trial list", "lists no recording with gestures")
        return {
            "times": np.concatenate([s_.times_s for s_ in samples]),
            "channels": np.concatenate([s_.channels for s_ in samples]),
            "ptr": np.cumsum([0] + [s_.times_s.shape[0] for s_ in samples]).astype(np.int64),
            "labels": np.asarray([s_.label for s_ in samples], np.int64),
            "groups": np.asarray(groups, np.int64),
        }

    def split(name: str) -> EventDataset:
        lst = folder / f"trials_to_{name}.txt"
        if not lst.is_file():
            raise DataMissingError(lst.name, [lst], DVS_GESTURE_URL)
        files = read_trial_list(lst)[:max_files]
        stamps = []
        for fname in files:
            for f in (folder / fname, folder / fname.replace(".aedat", "_labels.csv")):
                if not f.is_file():
                    raise DataMissingError(f.name, [f], DVS_GESTURE_URL, hint=f"listed in {lst}")
                st = f.stat()
                stamps.append((f.name, st.st_size, st.st_mtime_ns))
        if cache:
            key = cache_key(version=1, split=name, params=params, files=stamps)
            path = folder / ".eventbench-cache" / f"dvs-gesture-{name}-{key}.npz"
            arrays = cached_arrays(path, lambda: preprocess(folder, lst, files))
        else:
            arrays = preprocess(folder, lst, files)
        times, chans, ptr = arrays["times"], arrays["channels"], arrays["ptr"]
        samples = [EventSample(times[a:b], chans[a:b], n_channels=2 * side * side, label=int(c))
                   for a, b, c in zip(ptr[:-1], ptr[1:], arrays["labels"], strict=True)]
        return EventDataset(
            name=f"dvs-gesture/{name}", samples=samples, n_channels=2 * side * side,
            n_classes=len(DVS_GESTURE_CLASSES), origin="user-file", source=str(folder),
            class_names=DVS_GESTURE_CLASSES, groups=arrays["groups"],
            params={**params, "split": name, "files": len(files)}, flat=(times, chans, ptr),
        )

    return Splits(train=split("train"), val=None, test=split("test"))
