"""What a task is: its data loader, default recipe, metrics and baseline, and the loaded data.

Each task lives in its own module (``eventbench.tasks.yinyang`` ...) and defines one
:class:`TaskSpec`; :mod:`eventbench.tasks.registry` collects them in one explicit dictionary.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from eventbench.data import DenseDataset, EventDataset, Splits, crop_to_grid, resolve_data_dir
from eventbench.tasks.config import DataConfig, Recipe
from eventbench.train.data import BinnedSplit, Split, TensorSplit
from eventbench.train.learners import Objective

__all__ = [
    "Availability",
    "Protocol",
    "TaskData",
    "TaskSpec",
    "UnknownTaskError",
    "event_task_data",
    "find_first",
    "window_split",
]


class UnknownTaskError(KeyError):
    """A task name that is not in the registry."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Availability:
    """Whether a task's data can be used here, and a short note (where it was found / how to
    get it)."""

    available: bool
    note: str


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol of a task (the official one, or a named variant).

    Attributes:
        name: what ``--protocol`` / ``data.protocol`` selects (``"autoregressive"``).
        version: the protocol and its version as results record it
            (``"NeuroBench 2.3.0 Mackey-Glass, autoregressive"``).
        description: one line for ``eventbench tasks`` and the report.
    """

    name: str
    version: str
    description: str


@dataclass(frozen=True, eq=False)
class TaskData:
    """A task's loaded splits and their shape on the simulation grid.

    Attributes:
        train, val, test: the splits (``val`` may be ``None``).
        n_inputs: input channels.
        n_outputs: classes or regression targets.
        n_steps: steps per trial; dt_s: step in seconds.
        objective: ``"classification"`` or ``"regression"``.
        origin: how the data came to be (``generated``, ``package``, ``user-file``, ...).
        source: file or generator, for provenance.
        protocol: the evaluation protocol followed (:attr:`Protocol.version`; ``""``: none named).
        protocol_metrics: correctness metrics the protocol computes itself from the trained
            model (``module -> {name: value}``, e.g. an autoregressive forecast's sMAPE); they
            replace the harness' values of the same names, which are measured per test split
            sample. ``None``: the harness' values stand.
    """

    train: Split
    val: Split | None
    test: Split
    n_inputs: int
    n_outputs: int
    n_steps: int
    dt_s: float
    objective: Objective
    origin: str
    source: str
    protocol: str = ""
    protocol_metrics: Callable[[nn.Module], dict[str, float]] | None = None


@dataclass(frozen=True)
class TaskSpec:
    """One benchmark task.

    Attributes:
        name: registry name (``eventbench run NAME``).
        summary: one line for ``eventbench tasks``.
        objective: ``"classification"`` or ``"regression"``.
        metrics: correctness metrics of the benchmark harness (``accuracy``, ``smape``, ...).
        recipe: default settings (the published hyperparameters where they exist).
        recipe_source: where the defaults come from.
        load: ``(recipe, data_dir) -> TaskData``.
        availability: ``data_dir -> Availability`` (cheap: checks files, loads nothing).
        execution_rate_hz: model execution rate declared for the benchmark (``None``: per trial).
        protocols: the evaluation protocols the task offers; the first is the default.
    """

    name: str
    summary: str
    objective: Objective
    metrics: tuple[str, ...]
    recipe: Recipe
    recipe_source: str
    load: Callable[[Recipe, Path | None], TaskData]
    availability: Callable[[Path | None], Availability]
    execution_rate_hz: float | None = None
    protocols: tuple[Protocol, ...] = ()

    def protocol(self, name: str = "") -> Protocol | None:
        """The protocol called ``name`` (``""``: the default, ``None`` if the task names none);
        an unknown name is an error listing the task's protocols."""
        if not self.protocols:
            if name:
                raise ValueError(
                    f"--protocol / data.protocol {name!r}: task {self.name!r} offers no "
                    "protocol variants"
                )
            return None
        if not name:
            return self.protocols[0]
        for p in self.protocols:
            if p.name == name:
                return p
        names = ", ".join(p.name for p in self.protocols)
        raise ValueError(
            f"--protocol / data.protocol {name!r}: task {self.name!r} offers {names}"
        )


def find_first(data_dir: str | os.PathLike[str] | None, names: Sequence[str]) -> Path | None:
    """The first existing ``<data dir>/<name>`` (``data_dir`` resolved as by the data module)."""
    root = resolve_data_dir(data_dir)
    for n in names:
        p = root / n
        if p.exists():
            return p
    return None


def _limit(ds: EventDataset, n: int | None) -> EventDataset:
    if n is None or n >= len(ds):
        return ds
    return ds.subset(np.arange(n))


def event_task_data(
    splits: Splits[EventDataset], cfg: DataConfig, *, crop: bool = False
) -> TaskData:
    """Bin event splits onto the recipe's grid (``dt_ms``, ``n_steps``).

    ``crop=True`` drops events beyond the trial (recorded data); otherwise an event outside the
    trial is an error (generated data never has one).
    """
    dt_s = cfg.dt_ms * 1e-3
    n_steps = cfg.n_steps
    parts: dict[str, Split | None] = {"val": None}
    first = splits.train
    for name, ds in splits.items():
        ds = _limit(ds, cfg.max_train if name == "train" else cfg.max_eval)
        if crop:
            cropped = [crop_to_grid(s, dt_s, n_steps) for s in ds.samples]
            if any(c is not s for c, s in zip(cropped, ds.samples, strict=True)):
                ds = ds.with_samples(cropped)
        parts[name] = BinnedSplit(
            name=ds.name,
            binned=ds.binned(dt_s, n_steps),
            mode=cfg.bin_mode,
            data_fingerprint=ds.fingerprint(),
        )
    train, test = parts["train"], parts["test"]
    assert train is not None and test is not None
    if first.n_classes is None:
        raise ValueError(f"{first.name}: event tasks need class labels")
    return TaskData(
        train=train,
        val=parts["val"],
        test=test,
        n_inputs=first.n_channels,
        n_outputs=first.n_classes,
        n_steps=n_steps,
        dt_s=dt_s,
        objective="classification",
        origin=first.origin,
        source=first.source or first.name,
    )


def window_split(ds: DenseDataset, length: int, stride: int, max_windows: int | None) -> TensorSplit:
    """Cut a dense recording ``[T, N]`` / targets ``[T, K]`` into windows of ``length`` steps
    (every ``stride`` steps): ``x [length, S, N]``, ``y [length, S, K]`` (float32)."""
    total = len(ds)
    if length > total:
        raise ValueError(f"{ds.name}: window length {length} exceeds the {total} steps")
    starts = list(range(0, total - length + 1, stride))
    if max_windows is not None:
        starts = starts[:max_windows]
    idx = np.asarray(starts)[None, :] + np.arange(length)[:, None]  # [L, S]
    # fancy indexing copies, so read-only data-set arrays give writable tensors
    x = torch.from_numpy(np.asarray(ds.inputs, dtype=np.float32)[idx])
    y = torch.from_numpy(np.asarray(ds.targets, dtype=np.float32)[idx])
    return TensorSplit(name=ds.name, x=x, y=y, data_fingerprint=ds.fingerprint())
