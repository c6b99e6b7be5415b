"""Cost of learnable synaptic delays: training-step time and peak memory of EventProp on the
SHD-shaped workload of ``benchmarks/shd_step.py`` (700 -> 256 recurrent -> 20, batch 32,
T = 1000 steps of 1 ms) without delays and with learnable feed-forward and recurrent delays of
maximum 0, 64 and 512 steps (initial delays uniform in [0, max]).

Each configuration runs in a fresh subprocess (median of ``--steps`` steps after ``--warmup``;
peak resident memory above the baseline taken after the model and data were built). Delays add a
ring buffer of ``max + 1`` steps per layer (per sample on the CPU kernels) and no memory in T.

Usage: python benchmarks/delays_step.py [--backend cpu-kernel|torch] [--max 0 64 512]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shd_step as base


def child(max_steps: int | None, backend: str, t_steps: int, warmup: int, steps: int) -> dict[str, Any]:
    import torch

    from eventbench.core import SNN, Delays, LayerSpec, LIFParams, NetworkSpec
    from eventbench.eventprop import EventProp
    from eventbench.readout import CrossEntropy, ExpWeightedVoltage

    torch.set_num_threads(base.THREADS)
    x_np, y_np = base.make_data(t_steps)
    w = base.init_weights()
    dly = Delays(max_s=max_steps * base.DT, init_high_s=max_steps * base.DT) if max_steps is not None else None
    spec = NetworkSpec(
        n_inputs=base.N_IN,
        hidden=(LayerSpec(base.N_HID, recurrent=True, neuron=LIFParams(base.TAU_MEM, base.TAU_SYN),
                          delay_ff=dly, delay_rec=dly),),
        n_outputs=base.N_OUT,
        dt_s=base.DT,
        n_steps=t_steps,
        output=LIFParams(base.TAU_OUT, base.TAU_SYN),
    )
    net = SNN(spec, ExpWeightedVoltage(), EventProp(backend=backend, guard_eps=base.GUARD_EPS), seed=0)  # type: ignore[arg-type]
    with torch.no_grad():
        net.layers[0].w_ff.copy_(torch.from_numpy(w["w_ff"]))  # type: ignore[union-attr]
        net.layers[0].w_rec.copy_(torch.from_numpy(w["w_rec"]))  # type: ignore[union-attr]
        net.readout_layer.w.copy_(torch.from_numpy(w["w_out"]))
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = CrossEntropy()

    def step() -> float:
        out = net(x)
        loss = loss_fn(out.readout, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        net.clamp_delays()
        return out.spikes[0].n_spikes / (base.BATCH * base.N_HID * t_steps * base.DT)

    def infer() -> Any:
        with torch.no_grad():
            return net(x).readout

    row = base.measure(step, infer, warmup, steps)
    row["max_delay_steps"] = max_steps
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="cpu-kernel")
    ap.add_argument("--max", type=int, nargs="*", default=[0, 64, 512])
    ap.add_argument("--T", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--child", type=str, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        m = None if args.child == "none" else int(args.child)
        print(json.dumps(child(m, args.backend, args.T, args.warmup, args.steps)))
        return
    rows = []
    for m in [None, *args.max]:
        cmd = [sys.executable, __file__, "--child", "none" if m is None else str(m), "--backend", args.backend,
               "--T", str(args.T), "--warmup", str(args.warmup), "--steps", str(args.steps)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    ref = rows[0]
    print(f"EventProp ({args.backend}), T = {args.T}, batch {base.BATCH}, median of {args.steps} steps")
    print(f"{'delays':>22} {'step':>10} {'vs none':>8} {'inference':>10} {'peak MB':>8} {'rate Hz':>8}")
    for r in rows:
        label = "none" if r["max_delay_steps"] is None else f"learned, max {r['max_delay_steps']} steps"
        print(f"{label:>22} {r['step_s'] * 1e3:8.1f}ms {r['step_s'] / ref['step_s']:7.2f}x "
              f"{r['infer_s'] * 1e3:8.1f}ms {r['peak_mb']:8.0f} {r['rate_hz']:8.1f}")


if __name__ == "__main__":
    main()
