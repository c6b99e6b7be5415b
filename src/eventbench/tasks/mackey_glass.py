"""NeuroBench Mackey-Glass one-step prediction (regression, ``tau = 17`` by default).

The series is your canonical ``mg_<tau>.npy`` or, when absent, regenerated (origin
``regenerated``; results then are not comparable with published ones). NeuroBench's split:
750 training steps, 750 test steps. Each trial is a window of ``duration_ms / dt_ms`` series
points (one point per step, fed as an analog input current), the target is the next value at
every step (teacher forcing, not NeuroBench's autoregressive test); windows start every
``stride`` points. Metrics: sMAPE and MSE.

Input encoding: the value of each step is a spike on one of ``levels`` channels (a one-hot
"level" code of the value on a uniform grid over the training range), so that the input is a
spike train like every other task's and synaptic operations are accumulates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from eventbench.data import mackey_glass
from eventbench.tasks.base import Availability, TaskData, TaskSpec, find_first, window_split
from eventbench.tasks.config import BaselineConfig, DataConfig, NetworkConfig, Recipe, TrainSettings
from eventbench.train.data import TensorSplit

__all__ = ["TASK", "MackeyGlassData"]


@dataclass(frozen=True)
class MackeyGlassData(DataConfig):
    """Mackey-Glass settings.

    Attributes:
        tau: delay of the series (17..30).
        repeat: NeuroBench repeat (start offset ``int(37.5 k)``).
        stride: points between window starts (training); test windows do not overlap.
        source: ``auto`` (file, else regenerate), ``file`` or ``generate``.
        levels: input channels of the level code.
    """

    tau: int = 17
    repeat: int = 0
    stride: int = 10
    source: str = "auto"
    levels: int = 16


def _load(recipe: Recipe, data_dir: Path | None) -> TaskData:
    cfg = recipe.data
    assert isinstance(cfg, MackeyGlassData)
    if cfg.source not in ("auto", "file", "generate"):
        raise ValueError(f"data.source must be 'auto', 'file' or 'generate', got {cfg.source!r}")
    splits = mackey_glass(cfg.tau, data_dir, source=cfg.source, repeat=cfg.repeat)  # type: ignore[arg-type]
    if cfg.levels < 2:
        raise ValueError(f"data.levels must be >= 2, got {cfg.levels}")
    n = cfg.n_steps
    lo = float(splits.train.inputs.min())
    hi = float(splits.train.inputs.max())
    train = level_code(window_split(splits.train, n, cfg.stride, cfg.max_train), lo, hi, cfg.levels)
    test = level_code(window_split(splits.test, n, n, cfg.max_eval), lo, hi, cfg.levels)
    return TaskData(
        train=train,
        val=None,
        test=test,
        n_inputs=cfg.levels * splits.train.n_channels,
        n_outputs=1,
        n_steps=n,
        dt_s=cfg.dt_ms * 1e-3,
        objective="regression",
        origin=splits.train.origin,
        source=splits.train.source or splits.train.name,
    )


def level_code(split: TensorSplit, lo: float, hi: float, levels: int) -> TensorSplit:
    """Replace analog inputs ``[T, S, N]`` by a one-hot level code ``[T, S, N * levels]``: value
    ``v`` fires channel ``clip(floor((v - lo) / (hi - lo) * levels), 0, levels - 1)``."""
    x = split.x
    idx = ((x - lo) / max(hi - lo, 1e-12) * levels).floor().clamp(0, levels - 1).long()
    code = torch.zeros(*x.shape, levels, dtype=x.dtype)
    code.scatter_(-1, idx.unsqueeze(-1), 1.0)
    return TensorSplit(split.name, code.flatten(2), split.y, split.data_fingerprint)


def _available(data_dir: Path | None) -> Availability:
    found = find_first(data_dir, ["mg_17.npy", "mackey_glass/mg_17.npy"])
    if found is None:
        return Availability(True, "regenerated here (canonical mg_17.npy not found)")
    return Availability(True, f"found {found}")


RECIPE = Recipe(
    data=MackeyGlassData(dt_ms=1.0, duration_ms=50.0),
    network=NetworkConfig(
        hidden=(100,),
        recurrent=True,
        readout="trace",
        output_bias=True,
        init_ff_mean=1.0,
        init_ff_std=1.0,
        init_out_std=0.1,
    ),
    train=TrainSettings(loss="mse", epochs=30, batch_size=16, lr=2e-3),
    baseline=BaselineConfig(kind="gru", hidden=(32,), epochs=30, lr=5e-3, batch_size=16),
)

TASK = TaskSpec(
    name="mackey-glass",
    summary="NeuroBench Mackey-Glass (tau 17) one-step prediction, regression",
    objective="regression",
    metrics=("smape", "mse"),
    recipe=RECIPE,
    recipe_source="no published EventProp recipe; NeuroBench split",
    load=_load,
    availability=_available,
)
