"""Callbacks: the progress bar shows loss, accuracy, spike rate and guard hits."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console

from eventbench.train.callbacks import BatchProgress, LogCallback, RichProgress, TrainStart
from eventbench.train.loop import EpochRecord, History

REC = EpochRecord(epoch=1, lr=1e-3, train_loss=0.5, train_score=0.75, val_loss=0.6, val_score=0.7,
                  spike_rate=1.25, guard_hits=7, lifted=0, time_s=2.0, peak_memory_mb=100.0)


def test_rich_progress_draws_running_stats_and_epoch_lines() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=200)
    with RichProgress(console=console) as bar:
        bar.on_train_start(TrainStart(epochs=3, first_epoch=1, batches_per_epoch=4, samples=100))
        bar.on_batch_end(BatchProgress(epoch=1, batch=1, batches=4, lr=1e-3, loss=0.4321,
                                       score=0.875, spike_rate=1.5, guard_hits=3))
        bar.on_epoch_end(REC, History(epochs=(REC,), best_epoch=1, best_score=0.7))
    text = buf.getvalue()
    assert "loss 0.4321" in text and "acc 0.875" in text
    assert "spikes/neuron 1.50" in text and "guard 3" in text
    assert "epoch   2/3  loss 0.5000  train acc 0.7500  val acc 0.7000  spikes/neuron 1.25" in text
    assert "guard 7  2.0 s  *" in text  # best epoch marked


def test_log_callback_writes_one_line_per_epoch(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="eventbench.train.callbacks"):
        LogCallback().on_epoch_end(REC, History(epochs=(REC,)))
    assert caplog.messages == [
        "epoch 2: loss 0.5000, train 0.7500, val 0.7000, spikes/neuron 1.25, guard hits 7, 2.0 s"
    ]
