"""A synthetic primate-reaching session in the real file layout, for checking recipes offline
(standalone script).

Writes ``DIR/indy_20160622_01.mat`` (MATLAB v7.3 = HDF5: ``t``, ``cursor_pos``, ``target_pos``,
``spikes`` as object references, fields transposed as MATLAB stores them): ``--steps`` time
stamps 4 ms apart, reaches of 0.4 s (a bell-shaped speed profile towards a random direction,
each reach a new target, i.e. a new segment), and 96 channels of Poisson spikes, cosine-tuned to
the velocity 100 ms later (base rate 5-20 Hz, +30 Hz per unit speed along the preferred
direction). The R^2 reachable here says nothing about the real recordings; it shows whether a
recipe learns at all under a protocol.

Usage: ``python benchmarks/nhp_synthetic.py DIR [--steps 30000] [--seed 0]``, then e.g.
``eventbench run nhp-reaching --data-dir DIR --protocol leaderboard --epochs 5``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np


def synthetic_session(steps: int, seed: int) -> dict[str, np.ndarray | list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    t = 100.0 + 0.004 * np.arange(steps)
    seg = 100
    n_seg = steps // seg
    ang = rng.uniform(0, 2 * np.pi, n_seg)
    prof = np.sin(np.pi * np.arange(seg) / seg) ** 2
    vel = 2 * np.concatenate([np.stack([np.cos(a) * prof, np.sin(a) * prof]) for a in ang], 1)
    vel = np.pad(vel, ((0, 0), (0, steps - vel.shape[1])))
    target = np.repeat(np.arange(n_seg + 1, dtype=float), seg)[:steps][None].repeat(2, 0)
    pd = rng.uniform(0, 2 * np.pi, 96)
    base = rng.uniform(5, 20, 96)
    lead = np.concatenate([vel[:, 25:], np.zeros((2, 25))], axis=1)
    drive = np.cos(pd)[:, None] * lead[0] + np.sin(pd)[:, None] * lead[1]
    rate = base[:, None] + 30 * np.clip(drive, 0, None)
    fired = rng.random((96, steps)) < rate * 0.004
    spikes = [t[np.flatnonzero(fired[c])] + 0.002 for c in range(96)]
    return {"t": t, "cursor_pos": np.cumsum(vel, axis=1), "target_pos": target, "spikes": spikes}


def write_mat73(path: Path, s: dict[str, np.ndarray | list[np.ndarray]]) -> None:
    with h5py.File(path, "w", userblock_size=512) as f:
        f["t"] = np.asarray(s["t"])[None, :]
        f["cursor_pos"] = np.asarray(s["cursor_pos"])
        f["target_pos"] = np.asarray(s["target_pos"])
        refs = f.create_group("#refs#")
        chans = list(s["spikes"])
        arr = np.empty((1, len(chans)), dtype=h5py.ref_dtype)
        for c, times in enumerate(chans):
            ds = refs.create_dataset(f"c{c}", data=np.asarray(times, np.float64)[None, :])
            ds.attrs["MATLAB_class"] = np.bytes_(b"double")
            arr[0, c] = ds.ref
        f.create_dataset("spikes", data=arr, dtype=h5py.ref_dtype)
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by: eventbench synthetic .")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--steps", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / "indy_20160622_01.mat"
    write_mat73(path, synthetic_session(args.steps, args.seed))
    print(f"wrote {path} ({args.steps} steps, 96 channels; synthetic, not O'Doherty data)")


if __name__ == "__main__":
    main()
