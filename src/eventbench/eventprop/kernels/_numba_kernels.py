r"""Numba kernels of the discrete forward pass and the EventProp reverse replay (CPU).

These kernels implement, sample by sample, exactly the model and replay of ``docs/design.md`` (the
same equations as :mod:`eventbench.eventprop.function`, which is the semantic definition). Each
call handles one contiguous block of samples ``b0 <= b < b1`` with the GIL released; the caller
runs the blocks in parallel threads, which share nothing but read-only weights (every block has
its own gradient buffers).

Event-driven propagation: an input bin ``x[n, b, c] != 0`` adds ``x[n, b, c] * w_ff[c, :]`` to the
input current, a hidden spike adds one weight row; the work is ``events x fan-out``, not
``T x n_in x N``. The backward pass adds ``lambda_I`` rows at the same events.

Packed layout (all 1-D, C order, one dtype ``F`` = float32 or float64):

* hidden layer ``l`` has ``N_l = sizes[l]`` neurons at ``noff[l] .. noff[l] + N_l`` of the state
  vectors (``ntot`` in all);
* ``w_ff[l]`` (``[n_pre_l, N_l]``) is ``wff[ff_off[l] : ff_off[l] + n_pre_l * N_l]``;
* ``w_rec[l]`` (``[N_l, N_l]``) is ``wrec[rec_off[l] : ...]``, ``rec_off[l] = -1`` without one;
* ``hc[l] = (alpha, beta, rho, kappa, threshold, threshold - v_reset, v_reset, 1 - alpha,
  tau_mem, tau_syn, dt, mu_v, mu_i, 1 - mu_v, equal_tau)`` in ``F`` (python floats rounded once,
  as torch rounds scalars; ``equal_tau`` is 1 when ``tau_mem = tau_syn``), ``oc`` the same for
  the readout population.

Spikes are kept per sample, in time order: ``spk_step[l, b, :cnt]`` (stamp ``n + 1``),
``spk_neu`` and ``spk_den`` (``I(t*) - threshold`` at the crossing time ``t*``, see
:func:`eventbench.core.lif.crossing_slope`), with a capacity ``cap``; the count keeps
running past the capacity so that the caller can rerun with a larger buffer.

Input events are kept per block of samples: the events of sample ``b`` in bin ``n`` are
``ev_ptr[k] .. ev_ptr[k + 1]`` of ``ev_ch``/``ev_val`` (channel, count), with ``k`` from
:func:`event_index`. The forward kernel takes them from a dense input row by row as it simulates
(sample-major order), or reads those of :func:`sparse_events_kernel` for a sparse COO input
(step-major order); the backward pass reads them instead of the input.

Readout kinds: ``0`` weighted, ``1`` max, ``2`` trace, ``3`` first spike (LIF readout). The
weighted readout (a non-spiking population read through :math:`\sum_n c_n \bar V_n`) is
linear in the last layer's spikes, so neither pass integrates it step by step: the forward
pass adds one precomputed response per spike (:func:`_weighted_readout_kernel`) and the
reverse replay uses precomputed adjoint sequences (:func:`_weighted_readout_adjoint`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = [
    "backward_kernel",
    "build_record_kernel",
    "forward_kernel",
    "sparse_events_kernel",
]

Arr = npt.NDArray[Any]
_F = TypeVar("_F", bound=Callable[..., Any])


def _jit_inline(fn: _F) -> _F:
    """Like :func:`_jit`, inlined into its callers."""
    return cast(_F, numba.njit(nogil=True, fastmath=False, cache=True, inline="always")(fn))


def _jit(fn: _F) -> _F:
    """``numba.njit`` with the project's settings: no fast-math (IEEE rounding as in torch),
    cached on disk, and the GIL released so that blocks of samples run in parallel threads."""
    return cast(_F, numba.njit(nogil=True, fastmath=False, cache=True)(fn))


#: lanes of one vector compare in the scan and spike-collection intrinsics (input channels of a
#: dense row in :func:`_compress16_typer`, neurons in :func:`_spikes16_typer`)
SCAN_LANES = 16


def _splat(builder: Any, value: Any, vec: Any) -> Any:
    """The LLVM vector ``vec`` with every lane equal to ``value``."""
    i32 = ir.IntType(32)
    one = builder.insert_element(ir.Constant(vec, ir.Undefined), value, ir.Constant(i32, 0))
    zeros = ir.Constant(ir.VectorType(i32, vec.count), [0] * vec.count)
    return builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined), zeros)


def _declared(builder: Any, name: str, fnty: Any) -> Any:
    """The function ``name`` of the module being built, declared on first use."""
    try:
        return builder.module.get_global(name)
    except KeyError:
        return ir.Function(builder.module, fnty, name=name)


def _compress_store(builder: Any, vals: Any, mask: Any, ptr: Any) -> None:
    """Stores the lanes of the 16-lane vector ``vals`` set in ``mask`` (``<16 x i1>``) in lane
    order at ``ptr`` and may overwrite up to 16 elements there (the caller has that room): the
    lanes are packed in registers (``llvm.experimental.vector.compress``) and written with one
    plain vector store. A masked compress *store* (``llvm.masked.compressstore``) is one
    instruction on AVX-512 but microcoded and about as slow as a cache miss on some cores (AMD
    Zen 4); the register form is a few cycles on every AVX-512 core and lane by lane elsewhere.
    Vectors wider than 512 bits (16 x 64 bit) go as two halves of 8 lanes, the second stored
    after the lanes of the first."""
    vt = vals.type
    i32 = ir.IntType(32)
    if _lane_bits(vt.element) * SCAN_LANES > 512:
        half = SCAN_LANES // 2
        for h in range(2):
            sel = ir.Constant(ir.VectorType(i32, half), list(range(h * half, (h + 1) * half)))
            v_h = builder.shuffle_vector(vals, ir.Constant(vt, ir.Undefined), sel)
            m_h = builder.shuffle_vector(mask, ir.Constant(mask.type, ir.Undefined), sel)
            _compress_store_one(builder, v_h, m_h, ptr)
            if h == 0:
                ptr = builder.gep(ptr, [_popcount(builder, m_h)])
    else:
        _compress_store_one(builder, vals, mask, ptr)


def _compress_store_one(builder: Any, vals: Any, mask: Any, ptr: Any) -> None:
    """One register compress of ``vals`` under ``mask`` and one unaligned vector store of all
    its lanes at ``ptr`` (see :func:`_compress_store`)."""
    vt = vals.type
    bits = _lane_bits(vt.element)
    kind = f"v{vt.count}{'i' if isinstance(vt.element, ir.IntType) else 'f'}{bits}"
    compress = _declared(
        builder, f"llvm.experimental.vector.compress.{kind}", ir.FunctionType(vt, [vt, mask.type, vt])
    )
    packed = builder.call(compress, [vals, mask, ir.Constant(vt, ir.Undefined)])
    builder.store(packed, builder.bitcast(ptr, vt.as_pointer()), align=bits // 8)


def _lane_bits(t: Any) -> int:
    """Bits of the LLVM scalar type ``t`` (an integer, ``float`` or ``double``)."""
    if isinstance(t, ir.IntType):
        return int(t.width)
    return 64 if isinstance(t, ir.DoubleType) else 32


def _store_lanes(builder: Any, mask: Any, c0: Any, skip: Any, out: Any, k: Any, width: int) -> Any:
    """Stores the lane numbers ``c0 + i`` of the lanes ``i >= skip`` set in ``mask``
    (``<16 x i1>``) as ``width``-bit integers from element ``k`` of ``out`` (an array structure;
    up to 16 elements there may be overwritten, :func:`_compress_store`); returns the mask
    restricted to those lanes."""
    n = SCAN_LANES
    it = ir.IntType(width)
    vi = ir.VectorType(it, n)
    lane = ir.Constant(vi, list(range(n)))
    skip_v = _splat(builder, builder.trunc(skip, it) if width < 64 else skip, vi)
    mask = builder.and_(mask, builder.icmp_unsigned(">=", lane, skip_v))
    c0_v = _splat(builder, builder.trunc(c0, it) if width < 64 else c0, vi)
    _compress_store(builder, builder.add(lane, c0_v), mask, builder.gep(out.data, [k]))
    return mask


def _popcount(builder: Any, mask: Any) -> Any:
    """Number of set lanes of a ``<n x i1>`` mask, as int64."""
    bits = ir.IntType(mask.type.count)
    popcount = builder.module.declare_intrinsic("llvm.ctpop", [bits])
    return builder.zext(builder.call(popcount, [builder.bitcast(mask, bits)]), ir.IntType(64))


def _load_lanes(context: Any, builder: Any, ary_type: Any, ary: Any, off: Any) -> Any:
    """The 16 values ``a[off : off + 16]`` of a 1-D float array, as one LLVM vector."""
    a = context.make_array(ary_type)(context, builder, ary)
    vt = ir.VectorType(context.get_value_type(ary_type.dtype), SCAN_LANES)
    ptr = builder.bitcast(builder.gep(a.data, [off]), vt.as_pointer())
    return builder.load(ptr, align=ary_type.dtype.bitwidth // 8)


def _spikes16_typer(
    typingctx: Any, a: Any, off: Any, theta: Any, c0: Any, skip: Any, out: Any, k: Any
) -> Any:
    """Intrinsic ``spikes16(a, off, theta, c0, skip, out, k) -> int``: the lanes ``i >= skip``
    of the 16 values ``a[off + i]`` with ``a[off + i] >= theta`` (ordered: NaN is no spike) are
    stored as ``c0 + i`` at ``out[k:]`` (int64) in lane order, where ``out`` has room for 16
    more (not checked); returns how many (one compare and one compress, no branch per neuron;
    see :func:`_compress16_typer`)."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        vals = _load_lanes(context, builder, sig.args[0], args[0], args[1])
        thr = _splat(builder, args[2], vals.type)
        above = builder.fcmp_ordered(">=", vals, thr)
        oa = context.make_array(sig.args[5])(context, builder, args[5])
        mask = _store_lanes(builder, above, args[3], args[4], oa, args[6], 64)
        return _popcount(builder, mask)

    return types.int64(a, off, a.dtype, c0, skip, out, k), codegen


