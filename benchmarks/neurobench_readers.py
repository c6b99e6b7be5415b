"""Readers of the DVS Gesture and Speech Commands tasks at real-data sizes (standalone script).

Writes, in a temporary folder, one synthetic DVS128 Gesture recording in the AEDAT 3.1 layout
(``--events`` events over 11 gestures of 6 s, in packets of 4096 events, like a camera's) and
``--clips`` 1 s 16 kHz wav clips, then times:

* ``read_aedat31`` of the recording,
* the NeuroBench preprocessing of its 11 gestures (denoise 10 ms, downsample 4, 150 frames) as
  ``load_dvs_gesture`` does it,
* reading and MFCC of the clips (the ``gsc`` task's default front end), per clip,
* the cochlea front end (700 channels) on a few clips, per clip.

Usage: ``python benchmarks/neurobench_readers.py [--events 3000000] [--clips 200]``. Prints
wall-clock seconds (one run each, single process); extrapolations to the full data sets (122
recordings; about 105 000 clips) are in the last lines. On a shared machine the numbers are noisy.
"""

from __future__ import annotations

import argparse
import struct
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from eventbench.data.cochlea import cochlea_spikes
from eventbench.data.dvs_gesture import DvsEvents, _gesture_sample, read_aedat31
from eventbench.data.speech_commands import mfcc, read_clip


def write_recording(path: Path, n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """AEDAT 3.1 file with ``n`` events: 11 gestures of 6 s, each a moving 30 x 30 blob plus
    5 % uniform noise; returns the gestures' (start, end) in µs."""
    gestures = [(1_000_000 + g * 6_500_000, 1_000_000 + g * 6_500_000 + 6_000_000)
                for g in range(11)]
    per = n // 11
    xs, ys, ts = [], [], []
    for s, e in gestures:
        t = np.sort(rng.integers(s, e, per))
        phase = (t - s) / (e - s) * 2 * np.pi
        cx = 64 + 30 * np.cos(phase)
        cy = 64 + 30 * np.sin(phase)
        x = np.clip(cx + rng.normal(0, 8, per), 0, 127).astype(np.int64)
        y = np.clip(cy + rng.normal(0, 8, per), 0, 127).astype(np.int64)
        noise = rng.random(per) < 0.05
        x[noise] = rng.integers(0, 128, noise.sum())
        y[noise] = rng.integers(0, 128, noise.sum())
        xs.append(x)
        ys.append(y)
        ts.append(t)
    x, y, t = np.concatenate(xs), np.concatenate(ys), np.concatenate(ts)
    p = rng.integers(0, 2, x.shape[0])
    data = (x << 17) | (y << 2) | (p << 1) | 1
    body = [b"#!AEDAT-3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"]
    for i in range(0, t.shape[0], 4096):
        ev = np.stack([data[i:i + 4096], t[i:i + 4096]], axis=1).astype("<u4")
        k = ev.shape[0]
        body.append(struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, k, k, k) + ev.tobytes())
    path.write_bytes(b"".join(body))
    return gestures


def write_clip(path: Path, rng: np.random.Generator) -> None:
    t = np.arange(16000) / 16000
    f0 = rng.uniform(100, 250)
    s = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 8)) * np.hanning(16000) * 0.2
    s += rng.normal(0, 0.005, 16000)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.asarray(np.clip(s, -1, 1) * 32767, "<i2").tobytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=3_000_000)
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--cochlea-clips", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        rec = d / "user01_led.aedat"
        gestures = write_recording(rec, args.events, rng)
        t0 = time.perf_counter()
        ev = read_aedat31(rec)
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        kept = 0
        for c, (s, e) in enumerate(gestures):
            sel = ev.take((ev.t_us >= s) & (ev.t_us < e))
            smp = _gesture_sample(DvsEvents(sel.x, sel.y, sel.p, sel.t_us - s), 150, 0.01,
                                  10_000, 4, c, str(rec))
            kept += smp.times_s.shape[0]
        t_prep = time.perf_counter() - t0
        print(f"DVS Gesture: {len(ev):,} events ({rec.stat().st_size / 1e6:.1f} MB): read "
              f"{t_read:.2f} s, preprocess 11 gestures {t_prep:.2f} s ({kept:,} events kept)")
        for i in range(args.clips):
            write_clip(d / f"c{i}.wav", rng)
        t0 = time.perf_counter()
        for i in range(args.clips):
            mfcc(read_clip(d / f"c{i}.wav"))
        t_mfcc = (time.perf_counter() - t0) / args.clips
        t0 = time.perf_counter()
        for i in range(args.cochlea_clips):
            cochlea_spikes(read_clip(d / f"c{i}.wav"), 16000, seed=i)
        t_coch = (time.perf_counter() - t0) / max(1, args.cochlea_clips)
        print(f"Speech Commands: read + MFCC {1e3 * t_mfcc:.2f} ms / clip, read + cochlea "
              f"(700 ch) {t_coch:.2f} s / clip")
        full = (t_read + t_prep) * 122
        print(f"extrapolated: DVS Gesture 122 recordings ~{full / 60:.1f} min per load (no cache); "
              f"GSC 105,829 clips: MFCC ~{105_829 * t_mfcc / 60:.1f} min, cochlea "
              f"~{105_829 * t_coch / 3600:.1f} h on one core (cached after the first load)")


if __name__ == "__main__":
    main()
