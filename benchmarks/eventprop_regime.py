"""EventProp at the training regime (verification ladder step 7): time-stepped gradients of a
scaled-down mean-driven network against the exact gradient, per ``dt``, over several seeds.

Prints, per case and ``dt``, the median over seeds of the cosine with the exact gradient and of
the ratio "loss change predicted along the gradient's own direction / the exact one" (1 is
exact), the fraction of seeds where ``-g`` goes downhill on the exact loss, and the fraction of
crossings that hit the guard. Run: ``python benchmarks/eventprop_regime.py [--seeds 8]``.
"""

from __future__ import annotations

import argparse
import statistics

from eventbench.eventprop.gradcheck import RegimeConfig, run_regime_check

DTS = (1.0, 0.5, 0.25, 0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--loss", default="exp")
    args = ap.parse_args()
    print(f"{'case':14} {'tensor':16} " + "  ".join(f"dt={d}ms cos / ratio / down / guard".ljust(34) for d in DTS))
    for rec in (False, True):
        reps = [run_regime_check(RegimeConfig(recurrent=rec, seed=s, loss=args.loss), DTS) for s in range(args.seeds)]
        names = sorted({r.name for r in reps[0].rows if "w_" in r.name and "readout" not in r.name})
        for name in names:
            cells = []
            for d in DTS:
                rows = [r for rep in reps for r in rep.rows if r.dt_ms == d and r.name == name]
                cos = statistics.median(r.cosine for r in rows)
                ratio = statistics.median(r.ratio for r in rows)
                down = sum(r.cosine > 0 for r in rows) / len(rows)
                guard = statistics.mean(rep.guard_fraction[d] for rep in reps)
                cells.append(f"{cos:+.2f} / {ratio:5.2f} / {down:4.0%} / {guard:.2%}".ljust(34))
            case = "recurrent" if rec else "feed-forward"
            print(f"{case:14} {name:16} " + "  ".join(cells))
        rate = statistics.mean(rep.hidden_rate_hz for rep in reps)
        fd = statistics.median(rep.fd_check for rep in reps)
        print(f"{'':14} hidden rate {rate:.1f} Hz, median |FD - exact adjoint| / |adjoint| = {fd:.1e}")


if __name__ == "__main__":
    main()
