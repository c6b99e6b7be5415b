"""Whole-epoch throughput and memory of ``eventbench train shd`` on full-size SHD-layout files.

What it does, in one command:

1. writes (once; reused while the parameters match) SHD-layout HDF5 files with SHD's size and
   spike statistics: ``shd_train.h5`` 8156 samples, ``shd_test.h5`` 2264 samples, 700 channels,
   20 classes, 12 speakers, about 8000 spikes per sample (normal, sd 2500, clipped to
   [1000, 20000]), spike times uniform over 0-1.05 s (the 1 s trial crops about 5 %), float16
   times and uint16 units in variable-length rows, as in ``src/eventbench/data/shd.py``; and, for
   the SSC-sized run, ``ssc_{train,valid,test}.h5`` with SSC's sample counts (75 466 / 9 981 /
   20 382) and the same statistics;
2. runs, each in a fresh process, the CLI's training pipeline (``eventbench train shd``: the
   task's loader, recipe, thread setting and model, :func:`eventbench.train.loop.fit`) for one
   epoch without validation, and prints the epoch time split into loading (files to binned
   events), batching (``Split.batch``; with EventProp on the CPU kernels the loop builds the
   next batch in a background thread, so this time overlaps the steps), forward + loss
   (``Learner.step``) and the rest (backward, optimiser, waiting for a batch, bookkeeping), plus
   the process's peak resident memory (``ru_maxrss``,
   the whole process: Python, torch, Numba, the data and the training);
3. the SSC-sized run trains ``--ssc-batches`` minibatches (a fraction of an epoch) and is
   stopped if its resident memory passes ``--ssc-limit-gb`` (default 8).

Targets of issue 11 (2-core CPU): an SHD epoch (batching, forward, backward, optimiser) <= 7.8 s;
SHD peak memory <= 1.5 GB; SSC-sized training <= 8 GB.

Usage::

    python benchmarks/shd_epoch.py                    # SHD epoch, then the SSC-sized run
    python benchmarks/shd_epoch.py --no-ssc           # SHD only
    python benchmarks/shd_epoch.py --data /tmp/eb-epoch --json epoch.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shd_step import rss_mb  # the resident-size reader of the step benchmark

N_CH = 700
MEAN_SPIKES, SD_SPIKES = 8000, 2500
T_MAX_S = 1.05
SIZES = {
    "shd": {"train": 8156, "test": 2264},
    "ssc": {"train": 75466, "valid": 9981, "test": 20382},
}
CLASSES = {"shd": 20, "ssc": 35}
FORMAT = "v1"  # bump when the generator changes


# ------------------------------------------------------------------------------------------
# data files


def write_split(path: Path, n: int, n_classes: int, seed: int) -> None:
    """One SHD-layout file of ``n`` samples (see the module docstring)."""
    import h5py

    rng = np.random.default_rng(seed)
    counts = np.clip(rng.normal(MEAN_SPIKES, SD_SPIKES, n), 1000, 20000).astype(np.int64)
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        t_ds = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
        u_ds = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        chunk = 2000
        for i0 in range(0, n, chunk):
            i1 = min(n, i0 + chunk)
            ts = np.empty(i1 - i0, dtype=object)
            us = np.empty(i1 - i0, dtype=object)
            for k, c in enumerate(counts[i0:i1]):
                ts[k] = np.sort(rng.random(c) * T_MAX_S).astype(np.float16)
                us[k] = rng.integers(0, N_CH, c).astype(np.uint16)
            t_ds[i0:i1] = ts
            u_ds[i0:i1] = us
        f["labels"] = rng.integers(0, n_classes, n).astype(np.uint8)
        f["extra/speaker"] = rng.integers(0, 12, n).astype(np.uint8)
        f["extra/keys"] = np.asarray([f"class-{k}".encode() for k in range(n_classes)])
    tmp.replace(path)


def ensure_files(root: Path, name: str) -> Path:
    """The data set's files under ``root/<name>-<format>`` (written when missing)."""
    d = root / f"{name}-{FORMAT}"
    d.mkdir(parents=True, exist_ok=True)
    for k, (split, n) in enumerate(SIZES[name].items()):
        p = d / f"{name}_{split}.h5"
        if not p.is_file():
            t0 = time.perf_counter()
            print(f"writing {p} ({n} samples) ...", flush=True)
            write_split(p, n, CLASSES[name], seed=1000 * len(name) + k)
            print(f"  {p.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - t0:.1f} s",
                  flush=True)  # fmt: skip
    return d


