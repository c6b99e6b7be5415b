"""scikit-learn's 8x8 digits, latency-coded with the MNIST rule (offline, real handwriting).

64 inputs, 10 classes, a seeded stratified split of the 1797 images (train 1260, validation 178,
test 359 with the defaults), ``T = 20 ms``, ``dt = 1 ms`` as in the loss-shaping paper's MNIST.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from eventbench.data import digits_splits
from eventbench.tasks.base import Availability, Protocol, TaskData, TaskSpec, event_task_data
from eventbench.tasks.config import BaselineConfig, DataConfig, NetworkConfig, Recipe, TrainSettings

__all__ = ["TASK", "DigitsData"]


@dataclass(frozen=True)
class DigitsData(DataConfig):
    """Digits split settings.

    Attributes:
        split_seed: seed of the stratified split.
        val_fraction, test_fraction: split fractions.
    """

    split_seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.2


def _load(recipe: Recipe, data_dir: Path | None) -> TaskData:
    cfg = recipe.data
    assert isinstance(cfg, DigitsData)
    splits = digits_splits(
        seed=cfg.split_seed,
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction,
        duration_s=cfg.duration_ms * 1e-3,
        dt_s=cfg.dt_ms * 1e-3,
    )
    return event_task_data(splits, cfg)


def _available(data_dir: Path | None) -> Availability:
    if importlib.util.find_spec("sklearn") is None:
        return Availability(False, "needs scikit-learn (pip install scikit-learn)")
    return Availability(True, "bundled with scikit-learn")


RECIPE = Recipe(
    data=DigitsData(dt_ms=1.0, duration_ms=20.0),
    network=NetworkConfig(hidden=(128,), readout="avg", init_ff_mean=0.3, init_ff_std=1.0),
    train=TrainSettings(loss="ce", epochs=30, batch_size=32, lr=1e-2),
    baseline=BaselineConfig(kind="mlp", hidden=(128,), epochs=30, lr=1e-3),
)

TASK = TaskSpec(
    name="digits",
    summary="scikit-learn 8x8 digits, 64 latency-coded inputs, 10 classes (offline)",
    objective="classification",
    metrics=("accuracy",),
    recipe=RECIPE,
    recipe_source="latency MNIST recipe of [GEP]/mlGeNN (T = 20 ms, dt = 1 ms, 128 hidden, "
    "Adam 1e-2), sized for the 8x8 images",
    load=_load,
    availability=_available,
    protocols=(
        Protocol(
            "stratified",
            "EventBench digits v1: scikit-learn 8x8 digits, seeded stratified 70/10/20 split",
            "no official protocol exists; the split is seeded and stratified by class",
        ),
    ),
)