_spikes16 = cast(Callable[..., int], intrinsic(_spikes16_typer))


def _compress16_typer(
    typingctx: Any, xf: Any, off: Any, c0: Any, skip: Any, ev_ch: Any, ev_val: Any, k: Any
) -> Any:
    """Intrinsic ``compress16(xf, off, c0, skip, ev_ch, ev_val, k) -> int``: of the 16 values
    ``xf[off + i]``, those that are not zero (NaN included, both zeros excluded: ``x != 0``) with
    ``i >= skip`` are stored in lane order at ``ev_val[k:]``, their channels ``c0 + i`` (int32)
    at ``ev_ch[k:]``; returns how many. One vector load, one compare into a lane mask and two
    compresses (:func:`_compress_store`: a register compress and a plain store each on
    AVX-512, lane by lane elsewhere), with no branch per channel or event. ``xf`` is 1-D float32 or float64 and
    ``off + 16 <= len(xf)``; ``ev_ch``/``ev_val`` have room for 16 more (not checked)."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        vals = _load_lanes(context, builder, sig.args[0], args[0], args[1])
        nonzero = builder.fcmp_unordered("!=", vals, ir.Constant(vals.type, None))
        ca = context.make_array(sig.args[4])(context, builder, args[4])
        mask = _store_lanes(builder, nonzero, args[2], args[3], ca, args[6], 32)
        va = context.make_array(sig.args[5])(context, builder, args[5])
        _compress_store(builder, vals, mask, builder.gep(va.data, [args[6]]))
        return _popcount(builder, mask)

    return types.int64(xf, off, c0, skip, ev_ch, ev_val, k), codegen


_compress16 = cast(Callable[..., int], intrinsic(_compress16_typer))


def _prefetch_typer(typingctx: Any, arr: Any, off: Any) -> Any:
    """Intrinsic ``prefetch(a, off)``: a hint to bring the cache line of ``a[off]`` into the
    caches (``llvm.prefetch``, read, locality 2); never faults, has no other effect."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = builder.module.declare_intrinsic("llvm.prefetch", [i8p], fnty)
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 2), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(arr, off), codegen


_prefetch = cast(Callable[[Any, Any], None], intrinsic(_prefetch_typer))

#: steps ahead of the simulation at which a dense input's rows are prefetched
_PREFETCH_AHEAD = 2


@_jit_inline
def _scan_row(
    xf: Arr, row: int, n_in: int, ev_ch: Arr, ev_val: Arr, ne: int, b: int, sums: Arr, bad: Arr
) -> int:
    """Appends the events of the dense row ``xf[row : row + n_in]`` (channel order; a count is
    an event when it is not zero, so a negative zero is none) at ``ev_ch[ne:]``/``ev_val[ne:]``
    (room for ``n_in + 16`` more is the caller's) and validates them (:func:`_tally_event`);
    returns the new count. Chunks of 16 channels go through :func:`_compress16`; the last
    partial chunk is the row's last 16 channels with the ones already read skipped (rows of
    fewer than 16 channels are read one by one)."""
    k = ne
    if n_in < SCAN_LANES:
        for c in range(n_in):
            xv = xf[row + c]
            if xv != 0:
                ev_ch[k] = c
                ev_val[k] = xv
                k += 1
    else:
        c0 = 0
        while c0 + SCAN_LANES <= n_in:
            k += _compress16(xf, row + c0, c0, 0, ev_ch, ev_val, k)
            c0 += SCAN_LANES
        if c0 < n_in:
            last = n_in - SCAN_LANES
            k += _compress16(xf, row + last, last, c0 - last, ev_ch, ev_val, k)
    for q in range(ne, k):
        _tally_event(ev_val[q], b, sums, bad)
    return k


@_jit_inline
def _collect_spikes(vv: Arr, nl: int, theta: Any, cur: Arr, base: int) -> int:
    """Writes the neurons ``m < nl`` with ``vv[m] >= theta`` in increasing order at
    ``cur[base:]`` (room for ``nl + 16`` is the caller's) and returns how many: 16 neurons per
    compare and compress (:func:`_spikes16`), the partial chunk as the last 16 with those
    already read skipped, layers of fewer than 16 neurons one by one."""
    k = 0
    if nl < SCAN_LANES:
        for m in range(nl):
            if vv[m] >= theta:
                cur[base + k] = m
                k += 1
        return k
    c0 = 0
    while c0 + SCAN_LANES <= nl:
        k += _spikes16(vv, c0, theta, c0, 0, cur, base + k)
        c0 += SCAN_LANES
    if c0 < nl:
        last = nl - SCAN_LANES
        k += _spikes16(vv, last, theta, last, c0 - last, cur, base + k)
    return k


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _dot(a: Arr, b: Arr, zero: Any) -> Any:
    """``sum(a * b)`` in the dtype of ``zero``. Reassociation is allowed here (and only here): the
    compiler splits the sum over vector lanes and several accumulators, about 5x faster than one
    ordered chain for 256-long rows. The order is fixed by the compiled code, so results are
    deterministic; they differ from an ordered sum at rounding level. Used by the backward pass
    only (the forward pass, whose rounding decides spikes, has no reductions). Not inlined: the
    fast-math flags would not survive inlining into the strict caller."""
    s = zero
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _dot_at(w: Arr, off: int, d: Arr, nl: int, zero: Any) -> Any:
    """``sum(w[off : off + nl] * d[:nl])`` as :func:`_dot`, without slicing ``w`` (a view of a
    weight array shared by the threads costs two atomic reference-count operations on its
    header; ``off >= 0``, read with an unsigned index, so no negative-index wrap)."""
    s = zero
    uo = np.uint64(off)
    for i in range(nl):
        s += w[uo + np.uint64(i)] * d[i]
    return s


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _grad_row_dot(g: Arr, w: Arr, off: int, li: Arr, lv: Arr, base: int, nl: int, zero: Any) -> Any:
    r"""The two passes of a recurrent spike of neuron ``j`` over its weight row
    ``w[off : off + nl]`` in one: adds :math:`\lambda_I` to its gradient row,
    ``g[off + m] += li[base + m]``, and returns its feedback
    :math:`\sum_m w_{jm} (\lambda_V - \lambda_I)_m` (``lv``/``li`` at ``base``), a sum as in
    :func:`_dot` (reassociated, deterministic). Both use the adjoints at :math:`t_n^+`: the
    gradient at the step ``n`` the spike is delivered, the feedback at its stamp ``n``."""
    s = zero
    uo = np.uint64(off)
    ub = np.uint64(base)
    for i in range(nl):
        ui = np.uint64(i)
        lim = li[ub + ui]
        g[uo + ui] += lim
        s += w[uo + ui] * (lv[ub + ui] - lim)
    return s


