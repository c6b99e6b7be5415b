"""The EventProp gradient method object (pass it as ``SNN(..., method=EventProp())``)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from eventbench.core.network import NetworkTensors, SNNOutput
from eventbench.core.regularisers import RateRegulariser
from eventbench.eventprop.function import EventPropConfig, eventprop_forward
from eventbench.readout.readouts import Readout

__all__ = ["EventProp"]


@dataclass(frozen=True)
class EventProp:
    """Exact-gradient EventProp (Wunderlich & Pehle 2021) with loss shaping support.

    Attributes:
        guard_eps: lower bound on the jump denominator ``I - V`` (voltage units). Crossings with
            a smaller value (grazing crossings, overshoot at large ``dt``) are clamped to it and
            counted in ``SNNOutput.guard_hits``. The reference codes have no guard.
        regulariser: firing-rate pseudo-gradient on the hidden layers (not part of the loss).
        chunk: steps processed per block; bounds transient memory to ``chunk x B x N``.
        max_spikes: optional cap on spikes per population and trial; exceeding it is an error.
    """

    guard_eps: float = 1e-3
    regulariser: RateRegulariser | None = None
    chunk: int = 128
    max_spikes: int | None = None
    _latency_shift: int = 0

    def __post_init__(self) -> None:
        if not self.guard_eps > 0.0:
            raise ValueError(f"EventProp.guard_eps must be positive, got {self.guard_eps}")
        if self.chunk <= 0:
            raise ValueError(f"EventProp.chunk must be positive, got {self.chunk}")

    def run(self, net: NetworkTensors, readout: Readout, x: Tensor) -> SNNOutput:
        """Simulate ``x [T, B, n_in]``; the readout is differentiable through EventProp."""
        cfg = EventPropConfig(
            readout=readout,
            guard_eps=self.guard_eps,
            regulariser=self.regulariser,
            chunk=self.chunk,
            max_spikes=self.max_spikes,
            latency_shift=self._latency_shift,
        )
        value, fired, rec = eventprop_forward(cfg, net, x)
        return SNNOutput(
            readout=value,
            fired=fired if readout.kind == "first_spike" else None,
            spikes=rec.spikes,
            output_spikes=rec.output_spikes,
            input_events=int(x.sum().item()),
            guard_hits=rec.guard_hits,
        )
