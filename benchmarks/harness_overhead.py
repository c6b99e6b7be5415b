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

Timing: all configurations of a model run in one process on separate copies of the model,
interleaved round-robin (robust to load changes on a shared machine); one warm-up round,
then ``--repeats`` rounds; reported are the median pass time and the median over rounds of
each configuration's time divided by ``plain``'s time in the same round. Every harness
pass is a full :func:`eventbench.bench.run` (static metrics, provenance, fingerprint
included). Memory (``--memory-steps``): one pass per configuration in a fresh process, peak
RSS above the RSS after building data and model. Run:

    .venv/bin/python benchmarks/harness_overhead.py --steps 250 --batches 4 --threads 1 \
        --memory-steps 250,1000
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

N_IN, N_HID, N_OUT, BATCH = 700, 256, 20, 32


def make_data(steps: int, batches: int) -> list[tuple[Tensor, Tensor]]:
    """NeuroBench-layout batches ``([B, T, 700] spikes, [B] labels)``."""
    rng = np.random.default_rng(0)
    x = torch.empty(BATCH * batches, steps, N_IN)  # filled per sample: no large transient
    for i in range(BATCH * batches):
        x[i] = torch.from_numpy(rng.random((steps, N_IN), dtype=np.float32) < 0.012)
    y = torch.from_numpy(np.random.default_rng(1).integers(0, N_OUT, BATCH * batches))
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


METRICS = [
    "footprint",
    "parameter_count",
    "connection_sparsity",
    "accuracy",
    "activation_sparsity",
    "activation_sparsity_by_layer",
    "synaptic_operations",
]


def make_runner(kind: str, config: str, data: _Loader) -> Callable[[], dict[str, Any] | None]:
    """A closure running one full pass of ``config`` on its own copy of the model."""
    net = make_model(kind)
    if config in ("plain", "exact", "neurobench"):
        import eventbench.bench as eb

        adapter: eb.ModelAdapter = (
            eb.SNNTorchModel(net, input_events=True) if kind == "snn" else eb.TorchModel(net)
        )
        adapter.prepare(None)
        metrics = METRICS + (["membrane_updates", "neuron_operations"] if kind == "snn" else [])
        task = eb.Task(
            "shd-shaped", data, postprocessors=(time_sum_argmax,), dataset_len=len(data.dataset)
        )
        if config == "plain":

            def plain() -> dict[str, Any] | None:
                with torch.no_grad():
                    for x, y in data:
                        preds = time_sum_argmax(adapter(x))
                        _ = (preds == y).sum().item()
                return None

            return plain

        def ours() -> dict[str, Any] | None:
            r = eb.run(task, adapter, mode=config, metrics=metrics)  # type: ignore[arg-type]
            return {"synops": r.metrics["synaptic_operations"], "act_sp": r.metrics["activation_sparsity"]}

        return ours

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
    workload: list[Any] = [ClassificationAccuracy, ActivationSparsity, ActivationSparsityByLayer, SynapticOperations]
    if kind == "snn":
        workload += [MembraneUpdates, NeuronOperations]
    bench = Benchmark(model, data, [], [time_sum_argmax], [[Footprint, ParameterCount, ConnectionSparsity], workload])

    def official() -> dict[str, Any] | None:
        res = bench.run(quiet=True)
        return {"synops": res["SynapticOperations"], "act_sp": res["ActivationSparsity"]}

    return official


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident set size now (Linux ``/proc``; falls back to the peak elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def worker(kind: str, configs: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Time ``configs`` interleaved (round-robin) in this process; ratios per round."""
    torch.set_num_threads(args.threads)
    data = _Loader(make_data(args.steps, args.batches))
    runners = {c: make_runner(kind, c, data) for c in configs}
    times: dict[str, list[float]] = {c: [] for c in configs}
    summary: dict[str, Any] = {}
    for rnd in range(args.repeats + 1):
        for c in configs:
            t0 = time.perf_counter()
            out = runners[c]()
            if rnd:
                times[c].append(time.perf_counter() - t0)
            if out is not None:
                summary[c] = out
    ratios = {
        c: statistics.median(t / p for t, p in zip(times[c], times["plain"], strict=True))
        for c in configs
    } if "plain" in configs else {}
    return {"kind": kind, "times_s": times, "median_s": {c: statistics.median(v) for c, v in times.items()},
            "ratio_vs_plain": ratios, "summary": summary}


def memory_worker(kind: str, config: str, args: argparse.Namespace) -> dict[str, Any]:
    """Peak RSS of one pass of ``config`` in a fresh process, minus the RSS just before it
    (data and model built, garbage collected), in MB."""
    torch.set_num_threads(args.threads)
    data = _Loader(make_data(args.steps, args.batches))
    runner = make_runner(kind, config, data)
    gc.collect()
    before = current_rss_mb()
    runner()
    return {"kind": kind, "config": config, "steps": args.steps, "extra_peak_rss_mb": peak_rss_mb() - before}


def _sub(args: argparse.Namespace, *extra: str) -> dict[str, Any]:
    cmd = [
        sys.executable, __file__, *extra, "--steps", str(args.steps), "--batches", str(args.batches),
        "--repeats", str(args.repeats), "--threads", str(args.threads),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(extra)} failed:\n{proc.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=250, help="time steps T")
    ap.add_argument("--batches", type=int, default=4, help="batches of 32 per pass")
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds after one warm-up round (0: no timing)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="snn,ann")
    ap.add_argument("--configs", default="plain,exact,neurobench,official")
    ap.add_argument("--memory-steps", default="", help="comma-separated T values for the memory phase")
    ap.add_argument("--json", help="write all measurements to this file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--memory-worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    configs = args.configs.split(",")
    if args.worker:
        print(json.dumps(worker(args.worker, configs, args)))
        return
    if args.memory_worker:
        print(json.dumps(memory_worker(args.memory_worker[0], args.memory_worker[1], args)))
        return
    report: dict[str, Any] = {"args": vars(args), "torch": torch.__version__, "timing": [], "memory": []}
    print(f"T={args.steps}, {args.batches} batches of {BATCH}, {args.threads} thread(s); "
          f"median of {args.repeats} interleaved rounds")
    for kind in args.models.split(",") if args.repeats > 0 else []:
        r = _sub(args, "--worker", kind, "--configs", args.configs)
        report["timing"].append(r)
        for c in configs:
            ratio = r["ratio_vs_plain"].get(c)
            print(f"{kind:4s} {c:11s} {r['median_s'][c]:8.3f} s  "
                  f"{'' if ratio is None else f'{ratio:5.2f}x plain'}  {r['summary'].get(c, '')}", flush=True)
    for steps in [int(t) for t in args.memory_steps.split(",") if t]:
        margs = argparse.Namespace(**{**vars(args), "steps": steps})
        for kind in args.models.split(","):
            for c in configs:
                m = _sub(margs, "--memory-worker", kind, c)
                report["memory"].append(m)
                print(f"memory T={steps:5d} {kind:4s} {c:11s} +{m['extra_peak_rss_mb']:7.1f} MB peak RSS", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
