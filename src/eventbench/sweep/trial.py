"""One sweep trial, as a worker runs it: train, benchmark, store (or record the failure).

A trial's folder ``OUT/<sweep>/<trial_id>/`` holds its checkpoints (``last.pt`` after every
epoch, ``best.pt``), ``recipe.toml`` and ``history.json``. A trial rerun after an interruption
continues from its ``last.pt``. The result goes to the store in one transaction together with
the trial's ``done`` row; an exception is recorded as a ``failed`` row with a one-line error and
returned, never raised, so that one bad trial does not stop the sweep.
"""

from __future__ import annotations

import datetime as _dt
import logging
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventbench.sweep.grid import Trial

__all__ = ["TrialJob", "TrialOutcome", "run_trial", "trial_recipe"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialJob:
    """Everything a worker needs to run a trial (plain values: it travels to Ray workers).

    Attributes:
        task: task name.
        sweep: the sweep's name.
        trial: the trial.
        store: results store file (absolute; on a cluster, on a file system every node sees).
        out_root: folder of the sweep's trial folders (absolute, same remark).
        data_dir: ``--data-dir`` (``None``: the worker's default).
        config: ``--config`` TOML applied before the trial's settings.
        sets: ``--set`` assignments applied before the trial's settings.
        threads: torch threads of the trial (its declared CPU share).
    """

    task: str
    sweep: str
    trial: Trial
    store: str
    out_root: str
    data_dir: str | None = None
    config: str | None = None
    sets: tuple[str, ...] = ()
    threads: int = 1


@dataclass(frozen=True)
class TrialOutcome:
    """What a worker returns: ``status`` ``"done"`` (with ``run_id``) or ``"failed"`` (with
    ``error``), and the trial's wall time in seconds."""

    trial_id: str
    status: str
    run_id: str | None = None
    error: str | None = None
    wall_s: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)


def trial_recipe(job: TrialJob) -> Any:
    """The trial's recipe: task defaults, ``--config``, ``--set``, then the trial's settings
    (named ``--grid <sweep>`` in errors)."""
    from eventbench.tasks import get_task
    from eventbench.tasks.config import apply_overrides
    from eventbench.tasks.pipeline import resolve_recipe

    task = get_task(job.task)
    recipe = resolve_recipe(task, job.config, job.sets)
    return apply_overrides(recipe, job.trial.overrides(), source=f"--grid (sweep {job.sweep})")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_trial(job: TrialJob) -> TrialOutcome:
    """Train and benchmark one trial; store its result or its failure (see the module)."""
    import time

    import torch

    from eventbench.bench.store import ResultStore, TrialRecord
    from eventbench.tasks import get_task
    from eventbench.tasks.pipeline import benchmark, train

    t0 = time.perf_counter()
    store = ResultStore(job.store)
    tr = job.trial
    try:
        torch.set_num_threads(max(1, job.threads))
        task = get_task(job.task)
        recipe = trial_recipe(job)
        data = task.load(recipe, Path(job.data_dir) if job.data_dir else None)
        run_dir = Path(job.out_root) / job.sweep / tr.trial_id
        resume = (run_dir / "last.pt").is_file()
        if resume:
            log.info("trial %s: resuming from %s", tr.trial_id, run_dir / "last.pt")
        built, history = train(task, recipe, data, run_dir, resume=resume)
        tags = {
            "sweep": job.sweep,
            "trial": tr.trial_id,
            "settings": _json(tr.settings),
            "run_dir": str(run_dir),
        }
        result = benchmark(task, recipe, data, built, store=None, history=history, tags=tags)
        record = TrialRecord(job.sweep, tr.trial_id, "done", result.run_id, tr.settings, tr.seed,
                             None, _now())
        store.add(result, trial=record)
        wall = time.perf_counter() - t0
        score = result.metric(task.metrics[0])
        return TrialOutcome(tr.trial_id, "done", result.run_id, None, wall,
                            {task.metrics[0]: score})
    except Exception as exc:  # a failed trial is recorded, not raised (module docstring)
        log.info("trial %s failed:\n%s", tr.trial_id, traceback.format_exc())
        error = _one_line(exc)
        store.record_trial(
            TrialRecord(job.sweep, tr.trial_id, "failed", None, tr.settings, tr.seed, error, _now())
        )
        return TrialOutcome(tr.trial_id, "failed", None, error, time.perf_counter() - t0)


def _json(v: Any) -> str:
    import json

    return json.dumps(v, sort_keys=True)
