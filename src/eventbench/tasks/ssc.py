"""Spiking Speech Commands (your ``ssc_{train,valid,test}.h5``): 700 inputs, 35 classes.

Same protocol as SHD (``eventprop-spec.md`` §4.4) with the data set's own validation file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from eventbench.data import SSC
from eventbench.tasks.base import Availability, Protocol, TaskData, TaskSpec, find_first
from eventbench.tasks.config import Recipe
from eventbench.tasks.heidelberg import heidelberg_recipe, heidelberg_task_data

__all__ = ["TASK"]

URL = SSC.url  # one source of truth with the missing-file error of the loader
_DIRS = ("", "SSC/", "ssc/")


def _load(recipe: Recipe, data_dir: Path | None) -> TaskData:
    return heidelberg_task_data(SSC, recipe, data_dir, "valid")


def _available(data_dir: Path | None) -> Availability:
    missing = [
        s for s in ("train", "valid", "test")
        if find_first(data_dir, [f"{d}ssc_{s}.h5" for d in _DIRS]) is None
    ]
    if missing:
        files = ", ".join(f"ssc_{s}.h5" for s in missing)
        return Availability(False, f"needs {files}; get them from {URL}")
    return Availability(True, "found ssc_{train,valid,test}.h5")


_BASE = heidelberg_recipe()
RECIPE = dataclasses.replace(_BASE, train=dataclasses.replace(_BASE.train, epochs=50))

TASK = TaskSpec(
    name="ssc",
    summary="Spiking Speech Commands, 700 channels, 35 classes (your HDF5 files)",
    objective="classification",
    metrics=("accuracy",),
    recipe=RECIPE,
    recipe_source="[NTK] loss-shaping paper, SSC protocol (eventprop-spec.md §4.4)",
    load=_load,
    availability=_available,
    protocols=(
        Protocol(
            "official",
            "SSC v2 official train/valid/test split",
            "zenkelab ssc_train/valid/test.h5",
        ),
    ),
)
