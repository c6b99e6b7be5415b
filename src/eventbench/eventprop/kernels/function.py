r"""EventProp on the compiled CPU kernels, as a ``torch.autograd.Function``.

Same contract as :func:`eventbench.eventprop.function.eventprop_forward` (the semantic definition):
the readout is differentiable in the weights, spikes come back as
:class:`~eventbench.core.records.SpikeRecord` s ordered by ``(stamp, sample, neuron)``, guard hits
are counted the same way. The forward and the reverse replay run in
:mod:`eventbench.eventprop.kernels._numba_kernels`, with no Python loop over time steps.

The input ``x [T, B, n_in]`` is dense or sparse COO; a dense one is scanned once, a sparse one is
read in ``O(nnz)``. What is kept between forward and backward: the input events of each block of
samples (``O(input events)``), per-sample spike lists (``O(spikes)``) and the readout's arg-max or
first-spike stamps (``[B, n_out]``); not the input itself, and nothing of size ``T x B x N``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from eventbench.core.network import BAD_COUNTS, NetworkTensors
from eventbench.core.params import StepCoeffs
from eventbench.core.records import SpikeRecord
from eventbench.core.threads import kernel_threads, serial_torch
from eventbench.eventprop.function import (
    EventPropConfig,
    ForwardRecord,
    _check_spike_budget,
    _flatten,
    _unflatten,
    check_finite_gradients,
)
from eventbench.eventprop.kernels import _numba_kernels as K
from eventbench.readout.readouts import WeightedVoltage

__all__ = ["kernel_eventprop_forward", "unsupported_reason"]

Arr = npt.NDArray[Any]

_KIND = {"weighted": K.KIND_WEIGHTED, "max": K.KIND_MAX, "trace": K.KIND_TRACE, "first_spike": K.KIND_FIRST}

#: initial per-sample spike capacity is ``max(_MIN_CAP, T * N // _CAP_DIV, hint)`` (a rate of
#: 1/32 spikes per neuron and step, 31 Hz at 1 ms, or what earlier calls of the same shape
#: needed, see :class:`_CapacityHints`); a sample with more spikes triggers one rerun of the
#: forward pass with the exact capacity.
_MIN_CAP = 256
_CAP_DIV = 32


class _CapacityHints:
    """The spike capacities that earlier forward passes needed, per ``(T, largest layer,
    readout size)``, with 25 % headroom: the rate varies from sample to sample (an SHD batch with
    a few loud samples passes 31 Hz in some neuron population and step window), and each
    overflow costs a whole rerun of the forward pass. The capacity only sizes buffers; results
    do not depend on it."""

    def __init__(self, max_entries: int = 64) -> None:
        self._seen: dict[tuple[int, int, int], tuple[int, int]] = {}
        self._max = max_entries

    def get(self, key: tuple[int, int, int]) -> tuple[int, int]:
        return self._seen.get(key, (0, 0))

    def update(self, key: tuple[int, int, int], need: int, need_o: int) -> None:
        old, old_o = self.get(key)
        if need <= old and need_o <= old_o:
            return
        if len(self._seen) >= self._max and key not in self._seen:
            self._seen.clear()
        self._seen[key] = (max(old, need + need // 4), max(old_o, need_o + need_o // 4))


_HINTS = _CapacityHints()


def unsupported_reason(cfg: EventPropConfig, net: NetworkTensors, x: Tensor) -> str | None:
    """Why the CPU kernel cannot run this call (``None`` when it can).

    Covered: CPU tensors of float32/float64, any number of hidden layers, with or without
    recurrence, ``"li"`` readouts with the weighted, max and trace readouts (with or without
    bias), ``"lif"`` readouts with the first-spike readout, the rate regulariser and the guard.
    Not covered (the torch path runs them): CUDA or other devices, the test-only
    ``variant`` hook, and voltage readouts on a spiking (``"lif"``) readout population,
    which the torch path defines as an all-zero readout.
    """
    if x.device.type != "cpu":
        return f"the input is on {x.device.type}, the kernel runs on CPU tensors only"
    if x.dtype not in (torch.float32, torch.float64):
        return f"dtype {x.dtype} is not float32 or float64"
    if cfg.variant is not None:
        return "the test-only wrong adjoint variants are implemented by the torch path only"
    lif_out = net.spec.output_kind == "lif"
    if lif_out != (cfg.readout.kind == "first_spike"):
        return (
            f"readout kind {cfg.readout.kind!r} with output_kind {net.spec.output_kind!r} is "
            "handled by the torch path only"
        )
    return None


def _arr(t: Tensor) -> Arr:
    """Zero-copy NumPy view of a contiguous CPU tensor (detached)."""
    return np.asarray(t.detach().contiguous().numpy())


@dataclass
class _Input:
    """The input of one call as the kernels read it: dense (``dense`` ``[T, B, n_in]``) or
    sparse (``coo``: step, sample and channel indices and the counts of the coalesced COO
    tensor, ``O(nnz)``)."""

    t_steps: int
    batch: int
    dtype: npt.DTypeLike
    dense: Arr | None
    coo: tuple[Arr, Arr, Arr, Arr] | None


def _input(x: Tensor) -> _Input:
    """Zero-copy views of a dense input, or the index and value arrays of a sparse COO input
    (coalesced first: sorted by ``(step, sample, channel)``, duplicates summed)."""
    t_steps, batch, _ = x.shape
    if x.is_sparse:
        c = x if x.is_coalesced() else x.coalesce()
        idx = c.indices().numpy()
        vals = _arr(c.values())
        return _Input(t_steps, batch, vals.dtype, None, (idx[0], idx[1], idx[2], vals))
    xa = _arr(x)
    return _Input(t_steps, batch, xa.dtype, xa, None)


def _coeff_row(c: StepCoeffs, dtype: npt.DTypeLike) -> Arr:
    # (alpha, beta, rho, kappa, threshold, threshold - v_reset, v_reset, 1 - alpha, tau_mem,
    # tau_syn, dt, mu_v, mu_i, 1 - mu_v, equal_tau): python floats (double) rounded once to the
    # working dtype, as torch does with scalars
    equal = abs(c.tau_mem_s - c.tau_syn_s) <= 1e-9 * c.tau_mem_s
    return np.array(
        [
            c.alpha,
            c.beta,
            c.rho,
            c.kappa,
            c.threshold,
            c.threshold - c.v_reset,
            c.v_reset,
            1.0 - c.alpha,
            c.tau_mem_s,
            c.tau_syn_s,
            c.dt_s,
            c.mu_v,
            c.mu_i,
            1.0 - c.mu_v,
            1.0 if equal else 0.0,
        ],
        dtype=dtype,
    )


@dataclass
class _Packed:
    """Weights and coefficients in the kernels' packed layout (see ``_numba_kernels``)."""

    wff: Arr
    ff_off: Arr
    sizes: Arr
    noff: Arr
    wrec: Arr
    rec_off: Arr
    wout: Arr
    bias: Arr
    has_bias: bool
    hc: Arr
    oc: Arr
    ff_shapes: list[tuple[int, int]]
    rec_shapes: list[tuple[int, int] | None]
    dff: Arr
    drec: Arr
    lay_dly: Arr
    ring_off: Arr


