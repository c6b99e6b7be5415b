"""Run a sweep's trials on Ray: a local Ray instance by default, or an existing cluster.

Each trial is one Ray task declaring its share of the machine (``num_cpus`` = its torch threads,
``num_gpus``), so Ray runs as many at once as the resources allow. Workers write their results
to the store themselves (see :mod:`eventbench.bench.store` for why concurrent writers are safe);
on a cluster, ``--store`` and ``--out-dir`` must be on a file system that every node sees at the
same path.

Resuming: before submitting, the trials the store records as ``done`` are skipped; missing and
failed ones run (again). An interrupted trial continues from its own ``last.pt``. A worker that
dies (out of memory, killed) is recorded as a failed trial by the driver.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventbench.bench.store import ResultStore, TrialRecord
from eventbench.sweep.grid import SweepSpec, Trial
from eventbench.sweep.trial import TrialJob, TrialOutcome, run_trial, trial_recipe

__all__ = ["SweepRun", "pending", "run_sweep"]

log = logging.getLogger(__name__)

#: object store of a local Ray instance (bytes): trials exchange only small outcomes
LOCAL_OBJECT_STORE_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True)
class SweepRun:
    """What a sweep command did.

    Attributes:
        total: trials of the sweep.
        skipped: trials already done in the store.
        outcomes: one per trial run now.
    """

    total: int
    skipped: int
    outcomes: tuple[TrialOutcome, ...]

    @property
    def failed(self) -> tuple[TrialOutcome, ...]:
        """The trials that failed now."""
        return tuple(o for o in self.outcomes if o.status != "done")


def pending(store: ResultStore, sweep: str, trials: Sequence[Trial]) -> list[Trial]:
    """The trials not recorded as ``done`` in ``store`` (missing or failed)."""
    done = {t.trial_id for t in store.trials(sweep) if t.status == "done"}
    return [t for t in trials if t.trial_id not in done]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            "eventbench sweep runs on Ray, which is not installed: pip install 'eventbench[sweep]'"
        ) from exc
    return ray


def _init_ray(ray: Any, address: str | None) -> bool:
    """Connect to ``address`` or start a local instance; False when Ray was already running
    in this process (then it is left running)."""
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(num_cpus=os.cpu_count() or 1, object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                 include_dashboard=False, log_to_driver=False)
    return True


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def run_sweep(
    task: str,
    spec: SweepSpec,
    trials: Sequence[Trial],
    *,
    store: Path,
    out_root: Path,
    address: str | None = None,
    cpus_per_trial: int = 1,
    gpus_per_trial: float = 0.0,
    data_dir: Path | None = None,
    config: Path | None = None,
    sets: Sequence[str] = (),
    on_outcome: Callable[[TrialOutcome, int, int], None] | None = None,
) -> SweepRun:
    """Run the trials of ``spec`` not yet done in ``store`` on Ray.

    Every trial's recipe is resolved first, so a wrong setting fails before anything starts.
    ``on_outcome(outcome, finished, to_run)`` is called as trials finish. Ctrl-C cancels the
    trials still running (their ``last.pt`` stays for the next run) and re-raises.
    """
    if cpus_per_trial < 1:
        raise ValueError(f"--cpus-per-trial must be >= 1, got {cpus_per_trial}")
    if gpus_per_trial < 0:
        raise ValueError(f"--gpus-per-trial must be >= 0, got {gpus_per_trial}")
    st = ResultStore(store)
    jobs = [
        TrialJob(task, spec.name, t, str(Path(store).resolve()), str(Path(out_root).resolve()),
                 None if data_dir is None else str(Path(data_dir).resolve()),
                 None if config is None else str(Path(config).resolve()), tuple(sets),
                 cpus_per_trial)
        for t in pending(st, spec.name, trials)
    ]
    for job in jobs:
        trial_recipe(job)  # raises ConfigError naming the setting before Ray starts
    skipped = len(trials) - len(jobs)
    if not jobs:
        return SweepRun(len(trials), skipped, ())
    ray = _import_ray()
    started = _init_ray(ray, address)
    remote = ray.remote(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial, max_retries=0)(
        run_trial
    )
    refs = {remote.remote(job): job for job in jobs}
    outcomes: list[TrialOutcome] = []
    waiting = list(refs)
    # Ctrl-C only sets a flag, read between Ray calls: a KeyboardInterrupt raised inside
    # ray.wait / ray.get leaves Ray's core worker inconsistent (it aborts the driver)
    interrupted = threading.Event()
    previous = _catch_sigint(interrupted)
    try:
        while waiting:
            if interrupted.is_set():
                raise KeyboardInterrupt
            ready, waiting = ray.wait(waiting, num_returns=1, timeout=0.25)
            if not ready:
                continue
            job = refs[ready[0]]
            try:
                outcome = ray.get(ready[0])
            except Exception as exc:  # the worker itself died: record it, keep going
                error = f"worker died: {' '.join(str(exc).split())[:500]}"
                st.record_trial(TrialRecord(spec.name, job.trial.trial_id, "failed", None,
                                            job.trial.settings, job.trial.seed, error, _now()))
                outcome = TrialOutcome(job.trial.trial_id, "failed", None, error)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome, len(outcomes), len(jobs))
    except BaseException:
        # only the trials still running; a cooperative cancel (KeyboardInterrupt in the task)
        # lets each worker reply normally, where killing it races with a reply in flight
        for ref in waiting:
            ray.cancel(ref, force=False)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if started:
            ray.shutdown()
    return SweepRun(len(trials), skipped, tuple(outcomes))


def _catch_sigint(flag: threading.Event) -> Any:
    """Make SIGINT set ``flag`` (in the main thread; elsewhere signals cannot be caught and
    nothing changes); the previous handler, to restore, or ``None``."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, lambda _signum, _frame: flag.set())
