"""DVS128 Gesture (your ``DvsGesture`` folder): 2048 inputs (32 x 32 pixels x 2 polarities),
11 classes.

Official split (``trials_to_train.txt``: users 1-23, ``trials_to_test.txt``: users 24-29) and
NeuroBench's preprocessing (:mod:`eventbench.data.dvs_gesture`: denoise 10 ms, downsample to
32 x 32, 150 frames per gesture). One frame is one simulation step of ``dt_ms`` (nominal, 10 ms:
the real frame length is the gesture's duration / 150), so ``duration_ms / dt_ms`` is the number
of frames. Validation: whole held-out training users, about ``val_fraction`` of the gestures
(``data.val_split = "speaker"`` holds out users here), as for SHD's speakers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eventbench.data import DataMissingError, Splits
from eventbench.data.dvs_gesture import DVS_GESTURE_URL, dvs_gesture_dir, load_dvs_gesture
from eventbench.tasks.base import Availability, Protocol, TaskData, TaskSpec, event_task_data
from eventbench.tasks.config import BaselineConfig, NetworkConfig, Recipe, TrainSettings
from eventbench.tasks.heidelberg import HeidelbergData, heidelberg_validation

__all__ = ["TASK", "DvsGestureData"]


@dataclass(frozen=True)
class DvsGestureData(HeidelbergData):
    """DVS Gesture settings (besides the validation settings of
    :class:`~eventbench.tasks.heidelberg.HeidelbergData`).

    Attributes:
        denoise_ms: denoise window (ms; NeuroBench: 10).
        downsample: spatial factor (NeuroBench: 4, 128 -> 32 pixels).
        max_files: read only the first recordings of each trial list (``None``: all).
    """

    denoise_ms: float = 10.0
    downsample: int = 4
    max_files: int | None = None


def _load(recipe: Recipe, data_dir: Path | None) -> TaskData:
    cfg = recipe.data
    if not isinstance(cfg, DvsGestureData):
        raise TypeError(f"dvs-gesture needs DvsGestureData settings, got {type(cfg).__name__}")
    if cfg.downsample not in (1, 2, 4, 8, 16):
        raise ValueError(f"data.downsample must divide 128 (1, 2, 4, 8, 16), got {cfg.downsample}")
    if cfg.denoise_ms <= 0:
        raise ValueError(f"data.denoise_ms must be positive, got {cfg.denoise_ms}")
    splits = load_dvs_gesture(
        data_dir, n_bins=cfg.n_steps, frame_s=cfg.dt_ms * 1e-3,
        filter_us=round(cfg.denoise_ms * 1e3), factor=cfg.downsample, max_files=cfg.max_files,
    )
    train, val = heidelberg_validation(splits.train, cfg)
    return event_task_data(Splits(train=train, val=val, test=splits.test), cfg)


def _available(data_dir: Path | None) -> Availability:
    try:
        found = dvs_gesture_dir(data_dir)
    except DataMissingError:
        return Availability(False, f"needs DvsGesture/ (trials_to_train.txt, *.aedat); get it "
                                   f"from {DVS_GESTURE_URL}")
    return Availability(True, f"found {found}")


RECIPE = Recipe(
    data=DvsGestureData(dt_ms=10.0, duration_ms=1500.0),
    network=NetworkConfig(
        hidden=(256,),
        recurrent=True,
        readout="exp",
        tau_mem_ms=40.0,
        tau_syn_ms=10.0,
        out_tau_mem_ms=40.0,
        out_tau_syn_ms=10.0,
        init_ff_mean=0.0,
        init_ff_std=0.05,
        init_rec_mean=0.0,
        init_rec_std=0.02,
        init_out_mean=0.0,
        init_out_std=0.03,
    ),
    train=TrainSettings(loss="ce", epochs=30, batch_size=32, lr=1e-3),
    baseline=BaselineConfig(kind="gru", hidden=(128,), epochs=30, lr=1e-3),
)

TASK = TaskSpec(
    name="dvs-gesture",
    summary="DVS128 Gesture, 32x32x2 event frames, 11 classes (your AEDAT files)",
    objective="classification",
    metrics=("accuracy",),
    recipe=RECIPE,
    recipe_source="no published EventProp recipe; NeuroBench DVS Gesture preprocessing "
    "(tonic Denoise 10 ms, Downsample 0.25, ToFrame 150 bins)",
    load=_load,
    availability=_available,
    protocols=(
        Protocol(
            "official",
            "DVS128 Gesture official split (trials_to_train/test.txt, users 1-23 / 24-29) with "
            "NeuroBench's preprocessing (denoise 10 ms, 32x32, 150 frames)",
            "11 classes incl. 'other gestures'; validation from held-out training users",
        ),
    ),
)
