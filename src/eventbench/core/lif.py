r"""Pure step functions of the discrete LIF / leaky-integrator dynamics (one implementation).

Both gradient methods (EventProp and surrogate BPTT) call these functions, so the forward
dynamics cannot drift apart. Shapes: state tensors are ``[B, N]``.

One step over ``[t_n, t_{n+1}]`` after the events at ``t_n`` were added to ``I``:

.. math::
    V^- = \alpha V + \rho I + (1-\alpha) b,\quad I \leftarrow \beta I,\quad
    z = H(V^- - \vartheta),\quad V \leftarrow V^- (1 - z) + V_r z.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from eventbench.core.params import StepCoeffs

__all__ = ["LIFState", "LIFStep", "heaviside", "integrate", "lif_step"]

SpikeFn = Callable[[Tensor], Tensor]


class LIFState(NamedTuple):
    """Membrane voltage ``v`` and synaptic current ``i``, each ``[B, N]``."""

    v: Tensor
    i: Tensor


class LIFStep(NamedTuple):
    """Result of one LIF step.

    Attributes:
        spikes: ``[B, N]`` spikes stamped at the end of the step (0/1, or surrogate-valued).
        state: state after the reset.
        i_minus_v: ``I - V`` at the crossing (``I`` after the decay, ``V`` before the reset),
            the discrete stand-in for :math:`\\tau_m \\dot V^-` used by the adjoint jump.
    """

    spikes: Tensor
    state: LIFState
    i_minus_v: Tensor


def heaviside(x: Tensor) -> Tensor:
    """Spike nonlinearity ``H(x) = 1 if x >= 0 else 0`` (no gradient)."""
    return (x >= 0).to(x.dtype)


def integrate(state: LIFState, c: StepCoeffs, bias: Tensor | None = None) -> LIFState:
    r"""Exact linear integration over one step: :math:`V \leftarrow \alpha V + \rho I (+ (1-\alpha) b)`,
    :math:`I \leftarrow \beta I`. Used alone by the leaky-integrator readout."""
    v = c.alpha * state.v + c.rho * state.i
    if bias is not None:
        v = v + (1.0 - c.alpha) * bias
    return LIFState(v, c.beta * state.i)


def lif_step(
    state: LIFState, c: StepCoeffs, spike_fn: SpikeFn = heaviside, detach_reset: bool = False
) -> LIFStep:
    """One LIF step: integrate, threshold, absolute reset. ``state.i`` already holds the events
    delivered at the start of the step. ``spike_fn`` maps ``V - threshold`` to spikes; a surrogate
    function makes the step differentiable for BPTT, and ``detach_reset`` keeps the reset out of
    its graph."""
    pre = integrate(state, c)
    z = spike_fn(pre.v - c.threshold)
    zr = z.detach() if detach_reset else z
    v = pre.v * (1.0 - zr) + c.v_reset * zr
    return LIFStep(z, LIFState(v, pre.i), pre.i - pre.v)


def zero_state(batch: int, n: int, like: Tensor) -> LIFState:
    """All-zero state ``[batch, n]`` with the dtype and device of ``like``."""
    z = torch.zeros(batch, n, dtype=like.dtype, device=like.device)
    return LIFState(z, z.clone())