@_jit_inline
def _crossing_slope(
    v0: Any, i0: Any, v1: Any, th: float, tm: float, ts: float, dt: float, equal_tau: bool
) -> float:
    """``I(t*) - threshold`` at the crossing of a step from ``(v0, i0)`` to ``v1`` (threshold,
    ``tau_mem``, ``tau_syn``, ``dt`` and ``tau_mem == tau_syn`` of the population, as float64
    scalars: an array argument would be reference counted at every call, two atomic
    operations per spike): linear interpolation, one Newton step on the exact ``V(u)``, clamped
    to the step; the operations of :func:`eventbench.core.lif.crossing_slope`, here in float64."""
    v0f, i0f, v1f = float(v0), float(i0), float(v1)
    rise = v1f - v0f
    frac = (th - v0f) / rise if rise > 0.0 else 1.0
    u = min(max(frac, 0.0), 1.0) * dt
    em = np.exp(u * (-1.0 / tm))
    es = np.exp(u * (-1.0 / ts))
    if equal_tau:
        rho_u = (u / tm) * em
    else:
        rho_u = (em - es) * (ts / (tm - ts))
    v_u = em * v0f + rho_u * i0f
    slope = es * i0f - v_u
    if slope > 0.0:
        u = min(max(u - (v_u - th) * tm / slope, 0.0), dt)
    return float(np.exp(u * (-1.0 / ts)) * i0f - th)


@_jit_inline
def _schedule(ring: Arr, rbase: int, rr: int, nl: int, n: int, xv: Any, row: Arr, orow: Arr) -> None:
    """Delayed delivery of one event of weight ``xv`` at step ``n``: ``ring[(n + D_m) % R, m]
    += xv w_m`` for every target ``m`` (the torch path's ``_deliver_delayed``). ``orow`` holds
    the ring offsets ``D_m * nl + m`` of the targets (int32, see ``_pack``), so an index is one
    addition and one conditional wrap, no modulo."""
    base = rbase + (n % rr) * nl
    span = rr * nl
    end = rbase + span
    for m in range(nl):
        k = base + orow[m]
        if k >= end:
            k -= span
        ring[k] += xv * row[m]


@_jit_inline
def _delayed_diff_dot(
    w: Arr, orow: Arr, lvr: Arr, lir: Arr, rbase: int, rr: int, nl: int, s: int, zero: Any
) -> Any:
    """``sum_m w_m (lambda_V - lambda_I)_m(t_{s + D_m})`` (the feedback of a spike stamped ``s``
    through delayed synapses). Arrivals at or after ``T`` read ring slots that the replay has
    not written in this sample (still zero), so they add nothing without a test."""
    f = zero
    base = rbase + (s % rr) * nl
    span = rr * nl
    end = rbase + span
    for m in range(nl):
        k = base + orow[m]
        if k >= end:
            k -= span
        f += w[m] * (lvr[k] - lir[k])
    return f


@_jit_inline
def _delayed_grads(
    xv: Any, w: Arr, orow: Arr, lvr: Arr, lir: Arr, rbase: int, rr: int, nl: int, n: int,
    grow: Arr, gdrow: Arr,
) -> None:
    """One event delivered at ``n`` through delayed synapses: ``grow_m += x lambda_I(t_a)`` and
    ``gdrow_m += x w_m (lambda_V - lambda_I)(t_a)`` at the arrivals ``a = n + D_m`` (zero at or
    after ``T``, see :func:`_delayed_diff_dot`)."""
    base = rbase + (n % rr) * nl
    span = rr * nl
    end = rbase + span
    for m in range(nl):
        k = base + orow[m]
        if k >= end:
            k -= span
        li_a = lir[k]
        grow[m] += xv * li_a
        gdrow[m] += xv * w[m] * (lvr[k] - li_a)


@_jit_inline
def _spike_grads(
    pres: Arr, off: int, nl: int, w: Arr, offs: Arr, g: Arr, gd: Arr, delayed: bool, li_l: Arr,
    lvr: Arr, lir: Arr, rbase: int, rr: int, n: int,
) -> None:
    """Gradients of the hidden spikes ``pres`` (presynaptic indices) delivered at ``n`` through
    the weights at ``w[off:]`` (rows of ``nl``): ``g`` rows gain ``lambda_I`` of the targets,
    read at the arrivals when ``delayed`` (then ``gd`` gains the delay terms)."""
    for q in range(pres.shape[0]):
        o = off + pres[q] * nl
        grow = g[o : o + nl]
        if delayed:
            one = li_l[0] - li_l[0] + 1
            _delayed_grads(one, w[o : o + nl], offs[o : o + nl], lvr, lir, rbase, rr, nl, n, grow, gd[o : o + nl])
        else:
            for m in range(nl):
                grow[m] += li_l[m]


@_jit_inline
def _tally_event(xv: Any, b: int, sums: Arr, bad: Arr) -> None:
    """Add a stored non-zero count of sample ``b`` to ``sums[b]``; counts that are negative or
    not finite are counted in ``bad[b]`` (the caller raises; they are kept as they are)."""
    sums[b] += xv
    if not (xv > 0 and xv < np.inf):
        bad[b] += 1


@_jit_inline
def event_index(sample_major: bool, n: int, bl: int, t_steps: int, nb: int) -> int:
    """Position in ``ev_ptr`` of the events of bin ``n`` of the block's sample ``bl``:
    sample-major ``bl T + n`` (a dense input, scanned as the simulation reaches each row) or
    step-major ``n nb + bl`` (a sparse input, sorted by :func:`sparse_events_kernel`)."""
    return bl * t_steps + n if sample_major else n * nb + bl


@_jit
def sparse_events_kernel(
    t_idx: Arr,
    b_idx: Arr,
    c_idx: Arr,
    vals: Arr,
    t_steps: int,
    b0: int,
    b1: int,
    events: Arr,
    bad: Arr,
) -> tuple[Arr, Arr, Arr]:
    """The input events of samples ``b0 <= b < b1`` in step-major order (:func:`event_index`),
    taken from a COO input:
    ``(t_idx, b_idx, c_idx, vals)`` with indices in range (checked by the caller). Entries are
    placed by a counting sort on ``(step, sample)``, stable within a bin, so a coalesced input
    (sorted by ``(step, sample, channel)``) gives exactly the dense scan's lists, and any other
    order still gives every event in its bin. Explicitly stored zeros are skipped. Work
    ``O(nnz)``, no pass over ``T x B x n_in`` bins."""
    nb = b1 - b0
    dt = vals.dtype
    counts = np.zeros(t_steps * nb + 1, np.int64)
    for q in range(vals.shape[0]):
        b = b_idx[q]
        if b0 <= b < b1 and vals[q] != 0:
            counts[t_idx[q] * nb + b - b0 + 1] += 1
    ev_ptr = np.cumsum(counts)
    ne = ev_ptr[t_steps * nb]
    ev_ch = np.empty(ne, np.int32)
    ev_val = np.empty(ne, dt)
    sums = np.zeros(nb, np.float64)
    nbad = np.zeros(nb, np.int64)
    cursor = ev_ptr[:-1].copy()
    for q in range(vals.shape[0]):
        b = b_idx[q]
        if b0 <= b < b1 and vals[q] != 0:
            key = t_idx[q] * nb + b - b0
            k = cursor[key]
            cursor[key] = k + 1
            ev_ch[k] = c_idx[q]
            ev_val[k] = vals[q]
            _tally_event(vals[q], b - b0, sums, nbad)
    for b in range(b0, b1):
        events[b] = sums[b - b0]
        bad[b] = nbad[b - b0]
    return ev_ptr, ev_ch, ev_val


KIND_WEIGHTED = 0
KIND_MAX = 1
KIND_TRACE = 2
KIND_FIRST = 3


@_jit_inline
def _weighted_readout_kernel(coeff: Arr, oc: Arr) -> tuple[Arr, float]:
    r"""Response of the weighted readout :math:`J = \sum_n c_n \bar V_n` (``[n_out]``) to one
    unit of readout input current arriving at step ``s`` (``K[s]``, ``[T]`` float64) and to a
    unit bias (``B``), from the reverse recursion of its linear dynamics (zero initial state;
    ``oc`` as in the module docstring):

    .. math::
        A_V(n) = c_n\mu_V + \alpha A_V(n+1), \quad
        A_I(n) = c_n\mu_I + \rho A_V(n+1) + \beta A_I(n+1), \quad K[s] = A_I(s),

    with :math:`A(T) = 0`, and :math:`B = \sum_n [c_n (1 - \mu_V) + (1 - \alpha) A_V(n+1)]`.
    A non-spiking readout is linear in its input, so :math:`J_k = \sum_j W^{out}_{jk} H_j +
    b_k B` with :math:`H_j = \sum_{s} K[s]` over the spikes of neuron ``j`` stamped ``s``: the
    readout costs one add per spike instead of ``n_out`` per step."""
    t_steps = coeff.shape[0]
    alpha, beta, rho = float(oc[0]), float(oc[1]), float(oc[2])
    bias_k, mu_v, mu_i, mu_b = float(oc[7]), float(oc[11]), float(oc[12]), float(oc[13])
    k_seq = np.empty(t_steps, np.float64)
    a_v = 0.0
    a_i = 0.0
    b_sum = 0.0
    for n in range(t_steps - 1, -1, -1):
        c_n = float(coeff[n])
        b_sum += c_n * mu_b + bias_k * a_v
        a_i = c_n * mu_i + rho * a_v + beta * a_i
        a_v = c_n * mu_v + alpha * a_v
        k_seq[n] = a_i
    return k_seq, b_sum


