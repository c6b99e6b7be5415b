"""Readouts (output voltage/spikes -> outputs) and losses (outputs vs targets)."""

from eventbench.readout.losses import (
    CrossEntropy,
    FirstSpikeCrossEntropy,
    Loss,
    PerStepCrossEntropy,
    RelativeSpikeTimeMSE,
    VoltageMSE,
)
from eventbench.readout.readouts import (
    AvgVoltage,
    ExpWeightedVoltage,
    FirstSpikeTime,
    LinearWeightedVoltage,
    MaxVoltage,
    Readout,
    SigmoidWeightedVoltage,
    SumVoltage,
    VoltageTrace,
    WeightedVoltage,
)

__all__ = [
    "AvgVoltage",
    "CrossEntropy",
    "ExpWeightedVoltage",
    "FirstSpikeCrossEntropy",
    "FirstSpikeTime",
    "LinearWeightedVoltage",
    "Loss",
    "MaxVoltage",
    "PerStepCrossEntropy",
    "Readout",
    "RelativeSpikeTimeMSE",
    "SigmoidWeightedVoltage",
    "SumVoltage",
    "VoltageMSE",
    "VoltageTrace",
    "WeightedVoltage",
]
