"""Cost of metric collection: EventBench's harness vs plain inference vs official NeuroBench.

Workload (docs peers.md, SHD-shaped): 700 input channels, T steps of 1 ms, batch 32, spikes
``rng.random((T, 700)) < 0.012`` drawn per sample with ``numpy.random.default_rng(0)``, labels
from ``default_rng(1)`` (20 classes). Models, both benchmarked on the same data:

* ``snn``: snnTorch ``Linear(700, 256) -> Leaky -> Linear(256, 20) -> Leaky(output)``
  (``init_hidden=True``), stepped over time, prediction = most output spikes;
* ``ann``: ``Linear(700, 256) -> ReLU -> Linear(256, 20)`` applied to every time bin,
  prediction = argmax of the time-summed output.

Configurations, each in a fresh process, one at a time (``--threads`` intra-op threads):

* ``plain``: the inference loop alone under ``torch.no_grad()`` (same forward and
  post-processing as the harness);
* ``exact`` / ``neurobench``: :func:`eventbench.bench.run` with accuracy, activation sparsity
  (total and by layer), synaptic operations (and, for the SNN, membrane updates and neuron
  operations) plus the static metrics;
* ``official``: NeuroBench 2.3.0 ``Benchmark.run`` with the same metrics (if installed).

Reported: median wall time of ``--repeats`` full passes after one warm-up pass, the ratio
to ``plain``, and the peak RSS of the process (``ru_maxrss``). Run:

    .venv/bin/python benchmarks/harness_overhead.py --steps 250 --batches 4
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

N_IN, N_HID, N_OUT, BATCH = 700, 256, 20, 32


def make_data(steps: int, batches: int) -> list[tuple[Tensor, Tensor]]:
    """NeuroBench-layout batches ``([B, T, 700] spikes, [B] labels)``."""
    rng = np.random.default_rng(0)
    xs = np.stack([rng.random((steps, N_IN), dtype=np.float32) < 0.012 for _ in range(BATCH * batches)])
    ys = np.random.default_rng(1).integers(0, N_OUT, BATCH * batches)
    x = torch.from_numpy(xs.astype(np.float32))
    y = torch.from_numpy(ys)
    return [(x[i * BATCH : (i + 1) * BATCH], y[i * BATCH : (i + 1) * BATCH]) for i in range(batches)]


def make_model(kind: str) -> nn.Module:
    torch.manual_seed(0)
    if kind == "snn":
        import snntorch as snn

        net = nn.Sequential(
            nn.Linear(N_IN, N_HID),
            snn.Leaky(beta=0.95, init_hidden=True),
            nn.Linear(N_HID, N_OUT),
            snn.Leaky(beta=0.95, init_hidden=True, output=True),
        )
        with torch.no_grad():
            net[0].weight.mul_(8.0)  # hidden rate of a few tens of Hz
        return net
    return nn.Sequential(nn.Linear(N_IN, N_HID), nn.ReLU(), nn.Linear(N_HID, N_OUT))


class _Loader(list):  # type: ignore[type-arg]
    """A list of batches that also answers ``len(loader.dataset)`` (NeuroBench needs it)."""

    @property
    def dataset(self) -> range:
        return range(sum(len(b[1]) for b in self))


def time_sum_argmax(preds: Tensor) -> Tensor:
    return preds.sum(1).argmax(1)


def worker(kind: str, config: str, steps: int, batches: int, repeats: int, threads: int) -> dict[str, Any]:
    torch.set_num_threads(threads)
    data = _Loader(make_data(steps, batches))
    net = make_model(kind)
    times: list[float] = []

    if config in ("plain", "exact", "neurobench"):
        import eventbench.bench as eb

        adapter: eb.ModelAdapter = (
            eb.SNNTorchModel(net, input_events=True) if kind == "snn" else eb.TorchModel(net)
        )
        adapter.prepare(None)
        metrics = [
            "footprint",
            "parameter_count",
            "connection_sparsity",
            "accuracy",
            "activation_sparsity",
            "activation_sparsity_by_layer",
            "synaptic_operations",
        ]
        if kind == "snn":
            metrics += ["membrane_updates", "neuron_operations"]
        task = eb.Task("shd-shaped", data, postprocessors=(time_sum_argmax,), dataset_len=len(data.dataset))
        result: Any = None
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            if config == "plain":
                with torch.no_grad():
                    for x, y in data:
                        preds = time_sum_argmax(adapter(x))
                        _ = (preds == y).sum().item()
            else:
                result = eb.run(task, adapter, mode=config, metrics=metrics)  # type: ignore[arg-type]
            if i:
                times.append(time.perf_counter() - t0)
        summary = None if result is None else {
            "synops": result.metrics["synaptic_operations"],
            "activation_sparsity": result.metrics["activation_sparsity"],
        }
    else:
        from neurobench.benchmarks import Benchmark
        from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
        from neurobench.metrics.workload import (
            ActivationSparsity,
            ActivationSparsityByLayer,
            ClassificationAccuracy,
            MembraneUpdates,
            NeuronOperations,
            SynapticOperations,
        )
        from neurobench.models import SNNTorchModel, TorchModel

        model = SNNTorchModel(net) if kind == "snn" else TorchModel(net)
        workload: list[Any] = [
            ClassificationAccuracy,
            ActivationSparsity,
            ActivationSparsityByLayer,
            SynapticOperations,
        ]
        if kind == "snn":
            workload += [MembraneUpdates, NeuronOperations]
        bench = Benchmark(
            model, data, [], [time_sum_argmax], [[Footprint, ParameterCount, ConnectionSparsity], workload]
        )
        res: dict[str, Any] = {}
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            res = bench.run(quiet=True)
            if i:
                times.append(time.perf_counter() - t0)
        summary = {"synops": res["SynapticOperations"], "activation_sparsity": res["ActivationSparsity"]}
    return {
        "kind": kind,
        "config": config,
        "median_s": statistics.median(times),
        "times_s": times,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "summary": summary,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=250, help="time steps T")
    ap.add_argument("--batches", type=int, default=4, help="batches of 32 per pass")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes after one warm-up")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="snn,ann")
    ap.add_argument("--configs", default="plain,exact,neurobench,official")
    ap.add_argument("--json", help="write all measurements to this file")
    ap.add_argument("--worker", nargs=2, metavar=("MODEL", "CONFIG"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        out = worker(args.worker[0], args.worker[1], args.steps, args.batches, args.repeats, args.threads)
        print(json.dumps(out))
        return
    rows: list[dict[str, Any]] = []
    for kind in args.models.split(","):
        base: float | None = None
        for config in args.configs.split(","):
            cmd = [
                sys.executable, __file__, "--worker", kind, config,
                "--steps", str(args.steps), "--batches", str(args.batches),
                "--repeats", str(args.repeats), "--threads", str(args.threads),
            ]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{kind}/{config}: failed\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            if config == "plain":
                base = r["median_s"]
            r["ratio_vs_plain"] = r["median_s"] / base if base else None
            rows.append(r)
            ratio = f"{r['ratio_vs_plain']:.2f}x" if r["ratio_vs_plain"] else "-"
            print(
                f"{kind:4s} {config:11s} {r['median_s']:8.3f} s  {ratio:>7s}  "
                f"peak RSS {r['max_rss_mb']:7.0f} MB  {r['summary'] or ''}",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "torch": torch.__version__, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
