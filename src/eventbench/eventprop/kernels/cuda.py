r"""EventProp on the CUDA kernels (Triton), as a ``torch.autograd.Function``.

Same contract as :func:`eventbench.eventprop.kernels.function.kernel_eventprop_forward` (and the
torch path, :func:`eventbench.eventprop.function.eventprop_forward`, the semantic definition):
the readout is differentiable in the weights, spikes come back as
:class:`~eventbench.core.records.SpikeRecord` s ordered by ``(stamp, sample, neuron)``, guard
hits are counted the same way. The forward pass and the reverse replay are one kernel launch
each (:mod:`eventbench.eventprop.kernels._triton_kernels`, one program per sample, the whole
time loop inside); everything they read and write stays on the device.

Kept between forward and backward: the input events (``O(input events)``, built on the device
from the dense or sparse COO input), per-sample spike lists ``[L, B, cap]`` (``O(spikes)``) and
the readout's arg-max or first-spike stamps ``[B, n_out]``; nothing of size ``T x B x N``.

The kernels are imported lazily: ``import eventbench`` does not need Triton. Under Triton's CPU
interpreter (``TRITON_INTERPRET=1`` set before the kernels are first imported) they run on CPU
tensors; this is how the test tier checks them without a GPU.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor

from eventbench.core.network import NetworkTensors, input_event_count
from eventbench.core.records import SpikeRecord
from eventbench.eventprop.function import (
    EventPropConfig,
    _check_spike_budget,
    _flatten,
    _unflatten,
    check_finite_gradients,
    count_guard_hits,
)
from eventbench.eventprop.kernels.function import _KIND, KernelRecord, _coeff_row
from eventbench.readout.readouts import WeightedVoltage

__all__ = ["available", "cuda_eventprop_forward", "kernel_device", "unsupported_reason"]

#: initial per-sample spike capacity, as on the CPU path: ``max(_MIN_CAP, T * N // _CAP_DIV)``;
#: a sample with more spikes triggers one rerun of the forward pass with the exact capacity.
_MIN_CAP = 256
_CAP_DIV = 32

#: widest population one program handles (lanes of one block)
MAX_NEURONS = 4096
#: events (input bins or spikes) gathered per tile: one round trip to memory loads the weight
#: rows of up to this many events of a step (SHD: ~8 input events and a few spikes per step)
_EVENT_BLOCK = 16


def available() -> bool:
    """Whether Triton can be imported (CUDA builds of torch ship it)."""
    return importlib.util.find_spec("triton") is not None


def _kernels() -> ModuleType:
    return importlib.import_module("eventbench.eventprop.kernels._triton_kernels")


def kernel_device() -> str:
    """The device type the kernels run on: ``"cpu"`` under Triton's interpreter, else ``"cuda"``."""
    return "cpu" if bool(_kernels().INTERPRETED) else "cuda"


def unsupported_reason(cfg: EventPropConfig, net: NetworkTensors, x: Tensor) -> str | None:
    """Why the CUDA kernels cannot run this call (``None`` when they can).

    Covered: CUDA tensors of float32/float64, any number of hidden layers (up to
    :data:`MAX_NEURONS` neurons each), with or without recurrence, ``"li"`` readouts with the
    weighted, max and trace readouts (with or without bias), ``"lif"`` readouts with the
    first-spike readout, the rate regulariser, the guard and ``max_spikes``. Not covered (the
    ``"auto"`` backend runs them on the torch path): synaptic delays (not supported on the CUDA
    path yet), the test-only ``variant`` hook, voltage readouts on a spiking readout population.
    """
    if not available():
        return "Triton is not installed (CUDA builds of torch ship it; pip install triton)"
    dev = kernel_device()
    if x.device.type != dev:
        return f"the input is on {x.device.type}, the CUDA kernels run on {dev} tensors"
    if x.dtype not in (torch.float32, torch.float64):
        return f"dtype {x.dtype} is not float32 or float64"
    if cfg.variant is not None:
        return "the test-only wrong adjoint variants are implemented by the torch path only"
    if net.has_delays:
        return (
            "synaptic delays (network.delay_ff_max_ms / network.delay_rec_max_ms, "
            "LayerSpec.delay_ff / delay_rec) are not supported on the CUDA path yet; the 'auto' "
            "backend runs them on the torch path"
        )
    lif_out = net.spec.output_kind == "lif"
    if lif_out != (cfg.readout.kind == "first_spike"):
        return (
            f"readout kind {cfg.readout.kind!r} with output_kind {net.spec.output_kind!r} is "
            "handled by the torch path only"
        )
    widest = max(int(w.shape[1]) for w in net.w_ff)
    if max(widest, int(net.w_out.shape[1])) > MAX_NEURONS:
        return f"a population of {widest} neurons is wider than {MAX_NEURONS}"
    return None