# ------------------------------------------------------------------------------------------
# worker: one training run in this process


@dataclass
class Clock:
    """Accumulated wall time of the wrapped calls."""

    seconds: float = 0.0
    calls: int = 0


@dataclass
class TimedSplit:
    """A training split whose ``batch`` calls are timed; ``limit`` keeps the first samples."""

    inner: Any
    clock: Clock
    limit: int | None = None

    @property
    def name(self) -> str:
        return str(self.inner.name)

    def __len__(self) -> int:
        n = len(self.inner)
        return n if self.limit is None else min(n, self.limit)

    def batch(self, indices: Any, sparse: bool = False) -> Any:
        t0 = time.perf_counter()
        out = self.inner.batch(indices, sparse=sparse)
        self.clock.seconds += time.perf_counter() - t0
        self.clock.calls += 1
        return out

    def fingerprint(self) -> str | None:
        return self.inner.fingerprint()  # type: ignore[no-any-return]


@dataclass
class TimedLearner:
    """A learner whose ``step`` (forward and loss) is timed."""

    inner: Any
    clock: Clock = field(default_factory=Clock)

    @property
    def objective(self) -> str:
        return str(self.inner.objective)

    @property
    def module(self) -> Any:
        return self.inner.module

    @property
    def sparse_input(self) -> bool:
        return bool(self.inner.sparse_input)

    def step(self, x: Any, y: Any) -> Any:
        t0 = time.perf_counter()
        out = self.inner.step(x, y)
        self.clock.seconds += time.perf_counter() - t0
        self.clock.calls += 1
        return out

    def end_epoch(self, counts: Any) -> int:
        return int(self.inner.end_epoch(counts))


def worker(task_name: str, data_dir: Path, batches: int | None) -> dict[str, Any]:
    """The CLI's pipeline (``eventbench train``) for one epoch (or ``batches`` minibatches),
    without validation or checkpoints, with each part timed."""
    t_start = time.perf_counter()
    from eventbench.tasks import get_task
    from eventbench.tasks.pipeline import apply_threads, build, resolve_recipe, train_config
    from eventbench.train.loop import fit

    import_s = time.perf_counter() - t_start
    task = get_task(task_name)
    recipe = resolve_recipe(task, assignments=["train.epochs=1"])
    threads = apply_threads(recipe)
    t0 = time.perf_counter()
    data = task.load(recipe, data_dir)
    load_s = time.perf_counter() - t0
    rss_loaded = rss_mb()
    built = build(recipe, data)
    cfg = train_config(recipe)
    batch_clock = Clock()
    limit = None if batches is None else batches * cfg.batch_size
    split = TimedSplit(data.train, batch_clock, limit)
    learner = TimedLearner(built.learner)
    t0 = time.perf_counter()
    hist = fit(learner, split, None, cfg, model_description=built.description)  # type: ignore[arg-type]
    fit_s = time.perf_counter() - t0
    epoch = hist.epochs[-1]
    return {
        "task": task_name,
        "threads": threads,
        "samples": len(split),
        "minibatches": batch_clock.calls,
        "import_s": import_s,
        "load_s": load_s,
        "epoch_s": epoch.time_s,
        "batch_s": batch_clock.seconds,
        "forward_loss_s": learner.clock.seconds,
        # the loop builds sparse batches in a background thread (overlapped with the steps), so
        # the batching time is not part of a sum: the rest is everything but forward + loss
        "rest_s": epoch.time_s - learner.clock.seconds,
        "overlapped": bool(learner.sparse_input),
        "fit_s": fit_s,
        "train_loss": epoch.train_loss,
        "rate_hz": None if epoch.spike_rate is None else epoch.spike_rate / (recipe.data.duration_ms * 1e-3),
        "rss_after_load_mb": rss_loaded,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "events_train": int(data.train.binned.n_events),
    }


