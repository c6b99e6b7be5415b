"""Data-loading benchmark at the full SHD training-set size (standalone script).

Generates 8156 synthetic samples of about 8000 spikes (Poisson number of spikes, times uniform in
[0, 1.4) s rounded to float16 as in the real files, 700 channels, 20 classes) and times:

* writing and reading them as an SHD-layout HDF5 file (``load_shd``),
* building the ``EventDataset`` and its fingerprint,
* binning the whole set (sparse ``BinnedEvents``) at dt = 1 ms / 1400 steps and 10 ms / 140 steps,
* materialising dense ``[T, B, N]`` batches (one epoch at 10 ms, batch 256; a few batches at 1 ms),
* the ``BinCache`` round trip (first call bins and writes ``.npz``, a fresh cache reads it).

Usage: ``python benchmarks/data_loading.py [--n-samples 8156] [--spikes 8000] [--no-hdf5]``.
Prints a table: wall-clock and process-CPU seconds (user + system, all threads), one run each
(these are seconds-scale operations). On a shared machine the CPU column is the fairer figure.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from eventbench.data import BinCache, BinMode, BinnedEvents, EventDataset, EventSample, load_shd

T = TypeVar("T")


Row = tuple[str, float, float, str]  # (step, wall s, process CPU s, note)


def timed(rows: list[Row], label: str, fn: Callable[[], T], note: str = "") -> T:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    rows.append((label, time.perf_counter() - t0, time.process_time() - c0, note))
    return out


def synth(n: int, mean_spikes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                             np.ndarray]:
    """(times float64 [E] via float16, channels int64 [E], ptr [n+1], labels [n])."""
    rng = np.random.default_rng(seed)
    lengths = rng.poisson(mean_spikes, n).astype(np.int64)
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=ptr[1:])
    # sorted uniform times per sample without sorting: normalised cumulative exponential gaps
    e = int(ptr[-1])
    gaps = rng.standard_exponential(e + n)
    csum = np.cumsum(gaps)
    ends = ptr[1:] + np.arange(1, n + 1)  # one extra gap per sample
    starts = np.concatenate([[0.0], csum[ends[:-1] - 1]])
    owner = np.repeat(np.arange(n, dtype=np.int64), lengths + 1)
    u = (csum - starts[owner]) / (csum[ends - 1] - starts)[owner]
    last = np.zeros(e + n, bool)
    last[ends - 1] = True
    times = (u[~last] * 1.4).astype(np.float16).astype(np.float64)
    times = np.minimum(times, np.nextafter(1.4, 0.0))  # float16 rounding may reach 1.4
    channels = rng.integers(0, 700, int(ptr[-1]), dtype=np.int64)
    labels = rng.integers(0, 20, n, dtype=np.int64)
    return times, channels, ptr, labels


def write_h5(path: Path, times: np.ndarray, channels: np.ndarray, ptr: np.ndarray,
             labels: np.ndarray) -> None:
    import h5py

    n = labels.shape[0]
    t16 = times.astype(np.float16)
    u16 = channels.astype(np.uint16)
    with h5py.File(path, "w") as f:
        t = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
        u = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        t[...] = np.array([t16[ptr[i]:ptr[i + 1]] for i in range(n)] + [None], object)[:-1]
        u[...] = np.array([u16[ptr[i]:ptr[i + 1]] for i in range(n)] + [None], object)[:-1]
        f["labels"] = labels.astype(np.uint8)
        f["extra/speaker"] = (np.arange(n) % 10).astype(np.uint8)


def main(argv: list[str] | None = None) -> list[Row]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-samples", type=int, default=8156)
    ap.add_argument("--spikes", type=int, default=8000, help="mean spikes per sample")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--no-hdf5", action="store_true", help="skip the HDF5 write/read rows")
    ap.add_argument("--device", default="cpu", help="where dense batches are built (cpu, cuda)")
    ap.add_argument("--workdir", default=None,
                    help="folder for the HDF5 file and cache (default: a temporary folder)")
    args = ap.parse_args(argv)
    rows: list[Row] = []
    times, chans, ptr, labels = timed(rows, "generate synthetic events",
                                      lambda: synth(args.n_samples, args.spikes))
    n, e = args.n_samples, int(ptr[-1])
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmpdir = Path(tmp)
        if not args.no_hdf5:
            h5 = tmpdir / "shd_train.h5"
            timed(rows, "write SHD-layout HDF5", lambda: write_h5(h5, times, chans, ptr, labels))
            rows[-1] = (*rows[-1][:3], f"{h5.stat().st_size / 1e6:.0f} MB")
            ds = timed(rows, "load_shd (read + check + samples)",
                       lambda: load_shd(h5, "train", t_stop_s=1.4))
        else:
            def build() -> EventDataset:
                samples = [EventSample(times[ptr[i]:ptr[i + 1]], chans[ptr[i]:ptr[i + 1]], 700,
                                       int(labels[i])) for i in range(n)]
                return EventDataset("synthetic-shd", samples, 700, 20, "generated")
            ds = timed(rows, "build EventDataset from arrays", build)
        timed(rows, "fingerprint (sha256 of content)", ds.fingerprint)
        b1 = timed(rows, "bin all samples, dt=1 ms, T=1400", lambda: ds.binned(1e-3, 1400),
                   f"{e:,} events")
        b10 = timed(rows, "bin all samples, dt=10 ms, T=140", lambda: ds.binned(10e-3, 140))

        device = torch.device(args.device)

        def sync() -> None:
            if device.type == "cuda":
                torch.cuda.synchronize(device)

        def epoch(b: BinnedEvents, mode: BinMode) -> int:
            total = 0
            for start in range(0, n, args.batch):
                x = b.dense(np.arange(start, min(n, start + args.batch)), mode=mode, device=device)
                total += int(x.shape[1])
            sync()
            return total

        def few(b: BinnedEvents, k: int) -> list[torch.Tensor]:
            out = [b.dense(np.arange(i * 64, min(n, (i + 1) * 64)), device=device)
                   for i in range(k)]
            sync()
            return out

        timed(rows, f"dense epoch dt=10 ms, batch {args.batch}, count",
              lambda: epoch(b10, "count"), f"{(n + args.batch - 1) // args.batch} batches")
        timed(rows, f"dense epoch dt=10 ms, batch {args.batch}, binary",
              lambda: epoch(b10, "binary"))
        k = min(4, max(1, n // 64))
        t_dense = timed(rows, f"dense dt=1 ms, batch 64 x {k} (binary)", lambda: few(b1, k))
        rows[-1] = (*rows[-1][:3], f"{t_dense[0].numel() * 4 / 1e6:.0f} MB/batch")
        del t_dense
        cache = BinCache(tmpdir / "cache")
        timed(rows, "BinCache miss (bin + write .npz)", lambda: ds.binned(1e-3, 1400, cache=cache))
        fresh = BinCache(tmpdir / "cache")
        timed(rows, "BinCache hit from disk (fresh cache)",
              lambda: ds.binned(1e-3, 1400, cache=fresh))
        timed(rows, "BinCache hit in memory", lambda: ds.binned(1e-3, 1400, cache=fresh))
    print(f"EventBench data loading: {n} samples, {e:,} events ({e / n:.0f}/sample), 700 channels")
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
          f"{platform.machine()}, torch threads {torch.get_num_threads()}, dense on {args.device}")
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'wall s':>8}  {'cpu s':>8}  note")
    for label, sec, cpu, note in rows:
        print(f"{label:<{width}}  {sec:8.3f}  {cpu:8.3f}  {note}")
    return rows


if __name__ == "__main__":
    main()
