r"""Slow, clear float64 reference of the time-stepped EventProp (for tests and debugging only).

It implements the discrete model and the reverse replay of ``docs/design.md`` sample by sample,
with explicit Python loops over steps, spikes and synapses, in NumPy float64, sharing no code with
the fast path except :func:`eventbench.core.params.discretise`. The fast path
(:mod:`eventbench.eventprop.function`) must equal it to rounding.

Notation: ``lambda_v``, ``lambda_i`` as in Wunderlich & Pehle (2021); ``dL/dV = -tau_m lambda_v``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from eventbench.core.params import StepCoeffs

if TYPE_CHECKING:
    from torch import Tensor

    from eventbench.core.network import NetworkTensors

__all__ = ["RefNetwork", "RefResult", "from_tensors", "reference_eventprop"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RefNetwork:
    """Plain-array description: ``w_ff[l] [n_pre, n_l]``, ``w_rec[l] [n_l, n_l]`` or ``None``,
    ``w_out [n_last, n_out]``, ``bias [n_out]`` or ``None``; per-layer coefficients."""

    w_ff: list[F64]
    w_rec: list[F64 | None]
    w_out: F64
    bias: F64 | None
    coeffs: list[StepCoeffs]
    out_coeffs: StepCoeffs
    out_kind: str = "li"
    d_ff: list[npt.NDArray[np.int64] | None] | None = None  # delays in steps, like w_ff
    d_rec: list[npt.NDArray[np.int64] | None] | None = None  # like w_rec

    def delay(self, kind: str, layer: int) -> npt.NDArray[np.int64] | None:
        """Delays (steps) of ``"ff"`` or ``"rec"`` connections of ``layer``, or ``None``."""
        d = self.d_ff if kind == "ff" else self.d_rec
        return d[layer] if d is not None else None


@dataclass
class RefResult:
    """Forward result of one sample plus the gradients after :func:`reference_eventprop`."""

    v_out: F64  # [T, n_out] step means of V over [t_n, t_{n+1}]
    spikes: list[list[tuple[int, int, float]]]  # per layer: (stamp, neuron, I - V)
    out_spikes: list[tuple[int, int, float]]
    grads: dict[str, F64] = field(default_factory=dict)
    guard_hits: int = 0


def _crossing_slope(v0: float, i0: float, v1: float, c: StepCoeffs) -> float:
    """``I(t*) - threshold`` at the crossing inside a step from ``(v0, i0)`` to ``v1``: linear
    interpolation, one Newton step on the exact ``V(u)``, clamped to the step."""
    tm, ts, dt, th = c.tau_mem_s, c.tau_syn_s, c.dt_s, c.threshold
    frac = (th - v0) / (v1 - v0) if v1 > v0 else 1.0
    u = min(max(frac, 0.0), 1.0) * dt
    em, es = math.exp(-u / tm), math.exp(-u / ts)
    rho_u = ts / (tm - ts) * (em - es) if abs(tm - ts) > 1e-9 * tm else u / tm * em
    v_u = em * v0 + rho_u * i0
    slope = es * i0 - v_u
    if slope > 0:
        u = min(max(u - (v_u - th) * tm / slope, 0.0), dt)
    return math.exp(-u / ts) * i0 - th


def _forward(net: RefNetwork, x: F64) -> RefResult:
    t_steps = x.shape[0]
    n_layers = len(net.w_ff)
    sizes = [w.shape[1] for w in net.w_ff]
    n_out = net.w_out.shape[1]
    v = [np.zeros(n) for n in sizes]
    i = [np.zeros(n) for n in sizes]
    z_prev = [np.zeros(n) for n in sizes]
    vo, io = np.zeros(n_out), np.zeros(n_out)
    spikes: list[list[tuple[int, int, float]]] = [[] for _ in sizes]
    out_spikes: list[tuple[int, int, float]] = []
    v_out = np.zeros((t_steps, n_out))
    # arrivals[l][a, j]: current reaching neuron j of layer l at step a through delayed synapses
    arrivals = [np.zeros((t_steps, n)) for n in sizes]
    for n in range(t_steps):
        z_new = []
        for layer in range(n_layers):
            c = net.coeffs[layer]
            pre = x[n] if layer == 0 else z_prev[layer - 1]
            conns = [("ff", pre, net.w_ff[layer])]
            wr = net.w_rec[layer]
            if wr is not None:
                conns.append(("rec", z_prev[layer], wr))
            for kind, src, w in conns:
                d = net.delay(kind, layer)
                if d is None:
                    i[layer] = i[layer] + src @ w
                    continue
                for p in np.nonzero(src)[0]:
                    for j in range(sizes[layer]):
                        a = n + int(d[p, j])
                        if a < t_steps:
                            arrivals[layer][a, j] += src[p] * w[p, j]
            i[layer] = i[layer] + arrivals[layer][n]
            v_start, i_start = v[layer].copy(), i[layer].copy()
            v[layer] = c.alpha * v[layer] + c.rho * i[layer]
            i[layer] = c.beta * i[layer]
            z = np.zeros(sizes[layer])
            for j in range(sizes[layer]):
                if v[layer][j] >= c.threshold:
                    z[j] = 1.0
                    den = _crossing_slope(v_start[j], i_start[j], v[layer][j], c)
                    spikes[layer].append((n + 1, j, den))
                    v[layer][j] = c.v_reset
            z_new.append(z)
        oc = net.out_coeffs
        io = io + z_prev[-1] @ net.w_out
        # step mean of V over [t_n, t_{n+1}] (what the voltage readouts integrate)
        v_out[n] = oc.mu_v * vo + oc.mu_i * io
        if net.bias is not None:
            v_out[n] += (1.0 - oc.mu_v) * net.bias
        vo_start, io_start = vo.copy(), io.copy()
        vo = oc.alpha * vo + oc.rho * io
        if net.bias is not None:
            vo = vo + (1.0 - oc.alpha) * net.bias
        io = oc.beta * io
        if net.out_kind == "lif":
            for k in range(n_out):
                if vo[k] >= oc.threshold:
                    den = _crossing_slope(vo_start[k], io_start[k], vo[k], oc)
                    out_spikes.append((n + 1, k, den))
                    vo[k] = oc.v_reset
        z_prev = z_new
    return RefResult(v_out, spikes, out_spikes)


def reference_eventprop(
    net: RefNetwork,
    x: F64,
    readout_kind: str,
    readout_grad: F64,
    coefficients: F64 | None = None,
    guard_eps: float = 1e-3,
    reg_jump: list[F64] | None = None,
) -> RefResult:
    """Forward and EventProp backward for one sample ``x [T, n_in]``.

    Args:
        readout_kind: ``"weighted"``, ``"max"``, ``"trace"`` or ``"first_spike"``.
        readout_grad: ``dL/d readout`` for this sample: ``[n_out]``, or ``[T, n_out]`` for
            ``"trace"``.
        coefficients: ``[T]`` weights of a ``"weighted"`` readout.
        reg_jump: per layer ``[n_l]`` additions to ``lambda_v`` at each spike (rate regulariser).
    Returns:
        the forward result with ``grads`` filled (keys ``w_ff.{l}``, ``w_rec.{l}``, ``w_out``,
        ``bias``).
    """
    res = _forward(net, x)
    t_steps = x.shape[0]
    n_layers = len(net.w_ff)
    sizes = [w.shape[1] for w in net.w_ff]
    n_out = net.w_out.shape[1]
    oc = net.out_coeffs
    lam_v = [np.zeros(n) for n in sizes]
    lam_i = [np.zeros(n) for n in sizes]
    lam_vo, lam_io = np.zeros(n_out), np.zeros(n_out)
    g_ff = [np.zeros_like(w) for w in net.w_ff]
    g_rec = [np.zeros_like(w) if w is not None else None for w in net.w_rec]
    g_out = np.zeros_like(net.w_out)
    g_bias = np.zeros(n_out)
    g_dff = [np.zeros_like(w) if net.delay("ff", k) is not None else None for k, w in enumerate(net.w_ff)]
    g_drec = [
        np.zeros_like(w) if w is not None and net.delay("rec", k) is not None else None
        for k, w in enumerate(net.w_rec)
    ]

    by_stamp: list[dict[int, list[tuple[int, float]]]] = []
    for layer in range(n_layers):
        d: dict[int, list[tuple[int, float]]] = {}
        for s, j, den in res.spikes[layer]:
            d.setdefault(s, []).append((j, den))
        by_stamp.append(d)
    out_by_stamp: dict[int, list[tuple[int, float]]] = {}
    first: dict[int, int] = {}
    for s, k, den in res.out_spikes:
        out_by_stamp.setdefault(s, []).append((k, den))
        first.setdefault(k, s)
    argmax = res.v_out.argmax(axis=0)
    hits = 0

    # lambda(t_a^+) of every hidden layer at every stamp a (slow and simple: the feedback and the
    # gradients of delayed synapses read them at arrival times a = n + D)
    hist_v = [np.zeros((t_steps + 1, n)) for n in sizes]
    hist_i = [np.zeros((t_steps + 1, n)) for n in sizes]

    def at(hist: list[F64], layer: int, a: int, m: int) -> float:
        return float(hist[layer][a, m]) if a < t_steps else 0.0

    for n in reversed(range(t_steps)):
        s = n + 1
        # adjoint values at t_s^+ before any jump, used by every feedback term
        post_v = [lv.copy() for lv in lam_v]
        post_vo, post_io = lam_vo.copy(), lam_io.copy()
        # spike-time readout terms at t_s
        if readout_kind == "first_spike":
            for k, den in out_by_stamp.get(s, []):
                if den < guard_eps:
                    hits += 1
                den = max(den, guard_eps)
                term = readout_grad[k] if first[k] == s else 0.0
                lam_vo[k] += ((oc.threshold - oc.v_reset) * post_vo[k] + term) / den
            if s == t_steps:
                for k in range(n_out):
                    if k not in first:
                        lam_vo[k] += readout_grad[k]
        g_bias += -(1.0 - oc.alpha) * oc.tau_mem_s * lam_vo
        # hidden spike jumps
        for layer in range(n_layers):
            c = net.coeffs[layer]
            for j, den in by_stamp[layer].get(s, []):
                if den < guard_eps:
                    hits += 1
                den = max(den, guard_eps)
                feedback = 0.0
                if s < t_steps:
                    if layer + 1 < n_layers:
                        w_next = net.w_ff[layer + 1]
                        d_next = net.delay("ff", layer + 1)
                        for m in range(sizes[layer + 1]):
                            a = s + (int(d_next[j, m]) if d_next is not None else 0)
                            diff = at(hist_v, layer + 1, a, m) - at(hist_i, layer + 1, a, m)
                            feedback += w_next[j, m] * diff
                    else:
                        for m in range(n_out):
                            feedback += net.w_out[j, m] * (post_vo[m] - post_io[m])
                    wr = net.w_rec[layer]
                    if wr is not None:
                        d_r = net.delay("rec", layer)
                        for m in range(sizes[layer]):
                            a = s + (int(d_r[j, m]) if d_r is not None else 0)
                            feedback += wr[j, m] * (at(hist_v, layer, a, m) - at(hist_i, layer, a, m))
                jump = ((c.threshold - c.v_reset) * post_v[layer][j] + feedback) / den
                if reg_jump is not None:
                    jump += reg_jump[layer][j]
                lam_v[layer][j] += jump
        # reverse free dynamics over [t_n, t_{n+1}]
        for layer in range(n_layers):
            c = net.coeffs[layer]
            lam_i[layer] = c.beta * lam_i[layer] + c.kappa * lam_v[layer]
            lam_v[layer] = c.alpha * lam_v[layer]
        lam_io = oc.beta * lam_io + oc.kappa * lam_vo
        lam_vo = oc.alpha * lam_vo
        # voltage readouts: source dL/d(step mean n) on the output state at t_n^+
        src = np.zeros(n_out)
        if readout_kind == "weighted":
            assert coefficients is not None
            src = readout_grad * coefficients[n]
        elif readout_kind == "trace":
            src = readout_grad[n]
        elif readout_kind == "max":
            src = np.where(argmax == n, readout_grad, 0.0)
        lam_vo = lam_vo - src * oc.mu_v / oc.tau_mem_s
        lam_io = lam_io - src * oc.mu_i / oc.tau_syn_s
        g_bias += (1.0 - oc.mu_v) * src
        for layer in range(n_layers):
            hist_v[layer][n] = lam_v[layer]
            hist_i[layer][n] = lam_i[layer]
        # events delivered at t_n (input bin n and spikes stamped n) meet lambda at their
        # arrival t_{n + D}: dL/dw -= tau_s x lambda_I, dL/dd += x w (lambda_V - lambda_I)
        for layer in range(n_layers):
            ts = net.coeffs[layer].tau_syn_s
            if layer == 0:
                events = [(int(ch), float(x[n, ch])) for ch in np.nonzero(x[n])[0]]
            else:
                events = [(j, 1.0) for j, _ in by_stamp[layer - 1].get(n, [])]
            rec_events = [(j, 1.0) for j, _ in by_stamp[layer].get(n, [])]
            for kind, evs, w, g, gd in (
                ("ff", events, net.w_ff[layer], g_ff[layer], g_dff[layer]),
                ("rec", rec_events, net.w_rec[layer], g_rec[layer], g_drec[layer]),
            ):
                if w is None or g is None:
                    continue
                dly = net.delay(kind, layer)
                for p, val in evs:
                    for m in range(sizes[layer]):
                        a = n + (int(dly[p, m]) if dly is not None else 0)
                        g[p, m] -= ts * val * at(hist_i, layer, a, m)
                        if gd is not None:
                            diff = at(hist_v, layer, a, m) - at(hist_i, layer, a, m)
                            gd[p, m] += val * w[p, m] * diff
        for j, _ in by_stamp[-1].get(n, []):
            g_out[j] -= oc.tau_syn_s * lam_io

    grads: dict[str, F64] = {f"w_ff.{k}": g for k, g in enumerate(g_ff)}
    for k, gr in enumerate(g_rec):
        if gr is not None:
            grads[f"w_rec.{k}"] = gr
    grads["w_out"] = g_out
    if net.bias is not None:
        grads["bias"] = g_bias
    for k, gd in enumerate(g_dff):
        if gd is not None:
            grads[f"d_ff.{k}"] = gd
    for k, gd in enumerate(g_drec):
        if gd is not None:
            grads[f"d_rec.{k}"] = gd
    res.grads = grads
    res.guard_hits = hits
    return res


def from_tensors(net: NetworkTensors) -> RefNetwork:
    """Copy the effective weights of an :class:`~eventbench.core.network.NetworkTensors` into a
    float64 :class:`RefNetwork`."""

    def arr(t: Tensor) -> F64:
        return np.asarray(t.detach().cpu().double().numpy(), dtype=np.float64)

    d_ff, d_rec = net.delay_steps() if net.has_delays else (None, None)

    def steps(d: list[Tensor | None] | None) -> list[npt.NDArray[np.int64] | None] | None:
        if d is None:
            return None
        return [np.asarray(t.cpu().numpy(), dtype=np.int64) if t is not None else None for t in d]

    return RefNetwork(
        w_ff=[arr(w) for w in net.w_ff],
        w_rec=[arr(w) if w is not None else None for w in net.w_rec],
        w_out=arr(net.w_out),
        bias=arr(net.bias) if net.bias is not None else None,
        coeffs=list(net.coeffs),
        out_coeffs=net.out_coeffs,
        out_kind=net.spec.output_kind,
        d_ff=steps(d_ff),
        d_rec=steps(d_rec),
    )