# ------------------------------------------------------------------------------------------
# driver


def child_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run(task: str, data_dir: Path, batches: int | None, limit_gb: float | None) -> dict[str, Any]:
    """One worker process; killed when its resident memory passes ``limit_gb``."""
    cmd = [sys.executable, __file__, "--worker", task, "--data", str(data_dir)]
    if batches is not None:
        cmd += ["--batches", str(batches)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]
    killed = [False]

    def watch() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], child_rss_mb(proc.pid))
            if limit_gb is not None and peak[0] > limit_gb * 1024:
                killed[0] = True
                proc.kill()
                return
            time.sleep(0.2)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    out, err = proc.communicate()
    w.join()
    if killed[0]:
        return {"task": task, "error": f"stopped: resident memory passed {limit_gb} GB"}
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            row: dict[str, Any] = json.loads(line[len("RESULT "):])
            return row
    tail = err.strip().splitlines()[-3:]
    return {"task": task, "error": " | ".join(tail) or f"exit code {proc.returncode}"}


def report(r: dict[str, Any], target_s: float | None, target_gb: float) -> None:
    if "error" in r:
        print(f"{r['task']}: {r['error']}")
        return
    n = r["minibatches"]
    print(f"{r['task']}: {r['samples']} training samples, {n} minibatches, "
          f"{r['events_train'] / 1e6:.1f} M events, {r['threads']} threads, "
          f"hidden rate {r['rate_hz']:.1f} Hz")  # fmt: skip
    print(f"  loading (files -> binned events) {r['load_s']:7.2f} s   (imports {r['import_s']:.2f} s)")
    print(f"  epoch (training part)            {r['epoch_s']:7.2f} s"
          + (f"   target <= {target_s} s" if target_s else ""))  # fmt: skip
    where = "in a background thread, overlapped with the steps" if r.get("overlapped") else "in the loop"
    print(f"    batching ({where}) {r['batch_s']:.2f} s ({1e3 * r['batch_s'] / n:.1f} ms per batch)")
    print(f"    forward + loss                 {r['forward_loss_s']:7.2f} s   ({1e3 * r['forward_loss_s'] / n:.1f} ms)")
    print(f"    backward, optimiser, waiting for batches, bookkeeping "
          f"{r['rest_s']:.2f} s ({1e3 * r['rest_s'] / n:.1f} ms)")  # fmt: skip
    print(f"  peak resident memory             {r['peak_rss_mb'] / 1024:7.2f} GB   target <= {target_gb} GB "
          f"(after loading: {r['rss_after_load_mb'] / 1024:.2f} GB)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "eventbench-epoch-bench",
                    help="folder for the generated files (reused)")  # fmt: skip
    ap.add_argument("--no-ssc", action="store_true", help="skip the SSC-sized run")
    ap.add_argument("--ssc-batches", type=int, default=60, help="minibatches of the SSC-sized run")
    ap.add_argument("--ssc-limit-gb", type=float, default=8.0, help="stop the SSC-sized run above this")
    ap.add_argument("--json", default=None, help="write the rows to this file")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--batches", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker is not None:
        print("RESULT " + json.dumps(worker(args.worker, args.data, args.batches)), flush=True)
        return
    from eventbench.machine import cpu_model

    print(f"{cpu_model()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    rows = [run("shd", ensure_files(args.data, "shd"), None, None)]
    report(rows[-1], 7.8, 1.5)
    if not args.no_ssc:
        rows.append(run("ssc", ensure_files(args.data, "ssc"), args.ssc_batches, args.ssc_limit_gb))
        report(rows[-1], None, args.ssc_limit_gb)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
