"""Spiking Heidelberg Digits (your ``shd_train.h5`` / ``shd_test.h5``): 700 inputs, 20 classes.

Validation: by default the training samples of whole held-out speakers, about 10 % of them
(``data.val_split = "speaker"``, ``data.val_fraction = 0.1``); ``--set data.val_split=random
--set data.n_val=512`` gives the reference code's random 7644 + 512. Recipe: see
:mod:`eventbench.tasks.heidelberg`.
"""

from __future__ import annotations

from pathlib import Path

from eventbench.data import SHD
from eventbench.tasks.base import Availability, Protocol, TaskData, TaskSpec, find_first
from eventbench.tasks.config import Recipe
from eventbench.tasks.heidelberg import heidelberg_recipe, heidelberg_task_data

__all__ = ["TASK"]

URL = SHD.url  # one source of truth with the missing-file error of the loader
_DIRS = ("", "SHD/", "shd/")


def _load(recipe: Recipe, data_dir: Path | None) -> TaskData:
    return heidelberg_task_data(SHD, recipe, data_dir, None)


def _available(data_dir: Path | None) -> Availability:
    names = [f"{d}shd_{s}.h5" for s in ("train", "test") for d in _DIRS]
    train = find_first(data_dir, [n for n in names if "train" in n])
    test = find_first(data_dir, [n for n in names if "test" in n])
    if train is None or test is None:
        return Availability(False, f"needs shd_train.h5 and shd_test.h5; get them from {URL}")
    return Availability(True, f"found {train.parent}")


TASK = TaskSpec(
    name="shd",
    summary="Spiking Heidelberg Digits, 700 channels, 20 classes (your HDF5 files)",
    objective="classification",
    metrics=("accuracy",),
    recipe=heidelberg_recipe(),
    recipe_source="[NTK] loss-shaping paper, final SHD protocol (eventprop-spec.md §4.3)",
    load=_load,
    availability=_available,
    protocols=(
        Protocol(
            "official",
            "SHD v2 official train/test split",
            "zenkelab shd_train.h5 / shd_test.h5; validation from held-out training speakers",
        ),
    ),
)