@_jit_inline
def _weighted_readout_adjoint(
    coeff: Arr, oc: Arr, src_v: float, src_i: float, src_b: float
) -> tuple[Arr, Arr, float]:
    r"""The readout adjoints of the weighted readout for ``dL/dJ_k = 1``: they run the reverse
    replay's readout steps 1, 4 and 4b (see :func:`backward_kernel`) with the source
    :math:`c_n`, and since they are linear in ``g`` the adjoints of sample ``b`` are
    :math:`g_{bk}` times these. Returns ``D[s]`` (:math:`\lambda_V^{out} - \lambda_I^{out}` at
    :math:`t_s^+`, read by the feedback of a spike stamped ``s``; ``[T + 1]``), ``P[n]``
    (:math:`\lambda_I^{out}(t_n)`, added to the readout weight gradient by a spike stamped
    ``n``; ``[T]``) and the sum ``G`` of the bias gradient's terms (float64)."""
    t_steps = coeff.shape[0]
    d_seq = np.zeros(t_steps + 1, np.float64)
    p_seq = np.empty(t_steps, np.float64)
    o_a, o_b, o_k = float(oc[0]), float(oc[1]), float(oc[3])
    lv = 0.0
    li = 0.0
    g_sum = 0.0
    for n in range(t_steps - 1, -1, -1):
        d_seq[n + 1] = lv - li
        g_sum += lv
        li = o_b * li + o_k * lv
        lv = o_a * lv
        src = float(coeff[n])
        lv -= src * src_v
        li -= src * src_i
        g_sum += src * src_b
        p_seq[n] = li
    return d_seq, p_seq, g_sum


