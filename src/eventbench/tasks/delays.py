"""Delay-learning variants of the tasks (Mészáros, Knight & Nowotny 2025, ``eventprop-spec.md``
§4.5): the same data and loaders, a recipe with learnable per-connection synaptic delays.

Hyperparameters from the paper's code (mbalazs98/deventprop ``arguments.py``: ``shd_arguments``,
``ssc_arguments``, ``yy_arguments``), in this engine's units:

- SHD: one recurrent layer of 512, feed-forward delays ``U(0, 150)`` steps = ms at
  ``dt = 1 ms``, recurrent delays starting at 0, both learned; batch 256, 500 epochs, weights'
  Adam easing in from 1e-5 to 1e-3 then ``x0.9975`` per epoch, delays' Adam 0.1 steps, rate
  regulariser 5e-11, maximum delay 1000 steps (``eventprop-spec.md`` §4.5).
- SSC: two feed-forward layers of 1024, feed-forward delays ``U(0, 50)`` ms, regulariser 5e-11 /
  5e-12 (one value here: 5e-11; per-layer values are not a recipe setting), otherwise as SHD.
- Yin-Yang: 100 hidden neurons, feed-forward delays starting at 0 and learned with 0.1 steps,
  batch 32, 300 epochs, ``dt = 0.01 ms``, 30 ms trials, a spiking (LIF) readout with the
  first-spike loss.

Left out here: the SHD/SSC recipes' shift and blend augmentations.
"""

from __future__ import annotations

import dataclasses

from eventbench.tasks import shd, ssc, yinyang
from eventbench.tasks.base import TaskSpec
from eventbench.tasks.config import Recipe

__all__ = ["SHD_DELAYS", "SSC_DELAYS", "YINYANG_DELAYS", "with_delays"]

_SOURCE = "Mészáros, Knight & Nowotny 2025 (mbalazs98/deventprop arguments.py; eventprop-spec.md §4.5)"


def with_delays(recipe: Recipe, ff_init_ms: float, max_ms: float, recurrent_delays: bool) -> Recipe:
    """``recipe`` with learnable feed-forward delays ``U(0, ff_init_ms)`` and, when
    ``recurrent_delays``, learnable recurrent delays starting at 0, both up to ``max_ms``."""
    net = dataclasses.replace(
        recipe.network,
        delay_ff_max_ms=max_ms,
        delay_ff_init_ms=(0.0, ff_init_ms),
        delay_rec_max_ms=max_ms if recurrent_delays and recipe.network.recurrent else None,
        delay_rec_init_ms=(0.0, 0.0),
    )
    return dataclasses.replace(recipe, network=net, train=dataclasses.replace(recipe.train, delay_lr_steps=0.1))


def _speech_recipe(base: Recipe, hidden: tuple[int, ...], recurrent: bool, ff_init_ms: float) -> Recipe:
    """The Heidelberg recipe ``base`` with the delay paper's network, delays and schedule: batch
    256, 500 epochs, weights easing in from 1e-5 to 1e-3 then x0.9975 per epoch, regulariser
    5e-11, maximum delay 1000 ms."""
    r = with_delays(base, ff_init_ms=ff_init_ms, max_ms=1000.0, recurrent_delays=recurrent)
    return dataclasses.replace(
        r,
        network=dataclasses.replace(r.network, hidden=hidden, recurrent=recurrent),
        train=dataclasses.replace(
            r.train, batch_size=256, epochs=500, ease_in_start=1e-2, lr_decay=0.9975,
            plateau_halving=False, reg_lambda_upper=5e-11, reg_lambda_lower=5e-11,
        ),
    )


def _shd_recipe() -> Recipe:
    return _speech_recipe(shd.TASK.recipe, (512,), recurrent=True, ff_init_ms=150.0)


def _ssc_recipe() -> Recipe:
    return _speech_recipe(ssc.TASK.recipe, (1024, 1024), recurrent=False, ff_init_ms=50.0)


def _yinyang_recipe() -> Recipe:
    base = yinyang.TASK.recipe
    r = with_delays(base, ff_init_ms=0.0, max_ms=10.0, recurrent_delays=False)
    return dataclasses.replace(
        r,
        data=dataclasses.replace(r.data, dt_ms=0.01, duration_ms=30.0),
        network=dataclasses.replace(r.network, hidden=(100,), readout="first-spike"),
        train=dataclasses.replace(r.train, loss="first-spike", batch_size=32, epochs=300),
    )


SHD_DELAYS = dataclasses.replace(
    shd.TASK, name="shd-delays", summary="SHD with learnable synaptic delays (your HDF5 files)",
    recipe=_shd_recipe(), recipe_source=_SOURCE,
)
SSC_DELAYS = dataclasses.replace(
    ssc.TASK, name="ssc-delays", summary="SSC with learnable synaptic delays (your HDF5 files)",
    recipe=_ssc_recipe(), recipe_source=_SOURCE,
)
YINYANG_DELAYS = dataclasses.replace(
    yinyang.TASK, name="yinyang-delays",
    summary="Yin-Yang with learnable synaptic delays, first-spike readout (generated)",
    recipe=_yinyang_recipe(), recipe_source=_SOURCE,
)


def delay_tasks() -> tuple[TaskSpec, ...]:
    """The delay-learning variants, for the registry."""
    return (YINYANG_DELAYS, SHD_DELAYS, SSC_DELAYS)
