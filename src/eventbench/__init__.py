"""EventBench: exact-gradient EventProp training and NeuroBench-style benchmarking of SNNs.

The engine's public API is re-exported here; data sets live in :mod:`eventbench.data`, the
benchmark harness in :mod:`eventbench.bench`, training in :mod:`eventbench.train`.
"""

from eventbench._version import __version__
from eventbench.core import (
    SNN,
    Delays,
    LayerSpec,
    LIFParams,
    NetworkSpec,
    Normal,
    RateRegulariser,
    SNNOutput,
    SpikeRecord,
    SurrogateBPTT,
    lift_silent,
)
from eventbench.eventprop import EventProp

__all__ = [
    "SNN",
    "Delays",
    "EventProp",
    "LIFParams",
    "LayerSpec",
    "NetworkSpec",
    "Normal",
    "RateRegulariser",
    "SNNOutput",
    "SpikeRecord",
    "SurrogateBPTT",
    "__version__",
    "lift_silent",
]
