"""NIR export/import cost on the SHD-shaped network (700 -> 256 recurrent -> 20 leaky
integrators, dt = 1 ms): wall time of ``export``, ``nir.write``, ``nir.read`` and ``load``, the
file size, the node count, and whether the reloaded network gives the same spikes, without
delays and with learned-style feed-forward and recurrent delays uniform in [0, max] steps
(each delay value becomes one Linear -> Delay branch, so size grows with the number of values).

Usage: python benchmarks/nir_roundtrip.py [--max 0 8 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from eventbench import nir as ebnir
from eventbench.core import SNN, Delays, LayerSpec, NetworkSpec

DT = 1e-3
T = 200


def _net(max_steps: int) -> SNN:
    dly = Delays(max_s=max_steps * DT, init_high_s=max_steps * DT) if max_steps else None
    spec = NetworkSpec(n_inputs=700, hidden=(LayerSpec(256, recurrent=True, delay_ff=dly, delay_rec=dly),),
                       n_outputs=20, dt_s=DT, n_steps=T, output_bias=True)
    return SNN(spec, seed=0)


def measure(max_steps: int, repeats: int) -> dict[str, Any]:
    import nir

    net = _net(max_steps)
    times: dict[str, list[float]] = {"export": [], "write": [], "read": [], "load": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.nir"
        for _ in range(repeats):
            t0 = time.perf_counter()
            g = ebnir.export(net)
            t1 = time.perf_counter()
            nir.write(str(path), g)
            t2 = time.perf_counter()
            g2 = nir.read(str(path))
            t3 = time.perf_counter()
            back = ebnir.load(g2, dt_s=DT, n_steps=T, readout=net.readout)
            t4 = time.perf_counter()
            for k, v in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                times[k].append(v)
        size = path.stat().st_size
    x = (torch.rand(T, 4, 700, generator=torch.Generator().manual_seed(0)) < 0.02).float()
    o1, o2 = net(x), back(x)
    same = all(torch.equal(a.dense(1, T + 1, torch.float32), b.dense(1, T + 1, torch.float32))
               for a, b in zip(o1.spikes, o2.spikes, strict=True))
    return {
        "max_delay_steps": max_steps,
        "nodes": len(g.nodes),
        "file_mb": round(size / 2**20, 2),
        **{f"{k}_s": round(statistics.median(v), 3) for k, v in times.items()},
        "same_spikes": same,
        "max_readout_diff": float((o1.readout - o2.readout).detach().abs().max()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max", type=int, nargs="+", default=[0, 8, 64])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    for m in args.max:
        print(json.dumps(measure(m, args.repeats)))


if __name__ == "__main__":
    main()
