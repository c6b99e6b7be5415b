"""Convergence of the time-stepped EventProp gradient to the exact gradient as dt shrinks.

For several random tiny networks and losses, prints the worst relative error per parameter
tensor of EventProp (float64, time-stepped) against central finite differences on the exact
event-driven simulation, at dt = 1, 0.1 and 0.01 ms, and the exact-time adjoint's error.

Usage: python benchmarks/gradcheck_convergence.py
"""

from __future__ import annotations

from eventbench.eventprop.gradcheck import GradcheckConfig, run_gradcheck

CASES = [
    ("feed-forward, exp-weighted voltage", GradcheckConfig(loss="exp", seed=0)),
    ("feed-forward, max voltage", GradcheckConfig(loss="max", seed=3)),
    ("recurrent, exp-weighted voltage", GradcheckConfig(loss="exp", recurrent=True, seed=0)),
    ("recurrent, first-spike time", GradcheckConfig(loss="first-spike", recurrent=True, seed=0)),
    ("two hidden layers, exp-weighted", GradcheckConfig(loss="exp", hidden=(5, 4), seed=4)),
]


def main() -> None:
    print(f"{'case':36} {'dt=1ms':>9} {'dt=0.1ms':>9} {'dt=0.01ms':>10} {'exact adjoint':>14}")
    for name, cfg in CASES:
        errs = []
        adj = 0.0
        for dt in (1.0, 0.1, 0.01):
            rep = run_gradcheck(GradcheckConfig(**{**cfg.__dict__, "dt_ms": dt}))
            errs.append(max(r.rel_error for r in rep.rows))
            adj = max(adj, max(r.adjoint_rel_error for r in rep.rows))
        print(f"{name:36} {errs[0]:>9.3f} {errs[1]:>9.3f} {errs[2]:>10.4f} {adj:>14.1e}")


if __name__ == "__main__":
    main()
