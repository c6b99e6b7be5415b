"""Data-parallel training: seconds per epoch with 1 and N gloo processes (standalone script).

Trains the Yin-Yang recipe (EventProp, compiled CPU kernels) for a few epochs in one process and
in N data-parallel processes (``eventbench.tasks.pipeline.train(devices=N)``), with the same
global minibatch, and prints the mean training seconds per epoch (validation excluded; the first
epoch, which loads the compiled kernels, is dropped), the wall time of the whole call (process
start-up included) and the largest weight difference between the two runs.

The weights are not expected to agree exactly after many steps: the gradients agree to rounding
(``tests/train/test_distributed.py``), but Adam divides by the root of the running squared
gradient, so parameters whose gradient is near zero take full-size steps whose sign the rounding
decides, and a moved spike changes later gradients.

Usage: ``python benchmarks/data_parallel.py [--devices 2] [--epochs 4] [--threads 1]``.
Each process gets ``threads`` torch threads (``train.threads = threads x processes``).
On a shared machine the numbers are noisy: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

from eventbench.tasks import get_task
from eventbench.tasks.config import apply_overrides
from eventbench.tasks.pipeline import train
from eventbench.train.checkpoint import load_checkpoint


def run(devices: int, epochs: int, threads: int, out: Path) -> tuple[float, float, dict[str, torch.Tensor]]:
    task = get_task("yinyang")
    recipe = apply_overrides(task.recipe, {"train.epochs": epochs,
                                           "train.threads": threads * devices}, source="benchmark")
    torch.set_num_threads(threads * devices)
    data = task.load(recipe, None)
    t0 = time.perf_counter()
    _, history = train(task, recipe, data, out, devices=devices)
    wall = time.perf_counter() - t0
    times = [e.time_s for e in history.epochs[1:]] or [history.epochs[0].time_s]
    state = load_checkpoint(out / "last.pt")["model_state"]
    return sum(times) / len(times), wall, state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    a = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"yinyang recipe, {a.epochs} epochs, {a.threads} thread(s) per process")
    with tempfile.TemporaryDirectory() as tmp:
        one = run(1, a.epochs, a.threads, Path(tmp) / "one")
        many = run(a.devices, a.epochs, a.threads, Path(tmp) / "many")
    diff = max(float((one[2][k].float() - many[2][k].float()).abs().max()) for k in one[2]
               if one[2][k].is_floating_point())
    print("| processes | train s / epoch | wall s (incl. start-up) |")
    print("|---|---|---|")
    print(f"| 1 | {one[0]:.3f} | {one[1]:.1f} |")
    print(f"| {a.devices} | {many[0]:.3f} | {many[1]:.1f} |")
    print(f"largest weight difference after {a.epochs} epochs: {diff:.3g}")


if __name__ == "__main__":
    main()