def _pack(
    net: NetworkTensors,
    w_ff: list[Tensor],
    w_rec: list[Tensor | None],
    w_out: Tensor,
    bias: Tensor | None,
    dtype: npt.DTypeLike,
) -> _Packed:
    ff = [_arr(w) for w in w_ff]
    rec = [_arr(w) if w is not None else None for w in w_rec]
    sizes = np.array([w.shape[1] for w in ff], dtype=np.int64)
    noff = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    ff_len = [w.size for w in ff]
    ff_off = np.concatenate([[0], np.cumsum(ff_len)[:-1]]).astype(np.int64)
    wff = ff[0].reshape(-1) if len(ff) == 1 else np.concatenate([w.reshape(-1) for w in ff])
    rec_off = np.full(len(rec), -1, dtype=np.int64)
    parts: list[Arr] = []
    pos = 0
    for layer, r in enumerate(rec):
        if r is not None:
            rec_off[layer] = pos
            parts.append(r.reshape(-1))
            pos += r.size
    if not parts:
        wrec = np.zeros(1, dtype=dtype)
    elif len(parts) == 1:
        wrec = parts[0]
    else:
        wrec = np.concatenate(parts)
    has_bias = bias is not None
    # delays, laid out like the weights (zeros where a layer has none)
    n_layers = len(ff)
    dff = np.zeros(wff.size if net.has_delays else 1, np.int32)
    drec = np.zeros(wrec.size if net.has_delays else 1, np.int32)
    lay_dly = np.zeros((n_layers, 3), np.int64)
    if net.has_delays:
        d_ff, d_rec = net.delay_steps()
        for layer in range(n_layers):
            dfl, drl = d_ff[layer], d_rec[layer]
            n_post = int(sizes[layer])
            # ring offsets D * n_post + m of each target m (what the kernels index with)
            cols = np.arange(n_post, dtype=np.int64)
            if dfl is not None:
                o = int(ff_off[layer])
                dff[o : o + ff[layer].size] = (dfl.cpu().numpy() * n_post + cols).reshape(-1)
                lay_dly[layer, 0] = 1
            if drl is not None:
                o = int(rec_off[layer])
                drec[o : o + drl.numel()] = (drl.cpu().numpy() * n_post + cols).reshape(-1)
                lay_dly[layer, 1] = 1
            if dfl is not None or drl is not None:
                lay_dly[layer, 2] = net.ring_size(layer)
    ring_sizes = lay_dly[:, 2] * sizes
    ring_off = np.concatenate([[0], np.cumsum(ring_sizes)[:-1]]).astype(np.int64)
    return _Packed(
        wff=wff,
        ff_off=ff_off,
        sizes=sizes,
        noff=noff,
        wrec=wrec,
        rec_off=rec_off,
        wout=_arr(w_out),
        bias=_arr(bias) if bias is not None else np.zeros(w_out.shape[1], dtype=dtype),
        has_bias=has_bias,
        hc=np.stack([_coeff_row(c, dtype) for c in net.coeffs]),
        oc=_coeff_row(net.out_coeffs, dtype),
        ff_shapes=[(int(w.shape[0]), int(w.shape[1])) for w in ff],
        rec_shapes=[(int(r.shape[0]), int(r.shape[1])) if r is not None else None for r in rec],
        dff=dff,
        drec=drec,
        lay_dly=lay_dly,
        ring_off=ring_off,
    )