@_jit
def forward_kernel(
    dense: bool,
    x_f: Arr,
    batch: int,
    n_in: int,
    events: Arr,
    bad: Arr,
    ev_ptr: Arr,
    ev_ch: Arr,
    ev_val: Arr,
    t_steps: int,
    wff: Arr,
    ff_off: Arr,
    sizes: Arr,
    noff: Arr,
    wrec: Arr,
    rec_off: Arr,
    wout: Arr,
    bias: Arr,
    has_bias: bool,
    hc: Arr,
    oc: Arr,
    out_lif: bool,
    kind: int,
    coeff: Arr,
    b0: int,
    b1: int,
    spk_step: Arr,
    spk_neu: Arr,
    spk_den: Arr,
    spk_cnt: Arr,
    o_step: Arr,
    o_neu: Arr,
    o_den: Arr,
    o_cnt: Arr,
    acc: Arr,
    vmax: Arr,
    argmax: Arr,
    trace: Arr,
    first: Arr,
    dff: Arr,
    drec: Arr,
    lay_dly: Arr,
    ring_off: Arr,
) -> tuple[Arr, Arr, Arr]:
    r"""Forward pass of samples ``b0 <= b < b1`` (see the module docstring for the layout).

    Input: with ``dense``, ``x_f`` is the input ``[T, batch, n_in]`` flattened; each row
    ``x[n, b]`` is scanned for its events (:func:`_scan_row`) at the step that needs it, while the
    row ``_PREFETCH_AHEAD`` steps later is prefetched, so that reading the input (memory bound
    for long trials) overlaps the simulation. The events are returned as ``(ev_ptr, ev_ch,
    ev_val)`` in sample-major order (``k = (b - b0) T + n``, see :func:`event_index`),
    ``events[b]`` receives the sum of the counts (float64) and ``bad[b]`` the number of counts
    that are negative or not finite (the dense input's only validation on the kernel path).
    Without ``dense`` the events of :func:`sparse_events_kernel` (step-major order) are read
    and returned.

    Delays: ``dff``/``drec`` (int32, laid out like ``wff``/``wrec``) hold the ring offsets
    ``D * n_post + m`` (``D`` the delay in steps, ``m`` the target) of the layers whose
    ``lay_dly[l] = (has_ff_delays, has_rec_delays, R)`` flags them; their
    events are scheduled into a per-sample ring of ``R`` steps per layer (at ``ring_off[l]``),
    ``ring[(n + D) % R]``, read and cleared at the step it holds.

    Per step ``n`` and layer: :math:`I \mathrel{+}= x_n W_{ff} + z_n W_{rec}` (events only),
    :math:`V \leftarrow \alpha V + \rho I`, :math:`I \leftarrow \beta I`, spike if
    :math:`V \ge \vartheta` (stamp ``n + 1``, record ``I - V``), then :math:`V \leftarrow V_r`.
    The readout integrates the last layer's spikes the same way (plus ``(1 - alpha) b``).

    Outputs (written in place): spike lists and counts, ``acc [B, n_out]`` (weighted),
    ``vmax``/``argmax [B, n_out]`` (max), ``trace [T, B, n_out]``, ``first [B, n_out]`` (first
    stamp, ``T + 1`` when silent).
    """
    nb = b1 - b0
    if dense:
        e_ptr = np.empty(nb * t_steps + 1, np.int64)
        e_cap = max(1024, nb * t_steps * 8, n_in + SCAN_LANES)
        e_ch = np.empty(e_cap, np.int32)
        e_val = np.empty(e_cap, x_f.dtype)
        e_ptr[0] = 0
    else:
        e_ptr, e_ch, e_val = ev_ptr, ev_ch, ev_val
    ne = 0
    sums = np.zeros(nb, np.float64)
    nbad = np.zeros(nb, np.int64)
    stride = batch * n_in
    line = 64 // x_f.itemsize
    n_layers = sizes.shape[0]
    n_out = wout.shape[1]
    ntot = noff[n_layers - 1] + sizes[n_layers - 1]
    nmax = 0
    for layer in range(n_layers):
        nmax = max(nmax, sizes[layer])
    cap = spk_step.shape[2]
    cap_o = o_step.shape[1]
    dt = wff.dtype
    v = np.empty(ntot, dt)
    cur_i = np.empty(ntot, dt)
    inp = np.empty(nmax, dt)
    cur = np.empty(ntot + SCAN_LANES, np.int64)
    prv = np.empty(ntot, np.int64)
    ncur = np.empty(n_layers, np.int64)
    nprv = np.empty(n_layers, np.int64)
    vo = np.empty(n_out, dt)
    io = np.empty(n_out, dt)
    oinp = np.empty(n_out, dt)
    dbuf = np.empty(nmax, dt)
    v0buf = np.empty(nmax, dt)
    i0buf = np.empty(nmax, dt)
    # state of each recorded spike's step, for its crossing slope after the sample's time loop
    sv0 = np.empty((n_layers, cap), dt)
    si0 = np.empty((n_layers, cap), dt)
    sv1 = np.empty((n_layers, cap), dt)
    # per-sample state written back once per sample: the blocks of two threads may share a
    # cache line of the output arrays at their boundary, and per-step writes would bounce it
    cnt = np.empty(n_layers, np.int64)
    acc_b = np.empty(n_out, dt)
    vmax_b = np.empty(n_out, dt)
    argmax_b = np.empty(n_out, np.int64)
    first_b = np.empty(n_out, np.int64)
    o_alpha, o_beta, o_rho, o_theta, o_reset, o_bias_k = oc[0], oc[1], oc[2], oc[4], oc[6], oc[7]
    o_mu_v, o_mu_i, o_mu_b = oc[11], oc[12], oc[13]
    ring_tot = 0
    for layer in range(n_layers):
        ring_tot += lay_dly[layer, 2] * sizes[layer]
    ring = np.zeros(max(ring_tot, 1), dt)
    o_th64, o_tm, o_ts, o_dt = float(oc[4]), float(oc[8]), float(oc[9]), float(oc[10])
    o_eq = oc[14] != 0
    vbar = np.empty(n_out, dt)
    ovs = np.empty(n_out, dt)
    ois = np.empty(n_out, dt)
    # a weighted readout is linear in the last layer's spikes: it is summed per spike
    # (_weighted_readout_kernel) instead of being integrated step by step
    separable = kind == KIND_WEIGHTED and not out_lif
    if separable:
        k_seq, b_sum = _weighted_readout_kernel(coeff, oc)
    else:
        k_seq, b_sum = np.zeros(0, np.float64), 0.0
    h_last = np.empty(sizes[n_layers - 1], np.float64)
    h_out = np.empty(n_out, np.float64)
    for b in range(b0, b1):
        v[:] = 0
        h_last[:] = 0
        cur_i[:] = 0
        vo[:] = 0
        io[:] = 0
        nprv[:] = 0
        cnt[:] = 0
        ring[:] = 0
        ocnt = 0
        acc_b[:] = acc[b]
        vmax_b[:] = vmax[b]
        argmax_b[:] = argmax[b]
        first_b[:] = first[b]
        for n in range(t_steps):
            for layer in range(n_layers):
                nl = sizes[layer]
                base = noff[layer]
                for m in range(nl):
                    inp[m] = 0
                dl_ff = lay_dly[layer, 0] != 0
                dl_rec = lay_dly[layer, 1] != 0
                rr = lay_dly[layer, 2]
                rbase = ring_off[layer]
                if layer == 0:
                    off0 = ff_off[0]
                    k_ev = event_index(dense, n, b - b0, t_steps, nb)
                    if dense:
                        if n + _PREFETCH_AHEAD < t_steps:
                            ahead = (n * batch + b) * n_in + _PREFETCH_AHEAD * stride
                            for c in range(0, n_in + line, line):
                                _prefetch(x_f, ahead + min(c, n_in - 1))
                        if ne + n_in + SCAN_LANES > e_cap:
                            e_cap = max(2 * e_cap, ne + n_in + SCAN_LANES)
                            grown_ch = np.empty(e_cap, np.int32)
                            grown_ch[:ne] = e_ch[:ne]
                            e_ch = grown_ch
                            grown_val = np.empty(e_cap, x_f.dtype)
                            grown_val[:ne] = e_val[:ne]
                            e_val = grown_val
                        ne = _scan_row(x_f, (n * batch + b) * n_in, n_in, e_ch, e_val, ne, b - b0, sums, nbad)
                        e_ptr[k_ev + 1] = ne
                    q = e_ptr[k_ev]
                    q_end = e_ptr[k_ev + 1]
                    while q < q_end:
                        ch = e_ch[q]
                        xv = e_val[q]
                        if dl_ff:
                            row = wff[off0 + ch * nl : off0 + (ch + 1) * nl]
                            _schedule(ring, rbase, rr, nl, n, xv, row, dff[off0 + ch * nl : off0 + (ch + 1) * nl])
                        elif (xv == 1 and q + 3 < q_end and e_val[q + 1] == 1
                              and e_val[q + 2] == 1 and e_val[q + 3] == 1):
                            # four unit events per pass over ``inp`` (same additions, same order)
                            u1 = np.uint64(off0 + ch * nl)
                            u2 = np.uint64(off0 + e_ch[q + 1] * nl)
                            u3 = np.uint64(off0 + e_ch[q + 2] * nl)
                            u4 = np.uint64(off0 + e_ch[q + 3] * nl)
                            for m in range(nl):
                                um = np.uint64(m)
                                inp[m] = (((inp[m] + wff[u1 + um]) + wff[u2 + um]) + wff[u3 + um]) + wff[u4 + um]
                            q += 3
                        elif xv == 1 and q + 1 < q_end and e_val[q + 1] == 1:
                            # two unit events per pass over ``inp`` (same additions, same order)
                            u1 = np.uint64(off0 + ch * nl)
                            u2 = np.uint64(off0 + e_ch[q + 1] * nl)
                            for m in range(nl):
                                inp[m] = (inp[m] + wff[u1 + np.uint64(m)]) + wff[u2 + np.uint64(m)]
                            q += 1
                        elif xv == 1:
                            uo = np.uint64(off0 + ch * nl)
                            for m in range(nl):
                                inp[m] += wff[uo + np.uint64(m)]
                        else:
                            uo = np.uint64(off0 + ch * nl)
                            for m in range(nl):
                                inp[m] += xv * wff[uo + np.uint64(m)]
                        q += 1
                else:
                    pbase = noff[layer - 1]
                    offl = ff_off[layer]
                    for q in range(nprv[layer - 1]):
                        j = prv[pbase + q]
                        if dl_ff:
                            row = wff[offl + j * nl : offl + (j + 1) * nl]
                            one = row[0] - row[0] + 1
                            _schedule(ring, rbase, rr, nl, n, one, row, dff[offl + j * nl : offl + (j + 1) * nl])
                        else:
                            uo = np.uint64(offl + j * nl)
                            for m in range(nl):
                                inp[m] += wff[uo + np.uint64(m)]
                offr = rec_off[layer]
                if offr >= 0 and dl_rec:
                    for q in range(nprv[layer]):
                        j = prv[base + q]
                        row = wrec[offr + j * nl : offr + (j + 1) * nl]
                        one = row[0] - row[0] + 1
                        _schedule(ring, rbase, rr, nl, n, one, row, drec[offr + j * nl : offr + (j + 1) * nl])
                elif offr >= 0:
                    # two rows per pass over ``inp`` (the same additions in the same order)
                    q = 0
                    nq = nprv[layer]
                    while q + 1 < nq:
                        u1 = np.uint64(offr + prv[base + q] * nl)
                        u2 = np.uint64(offr + prv[base + q + 1] * nl)
                        for m in range(nl):
                            inp[m] = (inp[m] + wrec[u1 + np.uint64(m)]) + wrec[u2 + np.uint64(m)]
                        q += 2
                    if q < nq:
                        uo = np.uint64(offr + prv[base + q] * nl)
                        for m in range(nl):
                            inp[m] += wrec[uo + np.uint64(m)]
                if rr > 0:
                    rs = rbase + (n % rr) * nl
                    for m in range(nl):
                        inp[m] += ring[rs + m]
                        ring[rs + m] = 0
                alpha = hc[layer, 0]
                beta = hc[layer, 1]
                rho = hc[layer, 2]
                theta = hc[layer, 4]
                v_reset = hc[layer, 6]
                # integrate, threshold and reset in one vectorisable pass (spikes marked in
                # ``mask``, the state before and after the step kept in ``v0buf``, ``i0buf`` and
                # ``dbuf`` for the crossing times), then collect the spikes. Arrays are indexed,
                # not sliced: a view costs two atomic reference-count operations
                ub = np.uint64(base)
                for m in range(nl):
                    um = ub + np.uint64(m)
                    vm0 = v[um]
                    ii = cur_i[um] + inp[m]
                    v0buf[m] = vm0
                    i0buf[m] = ii
                    vv = alpha * vm0 + rho * ii
                    cur_i[um] = beta * ii
                    dbuf[m] = vv
                    v[um] = v_reset if vv >= theta else vv
                k = _collect_spikes(dbuf, nl, theta, cur, base)
                c = cnt[layer]
                for q in range(k):
                    if c + q < cap:
                        m = cur[base + q]
                        spk_step[layer, b, c + q] = n + 1
                        spk_neu[layer, b, c + q] = m
                        sv0[layer, c + q] = v0buf[m]
                        si0[layer, c + q] = i0buf[m]
                        sv1[layer, c + q] = dbuf[m]
                cnt[layer] = c + k
                ncur[layer] = k
                if separable and layer == n_layers - 1 and n + 1 < t_steps:
                    k_next = k_seq[n + 1]
                    for q in range(k):
                        h_last[cur[base + q]] += k_next
            if not separable:
                # readout population: the last layer's spikes stamped n; the integration is one
                # vectorisable loop, the readout kind is handled after it
                oinp[:] = 0
                lbase = noff[n_layers - 1]
                for q in range(nprv[n_layers - 1]):
                    uj = np.uint64(prv[lbase + q])
                    for k2 in range(n_out):
                        oinp[k2] += wout[uj, np.uint64(k2)]
                for k2 in range(n_out):
                    ii = io[k2] + oinp[k2]
                    # step mean over [t_n, t_{n+1}] from the state at t_n (voltage readouts)
                    vm = o_mu_v * vo[k2] + o_mu_i * ii
                    if has_bias:
                        vm = vm + o_mu_b * bias[k2]
                    vbar[k2] = vm
                    ovs[k2] = vo[k2]
                    ois[k2] = ii
                    vv = o_alpha * vo[k2] + o_rho * ii
                    if has_bias:
                        vv = vv + o_bias_k * bias[k2]
                    io[k2] = o_beta * ii
                    vo[k2] = vv
                if out_lif:
                    for k2 in range(n_out):
                        if vo[k2] >= o_theta:
                            if ocnt < cap_o:
                                o_step[b, ocnt] = n + 1
                                o_neu[b, ocnt] = k2
                                o_den[b, ocnt] = _crossing_slope(
                                    ovs[k2], ois[k2], vo[k2], o_th64, o_tm, o_ts, o_dt, o_eq
                                )
                            ocnt += 1
                            if first_b[k2] > n + 1:
                                first_b[k2] = n + 1
                            vo[k2] = o_reset
                elif kind == KIND_MAX:
                    for k2 in range(n_out):
                        if vbar[k2] > vmax_b[k2]:
                            vmax_b[k2] = vbar[k2]
                            argmax_b[k2] = n
                elif kind == KIND_TRACE:
                    trace[n, b] = vbar
            for layer in range(n_layers):
                base = noff[layer]
                for q in range(ncur[layer]):
                    prv[base + q] = cur[base + q]
                nprv[layer] = ncur[layer]
        if separable:
            h_out[:] = 0.0
            for j in range(h_last.shape[0]):
                hj = h_last[j]
                if hj != 0.0:
                    uj = np.uint64(j)
                    for k2 in range(n_out):
                        h_out[k2] += float(wout[uj, np.uint64(k2)]) * hj
            for k2 in range(n_out):
                if has_bias:
                    h_out[k2] += float(bias[k2]) * b_sum
                acc_b[k2] = acc_b[k2] + h_out[k2]
        # crossing slopes of the sample's spikes, in one loop of independent iterations (their
        # exponentials overlap in the pipeline)
        for layer in range(n_layers):
            h_th, h_tm, h_ts = float(hc[layer, 4]), float(hc[layer, 8]), float(hc[layer, 9])
            h_dt, h_eq = float(hc[layer, 10]), hc[layer, 14] != 0
            for q in range(min(cnt[layer], cap)):
                spk_den[layer, b, q] = _crossing_slope(
                    sv0[layer, q], si0[layer, q], sv1[layer, q], h_th, h_tm, h_ts, h_dt, h_eq
                )
            spk_cnt[layer, b] = cnt[layer]
        o_cnt[b] = ocnt
        acc[b] = acc_b
        vmax[b] = vmax_b
        argmax[b] = argmax_b
        first[b] = first_b
    if not dense:
        return e_ptr, e_ch, e_val
    for b in range(b0, b1):
        events[b] = sums[b - b0]
        bad[b] = nbad[b - b0]
    return e_ptr, e_ch[:ne], e_val[:ne]


