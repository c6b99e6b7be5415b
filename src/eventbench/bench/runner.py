"""Runner: task x model -> :class:`~eventbench.bench.result.RunResult`.

The evaluation loop runs under ``torch.no_grad()``; metrics never swallow errors: a failure
in the model or a metric update aborts the run, and a metric that cannot be computed on the
model (no activation module, no spiking neuron, ...) is reported as ``None`` with its reason
in ``RunResult.unsupported`` and a :class:`~eventbench.bench._common.BenchWarning`.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import logging
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor, nn

from eventbench.bench._common import Mode, check_mode, warn
from eventbench.bench.collector import BatchCounts
from eventbench.bench.metrics.static import footprint, parameter_count
from eventbench.bench.metrics.workload import (
    STATIC_METRICS,
    WORKLOAD_METRICS,
    SynapticOperations,
    UnsupportedMetricError,
    WorkloadMetric,
)
from eventbench.bench.models import ModelAdapter, as_adapter
from eventbench.bench.result import SCHEMA_VERSION, Provenance, RunResult
from eventbench.machine import available_cores, cpu_model

if TYPE_CHECKING:
    from eventbench.bench.store import ResultStore

log = logging.getLogger(__name__)

Batch = tuple[Any, ...]
Fingerprint = Literal["fast", "full", "none"]


@dataclass
class Task:
    """A benchmark task: data, processing and which metrics to report.

    Attributes:
        name: task name used in results.
        data: an iterable of batches ``(inputs, targets[, extra...])`` — typically a
            ``torch.utils.data.DataLoader``; iterated once per run.
        metrics: workload (correctness) metric keys reported by default, e.g.
            ``("accuracy",)``, ``("r2",)``, ``("smape",)``.
        preprocessors: callables ``batch -> batch`` applied before the model (excluded from
            all complexity metrics, as in NeuroBench).
        postprocessors: callables ``predictions -> predictions`` applied after the model.
        batch_dim: dimension of ``inputs`` that indexes samples (0 for NeuroBench's
            ``[B, T, ...]``, 1 for EventBench's time-major ``[T, B, ...]``).
        dataset_len: number of samples in the dataset, needed by ``neurobench`` mode's
            batch weighting (default: ``len(data.dataset)`` when available).
        execution_rate_hz: declared model execution rate (Hz), copied into provenance.
        data_fingerprint: a declared fingerprint (e.g. a dataset checksum) used instead of
            the computed one.
        protocol: the evaluation protocol and its version (``"NeuroBench v1.0 primate
            reaching, leaderboard setting"``), copied into provenance.
    """

    name: str
    data: Iterable[Any]
    metrics: tuple[str, ...] = ("accuracy",)
    preprocessors: Sequence[Callable[[Batch], Batch]] = ()
    postprocessors: Sequence[Callable[[Tensor], Tensor]] = ()
    batch_dim: int = 0
    dataset_len: int | None = None
    execution_rate_hz: float | None = None
    data_fingerprint: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    protocol: str | None = None

    def resolved_dataset_len(self) -> int | None:
        """``dataset_len`` or ``len(data.dataset)`` when the data is a DataLoader."""
        if self.dataset_len is not None:
            return self.dataset_len
        ds = getattr(self.data, "dataset", None)
        try:
            return len(ds) if ds is not None else None
        except TypeError:
            return None


def choose_max_count(preds: Tensor) -> Tensor:
    """Post-processor: class with the most output spikes, ``preds.sum(1).argmax(1)`` for
    NeuroBench-layout outputs ``[B, T, classes]``."""
    return preds.sum(1).argmax(1)


def argmax(preds: Tensor) -> Tensor:
    """Post-processor: ``preds.argmax(-1)`` (class scores ``[B, classes]``)."""
    return preds.argmax(-1)


def default_metrics(task: Task, adapter: ModelAdapter) -> tuple[str, ...]:
    """Metrics reported when none are given: static, task correctness, complexity."""
    names = [*STATIC_METRICS, *task.metrics, "activation_sparsity", "synaptic_operations"]
    if adapter.spiking_types() or getattr(adapter, "native", False):
        names += ["membrane_updates", "neuron_operations"]
    return tuple(names)


def package_versions() -> dict[str, str]:
    """Versions of Python, EventBench, torch, numpy and imported peer packages."""
    out = {"python": platform.python_version(), "torch": torch.__version__}
    for pkg in ("eventbench", "numpy", "snntorch", "neurobench"):
        if pkg in ("snntorch", "neurobench") and pkg not in sys.modules:
            continue
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


@functools.cache
def git_commit() -> str | None:
    """Commit of the checkout containing this package (``+dirty`` if modified), else None.

    Read once per process (the code that runs is the code imported at start-up).
    """
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return commit + ("+dirty" if dirty.stdout.strip() else "")


def describe_device(device: torch.device) -> str:
    """Human-readable device description: ``"cuda:0 (NVIDIA H100 ...)"``, or for the CPU
    ``"cpu (AMD EPYC, 2 cores)"`` (the cores this process may use), since timings depend on it."""
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{idx} ({torch.cuda.get_device_name(idx)})"
    if device.type == "cpu":
        return f"cpu ({cpu_model()}, {available_cores()} cores)"
    return str(device)


class _Fingerprinter:
    """Streaming data fingerprint.

    ``fast``: SHA-256 over, per batch, each tensor's shape and dtype, the bytes of the
    targets and the sum of the inputs (6 significant digits). ``full``: the bytes of every
    tensor. ``none``: no fingerprint.
    """

    def __init__(self, kind: Fingerprint) -> None:
        self.kind = kind
        self.h = hashlib.sha256()
        self._pending: list[Tensor] = []

    def add(self, batch: Batch) -> None:
        if self.kind == "none":
            return
        for i, t in enumerate(batch):
            if not isinstance(t, Tensor):
                continue
            self.h.update(f"{i}:{tuple(t.shape)}:{t.dtype};".encode())
            if self.kind == "full" or i == 1:
                self.h.update(t.detach().cpu().contiguous().numpy().tobytes())
            else:
                self._pending.append(t.sum().to(torch.float64))

    def digest(self) -> str | None:
        if self.kind == "none":
            return None
        if self._pending:
            # 6 significant digits: robust to the summation order of the reduction
            sums = torch.stack(self._pending).cpu().tolist()
            self.h.update(";".join(f"{v:.6g}" for v in sums).encode())
        return self.h.hexdigest()


def _to_device(batch: Batch, device: torch.device | None) -> Batch:
    if device is None:
        return batch
    return tuple(t.to(device) if isinstance(t, Tensor) else t for t in batch)


def run(
    task: Task,
    model: ModelAdapter | nn.Module,
    *,
    mode: Mode = "exact",
    metrics: Sequence[str] | None = None,
    device: str | torch.device | None = None,
    seed: int | None = 0,
    store: ResultStore | str | Path | bool | None = None,
    max_batches: int | None = None,
    fingerprint: Fingerprint = "fast",
    execution_rate_hz: float | None = None,
    tags: dict[str, str] | None = None,
) -> RunResult:
    """Benchmark ``model`` on ``task`` and return a typed result.

    Args:
        task: the :class:`Task`.
        model: a :class:`~eventbench.bench.models.ModelAdapter`, or any ``nn.Module``
            (wrapped in :class:`~eventbench.bench.models.TorchModel`).
        mode: ``"exact"`` (corrected definitions) or ``"neurobench"`` (NeuroBench 2.3.0
            numbers).
        metrics: metric keys to report (static: ``footprint``, ``parameter_count``,
            ``connection_sparsity``; workload: see
            :data:`~eventbench.bench.metrics.WORKLOAD_METRICS`). Default:
            :func:`default_metrics`.
        device: where to run (the network and every batch tensor are moved there).
        seed: seeds ``torch`` before the run (None: leave the RNG alone).
        store: a :class:`~eventbench.bench.store.ResultStore`, a path to an SQLite file, or
            ``True`` for the default store (``$EVENTBENCH_STORE`` or
            ``eventbench-results/results.sqlite``); the result is added to it. Default: not
            stored.
        max_batches: stop after this many batches (the result says how many samples ran).
        fingerprint: data fingerprint kind (``"fast"``, ``"full"``, ``"none"``); a task's
            declared ``data_fingerprint`` takes precedence.
        execution_rate_hz: declared execution rate (overrides the task's).
        tags: free-form labels stored with the result.

    Returns:
        The :class:`~eventbench.bench.result.RunResult`.
    """
    mode = check_mode(mode)
    adapter = as_adapter(model)
    names = tuple(metrics) if metrics is not None else default_metrics(task, adapter)
    unknown = [n for n in names if n not in STATIC_METRICS and n not in WORKLOAD_METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {STATIC_METRICS + tuple(WORKLOAD_METRICS)}")
    dev = torch.device(device) if device is not None else None
    if seed is not None:
        torch.manual_seed(seed)
    adapter.prepare(dev)
    if dev is None:
        first = next(iter(adapter.network().parameters()), None)
        dev_desc = describe_device(first.device if first is not None else torch.device("cpu"))
    else:
        dev_desc = describe_device(dev)

    values: dict[str, Any] = {}
    unsupported: dict[str, str] = {}
    details: dict[str, Any] = {}

    static_net = adapter.static_network()
    for n in names:
        if n == "footprint":
            values[n] = footprint(static_net, mode, adapter.state_buffers())
        elif n == "parameter_count":
            values[n] = parameter_count(static_net)
        elif n == "connection_sparsity":
            cs = adapter.connection_sparsity(mode)
            if cs is None:
                unsupported[n] = "no supported connection layer (weights) found"
            values[n] = cs

    dataset_len = task.resolved_dataset_len()
    if mode == "neurobench" and dataset_len is None and any(n in WORKLOAD_METRICS for n in names):
        raise ValueError("neurobench mode needs task.dataset_len (or a DataLoader with a dataset)")
    wl: list[WorkloadMetric] = [
        WORKLOAD_METRICS[n](mode, dataset_len) for n in names if n in WORKLOAD_METRICS
    ]
    needs: frozenset[str] = frozenset().union(*(m.needs for m in wl)) if wl else frozenset()
    fp = _Fingerprinter(fingerprint if task.data_fingerprint is None else "none")

    samples = batches = 0
    t0 = time.perf_counter()
    with torch.no_grad(), adapter.counting_session(mode, needs) as session:
        for raw in task.data:
            if max_batches is not None and batches >= max_batches:
                break
            batch = _to_device(tuple(raw) if not isinstance(raw, tuple) else raw, dev)
            if len(batch) < 2:
                raise ValueError("a batch must be (inputs, targets[, ...])")
            fp.add(batch)
            bs = int(batch[0].shape[task.batch_dim])
            processed = batch
            for pre in task.preprocessors:
                processed = pre(processed)
            preds = adapter(processed[0])
            for post in task.postprocessors:
                preds = post(preds)
            counts: BatchCounts = session.end_batch(bs)
            targets = batch[1] if mode == "neurobench" else processed[1]
            for m in wl:
                m.update(preds, targets, counts)
            samples += bs
            batches += 1
        unsupported.update(session.unsupported)
    if dev is not None and dev.type == "cuda":
        torch.cuda.synchronize(dev)
    wall = time.perf_counter() - t0
    if batches == 0:
        raise ValueError(f"task {task.name!r} yielded no batch")

    for m in wl:
        try:
            values[m.name] = m.compute()
        except UnsupportedMetricError as err:
            values[m.name] = None
            unsupported[m.name] = str(err)
            warn(str(err))
        if isinstance(m, SynapticOperations):
            details["ops_per_layer"] = {
                k: {
                    "dense": v.dense,
                    "effective_macs": v.effective_macs,
                    "effective_acs": v.effective_acs,
                    "calls": v.calls,
                }
                for k, v in m.per_layer.items()
            }
    if mode == "exact" and "footprint" in names:
        state = adapter.state_bytes_per_sample()
        if state is not None:
            values["state_bytes_per_sample"] = state

    prov = Provenance(
        package_versions=package_versions(),
        seed=seed,
        git_commit=git_commit(),
        device=dev_desc,
        data_fingerprint=task.data_fingerprint or fp.digest(),
        execution_rate_hz=execution_rate_hz if execution_rate_hz is not None else task.execution_rate_hz,
        created_utc=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        platform=platform.platform(),
        protocol=task.protocol,
    )
    result = RunResult(
        schema_version=SCHEMA_VERSION,
        run_id=uuid.uuid4().hex,
        task=task.name,
        model=adapter.name,
        mode=mode,
        metrics=values,
        unsupported=unsupported,
        details=details,
        samples=samples,
        batches=batches,
        wall_time_s=wall,
        provenance=prov,
        tags={**task.tags, **(tags or {})},
    )
    if store is not None and store is not False:
        from eventbench.bench.store import ResultStore

        if isinstance(store, ResultStore):
            st = store
        else:
            st = ResultStore(None if store is True else store)
        st.add(result)
    log.info("benchmarked %s on %s (%s): %d samples in %.3f s", adapter.name, task.name, mode, samples, wall)
    return result
