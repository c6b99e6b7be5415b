"""Run folders: which one a command writes to, resuming, refusing to overwrite, and a clean
stop on SIGINT / SIGTERM.

A run folder (``eventbench-results/runs/<task>-<model>-<time>`` by default) holds
``recipe.toml`` (first line ``# eventbench recipe for task '<task>'``), ``last.pt`` (the state
after the last finished epoch; written before the first epoch too), ``best.pt`` and
``history.json``.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from eventbench.train.checkpoint import CheckpointError, load_checkpoint
from eventbench.train.loop import BEST, LAST, StopRequest

__all__ = [
    "RUN_FILES",
    "RunFolderError",
    "check_fresh_run_dir",
    "latest_run",
    "resume_command",
    "run_task",
    "stop_on_signals",
]

RUN_FILES = (LAST, BEST, "history.json", "recipe.toml", "report.md", "result.csv", "activity.npz")
"""Files a training run writes into its folder (removed by ``--overwrite``)."""

RUNS_ROOT = Path("eventbench-results") / "runs"


class RunFolderError(ValueError):
    """A run folder cannot be used as asked (nothing to resume, or a run already there)."""


def run_task(run_dir: Path) -> str | None:
    """The task a run folder was trained on (from its ``recipe.toml``), ``None`` if unknown."""
    p = run_dir / "recipe.toml"
    if not p.is_file():
        return None
    first = p.read_text(encoding="utf-8").splitlines()[:1]
    prefix = "# eventbench recipe for task "
    if not first or not first[0].startswith(prefix):
        return None
    return first[0][len(prefix):].strip().strip("'\"")


def latest_run(task: str, root: Path = RUNS_ROOT) -> Path:
    """The run folder of ``task`` under ``root`` whose ``last.pt`` was written last.

    Raises:
        RunFolderError: no run of ``task`` with a ``last.pt`` under ``root``.
    """
    found = [
        d for d in (root.iterdir() if root.is_dir() else ())
        if d.is_dir() and (d / LAST).is_file() and run_task(d) == task
    ]
    if not found:
        raise RunFolderError(
            f"--resume: no run of task {task!r} with a {LAST} under {str(root)!r}; "
            "pass the run folder: --resume RUN_DIR"
        )
    return max(found, key=lambda d: (d / LAST).stat().st_mtime_ns)


def check_fresh_run_dir(run_dir: Path, overwrite: bool, flag: str = "--out-dir") -> None:
    """Make sure starting a new run in ``run_dir`` destroys nothing: a folder that already
    holds a run is refused, or with ``overwrite`` its run files (:data:`RUN_FILES`) are
    removed.

    Raises:
        RunFolderError: ``run_dir`` holds a run and ``overwrite`` is false.
    """
    present = [name for name in RUN_FILES if (run_dir / name).exists()]
    if not present:
        return
    if overwrite:
        for name in present:
            (run_dir / name).unlink()
        return
    state = ""
    if (run_dir / LAST).is_file():
        try:
            ck = load_checkpoint(run_dir / LAST)
            done = int(ck.get("next_epoch", 0))
            total = (ck.get("train_config") or {}).get("epochs")
            state = f" ({done} of {total} epochs finished)" if total is not None else ""
        except CheckpointError:
            state = ""
    raise RunFolderError(
        f"{flag} {run_dir}: already holds a run{state}; continue it with --resume {run_dir} "
        "or replace it with --overwrite"
    )


def resume_command(command: str, task: str, run_dir: Path, extra: Sequence[str] = ()) -> str:
    """The shell command that continues the run in ``run_dir``."""
    parts = ["eventbench", command, task, "--resume", str(run_dir), *extra]
    return " ".join(shlex.quote(p) for p in parts)


@contextlib.contextmanager
def stop_on_signals(
    stop: StopRequest, notice: str = "stopping after the current minibatch"
) -> Iterator[StopRequest]:
    """While active, the first SIGINT or SIGTERM sets ``stop`` (the training loop then stops
    at the next minibatch boundary) and prints ``notice`` on stderr; a second one raises
    :class:`KeyboardInterrupt`. The previous handlers are restored on exit. Outside the main
    thread (where Python cannot install handlers) this does nothing."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    names = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.set(names.get(signal.Signals(signum), str(signum)))
        print(f"\neventbench: {stop.reason} received, {notice} (again to abort at once)",
              file=sys.stderr, flush=True)

    previous = {s: signal.getsignal(s) for s in names}
    for s in names:
        signal.signal(s, handler)
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