@dataclass
class _Packed:
    """Weights and coefficients in the kernels' packed layout, on the device."""

    wff: Tensor
    ff_off: Tensor
    sizes: Tensor
    noff: Tensor
    wrec: Tensor
    rec_off: Tensor
    wout: Tensor
    bias: Tensor
    has_bias: bool
    hc: Tensor
    oc: Tensor
    oc_host: np.ndarray[Any, Any]
    ff_shapes: list[tuple[int, int]]
    rec_shapes: list[tuple[int, int] | None]
    ntot: int
    block: int
    oblock: int


def _pack(
    net: NetworkTensors, w_ff: list[Tensor], w_rec: list[Tensor | None], w_out: Tensor,
    bias: Tensor | None,
) -> _Packed:  # fmt: skip
    dev, dtype = w_out.device, w_out.dtype
    npd = np.float32 if dtype == torch.float32 else np.float64
    sizes = [int(w.shape[1]) for w in w_ff]
    noff = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    ff_off = np.concatenate([[0], np.cumsum([w.numel() for w in w_ff])[:-1]]).astype(np.int64)
    rec_off = np.full(len(w_rec), -1, np.int64)
    parts: list[Tensor] = []
    pos = 0
    for layer, r in enumerate(w_rec):
        if r is not None:
            rec_off[layer] = pos
            parts.append(r.detach().reshape(-1))
            pos += r.numel()
    wrec = torch.cat(parts) if parts else torch.zeros(1, dtype=dtype, device=dev)
    n_out = int(w_out.shape[1])
    oc_host = _coeff_row(net.out_coeffs, npd)

    def on_dev(a: np.ndarray[Any, Any]) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(dev)

    return _Packed(
        wff=torch.cat([w.detach().reshape(-1) for w in w_ff]).contiguous(),
        ff_off=on_dev(ff_off),
        sizes=on_dev(np.array(sizes, np.int64)),
        noff=on_dev(noff),
        wrec=wrec.contiguous(),
        rec_off=on_dev(rec_off),
        wout=w_out.detach().contiguous(),
        bias=(
            bias.detach().contiguous()
            if bias is not None
            else torch.zeros(n_out, dtype=dtype, device=dev)
        ),
        has_bias=bias is not None,
        hc=on_dev(np.stack([_coeff_row(c, npd) for c in net.coeffs])),
        oc=on_dev(oc_host),
        oc_host=oc_host,
        ff_shapes=[(int(w.shape[0]), int(w.shape[1])) for w in w_ff],
        rec_shapes=[(int(r.shape[0]), int(r.shape[1])) if r is not None else None for r in w_rec],
        ntot=int(sum(sizes)),
        block=max(16, triton_next_pow2(max(sizes))),
        oblock=max(16, triton_next_pow2(n_out)),
    )


def triton_next_pow2(n: int) -> int:
    """The smallest power of two ``>= n`` (block width of a population of ``n`` neurons)."""
    return 1 << max(0, (n - 1).bit_length())


