r"""The input -> readout skip connection (``NetworkSpec(skip=True)``).

A weight matrix ``W_s [n_inputs, n_out]`` drives the leaky-integrator readout directly from the
input, beside the hidden layers. The input of step ``n`` reaches the readout at the start of step
``n + 1``, when the hidden spikes it causes arrive too (an input relayed by a neuron that fires
at the end of its step), so the readout of step ``n`` still depends on the inputs of steps
``< n`` only and a closed loop can read it before choosing the next input
(:mod:`eventbench.train.closed_loop`).

The readout is linear (no spikes, no reset), so its voltage is the sum of the responses to each
of its inputs. With :math:`u_n = x_{n-1} W_s` (``u_0 = 0``) added to the readout current at the
start of step ``n``, the skip's share of the readout's step means (the quantity every voltage
readout integrates, :func:`~eventbench.core.lif.step_mean`) is the causal convolution

.. math::
    \bar V^{s}_n = \sum_{m \le n} h_{n-m}\, u_m, \qquad
    h_0 = \mu_I, \quad h_k = \mu_V\,\rho \sum_{j<k} \alpha^{k-1-j}\beta^j + \mu_I\,\beta^k,

the response of the step means to a unit current delivered at the start of a step
(:class:`~eventbench.core.params.StepCoeffs`). :func:`skip_trace` computes it for a whole trial,
differentiable in ``W_s`` (its gradient written out): the path has no spike, so its gradient
:math:`\partial L/\partial W_s = \sum_n x_{n-1}^\top \sum_{k \ge n} h_{k-n}\,\partial L/\partial
\bar V_k` is exact for EventProp and surrogate BPTT alike, and the gradient methods themselves
never see ``W_s``: they receive :math:`\partial L/\partial \bar V` of the whole readout. The
step-by-step form (:func:`skip_step`) is what :mod:`eventbench.core.stepper` runs.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from eventbench.core.lif import LIFState, integrate, step_mean
from eventbench.core.params import StepCoeffs
from eventbench.core.threads import serial_torch

__all__ = [
    "SkipState",
    "bias_response",
    "delayed",
    "impulse_response",
    "readout_response",
    "skip_current",
    "skip_mean",
    "skip_step",
    "skip_trace",
]


def impulse_response(c: StepCoeffs, n_steps: int) -> Tensor:
    """``h [n_steps]`` (float64): the readout's step means ``k = 0 .. n_steps - 1`` steps after a
    unit current was added at the start of step 0 (module docstring)."""
    unit = torch.zeros(n_steps, 1, 1, dtype=torch.float64)
    unit[:1] = 1.0
    return _li_response(unit, c)[:, 0, 0]


def delayed(u: Tensor) -> Tensor:
    """``u [T, ...]`` one step later: ``out_0 = 0``, ``out_n = u_{n-1}`` (how the skip delivers
    the input of step ``n - 1`` at step ``n``)."""
    return torch.cat((torch.zeros_like(u[:1]), u[:-1]))


def _flat(x: Tensor) -> Tensor:
    """``x [T, B, n_in]`` (dense or sparse COO) as the matrix ``[T * B, n_in]``."""
    t_steps, batch, n_in = x.shape
    if not x.is_sparse:
        return x.reshape(t_steps * batch, n_in)
    x = x.coalesce()
    idx = x.indices()
    return torch.sparse_coo_tensor(
        torch.stack((idx[0] * batch + idx[1], idx[2])), x.values(), (t_steps * batch, n_in),
        check_invariants=False,  # built from a coalesced tensor's indices
    )


def skip_current(x: Tensor, w_skip: Tensor) -> Tensor:
    """``x W_s`` per step: ``x [T, B, n_in]`` (dense or sparse COO) -> ``[T, B, n_out]``."""
    flat = _flat(x)
    out: Tensor = torch.sparse.mm(flat, w_skip) if flat.is_sparse else flat @ w_skip
    return out.view(x.shape[0], x.shape[1], w_skip.shape[1])


def _skip_current_t(x: Tensor, g: Tensor) -> Tensor:
    """``sum_n x_n^T g_n``: ``x [T, B, n_in]`` (dense or sparse COO), ``g [T, B, n_out]``
    (float64) -> ``[n_in, n_out]`` float64 (the transpose of :func:`skip_current`)."""
    flat = _flat(x).to(torch.float64).t()
    g2 = g.reshape(-1, g.shape[2])
    out: Tensor = torch.sparse.mm(flat, g2) if flat.is_sparse else flat @ g2
    return out


def _li_response(u: Tensor, c: StepCoeffs) -> Tensor:
    """``out_n = sum_{m <= n} h_{n-m} u_m`` along dim 0 of ``u [T, B, K]`` (float64), by the
    readout's own step (:func:`~eventbench.core.lif.step_mean`,
    :func:`~eventbench.core.lif.integrate`): exactly causal (``out_n`` is exactly 0 before the
    first current) and the arithmetic of the readout and of :func:`skip_step`."""
    out = torch.empty_like(u)
    zero = u.new_zeros(u.shape[1:])
    state = LIFState(zero, zero)
    for n in range(u.shape[0]):
        state = LIFState(state.v, state.i + u[n])
        out[n] = step_mean(state, c)
        state = integrate(state, c)
    return out


class _SkipTrace(torch.autograd.Function):
    """:func:`skip_trace` with its gradient in ``W_s`` written out, both passes on one torch
    thread for CPU tensors (a parallel op here would leave torch's OpenMP threads spinning on
    the cores that the EventProp kernels use next, :mod:`eventbench.core.threads`)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, w_skip: Tensor, c: StepCoeffs) -> Tensor:
        ctx.save_for_backward(x)
        ctx.coeffs = c
        with serial_torch(x.device.type == "cpu"):
            u = delayed(skip_current(x, w_skip.detach()).to(torch.float64))
            return _li_response(u, c).to(w_skip.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[None, Tensor, None]:
        (x,) = ctx.saved_tensors
        with serial_torch(g.device.type == "cpu"):
            # dL/du_m = sum_{n >= m} h_{n-m} g_n: the same response run backwards in time
            g_u = _li_response(g.to(torch.float64).flip(0), ctx.coeffs).flip(0)
            # u_m = x_{m-1} W_s: x_n meets dL/du_{n+1} (nothing for the last step's input)
            g_w = _skip_current_t(x, torch.cat((g_u[1:], torch.zeros_like(g_u[:1]))))
            return None, g_w.to(g.dtype), None


def readout_response(u: Tensor, c: StepCoeffs) -> Tensor:
    """The readout's step means ``[T, B, K]`` (float64) driven from rest by the currents
    ``u [T, B, K]`` added at the start of each step (``u_n`` enters step ``n``); e.g. the spikes of
    the last hidden layer by stamp (:meth:`~eventbench.core.records.SpikeRecord.dense`) give the
    readout's response to each hidden neuron, per unit weight."""
    return _li_response(u.to(torch.float64), c)


def bias_response(c: StepCoeffs, n_steps: int) -> Tensor:
    r"""``r [n_steps]`` (float64): the readout's step means driven from rest by a unit bias
    (:math:`\tau_m \dot V = -V + b`, ``b = 1``), i.e. :math:`\bar V_n = r_n b`."""
    one = torch.ones(1, dtype=torch.float64)
    state = LIFState(one.new_zeros(1), one.new_zeros(1))
    r = torch.empty(n_steps, dtype=torch.float64)
    for n in range(n_steps):
        r[n] = step_mean(state, c, one)[0]
        state = integrate(state, c, one)
    return r


def skip_trace(x: Tensor, w_skip: Tensor, c: StepCoeffs) -> Tensor:
    r"""The skip's share of the readout's step means, ``[T, B, n_out]`` for ``x [T, B, n_in]``
    (dense or sparse COO), differentiable in ``w_skip`` (not in ``x``).

    :math:`u_n = x_{n-1} W_s` convolved with :func:`impulse_response` along time, computed by
    the readout's recurrence in float64 (exactly causal; the result is rounded once to
    ``w_skip``'s dtype), :math:`O(T \cdot B \cdot n_{out})` after the projection. The
    gradient runs the same recurrence backwards in time:
    :math:`\partial L/\partial W_s = \sum_{n \ge 1} x_{n-1}^\top \sum_{k \ge n} h_{k-n}
    \,\partial L/\partial \bar V^s_k`.
    """
    out: Tensor = _SkipTrace.apply(x, w_skip, c)  # type: ignore[no-untyped-call]
    return out


class SkipState(NamedTuple):
    """The skip's share of the readout's state ``(V, I)`` ``[B, n_out]`` and the current
    ``pending = x_{n-1} W_s`` that the coming step receives."""

    readout: LIFState
    pending: Tensor


def _delivered(state: SkipState) -> LIFState:
    """The skip's share at the start of the coming step, after its pending current arrived."""
    return LIFState(state.readout.v, state.readout.i + state.pending)


def skip_mean(state: SkipState, c: StepCoeffs) -> Tensor:
    r"""The skip's share of the coming step's mean voltage, :math:`\mu_V v + \mu_I (i + u)`."""
    return step_mean(_delivered(state), c)


def skip_step(state: SkipState, c: StepCoeffs, cur: Tensor) -> SkipState:
    """Deliver the pending current, integrate one step, and hold ``cur = x_n W_s`` ``[B, n_out]``
    for the next step."""
    return SkipState(integrate(_delivered(state), c), cur)
