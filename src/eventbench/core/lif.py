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

__all__ = [
    "LIFState",
    "LIFStep",
    "crossing_slope",
    "heaviside",
    "integrate",
    "lif_step",
    "step_mean",
]

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
        i_minus_v: :math:`\\tau_m \\dot V^-` at the threshold crossing, the adjoint jump's
            denominator: ``I(t*) - threshold`` at the crossing time ``t*`` located within the
            step by :func:`crossing_slope` when ``lif_step(..., slope=True)``; otherwise the
            cheap end-of-step value ``I - V`` (``I`` after the decay, ``V`` before the reset).
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


def step_mean(state: LIFState, c: StepCoeffs, bias: Tensor | None = None) -> Tensor:
    r"""Mean voltage over one step, in closed form, from the state at its start (after the
    events delivered then): :math:`\bar V = \mu_V V + \mu_I I + (1-\mu_V) b`
    (:class:`~eventbench.core.params.StepCoeffs`). The voltage readouts integrate it, so a
    readout is an exact time integral of the piecewise-exact trajectory. ``[B, N]``."""
    v = c.mu_v * state.v + c.mu_i * state.i
    if bias is not None:
        v = v + (1.0 - c.mu_v) * bias
    return v


def crossing_slope(v0: Tensor, i0: Tensor, v1: Tensor, c: StepCoeffs) -> Tensor:
    r"""Jump denominator :math:`\tau_m \dot V(t^*) = I(t^*) - \vartheta` at the threshold
    crossing ``t*`` inside a step that starts at ``(v0, i0)`` (``i0`` after the events delivered
    then) and ends at ``v1 >= threshold`` (before the reset); all ``[B, N]``.

    The crossing is placed by linear interpolation, :math:`u_0 = dt\,(\vartheta - V_0)/(V_1 -
    V_0)`, then refined by one Newton step on the exact trajectory
    :math:`V(u) = e^{-u/\tau_m} V_0 + \rho(u) I_0` (clamped to ``[0, dt]``), and the current is
    :math:`I(t^*) = e^{-u/\tau_s} I_0`. Taking ``I`` after the whole step's decay and ``V`` after
    an overshoot (the reference codes' ``I - V``) makes the denominator too small by
    :math:`O(dt)`, which at ``dt = 1 ms`` in the mean-driven regime inflates the jumps several
    times. Entries where ``v1 < threshold`` get a finite value that nothing reads.
    """
    tm, ts, dt, th = c.tau_mem_s, c.tau_syn_s, c.dt_s, c.threshold
    rise = v1 - v0
    frac = torch.where(rise > 0, (th - v0) / torch.where(rise > 0, rise, 1.0), 1.0)
    u = frac.clamp(0.0, 1.0) * dt
    em, es = torch.exp(u * (-1.0 / tm)), torch.exp(u * (-1.0 / ts))
    rho_u = (em - es) * (ts / (tm - ts)) if abs(tm - ts) > 1e-9 * tm else (u / tm) * em
    v_u = em * v0 + rho_u * i0
    i_u = es * i0
    slope = i_u - v_u
    step = torch.where(slope > 0, (v_u - th) * tm / torch.where(slope > 0, slope, 1.0), 0.0)
    u = (u - step).clamp(0.0, dt)
    return torch.exp(u * (-1.0 / ts)) * i0 - th


def lif_step(
    state: LIFState,
    c: StepCoeffs,
    spike_fn: SpikeFn = heaviside,
    detach_reset: bool = False,
    slope: bool = False,
) -> LIFStep:
    """One LIF step: integrate, threshold, absolute reset. ``state.i`` already holds the events
    delivered at the start of the step. ``spike_fn`` maps ``V - threshold`` to spikes; a surrogate
    function makes the step differentiable for BPTT, and ``detach_reset`` keeps the reset out of
    its graph. ``slope=True`` computes the adjoint denominator at the crossing time
    (:func:`crossing_slope`, what EventProp uses)."""
    pre = integrate(state, c)
    z = spike_fn(pre.v - c.threshold)
    zr = z.detach() if detach_reset else z
    v = pre.v * (1.0 - zr) + c.v_reset * zr
    den = crossing_slope(state.v, state.i, pre.v, c) if slope else pre.i - pre.v
    return LIFStep(z, LIFState(v, pre.i), den)


def zero_state(batch: int, n: int, like: Tensor) -> LIFState:
    """All-zero state ``[batch, n]`` with the dtype and device of ``like``."""
    z = torch.zeros(batch, n, dtype=like.dtype, device=like.device)
    return LIFState(z, z.clone())
