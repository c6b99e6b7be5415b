"""NHP primate reaching, NeuroBench's leaderboard protocol over the six sessions (standalone
script).

For each session file found (``indy_20160622_01.mat`` ... ``loco_20170301_05.mat``, in
``--data-dir`` / ``$EVENTBENCH_DATA``, also under ``primate_reaching/`` or ``nhp/``) and each
method, trains the task's recipe under ``--protocol`` (default ``leaderboard``: 4 ms bins, segments
50/25/25 %), benchmarks it on the test split and stores the result. Then prints R^2 averaged over
the sessions of each monkey, as the leaderboard does, next to the published v1.0 numbers
(NeuroBench's SNN and ANN baselines: indy 0.593 / 0.593, loco 0.568 / 0.558).

Usage: ``python benchmarks/nhp_sessions.py --data-dir DIR [--methods eventprop,ann]
[--epochs N] [--store results.sqlite] [--protocol leaderboard]``. Sessions whose file is missing
are listed and skipped. Each session takes minutes to hours on a CPU (the recordings have
~10^5 steps); numbers from a shared machine are noisy in time, not in R^2.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from eventbench.data.nhp import NHP_FILES
from eventbench.tasks import get_task
from eventbench.tasks.base import find_first
from eventbench.tasks.pipeline import benchmark, resolve_recipe, train

#: published v1.0 leaderboard R^2 per monkey (NeuroBench paper / leaderboard)
LEADERBOARD = {"snn": {"indy": 0.593, "loco": 0.568}, "ann": {"indy": 0.593, "loco": 0.558}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--methods", default="eventprop,ann")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--protocol", default="leaderboard")
    ap.add_argument("--store", type=Path, default=Path("eventbench-results/nhp-sessions.sqlite"))
    ap.add_argument("--out-dir", type=Path, default=Path("eventbench-results/runs/nhp-sessions"))
    args = ap.parse_args()
    task = get_task("nhp-reaching")
    found, missing = [], []
    for s in NHP_FILES:
        name = f"{s}.mat"
        hit = find_first(args.data_dir, [name, f"primate_reaching/{name}", f"nhp/{name}"])
        (found if hit is not None else missing).append(s)
    if missing:
        print(f"missing session files (skipped): {', '.join(missing)}")
    if not found:
        print("no session file found: nothing to run (see 'eventbench tasks' for where to get them)")
        return
    r2: dict[tuple[str, str], list[float]] = {}
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        for s in found:
            sets = [f"data.session={s}", f"data.protocol={args.protocol}"]
            recipe = resolve_recipe(task, assignments=sets, method=method, epochs=args.epochs)
            data = task.load(recipe, args.data_dir)
            built, history = train(task, recipe, data, args.out_dir / f"{s}-{method}")
            res = benchmark(task, recipe, data, built, store=args.store, history=history,
                            tags={"session": s})
            value = res.metric("r2")
            assert value is not None
            print(f"{s} {method}: test R^2 {value:.4f} (run {res.run_id})")
            r2.setdefault((method, s.split("_")[0]), []).append(value)
    print(f"\nR^2 averaged per monkey, protocol {args.protocol} (leaderboard: SNN / ANN v1.0)")
    for (method, monkey), vals in sorted(r2.items()):
        ref = LEADERBOARD["ann" if method == "ann" else "snn"][monkey]
        print(f"  {monkey} {method}: {statistics.mean(vals):.4f} over {len(vals)} session(s); "
              f"leaderboard {'ANN' if method == 'ann' else 'SNN'} {ref:.3f}")


if __name__ == "__main__":
    main()
