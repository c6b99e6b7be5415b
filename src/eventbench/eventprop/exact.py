r"""Exact, event-driven float64 continuous-time reference (verification ladder steps 1-3).

This module is the ground truth that every EventProp gradient of the package is checked against
(``docs/verification.md`` of the shared docs). It uses NumPy/SciPy only, works on one sample at a
time and is written for clarity and exactness, not speed: keep the networks tiny.

Model (continuous time, units: seconds, weights pre-major ``w[n_pre, n_post]``)
---------------------------------------------------------------------------------
Every neuron ``j`` of a layer obeys, between events,

.. math::

    \tau_m \dot V_j = -V_j + I_j + b_j, \qquad \tau_s \dot I_j = -I_j

(``b_j = 0`` except for the optional bias of a leaky-integrator output). A spike of neuron
(or input channel) ``i`` at time ``t_k`` adds ``w[i, j]`` to ``I_j`` at its *arrival time*
``t_k + d[i, j]``: ``d = 0`` (no delay) unless a hidden layer has per-connection synaptic delays
(``ExactLayer.d_ff`` for its feed-forward input, ``ExactLayer.d_rec`` for its recurrent
connections, seconds, ``>= 0``; Meszaros, Knight & Nowotny 2025). The output layer has no
delays. Hidden (and LIF
output) neurons spike when ``V`` reaches the threshold ``theta`` from below; then
``V <- v_reset`` (absolute reset, no refractory period). Starting from ``V(0) = I(0) = 0``,
between events (``s`` = time since the last event, state ``V0, I0`` just after it)

.. math::

    V(s) = b + (V_0 - b) e^{-s/\tau_m} + I_0\,\kappa(s), \quad
    \kappa(s) = \frac{\tau_s}{\tau_s-\tau_m}\big(e^{-s/\tau_s} - e^{-s/\tau_m}\big)
              = \frac{s}{\tau_m} e^{-s/\tau_m}\,\varphi\big(s(1/\tau_m - 1/\tau_s)\big),

with ``phi(x) = expm1(x)/x``; the second form is used near ``tau_m == tau_s`` and is exactly the
limit ``(s/tau_m) e^{-s/tau_m}`` there, so ``tau_m == tau_s`` needs no special case.

Simulation
----------
Layers are simulated one after the other (there is no feedback from a layer to the layers below
it): layer ``l`` receives the complete, time-sorted spike list of layer ``l-1`` (the input for
``l = 0``). Within a layer an event loop advances all neurons in closed form to the next event,
which is the earlier of the next delivery and the earliest threshold crossing of any neuron of the
layer. The crossing of each neuron is found exactly on the analytic ``V``: ``V`` has at most one
extremum between events (``tau_m dV/ds = I - V + b`` and ``I e^{s/tau_m}`` is monotone), so if
``V`` is below threshold at the end of the interval the maximum is located in closed form and
the *first* crossing is bracketed on ``[0, s_max]`` (a trajectory that rises above threshold and
comes back down within one interval is not missed); the root is then found to machine precision
by Newton's method on the analytic ``V`` safeguarded by bisection of the bracket (agrees with
Brent's method to ~2e-17 s).

Delays
------
A hidden layer with ``d_ff`` or ``d_rec`` (``ExactLayer.delayed``) is simulated by a second event
loop (the undelayed loop above is kept unchanged, bit for bit, for layers without delays). Each
(presynaptic spike, postsynaptic neuron) pair is an arrival of its own at
``t_k + d[i, j]``; the feed-forward arrivals (from the input or the complete spike list of the
layer below, which a delay cannot reach back into) are merged, in exact time order, with a
priority queue of the layer's recurrent arrivals, which its own spikes push as they occur
(``t_p + d_rec[n, m]``, so a neuron's spike reaches the other neurons of its layer later).
Arrivals after ``T`` are dropped. All arrivals due at the current time are delivered before
thresholds are tested; a zero-delay recurrent arrival is delivered right after the spike that
caused it (as in the undelayed loop). With all delays zero the result equals the undelayed
simulation (to rounding: the same additions in the same order).

Order of simultaneous events (documented, and immaterial for the dynamics): at a time ``t``
all deliveries with time stamp ``t`` are added to ``I`` (``V`` is continuous so the order does
not matter), then thresholds are tested on the open interval after ``t``. An own spike at ``t``
resets ``V`` and delivers its recurrent row at the same ``t``; a neuron that is at or above
threshold at the start of an interval (a tie with another neuron's spike, to rounding) spikes at
that instant. Ties between neurons are broken by neuron index. Spikes are searched in
``(0, T]``; input spikes outside ``[0, T]`` are ignored.

Readouts, finite differences and the exact-time adjoint are documented at their functions:
:func:`integral`, :func:`max_voltage`, :func:`first_spike_times`,
:func:`finite_difference_gradient`, :func:`gradients_by_fd`, :func:`exact_adjoint_gradient`.
Adjoint notation follows Wunderlich & Pehle (2021): ``dL/dV = -tau_m lambda_v``,
``dL/dI = -tau_s lambda_i``.

Example (one hidden neuron, ``tau_m = 2 tau_s``: the first crossing solves a quadratic in
``x = e^{-s/tau_m}``):

>>> import numpy as np
>>> layer = ExactLayer(w_ff=np.array([[5.0]]), tau_mem_s=20e-3, tau_syn_s=10e-3)
>>> net = ExactNetwork(hidden=(layer,), out_w=np.array([[1.0]]))
>>> trace = simulate(net, input_times_s=[1e-3], input_channels=[0], duration_s=30e-3)
>>> t_spike = trace.hidden_spike_times(0)[0]
>>> x = (1 + np.sqrt(1 - 4 / 5.0)) / 2
>>> bool(abs(t_spike[0] - (1e-3 - 20e-3 * np.log(x))) < 1e-15)
True
>>> z = integral(trace, "exp")                       # [n_out]
>>> g = exact_adjoint_gradient(net, trace, np.ones(1), "exp")
>>> sorted(g)
['hidden.0.w_ff', 'out_bias', 'out_w']

A feed-forward delay of 2 ms moves that spike by exactly 2 ms (to rounding) and adds the delay
to the parameters:

>>> d_layer = ExactLayer(w_ff=np.array([[5.0]]), d_ff=np.array([[2e-3]]),
...                      tau_mem_s=20e-3, tau_syn_s=10e-3)
>>> d_net = ExactNetwork(hidden=(d_layer,), out_w=np.array([[1.0]]))
>>> d_trace = simulate(d_net, input_times_s=[1e-3], input_channels=[0], duration_s=30e-3)
>>> bool(abs(d_trace.hidden_spike_times(0)[0][0] - (t_spike[0] + 2e-3)) < 1e-15)
True
>>> sorted(exact_adjoint_gradient(d_net, d_trace, np.ones(1), "exp"))
['hidden.0.d_ff', 'hidden.0.w_ff', 'out_bias', 'out_w']
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "ExactLayer",
    "ExactNetwork",
    "ExactTrace",
    "FDResult",
    "LayerTrace",
    "MaxVoltage",
    "ReadoutKind",
    "events_from_binned",
    "exact_adjoint_gradient",
    "finite_difference_gradient",
    "first_spike_times",
    "gradients_by_fd",
    "integral",
    "max_voltage",
    "network_parameters",
    "readout",
    "readout_signature",
    "replace_parameters",
    "simulate",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

IntegralWeight = Literal["avg", "exp", "linear", "sigmoid"]
ReadoutKind = Literal["avg", "exp", "linear", "sigmoid", "max", "first_spike"]
_INTEGRAL_KINDS = ("avg", "exp", "linear", "sigmoid")
_READOUT_KINDS = (*_INTEGRAL_KINDS, "max", "first_spike")
_VARIANTS = (None, "no_reset_term", "flip_recurrent", "no_feedforward_term", "read_at_emission")

_ROOT_XTOL = 1e-18
_ROOT_RTOL = 4.0 * float(np.finfo(np.float64).eps)
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)


# --------------------------------------------------------------------------------------------
# Network description
# --------------------------------------------------------------------------------------------
def _as_f64(x: npt.ArrayLike, name: str, ndim: int) -> F64:
    arr = np.array(x, dtype=np.float64, copy=True)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    return arr


def _as_delay(x: npt.ArrayLike, name: str, shape: tuple[int, ...]) -> F64:
    """Validated copy of a delay matrix (seconds): ``shape``, finite, ``>= 0``."""
    arr = _as_f64(x, name, len(shape))
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (like its weights), got {arr.shape}")
    if arr.size and float(arr.min()) < 0.0:
        raise ValueError(f"{name} must be >= 0 s (delays in seconds), got min {arr.min()}")
    return arr


def _check_lif_params(
    where: str, tau_mem_s: float, tau_syn_s: float, threshold: float, v_reset: float
) -> None:
    if not (tau_mem_s > 0.0 and tau_syn_s > 0.0):
        raise ValueError(f"{where}: time constants must be > 0 s, got {tau_mem_s}, {tau_syn_s}")
    if not v_reset < threshold:
        raise ValueError(f"{where}: v_reset ({v_reset}) must be below threshold ({threshold})")


@dataclass(frozen=True, eq=False)
class ExactLayer:
    """A hidden LIF layer.

    Attributes:
        w_ff: feed-forward weights ``[n_pre, n_post]`` (``n_pre`` = input channels for the first
            layer, the previous layer's size otherwise).
        w_rec: recurrent weights ``[n_post, n_post]`` (self-connections allowed) or ``None``.
        tau_mem_s, tau_syn_s: membrane and synaptic time constants (s); equal values allowed.
        threshold: firing threshold ``theta``.
        v_reset: absolute reset value (must be below ``threshold``).
        d_ff: feed-forward synaptic delays (s) ``[n_pre, n_post]`` like ``w_ff``, ``>= 0``, or
            ``None`` (no delay): a spike of presynaptic ``i`` at ``t_k`` adds ``w_ff[i, j]`` to
            ``I_j`` at ``t_k + d_ff[i, j]``.
        d_rec: recurrent synaptic delays (s) ``[n_post, n_post]`` like ``w_rec``, ``>= 0``, or
            ``None`` (no delay; needs ``w_rec``).

    A layer with ``d_ff`` or ``d_rec`` is *delayed* (:attr:`delayed`); a missing one of the two
    then counts as zero delays (but is not a parameter). ``d_ff = d_rec = None`` is exactly the
    undelayed layer.
    """

    w_ff: F64
    w_rec: F64 | None = None
    tau_mem_s: float = 20e-3
    tau_syn_s: float = 5e-3
    threshold: float = 1.0
    v_reset: float = 0.0
    d_ff: F64 | None = None
    d_rec: F64 | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "w_ff", _as_f64(self.w_ff, "w_ff", 2))
        n = self.w_ff.shape[1]
        if self.w_rec is not None:
            w_rec = _as_f64(self.w_rec, "w_rec", 2)
            if w_rec.shape != (n, n):
                raise ValueError(f"w_rec must have shape {(n, n)}, got {w_rec.shape}")
            object.__setattr__(self, "w_rec", w_rec)
        if self.d_ff is not None:
            object.__setattr__(self, "d_ff", _as_delay(self.d_ff, "d_ff", self.w_ff.shape))
        if self.d_rec is not None:
            if self.w_rec is None:
                raise ValueError("d_rec (recurrent delays) given but w_rec is None")
            object.__setattr__(self, "d_rec", _as_delay(self.d_rec, "d_rec", (n, n)))
        _check_lif_params(
            "ExactLayer", self.tau_mem_s, self.tau_syn_s, self.threshold, self.v_reset
        )

    @property
    def n(self) -> int:
        """Number of neurons of the layer."""
        return int(self.w_ff.shape[1])

    @property
    def delayed(self) -> bool:
        """Whether the layer has synaptic delays (``d_ff`` or ``d_rec`` is not ``None``)."""
        return self.d_ff is not None or self.d_rec is not None


@dataclass(frozen=True, eq=False)
class ExactNetwork:
    """Input -> hidden LIF layers -> output layer (leaky integrators ``"li"`` or ``"lif"``).

    Attributes:
        hidden: hidden layers, in order (may be empty: the output then reads the input).
        out_w: output weights ``[n_last, n_out]``.
        out_tau_mem_s, out_tau_syn_s: output time constants (s).
        out_kind: ``"li"`` (no threshold; voltage readouts) or ``"lif"`` (spike-time readouts).
        out_threshold, out_v_reset: used for ``"lif"`` only.
        out_bias: ``[n_out]`` or ``None``; ``tau_m dV/dt = -V + I + b`` (``"li"`` only).
    """

    hidden: tuple[ExactLayer, ...]
    out_w: F64
    out_tau_mem_s: float = 20e-3
    out_tau_syn_s: float = 5e-3
    out_kind: Literal["li", "lif"] = "li"
    out_threshold: float = 1.0
    out_v_reset: float = 0.0
    out_bias: F64 | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        object.__setattr__(self, "out_w", _as_f64(self.out_w, "out_w", 2))
        for l_idx in range(1, len(self.hidden)):
            if self.hidden[l_idx].w_ff.shape[0] != self.hidden[l_idx - 1].n:
                raise ValueError(
                    f"hidden[{l_idx}].w_ff has {self.hidden[l_idx].w_ff.shape[0]} rows but "
                    f"hidden[{l_idx - 1}] has {self.hidden[l_idx - 1].n} neurons"
                )
        if self.hidden and self.out_w.shape[0] != self.hidden[-1].n:
            raise ValueError(
                f"out_w has {self.out_w.shape[0]} rows but the last hidden layer has "
                f"{self.hidden[-1].n} neurons"
            )
        if self.out_kind not in ("li", "lif"):
            raise ValueError(f"out_kind must be 'li' or 'lif', got {self.out_kind!r}")
        if self.out_bias is not None:
            if self.out_kind != "li":
                raise ValueError("out_bias is only supported for out_kind='li'")
            bias = _as_f64(self.out_bias, "out_bias", 1)
            if bias.shape != (self.n_out,):
                raise ValueError(f"out_bias must have shape {(self.n_out,)}, got {bias.shape}")
            object.__setattr__(self, "out_bias", bias)
        if self.out_kind == "lif":
            _check_lif_params(
                "ExactNetwork output",
                self.out_tau_mem_s,
                self.out_tau_syn_s,
                self.out_threshold,
                self.out_v_reset,
            )
        elif not (self.out_tau_mem_s > 0.0 and self.out_tau_syn_s > 0.0):
            raise ValueError("output time constants must be > 0 s")

    @property
    def n_inputs(self) -> int:
        """Number of input channels."""
        return int(self.hidden[0].w_ff.shape[0] if self.hidden else self.out_w.shape[0])

    @property
    def n_out(self) -> int:
        """Number of output neurons."""
        return int(self.out_w.shape[1])


# --------------------------------------------------------------------------------------------
# Closed-form kernels
# --------------------------------------------------------------------------------------------
def _phi(x: float) -> float:
    """``expm1(x) / x`` (1 at 0)."""
    if abs(x) < 1e-5:
        return 1.0 + x * (0.5 + x / 6.0)
    return math.expm1(x) / x


def _psi(x: float) -> float:
    """``log1p(x) / x`` for ``x > -1`` (1 at 0)."""
    if abs(x) < 1e-5:
        return 1.0 - x * (0.5 - x / 3.0)
    return math.log1p(x) / x


def _kick(s: float, tau_x: float, tau_y: float) -> float:
    r"""Response ``x(s)`` of ``tau_x x' = -x + y``, ``tau_y y' = -y`` to ``x(0)=0, y(0)=1``.

    ``tau_y/(tau_y - tau_x) (e^{-s/tau_y} - e^{-s/tau_x})``, evaluated without cancellation
    (limit ``(s/tau) e^{-s/tau}`` for equal time constants). Forward ``V`` response to ``I``:
    ``_kick(s, tau_m, tau_s)``; adjoint ``lambda_i`` response to ``lambda_v``:
    ``_kick(s, tau_s, tau_m)``.
    """
    x = s * (1.0 / tau_x - 1.0 / tau_y)
    if abs(x) <= 0.5:
        return (s / tau_x) * math.exp(-s / tau_x) * _phi(x)
    return tau_y / (tau_y - tau_x) * (math.exp(-s / tau_y) - math.exp(-s / tau_x))


def _kick_arr(s: F64, tau_x: float, tau_y: float) -> F64:
    """Vectorised :func:`_kick`."""
    s = np.asarray(s, dtype=np.float64)
    x = s * (1.0 / tau_x - 1.0 / tau_y)
    out = np.empty_like(s)
    small = np.abs(x) <= 0.5
    xs = x[small]
    tiny = np.abs(xs) < 1e-5
    safe = np.where(tiny, 1.0, xs)
    phi = np.where(tiny, 1.0 + xs * (0.5 + xs / 6.0), np.expm1(safe) / safe)
    ss = s[small]
    out[small] = (ss / tau_x) * np.exp(-ss / tau_x) * phi
    sl = s[~small]
    if sl.size:
        out[~small] = tau_y / (tau_y - tau_x) * (np.exp(-sl / tau_y) - np.exp(-sl / tau_x))
    return out


def _v_scalar(v0: float, i0: float, c: float, s: float, tm: float, ts: float) -> float:
    return c + (v0 - c) * math.exp(-s / tm) + i0 * _kick(s, tm, ts)


def _peak_time(v0: float, i0: float, c: float, tm: float, ts: float) -> float:
    r"""Time ``s* > 0`` of the interior maximum of ``V(s)`` (``inf`` if ``V`` keeps rising).

    Only called with ``dV/ds(0) > 0`` (``i0 > v0 - c``). ``dV/ds = 0`` reduces to
    ``e^{s (1/tau_m - 1/tau_s)} = 1 + x`` with
    ``x = (tau_s - tau_m)(I0 - V0 + b) / (I0 tau_m)``, i.e.
    ``s* = tau_s (I0 - V0 + b)/I0 * log1p(x)/x`` (``tau_s (I0 - V0 + b)/I0`` when
    ``tau_m == tau_s``). There is no root if ``I0 <= 0`` or ``x <= -1``.
    """
    if i0 <= 0.0:
        return math.inf
    drive = i0 - v0 + c
    x = (ts - tm) * drive / (i0 * tm)
    if x <= -1.0:
        return math.inf
    return ts * drive / i0 * _psi(x)


def _solve_crossing(
    v0: float, i0: float, tm: float, ts: float, theta: float, lo: float, hi: float
) -> float:
    """Root of ``V(s) = theta`` in ``[lo, hi]`` with ``V(lo) < theta <= V(hi)`` and exactly one
    root there: Newton's method on the analytic ``V`` (``tau_m dV/ds = I - V``), safeguarded by
    bisection of the bracket, to machine precision."""
    em_lo = math.exp(-lo / tm)
    a, b = lo, hi
    fa = v0 * em_lo + i0 * _kick(lo, tm, ts) - theta
    fb = v0 * math.exp(-hi / tm) + i0 * _kick(hi, tm, ts) - theta
    if fb == 0.0:
        return hi
    x = a - fa * (b - a) / (fb - fa)
    for _ in range(200):
        v = v0 * math.exp(-x / tm) + i0 * _kick(x, tm, ts)
        fx = v - theta
        if fx == 0.0:
            return x
        if fx < 0.0:
            a = x
        else:
            b = x
        dfx = (i0 * math.exp(-x / ts) - v) / tm
        xn = x - fx / dfx if dfx > 0.0 else math.nan
        if not a < xn < b:
            xn = 0.5 * (a + b)
            if not a < xn < b:  # bracket exhausted at machine resolution
                return x
        if abs(xn - x) <= _ROOT_RTOL * abs(xn) + _ROOT_XTOL:
            return xn
        x = xn

    return x


def _first_crossing(
    v0: float, i0: float, h: float, tm: float, ts: float, theta: float, v_end: float
) -> float | None:
    """First ``s`` in ``[0, h]`` with ``V(s) = theta`` crossing upwards, or ``None``.

    ``v_end = V(h)`` (precomputed by the caller). ``V`` has at most one extremum on the
    interval: if ``V(h) >= theta`` the crossing is unique in ``[0, h]`` (before a minimum ``V``
    stays below ``V0``; after a maximum that is above threshold ``V`` stays above it until
    ``h``); otherwise a crossing exists only if an interior maximum reaches ``theta``, and the
    first crossing is bracketed by ``[0, s_max]``.
    """
    if v0 >= theta:
        return 0.0
    if h <= 0.0:
        return None
    if v_end >= theta:
        return _solve_crossing(v0, i0, tm, ts, theta, 0.0, h)
    if i0 <= v0:
        return None
    s_pk = _peak_time(v0, i0, 0.0, tm, ts)
    if s_pk >= h:
        return None
    if _v_scalar(v0, i0, 0.0, s_pk, tm, ts) < theta:
        return None
    return _solve_crossing(v0, i0, tm, ts, theta, 0.0, s_pk)


# --------------------------------------------------------------------------------------------
# Traces
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LayerTrace:
    """Exact record of one layer (hidden or output) for one sample.

    Attributes:
        tau_mem_s, tau_syn_s, bias: dynamics (``bias [n]``, zeros unless an LI output bias).
        threshold, v_reset: ``nan`` for a leaky-integrator output.
        in_t, in_src: deliveries into the layer, ``[Q]`` time-sorted times (s) and presynaptic
            ids (input channels, or neurons of the layer below, in that layer's spike order).
            Undelayed layer: one delivery per presynaptic spike, adding the whole weight row
            (recurrent rows are added at the spike times and are not listed). Delayed layer:
            one *arrival* per (presynaptic spike, target neuron) at ``t_k + d``, feed-forward
            and recurrent ones (then ``in_src`` is a neuron of this layer), see ``in_post``.
        spike_t, spike_neuron: own spikes ``[S]`` (time-sorted).
        spike_i: ``I`` of the spiking neuron just before the spike (so
            ``tau_m dV/dt^- = spike_i - theta``).
        seg_t, seg_v, seg_i: ``[K]``, ``[K, n]``, ``[K, n]``: state right after each event
            (``seg_t[0] = 0``); the trajectory is closed-form in between (right-continuous).
        seg_delivery: ``[K]`` index into ``in_t`` of the first delivery that opened the segment,
            ``-1`` for the start and for own-spike events.
        duration_s: ``T``.
        in_post: delayed layers only (else ``None``): ``[Q]`` target neuron of each arrival.
        in_rec: delayed layers only: ``[Q]`` whether the arrival is recurrent.
        in_spike: delayed layers only: ``[Q]`` index of the spike that caused the arrival, into
            the layer's presynaptic event list for feed-forward arrivals (the time-sorted
            input events kept by :func:`simulate`, or the ``spike_t`` list of the layer below)
            and into this layer's ``spike_t`` for recurrent ones.
        in_rank: delayed layers only: ``[Q]`` number of spikes the target had emitted when the
            arrival was delivered (its place among the target's own spikes).
    """

    n: int
    tau_mem_s: float
    tau_syn_s: float
    bias: F64
    threshold: float
    v_reset: float
    in_t: F64
    in_src: I64
    spike_t: F64
    spike_neuron: I64
    spike_i: F64
    seg_t: F64
    seg_v: F64
    seg_i: F64
    seg_delivery: I64
    duration_s: float
    in_post: I64 | None = None
    in_rec: npt.NDArray[np.bool_] | None = None
    in_spike: I64 | None = None
    in_rank: I64 | None = None

    @property
    def delayed(self) -> bool:
        """Whether the layer was simulated with synaptic delays (per-target arrivals)."""
        return self.in_post is not None

    def spike_times(self) -> list[F64]:
        """Sorted spike times (s) per neuron: a list of ``n`` arrays."""
        return [self.spike_t[self.spike_neuron == j] for j in range(self.n)]

    def spike_counts(self) -> I64:
        """Spike count per neuron ``[n]``."""
        return np.bincount(self.spike_neuron, minlength=self.n).astype(np.int64)

    def state(self, t: npt.ArrayLike) -> tuple[F64, F64]:
        """``V(t), I(t)`` at the times ``t`` (s, in ``[0, T]``): two ``[len(t), n]`` arrays.

        Right-continuous: at an event time the state after the event (after a reset) is given.
        """
        tt = np.atleast_1d(np.asarray(t, dtype=np.float64))
        if tt.ndim != 1:
            raise ValueError("t must be a scalar or a 1-D array of times")
        idx = np.clip(np.searchsorted(self.seg_t, tt, side="right") - 1, 0, None)
        s = (tt - self.seg_t[idx])[:, None]
        v0 = self.seg_v[idx]
        i0 = self.seg_i[idx]
        v = (
            self.bias
            + (v0 - self.bias) * np.exp(-s / self.tau_mem_s)
            + i0 * _kick_arr(np.broadcast_to(s, v0.shape).copy(), self.tau_mem_s, self.tau_syn_s)
        )
        i = i0 * np.exp(-s / self.tau_syn_s)
        return v, i

    def segment_ends(self) -> F64:
        """End time of each segment ``[K]`` (the next event time, ``T`` for the last)."""
        return np.append(self.seg_t[1:], self.duration_s)

    def left_state(self) -> tuple[F64, F64]:
        """State at the end of each segment, before the next event (left limits) ``[K, n]``."""
        s = (self.segment_ends() - self.seg_t)[:, None]
        s_full = np.broadcast_to(s, self.seg_v.shape).copy()
        v = (
            self.bias
            + (self.seg_v - self.bias) * np.exp(-s / self.tau_mem_s)
            + (self.seg_i * _kick_arr(s_full, self.tau_mem_s, self.tau_syn_s))
        )
        return v, self.seg_i * np.exp(-s / self.tau_syn_s)


@dataclass(frozen=True, eq=False)
class ExactTrace:
    """Exact simulation of one sample: the network, its input, and a :class:`LayerTrace` per
    hidden layer and for the output."""

    net: ExactNetwork
    duration_s: float
    input_times_s: F64
    input_channels: I64
    hidden: tuple[LayerTrace, ...]
    output: LayerTrace

    def hidden_spike_times(self, layer: int) -> list[F64]:
        """Sorted spike times (s) of each neuron of hidden layer ``layer``."""
        return self.hidden[layer].spike_times()

    def output_spike_times(self) -> list[F64]:
        """Sorted output spike times per neuron (empty arrays for an LI output)."""
        return self.output.spike_times()

    def output_voltage(self, t: npt.ArrayLike) -> F64:
        """Output ``V(t)`` ``[len(t), n_out]`` (right-continuous at resets)."""
        return self.output.state(t)[0]

    def output_current(self, t: npt.ArrayLike) -> F64:
        """Output ``I(t)`` ``[len(t), n_out]``."""
        return self.output.state(t)[1]

    def spike_counts(self) -> tuple[I64, ...]:
        """Spike counts per neuron of every hidden layer, then of the output (zeros for LI)."""
        return (*(lt.spike_counts() for lt in self.hidden), self.output.spike_counts())


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------
def _earliest_crossing(
    v: Sequence[float], cur: Sequence[float], h: float, tm: float, ts: float, theta: float
) -> tuple[float, int]:
    """Earliest threshold crossing within ``h`` seconds over the neurons of a layer whose state
    is ``(v, cur)``: ``(time after now, neuron)``, ``(inf, -1)`` if none."""
    best_s = math.inf
    best_j = -1
    em = math.exp(-h / tm)
    kk = _kick(h, tm, ts)
    for j in range(len(v)):
        s = _first_crossing(v[j], cur[j], h, tm, ts, theta, v[j] * em + cur[j] * kk)
        if s is not None and s < best_s:
            best_s, best_j = s, j
    return best_s, best_j


def _count_spike(counts: list[int], j: int, max_spikes: int, name: str, t: float) -> None:
    """Count a spike of neuron ``j``; more than ``max_spikes`` is an error (runaway dynamics)."""
    counts[j] += 1
    if counts[j] > max_spikes:
        raise RuntimeError(
            f"exact simulator: neuron {j} of {name} fired more than {max_spikes} "
            f"spikes by t = {t:.9g} s (runaway dynamics?); raise max_spikes_per_neuron "
            "if this is intended"
        )


def _simulate_layer(
    *,
    name: str,
    in_t: F64,
    in_src: I64,
    w_ff: F64,
    w_rec: F64 | None,
    tm: float,
    ts: float,
    theta: float | None,
    v_reset: float,
    bias: F64,
    duration_s: float,
    max_spikes: int,
) -> LayerTrace:
    n = int(w_ff.shape[1])
    spiking = theta is not None
    th = float(theta) if theta is not None else math.inf
    w_rows = w_ff.tolist()
    rec_rows = w_rec.tolist() if w_rec is not None else None
    c = bias.tolist()
    v = [0.0] * n
    cur = [0.0] * n
    seg_t: list[float] = [0.0]
    seg_v: list[list[float]] = [list(v)]
    seg_i: list[list[float]] = [list(cur)]
    seg_del: list[int] = [-1]
    sp_t: list[float] = []
    sp_n: list[int] = []
    sp_i: list[float] = []
    counts = [0] * n
    times = in_t.tolist()
    srcs = in_src.tolist()
    n_in = len(times)
    t = 0.0
    k = 0

    def advance(s: float) -> None:
        em = math.exp(-s / tm)
        es = math.exp(-s / ts)
        kk = _kick(s, tm, ts)
        for j in range(n):
            v[j] = c[j] + (v[j] - c[j]) * em + cur[j] * kk
            cur[j] = cur[j] * es

    while True:
        t_next = times[k] if k < n_in else duration_s
        h = max(t_next - t, 0.0)
        best_s, best_j = (
            _earliest_crossing(v, cur, h, tm, ts, th) if spiking else (math.inf, -1)
        )
        if best_j >= 0:
            advance(best_s)
            t = min(t + best_s, t_next)
            sp_t.append(t)
            sp_n.append(best_j)
            sp_i.append(cur[best_j])
            _count_spike(counts, best_j, max_spikes, name, t)
            v[best_j] = v_reset
            if rec_rows is not None:
                row = rec_rows[best_j]
                for m in range(n):
                    cur[m] += row[m]
            seg_t.append(t)
            seg_v.append(list(v))
            seg_i.append(list(cur))
            seg_del.append(-1)
            continue
        advance(h)
        t = t_next
        if k >= n_in:
            break
        first = k
        while k < n_in and times[k] == t_next:
            row = w_rows[srcs[k]]
            for m in range(n):
                cur[m] += row[m]
            k += 1
        seg_t.append(t)
        seg_v.append(list(v))
        seg_i.append(list(cur))
        seg_del.append(first)

    return LayerTrace(
        n=n,
        tau_mem_s=tm,
        tau_syn_s=ts,
        bias=bias.copy(),
        threshold=th if spiking else math.nan,
        v_reset=v_reset if spiking else math.nan,
        in_t=in_t.copy(),
        in_src=in_src.copy(),
        spike_t=np.asarray(sp_t, dtype=np.float64),
        spike_neuron=np.asarray(sp_n, dtype=np.int64),
        spike_i=np.asarray(sp_i, dtype=np.float64),
        seg_t=np.asarray(seg_t, dtype=np.float64),
        seg_v=np.asarray(seg_v, dtype=np.float64).reshape(-1, n),
        seg_i=np.asarray(seg_i, dtype=np.float64).reshape(-1, n),
        seg_delivery=np.asarray(seg_del, dtype=np.int64),
        duration_s=duration_s,
    )


def _simulate_layer_delayed(
    *,
    name: str,
    pre_t: F64,
    pre_src: I64,
    w_ff: F64,
    d_ff: F64,
    w_rec: F64 | None,
    d_rec: F64 | None,
    tm: float,
    ts: float,
    theta: float,
    v_reset: float,
    duration_s: float,
    max_spikes: int,
) -> LayerTrace:
    r"""Exact event loop of a hidden LIF layer with synaptic delays.

    ``pre_t, pre_src`` ``[P]``: the time-sorted presynaptic events (input spikes or the spikes
    of the layer below). Presynaptic event ``p`` reaches neuron ``j`` at
    ``pre_t[p] + d_ff[pre_src[p], j]``; a spike of neuron ``n`` of this layer at ``t_p`` reaches
    ``m`` at ``t_p + d_rec[n, m]``. Arrivals later than ``T`` are dropped. The feed-forward
    arrivals are known in advance (one stable sort); the recurrent ones are pushed on a heap as
    the spikes occur. The loop: deliver every arrival due at the current time ``t`` (recurrent
    before feed-forward at equal times; ``I_j += w``), then advance all neurons in closed form to
    the earlier of the next arrival (or ``T``) and the first threshold crossing (found exactly
    as in the undelayed loop). A spike records ``I^-``, resets ``V`` and pushes its recurrent
    arrivals; those with zero delay are delivered at the spike time, right after it.
    """
    n = int(w_ff.shape[1])
    # feed-forward arrivals, one per (presynaptic event, target), in exact time order
    arr = pre_t[:, None] + d_ff[pre_src]  # [P, n]
    p_idx, j_idx = np.nonzero(arr <= duration_s)  # event-major, then target
    ff_time = arr[p_idx, j_idx]
    order = np.argsort(ff_time, kind="stable")
    p_idx, j_idx = p_idx[order], j_idx[order]
    ff_t: list[float] = ff_time[order].tolist()
    ff_post: list[int] = j_idx.tolist()
    ff_spk: list[int] = p_idx.tolist()
    ff_src: list[int] = pre_src[p_idx].tolist()
    ff_w: list[float] = w_ff[pre_src[p_idx], j_idx].tolist()
    n_ff = len(ff_t)
    rec_w = w_rec.tolist() if w_rec is not None else None
    rec_d = (d_rec if d_rec is not None else np.zeros((n, n))).tolist()
    # recurrent arrivals: (time, push order, source neuron, target, spike index, weight)
    heap: list[tuple[float, int, int, int, int, float]] = []
    n_pushed = 0

    v = [0.0] * n
    cur = [0.0] * n
    seg_t: list[float] = [0.0]
    seg_v: list[list[float]] = [list(v)]
    seg_i: list[list[float]] = [list(cur)]
    seg_del: list[int] = [-1]
    sp_t: list[float] = []
    sp_n: list[int] = []
    sp_i: list[float] = []
    counts = [0] * n
    a_t: list[float] = []
    a_src: list[int] = []
    a_post: list[int] = []
    a_rec: list[bool] = []
    a_spk: list[int] = []
    a_rank: list[int] = []
    t = 0.0
    k = 0
    after_spike = False

    def advance(s: float) -> None:
        em = math.exp(-s / tm)
        es = math.exp(-s / ts)
        kk = _kick(s, tm, ts)
        for j in range(n):
            v[j] = v[j] * em + cur[j] * kk
            cur[j] = cur[j] * es

    while True:
        first = -1
        while True:  # deliver every arrival due at t
            t_ff = ff_t[k] if k < n_ff else math.inf
            t_rc = heap[0][0] if heap else math.inf
            if t_rc <= t and t_rc <= t_ff:
                t_a, _, src, post, spk, w = heapq.heappop(heap)
                rec = True
            elif t_ff <= t:
                t_a, src, post, spk, w = t_ff, ff_src[k], ff_post[k], ff_spk[k], ff_w[k]
                rec = False
                k += 1
            else:
                break
            if first < 0:
                first = len(a_t)
            cur[post] += w
            a_t.append(t_a)
            a_src.append(src)
            a_post.append(post)
            a_rec.append(rec)
            a_spk.append(spk)
            a_rank.append(counts[post])
        if first >= 0 or after_spike:
            seg_t.append(t)
            seg_v.append(list(v))
            seg_i.append(list(cur))
            seg_del.append(-1 if after_spike else first)
            after_spike = False
        t_next = min(
            ff_t[k] if k < n_ff else math.inf, heap[0][0] if heap else math.inf, duration_s
        )
        h = max(t_next - t, 0.0)
        best_s, best_j = _earliest_crossing(v, cur, h, tm, ts, theta)
        if best_j >= 0:
            advance(best_s)
            t = min(t + best_s, t_next)
            sp_t.append(t)
            sp_n.append(best_j)
            sp_i.append(cur[best_j])
            _count_spike(counts, best_j, max_spikes, name, t)
            v[best_j] = v_reset
            if rec_w is not None:
                row_w, row_d = rec_w[best_j], rec_d[best_j]
                p = len(sp_t) - 1
                for m in range(n):
                    t_a = t + row_d[m]
                    if t_a <= duration_s:
                        heapq.heappush(heap, (t_a, n_pushed, best_j, m, p, row_w[m]))
                        n_pushed += 1
            after_spike = True
            continue
        advance(h)
        t = t_next
        if k >= n_ff and not heap:
            break

    return LayerTrace(
        n=n,
        tau_mem_s=tm,
        tau_syn_s=ts,
        bias=np.zeros(n),
        threshold=theta,
        v_reset=v_reset,
        in_t=np.asarray(a_t, dtype=np.float64),
        in_src=np.asarray(a_src, dtype=np.int64),
        spike_t=np.asarray(sp_t, dtype=np.float64),
        spike_neuron=np.asarray(sp_n, dtype=np.int64),
        spike_i=np.asarray(sp_i, dtype=np.float64),
        seg_t=np.asarray(seg_t, dtype=np.float64),
        seg_v=np.asarray(seg_v, dtype=np.float64).reshape(-1, n),
        seg_i=np.asarray(seg_i, dtype=np.float64).reshape(-1, n),
        seg_delivery=np.asarray(seg_del, dtype=np.int64),
        duration_s=duration_s,
        in_post=np.asarray(a_post, dtype=np.int64),
        in_rec=np.asarray(a_rec, dtype=np.bool_),
        in_spike=np.asarray(a_spk, dtype=np.int64),
        in_rank=np.asarray(a_rank, dtype=np.int64),
    )


def events_from_binned(x: npt.ArrayLike, dt_s: float) -> tuple[F64, I64]:
    """Input events of a binned input ``x [n_steps, n_inputs]`` (spike counts per bin): bin
    ``n`` becomes ``x[n, c]`` spikes of channel ``c`` at time ``n * dt_s`` (the grid convention
    of ``docs/design.md``: events of bin ``n`` act at ``t_n``). Returns ``(times_s, channels)``
    sorted by time, for :func:`simulate`."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"x must be [n_steps, n_inputs], got shape {arr.shape}")
    counts = np.rint(arr).astype(np.int64)
    if np.any(counts < 0) or not np.allclose(arr, counts):
        raise ValueError("x must hold non-negative integer spike counts")
    steps, chans = np.nonzero(counts)
    reps = counts[steps, chans]
    times = np.repeat(steps.astype(np.float64) * dt_s, reps)
    return times, np.repeat(chans.astype(np.int64), reps)


def simulate(
    net: ExactNetwork,
    input_times_s: npt.ArrayLike,
    input_channels: npt.ArrayLike,
    duration_s: float,
    *,
    max_spikes_per_neuron: int = 10_000,
) -> ExactTrace:
    """Exact event-driven simulation of one sample over ``[0, duration_s]``.

    Args:
        net: the network.
        input_times_s: ``[E]`` input spike times (s); those outside ``[0, T]`` are ignored.
        input_channels: ``[E]`` input channel of each spike (``0 <= c < net.n_inputs``).
        duration_s: trial length ``T`` (s).
        max_spikes_per_neuron: runaway guard; exceeding it raises ``RuntimeError`` naming the
            layer and neuron.

    Returns:
        :class:`ExactTrace` with exact spike times per layer and the closed-form output
        trajectory (``trace.output_voltage(t)``, ``trace.output_current(t)``). Hidden layers with
        delays (``ExactLayer.delayed``) are simulated by :func:`_simulate_layer_delayed`
        (per-target arrivals at ``t_k + d``, arrivals after ``T`` dropped), the others by the
        undelayed loop, unchanged.
    """
    if not duration_s > 0.0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    t_in = np.asarray(input_times_s, dtype=np.float64).reshape(-1)
    ch = np.asarray(input_channels).reshape(-1)
    if t_in.shape != ch.shape:
        raise ValueError("input_times_s and input_channels must have the same length")
    if ch.size and not np.issubdtype(ch.dtype, np.integer):
        if not np.all(ch == np.round(ch)):
            raise ValueError("input_channels must be integers")
    ch = ch.astype(np.int64)
    if ch.size and (ch.min() < 0 or ch.max() >= net.n_inputs):
        raise ValueError(f"input_channels must lie in [0, {net.n_inputs})")
    if not np.all(np.isfinite(t_in)):
        raise ValueError("input_times_s must be finite")
    keep = (t_in >= 0.0) & (t_in <= duration_s)
    t_in, ch = t_in[keep], ch[keep]
    order = np.argsort(t_in, kind="stable")
    t_in, ch = t_in[order], ch[order]

    hidden: list[LayerTrace] = []
    cur_t, cur_src = t_in, ch
    for l_idx, layer in enumerate(net.hidden):
        if layer.delayed:
            lt = _simulate_layer_delayed(
                name=f"hidden layer {l_idx}",
                pre_t=cur_t,
                pre_src=cur_src,
                w_ff=layer.w_ff,
                d_ff=layer.d_ff if layer.d_ff is not None else np.zeros_like(layer.w_ff),
                w_rec=layer.w_rec,
                d_rec=layer.d_rec,
                tm=float(layer.tau_mem_s),
                ts=float(layer.tau_syn_s),
                theta=float(layer.threshold),
                v_reset=float(layer.v_reset),
                duration_s=float(duration_s),
                max_spikes=max_spikes_per_neuron,
            )
            hidden.append(lt)
            cur_t, cur_src = lt.spike_t, lt.spike_neuron
            continue
        lt = _simulate_layer(
            name=f"hidden layer {l_idx}",
            in_t=cur_t,
            in_src=cur_src,
            w_ff=layer.w_ff,
            w_rec=layer.w_rec,
            tm=float(layer.tau_mem_s),
            ts=float(layer.tau_syn_s),
            theta=float(layer.threshold),
            v_reset=float(layer.v_reset),
            bias=np.zeros(layer.n),
            duration_s=float(duration_s),
            max_spikes=max_spikes_per_neuron,
        )
        hidden.append(lt)
        cur_t, cur_src = lt.spike_t, lt.spike_neuron
    bias = net.out_bias if net.out_bias is not None else np.zeros(net.n_out)
    out = _simulate_layer(
        name="the output layer",
        in_t=cur_t,
        in_src=cur_src,
        w_ff=net.out_w,
        w_rec=None,
        tm=float(net.out_tau_mem_s),
        ts=float(net.out_tau_syn_s),
        theta=float(net.out_threshold) if net.out_kind == "lif" else None,
        v_reset=float(net.out_v_reset),
        bias=np.asarray(bias, dtype=np.float64),
        duration_s=float(duration_s),
        max_spikes=max_spikes_per_neuron,
    )
    return ExactTrace(
        net=net,
        duration_s=float(duration_s),
        input_times_s=t_in,
        input_channels=ch,
        hidden=tuple(hidden),
        output=out,
    )


# --------------------------------------------------------------------------------------------
# Readouts
# --------------------------------------------------------------------------------------------
def _weight_fn(weight: IntegralWeight, t: F64, duration_s: float) -> F64:
    """Readout weight ``w(t)`` of the integral readouts."""
    x = t / duration_s
    if weight == "avg":
        return np.ones_like(x)
    if weight == "exp":
        return np.exp(-x)
    if weight == "linear":
        return 1.0 - x
    if weight == "sigmoid":
        return 0.5 * (1.0 - np.tanh((x - 0.5) / 0.4))  # = 1 / (1 + exp((x - 0.5) / 0.2))
    raise ValueError(f"unknown integral weight {weight!r}; expected one of {_INTEGRAL_KINDS}")


def _weight_integral(weight: IntegralWeight, duration_s: float) -> float:
    """``int_0^T w(t) dt`` in closed form."""
    t_len = duration_s
    if weight == "avg":
        return t_len
    if weight == "exp":
        return t_len * -math.expm1(-1.0)
    if weight == "linear":
        return 0.5 * t_len
    if weight == "sigmoid":
        # int 1/(1+e^x) dx = -log(1+e^{-x}), x = (t/T - 0.5)/0.2 in [-2.5, 2.5]
        a = 2.5
        return 0.2 * t_len * (float(np.logaddexp(0.0, a)) - float(np.logaddexp(0.0, -a)))
    raise ValueError(f"unknown integral weight {weight!r}")


def _gl_nodes(breaks: F64, h_max: float) -> tuple[F64, F64]:
    """Gauss-Legendre nodes/weights (16 per piece) on each ``[breaks[k], breaks[k+1]]``,
    split into equal pieces no longer than ``h_max``."""
    a = breaks[:-1]
    h = np.diff(breaks)
    keep = h > 0.0
    a, h = a[keep], h[keep]
    m = np.maximum(1, np.ceil(h / h_max)).astype(np.int64)
    seg = np.repeat(np.arange(a.size), m)
    piece = np.arange(seg.size) - np.repeat(np.cumsum(m) - m, m)
    width = (h / m)[seg]
    left = a[seg] + piece * width
    half = 0.5 * width[:, None]
    nodes = (left[:, None] + half * (1.0 + _GL_NODES[None, :])).ravel()
    weights = (half * _GL_WEIGHTS[None, :]).ravel()
    return nodes, weights


def _integral_quadrature(trace: ExactTrace, weight: IntegralWeight) -> F64:
    """``(1/T) int_0^T w(t) V(t) dt`` by piecewise Gauss-Legendre quadrature (used for the
    sigmoid weight, and as an independent check of the closed forms)."""
    out = trace.output
    t_len = trace.duration_s
    h_max = min(out.tau_mem_s, out.tau_syn_s, 0.1 * t_len)
    breaks = np.append(out.seg_t, t_len)
    nodes, wts = _gl_nodes(breaks, h_max)
    v = out.state(nodes)[0]
    res: F64 = (wts * _weight_fn(weight, nodes, t_len)) @ v / t_len
    return res


def integral(trace: ExactTrace, weight: IntegralWeight) -> F64:
    r"""Weighted time average of the output voltage, ``[n_out]``:

    .. math:: z_k = \frac{1}{T}\int_0^T w(t) V_k(t)\,dt

    with ``w = 1`` (``"avg"``), ``e^{-t/T}`` (``"exp"``), ``1 - t/T`` (``"linear"``) or
    ``1/(1 + e^{(t/T - 1/2)/0.2})`` (``"sigmoid"``). The first three are exact closed forms per
    inter-event segment, obtained by integrating the ODE
    (e.g. ``int V = tau_s (I_0 - I_1) + b h - tau_m (V_1 - V_0)``); the sigmoid uses 16-point
    Gauss-Legendre quadrature on pieces no longer than ``min(tau_m, tau_s, T/10)``
    (converged to rounding).
    """
    if weight == "sigmoid":
        return _integral_quadrature(trace, weight)
    out = trace.output
    t_len = trace.duration_s
    tm, ts = out.tau_mem_s, out.tau_syn_s
    c = out.bias[None, :]
    t0 = out.seg_t[:, None]
    t1 = out.segment_ends()[:, None]
    v0, i0 = out.seg_v, out.seg_i
    v1, i1 = out.left_state()
    h = t1 - t0
    int_i = ts * (i0 - i1)
    int_v = int_i + c * h - tm * (v1 - v0)
    if weight == "avg":
        seg = int_v
    elif weight == "exp":
        w0, w1 = np.exp(-t0 / t_len), np.exp(-t1 / t_len)
        int_wi = ts * (w0 * i0 - w1 * i1) / (1.0 + ts / t_len)
        int_w = t_len * (w0 - w1)
        seg = (int_wi + c * int_w - tm * (w1 * v1 - w0 * v0)) / (1.0 + tm / t_len)
    elif weight == "linear":
        w0, w1 = 1.0 - t0 / t_len, 1.0 - t1 / t_len
        int_wi = -ts * (w1 * i1 - w0 * i0) - (ts / t_len) * int_i
        int_w = h * 0.5 * (w0 + w1)
        seg = int_wi + c * int_w - tm * (w1 * v1 - w0 * v0) - (tm / t_len) * int_v
    else:
        raise ValueError(f"unknown integral weight {weight!r}; expected one of {_INTEGRAL_KINDS}")
    res: F64 = seg.sum(axis=0) / t_len
    return res


class MaxVoltage(NamedTuple):
    """Result of :func:`max_voltage` (arrays ``[n_out]``).

    ``where``: 0 = at ``t = 0``, 1 = interior maximum of a segment, 2 = at the end of a segment
    (an event time, or ``T``); ``segment``: index of that segment in ``trace.output.seg_t``.
    """

    value: F64
    time_s: F64
    segment: I64
    where: I64


def max_voltage(trace: ExactTrace) -> MaxVoltage:
    """Exact ``max_{t in [0, T]} V_k(t)`` per output neuron, with the (earliest) arg-max time.

    Candidates per segment: its end (left limit), and its interior maximum located in closed
    form (``V`` has at most one extremum between events); plus ``t = 0``.
    """
    out = trace.output
    tm, ts = out.tau_mem_s, out.tau_syn_s
    n = out.n
    ends = out.segment_ends()
    v_end = out.left_state()[0]
    best_v = out.seg_v[0].copy()
    best_t = np.zeros(n)
    best_seg = np.zeros(n, dtype=np.int64)
    best_where = np.zeros(n, dtype=np.int64)
    for k in range(out.seg_t.size):
        h = float(ends[k] - out.seg_t[k])
        if h <= 0.0:
            continue
        for j in range(n):
            v0 = float(out.seg_v[k, j])
            i0 = float(out.seg_i[k, j])
            cj = float(out.bias[j])
            if i0 > v0 - cj:
                s_pk = _peak_time(v0, i0, cj, tm, ts)
                if s_pk < h:
                    v_pk = _v_scalar(v0, i0, cj, s_pk, tm, ts)
                    if v_pk > best_v[j]:
                        best_v[j] = v_pk
                        best_t[j] = out.seg_t[k] + s_pk
                        best_seg[j] = k
                        best_where[j] = 1
            if v_end[k, j] > best_v[j]:
                best_v[j] = v_end[k, j]
                best_t[j] = ends[k]
                best_seg[j] = k
                best_where[j] = 2
    return MaxVoltage(best_v, best_t, best_seg, best_where)


def first_spike_times(trace: ExactTrace) -> F64:
    """First spike time (s) of each output neuron ``[n_out]`` (LIF output); ``+inf`` if silent."""
    if trace.net.out_kind != "lif":
        raise ValueError("first_spike_times needs out_kind='lif'")
    out = trace.output
    res = np.full(out.n, np.inf)
    for p in range(out.spike_t.size - 1, -1, -1):
        res[out.spike_neuron[p]] = out.spike_t[p]
    return res


def readout(trace: ExactTrace, kind: ReadoutKind) -> F64:
    """Dispatch: ``"avg" | "exp" | "linear" | "sigmoid"`` -> :func:`integral`, ``"max"`` ->
    :func:`max_voltage` values, ``"first_spike"`` -> :func:`first_spike_times`. ``[n_out]``."""
    if kind in _INTEGRAL_KINDS:
        return integral(trace, kind)  # type: ignore[arg-type]
    if kind == "max":
        return max_voltage(trace).value
    if kind == "first_spike":
        return first_spike_times(trace)
    raise ValueError(f"unknown readout {kind!r}; expected one of {_READOUT_KINDS}")


def _occurrence_rank(ids: I64) -> I64:
    """``rank[e]`` = number of earlier entries equal to ``ids[e]`` (k-th spike of a neuron)."""
    seen: dict[int, int] = {}
    rank = np.empty(ids.size, dtype=np.int64)
    for e, i in enumerate(ids.tolist()):
        rank[e] = seen.get(i, 0)
        seen[i] = rank[e] + 1
    return rank


def readout_signature(trace: ExactTrace, kind: ReadoutKind) -> Hashable:
    """Hashable summary of the discrete structure of a simulation.

    Per spiking layer: the spike count of every neuron, for a recurrent layer the whole
    sequence of spiking neurons, and the interleaving of the deliveries into the layer with its
    own spikes (a delivery, or a recurrent spike, that moves across a spike of its target
    changes ``dV/dt`` at that crossing: a kink of the spike time, e.g. at the ties of identical
    neurons); for ``"max"`` also the arg-max segment and position of each output. Within one
    signature the loss is a smooth function of the weights.

    Delayed layers: an arrival at neuron ``j`` only interacts with the spikes of ``j`` (a kink
    when it moves across one of them), so the interleaving is recorded per arrival, as the
    sorted set of ``(recurrent, presynaptic id, rank of the presynaptic spike among that id's
    spikes, target, in_rank)``; an arrival that leaves ``[0, T]`` (dropped) changes the set too.
    This identifies arrivals independently of their order among themselves (which does not
    matter: arrivals commute). A zero delay is the edge of the parameter domain: its arrival
    is delivered after the spike that caused it, the same place as for a small positive delay,
    so a one-sided finite difference from ``d = 0`` keeps the signature.
    """
    parts: list[tuple[int, ...]] = []
    recurrent = [layer.w_rec is not None for layer in trace.net.hidden] + [False]
    emit_ids = trace.input_channels
    for lt, rec in zip((*trace.hidden, trace.output), recurrent, strict=True):
        below_ids, emit_ids = emit_ids, lt.spike_neuron
        if np.isnan(lt.threshold):  # leaky-integrator output: no spikes
            continue
        parts.append(tuple(int(x) for x in lt.spike_counts()))
        if rec:
            parts.append(tuple(int(x) for x in lt.spike_neuron))
        if lt.in_post is not None and lt.in_rec is not None and lt.in_spike is not None:
            assert lt.in_rank is not None
            rec_a = lt.in_rec
            pre_rank = np.zeros(lt.in_t.size, dtype=np.int64)
            pre_rank[rec_a] = _occurrence_rank(lt.spike_neuron)[lt.in_spike[rec_a]]
            pre_rank[~rec_a] = _occurrence_rank(below_ids)[lt.in_spike[~rec_a]]
            keys = sorted(
                zip(
                    rec_a.astype(np.int64).tolist(),
                    lt.in_src.tolist(),
                    pre_rank.tolist(),
                    lt.in_post.tolist(),
                    lt.in_rank.tolist(),
                    strict=True,
                )
            )
            parts.append(tuple(int(x) for key in keys for x in key))
            continue
        parts.append(tuple(int(x) for x in np.searchsorted(lt.spike_t, lt.in_t, side="left")))
    if kind == "max":
        mv = max_voltage(trace)
        parts.append(tuple(int(x) for x in mv.segment))
        parts.append(tuple(int(x) for x in mv.where))
    return tuple(parts)


# --------------------------------------------------------------------------------------------
# Parameters and finite differences
# --------------------------------------------------------------------------------------------
def network_parameters(net: ExactNetwork) -> dict[str, F64]:
    """Trainable parameters by name (copies): ``hidden.{l}.w_ff``, ``hidden.{l}.w_rec`` (if
    recurrent), the delays ``hidden.{l}.d_ff`` and ``hidden.{l}.d_rec`` (s; only where the layer
    has them, i.e. not ``None``), ``out_w``, and ``out_bias`` for an LI output (zeros when
    ``net.out_bias`` is ``None``)."""
    params: dict[str, F64] = {}
    for l_idx, layer in enumerate(net.hidden):
        params[f"hidden.{l_idx}.w_ff"] = layer.w_ff.copy()
        if layer.w_rec is not None:
            params[f"hidden.{l_idx}.w_rec"] = layer.w_rec.copy()
        if layer.d_ff is not None:
            params[f"hidden.{l_idx}.d_ff"] = layer.d_ff.copy()
        if layer.d_rec is not None:
            params[f"hidden.{l_idx}.d_rec"] = layer.d_rec.copy()
    params["out_w"] = net.out_w.copy()
    if net.out_kind == "li":
        params["out_bias"] = (
            net.out_bias.copy() if net.out_bias is not None else np.zeros(net.n_out)
        )
    return params


def replace_parameters(net: ExactNetwork, params: Mapping[str, npt.ArrayLike]) -> ExactNetwork:
    """A copy of ``net`` with the named parameters (see :func:`network_parameters`) replaced."""
    known = set(network_parameters(net))
    unknown = set(params) - known
    if unknown:
        raise KeyError(f"unknown parameter names {sorted(unknown)}; known: {sorted(known)}")
    hidden = []
    for l_idx, layer in enumerate(net.hidden):
        w_ff = params.get(f"hidden.{l_idx}.w_ff", layer.w_ff)
        w_rec = params.get(f"hidden.{l_idx}.w_rec", layer.w_rec)
        d_ff = params.get(f"hidden.{l_idx}.d_ff", layer.d_ff)
        d_rec = params.get(f"hidden.{l_idx}.d_rec", layer.d_rec)
        hidden.append(
            ExactLayer(
                w_ff=np.asarray(w_ff, dtype=np.float64),
                w_rec=None if w_rec is None else np.asarray(w_rec, dtype=np.float64),
                tau_mem_s=layer.tau_mem_s,
                tau_syn_s=layer.tau_syn_s,
                threshold=layer.threshold,
                v_reset=layer.v_reset,
                d_ff=None if d_ff is None else np.asarray(d_ff, dtype=np.float64),
                d_rec=None if d_rec is None else np.asarray(d_rec, dtype=np.float64),
            )
        )
    bias = params.get("out_bias", net.out_bias)
    return ExactNetwork(
        hidden=tuple(hidden),
        out_w=np.asarray(params.get("out_w", net.out_w), dtype=np.float64),
        out_tau_mem_s=net.out_tau_mem_s,
        out_tau_syn_s=net.out_tau_syn_s,
        out_kind=net.out_kind,
        out_threshold=net.out_threshold,
        out_v_reset=net.out_v_reset,
        out_bias=None if bias is None else np.asarray(bias, dtype=np.float64),
    )


class FDResult(NamedTuple):
    """Central finite-difference gradient.

    Attributes:
        grad: gradient per parameter name (same shapes); ``nan`` where unresolved.
        n_unresolved: number of entries whose signature changed at every tried step.
        unresolved: ``(name, index)`` of those entries.
        n_evaluations: number of calls of ``f``.
    """

    grad: dict[str, F64]
    n_unresolved: int
    unresolved: tuple[tuple[str, tuple[int, ...]], ...]
    n_evaluations: int


def finite_difference_gradient(
    f: Callable[[dict[str, F64]], tuple[float, Hashable]],
    params: Mapping[str, npt.ArrayLike],
    rel_step: float = 1e-6,
    *,
    n_retries: int = 2,
    shrink: float = 10.0,
    names: Sequence[str] | None = None,
    lower_bounds: Mapping[str, float] | None = None,
    scales: Mapping[str, float] | None = None,
) -> FDResult:
    r"""Central differences ``(f(p + eps e_i) - f(p - eps e_i)) / (2 eps)`` per scalar entry.

    ``f(params) -> (loss, signature)``; ``signature`` is a hashable summary of the discrete
    structure (spike counts, arg-max indices, ...). The step is
    ``eps = rel_step * max|p|`` over the entry's array (``rel_step`` if that array is all
    zero; ``rel_step * scales[name]`` where given). If the signature at ``+eps`` or ``-eps``
    differs from the unperturbed one (a spike appeared or disappeared, an arg-max switched) the
    step is divided by ``shrink`` and retried (``n_retries`` times); if it still differs the
    entry is set to ``nan`` and counted in ``n_unresolved`` -- never silently.

    Bounded parameters (``lower_bounds``, e.g. delays ``>= 0``): an entry with
    ``p - eps < lower_bounds[name]`` is never evaluated below the bound; it gets the one-sided
    second-order difference ``(-3 f(p) + 4 f(p + eps) - f(p + 2 eps)) / (2 eps)`` (error
    ``O(eps^2)`` like the central one), i.e. the right derivative, with the signature checked at
    ``p + eps`` and ``p + 2 eps``.

    Args:
        f: the function to differentiate.
        params: base parameters (not modified).
        rel_step: relative step.
        n_retries: retries with a smaller step after a signature change.
        shrink: step reduction factor per retry.
        names: subset of parameter names to differentiate (default: all).
        lower_bounds: per name, the lower end of the parameter's domain.
        scales: per name, the magnitude that sets the step (instead of ``max|p|``).
    """
    base = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
    l0, sig0 = f({k: v.copy() for k, v in base.items()})
    n_eval = 1
    grad: dict[str, F64] = {}
    bad: list[tuple[str, tuple[int, ...]]] = []
    for name in names if names is not None else list(base):
        arr = base[name]
        g = np.zeros_like(arr)
        scale = float(np.max(np.abs(arr))) if arr.size else 0.0
        if scales is not None and name in scales:
            scale = float(scales[name])
        eps0 = rel_step * (scale if scale > 0.0 else 1.0)
        lo = lower_bounds.get(name) if lower_bounds is not None else None
        for idx in np.ndindex(arr.shape):
            eps = eps0
            value = math.nan
            for _ in range(n_retries + 1):
                one_sided = lo is not None and float(arr[idx]) - eps < lo
                results = []
                for step in (1.0, 2.0) if one_sided else (1.0, -1.0):
                    trial = dict(base)
                    pert = arr.copy()
                    pert[idx] += step * eps
                    trial[name] = pert
                    results.append(f(trial))
                    n_eval += 1
                (lp, sp), (lm, sm) = results
                if sp == sig0 and sm == sig0:
                    if one_sided:  # lm = f(p + 2 eps)
                        value = (-3.0 * l0 + 4.0 * lp - lm) / (2.0 * eps)
                    else:
                        value = (lp - lm) / (2.0 * eps)
                    break
                eps /= shrink
            if math.isnan(value):
                bad.append((name, tuple(int(i) for i in idx)))
            g[idx] = value
        grad[name] = g
    return FDResult(grad, len(bad), tuple(bad), n_eval)


def gradients_by_fd(
    net: ExactNetwork,
    input_times_s: npt.ArrayLike,
    input_channels: npt.ArrayLike,
    duration_s: float,
    readout_kind: ReadoutKind,
    loss_of_readout: Callable[[F64], float],
    *,
    rel_step: float = 1e-6,
    n_retries: int = 2,
    delay_rel_step: float = 1e-5,
) -> FDResult:
    """Finite-difference gradient of ``loss_of_readout(readout(simulate(net, ...), kind))``
    w.r.t. all parameters of :func:`network_parameters` (signature: :func:`readout_signature`).

    Delays (``hidden.{l}.d_ff``, ``hidden.{l}.d_rec``, seconds) are differentiated like the
    weights, with the step ``delay_rel_step * max(max|d|, min(tau_m, tau_s))`` (the layer's
    time constants set the scale on which the loss varies with a delay, so tiny or all-zero
    delays still get a step well above rounding; on the tiny random networks of the tests the
    error of the delay derivatives is ~1e-8 relative at ``delay_rel_step = 1e-5``, where it is
    dominated by truncation, and up to ~2e-7 at ``1e-6``, dominated by the rounding of spike
    times) and the lower bound 0: a delay closer to 0 than the step
    (in particular ``d = 0``) gets the one-sided second-order difference, i.e. the derivative
    from the right, ``d -> 0+`` (see :func:`finite_difference_gradient`).
    """
    t_in = np.asarray(input_times_s, dtype=np.float64)
    ch = np.asarray(input_channels)

    def f(p: dict[str, F64]) -> tuple[float, Hashable]:
        tr = simulate(replace_parameters(net, p), t_in, ch, duration_s)
        z = readout(tr, readout_kind)
        return float(loss_of_readout(z)), readout_signature(tr, readout_kind)

    lower: dict[str, float] = {}
    scales: dict[str, float] = {}
    for l_idx, layer in enumerate(net.hidden):
        for key, d in (("d_ff", layer.d_ff), ("d_rec", layer.d_rec)):
            if d is not None:
                lower[f"hidden.{l_idx}.{key}"] = 0.0
                scales[f"hidden.{l_idx}.{key}"] = (delay_rel_step / rel_step) * max(
                    float(np.max(d, initial=0.0)), min(layer.tau_mem_s, layer.tau_syn_s)
                )
    return finite_difference_gradient(
        f,
        network_parameters(net),
        rel_step=rel_step,
        n_retries=n_retries,
        lower_bounds=lower,
        scales=scales,
    )


# --------------------------------------------------------------------------------------------
# Exact-time adjoint (EventProp on the exact spike times)
# --------------------------------------------------------------------------------------------
class _Source(NamedTuple):
    """Continuous adjoint drive of an LI output: ``dl_V/dV_k = g_k w(t) / T``."""

    weight: IntegralWeight
    g: F64
    duration_s: float


def _particular(src: _Source, t: float, tm: float, ts: float) -> tuple[F64, F64]:
    r"""Particular solution ``(P_V, P_I)`` of the driven adjoint at forward time ``t``.

    Reverse time ``s = T - t``; ``tau_m P_V' = -P_V - q``, ``tau_s P_I' = -P_I + P_V`` with
    ``q(s) = g w(t)/T``:

    * avg (``q = g/T``): ``P_V = P_I = -q``;
    * exp (``q = (g/T) e^{-t/T}``, grows as ``e^{s/T}``): ``P_V = -q T/(T + tau_m)``,
      ``P_I = P_V T/(T + tau_s)``;
    * linear (``q = k s``, ``k = g/T^2``): ``P_V = k (tau_m - s)``,
      ``P_I = k (tau_m + tau_s - s)``.
    """
    t_len = src.duration_s
    g = src.g
    if src.weight == "avg":
        q = g / t_len
        return -q, -q
    if src.weight == "exp":
        q = g / t_len * math.exp(-t / t_len)
        pv = -q * t_len / (t_len + tm)
        return pv, pv * t_len / (t_len + ts)
    if src.weight == "linear":
        k = g / t_len**2
        s = t_len - t
        return k * (tm - s), k * (tm + ts - s)
    raise ValueError(f"no closed-form particular solution for weight {src.weight!r}")


def _propagate_adjoint(
    lam_v: F64,
    lam_i: F64,
    t_from: float,
    t_to: float,
    tm: float,
    ts: float,
    src: _Source | None,
) -> tuple[F64, F64]:
    r"""Free reverse-time evolution of ``(lambda_v, lambda_i)`` from ``t_from`` down to
    ``t_to < t_from`` (reverse-time step ``sigma = t_from - t_to``):

    .. math::

        \lambda_V \leftarrow P_V + (\lambda_V - P_V) e^{-\sigma/\tau_m},\quad
        \lambda_I \leftarrow P_I + (\lambda_I - P_I) e^{-\sigma/\tau_s}
            + (\lambda_V - P_V)\,\kappa^\dagger(\sigma),

    ``kappa^dagger = tau_m/(tau_m - tau_s) (e^{-sigma/tau_m} - e^{-sigma/tau_s})`` (the
    ``lambda_i`` response to ``lambda_v``), ``P = 0`` without drive. For the sigmoid weight the
    forced part is the Duhamel integral
    ``-(1/tau_m) int_0^sigma (e^{-(sigma-u)/tau_m}, kappa^dagger(sigma-u)) q(u) du``, evaluated
    by piecewise Gauss-Legendre quadrature.
    """
    sigma = t_from - t_to
    if sigma <= 0.0:
        return lam_v, lam_i
    em = math.exp(-sigma / tm)
    es = math.exp(-sigma / ts)
    kd = _kick(sigma, ts, tm)
    if src is None:
        return lam_v * em, lam_i * es + lam_v * kd
    if src.weight != "sigmoid":
        pv0, pi0 = _particular(src, t_from, tm, ts)
        pv1, pi1 = _particular(src, t_to, tm, ts)
        dv = lam_v - pv0
        return pv1 + dv * em, pi1 + (lam_i - pi0) * es + dv * kd
    new_v = lam_v * em
    new_i = lam_i * es + lam_v * kd
    u, wts = _gl_nodes(np.array([0.0, sigma]), min(tm, ts, 0.1 * src.duration_s))
    q = _weight_fn(src.weight, t_from - u, src.duration_s) / src.duration_s  # per unit g
    r = sigma - u
    fv = float(np.sum(wts * np.exp(-r / tm) * q)) / tm
    fi = float(np.sum(wts * _kick_arr(r, ts, tm) * q)) / tm
    return new_v - src.g * fv, new_i - src.g * fi


class _SweepResult(NamedTuple):
    lam_v_q: F64  # [Q, n] lambda_v at each delivery time (value after the time, "+")
    lam_i_q: F64  # [Q, n]
    grad_rec: F64 | None  # [n, n]
    lam_v_0: F64  # [n] lambda_v at t = 0 (end of the reverse sweep)
    jump_sum: F64  # [n] sum of the fixed (readout) jumps of lambda_v


def _same_time_groups(times: F64, order: npt.NDArray[np.int64]) -> Iterator[tuple[float, npt.NDArray[np.int64]]]:
    """The events ``order`` (indices into ``times``, already in replay order) in runs of equal
    time: ``(time, indices)`` per run."""
    pos, n_ev = 0, order.size
    while pos < n_ev:
        t_e = float(times[order[pos]])
        end = pos
        while end < n_ev and times[order[end]] == t_e:
            end += 1
        yield t_e, order[pos:end]
        pos = end


def _reverse_sweep(
    *,
    lt: LayerTrace,
    w_rec: F64 | None,
    spike_extra: F64,
    fixed_jumps: Sequence[tuple[float, int, float]],
    src: _Source | None,
    variant: str | None,
) -> _SweepResult:
    """Integrate one layer's adjoint backwards from ``T`` (zero terminal values) to 0.

    Events: deliveries into the layer (``lt.in_t``: read ``lambda`` there), own spikes (jump of
    ``lambda_v`` of the spiking neuron, recurrent weight gradient) and fixed readout jumps. All
    events at one time read the values after that time (``+``), then all jumps are applied.
    Own spike ``p`` of neuron ``n`` with ``I^-`` = ``lt.spike_i[p]``:
    ``lambda_v,n^- = lambda_v,n^+ + [(theta - v_r) lambda_v,n^+ + sum_m w_rec[n,m]
    (lambda_v,m^+ - lambda_i,m) + spike_extra[p]] / (I^- - theta)``,
    where ``spike_extra`` holds the feed-forward term of the layer above and ``dl_p/dt_k``.
    """
    n = lt.n
    tm, ts = lt.tau_mem_s, lt.tau_syn_s
    theta, v_r = lt.threshold, lt.v_reset
    n_q = lt.in_t.size
    n_s = lt.spike_t.size
    n_f = len(fixed_jumps)
    times = np.concatenate(
        [lt.in_t, lt.spike_t, np.array([fj[0] for fj in fixed_jumps], dtype=np.float64)]
    )
    kinds = np.concatenate(
        [np.zeros(n_q, np.int64), np.ones(n_s, np.int64), np.full(n_f, 2, np.int64)]
    )
    idxs = np.concatenate([np.arange(n_q), np.arange(n_s), np.arange(n_f)]).astype(np.int64)
    order = np.lexsort((kinds, -times))
    lam_v = np.zeros(n)
    lam_i = np.zeros(n)
    lam_v_q = np.zeros((n_q, n))
    lam_i_q = np.zeros((n_q, n))
    grad_rec = np.zeros((n, n)) if w_rec is not None else None
    jump_sum = np.zeros(n)
    t_cur = lt.duration_s
    for t_e, group in _same_time_groups(times, order):
        lam_v, lam_i = _propagate_adjoint(lam_v, lam_i, t_cur, t_e, tm, ts, src)
        t_cur = min(t_cur, t_e)
        pending: list[tuple[int, float]] = []
        for e in group:
            kind, i = int(kinds[e]), int(idxs[e])
            if kind == 0:
                lam_v_q[i] = lam_v
                lam_i_q[i] = lam_i
            elif kind == 1:
                j = int(lt.spike_neuron[i])
                numer = float(spike_extra[i])
                if variant != "no_reset_term":
                    numer += (theta - v_r) * float(lam_v[j])
                if w_rec is not None and grad_rec is not None:
                    grad_rec[j] -= ts * lam_i
                    rec = float(w_rec[j] @ (lam_v - lam_i))
                    numer += -rec if variant == "flip_recurrent" else rec
                pending.append((j, numer / (float(lt.spike_i[i]) - theta)))
            else:
                _, j, dl = fixed_jumps[i]
                pending.append((j, dl))
                jump_sum[j] += dl
        for j, dl in pending:
            lam_v[j] += dl
    lam_v, lam_i = _propagate_adjoint(lam_v, lam_i, t_cur, 0.0, tm, ts, src)
    return _SweepResult(lam_v_q, lam_i_q, grad_rec, lam_v, jump_sum)


class _DelayedSweepResult(NamedTuple):
    g_w_ff: F64  # [n_pre, n]
    g_d_ff: F64  # [n_pre, n]
    g_w_rec: F64 | None  # [n, n]
    g_d_rec: F64 | None  # [n, n]
    fb_below: F64  # [P] sum_j w (lambda_v,j - lambda_i,j)(arrival) per presynaptic event


def _reverse_sweep_delayed(
    *,
    lt: LayerTrace,
    w_ff: F64,
    w_rec: F64 | None,
    spike_extra: F64,
    n_pre_events: int,
    read_t: F64,
    variant: str | None,
) -> _DelayedSweepResult:
    r"""Adjoint sweep of a delayed hidden layer (zero terminal values at ``T``, no drive).

    Events in reverse time: the arrivals ``a`` (read ``lambda_v, lambda_i`` of the target
    ``j = in_post[a]`` there, values after the time, "+"; ``read_t`` = ``lt.in_t`` except for
    the ``"read_at_emission"`` negative control) and the own spikes (jump of ``lambda_v``).
    At equal times all reads come before the jumps, so a zero-delay recurrent arrival is read
    before the jump of the spike that caused it. Per arrival of weight ``w`` from ``i`` to
    ``j``:

    .. math::

        \frac{dL}{dw_{ji}} \mathrel{+}= -\tau_s \lambda_{I,j}(t_a), \qquad
        \frac{dL}{dd_{ji}} \mathrel{+}= w_{ji}\,(\lambda_{V,j} - \lambda_{I,j})(t_a),

    and the same ``w (lambda_v - lambda_i)(t_a) = dL/dt_a`` is the feedback to the spike that
    caused the arrival: accumulated (reverse time reaches ``t_a >= t_p`` first) into the jump
    numerator of an own spike ``p`` of neuron ``n`` (recurrent), or returned per presynaptic
    event (``fb_below``, feed-forward). Jump at spike ``p``:
    ``lambda_v,n^- = lambda_v,n^+ + [(theta - v_r) lambda_v,n^+ + sum_{a from p} w_a
    (lambda_v - lambda_i)(t_a) + spike_extra[p]] / (I^- - theta)``.
    """
    assert lt.in_post is not None and lt.in_rec is not None and lt.in_spike is not None
    n = lt.n
    tm, ts = lt.tau_mem_s, lt.tau_syn_s
    theta, v_r = lt.threshold, lt.v_reset
    post, src, rec, spk = lt.in_post, lt.in_src, lt.in_rec, lt.in_spike
    ff = ~rec
    n_a = lt.in_t.size
    n_s = lt.spike_t.size
    w_a = np.zeros(n_a)
    w_a[ff] = w_ff[src[ff], post[ff]]
    if w_rec is not None:
        w_a[rec] = w_rec[src[rec], post[rec]]
    times = np.concatenate([read_t, lt.spike_t])
    kinds = np.concatenate([np.zeros(n_a, np.int64), np.ones(n_s, np.int64)])
    idxs = np.concatenate([np.arange(n_a), np.arange(n_s)]).astype(np.int64)
    order = np.lexsort((kinds, -times))
    lam_v = np.zeros(n)
    lam_i = np.zeros(n)
    lv_a = np.zeros(n_a)
    li_a = np.zeros(n_a)
    own_fb = np.zeros(n_s)
    rec_sign = -1.0 if variant == "flip_recurrent" else 1.0
    post_l, rec_l, spk_l, w_l = post.tolist(), rec.tolist(), spk.tolist(), w_a.tolist()
    t_cur = lt.duration_s
    for t_e, group in _same_time_groups(times, order):
        lam_v, lam_i = _propagate_adjoint(lam_v, lam_i, t_cur, t_e, tm, ts, None)
        t_cur = min(t_cur, t_e)
        pending: list[tuple[int, float]] = []
        for e in group:
            i = int(idxs[e])
            if kinds[e] == 0:
                m = post_l[i]
                lv, li = float(lam_v[m]), float(lam_i[m])
                lv_a[i] = lv
                li_a[i] = li
                if rec_l[i]:
                    own_fb[spk_l[i]] += rec_sign * w_l[i] * (lv - li)
            else:
                j = int(lt.spike_neuron[i])
                numer = float(spike_extra[i]) + float(own_fb[i])
                if variant != "no_reset_term":
                    numer += (theta - v_r) * float(lam_v[j])
                pending.append((j, numer / (float(lt.spike_i[i]) - theta)))
        for j, dl in pending:
            lam_v[j] += dl
    fb_a = w_a * (lv_a - li_a)
    g_w_ff = np.zeros_like(w_ff)
    g_d_ff = np.zeros_like(w_ff)
    np.add.at(g_w_ff, (src[ff], post[ff]), -ts * li_a[ff])
    np.add.at(g_d_ff, (src[ff], post[ff]), fb_a[ff])
    g_w_rec: F64 | None = None
    g_d_rec: F64 | None = None
    if w_rec is not None:
        g_w_rec = np.zeros_like(w_rec)
        g_d_rec = np.zeros_like(w_rec)
        np.add.at(g_w_rec, (src[rec], post[rec]), -ts * li_a[rec])
        np.add.at(g_d_rec, (src[rec], post[rec]), fb_a[rec])
    fb_below = np.bincount(spk[ff], weights=fb_a[ff], minlength=n_pre_events).astype(np.float64)
    return _DelayedSweepResult(g_w_ff, g_d_ff, g_w_rec, g_d_rec, fb_below)


def exact_adjoint_gradient(
    net: ExactNetwork,
    trace: ExactTrace,
    dL_dreadout: npt.ArrayLike,
    readout_kind: ReadoutKind,
    *,
    _variant: str | None = None,
) -> dict[str, F64]:
    r"""Exact gradient of ``L(z)`` (``z = readout(trace, readout_kind)``) by EventProp on the
    exact spike times, the adjoint being integrated in closed form between events.

    Adjoint (Wunderlich & Pehle 2021, reverse time ``s = T - t``, zero terminal values):
    ``tau_m lambda_v' = -lambda_v - dl_V/dV``, ``tau_s lambda_i' = -lambda_i + lambda_v``;
    ``dL/dV = -tau_m lambda_v``, ``dL/dI = -tau_s lambda_i``. With ``g = dL/dz``:

    * integral readouts (LI output): drive ``dl_V/dV_k = g_k w(t)/T`` (closed form for
      avg/exp/linear, Gauss-Legendre Duhamel integral for sigmoid);
    * ``"max"`` (LI output): ``lambda_v,k`` jumps by ``-g_k/tau_m`` at ``t_max,k``; if the
      maximum sits at the kink made by a delivery of a hidden spike ``t_e`` (``dV/dt`` jumps
      from positive to negative) that spike also gets ``dl_p/dt_e = g_k dV_k/dt(t_e^-)``;
    * ``"first_spike"`` (LIF output): ``dl_p/dt = g_k`` at the first spike of output ``k``.

    At the ``k``-th spike of neuron ``n`` (``tau_m dV/dt^- = I_n - theta``):

    .. math::

        \lambda_{V,n}^- = \lambda_{V,n}^+ + \frac{(\vartheta - v_r)\lambda_{V,n}^+
            + \sum_m w_{nm}(\lambda_{V,m}^+ - \lambda_{I,m}) + \partial l_p/\partial t_k}
            {I_n - \vartheta},

    the sum running over the recurrent targets and the next layer. Gradients:
    ``dL/dw[i, j] = -tau_s sum_{spikes k of i} lambda_i,j(t_k)`` (input spikes included) and,
    for the LI bias, ``dL/db_k = -int_0^T lambda_v,k dt``
    ``= tau_m lambda_v,k(0) - tau_m J_k + int_0^T dl_V/dV_k dt`` (``J_k``: sum of the readout
    jumps), exact.

    Delays (Meszaros, Knight & Nowotny 2025): for a delayed layer everything that concerns a
    connection is read at the arrival time ``t_k + d_ji`` instead of ``t_k``:

    .. math::

        \frac{dL}{dw_{ji}} = -\tau_s \sum_k \lambda_{I,j}(t_k + d_{ji}), \qquad
        \frac{dL}{dd_{ji}} = \sum_k w_{ji}\,(\lambda_{V,j} - \lambda_{I,j})(t_k + d_{ji}),

    and the feedback term of the jump at spike ``k`` of ``i`` becomes
    ``sum_j w_ji (lambda_v,j - lambda_i,j)(t_k + d_ji)`` (``dL/dt_k`` through its arrivals:
    delaying one arrival of ``w`` at ``j`` by ``delta`` changes ``I_j`` by ``w delta/tau_s`` and
    ``V_j`` by ``-w delta/tau_m`` after it). At ``d = 0`` the "+" values give the right
    derivative (what :func:`gradients_by_fd` measures there). See
    :func:`_reverse_sweep_delayed`.

    Args:
        net: the network that produced ``trace``.
        trace: :func:`simulate` output.
        dL_dreadout: ``[n_out]`` ``dL/dz``. For ``"first_spike"`` entries of silent neurons are
            ignored (no spike, no gradient).
        readout_kind: the readout ``z`` was computed with.
        _variant: private, for negative-control tests only: ``"no_reset_term"``,
            ``"flip_recurrent"``, ``"no_feedforward_term"`` or ``"read_at_emission"`` (delayed
            layers: adjoint read at the emission time ``t_k`` instead of the arrival
            ``t_k + d``) (deliberately wrong).

    Returns:
        Gradients with the names of :func:`network_parameters`.
    """
    if _variant not in _VARIANTS:
        raise ValueError(f"unknown _variant {_variant!r}")
    if readout_kind not in _READOUT_KINDS:
        raise ValueError(f"unknown readout {readout_kind!r}; expected one of {_READOUT_KINDS}")
    if readout_kind == "first_spike" and net.out_kind != "lif":
        raise ValueError("readout 'first_spike' needs out_kind='lif'")
    if readout_kind != "first_spike" and net.out_kind != "li":
        raise ValueError(f"readout {readout_kind!r} is only supported with out_kind='li'")
    g = np.asarray(dL_dreadout, dtype=np.float64).reshape(-1)
    if g.shape != (net.n_out,):
        raise ValueError(f"dL_dreadout must have shape {(net.n_out,)}, got {g.shape}")
    out = trace.output
    t_len = trace.duration_s
    grads: dict[str, F64] = {}

    # ---- output layer
    src: _Source | None = None
    fixed: list[tuple[float, int, float]] = []
    out_extra = np.zeros(out.spike_t.size)
    below_extra = np.zeros(out.in_t.size)  # dl_p/dt for the spikes of the layer below
    if readout_kind in _INTEGRAL_KINDS:
        src = _Source(readout_kind, g, t_len)  # type: ignore[arg-type]
    elif readout_kind == "max":
        mv = max_voltage(trace)
        v_left, i_left = out.left_state()
        ends = out.segment_ends()
        for k in range(out.n):
            fixed.append((float(mv.time_s[k]), k, -float(g[k]) / out.tau_mem_s))
            seg = int(mv.segment[k])
            if mv.where[k] == 2 and ends[seg] < t_len and seg + 1 < out.seg_t.size and net.hidden:
                q = int(out.seg_delivery[seg + 1])
                if q >= 0:
                    vdot = (i_left[seg, k] - v_left[seg, k] + out.bias[k]) / out.tau_mem_s
                    below_extra[q] += float(g[k]) * vdot
    else:
        seen = np.zeros(out.n, dtype=bool)
        for p in range(out.spike_t.size):
            k = int(out.spike_neuron[p])
            if not seen[k]:
                seen[k] = True
                out_extra[p] = float(g[k])
    res = _reverse_sweep(
        lt=out, w_rec=None, spike_extra=out_extra, fixed_jumps=fixed, src=src, variant=_variant
    )
    g_out = np.zeros_like(net.out_w)
    np.add.at(g_out, out.in_src, -out.tau_syn_s * res.lam_i_q)
    grads["out_w"] = g_out
    if net.out_kind == "li":
        drive = 0.0 * g
        if src is not None:
            drive = g * _weight_integral(src.weight, t_len) / t_len
        grads["out_bias"] = out.tau_mem_s * (res.lam_v_0 - res.jump_sum) + drive
    w_up = net.out_w
    fb = np.einsum("qm,qm->q", w_up[out.in_src], res.lam_v_q - res.lam_i_q)
    if _variant == "no_feedforward_term":
        fb = np.zeros_like(fb)
    extra = fb + below_extra

    # ---- hidden layers, top to bottom
    for l_idx in range(len(net.hidden) - 1, -1, -1):
        layer = net.hidden[l_idx]
        lt = trace.hidden[l_idx]
        if lt.delayed != layer.delayed:
            raise ValueError(f"trace does not belong to net: hidden layer {l_idx} delays differ")
        if layer.delayed:
            below_t = trace.input_times_s if l_idx == 0 else trace.hidden[l_idx - 1].spike_t
            read_t = lt.in_t
            if _variant == "read_at_emission":  # negative control: lambda at t_k, not t_k + d
                assert lt.in_rec is not None and lt.in_spike is not None
                read_t = np.where(
                    lt.in_rec,
                    lt.spike_t[np.where(lt.in_rec, lt.in_spike, 0)] if lt.spike_t.size else 0.0,
                    below_t[np.where(lt.in_rec, 0, lt.in_spike)] if below_t.size else 0.0,
                )
            dres = _reverse_sweep_delayed(
                lt=lt,
                w_ff=layer.w_ff,
                w_rec=layer.w_rec,
                spike_extra=extra,
                n_pre_events=below_t.size,
                read_t=read_t,
                variant=_variant,
            )
            grads[f"hidden.{l_idx}.w_ff"] = dres.g_w_ff
            if layer.d_ff is not None:
                grads[f"hidden.{l_idx}.d_ff"] = dres.g_d_ff
            if dres.g_w_rec is not None:
                grads[f"hidden.{l_idx}.w_rec"] = dres.g_w_rec
            if layer.d_rec is not None and dres.g_d_rec is not None:
                grads[f"hidden.{l_idx}.d_rec"] = dres.g_d_rec
            extra = dres.fb_below
            if _variant == "no_feedforward_term":
                extra = np.zeros_like(extra)
            continue
        res = _reverse_sweep(
            lt=lt, w_rec=layer.w_rec, spike_extra=extra, fixed_jumps=(), src=None, variant=_variant
        )
        g_ff = np.zeros_like(layer.w_ff)
        np.add.at(g_ff, lt.in_src, -lt.tau_syn_s * res.lam_i_q)
        grads[f"hidden.{l_idx}.w_ff"] = g_ff
        if res.grad_rec is not None:
            grads[f"hidden.{l_idx}.w_rec"] = res.grad_rec
        extra = np.einsum("qm,qm->q", layer.w_ff[lt.in_src], res.lam_v_q - res.lam_i_q)
        if _variant == "no_feedforward_term":
            extra = np.zeros_like(extra)
    return {k: grads[k] for k in network_parameters(net)}
