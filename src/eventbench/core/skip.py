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
differentiable in ``W_s`` by autograd: the path has no spike, so its gradient
:math:`\partial L/\partial W_s = \sum_n x_{n-1}^\top \sum_{k \ge n} h_{k-n}\,\partial L/\partial
\bar V_k` is exact for EventProp and surrogate BPTT alike, and the gradient methods themselves
never see ``W_s``: they receive :math:`\partial L/\partial \bar V` of the whole readout. The
step-by-step form (:func:`skip_step`) is what :mod:`eventbench.core.stepper` runs.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from eventbench.core.params import StepCoeffs
from eventbench.core.threads import serial_torch

__all__ = [
    "SkipState",
    "bias_response",
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
    h = torch.empty(n_steps, dtype=torch.float64)
    v, i = 0.0, 1.0
    for k in range(n_steps):
        h[k] = c.mu_v * v + c.mu_i * i
        v, i = c.alpha * v + c.rho * i, c.beta * i
    return h


def skip_current(x: Tensor, w_skip: Tensor) -> Tensor:
    """``x W_s`` per step: ``x [T, B, n_in]`` (dense or sparse COO) -> ``[T, B, n_out]``."""
    t_steps, batch, n_in = x.shape
    if x.is_sparse:
        x = x.coalesce()
        idx = x.indices()
        flat = torch.sparse_coo_tensor(
            torch.stack((idx[0] * batch + idx[1], idx[2])), x.values(), (t_steps * batch, n_in),
            check_invariants=False,  # built from a coalesced tensor's indices
        )
        out: Tensor = torch.sparse.mm(flat, w_skip)
    else:
        out = x.reshape(t_steps * batch, n_in) @ w_skip
    return out.view(t_steps, batch, w_skip.shape[1])


def _li_response(u: Tensor, c: StepCoeffs) -> Tensor:
    """``out_n = sum_{m <= n} h_{n-m} u_m`` along dim 0 of ``u [T, B, K]`` (float64), by the
    readout's own recurrence: exactly causal (``out_n`` is exactly 0 before the first current)
    and the same arithmetic as :func:`skip_step` / :func:`skip_mean`."""
    out = torch.empty_like(u)
    v = torch.zeros_like(u[0]) if u.shape[0] else u.new_zeros(u.shape[1:])
    i = torch.zeros_like(v)
    for n in range(u.shape[0]):
        i.add_(u[n])
        torch.add(v * c.mu_v, i, alpha=c.mu_i, out=out[n])
        v.mul_(c.alpha).add_(i, alpha=c.rho)
        i.mul_(c.beta)
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
            u = skip_current(x, w_skip.detach()).to(torch.float64)
            u = torch.cat((torch.zeros_like(u[:1]), u[:-1]))  # delivered one step later
            return _li_response(u, c).to(w_skip.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[None, Tensor, None]:
        (x,) = ctx.saved_tensors
        with serial_torch(g.device.type == "cpu"):
            # dL/du_m = sum_{n >= m} h_{n-m} g_n: the same response run backwards in time
            g_u = _li_response(g.to(torch.float64).flip(0), ctx.coeffs).flip(0)
            # u_m = x_{m-1} W_s, m >= 1
            g_w = skip_current_t(x[:-1] if not x.is_sparse else _drop_last_step(x), g_u[1:])
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
    r = torch.empty(n_steps, dtype=torch.float64)
    v = 0.0
    for n in range(n_steps):
        r[n] = c.mu_v * v + (1.0 - c.mu_v)
        v = c.alpha * v + (1.0 - c.alpha)
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


def _drop_last_step(x: Tensor) -> Tensor:
    """A sparse COO ``x [T, B, n]`` without its last step: ``[T - 1, B, n]``."""
    x = x.coalesce()
    keep = x.indices()[0] < x.shape[0] - 1
    return torch.sparse_coo_tensor(
        x.indices()[:, keep], x.values()[keep], (x.shape[0] - 1, *x.shape[1:]),
        check_invariants=False,
    )


def skip_current_t(x: Tensor, g: Tensor) -> Tensor:
    """``sum_n x_n^T g_n``: ``x [T, B, n_in]`` (dense or sparse COO), ``g [T, B, n_out]`` (float64)
    -> ``[n_in, n_out]`` float64 (the transpose of :func:`skip_current`)."""
    t_steps, batch, n_in = x.shape
    g2 = g.reshape(t_steps * batch, g.shape[2])
    if x.is_sparse:
        x = x.coalesce()
        idx = x.indices()
        flat = torch.sparse_coo_tensor(
            torch.stack((idx[2], idx[0] * batch + idx[1])), x.values().to(torch.float64),
            (n_in, t_steps * batch), check_invariants=False,
        )
        prod: Tensor = torch.sparse.mm(flat, g2)
        return prod
    return x.reshape(t_steps * batch, n_in).to(torch.float64).T @ g2


class SkipState(NamedTuple):
    """The skip's share of the readout state ``(v, i)`` ``[B, n_out]`` and the current
    ``pending = x_{n-1} W_s`` that the coming step receives."""

    v: Tensor
    i: Tensor
    pending: Tensor


def skip_mean(state: SkipState, c: StepCoeffs) -> Tensor:
    r"""The skip's share of the coming step's mean voltage, :math:`\mu_V v + \mu_I (i + u)`."""
    return c.mu_v * state.v + c.mu_i * (state.i + state.pending)


def skip_step(state: SkipState, c: StepCoeffs, cur: Tensor) -> SkipState:
    """Deliver the pending current, integrate one step, and hold ``cur = x_n W_s`` ``[B, n_out]``
    for the next step."""
    i = state.i + state.pending
    return SkipState(c.alpha * state.v + c.rho * i, c.beta * i, cur)
