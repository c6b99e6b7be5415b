"""Peak memory of one training step versus trial length T, EventProp next to surrogate BPTT.

The network is the SHD-shaped one of ``peers.md`` (700 -> 256 recurrent LIF -> 20 LI, batch 32).
The input holds the same spikes (~8,400 per sample in the first 1000 steps, then silence) at every
T, so the number of spikes is the same and EventProp's memory should stay flat while BPTT's grows
with T. The dense input tensor itself is allocated before the baseline is taken. Each configuration runs in a fresh subprocess; the
figure is the peak resident set size above the process baseline taken just before the step
(after data and model are built).

Usage: python benchmarks/memory_vs_T.py [--steps 1000 2000 4000] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

SPIKES_PER_SAMPLE = 8400
ACTIVE_STEPS = 1000


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(method: str, t_steps: int, batch: int, backend: str) -> dict[str, float]:
    import numpy as np
    import torch

    from eventbench.core import SNN, LayerSpec, NetworkSpec, Normal, SurrogateBPTT
    from eventbench.eventprop import EventProp
    from eventbench.readout import CrossEntropy, ExpWeightedVoltage

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    # the same spikes at every T: the SHD-shaped pattern fills the first second, then silence
    active = min(t_steps, ACTIVE_STEPS)
    x = torch.empty(t_steps, batch, 700).fill_(0.0)  # written, so its pages count in the baseline
    x[:active] = torch.from_numpy(
        (rng.random((active, batch, 700), dtype=np.float32) < SPIKES_PER_SAMPLE / (active * 700)).astype(
            np.float32
        )
    )
    y = torch.from_numpy(np.random.default_rng(1).integers(0, 20, batch))
    spec = NetworkSpec(
        n_inputs=700,
        hidden=(LayerSpec(256, recurrent=True, init_ff=Normal(0.026, 0.01), init_rec=Normal(0.0, 0.02)),),
        n_outputs=20,
        dt_s=1e-3,
        n_steps=t_steps,
        init_out=Normal(0.0, 0.03),
    )
    # the same gain for both methods; EventProp and BPTT simulate identical dynamics
    meth = EventProp(backend=backend) if method == "eventprop" else SurrogateBPTT()
    net = SNN(spec, ExpWeightedVoltage(), meth, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = CrossEntropy()
    base = _peak_rss_mb()
    t0 = time.perf_counter()
    out = net(x)
    loss = loss_fn(out.readout, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    wall = time.perf_counter() - t0
    hidden_spikes = out.spikes[0].n_spikes / batch
    return {
        "peak_above_baseline_mb": _peak_rss_mb() - base,
        "step_s": wall,
        "hidden_spikes_per_sample": hidden_spikes,
        "input_spikes_per_sample": float(x.sum()) / batch,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs="+", default=[1000, 2000, 4000])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--backend", default="auto", help="EventProp backend (auto, torch, cpu-kernel)")
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "T"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], int(args.child[1]), args.batch, args.backend)))
        return
    rows = []
    for t_steps in args.steps:
        for method in ("eventprop", "bptt"):
            res = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    method,
                    str(t_steps),
                    "--batch",
                    str(args.batch),
                    "--backend",
                    args.backend,
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            rows.append((t_steps, method, json.loads(res.stdout.strip().splitlines()[-1])))
    print(f"{'T':>6} {'method':>10} {'peak MB':>9} {'step s':>8} {'in spk/smp':>11} {'hid spk/smp':>12}")
    for t_steps, method, r in rows:
        print(
            f"{t_steps:>6} {method:>10} {r['peak_above_baseline_mb']:>9.1f} {r['step_s']:>8.2f} "
            f"{r['input_spikes_per_sample']:>11.0f} {r['hidden_spikes_per_sample']:>12.0f}"
        )
    print()
    for t_steps in args.steps:
        ep = next(r for t, m, r in rows if t == t_steps and m == "eventprop")
        bp = next(r for t, m, r in rows if t == t_steps and m == "bptt")
        ratio = bp["peak_above_baseline_mb"] / max(ep["peak_above_baseline_mb"], 1e-9)
        print(f"T={t_steps}: BPTT peak / EventProp peak = {ratio:.1f}x")


if __name__ == "__main__":
    main()