@dataclass
class _Events:
    """Input events ordered by ``(step, sample, channel)``: bin ``k = n * B + b`` holds
    ``ptr[k] .. ptr[k + 1]`` (int64 ``[T * B + 1]``), ``ch`` (int32) and ``val`` (counts)."""

    ptr: Tensor
    ch: Tensor
    val: Tensor


def _events(x: Tensor) -> _Events:
    """The input's non-zero bins as event lists on its device (a sparse COO input is coalesced:
    duplicates summed; explicitly stored zeros dropped)."""
    t_steps, batch, _ = x.shape
    if x.is_sparse:
        c = x if x.is_coalesced() else x.coalesce()
        idx, val = c.indices(), c.values()
        keep = val != 0
        idx, val = idx[:, keep], val[keep]
    else:
        idx = x.nonzero().t()
        val = x[idx[0], idx[1], idx[2]]
    key = idx[0] * batch + idx[1]
    counts = torch.bincount(key, minlength=t_steps * batch)
    ptr = torch.zeros(t_steps * batch + 1, dtype=torch.int64, device=x.device)
    ptr[1:] = torch.cumsum(counts, 0)
    # one padding entry (never read: ptr bounds the lists) so that no kernel argument is empty
    ch = torch.cat([idx[2].to(torch.int32), idx.new_zeros(1, dtype=torch.int32)])
    return _Events(ptr, ch, torch.cat([val, val.new_zeros(1)]))


@dataclass
class _Spikes:
    """Per-sample spike lists of the hidden layers ``[L, B, cap]`` and of the readout
    ``[B, cap_o]``, with their counts (int32, may exceed the capacity: overflow)."""

    step: Tensor
    neu: Tensor
    den: Tensor
    cnt: Tensor
    o_step: Tensor
    o_neu: Tensor
    o_den: Tensor
    o_cnt: Tensor


def _record(step: Tensor, neu: Tensor, den: Tensor, cnt: Tensor, t_steps: int, n: int) -> SpikeRecord:
    """Per-sample lists ``[B, cap]`` merged into one record ordered by ``(stamp, sample,
    neuron)`` (a sort of the unique key ``(stamp * B + sample) * N + neuron``)."""
    batch, cap = step.shape
    valid = torch.arange(cap, device=step.device)[None, :] < cnt[:, None]
    b_idx = torch.arange(batch, device=step.device)[:, None].expand(batch, cap)[valid]
    s, j, d = step[valid].long(), neu[valid].long(), den[valid]
    order = torch.argsort((s * batch + b_idx) * n + j)
    return SpikeRecord(s[order], b_idx[order], j[order], d[order], t_steps, batch, n)


