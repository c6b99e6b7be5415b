r"""EventProp as a ``torch.autograd.Function``: time-stepped forward, spike-driven reverse replay.

Forward (no graph): the discrete dynamics of :mod:`eventbench.core.lif`, processed in chunks of
time steps; spikes are kept as sparse :class:`~eventbench.core.records.SpikeRecord` s together with
the jump denominator ``I - V``. Nothing of size ``T x B x N`` is saved for the backward pass.

Backward: the W&P adjoint (``lambda_v``, ``lambda_i``; see ``docs/design.md``) integrated exactly
backwards over each step, with jumps at the recorded spikes and weight gradients accumulated at
the events. Shapes: ``x [T, B, n_in]``; state ``[B, N]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from eventbench.core.lif import LIFState, integrate, lif_step, step_mean, zero_state
from eventbench.core.network import NetworkTensors
from eventbench.core.params import StepCoeffs
from eventbench.core.records import SpikeRecord, concat_records, record_from_dense
from eventbench.core.regularisers import RateRegulariser
from eventbench.readout.readouts import Readout, WeightedVoltage

__all__ = ["EventPropConfig", "ForwardRecord", "eventprop_forward"]


@dataclass
class ForwardRecord:
    """What the forward pass hands to the caller besides the differentiable outputs."""

    spikes: tuple[SpikeRecord, ...] = ()
    output_spikes: SpikeRecord | None = None
    guard_hits: int = 0


@dataclass(frozen=True)
class EventPropConfig:
    """Static settings of one EventProp call.

    Attributes:
        readout: the readout (see :mod:`eventbench.readout.readouts`).
        guard_eps: lower bound of the jump denominator ``I - V``; smaller values are raised to
            it and counted as guard hits.
        regulariser: optional firing-rate pseudo-gradient on hidden layers.
        chunk: time steps processed per block (bounds the transient dense buffers).
        max_spikes: if set, more recorded spikes than this in any population is an error.
        variant: test-only hook selecting a deliberately wrong adjoint for negative-control
            tests: ``"latency+1"`` / ``"latency-1"`` (events meet the adjoint one step late or
            early), ``"no_reset_term"`` (drops the reset term of the jump), ``"flip_feedback"``
            (wrong sign of the feedback through the weights), ``"delay_undelayed"`` (weight and
            delay gradients of delayed synapses read at the undelayed time). ``None`` is
            EventProp.
    """

    readout: Readout
    guard_eps: float = 0.05
    regulariser: RateRegulariser | None = None
    chunk: int = 128
    max_spikes: int | None = None
    variant: str | None = None
    record: ForwardRecord = field(default_factory=ForwardRecord, compare=False)


def _check_spike_budget(rec: SpikeRecord, cfg: EventPropConfig, name: str) -> None:
    if cfg.max_spikes is not None and rec.n_spikes > cfg.max_spikes:
        raise RuntimeError(
            f"{name} recorded {rec.n_spikes} spikes, more than max_spikes={cfg.max_spikes}; "
            "raise max_spikes or lower the firing rate"
        )


class _EventPropFn(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        cfg: EventPropConfig,
        net: NetworkTensors,
        x: Tensor,
        *params: Tensor,
    ) -> tuple[Tensor, Tensor]:
        w_ff, w_rec, w_out, bias = _unflatten(net, params)
        readout_value, fired, hidden, out_rec, extra = _forward(cfg, net, x, w_ff, w_rec, w_out, bias)
        guard = count_guard_hits(hidden, out_rec, cfg.guard_eps)
        cfg.record.spikes = hidden
        cfg.record.output_spikes = out_rec
        cfg.record.guard_hits = guard
        ctx.cfg = cfg
        ctx.net = net
        ctx.hidden = hidden
        ctx.out_rec = out_rec
        ctx.extra = extra
        ctx.save_for_backward(x, *params)
        ctx.mark_non_differentiable(fired)
        return readout_value, fired

    @staticmethod
    def backward(ctx: Any, g_readout: Tensor, _g_fired: Tensor | None) -> tuple[Tensor | None, ...]:
        x, *params = ctx.saved_tensors
        net: NetworkTensors = ctx.net
        w_ff, w_rec, w_out, bias = _unflatten(net, tuple(params))
        grads = _backward(
            ctx.cfg, net, x, w_ff, w_rec, w_out, bias, ctx.hidden, ctx.out_rec, ctx.extra, g_readout
        )
        check_finite_gradients(grads, net, ctx.cfg.record.guard_hits)
        return (None, None, None, *grads)


def count_guard_hits(
    hidden: tuple[SpikeRecord, ...], out_rec: SpikeRecord | None, guard_eps: float
) -> int:
    """Recorded crossings whose ``I - V`` lies below the guard, over all spiking populations."""
    recs = (*hidden, out_rec) if out_rec is not None else hidden
    return sum(int((r.i_minus_v < guard_eps).sum()) for r in recs)


def check_finite_gradients(
    grads: list[Tensor | None], net: NetworkTensors, guard_hits: int
) -> None:
    """Raise ``FloatingPointError`` naming the tensor if an EventProp gradient is not finite.

    ``grads`` are in the order of :func:`_flatten`. Non-finite gradients come from exploding
    jumps (grazing crossings, or ``I - V < 0`` after an overshoot at a coarse ``dt``): passing
    them on would turn the weights into NaN at the next optimiser step.
    """
    names = _param_names(net)
    for name, g in zip(names, grads, strict=True):
        # a non-finite element makes the sum non-finite, so a finite sum (one reduction, no
        # temporary) proves every element finite; only an overflowing sum needs the full test
        if g is None or bool(torch.isfinite(g.sum())):
            continue
        if not bool(torch.isfinite(g).all()):
            raise FloatingPointError(
                f"EventProp gradient of {name} is not finite ({guard_hits} guarded crossings "
                "in this batch); raise EventProp(guard_eps=...) or use a smaller dt"
            )


def _flatten(net: NetworkTensors) -> tuple[Tensor, ...]:
    """Differentiable tensors in a fixed order: ``w_ff``, ``w_rec`` (present ones), ``w_out``,
    ``bias``, then the delays ``d_ff``, ``d_rec`` (present ones)."""
    flat: list[Tensor] = list(net.w_ff)
    flat += [w for w in net.w_rec if w is not None]
    flat.append(net.w_out)
    if net.bias is not None:
        flat.append(net.bias)
    flat += [d for d in net.d_ff if d is not None]
    flat += [d for d in net.d_rec if d is not None]
    return tuple(flat)


def _param_names(net: NetworkTensors) -> list[str]:
    """Names of the tensors of :func:`_flatten`, as the ``SNN`` module calls them."""
    names = [f"layers.{k}.w_ff" for k in range(len(net.w_ff))]
    names += [f"layers.{k}.w_rec" for k, w in enumerate(net.w_rec) if w is not None]
    names.append("readout_layer.w")
    if net.bias is not None:
        names.append("readout_layer.bias")
    names += [f"layers.{k}.d_ff" for k, d in enumerate(net.d_ff) if d is not None]
    names += [f"layers.{k}.d_rec" for k, d in enumerate(net.d_rec) if d is not None]
    return names


def _unflatten(
    net: NetworkTensors, params: tuple[Tensor, ...]
) -> tuple[list[Tensor], list[Tensor | None], Tensor, Tensor | None]:
    n = len(net.w_ff)
    w_ff = list(params[:n])
    k = n
    w_rec: list[Tensor | None] = []
    for w in net.w_rec:
        if w is None:
            w_rec.append(None)
        else:
            w_rec.append(params[k])
            k += 1
    w_out = params[k]
    bias = params[k + 1] if net.bias is not None else None
    return w_ff, w_rec, w_out, bias


def eventprop_forward(
    cfg: EventPropConfig, net: NetworkTensors, x: Tensor
) -> tuple[Tensor, Tensor, ForwardRecord]:
    """Run EventProp: returns ``(readout, fired, record)``; ``readout`` is differentiable in the
    weights of ``net`` through the EventProp backward pass."""
    readout, fired = _EventPropFn.apply(cfg, net, x, *_flatten(net))  # type: ignore[no-untyped-call]
    return readout, fired, cfg.record


# --------------------------------------------------------------------------------------------
# forward


def _forward(
    cfg: EventPropConfig,
    net: NetworkTensors,
    x: Tensor,
    w_ff: list[Tensor],
    w_rec: list[Tensor | None],
    w_out: Tensor,
    bias: Tensor | None,
) -> tuple[Tensor, Tensor, tuple[SpikeRecord, ...], SpikeRecord | None, Tensor]:
    t_steps, batch, n_in = x.shape
    n_layers = len(w_ff)
    sizes = [w.shape[1] for w in w_ff]
    n_out = w_out.shape[1]
    oc = net.out_coeffs
    lif_out = net.spec.output_kind == "lif"
    ro = cfg.readout

    states = [zero_state(batch, n, x) for n in sizes]
    z_prev = [torch.zeros(batch, n, dtype=x.dtype, device=x.device) for n in sizes]
    out_state = zero_state(batch, n_out, x)
    d_ff, d_rec = net.delay_steps() if net.has_delays else ([None] * n_layers, [None] * n_layers)
    # delayed arrivals of each layer: ring[a % R] collects what arrives at step a (a < n + R)
    rings = [
        torch.zeros(net.ring_size(k), batch, sizes[k], dtype=x.dtype, device=x.device)
        if d_ff[k] is not None or d_rec[k] is not None
        else None
        for k in range(n_layers)
    ]
    parts: list[list[SpikeRecord]] = [[] for _ in sizes]
    out_parts: list[SpikeRecord] = []

    coeff = (
        ro.coefficients(t_steps, x.dtype, x.device) if isinstance(ro, WeightedVoltage) else None
    )
    acc = torch.zeros(batch, n_out, dtype=x.dtype, device=x.device)
    argmax = torch.zeros(batch, n_out, dtype=torch.int64, device=x.device)
    vmax = torch.full((batch, n_out), -torch.inf, dtype=x.dtype, device=x.device)
    trace = torch.empty(
        t_steps if ro.kind == "trace" else 0, batch, n_out, dtype=x.dtype, device=x.device
    )

    for c0 in range(0, t_steps, cfg.chunk):
        c1 = min(c0 + cfg.chunk, t_steps)
        clen = c1 - c0
        cur0 = (
            (x[c0:c1].reshape(clen * batch, n_in) @ w_ff[0]).view(clen, batch, sizes[0])
            if d_ff[0] is None
            else None
        )
        zbuf = [torch.empty(clen, batch, n, dtype=x.dtype, device=x.device) for n in sizes]
        dbuf = [torch.empty(clen, batch, n, dtype=x.dtype, device=x.device) for n in sizes]
        zout = torch.empty(clen if lif_out else 0, batch, n_out, dtype=x.dtype, device=x.device)
        dout = torch.empty_like(zout)
        for k in range(clen):
            n_abs = c0 + k
            for layer in range(n_layers):
                pre = x[n_abs] if layer == 0 else z_prev[layer - 1]
                ring = rings[layer]
                dff, drec = d_ff[layer], d_rec[layer]
                if dff is None:
                    inp = cur0[k] if cur0 is not None and layer == 0 else pre @ w_ff[layer]
                else:
                    assert ring is not None
                    _deliver_delayed(ring, n_abs, pre, w_ff[layer], dff)
                    inp = torch.zeros_like(states[layer].i)
                wr = w_rec[layer]
                if wr is not None:
                    if drec is None:
                        inp = inp + z_prev[layer] @ wr
                    else:
                        assert ring is not None
                        _deliver_delayed(ring, n_abs, z_prev[layer], wr, drec)
                if ring is not None:
                    slot = n_abs % ring.shape[0]
                    inp = inp + ring[slot]
                    ring[slot] = 0.0
                st = states[layer]
                step = lif_step(LIFState(st.v, st.i + inp), net.coeffs[layer], slope=True)
                states[layer] = step.state
                zbuf[layer][k] = step.spikes
                dbuf[layer][k] = step.i_minus_v
            o_in = LIFState(out_state.v, out_state.i + z_prev[-1] @ w_out)
            if lif_out:
                ostep = lif_step(o_in, oc, slope=True)
                out_state = ostep.state
                zout[k] = ostep.spikes
                dout[k] = ostep.i_minus_v
            else:
                v = step_mean(o_in, oc, bias)  # the readouts integrate the step mean
                out_state = integrate(o_in, oc, bias)
                n = c0 + k
                if coeff is not None:
                    acc += coeff[n] * v
                elif ro.kind == "max":
                    better = v > vmax
                    vmax = torch.where(better, v, vmax)
                    argmax = torch.where(better, n, argmax)
                elif ro.kind == "trace":
                    trace[n] = v
            z_prev = [zbuf[layer][k] for layer in range(n_layers)]
        for layer in range(n_layers):
            parts[layer].append(record_from_dense(zbuf[layer], dbuf[layer], c0 + 1))
        if lif_out:
            out_parts.append(record_from_dense(zout, dout, c0 + 1))

    hidden = tuple(
        concat_records(parts[layer], t_steps, batch, sizes[layer], x.device)
        for layer in range(n_layers)
    )
    for layer, rec in enumerate(hidden):
        _check_spike_budget(rec, cfg, f"hidden layer {layer}")
    out_rec = concat_records(out_parts, t_steps, batch, n_out, x.device) if lif_out else None
    fired = torch.zeros(batch, n_out, dtype=torch.bool, device=x.device)
    if ro.kind == "first_spike":
        assert out_rec is not None
        _check_spike_budget(out_rec, cfg, "output layer")
        first = _first_stamp(out_rec)
        fired = first <= t_steps
        value = torch.where(fired, first, t_steps).to(x.dtype) * net.spec.dt_s
        extra = first
    elif ro.kind == "max":
        value, extra = vmax, argmax
    elif ro.kind == "trace":
        value, extra = trace, torch.empty(0)
    else:
        value, extra = acc, torch.empty(0)
    return value, fired, hidden, out_rec, extra


def _deliver_delayed(ring: Tensor, n: int, pre: Tensor, w: Tensor, d: Tensor) -> None:
    r"""Schedule the events ``pre [B, n_pre]`` (counts, or spikes) delivered at step ``n``
    through delayed synapses: ``ring[(n + D_ij) % R, b, j] += pre[b, i] w_ij`` for every event
    and target (work: events x fan-out). ``ring [R, B, N]`` with ``R > max D``; a slot is read
    (and cleared) at the step it holds, so arrivals at or after the trial end are never read."""
    b_idx, i_idx = torch.nonzero(pre, as_tuple=True)
    if b_idx.numel() == 0:
        return
    r, batch, n_post = ring.shape
    rows = ((n + d[i_idx]) % r) * batch + b_idx[:, None]  # [E, N]
    flat = rows * n_post + torch.arange(n_post, device=ring.device)
    contrib = w[i_idx] * pre[b_idx, i_idx][:, None]
    ring.view(-1).index_add_(0, flat.reshape(-1), contrib.reshape(-1))


def _first_stamp(rec: SpikeRecord) -> Tensor:
    """Stamp of the first spike per ``(sample, neuron)``, ``T + 1`` when silent; int64 ``[B, N]``."""
    first = torch.full(
        (rec.batch_size * rec.n_neurons,), rec.n_steps + 1, dtype=torch.int64, device=rec.step.device
    )
    flat = rec.batch * rec.n_neurons + rec.neuron
    first.scatter_reduce_(0, flat, rec.step, reduce="amin")
    return first.view(rec.batch_size, rec.n_neurons)


# --------------------------------------------------------------------------------------------
# backward


_VARIANTS = (None, "latency+1", "latency-1", "no_reset_term", "flip_feedback", "delay_undelayed")


def _jump(
    lam_v: Tensor,
    z: Tensor,
    den: Tensor,
    feedback: Tensor | None,
    c: StepCoeffs,
    extra_num: Tensor | None,
    extra_add: Tensor | None,
    variant: str | None = None,
) -> Tensor:
    r"""Adjoint jump at the spikes ``z`` (0/1 ``[B, N]``):
    :math:`\lambda_V \leftarrow \lambda_V + [(\vartheta - V_r)\lambda_V + F + \partial L/\partial t]
    / \mathrm{guard}(I - V)` plus the (undivided) regulariser term."""
    reset = 0.0 if variant == "no_reset_term" else c.threshold - c.v_reset
    num = reset * lam_v
    if feedback is not None:
        num = num - feedback if variant == "flip_feedback" else num + feedback
    if extra_num is not None:
        num = num + extra_num
    delta = num / den
    if extra_add is not None:
        delta = delta + extra_add
    return lam_v + z * delta


def _readout_source(
    kind: str, coeff: Tensor | None, g_readout: Tensor, argmax: Tensor, n: int
) -> Tensor | None:
    r"""``dL/d\bar V_n`` ``[B, n_out]`` of a voltage readout for step ``n`` (``None`` for the
    spike-time readout): ``g c_n`` (weighted), ``g_n`` (trace), ``g`` at the arg-max step (max)."""
    if coeff is not None:
        return g_readout * coeff[n]
    if kind == "trace":
        return g_readout[n]
    if kind == "max":
        return torch.where(argmax == n, g_readout, 0.0)
    return None


def _backward(
    cfg: EventPropConfig,
    net: NetworkTensors,
    x: Tensor,
    w_ff: list[Tensor],
    w_rec: list[Tensor | None],
    w_out: Tensor,
    bias: Tensor | None,
    hidden: tuple[SpikeRecord, ...],
    out_rec: SpikeRecord | None,
    extra: Tensor,
    g_readout: Tensor,
) -> list[Tensor | None]:
    t_steps, batch, _ = x.shape
    n_layers = len(w_ff)
    sizes = [w.shape[1] for w in w_ff]
    n_out = w_out.shape[1]
    oc = net.out_coeffs
    ro = cfg.readout
    dtype, dev = x.dtype, x.device
    if cfg.variant not in _VARIANTS:
        raise ValueError(f"unknown EventProp variant {cfg.variant!r}")
    shift = {"latency+1": 1, "latency-1": -1}.get(cfg.variant or "", 0)

    lam_v = [torch.zeros(batch, n, dtype=dtype, device=dev) for n in sizes]
    lam_i = [torch.zeros(batch, n, dtype=dtype, device=dev) for n in sizes]
    lam_vo = torch.zeros(batch, n_out, dtype=dtype, device=dev)
    lam_io = torch.zeros(batch, n_out, dtype=dtype, device=dev)
    g_ff = [torch.zeros_like(w) for w in w_ff]
    g_rec = [torch.zeros_like(w) if w is not None else None for w in w_rec]
    g_out = torch.zeros_like(w_out)
    g_bias = torch.zeros_like(bias) if bias is not None else None

    reg = (
        [cfg.regulariser.adjoint_jump(r.counts()).to(dtype) for r in hidden]
        if cfg.regulariser is not None
        else [None] * n_layers
    )
    coeff = (
        ro.coefficients(t_steps, dtype, dev) if isinstance(ro, WeightedVoltage) else None
    )
    # spike-time readout: dL/dt per (sample, neuron), applied at the first spike or as phantom
    first = extra if ro.kind == "first_spike" else None
    n_spk = [torch.bincount(r.step, minlength=t_steps + 1).tolist() for r in hidden]
    eps = cfg.guard_eps
    # delays: the adjoints of a layer with delayed inputs at the last R stamps, lv/li[a % R]
    # holding lambda(t_a^+); events delivered at n meet them at their arrival n + D
    d_ff, d_rec = net.delay_steps() if net.has_delays else ([None] * n_layers, [None] * n_layers)
    lv_ring: list[Tensor | None] = []
    li_ring: list[Tensor | None] = []
    for k in range(n_layers):
        delayed = d_ff[k] is not None or d_rec[k] is not None
        size = (net.ring_size(k), batch, sizes[k])
        lv_ring.append(torch.zeros(size, dtype=dtype, device=dev) if delayed else None)
        li_ring.append(torch.zeros(size, dtype=dtype, device=dev) if delayed else None)
    g_dff = [torch.zeros_like(w) if d is not None else None for w, d in zip(w_ff, d_ff, strict=True)]
    g_drec = [
        torch.zeros_like(w) if d is not None and w is not None else None
        for w, d in zip(w_rec, d_rec, strict=True)
    ]
    undelayed_read = cfg.variant == "delay_undelayed"

    for c0 in reversed(range(0, t_steps, cfg.chunk)):
        c1 = min(c0 + cfg.chunk, t_steps)
        clen = c1 - c0
        # stamps c0 .. c1 (inclusive): rows 0..clen
        zs = [r.dense(c0, c1 + 1, dtype) for r in hidden]
        dens = [r.dense_values(r.i_minus_v, c0, c1 + 1, 1.0).clamp_min(eps) for r in hidden]
        if out_rec is not None:
            zo = out_rec.dense(c0, c1 + 1, dtype)
            do = out_rec.dense_values(out_rec.i_minus_v, c0, c1 + 1, 1.0).clamp_min(eps)
        lam_i_buf = [torch.empty(clen, batch, n, dtype=dtype, device=dev) for n in sizes]
        lam_io_buf = torch.empty(clen, batch, n_out, dtype=dtype, device=dev)
        for k in reversed(range(clen)):
            n = c0 + k
            s = n + 1  # stamp of the end of this step
            deliver = s < t_steps
            # feedback F = sum_m w_nm (lambda_V,m - lambda_I,m) at t_s^+, computed before any jump
            fb: list[Tensor | None] = [None] * n_layers
            if deliver:
                for layer in range(n_layers):
                    if n_spk[layer][s] == 0:
                        continue
                    z_s = zs[layer][k + 1]
                    if layer + 1 < n_layers:
                        dn = d_ff[layer + 1]
                        if dn is None:
                            f = (lam_v[layer + 1] - lam_i[layer + 1]) @ w_ff[layer + 1].T
                        else:
                            f = _delayed_feedback(
                                z_s, s, t_steps, w_ff[layer + 1], dn, lv_ring[layer + 1], li_ring[layer + 1]
                            )
                    else:
                        f = (lam_vo - lam_io) @ w_out.T
                    wr = w_rec[layer]
                    if wr is not None:
                        dr = d_rec[layer]
                        if dr is None:
                            f = f + (lam_v[layer] - lam_i[layer]) @ wr.T
                        else:
                            f = f + _delayed_feedback(
                                z_s, s, t_steps, wr, dr, lv_ring[layer], li_ring[layer]
                            )
                    fb[layer] = f
            # spike-time readout at t_s (voltage readouts enter at t_n^+, below)
            if first is not None and out_rec is not None:
                zrow = zo[k + 1]
                t_term = torch.where(first == s, g_readout, 0.0)
                lam_vo = _jump(lam_vo, zrow, do[k + 1], None, oc, t_term, None)
                if s == t_steps:  # phantom spikes of silent outputs at T
                    lam_vo = lam_vo + torch.where(first > t_steps, g_readout, 0.0)
            if g_bias is not None:
                g_bias -= (1.0 - oc.alpha) * oc.tau_mem_s * lam_vo.sum(dim=0)
            # jumps of the hidden spikes stamped s
            for layer in range(n_layers):
                if n_spk[layer][s] == 0:
                    continue
                r = reg[layer]
                lam_v[layer] = _jump(
                    lam_v[layer],
                    zs[layer][k + 1],
                    dens[layer][k + 1],
                    fb[layer],
                    net.coeffs[layer],
                    None,
                    r,
                    cfg.variant,
                )
            # exact reverse dynamics over [t_n, t_{n+1}]
            for layer in range(n_layers):
                c = net.coeffs[layer]
                lam_i[layer] = c.beta * lam_i[layer] + c.kappa * lam_v[layer]
                lam_v[layer] = c.alpha * lam_v[layer]
                lam_i_buf[layer][k] = lam_i[layer]
            lam_io = oc.beta * lam_io + oc.kappa * lam_vo
            lam_vo = oc.alpha * lam_vo
            # voltage readouts: dL/d(step mean of step n) = G, a source on the state at t_n^+
            g_n = _readout_source(ro.kind, coeff, g_readout, extra, n)
            if g_n is not None:
                lam_vo = lam_vo - g_n * (oc.mu_v / oc.tau_mem_s)
                lam_io = lam_io - g_n * (oc.mu_i / oc.tau_syn_s)
                if g_bias is not None:
                    g_bias += (1.0 - oc.mu_v) * g_n.sum(dim=0)
            lam_io_buf[k] = lam_io
            # delayed synapses: store lambda(t_n^+), then the events delivered at t_n meet the
            # adjoints at their arrival t_{n + D} (already replayed)
            for layer in range(n_layers):
                lvr, lir = lv_ring[layer], li_ring[layer]
                if lvr is None or lir is None:
                    continue
                slot = n % lvr.shape[0]
                lvr[slot] = lam_v[layer]
                lir[slot] = lam_i[layer]
                tau_s = net.coeffs[layer].tau_syn_s
                dff, drec = d_ff[layer], d_rec[layer]
                if dff is not None:
                    pre = x[n] if layer == 0 else zs[layer - 1][k]
                    g_dff_l = g_dff[layer]
                    assert g_dff_l is not None
                    _delayed_grads(
                        pre, n, t_steps, w_ff[layer], dff, lvr, lir, tau_s, g_ff[layer], g_dff_l,
                        undelayed_read,
                    )
                wr, gr_l, gdr = w_rec[layer], g_rec[layer], g_drec[layer]
                if drec is not None and wr is not None and gr_l is not None and gdr is not None:
                    _delayed_grads(
                        zs[layer][k], n, t_steps, wr, drec, lvr, lir, tau_s, gr_l, gdr,
                        undelayed_read,
                    )
        # weight gradients: events delivered at t_n (n in chunk) meet lambda_I(t_n)
        lo, hi = max(0, shift), clen + min(0, shift)
        for layer in range(n_layers):
            tau_s = net.coeffs[layer].tau_syn_s
            lam = lam_i_buf[layer][lo - shift : hi - shift].reshape(-1, sizes[layer])
            if d_ff[layer] is None:
                pre = x[c0 + lo : c0 + hi] if layer == 0 else zs[layer - 1][lo:hi]
                g_ff[layer] -= tau_s * (pre.reshape(-1, pre.shape[-1]).T @ lam)
            gr = g_rec[layer]
            if gr is not None and d_rec[layer] is None:
                gr -= tau_s * (zs[layer][lo:hi].reshape(-1, sizes[layer]).T @ lam)
        lam = lam_io_buf[lo - shift : hi - shift].reshape(-1, n_out)
        g_out -= oc.tau_syn_s * (zs[-1][lo:hi].reshape(-1, sizes[-1]).T @ lam)

    out: list[Tensor | None] = list(g_ff)
    out += [g for g in g_rec if g is not None]
    out.append(g_out)
    if g_bias is not None:
        out.append(g_bias)
    out += [g for g in g_dff if g is not None]
    out += [g for g in g_drec if g is not None]
    return out


def _arrival_adjoints(
    b_idx: Tensor, i_idx: Tensor, n: int, t_steps: int, d: Tensor, lv: Tensor, li: Tensor
) -> tuple[Tensor, Tensor]:
    """``lambda_V`` and ``lambda_I`` ``[E, N]`` of every target at the arrival ``n + D`` of the
    events ``(b_idx, i_idx)`` delivered at ``n`` (zero for arrivals at or after ``T``)."""
    r = lv.shape[0]
    arrive = n + d[i_idx]  # [E, N]
    cols = torch.arange(lv.shape[2], device=lv.device)
    slot = arrive % r
    inside = (arrive < t_steps).to(lv.dtype)
    return lv[slot, b_idx[:, None], cols] * inside, li[slot, b_idx[:, None], cols] * inside


def _delayed_feedback(
    z: Tensor, s: int, t_steps: int, w: Tensor, d: Tensor, lv: Tensor | None, li: Tensor | None
) -> Tensor:
    r"""Feedback :math:`F_i = \sum_j w_{ij}(\lambda_V - \lambda_I)_j(t_{s + D_{ij}})` of the
    spikes ``z [B, n_pre]`` stamped ``s`` through delayed synapses, ``[B, n_pre]`` (zero where
    no spike)."""
    assert lv is not None and li is not None
    out = torch.zeros_like(z)
    b_idx, i_idx = torch.nonzero(z, as_tuple=True)
    if b_idx.numel() == 0:
        return out
    a_v, a_i = _arrival_adjoints(b_idx, i_idx, s, t_steps, d, lv, li)
    out[b_idx, i_idx] = (w[i_idx] * (a_v - a_i)).sum(dim=1)
    return out


def _delayed_grads(
    pre: Tensor,
    n: int,
    t_steps: int,
    w: Tensor,
    d: Tensor,
    lv: Tensor,
    li: Tensor,
    tau_s: float,
    g_w: Tensor,
    g_d: Tensor,
    undelayed_read: bool = False,
) -> None:
    r"""Weight and delay gradients of the events ``pre [B, n_pre]`` delivered at ``n`` through
    delayed synapses, read at their arrival ``a = n + D_ij``:
    :math:`\partial L/\partial w_{ij} \mathrel{-}= \tau_s\,x\,\lambda_{I,j}(t_a)`,
    :math:`\partial L/\partial d_{ij} \mathrel{+}= x\,w_{ij}(\lambda_V - \lambda_I)_j(t_a)`.
    ``undelayed_read`` (a deliberately wrong variant for tests) reads them at ``n``."""
    b_idx, i_idx = torch.nonzero(pre, as_tuple=True)
    if b_idx.numel() == 0:
        return
    val = pre[b_idx, i_idx][:, None]
    a_v, a_i = _arrival_adjoints(b_idx, i_idx, n, t_steps, torch.zeros_like(d) if undelayed_read else d, lv, li)
    g_w.index_add_(0, i_idx, -tau_s * val * a_i)
    g_d.index_add_(0, i_idx, val * w[i_idx] * (a_v - a_i))