@_jit
def backward_kernel(
    sample_major: bool,
    ev_ptr: Arr,
    ev_ch: Arr,
    ev_val: Arr,
    wff: Arr,
    ff_off: Arr,
    sizes: Arr,
    noff: Arr,
    wrec: Arr,
    rec_off: Arr,
    wout: Arr,
    has_bias: bool,
    hc: Arr,
    oc: Arr,
    kind: int,
    coeff: Arr,
    g: Arr,
    argmax: Arr,
    first: Arr,
    reg: Arr,
    has_reg: bool,
    eps_arr: Arr,
    b0: int,
    b1: int,
    spk_step: Arr,
    spk_neu: Arr,
    spk_den: Arr,
    spk_cnt: Arr,
    o_step: Arr,
    o_neu: Arr,
    o_den: Arr,
    o_cnt: Arr,
    g_ff: Arr,
    g_rec: Arr,
    g_out: Arr,
    g_bias: Arr,
    dff: Arr,
    drec: Arr,
    lay_dly: Arr,
    ring_off: Arr,
    g_dff: Arr,
    g_drec: Arr,
) -> None:
    r"""EventProp reverse replay of all samples, ``n = N-1 .. 0`` (``s = n + 1``):

    1. feedback of the spikes stamped ``s < N`` from the adjoints at :math:`t_s^+`:
       :math:`F_j = \sum_m W^{next}_{jm}(\lambda_V - \lambda_I)_m + \sum_m W^{rec}_{jm}(\lambda_V
       - \lambda_I)_m`;
    2. first-spike readout at ``t_s``: jumps at the output spikes and the phantom at ``T``;
    3. hidden jumps :math:`\lambda_V \mathrel{+}= [(\vartheta - V_r)\lambda_V + F]/\max(I-V,
       \epsilon)` (+ regulariser);
    4. :math:`\lambda_I \leftarrow \beta\lambda_I + \kappa\lambda_V`, :math:`\lambda_V \leftarrow
       \alpha\lambda_V`;
    4b. voltage readouts at :math:`t_n^+`: with :math:`G = \partial L/\partial\bar V_n`
       (``g c_n`` weighted, ``g[n]`` trace, ``g`` at the arg-max step),
       :math:`\lambda_V^{out} \mathrel{-}= G\mu_V/\tau_m`, :math:`\lambda_I^{out}
       \mathrel{-}= G\mu_I/\tau_s`;
    5. every event delivered at ``t_n`` adds :math:`\lambda_I` of its target to its synapse.

    Delays (layout of :func:`forward_kernel`): a layer with delayed inputs keeps its adjoints
    :math:`\lambda(t_a^+)` of the last ``R`` stamps in a ring; the feedback of a spike stamped
    ``s`` and the weight and delay gradients of an event delivered at ``n`` read them at the
    arrival ``s + D`` / ``n + D`` (``g_dff``/``g_drec`` receive
    :math:`\sum x\,w(\lambda_V - \lambda_I)(t_a)`, unscaled).

    Gradient buffers of this block (float64, written once, so they need no zeroing; the caller
    sums the blocks' buffers and multiplies by :math:`-\tau_s`, or :math:`-(1-\alpha)\tau_m` for
    the bias). The synapse terms of the block are summed in the working dtype (as the torch
    path's matmuls sum them; half the memory traffic of float64 row updates in float32) and
    stored in these buffers at the end: ``g_ff [len(wff)]``,
    ``g_rec [len(wrec)]``, ``g_out [n_last, n_out]``, ``g_bias [n_out]`` (holds
    :math:`\sum_{n,b}\lambda_V^{out}`).

    ``eps_arr = (guard_eps, 0, mu_v / tau_m, mu_i / tau_s)`` in ``F`` (the guard, a typed zero and the
    readout source factors); ``g`` is ``dL/d readout``
    as ``[1, B, n_out]`` (``[T, B, n_out]`` for traces); ``argmax``/``first`` come from the
    forward pass (only the one of the readout kind is read).
    """
    nb_ = b1 - b0
    t_steps = (ev_ptr.shape[0] - 1) // nb_
    n_layers = sizes.shape[0]
    n_out = wout.shape[1]
    ntot = noff[n_layers - 1] + sizes[n_layers - 1]
    nmax = 0
    for layer in range(n_layers):
        nmax = max(nmax, sizes[layer])
    dt = wff.dtype
    last = n_layers - 1
    eps = eps_arr[0]
    zero = eps_arr[1]
    # source factors of the voltage readouts (in F, as torch rounds its scalars); the bias
    # buffer holds sum(lambda_V^out) and is scaled by -(1 - alpha) tau_m, so its direct term
    # (1 - mu_v) G is divided by that scale (float64)
    src_v = eps_arr[2]
    src_i = eps_arr[3]
    src_b = -(1.0 - float(oc[11])) / (float(oc[7]) * float(oc[8]))
    wout_f = wout.reshape(wout.shape[0] * n_out)
    lv = np.empty(ntot, dt)
    li = np.empty(ntot, dt)
    fb = np.empty(ntot, dt)
    fb_rec = np.empty(ntot, dt)
    diff = np.empty(nmax, dt)
    lvo = np.empty(n_out, dt)
    lio = np.empty(n_out, dt)
    diff_o = np.empty(n_out, dt)
    hi = np.empty(n_layers, np.int64)
    lo_s = np.empty(n_layers, np.int64)
    lo_n = np.empty(n_layers, np.int64)
    # accumulators in the working dtype (half the memory traffic of float64 row updates in
    # float32), added to the float64 block buffers at the end of the block
    gff = np.zeros(g_ff.shape[0], dt)
    grec = np.zeros(g_rec.shape[0], dt)
    gout = np.zeros(g_out.shape, dt)
    gb_l = np.zeros(n_out, np.float64)
    gdff = np.zeros(g_dff.shape[0], dt)
    gdrec = np.zeros(g_drec.shape[0], dt)
    ring_tot = 0
    for layer in range(n_layers):
        ring_tot += lay_dly[layer, 2] * sizes[layer]
    lvr = np.zeros(max(ring_tot, 1), dt)
    lir = np.zeros(max(ring_tot, 1), dt)
    # a weighted readout's adjoints are g times fixed sequences (_weighted_readout_adjoint): the
    # feedback of a spike is one product, its readout weight gradient one add
    separable = kind == KIND_WEIGHTED
    n_last = sizes[last]
    d_seq = np.zeros(t_steps + 1, dt)
    if separable:
        d64, p_seq, g_sum = _weighted_readout_adjoint(coeff, oc, float(src_v), float(src_i), src_b)
        for i in range(t_steps + 1):
            d_seq[i] = d64[i]
    else:
        p_seq, g_sum = np.zeros(0, np.float64), 0.0
    wg = np.empty(n_last, dt)
    q_last = np.empty(n_last, np.float64)
    for b in range(b0, b1):
        if separable:
            for j in range(n_last):
                acc_g = 0.0
                for k2 in range(n_out):
                    acc_g += float(wout[j, k2]) * float(g[0, b, k2])
                wg[j] = acc_g
                q_last[j] = 0.0
        lv[:] = 0
        li[:] = 0
        lvo[:] = 0
        lio[:] = 0
        lvr[:] = 0
        lir[:] = 0
        for layer in range(n_layers):
            hi[layer] = spk_cnt[layer, b]
        o_hi = o_cnt[b]
        for n in range(t_steps - 1, -1, -1):
            s = n + 1
            # ranges of the spikes stamped s ([lo_s, hi)) and n ([lo_n, lo_s)) per layer
            for layer in range(n_layers):
                lo = hi[layer]
                while lo > 0 and spk_step[layer, b, lo - 1] == s:
                    lo -= 1
                lo_s[layer] = lo
                lo2 = lo
                while lo2 > 0 and spk_step[layer, b, lo2 - 1] == n:
                    lo2 -= 1
                lo_n[layer] = lo2
            # 1. feedback at t_s^+ (before any jump)
            if s < t_steps:
                for layer in range(n_layers):
                    if lo_s[layer] == hi[layer]:
                        continue
                    nl = sizes[layer]
                    base = noff[layer]
                    if layer < last:
                        nn = sizes[layer + 1]
                        nb = noff[layer + 1]
                        for m in range(nn):
                            diff[m] = lv[nb + m] - li[nb + m]
                    elif not separable:
                        for k2 in range(n_out):
                            diff_o[k2] = lvo[k2] - lio[k2]
                    has_rec = rec_off[layer] >= 0
                    for q in range(lo_s[layer], hi[layer]):
                        j = spk_neu[layer, b, q]
                        if layer < last:
                            nn = sizes[layer + 1]
                            off = ff_off[layer + 1] + j * nn
                            if lay_dly[layer + 1, 0] != 0:
                                f = _delayed_diff_dot(
                                    wff[off : off + nn], dff[off : off + nn], lvr, lir,
                                    ring_off[layer + 1], lay_dly[layer + 1, 2], nn, s, zero,
                                )
                            else:
                                f = _dot_at(wff, off, diff, nn, zero)
                        elif separable:
                            f = wg[j] * d_seq[s]
                        else:
                            f = _dot_at(wout_f, j * n_out, diff_o, n_out, zero)
                        if has_rec:
                            off = rec_off[layer] + j * nl
                            if lay_dly[layer, 1] != 0:
                                f = f + _delayed_diff_dot(
                                    wrec[off : off + nl], drec[off : off + nl], lvr, lir,
                                    ring_off[layer], lay_dly[layer, 2], nl, s, zero,
                                )
                            else:
                                # computed with the gradient row at the end of step s
                                f = f + fb_rec[base + q - lo_s[layer]]
                        fb[base + q - lo_s[layer]] = f
            # 2. first-spike readout at t_s
            if kind == KIND_FIRST:
                o_lo = o_hi
                while o_lo > 0 and o_step[b, o_lo - 1] == s:
                    o_lo -= 1
                for q in range(o_lo, o_hi):
                    k2 = o_neu[b, q]
                    den = o_den[b, q]
                    if den < eps:
                        den = eps
                    num = oc[5] * lvo[k2]
                    if first[b, k2] == s:
                        num = num + g[0, b, k2]
                    lvo[k2] = lvo[k2] + num / den
                o_hi = o_lo
                if s == t_steps:
                    for k2 in range(n_out):
                        if first[b, k2] > t_steps:
                            lvo[k2] = lvo[k2] + g[0, b, k2]
            if has_bias and not separable:
                for k2 in range(n_out):
                    gb_l[k2] += lvo[k2]
            # 3. hidden jumps at t_s
            for layer in range(n_layers):
                base = noff[layer]
                tmr = hc[layer, 5]
                for q in range(lo_s[layer], hi[layer]):
                    j = spk_neu[layer, b, q]
                    den = spk_den[layer, b, q]
                    if den < eps:
                        den = eps
                    num = tmr * lv[base + j]
                    if s < t_steps:
                        num = num + fb[base + q - lo_s[layer]]
                    delta = num / den
                    if has_reg:
                        delta = delta + reg[base + j]
                    lv[base + j] = lv[base + j] + delta
                hi[layer] = lo_s[layer]
            # 4. exact reverse dynamics over [t_n, t_{n+1}]
            for layer in range(n_layers):
                base = noff[layer]
                nl = sizes[layer]
                alpha = hc[layer, 0]
                beta = hc[layer, 1]
                kappa = hc[layer, 3]
                ub = np.uint64(base)
                for m in range(nl):
                    um = ub + np.uint64(m)
                    lvm = lv[um]
                    li[um] = beta * li[um] + kappa * lvm
                    lv[um] = alpha * lvm
            if not separable:
                for k2 in range(n_out):
                    lio[k2] = oc[1] * lio[k2] + oc[3] * lvo[k2]
                    lvo[k2] = oc[0] * lvo[k2]
            # 4b. voltage readouts: the source of step n's mean on the state at t_n^+
            if kind != KIND_FIRST and not separable:
                for k2 in range(n_out):
                    if kind == KIND_WEIGHTED:
                        src = g[0, b, k2] * coeff[n]
                    elif kind == KIND_TRACE:
                        src = g[n, b, k2]
                    elif argmax[b, k2] == n:
                        src = g[0, b, k2]
                    else:
                        continue
                    lvo[k2] = lvo[k2] - src * src_v
                    lio[k2] = lio[k2] - src * src_i
                    if has_bias:
                        gb_l[k2] += src * src_b
            # delay rings: lambda(t_n^+) of the layers with delayed inputs
            for layer in range(n_layers):
                rr = lay_dly[layer, 2]
                if rr > 0:
                    nl = sizes[layer]
                    base = noff[layer]
                    rs = ring_off[layer] + (n % rr) * nl
                    for m in range(nl):
                        lvr[rs + m] = lv[base + m]
                        lir[rs + m] = li[base + m]
            # 5. events delivered at t_n meet lambda_I(t_n) (at their arrival when delayed)
            n0 = sizes[0]
            off0 = ff_off[0]
            k_ev = event_index(sample_major, n, b - b0, t_steps, nb_)
            dl0 = lay_dly[0, 0] != 0
            q = ev_ptr[k_ev]
            q_end = ev_ptr[k_ev + 1]
            while q < q_end:
                ch = ev_ch[q]
                xv = ev_val[q]
                o = off0 + ch * n0
                if dl0:
                    _delayed_grads(
                        xv, wff[o : o + n0], dff[o : o + n0], lvr, lir, ring_off[0],
                        lay_dly[0, 2], n0, n, gff[o : o + n0], gdff[o : o + n0],
                    )
                elif (xv == 1 and q + 3 < q_end and ev_val[q + 1] == 1 and ev_val[q + 2] == 1
                      and ev_val[q + 3] == 1):
                    # four unit events per pass over lambda_I (distinct channels: distinct rows)
                    u1 = np.uint64(o)
                    u2 = np.uint64(off0 + ev_ch[q + 1] * n0)
                    u3 = np.uint64(off0 + ev_ch[q + 2] * n0)
                    u4 = np.uint64(off0 + ev_ch[q + 3] * n0)
                    for m in range(n0):
                        um = np.uint64(m)
                        lim = li[m]
                        gff[u1 + um] += lim
                        gff[u2 + um] += lim
                        gff[u3 + um] += lim
                        gff[u4 + um] += lim
                    q += 3
                elif xv == 1 and q + 1 < q_end and ev_val[q + 1] == 1:
                    # two unit events per pass over lambda_I (distinct channels: distinct rows)
                    u1 = np.uint64(o)
                    u2 = np.uint64(off0 + ev_ch[q + 1] * n0)
                    for m in range(n0):
                        lim = li[m]
                        gff[u1 + np.uint64(m)] += lim
                        gff[u2 + np.uint64(m)] += lim
                    q += 1
                elif xv == 1:
                    uo = np.uint64(o)
                    for m in range(n0):
                        gff[uo + np.uint64(m)] += li[m]
                else:
                    uo = np.uint64(o)
                    for m in range(n0):
                        gff[uo + np.uint64(m)] += xv * li[m]
                q += 1
            # (undelayed synapses indexed in place: no views, see _dot_at)
            for layer in range(n_layers):
                nl = sizes[layer]
                base = noff[layer]
                ub = np.uint64(base)
                rr = lay_dly[layer, 2]
                if layer > 0:
                    pb = layer - 1
                    offl = ff_off[layer]
                    if lay_dly[layer, 0] != 0:
                        _spike_grads(
                            spk_neu[pb, b, lo_n[pb] : lo_s[pb]], offl, nl, wff, dff, gff, gdff,
                            True, li[base : base + nl], lvr, lir, ring_off[layer], rr, n,
                        )
                    else:
                        for q in range(lo_n[pb], lo_s[pb]):
                            uo = np.uint64(offl + spk_neu[pb, b, q] * nl)
                            for m in range(nl):
                                gff[uo + np.uint64(m)] += li[ub + np.uint64(m)]
                offr = rec_off[layer]
                if offr >= 0:
                    if lay_dly[layer, 1] != 0:
                        _spike_grads(
                            spk_neu[layer, b, lo_n[layer] : lo_s[layer]], offr, nl, wrec, drec,
                            grec, gdrec, True, li[base : base + nl], lvr, lir, ring_off[layer],
                            rr, n,
                        )
                    else:
                        # the gradient row and the feedback the spike sends at its stamp n
                        # (step 1 of step n - 1 reads it): the same adjoints, one pass
                        for q in range(lo_n[layer], lo_s[layer]):
                            fb_rec[base + q - lo_n[layer]] = _grad_row_dot(
                                grec, wrec, offr + spk_neu[layer, b, q] * nl, li, lv, base, nl,
                                zero,
                            )
            if separable:
                p_n = p_seq[n]
                for q in range(lo_n[last], lo_s[last]):
                    q_last[spk_neu[last, b, q]] += p_n
            else:
                for q in range(lo_n[last], lo_s[last]):
                    uj = np.uint64(spk_neu[last, b, q])
                    for k2 in range(n_out):
                        gout[uj, np.uint64(k2)] += lio[k2]
        if separable:
            for j in range(n_last):
                qj = q_last[j]
                if qj != 0.0:
                    for k2 in range(n_out):
                        gout[j, k2] += qj * float(g[0, b, k2])
            if has_bias:
                for k2 in range(n_out):
                    gb_l[k2] += g_sum * float(g[0, b, k2])
    for k2 in range(n_out):
        g_bias[k2] = gb_l[k2]
    for i in range(gff.shape[0]):
        g_ff[i] = gff[i]
    for i in range(grec.shape[0]):
        g_rec[i] = grec[i]
    for i in range(gdff.shape[0]):
        g_dff[i] = gdff[i]
    for i in range(gdrec.shape[0]):
        g_drec[i] = gdrec[i]
    for j in range(g_out.shape[0]):
        for k2 in range(n_out):
            g_out[j, k2] = gout[j, k2]


