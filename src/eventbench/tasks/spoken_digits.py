"""Spoken digits (espeak-ng voices + the fast cochlea model): an SHD-class task built offline.

700 inputs, 20 classes (0-9 English, 10-19 German), speaker-disjoint train/test files in the SHD
layout under ``<data dir>/spoken-digits/`` (see :mod:`eventbench.data.spoken_digits`; build them
with ``eventbench data build-spoken-digits``). Recipe, crop (1 s) and validation split are the
SHD ones (:func:`~eventbench.tasks.heidelberg.heidelberg_recipe`,
:func:`~eventbench.tasks.heidelberg.heidelberg_validation`); the speaker ids of the files are
kept in the data sets' ``groups``, so a held-out-speaker validation split works as on SHD.
"""

from __future__ import annotations

from pathlib import Path

from eventbench.data.spoken_digits import BUILD_COMMAND, load_spoken_digits, spoken_digits_dir
from eventbench.tasks.base import Availability, Protocol, TaskData, TaskSpec
from eventbench.tasks.config import Recipe
from eventbench.tasks.heidelberg import heidelberg_recipe, train_test_task_data

__all__ = ["TASK"]


def _load(recipe: Recipe, data_dir: Path | None) -> TaskData:
    return train_test_task_data(load_spoken_digits, recipe, data_dir, "spoken-digits")


def _available(data_dir: Path | None) -> Availability:
    folder = spoken_digits_dir(data_dir)
    missing = [f"shd_{s}.h5" for s in ("train", "test") if not (folder / f"shd_{s}.h5").is_file()]
    if missing:
        return Availability(
            False,
            f"needs {' and '.join(missing)} in {folder}; build them offline (needs espeak-ng, "
            f"a few minutes) with: {BUILD_COMMAND} --data-dir {folder.parent}",
        )
    return Availability(True, f"found {folder}")


TASK = TaskSpec(
    name="spoken-digits",
    summary="Spoken digits by espeak-ng voices through a fast cochlea model, 700 channels, "
    "20 classes (SHD-class, built offline)",
    objective="classification",
    metrics=("accuracy",),
    recipe=heidelberg_recipe(),
    recipe_source="[NTK] loss-shaping paper, final SHD protocol (eventprop-spec.md §4.3)",
    load=_load,
    availability=_available,
    protocols=(
        Protocol(
            "speakers",
            "EventBench spoken-digits v1: 11 train / 3 test voices",
            "no official protocol exists; speaker-disjoint synthetic set",
        ),
    ),
)
