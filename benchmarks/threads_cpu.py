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
    GUARD_EPS,
    THREADS,
    eventbench_net,
    make_data,
)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--sparse", action="store_true", help="feed a sparse COO input")
    args = ap.parse_args()

    import torch

    from eventbench.core.threads import thread_cpu_ns
    from eventbench.eventprop import EventProp
    from eventbench.eventprop.kernels import function as kf
    from eventbench.readout import CrossEntropy

    torch.set_num_threads(THREADS)
    x_np, y_np = make_data(args.T)
    net = eventbench_net(args.T, EventProp(backend="cpu-kernel", guard_eps=GUARD_EPS))
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
            r0 = thread_cpu_ns()
            t0 = time.perf_counter()
            fn()
            wall.append(time.perf_counter() - t0)
            r1 = thread_cpu_ns()
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
