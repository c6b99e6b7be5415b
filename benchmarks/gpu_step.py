"""GPU benchmark of EventProp's CUDA kernels on the SHD-shaped workload, next to plain PyTorch
BPTT and Spyx (JAX) on the same GPU, plus a full-size SHD training epoch.

Workload: the one of ``benchmarks/shd_step.py`` (``shared/docs/peers.md``; the data, weights and
readout weights come from that script): 700 input channels, ~1.2 % of the (step, channel) bins
active, 256 recurrent LIF neurons, 20 leaky-integrator outputs, batch 32, dt 1 ms,
exponentially weighted voltage readout, cross-entropy, Adam 1e-3, float32.

Rows (each in a fresh process, one at a time):

* ``eventprop-cuda``: ``EventProp(backend="cuda-kernel")``: the Triton kernels, one launch per
  direction;
* ``eventprop-torch-cuda``: ``EventProp(backend="torch")`` on the GPU (the time-stepped
  reference path, ~20 small launches per step and direction);
* ``torch-cuda``: hand-written PyTorch surrogate BPTT on the GPU (input projection hoisted);
* ``spyx-gpu``: Spyx 1.0 (JAX, whole loop compiled) on the GPU (needs ``jax[cuda12]``);
  peak memory from ``jax.Device.memory_stats()`` with preallocation off.

Per row and ``T``: median wall time of a training step (forward + backward + Adam) and of an
inference pass after warm-up, each bracketed by ``torch.cuda.synchronize()`` (JAX:
``block_until_ready``), and the peak device memory above the model and the data
(``torch.cuda.max_memory_allocated``). ``T = 1000`` and ``4000`` show whether the peak memory is
flat in ``T``.

The epoch (``--epoch``): 255 training steps of batch 32 (8156 SHD training samples) at
T = 1000, 256 hidden, on ``eventprop-cuda``, fed from 8 distinct device-resident batches in
turn (the data loader is not timed); target <= 2 s (GeNN's published 7.8 s / 4).

Usage (on a machine with a CUDA device)::

    python benchmarks/gpu_step.py                     # all rows, T = 1000 and 4000, + epoch
    python benchmarks/gpu_step.py --libs eventprop-cuda,torch-cuda --T 1000 --no-epoch
    python benchmarks/gpu_step.py --json gpu.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shd_step import (  # the shared workload definition
    BATCH,
    DT,
    GUARD_EPS,
    N_HID,
    N_IN,
    N_OUT,
    TAU_MEM,
    TAU_OUT,
    TAU_SYN,
    _fast_sigmoid,
    eventbench_net,
    init_weights,
    make_data,
    readout_coefficients,
    run_spyx,
)

LIBS: dict[str, tuple[str, tuple[str, ...]]] = {
    "eventprop-cuda": ("EventBench EventProp, CUDA kernels", ("eventbench", "triton")),
    "eventprop-torch-cuda": ("EventBench EventProp, torch path", ("eventbench",)),
    "eventprop-cpu-kernel": ("EventBench EventProp, CPU kernels (smoke test)", ("eventbench",)),
    "torch-cuda": ("plain PyTorch surrogate BPTT", ("torch",)),
    "spyx-gpu": ("Spyx 1.0 (JAX) surrogate BPTT", ("spyx", "jax", "optax", "flax")),
}
DEFAULT_LIBS = "eventprop-cuda,eventprop-torch-cuda,torch-cuda,spyx-gpu"
#: where the torch rows run; ``--device cpu`` is a smoke test of this script without a GPU
#: (use the ``cpu-kernel`` backend then: ``--libs eventprop-cpu-kernel,eventprop-torch-cuda,torch-cuda``)
DEVICE = "cuda"
SHD_TRAIN_SAMPLES = 8156
EPOCH_TARGET_S = 2.0


def _version(module: str) -> str:
    return str(getattr(importlib.import_module(module), "__version__", "?"))


def _sync() -> None:
    import torch

    if DEVICE == "cuda":
        torch.cuda.synchronize()


def _mem_start() -> int:
    """Synchronise, reset the peak statistics, return the allocated bytes (0 on the CPU)."""
    import torch

    if DEVICE != "cuda":
        return 0
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    return int(torch.cuda.memory_allocated())


def _peak_mb(base: int) -> float:
    import torch

    if DEVICE != "cuda":
        return float("nan")
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def _timed(fn: Callable[[], Any], sync: Callable[[], None], warmup: int, n: int) -> tuple[float, Any]:
    """Median wall time of ``n`` calls after ``warmup`` calls, each synchronised; the last result."""
    out = None
    for _ in range(warmup):
        out = fn()
        sync()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _eventbench_net(t_steps: int, backend: str) -> Any:
    from eventbench.eventprop import EventProp

    return eventbench_net(t_steps, EventProp(backend=backend, guard_eps=GUARD_EPS)).to(DEVICE)


def run_eventbench(t_steps: int, backend: str, warmup: int, steps: int) -> dict[str, Any]:
    import torch

    from eventbench.readout import CrossEntropy

    net = _eventbench_net(t_steps, backend)
    x_np, y_np = make_data(t_steps)
    x, y = torch.from_numpy(x_np).to(DEVICE), torch.from_numpy(y_np).to(DEVICE)
    loss_fn = CrossEntropy()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rate: list[float] = []

    def step() -> None:
        out = net(x)
        loss = loss_fn(out.readout, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rate.append(out.spikes[0].n_spikes / (BATCH * N_HID * t_steps * DT))

    def infer() -> Any:
        with torch.no_grad():
            return net(x).readout

    base = _mem_start()
    step_s, _ = _timed(step, _sync, warmup, steps)
    peak = _peak_mb(base)
    infer_s, _ = _timed(infer, _sync, 1, steps)
    return {"step_s": step_s, "infer_s": infer_s, "peak_mb": peak, "rate_hz": rate[-1], "backend": backend}


def run_torch_cuda(t_steps: int, warmup: int, steps: int) -> dict[str, Any]:
    """Hand-written surrogate BPTT on the GPU (the ``shd_step.py`` model, on the device)."""
    import torch
    import torch.nn.functional as F

    dev = torch.device(DEVICE)
    x_np, y_np = make_data(t_steps)
    w = init_weights()
    x, y = torch.from_numpy(x_np).to(dev), torch.from_numpy(y_np).to(dev)
    params = [torch.nn.Parameter(torch.from_numpy(w[k]).to(dev)) for k in ("w_ff", "w_rec", "w_out")]
    w_ff, w_rec, w_out = params
    a, b_ = math.exp(-DT / TAU_MEM), math.exp(-DT / TAU_SYN)
    rho = TAU_SYN / (TAU_MEM - TAU_SYN) * (a - b_)
    ao = math.exp(-DT / TAU_OUT)
    rho_o = TAU_SYN / (TAU_OUT - TAU_SYN) * (ao - b_)
    spike = _fast_sigmoid()
    coeff = torch.from_numpy(readout_coefficients(t_steps)).to(dev)
    opt = torch.optim.Adam(params, lr=1e-3)
    rate: list[float] = []

    def forward() -> tuple[Any, Any]:
        cur = (x.reshape(-1, N_IN) @ w_ff).view(t_steps, BATCH, N_HID)
        v, i, z = (torch.zeros(BATCH, N_HID, device=dev) for _ in range(3))
        vo, io = torch.zeros(BATCH, N_OUT, device=dev), torch.zeros(BATCH, N_OUT, device=dev)
        vs = []
        n_spk = torch.zeros((), device=dev)
        for c in cur.unbind(0):
            io = io + z @ w_out
            i = i + c + z @ w_rec
            v = a * v + rho * i
            i = b_ * i
            z = spike(v - 1.0)
            v = v * (1.0 - z)
            vo = ao * vo + rho_o * io
            io = b_ * io
            vs.append(vo)
            n_spk = n_spk + z.detach().sum()
        return torch.stack(vs), n_spk

    def step() -> None:
        vs, n_spk = forward()
        loss = F.cross_entropy(torch.einsum("t,tbo->bo", coeff, vs), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rate.append(float(n_spk) / (BATCH * N_HID * t_steps * DT))

    def infer() -> Any:
        with torch.no_grad():
            return forward()[0]

    base = _mem_start()
    step_s, _ = _timed(step, _sync, warmup, steps)
    peak = _peak_mb(base)
    infer_s, _ = _timed(infer, _sync, 1, steps)
    return {"step_s": step_s, "infer_s": infer_s, "peak_mb": peak, "rate_hz": rate[-1]}


def run_spyx_gpu(t_steps: int, warmup: int, steps: int) -> dict[str, Any]:
    """``shd_step.run_spyx`` on JAX's default device (the GPU with ``jax[cuda12]``); the peak
    device memory replaces its host-memory figure."""
    import jax

    dev = jax.devices()[0]
    if dev.platform != "gpu":
        raise RuntimeError(f"JAX runs on {dev.platform}, not on a GPU: install jax[cuda12]")
    row = run_spyx(t_steps, warmup, steps)
    stats = dev.memory_stats() or {}
    row["peak_mb"] = stats.get("peak_bytes_in_use", float("nan")) / 2**20
    row["host_peak_mb"] = row.pop("max_rss_mb", None)
    return row


def run_epoch(t_steps: int, n_batches: int, backend: str = "cuda-kernel") -> dict[str, Any]:
    """A full SHD training epoch (``n_batches`` steps of batch 32) on the CUDA kernels."""
    import numpy as np
    import torch

    from eventbench.readout import CrossEntropy

    net = _eventbench_net(t_steps, backend)
    x_np, _ = make_data(t_steps)
    pool = [torch.from_numpy(np.roll(x_np, 37 * k, axis=2)).to(DEVICE) for k in range(8)]
    ys = [torch.from_numpy(np.random.default_rng(k).integers(0, N_OUT, BATCH)).to(DEVICE) for k in range(8)]
    loss_fn = CrossEntropy()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step(k: int) -> None:
        out = net(pool[k % 8])
        loss = loss_fn(out.readout, ys[k % 8])
        opt.zero_grad()
        loss.backward()
        opt.step()

    for k in range(2):  # compile the kernels
        step(k)
    base = _mem_start()
    t0 = time.perf_counter()
    for k in range(n_batches):
        step(k)
    _sync()
    epoch_s = time.perf_counter() - t0
    return {"epoch_s": epoch_s, "batches": n_batches, "step_s": epoch_s / n_batches,
            "peak_mb": _peak_mb(base)}  # fmt: skip


def worker(lib: str, t_steps: int, warmup: int, steps: int, epoch_batches: int) -> dict[str, Any]:
    import torch

    row: dict[str, Any]
    if lib == "epoch":
        row = run_epoch(t_steps, epoch_batches, "cuda-kernel" if DEVICE == "cuda" else "cpu-kernel")
    elif lib == "eventprop-cpu-kernel":
        row = run_eventbench(t_steps, "cpu-kernel", warmup, steps)
    elif lib == "eventprop-cuda":
        row = run_eventbench(t_steps, "cuda-kernel", warmup, steps)
    elif lib == "eventprop-torch-cuda":
        row = run_eventbench(t_steps, "torch", warmup, steps)
    elif lib == "torch-cuda":
        row = run_torch_cuda(t_steps, warmup, steps)
    else:
        row = run_spyx_gpu(t_steps, warmup, steps)
    row["device"] = torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu"
    return row


def run_one(lib: str, t_steps: int, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ)
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX: measurable peak memory
    cmd = [sys.executable, __file__, "--worker", lib, "--T", str(t_steps), "--device", DEVICE,
           "--warmup", str(args.warmup), "--steps", str(args.steps),
           "--epoch-batches", str(args.epoch_batches)]  # fmt: skip
    timeout = args.timeout
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"lib": lib, "T": t_steps, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            row: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return row
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"lib": lib, "T": t_steps, "error": " | ".join(tail) or f"exit code {proc.returncode}"}


def fmt_s(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 1e3:.1f} ms" if v < 1.0 else f"{v:.2f} s"


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    print("| row | T | training step | inference | peak device MB | hidden rate Hz |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r["lib"] == "epoch":
            continue
        label = LIBS[r["lib"]][0]
        if "error" in r:
            print(f"| {label} | {r['T']} | error: {r['error']} | | | |")
            continue
        print(f"| {label} | {r['T']} | {fmt_s(r['step_s'])} | {fmt_s(r['infer_s'])} | "
              f"{r['peak_mb']:.0f} | {r['rate_hz']:.1f} |")  # fmt: skip
    for r in rows:
        if r["lib"] == "epoch":
            if "error" in r:
                print(f"\nSHD epoch: error: {r['error']}")
            else:
                full = r["batches"] == math.ceil(SHD_TRAIN_SAMPLES / BATCH)
                verdict = ("meets" if r["epoch_s"] <= EPOCH_TARGET_S else "misses") if full else "not a full epoch: no verdict on"
                print(f"\nSHD epoch (T = {r['T']}, {r['batches']} batches of {BATCH}, 256 hidden, "
                      f"CUDA kernels): {r['epoch_s']:.2f} s ({fmt_s(r['step_s'])} per step), peak "
                      f"{r['peak_mb']:.0f} MB; {verdict} the {EPOCH_TARGET_S:.0f} s target")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--libs", default=DEFAULT_LIBS, help=f"comma-separated, of {','.join(LIBS)}")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--no-epoch", action="store_true", help="skip the SHD epoch")
    ap.add_argument("--epoch-batches", type=int, default=math.ceil(SHD_TRAIN_SAMPLES / BATCH),
                    help="batches of the epoch (default: the 8156 SHD training samples)")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                    help="cpu: a smoke test of the script without a GPU")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per configuration")
    ap.add_argument("--json", default=None, help="write the rows to this file")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    global DEVICE
    DEVICE = args.device
    if args.worker is not None:
        row = {"lib": args.worker, "T": args.T[0]}
        row.update(worker(args.worker, args.T[0], args.warmup, args.steps, args.epoch_batches))
        print("RESULT " + json.dumps(row))
        return

    import torch

    if DEVICE == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing to time (the kernels' correctness runs in the test tier)")
        sys.exit(2)
    libs = [s.strip() for s in args.libs.split(",") if s.strip()]
    unknown = [s for s in libs if s not in LIBS]
    if unknown:
        ap.error(f"unknown rows {unknown}; choose from {list(LIBS)}")
    where = torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu (smoke test)"
    print(f"GPU step benchmark on {where}: batch {BATCH}, {N_IN} inputs, "
          f"{N_HID} recurrent LIF, {N_OUT} outputs, float32, torch {torch.__version__}, "
          f"{'triton ' + _version('triton') if importlib.util.find_spec('triton') else 'no triton'}")  # fmt: skip
    rows: list[dict[str, Any]] = []
    for t in args.T:
        for lib in libs:
            miss = [m for m in LIBS[lib][1] if importlib.util.find_spec(m) is None]
            if miss:
                print(f"skipping {lib}: not installed ({', '.join(miss)})")
                continue
            if lib == "eventprop-torch-cuda" and t > 1000:
                continue  # ~40 launches per step: minutes per configuration at T = 4000
            print(f"running {lib} T={t} ...", flush=True)
            rows.append(run_one(lib, t, args))
    if not args.no_epoch:
        print("running the SHD epoch ...", flush=True)
        rows.append(run_one("epoch", 1000, args))
    print_table(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
