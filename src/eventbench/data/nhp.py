"""NHP primate reaching (O'Doherty et al., Zenodo record 583331) from the user's .mat files.

The files are MATLAB v7.3, i.e. HDF5, read with h5py. Fields used (shapes as h5py sees them,
transposed with respect to MATLAB):

* ``t``: ``[1, T]`` time stamps in seconds, 4 ms apart;
* ``cursor_pos``: ``[2, T]`` cursor (finger) position;
* ``target_pos``: ``[2, T]`` target position;
* ``spikes``: ``[units, channels]`` object references to spike-time vectors (seconds); empty cells
  are MATLAB empty arrays (attribute ``MATLAB_empty``). indy files have 96 channels, loco 192.

Preprocessing follows ``neurobench.datasets.PrimateReaching`` (defaults: no spike sorting):

1. spikes are put on a 4 ms grid and OR-ed across the units of a channel (at most one per
   channel and 4 ms bin);
2. the input of step ``i`` is the number of occupied bins per channel in the 28 ms window
   ``[t_i - lag - 28 ms, t_i - lag)``, with ``lag = 4 ms`` (NeuroBench's alignment: its
   histogram-then-shift puts the window one step before ``t_i``); bins are assigned with
   ``floor(x / 4 ms + 1e-9)`` (like :func:`~eventbench.data.time_to_bin`), so spikes exactly on a
   bin edge may differ from NumPy's ``histogram``;
3. the target is the cursor velocity ``numpy.gradient(cursor_pos, axis=1)`` (position units per
   4 ms step, as ``torch.gradient`` in NeuroBench);
4. segments start where ``target_pos`` changes; the first ``floor(0.8 n)`` segments are train,
   the next ``floor((n - n_train) / 2)`` validation, the rest test (NeuroBench ``split_num = 1``).
   Each split is a contiguous stretch of the recording.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import DenseDataset, Splits
from .errors import DataFormatError, DataMissingError, resolve_data_dir

__all__ = [
    "NHP_FILES",
    "NHP_URL",
    "NhpRecording",
    "bin_reaching",
    "load_nhp",
    "reaching_segments",
    "read_reaching_mat",
]

logger = logging.getLogger(__name__)

NHP_URL = "https://zenodo.org/record/583331 (O'Doherty et al., files <name>.mat)"

#: The six NeuroBench sessions.
NHP_FILES: tuple[str, ...] = (
    "indy_20160622_01", "indy_20160630_01", "indy_20170131_02",
    "loco_20170210_03", "loco_20170215_02", "loco_20170301_05",
)

SAMPLING_S = 4e-3


class NhpRecording:
    """Checked content of one reaching ``.mat`` file.

    Attributes:
        t: float64 ``[T]`` time stamps (s); ``cursor_pos``, ``target_pos``: float64 ``[2, T]``;
        spikes: ``spikes[u][c]`` float64 spike times (s) of unit ``u`` on channel ``c``;
        n_units, n_channels: the shape of the ``spikes`` cell array as h5py sees it.
    """

    def __init__(self, path: Path, t: np.ndarray, cursor_pos: np.ndarray,
                 target_pos: np.ndarray, spikes: list[list[np.ndarray]]) -> None:
        self.path = path
        self.t = t
        self.cursor_pos = cursor_pos
        self.target_pos = target_pos
        self.spikes = spikes
        self.n_units = len(spikes)
        self.n_channels = len(spikes[0]) if spikes else 0


def _float_field(f: Any, key: str, path: Path) -> np.ndarray:
    import h5py

    if key not in f:
        raise DataFormatError(path, key, "missing")
    ds = f[key]
    if not isinstance(ds, h5py.Dataset):
        raise DataFormatError(path, key, "is a group, expected a numeric array")
    a = np.asarray(ds[()])
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise DataFormatError(path, key, f"wrong dtype {a.dtype}: expected numbers")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise DataFormatError(path, key, "contains NaN or inf")
    return a


def read_reaching_mat(path: str | os.PathLike[str]) -> NhpRecording:
    """Read and check one reaching ``.mat`` (v7.3) file; see the module docstring."""
    import h5py

    p = Path(path)
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise DataFormatError(
            p, "<HDF5 file>",
            f"not readable as MATLAB v7.3 (HDF5): {exc}; older .mat versions are not supported",
        ) from exc
    field = "<HDF5 file>"
    try:
        with f:
            field = "t"
            t = _float_field(f, "t", p)
            if t.ndim != 2 or 1 not in t.shape:
                raise DataFormatError(p, "t", f"shape {t.shape} is not [1, T]")
            t = t.reshape(-1)
            n_t = t.shape[0]
            if n_t < 2 or not (np.diff(t) > 0).all():
                raise DataFormatError(p, "t", "must hold >= 2 strictly increasing time stamps")
            pos = {}
            for key in ("cursor_pos", "target_pos"):
                field = key
                a = _float_field(f, key, p)
                if a.shape != (2, n_t):
                    raise DataFormatError(p, key, f"shape {a.shape} != (2, {n_t}) (2 x T)")
                pos[key] = a
            field = "spikes"
            if "spikes" not in f:
                raise DataFormatError(p, "spikes", "missing")
            refs = f["spikes"]
            if refs.dtype != h5py.ref_dtype or refs.ndim != 2:
                raise DataFormatError(
                    p, "spikes", f"must be a 2-D cell array of references, got {refs.dtype} "
                    f"{refs.shape}",
                )
            ref_arr = refs[()]
            spikes: list[list[np.ndarray]] = []
            for u in range(ref_arr.shape[0]):
                row = []
                for c in range(ref_arr.shape[1]):
                    field = f"spikes[{u},{c}]"
                    ds = f[ref_arr[u, c]]
                    if ds.attrs.get("MATLAB_empty", 0):
                        row.append(np.zeros(0))
                        continue
                    s = np.asarray(ds[()])
                    if not np.issubdtype(s.dtype, np.floating):
                        raise DataFormatError(p, field, f"wrong dtype {s.dtype}: expected float")
                    s = s.astype(np.float64).reshape(-1)
                    if not np.isfinite(s).all():
                        raise DataFormatError(p, field, "contains NaN or inf")
                    row.append(s)
                spikes.append(row)
    except OSError as exc:
        raise DataFormatError(p, field, f"cannot be read (truncated or corrupt?): {exc}") from exc
    return NhpRecording(p, t, pos["cursor_pos"], pos["target_pos"], spikes)


def bin_reaching(
    rec: NhpRecording, window_s: float = 0.028, lag_s: float = SAMPLING_S
) -> np.ndarray:
    """Spike counts float32 ``[T, channels]``: occupied 4 ms bins (OR over units) per channel in
    ``[t_i - lag_s - window_s, t_i - lag_s)`` for each time stamp ``t_i``."""
    ratio = round(window_s / SAMPLING_S)
    lag = round(lag_s / SAMPLING_S)
    if ratio < 1 or abs(ratio * SAMPLING_S - window_s) > 1e-9 or abs(lag * SAMPLING_S - lag_s) > 1e-9:
        raise ValueError(f"window_s and lag_s must be multiples of 4 ms, got {window_s}, {lag_s}")
    n_t = rec.t.shape[0]
    # grid bin j covers [e0 + j dt, e0 + (j + 1) dt), e0 = t_0 - lag - window; step i sums bins
    # i .. i + ratio - 1.
    e0 = rec.t[0] - lag_s - window_s
    n_bins = n_t + ratio - 1
    occ = np.zeros((n_bins, rec.n_channels), dtype=bool)
    for c in range(rec.n_channels):
        s = np.concatenate([rec.spikes[u][c] for u in range(rec.n_units)])
        j = np.floor((s - e0) / SAMPLING_S + 1e-9).astype(np.int64)
        j = j[(j >= 0) & (j < n_bins)]  # spikes outside the recording window have no step
        occ[j, c] = True
    csum = np.zeros((n_bins + 1, rec.n_channels), dtype=np.int64)
    np.cumsum(occ, axis=0, out=csum[1:])
    counts = csum[ratio:ratio + n_t] - csum[0:n_t]
    return counts.astype(np.float32)


def reaching_segments(target_pos: np.ndarray) -> np.ndarray:
    """int64 ``[S, 2]`` (start, end) step indices of the segments: a new segment starts at every
    index ``i`` with ``target_pos[:, i + 1] != target_pos[:, i]`` (NeuroBench's convention)."""
    diff = np.diff(target_pos, axis=1, append=target_pos[:, -1:])
    flags = np.flatnonzero(np.abs(diff).sum(axis=0))
    bounds = np.concatenate([[0], flags, [target_pos.shape[1]]]).astype(np.int64)
    seg = np.stack([bounds[:-1], bounds[1:]], axis=1)
    return seg[seg[:, 1] > seg[:, 0]]


def _find_mat(path_or_name: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None
              ) -> Path:
    direct = Path(path_or_name).expanduser()
    if direct.suffix == ".mat" and direct.is_file():
        return direct
    name = direct.name if direct.suffix == ".mat" else direct.name + ".mat"
    root = resolve_data_dir(data_dir)
    searched = [root / name, root / "primate_reaching" / name, root / "nhp" / name]
    if direct.suffix == ".mat":
        searched.insert(0, direct)
    for cand in searched:
        if cand.is_file():
            return cand
    raise DataMissingError(name, searched, NHP_URL)


def load_nhp(
    path_or_name: str | os.PathLike[str] = NHP_FILES[0],
    data_dir: str | os.PathLike[str] | None = None,
    window_s: float = 0.028,
    train_ratio: float = 0.8,
) -> Splits[DenseDataset]:
    """One NeuroBench reaching session as train/val/test :class:`DenseDataset` s.

    Args:
        path_or_name: a ``.mat`` path, or a session name (e.g. ``"indy_20160622_01"``) looked up
            in ``data_dir`` (resolved as usual) and its ``primate_reaching/`` / ``nhp/`` folders.
        window_s: summation window (28 ms; multiple of 4 ms).
        train_ratio: fraction of segments for training (0.8).

    ``inputs`` are float32 spike counts ``[T_split, channels]``, ``targets`` the cursor velocity
    ``[T_split, 2]`` (per 4 ms step); ``dt_s = 0.004``.
    """
    path = _find_mat(path_or_name, data_dir)
    rec = read_reaching_mat(path)
    counts = bin_reaching(rec, window_s)
    velocity = np.gradient(rec.cursor_pos, axis=1).T.copy()
    seg = reaching_segments(rec.target_pos)
    n_seg = seg.shape[0]
    n_train = math.floor(train_ratio * n_seg)
    n_val = math.floor((n_seg - n_train) / 2)
    if n_train == 0 or n_val == 0 or n_seg - n_train - n_val == 0:
        raise DataFormatError(path, "target_pos",
                              f"{n_seg} segments are too few for a train/val/test split")
    groups = {"train": seg[:n_train], "val": seg[n_train:n_train + n_val],
              "test": seg[n_train + n_val:]}
    params = {"window_s": window_s, "lag_s": SAMPLING_S, "train_ratio": train_ratio,
              "n_segments": n_seg, "n_units": rec.n_units}
    logger.info("read %s: %d steps, %d channels, %d segments", path, rec.t.shape[0],
                rec.n_channels, n_seg)

    def part(split: str) -> DenseDataset:
        s = groups[split]
        lo, hi = int(s[0, 0]), int(s[-1, 1])
        return DenseDataset(
            name=f"nhp/{path.stem}/{split}", inputs=counts[lo:hi], targets=velocity[lo:hi],
            n_channels=rec.n_channels, origin="user-file", dt_s=SAMPLING_S, source=str(path),
            params={**params, "split": split, "steps": [lo, hi],
                    "segment_starts": (s[:, 0] - lo).tolist()},
        )

    return Splits(train=part("train"), val=part("val"), test=part("test"))
