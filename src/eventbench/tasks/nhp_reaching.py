"""NeuroBench primate reaching (O'Doherty et al.): cursor velocity from motor-cortex spikes.

Your ``indy_20160622_01.mat`` (or another session via ``data.session``), 96/192 channels of
spike counts in 28 ms windows every 4 ms (the data module's NeuroBench preprocessing). Trials
are windows of ``duration_ms / dt_ms`` steps of the recording (``dt = 4 ms``); the target is the
2-D velocity at every step. Metric: R^2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eventbench.data.nhp import NHP_FILES, NHP_URL, load_nhp
from eventbench.tasks.base import Availability, TaskData, TaskSpec, find_first, window_split
from eventbench.tasks.config import BaselineConfig, DataConfig, NetworkConfig, Recipe, TrainSettings

__all__ = ["TASK", "ReachingData"]


@dataclass(frozen=True)
class ReachingData(DataConfig):
    """Reaching settings: the session name and the stride between training windows."""

    session: str = NHP_FILES[0]
    stride: int = 25


def _load(recipe: Recipe, data_dir: Path | None) -> TaskData:
    cfg = recipe.data
    assert isinstance(cfg, ReachingData)
    splits = load_nhp(cfg.session, data_dir)
    n = cfg.n_steps
    train = window_split(splits.train, n, cfg.stride, cfg.max_train)
    val = window_split(splits.val, n, n, cfg.max_eval) if splits.val is not None else None
    test = window_split(splits.test, n, n, cfg.max_eval)
    return TaskData(
        train=train,
        val=val,
        test=test,
        n_inputs=splits.train.n_channels,
        n_outputs=2,
        n_steps=n,
        dt_s=cfg.dt_ms * 1e-3,
        objective="regression",
        origin=splits.train.origin,
        source=splits.train.source or splits.train.name,
    )


def _available(data_dir: Path | None) -> Availability:
    name = f"{NHP_FILES[0]}.mat"
    found = find_first(data_dir, [name, f"primate_reaching/{name}", f"nhp/{name}"])
    if found is None:
        return Availability(False, f"needs {name}; get it from {NHP_URL}")
    return Availability(True, f"found {found}")


RECIPE = Recipe(
    data=ReachingData(dt_ms=4.0, duration_ms=200.0),
    network=NetworkConfig(
        hidden=(128,),
        recurrent=True,
        readout="trace",
        output_bias=True,
        init_ff_mean=0.0,
        init_ff_std=0.3,
        init_out_std=0.1,
    ),
    train=TrainSettings(loss="mse", epochs=30, batch_size=32, lr=1e-3),
    baseline=BaselineConfig(kind="gru", hidden=(64,), epochs=30, lr=1e-3),
)

TASK = TaskSpec(
    name="nhp-reaching",
    summary="NeuroBench primate reaching, velocity regression (your .mat file)",
    objective="regression",
    metrics=("r2",),
    recipe=RECIPE,
    recipe_source="no published EventProp recipe; NeuroBench preprocessing and split",
    load=_load,
    availability=_available,
)
