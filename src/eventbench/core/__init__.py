"""Network description, discrete LIF dynamics and the ``SNN`` module."""

from eventbench.core.bptt import SurrogateBPTT
from eventbench.core.lif import LIFState, integrate, lif_step
from eventbench.core.network import (
    SNN,
    Delays,
    GradientMethod,
    LayerSpec,
    NetworkSpec,
    NetworkTensors,
    Normal,
    SilentLayerWarning,
    SNNOutput,
)
from eventbench.core.params import LIFParams, StepCoeffs, discretise
from eventbench.core.records import SpikeRecord
from eventbench.core.regularisers import RateRegulariser, lift_silent

__all__ = [
    "SNN",
    "Delays",
    "GradientMethod",
    "LIFParams",
    "LIFState",
    "LayerSpec",
    "NetworkSpec",
    "NetworkTensors",
    "Normal",
    "RateRegulariser",
    "SNNOutput",
    "SilentLayerWarning",
    "SpikeRecord",
    "StepCoeffs",
    "SurrogateBPTT",
    "discretise",
    "integrate",
    "lif_step",
    "lift_silent",
]
