r"""One simulation step of a whole network (hidden LIF layers and the leaky-integrator readout).

Surrogate BPTT runs its trials with :func:`network_step`, and closed-loop evaluations (an
autoregressive forecast, whose next input is the model's own output) call it one step at a time,
so both use the same dynamics. Per step ``n`` (state tensors ``[B, N]``):

.. math::
    I^{(0)} \mathrel{+}= x_n W^{(0)},\quad I^{(l)} \mathrel{+}= z^{(l-1)}_{n-1} W^{(l)},\quad
    I^{(l)} \mathrel{+}= z^{(l)}_{n-1} W^{(l)}_{rec},\quad \text{then } \texttt{lif\_step};

the readout receives the last hidden layer's spikes of step ``n - 1``
(:math:`I_o \mathrel{+}= z^{(L)}_{n-1} W_o`), reports its mean voltage over the step
(:func:`~eventbench.core.lif.step_mean`) and integrates. A spike therefore reaches the next
population one step later: the readout of step ``n`` depends on the inputs of steps ``< n``
(latency of ``len(hidden)`` steps from input to readout). A network with an input -> readout
skip (``net.w_skip``, :mod:`eventbench.core.skip`) adds the skip's share, whose input also
arrives one step later.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from eventbench.core.lif import (
    LIFState,
    SpikeFn,
    heaviside,
    integrate,
    lif_step,
    step_mean,
    zero_state,
)
from eventbench.core.network import NetworkTensors
from eventbench.core.skip import SkipState, skip_mean, skip_step

__all__ = ["NetworkState", "StepOutput", "initial_state", "network_step", "next_readout",
           "readout_latency"]


class NetworkState(NamedTuple):
    """State between steps: per hidden layer ``(V, I)`` and last spikes ``z [B, N_l]``, the
    readout's ``(V, I)`` ``[B, n_out]`` and, with a skip, the skip's share of it."""

    hidden: tuple[LIFState, ...]
    spikes: tuple[Tensor, ...]
    out: LIFState
    skip: SkipState | None = None


class StepOutput(NamedTuple):
    """What one step produced: the new state, the readout's mean voltage over the step
    ``[B, n_out]`` and the spikes of each hidden layer ``[B, N_l]``."""

    state: NetworkState
    readout: Tensor
    spikes: tuple[Tensor, ...]


def initial_state(net: NetworkTensors, batch: int, like: Tensor) -> NetworkState:
    """All-zero state for ``batch`` trials (dtype and device of ``like``)."""
    sizes = [w.shape[1] for w in net.w_ff]
    hidden = tuple(zero_state(batch, n, like) for n in sizes)
    n_out = net.w_out.shape[1]
    out = zero_state(batch, n_out, like)
    skip = None if net.w_skip is None else SkipState(zero_state(batch, n_out, like), out.v.clone())
    return NetworkState(hidden, tuple(h.v.clone() for h in hidden), out, skip)


def network_step(
    net: NetworkTensors,
    state: NetworkState,
    cur0: Tensor,
    spike_fn: SpikeFn = heaviside,
    detach_reset: bool = False,
    skip_cur: Tensor | None = None,
) -> StepOutput:
    """Advance every population by one step; ``cur0 [B, N_0] = x_n W^{(0)}`` is the first hidden
    layer's input current of this step (callers with a whole trial compute it in one product)
    and ``skip_cur [B, n_out] = x_n W_s`` the skip's (needed exactly when ``net.w_skip`` is
    set). Undelayed networks only."""
    if net.has_delays:
        raise ValueError("network_step simulates undelayed networks only")
    if (skip_cur is None) != (net.w_skip is None) or (skip_cur is not None and state.skip is None):
        raise ValueError(
            "network_step needs skip_cur = x_n W_s and a state from initial_state exactly when "
            "the network has a skip (net.w_skip)"
        )
    new_hidden: list[LIFState] = []
    new_z: list[Tensor] = []
    for layer, c in enumerate(net.coeffs):
        inp = cur0 if layer == 0 else state.spikes[layer - 1] @ net.w_ff[layer]
        wr = net.w_rec[layer]
        if wr is not None:
            inp = inp + state.spikes[layer] @ wr
        st = state.hidden[layer]
        step = lif_step(LIFState(st.v, st.i + inp), c, spike_fn, detach_reset)
        new_hidden.append(step.state)
        new_z.append(step.spikes)
    o_in = _readout_input(net, state)
    mean_v = step_mean(o_in, net.out_coeffs, net.bias)
    out = integrate(o_in, net.out_coeffs, net.bias)
    skip = None
    if state.skip is not None and skip_cur is not None:
        mean_v = mean_v + skip_mean(state.skip, net.out_coeffs)
        skip = skip_step(state.skip, net.out_coeffs, skip_cur)
    return StepOutput(NetworkState(tuple(new_hidden), tuple(new_z), out, skip), mean_v,
                      tuple(new_z))


def _readout_input(net: NetworkTensors, state: NetworkState) -> LIFState:
    """Readout state at the start of the coming step, after the last spikes arrived."""
    return LIFState(state.out.v, state.out.i + state.spikes[-1] @ net.w_out)


def next_readout(net: NetworkTensors, state: NetworkState) -> Tensor:
    """The readout of the coming step ``[B, n_out]`` (what :func:`network_step` will report),
    which does not depend on that step's input: a closed loop reads it before choosing the
    input."""
    mean_v = step_mean(_readout_input(net, state), net.out_coeffs, net.bias)
    if state.skip is not None:
        mean_v = mean_v + skip_mean(state.skip, net.out_coeffs)
    return mean_v


def readout_latency(net: NetworkTensors) -> int:
    """Steps from an input to the first readout step it affects (one per hidden layer)."""
    return len(net.w_ff)


