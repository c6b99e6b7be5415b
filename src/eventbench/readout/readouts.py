r"""Readouts: how the output layer's voltage (or spikes) becomes the network's output.

A readout is kept apart from the loss (which compares the readout with a target) and from the
gradient method. Every voltage readout is defined on the output's **step means**
:math:`\bar V_n = \frac1{dt}\int_{t_n}^{t_{n+1}} V(t)\,dt`, ``n = 0..N-1``, computed in closed
form from the state at :math:`t_n` (:func:`eventbench.core.lif.step_mean`), so that EventProp and
BPTT compute the same numbers and a weighted readout is an exact time integral of the
piecewise-exact trajectory.

Weighted-voltage readouts approximate :math:`\frac1T\int_0^T w(t)\,V(t)\,dt` by
:math:`\frac1N\sum_n w(t_{n+1/2})\,\bar V_n` (exact in ``V``, midpoint rule in the weight).
Why step means and not point samples :math:`V(t_{n+1})`: a point-sampled readout is a train of
delta sources in the adjoint, so :math:`\lambda_V - \lambda_I` of the output saw-tooths within
every step, and the hidden spikes (all placed at step ends) always read it at the same phase of
the tooth. That bias is :math:`O(dt)` per spike but does not average out; at ``dt = 1 ms`` on
speech it is larger than the true hidden gradient (``docs/eventprop-dt.md``). The step mean's
adjoint source is the exact integral over the step, so the adjoint at each grid time equals the
continuous-time adjoint of the integral readout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "AvgVoltage",
    "ExpWeightedVoltage",
    "FirstSpikeTime",
    "LinearWeightedVoltage",
    "MaxVoltage",
    "Readout",
    "SigmoidWeightedVoltage",
    "SumVoltage",
    "VoltageTrace",
    "WeightedVoltage",
]

ReadoutKind = Literal["weighted", "max", "trace", "first_spike"]


@dataclass(frozen=True)
class WeightedVoltage:
    """Base of the readouts :math:`z_k = \\sum_n c_n \\bar V_{k,n}` with fixed coefficients ``c``.

    Output ``[B, n_out]``. Subclasses define :meth:`coefficients`.
    """

    kind: ReadoutKind = "weighted"
    needs_spiking_output = False

    def coefficients(self, n_steps: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        """Coefficients ``c_n`` ``[n_steps]`` (dimensionless)."""
        raise NotImplementedError

    def reduce(self, trace: Tensor) -> Tensor:
        """Apply the readout to a voltage trace ``[T, B, n_out]`` -> ``[B, n_out]``."""
        c = self.coefficients(trace.shape[0], trace.dtype, trace.device)
        return torch.einsum("t,tbo->bo", c, trace)


def _sample_times(n_steps: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Normalised step midpoints ``t_{n+1/2}/T = (n + 1/2)/N``, ``[N]``."""
    return (torch.arange(n_steps, dtype=dtype, device=device) + 0.5) / n_steps


@dataclass(frozen=True)
class AvgVoltage(WeightedVoltage):
    r"""Mean output voltage :math:`\frac1N\sum_n \bar V_n = \frac1T\int_0^T V\,dt` (mlGeNN ``AvgVar``; the paper's
    :math:`L_\mathrm{sum}` up to normalisation)."""

    def coefficients(self, n_steps: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        return torch.full((n_steps,), 1.0 / n_steps, dtype=dtype, device=device)


@dataclass(frozen=True)
class SumVoltage(WeightedVoltage):
    r"""Summed output voltage :math:`\sum_n \bar V_n` (mlGeNN ``SumVar``); grows with ``N``."""

    def coefficients(self, n_steps: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        return torch.ones(n_steps, dtype=dtype, device=device)


@dataclass(frozen=True)
class ExpWeightedVoltage(WeightedVoltage):
    r"""Loss shaping: :math:`\frac1N\sum_n e^{-t_{n+1/2}/T} \bar V_n` (mlGeNN
    ``AvgVarExpWeight``, [GEP] ``sum_weigh_exp``): early voltage counts more, which keeps
    gradient flowing to early spikes."""

    def coefficients(self, n_steps: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        return torch.exp(-_sample_times(n_steps, dtype, device)) / n_steps


@dataclass(frozen=True)
class LinearWeightedVoltage(WeightedVoltage):
    r"""Weight :math:`1 - t/T` ([GEP] ``sum_weigh_linear``)."""

    def coefficients(self, n_steps: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        return (1.0 - _sample_times(n_steps, dtype, device)) / n_steps


@dataclass(frozen=True)
class SigmoidWeightedVoltage(WeightedVoltage):
    r"""Weight :math:`1/(1 + e^{(t/T - 0.5)/0.2})` ([GEP] ``sum_weigh_sigmoid``)."""

    def coefficients(self, n_steps: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        s = _sample_times(n_steps, dtype, device)
        return torch.sigmoid(-(s - 0.5) / 0.2) / n_steps


@dataclass(frozen=True)
class MaxVoltage:
    r"""Maximum step-mean output voltage :math:`\max_n \bar V_n`, ``[B, n_out]`` (mlGeNN
    ``MaxVar``; converges to :math:`\max_t V(t)` as ``dt -> 0``).

    The gradient enters as the source of the arg-max step. Known
    limitation (shared with them): when the maximum sits exactly at the arrival of an
    inhibitory hidden spike (a kink of ``V``), the continuous-time gradient has an extra term
    ``dL/dt_e = g dV/dt(t_e^-)`` on that spike's time which the time-stepped readout does not
    apply, so the gradient then does not converge to the exact one as ``dt -> 0``.
    """

    kind: ReadoutKind = "max"
    needs_spiking_output = False

    def reduce(self, trace: Tensor) -> Tensor:
        return trace.max(dim=0).values


@dataclass(frozen=True)
class VoltageTrace:
    """The output's step means ``[T, B, n_out]``, for per-time-step losses (per-step
    cross-entropy, voltage regression). Its memory grows with ``T x n_out`` (outputs only)."""

    kind: ReadoutKind = "trace"
    needs_spiking_output = False

    def reduce(self, trace: Tensor) -> Tensor:
        return trace


@dataclass(frozen=True)
class FirstSpikeTime:
    """First spike time of each LIF output neuron in seconds, ``[B, n_out]``.

    A silent neuron reads the trial end ``T`` (its "phantom spike"), and ``fired`` says which
    entries are real. A gradient that reaches a phantom entry is applied as the reference codes'
    phantom-spike pseudo-gradient (a jump of ``dL/dt`` on ``lambda_V`` at ``T``, not divided by
    ``I - V``). Needs ``output_kind="lif"``; EventProp only.
    """

    kind: ReadoutKind = "first_spike"
    needs_spiking_output = True


Readout = WeightedVoltage | MaxVoltage | VoltageTrace | FirstSpikeTime
