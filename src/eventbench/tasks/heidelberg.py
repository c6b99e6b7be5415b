"""Shared recipe and loader of the Heidelberg spiking data sets (SHD, SSC).

The loss-shaping paper's final protocol (``eventprop-spec.md`` §4.3): 700 inputs, one recurrent
LIF layer of 256, leaky-integrator outputs with the exponentially weighted voltage readout, trial
1 s at ``dt = 1 ms``, batch 32, Adam 1e-3 with ease-in and plateau halving, rate regulariser
``nu = 14``, ``lambda = 5e-10`` (voltage loss weighted ``1 ms / tau_m`` as in the reference
codes, so the published lambda applies), silent-neuron lift 0.002, 100 epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventbench.tasks.config import BaselineConfig, DataConfig, NetworkConfig, Recipe, TrainSettings

__all__ = ["HeidelbergData", "heidelberg_recipe"]


@dataclass(frozen=True)
class HeidelbergData(DataConfig):
    """Heidelberg settings.

    Attributes:
        n_val: training samples held out for validation when the data set has no validation
            file (SHD; random, seeded with ``split_seed``).
        split_seed: seed of that split.
    """

    n_val: int = 512
    split_seed: int = 0


def heidelberg_recipe() -> Recipe:
    """The [NTK] base configuration (J21_scan_322)."""
    return Recipe(
        data=HeidelbergData(dt_ms=1.0, duration_ms=1000.0, bin_mode="binary"),
        network=NetworkConfig(
            hidden=(256,),
            recurrent=True,
            readout="exp",
            init_ff_mean=0.03,
            init_ff_std=0.01,
            init_rec_mean=0.0,
            init_rec_std=0.02,
            init_out_mean=0.0,
            init_out_std=0.03,
        ),
        train=TrainSettings(
            loss="ce",
            ce_weight=1.0 / 20.0,
            epochs=100,
            batch_size=32,
            lr=1e-3,
            ease_in=True,
            plateau_halving=True,
            reg_nu=14.0,
            reg_lambda_upper=5e-10,
            reg_lambda_lower=5e-10,
            lift_silent=0.002,
        ),
        baseline=BaselineConfig(kind="gru", hidden=(256,), epochs=30, lr=1e-3),
    )
