"""Compare eventbench's fast cochlea with lauscher on the same WAV files.

Usage (lauscher lives in its own virtual environment; it is not an EventBench dependency):

    python3 -m venv /tmp/lvenv && /tmp/lvenv/bin/pip install lauscher==1.0.1
    /tmp/lvenv/bin/python -m lauscher word.wav word.npz --num_channels 700 -j 2
    .venv/bin/python scripts/compare-cochlea-lauscher.py word.wav [more.wav ...]

Each ``X.wav`` needs lauscher's ``X.npz`` (array ``arr_0`` of shape ``[2, E]``: times in s,
channel ids) beside it. Printed per file and as the mean: total spikes, active channels, the
correlation of the per-channel spike counts across the 700 channels (raw and smoothed over 10
channels), the correlation of the population rate in 10 ms bins, the first spike and the onset
(the first 5 ms bin with more than 20 spikes, about 3x the spontaneous background), and the
cochlea's run time.
"""

from __future__ import annotations

import sys
import time
import wave
from pathlib import Path

import numpy as np

from eventbench.data.cochlea import cochlea_spikes

N_CH = 700


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise SystemExit(f"{path}: need mono 16-bit PCM")
        raw = w.readframes(w.getnframes())
        return np.frombuffer(raw, "<i2").astype(np.float64) / 32768.0, w.getframerate()


def _onset(t: np.ndarray, bin_s: float = 0.005, threshold: int = 20) -> float:
    counts = np.bincount((t / bin_s).astype(np.int64))
    above = np.flatnonzero(counts > threshold)
    return float(above[0] * bin_s) if above.size else float("nan")


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def compare(path: Path, seed: int = 0) -> dict[str, float]:
    """Metrics of one file (see the module docstring)."""
    x, fs = _read_wav(path)
    ref = np.load(path.with_suffix(".npz"))["arr_0"]
    t_ref, c_ref = ref[0], ref[1].astype(np.int64)
    t0 = time.perf_counter()
    out = cochlea_spikes(x, fs, seed=seed)
    seconds = time.perf_counter() - t0
    n_bins = int(len(x) / fs / 0.01) + 1
    box = np.ones(10) / 10
    p_me, p_ref = (np.bincount(c, minlength=N_CH) for c in (out.channels, c_ref))
    r_me, r_ref = (np.bincount((t / 0.01).astype(np.int64), minlength=n_bins)[:n_bins]
                   for t in (out.times_s, t_ref))
    return {
        "spikes": out.n_spikes, "spikes_ref": t_ref.shape[0],
        "active": int((p_me > 0).sum()), "active_ref": int((p_ref > 0).sum()),
        "ch_corr": _corr(p_me, p_ref),
        "ch_corr10": _corr(np.convolve(p_me, box, "same"), np.convolve(p_ref, box, "same")),
        "t_corr": _corr(r_me, r_ref),
        "first_ms": 1e3 * float(out.times_s.min()), "first_ref_ms": 1e3 * float(t_ref.min()),
        "onset_ms": 1e3 * _onset(out.times_s), "onset_ref_ms": 1e3 * _onset(t_ref),
        "seconds": seconds, "duration_s": len(x) / fs,
    }


def main(paths: list[str]) -> None:
    rows = {Path(p).stem: compare(Path(p)) for p in paths}
    keys = list(next(iter(rows.values())))
    print("file," + ",".join(keys))
    for name, r in rows.items():
        print(name + "," + ",".join(f"{r[k]:.3g}" for k in keys))
    print("mean," + ",".join(f"{np.mean([r[k] for r in rows.values()]):.3g}" for k in keys))


if __name__ == "__main__":
    main(sys.argv[1:])