def _forward_pass(
    ev: _Events, p: _Packed, t_steps: int, batch: int, lif_out: bool, kind: int, coeff: Tensor,
    cap: int, cap_o: int,
) -> tuple[_Spikes, Tensor, Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    K = _kernels()
    dev, dtype = p.wout.device, p.wout.dtype
    n_layers = len(p.ff_shapes)
    n_out = int(p.wout.shape[1])
    i32 = torch.int32
    spk = _Spikes(
        step=torch.empty((n_layers, batch, cap), dtype=i32, device=dev),
        neu=torch.empty((n_layers, batch, cap), dtype=i32, device=dev),
        den=torch.empty((n_layers, batch, cap), dtype=dtype, device=dev),
        cnt=torch.zeros((n_layers, batch), dtype=i32, device=dev),
        o_step=torch.empty((batch, cap_o), dtype=i32, device=dev),
        o_neu=torch.empty((batch, cap_o), dtype=i32, device=dev),
        o_den=torch.empty((batch, cap_o), dtype=dtype, device=dev),
        o_cnt=torch.zeros(batch, dtype=i32, device=dev),
    )
    acc = torch.empty((batch, n_out), dtype=dtype, device=dev)
    vmax = torch.empty((batch, n_out), dtype=dtype, device=dev)
    argmax = torch.empty((batch, n_out), dtype=torch.int64, device=dev)
    first = torch.empty((batch, n_out), dtype=torch.int64, device=dev)
    trace = torch.empty((t_steps if kind == _KIND["trace"] else 1, batch, n_out), dtype=dtype, device=dev)
    st_v = torch.zeros((batch, p.ntot), dtype=dtype, device=dev)
    st_i = torch.zeros((batch, p.ntot), dtype=dtype, device=dev)
    lst = torch.zeros((batch, 2, p.ntot), dtype=i32, device=dev)
    lcnt = torch.zeros((batch, 2, n_layers), dtype=i32, device=dev)
    _launch(
        K.forward_kernel, batch, ev.ptr, ev.ch, ev.val,
        p.wff, p.ff_off, p.sizes, p.noff, p.wrec, p.rec_off, p.wout, p.bias, p.hc, p.oc, coeff,
        st_v, st_i, lst, lcnt,
        spk.step, spk.neu, spk.den, spk.cnt, spk.o_step, spk.o_neu, spk.o_den, spk.o_cnt,
        acc, vmax, argmax, trace, first,
        t_steps, batch, n_layers, p.ntot, n_out, cap, cap_o,
        HAS_BIAS=p.has_bias, OUT_LIF=lif_out, KIND=kind, BLOCK=p.block, OBLOCK=p.oblock,
        EB=_EVENT_BLOCK,
    )  # fmt: skip
    return spk, acc, vmax, argmax, trace, first


def _launch(kernel: Any, batch: int, *args: Any, **meta: Any) -> None:
    """Launch ``kernel`` on the grid ``(batch,)``. On the device: no multiply-add contraction
    (``enable_fp_fusion=False``; the CPU kernels and torch round each operation). Under the
    interpreter, Triton reads ``TRITON_INTERPRET`` again while it runs a kernel, so the variable
    is set for the duration of the call (and restored)."""
    if not bool(_kernels().INTERPRETED):
        kernel[(batch,)](*args, **meta, enable_fp_fusion=False)
        return
    old = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        kernel[(batch,)](*args, **meta)
    finally:
        if old is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = old


def _readout_coeff(cfg: EventPropConfig, t_steps: int, dtype: torch.dtype, dev: torch.device) -> Tensor:
    ro = cfg.readout
    if isinstance(ro, WeightedVoltage):
        return ro.coefficients(t_steps, dtype, dev).contiguous()
    return torch.zeros(1, dtype=dtype, device=dev)


def _run_forward(
    cfg: EventPropConfig, net: NetworkTensors, x: Tensor, p: _Packed, ev: _Events
) -> tuple[Tensor, Tensor, tuple[SpikeRecord, ...], SpikeRecord | None, _Spikes, Tensor]:
    t_steps, batch, _ = x.shape
    lif_out = net.spec.output_kind == "lif"
    kind = _KIND[cfg.readout.kind]
    coeff = _readout_coeff(cfg, t_steps, x.dtype, x.device)
    n_out = int(p.wout.shape[1])
    sizes = [s[1] for s in p.ff_shapes]
    cap = max(_MIN_CAP, t_steps * max(sizes) // _CAP_DIV)
    cap_o = max(_MIN_CAP, t_steps * n_out // _CAP_DIV) if lif_out else 1
    while True:
        spk, acc, vmax, argmax, trace, first = _forward_pass(
            ev, p, t_steps, batch, lif_out, kind, coeff, cap, cap_o
        )
        need = int(spk.cnt.max()) if spk.cnt.numel() else 0
        need_o = int(spk.o_cnt.max()) if lif_out else 0
        if need <= cap and need_o <= cap_o:
            break
        # overflow: the counts ran past the buffers; rerun once with the exact capacity
        cap, cap_o = max(cap, need), max(cap_o, need_o)
    hidden = tuple(
        _record(spk.step[k], spk.neu[k], spk.den[k], spk.cnt[k], t_steps, sizes[k])
        for k in range(len(sizes))
    )
    for layer, rec in enumerate(hidden):
        _check_spike_budget(rec, cfg, f"hidden layer {layer}")
    out_rec = None
    fired = torch.zeros(batch, n_out, dtype=torch.bool, device=x.device)
    if lif_out:
        out_rec = _record(spk.o_step, spk.o_neu, spk.o_den, spk.o_cnt, t_steps, n_out)
        _check_spike_budget(out_rec, cfg, "output layer")
        fired = first <= t_steps
        value = torch.where(fired, first, t_steps).to(x.dtype) * net.spec.dt_s
        extra = first
    elif kind == _KIND["max"]:
        value, extra = vmax, argmax
    elif kind == _KIND["trace"]:
        value, extra = trace, argmax
    else:
        value, extra = acc, argmax
    return value, fired, hidden, out_rec, spk, extra


def _run_backward(
    cfg: EventPropConfig, net: NetworkTensors, shape: tuple[int, int], p: _Packed, ev: _Events,
    hidden: tuple[SpikeRecord, ...], spk: _Spikes, extra: Tensor, g_readout: Tensor,
) -> list[Tensor | None]:  # fmt: skip
    K = _kernels()
    t_steps, batch = shape
    dev, dtype = p.wout.device, p.wout.dtype
    kind = _KIND[cfg.readout.kind]
    oc = net.out_coeffs
    n_layers = len(p.ff_shapes)
    n_last, n_out = int(p.wout.shape[0]), int(p.wout.shape[1])
    coeff = _readout_coeff(cfg, t_steps, dtype, dev)
    g = g_readout.to(dtype).contiguous()
    reg = torch.zeros(p.ntot, dtype=dtype, device=dev)
    if cfg.regulariser is not None:
        base = 0
        for r in hidden:
            reg[base : base + r.n_neurons] = cfg.regulariser.adjoint_jump(r.counts()).to(dtype)
            base += r.n_neurons
    npd = p.oc_host.dtype
    eps_arr = torch.from_numpy(
        np.array([cfg.guard_eps, 0.0, oc.mu_v / oc.tau_mem_s, oc.mu_i / oc.tau_syn_s], dtype=npd)
    ).to(dev)
    # the direct bias term (1 - mu_v) G divided by the bias scale -(1 - alpha) tau_m (float64,
    # from the coefficients in the working dtype, as the CPU kernels compute it)
    och = p.oc_host
    src_b = -(1.0 - float(och[11])) / (float(och[7]) * float(och[8]))
    src_b_arr = torch.tensor([src_b], dtype=torch.float64, device=dev)
    lv_s = torch.zeros((batch, p.ntot), dtype=dtype, device=dev)
    li_s = torch.zeros((batch, p.ntot), dtype=dtype, device=dev)
    fb_s = torch.zeros((batch, p.ntot), dtype=dtype, device=dev)
    rng = torch.zeros((batch, 3, n_layers), dtype=torch.int32, device=dev)
    g_ff = torch.zeros(p.wff.numel(), dtype=dtype, device=dev)
    g_rec = torch.zeros(p.wrec.numel(), dtype=dtype, device=dev)
    g_out = torch.zeros((n_last, n_out), dtype=dtype, device=dev)
    g_bias = torch.zeros(n_out, dtype=torch.float64, device=dev)
    _launch(
        K.backward_kernel, batch, ev.ptr, ev.ch, ev.val,
        p.wff, p.ff_off, p.sizes, p.noff, p.wrec, p.rec_off, p.wout, p.hc, p.oc, coeff,
        g, extra.contiguous(), reg, eps_arr, src_b_arr,
        spk.step, spk.neu, spk.den, spk.cnt, spk.o_step, spk.o_neu, spk.o_den, spk.o_cnt,
        lv_s, li_s, fb_s, rng,
        g_ff, g_rec, g_out, g_bias,
        t_steps, batch, n_layers, p.ntot, n_out, int(spk.step.shape[2]), int(spk.o_step.shape[1]),
        HAS_BIAS=p.has_bias, HAS_REG=cfg.regulariser is not None, KIND=kind,
        BLOCK=p.block, OBLOCK=p.oblock, EB=_EVENT_BLOCK,
    )  # fmt: skip
    grads: list[Tensor | None] = []
    ff_off = p.ff_off.tolist()
    rec_off = p.rec_off.tolist()
    for layer, (rows, cols) in enumerate(p.ff_shapes):
        o = int(ff_off[layer])
        block = g_ff[o : o + rows * cols].reshape(rows, cols)
        grads.append(_scaled(block, -net.coeffs[layer].tau_syn_s, dtype))
    for layer, rshape in enumerate(p.rec_shapes):
        if rshape is not None:
            o = int(rec_off[layer])
            block = g_rec[o : o + rshape[0] * rshape[1]].reshape(rshape)
            grads.append(_scaled(block, -net.coeffs[layer].tau_syn_s, dtype))
    grads.append(_scaled(g_out, -oc.tau_syn_s, dtype))
    if p.has_bias:
        grads.append(_scaled(g_bias, -(1.0 - oc.alpha) * oc.tau_mem_s, dtype))
    return grads


def _scaled(acc: Tensor, scale: float, dtype: torch.dtype) -> Tensor:
    """``scale * acc`` in float64, rounded once to ``dtype``."""
    return (acc.double() * scale).to(dtype)


class _CudaEventPropFn(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, cfg: EventPropConfig, record: KernelRecord, net: NetworkTensors, x: Tensor,
        *params: Tensor,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        w_ff, w_rec, w_out, bias = _unflatten(net, params)
        packed = _pack(net, w_ff, w_rec, w_out, bias)
        ev = _events(x)
        value, fired, hidden, out_rec, spk, extra = _run_forward(cfg, net, x, packed, ev)
        guard = count_guard_hits(hidden, out_rec, cfg.guard_eps)
        record.spikes = hidden
        record.output_spikes = out_rec
        record.guard_hits = guard
        ctx.cfg = cfg
        ctx.net = net
        ctx.ev = ev
        ctx.hidden = hidden
        ctx.spk = spk
        ctx.extra = extra
        ctx.guard_hits = guard
        ctx.shape = (x.shape[0], x.shape[1])
        ctx.save_for_backward(*params)
        ctx.mark_non_differentiable(fired)
        return value, fired

    @staticmethod
    def backward(ctx: Any, g_readout: Tensor, _g_fired: Tensor | None) -> tuple[Tensor | None, ...]:
        params = ctx.saved_tensors
        net: NetworkTensors = ctx.net
        w_ff, w_rec, w_out, bias = _unflatten(net, tuple(params))
        packed = _pack(net, w_ff, w_rec, w_out, bias)
        grads = _run_backward(
            ctx.cfg, net, ctx.shape, packed, ctx.ev, ctx.hidden, ctx.spk, ctx.extra, g_readout
        )
        check_finite_gradients(list(grads), net, ctx.guard_hits)
        return (None, None, None, None, *grads)


def cuda_eventprop_forward(
    cfg: EventPropConfig, net: NetworkTensors, x: Tensor
) -> tuple[Tensor, Tensor, KernelRecord]:
    """EventProp on the CUDA kernels: returns ``(readout, fired, record)`` like
    :func:`eventbench.eventprop.function.eventprop_forward`; ``readout`` is differentiable in
    the weights of ``net``. Raises ``ValueError`` when :func:`unsupported_reason` names a reason
    and when an input count is negative or not finite."""
    reason = unsupported_reason(cfg, net, x)
    if reason is not None:
        raise ValueError(f"EventProp backend 'cuda-kernel' cannot run this call: {reason}")
    record = KernelRecord()
    record.input_events = input_event_count(x)
    value, fired = _CudaEventPropFn.apply(  # type: ignore[no-untyped-call]
        cfg, record, net, x if x.is_sparse else x.contiguous(), *_flatten(net)
    )
    return value, fired, record
