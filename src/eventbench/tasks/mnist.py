"""Latency-coded MNIST from the user's IDX files (784 inputs, 10 classes).

Encoding and split of the loss-shaping paper's code (``T = 20 ms``, ``dt = 1 ms``, 55 000 / 5 000
/ 10 000). Recipe: mlGeNN ``latency_mnist.py`` (128 hidden, average-voltage readout, Adam 1e-2,
10 epochs; 96.4 % test reported there), ``eventprop-spec.md`` §4.2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eventbench.data import MNIST_URL, load_mnist_idx
from eventbench.tasks.base import (
    Availability,
    Protocol,
    TaskData,
    TaskSpec,
    event_task_data,
    find_first,
)
from eventbench.tasks.config import BaselineConfig, DataConfig, NetworkConfig, Recipe, TrainSettings

__all__ = ["TASK", "MnistData"]

_NAMES = [
    f"{sub}{stem}{gz}"
    for sub in ("", "mnist/", "MNIST/raw/")
    for stem in ("train-images-idx3-ubyte", "train-images.idx3-ubyte")
    for gz in ("", ".gz")
]


@dataclass(frozen=True)
class MnistData(DataConfig):
    """MNIST split settings: ``n_val`` training images go to validation (shuffled with
    ``split_seed``)."""

    n_val: int = 5000
    split_seed: int = 123


def _load(recipe: Recipe, data_dir: Path | None) -> TaskData:
    cfg = recipe.data
    assert isinstance(cfg, MnistData)
    splits = load_mnist_idx(
        data_dir,
        duration_s=cfg.duration_ms * 1e-3,
        dt_s=cfg.dt_ms * 1e-3,
        n_val=cfg.n_val,
        seed=cfg.split_seed,
    )
    return event_task_data(splits, cfg)


def _available(data_dir: Path | None) -> Availability:
    found = find_first(data_dir, _NAMES)
    if found is None:
        return Availability(False, f"needs the MNIST IDX files; get them from {MNIST_URL}")
    return Availability(True, f"found {found}")


RECIPE = Recipe(
    data=MnistData(dt_ms=1.0, duration_ms=20.0),
    network=NetworkConfig(
        hidden=(128,),
        readout="avg",
        init_ff_mean=0.078,
        init_ff_std=0.045,
        init_out_mean=0.2,
        init_out_std=0.37,
    ),
    train=TrainSettings(loss="ce", epochs=10, batch_size=32, lr=1e-2),
    baseline=BaselineConfig(kind="mlp", hidden=(128,), epochs=10, lr=1e-3),
)

TASK = TaskSpec(
    name="mnist",
    summary="latency-coded MNIST, 784 inputs, 10 classes (your IDX files)",
    objective="classification",
    metrics=("accuracy",),
    recipe=RECIPE,
    recipe_source="mlGeNN examples/event_prop/latency_mnist.py (eventprop-spec.md §4.2)",
    load=_load,
    availability=_available,
    protocols=(
        Protocol(
            "official",
            "MNIST official 60000/10000 split (55000 train + 5000 validation)",
            "LeCun's train/test files; the last 5000 training images validate",
        ),
    ),
)
