"""Shared recipe and loader of the Heidelberg spiking data sets (SHD, SSC).

The loss-shaping paper's final protocol (``eventprop-spec.md`` §4.3): 700 inputs, one recurrent
LIF layer of 256, leaky-integrator outputs with the exponentially weighted voltage readout, trial
1 s at ``dt = 1 ms``, batch 32, Adam 1e-3 with ease-in and plateau halving, rate regulariser
``nu = 14``, ``lambda = 5e-10`` (voltage loss weighted ``1 ms / tau_m`` as in the reference
codes, so the published lambda applies), silent-neuron lift 0.002, 100 epochs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from eventbench.data import (
    EventDataset,
    HeidelbergSpec,
    HeidelbergWindow,
    Splits,
    read_heidelberg_window,
    validation_indices,
    validation_split,
)
from eventbench.tasks.base import TaskData, event_task_data
from eventbench.tasks.config import BaselineConfig, DataConfig, NetworkConfig, Recipe, TrainSettings
from eventbench.train.data import BinnedSplit

__all__ = [
    "HeidelbergData",
    "heidelberg_recipe",
    "heidelberg_task_data",
    "heidelberg_validation",
    "train_test_task_data",
]

#: ``(data_dir, split, t_stop_s) -> EventDataset`` of a data set with train and test files.
SplitLoader = Callable[..., EventDataset]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeidelbergData(DataConfig):
    """Heidelberg settings.

    The validation split (used only when the data set has no validation file, e.g. SHD; SSC
    has ``ssc_valid.h5``) scales with the data: ``val_fraction`` of the training samples, or
    exactly ``n_val`` when that is set.

    Attributes:
        val_split: ``"speaker"``: hold out whole speakers (``extra/speaker``) whose samples make
            up about that share, so validation measures generalisation to new voices as the
            test set does (the loss-shaping paper tuned with leave-one-speaker-out);
            ``"random"``: a seeded random sample.
        val_fraction: validation share of the training samples (default 0.1: SHD's 8156 give
            about 816; with speakers, the held-out speakers' samples come closest to it).
        n_val: explicit validation size instead of the fraction (``None``: use the fraction);
            ``n_val = 512`` with ``val_split = "random"`` is the reference codes' 7644 + 512.
        val_speaker: hold out exactly this speaker (leave-one-speaker-out; ``None``: chosen by
            ``split_seed``); needs ``val_split = "speaker"``.
        split_seed: seed of the split.
    """

    val_split: Literal["speaker", "random"] = "speaker"
    val_fraction: float = 0.1
    n_val: int | None = None
    val_speaker: int | None = None
    split_seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if self.n_val is not None and self.n_val <= 0:
            raise ValueError(f"data.n_val must be positive (or none), got {self.n_val!r}")
        if self.val_speaker is not None and self.val_split != "speaker":
            raise ValueError("data.val_speaker needs data.val_split = \"speaker\"")


def heidelberg_validation(
    full: EventDataset, cfg: HeidelbergData
) -> tuple[EventDataset, EventDataset]:
    """Split ``full`` (a training file) into training and validation parts by ``cfg``.

    Raises:
        ValueError: no speaker ids or only one speaker with ``val_split = "speaker"``, or a
            size that leaves either part empty (the message names the setting to change).
    """
    train, val = validation_split(
        full,
        cfg.val_split,
        n_val=cfg.n_val,
        speaker=cfg.val_speaker,
        seed=cfg.split_seed,
        fraction=cfg.val_fraction,
    )
    _warn_small_validation(full.name, len(val), full.n_classes)
    return train, val


def _warn_small_validation(name: str, n_val: int, n_classes: int | None) -> None:
    if n_classes is not None and n_val < n_classes:
        log.warning(
            "%s: the validation split has %d samples, fewer than the %d classes: the best "
            "checkpoint will be chosen on a noisy score (raise data.val_fraction or data.n_val)",
            name, n_val, n_classes,
        )


def heidelberg_task_data(
    spec: HeidelbergSpec, recipe: Recipe, data_dir: Path | None, val_file: str | None
) -> TaskData:
    """Task data of SHD or SSC with memory bounded by the raw events: each file is read in its
    own dtypes (4 bytes per event, :func:`~eventbench.data.read_heidelberg_window`), cropped to
    the trial, and binned a block of samples at a time (8 bytes per event); the training file is
    released before the test file is read. ``val_file``: the validation file's split name
    (SSC's ``"valid"``), or ``None`` to hold validation out of the training file by the
    recipe's ``data.val_*`` settings (:func:`heidelberg_validation`'s split, same samples).

    Gives exactly the splits (events, order, names, fingerprints) of loading the files with
    :func:`~eventbench.data.load_heidelberg` and binning them with
    :func:`~eventbench.tasks.base.event_task_data`, at a fraction of the peak memory."""
    cfg = recipe.data
    if not isinstance(cfg, HeidelbergData):
        raise TypeError(f"{spec.name} needs HeidelbergData settings, got {type(cfg).__name__}")
    dt_s, n_steps = cfg.dt_ms * 1e-3, cfg.n_steps

    def part(f: HeidelbergWindow, idx: np.ndarray, name: str, limit: int | None) -> BinnedSplit:
        if limit is not None:
            idx = idx[:limit]
        return BinnedSplit(
            name=name, binned=f.binned(idx, dt_s, n_steps), mode=cfg.bin_mode,
            data_fingerprint=f.fingerprint(idx),
        )  # fmt: skip

    f = read_heidelberg_window(spec, data_dir, "train", dt_s, n_steps)
    source = f.source
    everything = np.arange(len(f))
    if val_file is None:
        tr, va, tag = validation_indices(
            len(f), f.raw.speakers, f.name, cfg.val_split, cfg.n_val, cfg.val_speaker,
            cfg.split_seed, cfg.val_fraction,
        )  # fmt: skip
        log.info("%s: validation split %s: %d train / %d validation samples",
                 f.name, tag, len(tr), len(va))  # fmt: skip
        _warn_small_validation(f.name, len(va), f.n_classes)
        train = part(f, tr, f"{f.name}-minus-{tag}", cfg.max_train)
        val = part(f, va, f"{f.name}-val-{tag}", cfg.max_eval)
        del f
    else:
        train = part(f, everything, f.name, cfg.max_train)
        del f
        g = read_heidelberg_window(spec, data_dir, val_file, dt_s, n_steps)
        val = part(g, np.arange(len(g)), g.name, cfg.max_eval)
        del g
    h = read_heidelberg_window(spec, data_dir, "test", dt_s, n_steps)
    test = part(h, np.arange(len(h)), h.name, cfg.max_eval)
    return TaskData(
        train=train, val=val, test=test, n_inputs=spec.n_channels, n_outputs=spec.n_classes,
        n_steps=n_steps, dt_s=dt_s, objective="classification", origin="user-file",
        source=source,
    )  # fmt: skip


def heidelberg_recipe() -> Recipe:
    """The [NTK] base configuration (J21_scan_322)."""
    return Recipe(
        data=HeidelbergData(dt_ms=1.0, duration_ms=1000.0, bin_mode="binary"),
        network=NetworkConfig(
            hidden=(256,),
            recurrent=True,
            readout="exp",
            init_ff_mean=0.03,
            init_ff_std=0.01,
            init_rec_mean=0.0,
            init_rec_std=0.02,
            init_out_mean=0.0,
            init_out_std=0.03,
        ),
        train=TrainSettings(
            loss="ce",
            ce_weight=1.0 / 20.0,
            epochs=100,
            batch_size=32,
            lr=1e-3,
            ease_in=True,
            plateau_halving=True,
            reg_nu=14.0,
            reg_lambda_upper=5e-10,
            reg_lambda_lower=5e-10,
            lift_silent=0.002,
        ),
        baseline=BaselineConfig(kind="gru", hidden=(256,), epochs=30, lr=1e-3),
    )


def train_test_task_data(load: SplitLoader, recipe: Recipe, data_dir: Path | None, task: str) -> TaskData:
    """Task data of a Heidelberg-layout set with train and test files (SHD, spoken digits):
    both splits cropped at the trial length, validation held out of the training file by
    :func:`heidelberg_validation`."""
    cfg = recipe.data
    if not isinstance(cfg, HeidelbergData):
        raise TypeError(f"{task} needs HeidelbergData settings, got {type(cfg).__name__}")
    t_stop = cfg.duration_ms * 1e-3
    train, val = heidelberg_validation(load(data_dir, "train", t_stop_s=t_stop), cfg)
    test = load(data_dir, "test", t_stop_s=t_stop)
    return event_task_data(Splits(train=train, val=val, test=test), cfg, crop=True)