@_jit
def reduce_blocks_kernel(parts: Arr, scale: float, out: Arr, lo: int, hi: int) -> None:
    """``out[i] = (parts[0, i] + parts[1, i] + ...) * scale`` for ``lo <= i < hi``: the blocks'
    float64 gradient buffers summed in block order, scaled in float64 and rounded once to the
    dtype of ``out``. Disjoint ranges can run in parallel."""
    nb = parts.shape[0]
    for i in range(lo, hi):
        acc = parts[0, i]
        for k in range(1, nb):
            acc += parts[k, i]
        out[i] = acc * scale


@_jit
def build_record_kernel(
    spk_step: Arr,
    spk_neu: Arr,
    spk_den: Arr,
    spk_cnt: Arr,
    s_lo: int,
    s_hi: int,
    guard: Any,
    out_step: Arr,
    out_batch: Arr,
    out_neu: Arr,
    out_den: Arr,
) -> int:
    """Merge the spikes stamped ``s_lo <= s < s_hi`` of per-sample spike lists ``[B, cap]``
    (time ordered, neurons in increasing order within a stamp) into their place in one list
    ordered by ``(stamp, sample, neuron)`` (the order of
    :func:`eventbench.core.records.record_from_dense`): a merge by stamp with one cursor per
    sample, which reads every list and writes the output in order. Disjoint stamp ranges write
    disjoint parts of the output, so they can run in parallel. Returns how many of these spikes
    have ``I - V < guard`` (``guard`` in the dtype of ``spk_den``, compared as torch compares a
    tensor with a Python scalar)."""
    batch = spk_step.shape[0]
    cur = np.empty(batch, np.int64)
    end = np.empty(batch, np.int64)
    p = 0
    for b in range(batch):
        row = spk_step[b, : spk_cnt[b]]
        cur[b] = np.searchsorted(row, s_lo)
        end[b] = np.searchsorted(row, s_hi)
        p += cur[b]
    hits = 0
    for s in range(s_lo, s_hi):
        for b in range(batch):
            q = cur[b]
            e = end[b]
            while q < e and spk_step[b, q] == s:
                out_step[p] = s
                out_batch[p] = b
                out_neu[p] = spk_neu[b, q]
                d = spk_den[b, q]
                out_den[p] = d
                if d < guard:
                    hits += 1
                p += 1
                q += 1
            cur[b] = q
    return hits


