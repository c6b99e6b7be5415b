r"""Surrogate-gradient BPTT through the same discrete dynamics (:mod:`eventbench.core.lif`).

The spike nonlinearity is the Heaviside step in the forward pass and the SuperSpike / fast-sigmoid
derivative :math:`\partial z/\partial V = 1/(1 + s\,|V - \vartheta|)^2` in the backward pass.
Autograd stores the state of every step, so memory grows with ``T x B x N``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from eventbench.core.network import NetworkTensors, SNNOutput, dense_input, input_event_count
from eventbench.core.records import SpikeRecord, record_from_dense
from eventbench.core.stepper import initial_state, network_step
from eventbench.readout.readouts import FirstSpikeTime, Readout

__all__ = ["SurrogateBPTT", "fast_sigmoid_spike"]


class _FastSigmoidSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, slope: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return g / (1.0 + ctx.slope * x.abs()) ** 2, None


def fast_sigmoid_spike(x: Tensor, slope: float) -> Tensor:
    """Heaviside of ``x = V - threshold`` with the fast-sigmoid surrogate derivative."""
    out: Tensor = _FastSigmoidSpike.apply(x, slope)  # type: ignore[no-untyped-call]
    return out


@dataclass(frozen=True)
class SurrogateBPTT:
    """Backpropagation through time with a surrogate spike derivative.

    Attributes:
        slope: steepness ``s`` of the fast-sigmoid surrogate (per unit voltage).
        detach_reset: whether the reset is excluded from the graph (a common choice that often
            trains better; the default keeps the full graph).
    """

    slope: float = 10.0
    detach_reset: bool = False

    def run(self, net: NetworkTensors, readout: Readout, x: Tensor) -> SNNOutput:
        """Simulate ``x [T, B, n_in]`` with autograd through every step."""
        if isinstance(readout, FirstSpikeTime):
            raise ValueError(
                "readout FirstSpikeTime is not supported with SurrogateBPTT: spike times have no "
                "surrogate gradient here; use EventProp"
            )
        if net.has_delays:
            raise ValueError(
                "synaptic delays are not supported with SurrogateBPTT: delays are learned with "
                "EventProp (method=EventProp())"
            )
        input_events = input_event_count(x)
        x = dense_input(x)
        t_steps, batch, n_in = x.shape
        sizes = [w.shape[1] for w in net.w_ff]
        slope = self.slope

        def spike_fn(v: Tensor) -> Tensor:
            return fast_sigmoid_spike(v, slope)

        state = initial_state(net, batch, x)
        cur0 = (x.reshape(t_steps * batch, n_in) @ net.w_ff[0]).view(t_steps, batch, sizes[0])
        spikes: list[list[Tensor]] = [[] for _ in sizes]
        trace: list[Tensor] = []
        for cur in cur0.unbind(0):
            step = network_step(net, state, cur, spike_fn, self.detach_reset)
            state = step.state
            for layer, z in enumerate(step.spikes):
                spikes[layer].append(z)
            trace.append(step.readout)
        v_trace = torch.stack(trace)
        dense = [torch.stack(s) for s in spikes]
        records = tuple(_record(d) for d in dense)
        return SNNOutput(
            readout=readout.reduce(v_trace),
            fired=None,
            spikes=records,
            output_spikes=None,
            input_events=input_events,
            guard_hits=0,
        )


def _record(dense: Tensor) -> SpikeRecord:
    return record_from_dense(dense.detach(), None, 1)