@dataclass
class _Spikes:
    """Per-sample spike lists of the hidden layers ``[L, B, cap]`` and of the readout ``[B, cap]``,
    and the input events of each block of samples (``(ev_ptr, ev_ch, ev_val)`` per block, sample-
    major for a dense input and step-major for a sparse one: ``sample_major``, see
    :func:`~eventbench.eventprop.kernels._numba_kernels.event_index`)."""

    step: Arr
    neu: Arr
    den: Arr
    cnt: Arr
    o_step: Arr
    o_neu: Arr
    o_den: Arr
    o_cnt: Arr
    blocks: list[tuple[int, int]]
    events: list[tuple[Arr, Arr, Arr]]
    sample_major: bool


_POOL: ThreadPoolExecutor | None = None


def _blocks(batch: int) -> list[tuple[int, int]]:
    """Contiguous sample blocks, one per kernel thread (the caller's torch thread count,
    :func:`eventbench.core.threads.kernel_threads`)."""
    n = max(1, min(batch, kernel_threads()))
    return [(k * batch // n, (k + 1) * batch // n) for k in range(n)]


def _parallel(fn: Callable[[int, int, int], None], blocks: list[tuple[int, int]]) -> None:
    """Run ``fn(block_index, b0, b1)`` for every block; the kernels release the GIL, so the
    blocks run in parallel. Exceptions propagate."""
    global _POOL
    if len(blocks) == 1:
        fn(0, *blocks[0])
        return
    if _POOL is None or _POOL._max_workers < len(blocks):
        _POOL = ThreadPoolExecutor(max_workers=len(blocks), thread_name_prefix="eventprop")
    futures = [_POOL.submit(fn, k, b0, b1) for k, (b0, b1) in enumerate(blocks)]
    for f in futures:
        f.result()


def _record(
    step: Arr,
    neu: Arr,
    den: Arr,
    cnt: Arr,
    t_steps: int,
    n_neurons: int,
    dtype: torch.dtype,
    guard_eps: float,
    blocks: list[tuple[int, int]],
) -> tuple[SpikeRecord, int]:
    """The :class:`SpikeRecord` of per-sample spike lists, merged in parallel over stamp ranges
    (one per kernel thread), and its number of crossings with ``I - V < guard_eps`` (what
    :func:`~eventbench.eventprop.function.count_guard_hits` counts)."""
    batch = step.shape[0]
    total = int(cnt.sum())
    o_step = np.empty(total, np.int64)
    o_batch = np.empty(total, np.int64)
    o_neu = np.empty(total, np.int64)
    o_den = np.empty(total, den.dtype)
    guard = np.array(guard_eps, den.dtype)[()]  # torch rounds a Python scalar to the tensor's dtype
    hits = [0] * len(blocks)
    ranges = [(1 + k * t_steps // len(blocks), 1 + (k + 1) * t_steps // len(blocks))
              for k in range(len(blocks))]  # stamps 1 .. T

    def merge(k: int, _b0: int, _b1: int) -> None:
        hits[k] = K.build_record_kernel(
            step, neu, den, cnt, *ranges[k], guard, o_step, o_batch, o_neu, o_den
        )

    _parallel(merge, blocks)
    record = SpikeRecord(
        torch.from_numpy(o_step),
        torch.from_numpy(o_batch),
        torch.from_numpy(o_neu),
        torch.from_numpy(o_den).to(dtype),
        t_steps,
        batch,
        n_neurons,
    )
    return record, sum(hits)


def _forward_pass(
    inp: _Input,
    p: _Packed,
    lif_out: bool,
    kind: int,
    coeff: Arr,
    cap: int,
    cap_o: int,
    blocks: list[tuple[int, int]],
) -> tuple[_Spikes, Arr, Arr, Arr, Arr, Arr, Arr]:
    """One run of the forward kernel with spike capacities ``cap`` (hidden) and ``cap_o``.
    Raises ``ValueError`` if an input count is negative or not finite."""
    t_steps, batch, npd = inp.t_steps, inp.batch, inp.dtype
    n_layers = p.sizes.shape[0]
    n_out = p.wout.shape[1]
    spk = _Spikes(
        step=np.empty((n_layers, batch, cap), np.int32),
        neu=np.empty((n_layers, batch, cap), np.int32),
        den=np.empty((n_layers, batch, cap), npd),
        cnt=np.zeros((n_layers, batch), np.int64),
        o_step=np.empty((batch, cap_o), np.int32),
        o_neu=np.empty((batch, cap_o), np.int32),
        o_den=np.empty((batch, cap_o), npd),
        o_cnt=np.zeros(batch, np.int64),
        blocks=blocks,
        events=[(np.zeros(1, np.int64), np.empty(0, np.int32), np.empty(0, npd))] * len(blocks),
        sample_major=inp.coo is None,
    )
    acc = np.zeros((batch, n_out), npd)
    vmax = np.full((batch, n_out), -np.inf, npd)
    argmax = np.zeros((batch, n_out), np.int64)
    trace = np.empty((t_steps if kind == K.KIND_TRACE else 0, batch, n_out), npd)
    first = np.full((batch, n_out), t_steps + 1, np.int64)
    events = np.zeros(batch, np.float64)
    bad = np.zeros(batch, np.int64)

    dense = inp.coo is None
    x_flat = inp.dense.reshape(-1) if inp.dense is not None else np.empty(0, npd)
    n_in = inp.dense.shape[2] if inp.dense is not None else 0

    def fwd(k: int, b0: int, b1: int) -> None:
        # the event-driven simulation of the block: it scans a dense input row by row as it
        # goes; a sparse input's events are sorted into their bins first, in O(nnz)
        if inp.coo is not None:
            ev = K.sparse_events_kernel(*inp.coo, t_steps, b0, b1, events, bad)
        else:
            ev = spk.events[k]  # empty placeholders of the right types
        spk.events[k] = K.forward_kernel(
            dense, x_flat, batch, n_in, events, bad, *ev, t_steps,
            p.wff, p.ff_off, p.sizes, p.noff, p.wrec, p.rec_off,
            p.wout, p.bias, p.has_bias, p.hc, p.oc, lif_out, kind, coeff, b0, b1,
            spk.step, spk.neu, spk.den, spk.cnt, spk.o_step, spk.o_neu, spk.o_den, spk.o_cnt,
            acc, vmax, argmax, trace, first, p.dff, p.drec, p.lay_dly, p.ring_off,
        )  # fmt: skip

    _parallel(fwd, blocks)
    if bad.any():
        b = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{BAD_COUNTS}: sample {b} of the batch has {int(bad[b])} negative or non-finite "
            "count(s)"
        )
    return spk, acc, vmax, argmax, trace, first, events


def _run_forward(
    cfg: EventPropConfig, net: NetworkTensors, x: Tensor, p: _Packed
) -> tuple[Tensor, Tensor, tuple[SpikeRecord, ...], SpikeRecord | None, _Spikes, Arr, int, int]:
    t_steps, batch, _ = x.shape
    dtype = x.dtype
    inp = _input(x)
    npd = inp.dtype
    n_layers = p.sizes.shape[0]
    n_out = p.wout.shape[1]
    lif_out = net.spec.output_kind == "lif"
    ro = cfg.readout
    kind = _KIND[ro.kind]
    coeff = (
        _arr(ro.coefficients(t_steps, dtype, x.device))
        if isinstance(ro, WeightedVoltage)
        else np.zeros(1, npd)
    )
    key = (t_steps, int(p.sizes.max()), n_out)
    hint, hint_o = _HINTS.get(key)
    cap = max(_MIN_CAP, t_steps * int(p.sizes.max()) // _CAP_DIV, hint)
    cap_o = max(_MIN_CAP, t_steps * n_out // _CAP_DIV, hint_o) if lif_out else 1
    blocks = _blocks(batch)
    while True:
        spk, acc, vmax, argmax, trace, first, events = _forward_pass(
            inp, p, lif_out, kind, coeff, cap, cap_o, blocks
        )
        need = int(spk.cnt.max()) if spk.cnt.size else 0
        need_o = int(spk.o_cnt.max()) if lif_out else 0
        _HINTS.update(key, need, need_o)
        if need <= cap and need_o <= cap_o:
            break
        cap, cap_o = max(cap, need), max(cap_o, need_o)

    guard = 0
    records = []
    for layer in range(n_layers):
        rec, hits = _record(
            spk.step[layer], spk.neu[layer], spk.den[layer], spk.cnt[layer], t_steps,
            int(p.sizes[layer]), dtype, cfg.guard_eps, blocks,
        )
        _check_spike_budget(rec, cfg, f"hidden layer {layer}")
        records.append(rec)
        guard += hits
    hidden = tuple(records)
    out_rec = None
    fired = torch.zeros(batch, n_out, dtype=torch.bool)
    if lif_out:
        out_rec, hits = _record(
            spk.o_step, spk.o_neu, spk.o_den, spk.o_cnt, t_steps, n_out, dtype, cfg.guard_eps,
            blocks,
        )
        _check_spike_budget(out_rec, cfg, "output layer")
        guard += hits
        first_t = torch.from_numpy(first)
        fired = first_t <= t_steps
        value = torch.where(fired, first_t, t_steps).to(dtype) * net.spec.dt_s
        extra = first
    elif kind == K.KIND_MAX:
        value, extra = torch.from_numpy(vmax), argmax
    elif kind == K.KIND_TRACE:
        value, extra = torch.from_numpy(trace), argmax
    else:
        value, extra = torch.from_numpy(acc), argmax
    n_events = int(events.sum())
    return value, fired, hidden, out_rec, spk, extra, n_events, guard


def _run_backward(
    cfg: EventPropConfig,
    net: NetworkTensors,
    shape: tuple[int, int],
    dtype: torch.dtype,
    p: _Packed,
    hidden: tuple[SpikeRecord, ...],
    spk: _Spikes,
    extra: Arr,
    g_readout: Tensor,
) -> list[Tensor | None]:
    t_steps, batch = shape
    npd = p.wff.dtype
    ro = cfg.readout
    kind = _KIND[ro.kind]
    oc = net.out_coeffs
    n_out = p.wout.shape[1]
    n_last = p.wout.shape[0]
    coeff = (
        _arr(ro.coefficients(t_steps, dtype, torch.device("cpu")))
        if isinstance(ro, WeightedVoltage)
        else np.zeros(1, npd)
    )
    g = _arr(g_readout.to(dtype))
    if kind != K.KIND_TRACE:
        g = g.reshape(1, batch, n_out)  # the kernel reads g[0, b, k] (g[n, b, k] for traces)
    ntot = int(p.noff[-1] + p.sizes[-1])
    reg = np.zeros(ntot, npd)
    if cfg.regulariser is not None:
        for layer, r in enumerate(hidden):
            base = int(p.noff[layer])
            reg[base : base + int(p.sizes[layer])] = _arr(
                cfg.regulariser.adjoint_jump(r.counts()).to(dtype)
            )
    # (guard, typed zero, source factors mu_v / tau_m and mu_i / tau_s of the voltage readouts)
    eps_arr = np.array(
        [cfg.guard_eps, 0.0, oc.mu_v / oc.tau_mem_s, oc.mu_i / oc.tau_syn_s], dtype=npd
    )
    blocks = spk.blocks
    nb = len(blocks)
    # written in full by each block's kernel: no zeroing here
    g_ff = np.empty((nb, p.wff.size), np.float64)
    g_rec = np.empty((nb, p.wrec.size if (p.rec_off >= 0).any() else 1), np.float64)
    g_out = np.empty((nb, n_last, n_out), np.float64)
    g_bias = np.empty((nb, n_out), np.float64)
    g_dff = np.empty((nb, p.dff.size), np.float64)
    g_drec = np.empty((nb, p.drec.size), np.float64)
    has_reg = cfg.regulariser is not None

    def bwd(k: int, b0: int, b1: int) -> None:
        ev_ptr, ev_ch, ev_val = spk.events[k]
        K.backward_kernel(
            spk.sample_major, ev_ptr, ev_ch, ev_val, p.wff, p.ff_off, p.sizes, p.noff, p.wrec, p.rec_off, p.wout, p.has_bias, p.hc,
            p.oc, kind, coeff, g, extra, extra, reg, has_reg, eps_arr, b0, b1,
            spk.step, spk.neu, spk.den, spk.cnt, spk.o_step, spk.o_neu, spk.o_den, spk.o_cnt,
            g_ff[k], g_rec[k], g_out[k], g_bias[k], p.dff, p.drec, p.lay_dly, p.ring_off,
            g_dff[k], g_drec[k],
        )  # fmt: skip

    _parallel(bwd, blocks)
    # sum the blocks' float64 buffers, scale, round once to the working dtype (compiled, split
    # over the kernel threads for the weight matrices; NumPy for the small rest: no torch thread
    # pool round trips for host-side work)
    grads: list[Tensor | None] = []
    for layer, (rows, cols) in enumerate(p.ff_shapes):
        o = int(p.ff_off[layer])
        grads.append(_reduced(g_ff, o, (rows, cols), -net.coeffs[layer].tau_syn_s, npd, blocks))
    for layer, rshape in enumerate(p.rec_shapes):
        if rshape is not None:
            o = int(p.rec_off[layer])
            grads.append(_reduced(g_rec, o, rshape, -net.coeffs[layer].tau_syn_s, npd, blocks))
    grads.append(_scaled(g_out.sum(axis=0), -oc.tau_syn_s, npd))
    if p.has_bias:
        grads.append(_scaled(g_bias.sum(axis=0), -(1.0 - oc.alpha) * oc.tau_mem_s, npd))
    if net.has_delays:
        gdff, gdrec = g_dff.sum(axis=0), g_drec.sum(axis=0)
        for layer, (rows, cols) in enumerate(p.ff_shapes):
            if p.lay_dly[layer, 0]:
                o = int(p.ff_off[layer])
                grads.append(_scaled(gdff[o : o + rows * cols].reshape(rows, cols), 1.0, npd))
        for layer, rshape in enumerate(p.rec_shapes):
            if rshape is not None and p.lay_dly[layer, 1]:
                o = int(p.rec_off[layer])
                grads.append(_scaled(gdrec[o : o + rshape[0] * rshape[1]].reshape(rshape), 1.0, npd))
    return grads


def _reduced(
    parts: Arr,
    off: int,
    shape: tuple[int, int],
    scale: float,
    dtype: npt.DTypeLike,
    blocks: list[tuple[int, int]],
) -> Tensor:
    """``scale * parts[:, off : off + rows * cols].sum(axis=0)`` reshaped to ``shape`` and
    rounded to ``dtype`` (:func:`K.reduce_blocks_kernel`, index ranges split over the kernel
    threads), as a tensor."""
    size = shape[0] * shape[1]
    out = np.empty(size, dtype)
    view = parts[:, off : off + size]
    n = len(blocks)

    def part(k: int, _b0: int, _b1: int) -> None:
        K.reduce_blocks_kernel(view, scale, out, k * size // n, (k + 1) * size // n)

    _parallel(part, blocks)
    return torch.from_numpy(out.reshape(shape))


def _scaled(acc: Arr, scale: float, dtype: npt.DTypeLike) -> Tensor:
    """``scale * acc`` (float64) rounded to ``dtype``, as a tensor."""
    out = np.multiply(acc, scale).astype(dtype)
    return torch.from_numpy(out)


@dataclass
class KernelRecord(ForwardRecord):
    """:class:`~eventbench.eventprop.function.ForwardRecord` plus the input event count, which
    the kernel computes while it scans the input (float64 sum of the counts)."""

    input_events: int = 0


class _KernelEventPropFn(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        cfg: EventPropConfig,
        record: KernelRecord,
        net: NetworkTensors,
        x: Tensor,
        *params: Tensor,
    ) -> tuple[Tensor, Tensor]:
        w_ff, w_rec, w_out, bias = _unflatten(net, params)
        packed = _pack(net, w_ff, w_rec, w_out, bias, _arr(w_out).dtype)
        value, fired, hidden, out_rec, spk, extra, n_events, guard = _run_forward(
            cfg, net, x, packed
        )
        record.spikes = hidden
        record.output_spikes = out_rec
        record.guard_hits = guard
        record.input_events = n_events
        ctx.cfg = cfg
        ctx.net = net
        ctx.hidden = hidden
        ctx.spk = spk
        ctx.extra = extra
        ctx.guard_hits = guard
        ctx.shape = (x.shape[0], x.shape[1])
        ctx.dtype = x.dtype
        ctx.save_for_backward(*params)
        ctx.mark_non_differentiable(fired)
        return value, fired

    @staticmethod
    def backward(ctx: Any, g_readout: Tensor, _g_fired: Tensor | None) -> tuple[Tensor | None, ...]:
        # re-pack from the saved tensors: autograd checks that they were not modified in place
        params = ctx.saved_tensors
        net: NetworkTensors = ctx.net
        with serial_torch():  # the kernels take the cores (eventbench.core.threads)
            w_ff, w_rec, w_out, bias = _unflatten(net, tuple(params))
            packed = _pack(net, w_ff, w_rec, w_out, bias, _arr(params[0]).dtype)
            grads = _run_backward(
                ctx.cfg, net, ctx.shape, ctx.dtype, packed, ctx.hidden, ctx.spk, ctx.extra,
                g_readout.contiguous(),
            )
            check_finite_gradients(list(grads), net, ctx.guard_hits)
        return (None, None, None, None, *grads)


def kernel_eventprop_forward(
    cfg: EventPropConfig, net: NetworkTensors, x: Tensor
) -> tuple[Tensor, Tensor, KernelRecord]:
    """EventProp on the compiled CPU kernels: returns ``(readout, fired, record)`` like
    :func:`eventbench.eventprop.function.eventprop_forward`; ``readout`` is differentiable in
    the weights of ``net``. Raises ``ValueError`` when :func:`unsupported_reason` names a reason.
    """
    reason = unsupported_reason(cfg, net, x)
    if reason is not None:
        raise ValueError(f"EventProp backend 'cpu-kernel' cannot run this call: {reason}")
    record = KernelRecord()
    value, fired = _KernelEventPropFn.apply(  # type: ignore[no-untyped-call]
        cfg, record, net, x if x.is_sparse else x.contiguous(), *_flatten(net)
    )
    return value, fired, record