@_jit
def coo_batch_kernel(
    ptr: Arr, step: Arr, channel: Arr, idx: Arr, n_steps: int, binary: bool
) -> tuple[Arr, Arr]:
    """The coalesced COO entries of the dense batch ``[n_steps, b, N]`` of the samples ``idx``
    of a :class:`~eventbench.data.BinnedEvents` (``ptr``, ``step``, ``channel``): the step,
    sample and channel indices ``[3, nnz]`` sorted by ``(step, sample, channel)``, one entry per
    non-empty bin, and the values ``[nnz]``, 1 (``binary``) or the number of events in the bin.
    The same entries as ``BinnedEvents.sparse`` (a sort of all ``E`` events) in
    ``O(E + n_steps * b + N)``: a least-significant-digit radix sort of the batch's events,
    a stable counting sort by channel, then one by the key ``step * b + sample``, so that the
    channels of each bin come out in increasing order and duplicates are adjacent."""
    b = idx.shape[0]
    nkey = n_steps * b
    start = np.zeros(nkey + 1, np.int64)  # start[key + 1]: events of the keys <= key
    n_ch = 0
    for j in range(b):
        s = idx[j]
        for e in range(ptr[s], ptr[s + 1]):
            start[np.int64(step[e]) * b + j + 1] += 1
            n_ch = max(n_ch, int(channel[e]) + 1)
    for key in range(nkey):
        start[key + 1] += start[key]
    total = start[nkey]
    # pass 1: the keys of the events, in channel order (stable); c_end[c]: end of channel c's run
    c_end = np.zeros(n_ch + 1, np.int64)
    for j in range(b):
        s = idx[j]
        for e in range(ptr[s], ptr[s + 1]):
            c_end[np.int64(channel[e]) + 1] += 1
    for c in range(n_ch):
        c_end[c + 1] += c_end[c]
    keys = np.empty(total, np.int64)
    for j in range(b):
        s = idx[j]
        for e in range(ptr[s], ptr[s + 1]):
            ch = int(channel[e])
            keys[c_end[ch]] = np.int64(step[e]) * b + j
            c_end[ch] += 1
    # pass 2: the channels by key (stable: increasing within a key)
    chans = np.empty(total, np.int64)
    cursor = start[:nkey].copy()
    c = 0
    for i in range(total):
        while i >= c_end[c]:
            c += 1
        key = keys[i]
        chans[cursor[key]] = c
        cursor[key] += 1
    # non-empty bins, so that the outputs are allocated at their size (no copy after)
    nnz = 0
    for key in range(nkey):
        lo = start[key]
        hi = start[key + 1]
        if hi > lo:
            nnz += 1
            for i in range(lo + 1, hi):
                nnz += chans[i] != chans[i - 1]
    ind = np.empty((3, nnz), np.int64)
    o_v = np.empty(nnz, np.float64)
    n = 0
    for key in range(nkey):
        lo = start[key]
        hi = start[key + 1]
        if hi == lo:
            continue
        t = key // b
        j = key - t * b
        prev = -1
        for i in range(lo, hi):
            c = chans[i]
            if c == prev:
                if not binary:
                    o_v[n - 1] += 1.0
                continue
            ind[0, n] = t
            ind[1, n] = j
            ind[2, n] = c
            o_v[n] = 1.0
            n += 1
            prev = c
    return ind, o_v
