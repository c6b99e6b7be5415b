"""Where the CPU time of an EventProp training step goes, by thread: the caller, the kernels'
pool and every other thread (torch's OpenMP workers, which spin after a parallel op).

Linux only (per-thread ``/proc/self/task/*/schedstat`` counters, nanoseconds on a CPU). CPU time
per thread is far less sensitive to other jobs on the machine than wall time, which makes this
the check that torch's OpenMP workers stay idle in the default environment (issue 11): with the
library's fix their CPU time per step is 0.0 ms; run the same command with
``OMP_WAIT_POLICY=PASSIVE`` set for the tuned reference.

Usage::

    python benchmarks/threads_cpu.py                 # T = 1000, dense input, 7 steps
    python benchmarks/threads_cpu.py --T 4000 --sparse
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from shd_step import (
    BATCH,
    DT,
    GUARD_EPS,
    N_HID,
    N_IN,
    N_OUT,
    TAU_MEM,
    TAU_OUT,
    TAU_SYN,
    THREADS,
    init_weights,
    make_data,
)  # fmt: skip


def cpu_ns() -> dict[str, int]:
    """Nanoseconds on a CPU of every thread of this process."""
    out: dict[str, int] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                out[tid] = int(f.read().split()[0])
        except OSError:
            pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--sparse", action="store_true", help="feed a sparse COO input")
    args = ap.parse_args()

    import torch

    from eventbench.core import SNN, LayerSpec, LIFParams, NetworkSpec
    from eventbench.eventprop import EventProp
    from eventbench.eventprop.kernels import function as kf
    from eventbench.readout import CrossEntropy, ExpWeightedVoltage

    torch.set_num_threads(THREADS)
    x_np, y_np = make_data(args.T)
    w = init_weights()
    spec = NetworkSpec(
        n_inputs=N_IN, hidden=(LayerSpec(N_HID, recurrent=True, neuron=LIFParams(TAU_MEM, TAU_SYN)),),
        n_outputs=N_OUT, dt_s=DT, n_steps=args.T, output=LIFParams(TAU_OUT, TAU_SYN),
    )  # fmt: skip
    net = SNN(spec, ExpWeightedVoltage(), EventProp(backend="cpu-kernel", guard_eps=GUARD_EPS), seed=0)
    with torch.no_grad():
        net.layers[0].w_ff.copy_(torch.from_numpy(w["w_ff"]))  # type: ignore[union-attr]
        net.layers[0].w_rec.copy_(torch.from_numpy(w["w_rec"]))  # type: ignore[union-attr]
        net.readout_layer.w.copy_(torch.from_numpy(w["w_out"]))
    x = torch.from_numpy(x_np)
    x = x.to_sparse() if args.sparse else x
    y = torch.from_numpy(y_np)
    loss_fn = CrossEntropy()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step() -> None:
        out = net(x)
        loss = loss_fn(out.readout, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def infer() -> None:
        with torch.no_grad():
            net(x)

    for _ in range(3):
        step()
    me = str(threading.get_native_id())
    pool = {str(t.native_id) for t in kf._POOL._threads} if kf._POOL is not None else set()
    print(f"T = {args.T}, batch {BATCH}, {'sparse' if args.sparse else 'dense'} input, "
          f"{THREADS} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    fns: tuple[tuple[str, Callable[[], Any]], ...] = (("training step", step), ("inference", infer))
    for name, fn in fns:
        fn()
        wall: list[float] = []
        kinds: dict[str, list[float]] = {"caller": [], "kernel pool": [], "other (torch OpenMP)": []}
        for _ in range(args.steps):
            r0 = cpu_ns()
            t0 = time.perf_counter()
            fn()
            wall.append(time.perf_counter() - t0)
            r1 = cpu_ns()
            d = dict.fromkeys(kinds, 0.0)
            for k, v in r1.items():
                kind = "caller" if k == me else "kernel pool" if k in pool else "other (torch OpenMP)"
                d[kind] += (v - r0.get(k, 0)) / 1e6
            for k, v in d.items():
                kinds[k].append(v)
        cpu = ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in kinds.items())
        print(f"  {name:14} wall {1e3 * statistics.median(wall):7.1f} ms | median CPU ms: {cpu}")


if __name__ == "__main__":
    main()
