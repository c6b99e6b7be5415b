"""Callbacks: observers of training progress.

The loop computes every number a callback may want (running loss and score, spike rate, guard
hits, the whole :class:`~eventbench.train.loop.History`) and passes it in immutable records, so
callbacks need no state of their own to compute anything: :class:`LogCallback` is stateless, and
:class:`RichProgress` only owns the terminal widget it draws.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from eventbench.train.loop import EpochRecord, History

__all__ = ["BatchProgress", "Callback", "LogCallback", "RichProgress", "TrainStart"]

log = logging.getLogger(__name__)


class TrainStart(NamedTuple):
    """Passed once before the first epoch (``first_epoch > 0`` after a resume)."""

    epochs: int
    first_epoch: int
    batches_per_epoch: int
    samples: int


class BatchProgress(NamedTuple):
    """Running totals of the current epoch after a minibatch.

    ``loss`` and ``score`` are averages over the samples of the epoch so far; ``spike_rate`` is
    hidden spikes per neuron per sample (``None`` for conventional networks); ``guard_hits`` is
    the EventProp guard count of the epoch so far.
    """

    epoch: int
    batch: int
    batches: int
    lr: float
    loss: float
    score: float
    spike_rate: float | None
    guard_hits: int


class Callback:
    """Base class: every hook does nothing. Override the ones you need."""

    def on_train_start(self, start: TrainStart) -> None:
        """Before the first epoch of this call."""

    def on_batch_end(self, progress: BatchProgress) -> None:
        """After every training minibatch."""

    def on_epoch_end(self, record: EpochRecord, history: History) -> None:
        """After every epoch (validation done, checkpoints written)."""

    def on_train_end(self, history: History) -> None:
        """After the last epoch."""


class LogCallback(Callback):
    """Logs one line per epoch at INFO level (stateless)."""

    def on_epoch_end(self, record: EpochRecord, history: History) -> None:
        val = "n/a" if record.val_score is None else f"{record.val_score:.4f}"
        rate = "n/a" if record.spike_rate is None else f"{record.spike_rate:.2f}"
        log.info(
            "epoch %d: loss %.4f, train %.4f, val %s, spikes/neuron %s, guard hits %d, %.1f s",
            record.epoch + 1, record.train_loss, record.train_score, val, rate,
            record.guard_hits, record.time_s,
        )


def _fmt_progress(p: BatchProgress, score_name: str) -> str:
    parts = [f"loss {p.loss:.4f}", f"{score_name} {p.score:.3f}"]
    if p.spike_rate is not None:
        parts.append(f"spikes/neuron {p.spike_rate:.2f}")
        parts.append(f"guard {p.guard_hits}")
    return "  ".join(parts)


class RichProgress(Callback):
    """A progress bar (``rich``) with the running loss, score, spike rate and guard hits.

    Use as a context manager around :func:`~eventbench.train.loop.fit`; it writes to ``console``
    (stderr by default) and shows one summary line per finished epoch.
    """

    def __init__(self, console: Console | None = None, score_name: str = "acc") -> None:
        from rich.console import Console as _Console

        self.console = console if console is not None else _Console(stderr=True)
        self.score_name = score_name
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._epochs = 0

    def __enter__(self) -> RichProgress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[stats]}"),
            console=self.console,
            transient=True,
        )
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
        self._progress = None
        self._task = None

    def on_train_start(self, start: TrainStart) -> None:
        if self._progress is None:
            return
        self._task = self._progress.add_task(
            "train", total=start.batches_per_epoch, epoch=f"{start.first_epoch + 1}/{start.epochs}",
            stats="",
        )
        self._epochs = start.epochs

    def on_batch_end(self, progress: BatchProgress) -> None:
        if self._progress is None or self._task is None:
            return
        self._progress.update(
            self._task,
            completed=progress.batch + 1,
            epoch=f"{progress.epoch + 1}/{self._epochs}",
            stats=_fmt_progress(progress, self.score_name),
        )

    def on_epoch_end(self, record: EpochRecord, history: History) -> None:
        if self._progress is None:
            return
        val = "" if record.val_score is None else f"  val {self.score_name} {record.val_score:.4f}"
        rate = "" if record.spike_rate is None else f"  spikes/neuron {record.spike_rate:.2f}"
        best = "  *" if history.best_epoch == record.epoch else ""
        self._progress.console.print(
            f"epoch {record.epoch + 1:>3}/{self._epochs}  loss {record.train_loss:.4f}  "
            f"train {self.score_name} {record.train_score:.4f}{val}{rate}  "
            f"guard {record.guard_hits}  {record.time_s:.1f} s{best}",
            highlight=False,
        )
        if self._task is not None:
            self._progress.reset(self._task, total=self._progress.tasks[0].total)
