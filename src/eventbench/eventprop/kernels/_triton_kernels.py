r"""Triton kernels of the discrete forward pass and the EventProp reverse replay (CUDA).

The same model, replay and operation order as the CPU kernels
(:mod:`eventbench.eventprop.kernels._numba_kernels`, whose docstring defines the packed layout of
``wff``/``ff_off``/``sizes``/``noff``/``wrec``/``rec_off`` and the coefficient rows ``hc``/``oc``).
One Triton program simulates one sample for all ``T`` steps: the whole time loop is one kernel
launch per direction (grid ``(B,)``). The neuron vectors of a population are one block of
``BLOCK`` lanes (``BLOCK`` = the next power of two of the widest population); the per-layer
state lives in a per-sample scratch row ``[ntot]`` in device memory (L1/L2 resident).

Event-driven propagation: an input event adds ``x * w_ff[c, :]``, a hidden spike one weight row;
the rows of up to ``EB`` events of a step are gathered as one ``[EB, BLOCK]`` tile (one round trip
to memory) and summed over the events. The backward pass adds ``lambda_I`` rows to the gradient
at the same events (atomic tile adds: samples run in parallel programs). Work is
``events x fan-out``.

Spikes are compacted per step with a prefix sum over the spike mask (ascending neuron index, the
CPU kernels' order) into per-sample lists ``[L, B, cap]`` (stamp ``n + 1``, neuron,
``I(t*) - threshold`` at the crossing, float64 arithmetic as in the CPU kernels); the count keeps
running past ``cap`` so that the caller detects an overflow. The spikes of the current step are
also written to a double-buffered list ``lst [B, 2, ntot]`` (count ``lcnt [B, 2, L]``) that the
next step propagates. ``tl.debug_barrier()`` orders these cross-lane writes and reads.

Readout kinds: ``0`` weighted, ``1`` max, ``2`` trace, ``3`` first spike (LIF readout).

Numerics: launch with ``enable_fp_fusion=False`` so that no multiply-add is contracted (the CPU
kernels and torch round each operation). The per-neuron updates are the CPU kernels' operations
in their order; the event tiles are summed in a tree order (the CPU kernels add the rows one
after the other), so sums agree to rounding, not bit for bit.
"""

from __future__ import annotations

import os

import triton
import triton.language as tl

#: the kernels were decorated under Triton's CPU interpreter (``TRITON_INTERPRET=1`` at import):
#: they then run on CPU tensors (the test tier without a GPU), else on CUDA tensors.
INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"


@triton.jit
def _crossing_slope(v0, i0, v1, cptr):
    """``I(t*) - threshold`` at the crossing of a step from ``(v0, i0)`` to ``v1`` (vectors),
    coefficient row ``cptr``, in float64: linear interpolation, one Newton step on the exact
    ``V(u)``, clamped to the step (``_numba_kernels._crossing_slope``, lane-wise)."""
    v0f = v0.to(tl.float64)
    i0f = i0.to(tl.float64)
    v1f = v1.to(tl.float64)
    th = tl.load(cptr + 4).to(tl.float64)
    tm = tl.load(cptr + 8).to(tl.float64)
    ts = tl.load(cptr + 9).to(tl.float64)
    dt = tl.load(cptr + 10).to(tl.float64)
    equal = tl.load(cptr + 14)
    rise = v1f - v0f
    up = rise > 0.0
    frac = tl.where(up, (th - v0f) / tl.where(up, rise, 1.0), 1.0)
    u = tl.minimum(tl.maximum(frac, 0.0), 1.0) * dt
    em = tl.exp(u * (-1.0 / tm))
    es = tl.exp(u * (-1.0 / ts))
    if equal != 0:
        rho_u = (u / tm) * em
    else:
        rho_u = (em - es) * (ts / (tm - ts))
    v_u = em * v0f + rho_u * i0f
    slope = es * i0f - v_u
    pos = slope > 0.0
    u_n = tl.minimum(tl.maximum(u - (v_u - th) * tm / tl.where(pos, slope, 1.0), 0.0), dt)
    u = tl.where(pos, u_n, u)
    return tl.exp(u * (-1.0 / ts)) * i0f - th


@triton.jit
def _run_start(step_ptr, hi, stamp, EB: tl.constexpr):
    """Index of the first entry of the trailing run of ``stamp`` in the time-ordered list
    ``step_ptr[:hi]`` (``hi`` when the last entry has another stamp): windows of ``EB`` entries
    are read at once, the run's part in each counted (stamps are non-decreasing)."""
    lo = hi
    go = lo > 0
    back = tl.arange(0, EB)
    while go:
        idx = lo - 1 - back
        st = tl.load(step_ptr + idx, mask=idx >= 0, other=-1)
        c = tl.sum((st == stamp).to(tl.int32), 0)
        lo = lo - c
        go = (c == EB) & (lo > 0)
    return lo


@triton.jit
def _row_tile(w_ptr, rows, row_len, qm, offs, m):
    """Rows ``w[rows[q], :row_len]`` of a row-major weight block at ``w_ptr``: a tile
    ``[EB, BLOCK]`` (zero where ``qm`` or ``m`` is false); one gather for a block of events."""
    return tl.load(w_ptr + rows[:, None] * row_len + offs[None, :], mask=qm[:, None] & m[None, :], other=0.0)


@triton.jit
def _add_rows(g_ptr, rows, row_len, qm, offs, m, val):
    """``g[rows[q], :row_len] += val`` for every ``q`` with ``qm``: one atomic tile update for a
    block of spikes that meet the same adjoint row ``val [BLOCK]``."""
    tile = tl.zeros([rows.shape[0], val.shape[0]], dtype=val.dtype) + val[None, :]
    tl.atomic_add(g_ptr + rows[:, None] * row_len + offs[None, :], tile, mask=qm[:, None] & m[None, :])


@triton.jit
def forward_kernel(
    ev_ptr, ev_ch, ev_val,
    wff, ff_off, sizes, noff, wrec, rec_off, wout, bias, hc, oc, coeff,
    st_v, st_i, lst, lcnt,
    spk_step, spk_neu, spk_den, spk_cnt,
    o_step, o_neu, o_den, o_cnt,
    acc, vmax, argmax, trace, first,
    T, B, L, NTOT, N_OUT, CAP, CAP_O,
    HAS_BIAS: tl.constexpr, OUT_LIF: tl.constexpr, KIND: tl.constexpr,
    BLOCK: tl.constexpr, OBLOCK: tl.constexpr, EB: tl.constexpr,
):  # fmt: skip
    r"""Forward pass of sample ``b = program_id(0)``, all ``T`` steps.

    Per step ``n`` and layer: :math:`I \mathrel{+}= x_n W_{ff} + z_n W_{rec}` (events only),
    :math:`V \leftarrow \alpha V + \rho I`, :math:`I \leftarrow \beta I`, spike if
    :math:`V \ge \vartheta` (stamp ``n + 1``), then :math:`V \leftarrow V_r`. The readout
    integrates the last layer's spikes the same way (plus ``(1 - alpha) b``) and accumulates the
    step-mean voltage :math:`\bar V_n = \mu_V V_n + \mu_I I_n (+ \mu_b b)` into ``acc [B, n_out]``
    (weighted), ``vmax``/``argmax`` (max), ``trace [T, B, n_out]``, or records output spikes and
    ``first [B, n_out]`` (``T + 1`` when silent). Scratch ``st_v``/``st_i [B, ntot]``, ``lcnt``
    and the counts start at zero.
    """
    b = tl.program_id(0).to(tl.int64)
    eoffs = tl.arange(0, EB)
    offs = tl.arange(0, BLOCK)
    ooffs = tl.arange(0, OBLOCK)
    omask = ooffs < N_OUT
    fdt = wff.dtype.element_ty
    vo = tl.zeros([OBLOCK], dtype=fdt)
    io = tl.zeros([OBLOCK], dtype=fdt)
    acc_b = tl.zeros([OBLOCK], dtype=fdt)
    vmax_b = tl.full([OBLOCK], float("-inf"), dtype=fdt)
    argmax_b = tl.zeros([OBLOCK], dtype=tl.int64)
    first_b = tl.zeros([OBLOCK], dtype=tl.int64) + T + 1
    ocnt = tl.load(o_cnt + b)
    o_alpha = tl.load(oc + 0)
    o_beta = tl.load(oc + 1)
    o_rho = tl.load(oc + 2)
    o_theta = tl.load(oc + 4)
    o_reset = tl.load(oc + 6)
    o_bias_k = tl.load(oc + 7)
    o_mu_v = tl.load(oc + 11)
    o_mu_i = tl.load(oc + 12)
    o_mu_b = tl.load(oc + 13)
    bias_v = tl.load(bias + ooffs, mask=omask, other=0.0)
    for n in range(0, T):
        cp = n % 2
        pp = 1 - cp
        for layer in range(0, L):
            nl = tl.load(sizes + layer)
            base = tl.load(noff + layer)
            m = offs < nl
            inp = tl.zeros([BLOCK], dtype=fdt)
            if layer == 0:
                k_ev = n * B + b
                e0 = tl.load(ev_ptr + k_ev)
                e1 = tl.load(ev_ptr + k_ev + 1)
                off0 = tl.load(ff_off)
                for q0_e in range(e0, e1, EB):
                    qs_e = q0_e + eoffs
                    qm_e = qs_e < e1
                    ch_e = tl.load(ev_ch + qs_e, mask=qm_e, other=0).to(tl.int64)
                    xv_e = tl.load(ev_val + qs_e, mask=qm_e, other=0.0)
                    inp += tl.sum(xv_e[:, None] * _row_tile(wff + off0, ch_e, nl, qm_e, offs, m), 0)
            else:
                pbase = tl.load(noff + layer - 1)
                offl = tl.load(ff_off + layer)
                npre = tl.load(lcnt + (b * 2 + pp) * L + layer - 1)
                for q0_f in range(0, npre, EB):
                    qs_f = q0_f + eoffs
                    qm_f = qs_f < npre
                    j_f = tl.load(lst + (b * 2 + pp) * NTOT + pbase + qs_f, mask=qm_f, other=0).to(tl.int64)
                    inp += tl.sum(_row_tile(wff + offl, j_f, nl, qm_f, offs, m), 0)
            offr = tl.load(rec_off + layer)
            if offr >= 0:
                nrec = tl.load(lcnt + (b * 2 + pp) * L + layer)
                for q0_r in range(0, nrec, EB):
                    qs_r = q0_r + eoffs
                    qm_r = qs_r < nrec
                    j_r = tl.load(lst + (b * 2 + pp) * NTOT + base + qs_r, mask=qm_r, other=0).to(tl.int64)
                    inp += tl.sum(_row_tile(wrec + offr, j_r, nl, qm_r, offs, m), 0)
            srow = b * NTOT + base + offs
            v = tl.load(st_v + srow, mask=m, other=0.0)
            i = tl.load(st_i + srow, mask=m, other=0.0)
            hrow = hc + layer * 15
            alpha = tl.load(hrow + 0)
            beta = tl.load(hrow + 1)
            rho = tl.load(hrow + 2)
            theta = tl.load(hrow + 4)
            v_reset = tl.load(hrow + 6)
            ii = i + inp
            vv = alpha * v + rho * ii
            spike = (vv >= theta) & m
            tl.store(st_i + srow, beta * ii, mask=m)
            tl.store(st_v + srow, tl.where(spike, v_reset, vv), mask=m)
            den = _crossing_slope(v, ii, vv, hrow).to(fdt)
            zi = spike.to(tl.int32)
            pos = tl.cumsum(zi, 0) - 1
            k = tl.sum(zi, 0)
            c = tl.load(spk_cnt + layer * B + b)
            idx = c + pos
            ok = spike & (idx < CAP)
            srec = (layer * B + b) * CAP + idx
            tl.store(spk_step + srec, pos * 0 + (n + 1), mask=ok)
            tl.store(spk_neu + srec, offs.to(tl.int32), mask=ok)
            tl.store(spk_den + srec, den, mask=ok)
            tl.store(spk_cnt + layer * B + b, c + k)
            tl.store(lst + (b * 2 + cp) * NTOT + base + pos, offs.to(tl.int32), mask=spike)
            tl.store(lcnt + (b * 2 + cp) * L + layer, k)
            tl.debug_barrier()
        # readout population: the last layer's spikes stamped n
        lbase = tl.load(noff + L - 1)
        nq = tl.load(lcnt + (b * 2 + pp) * L + L - 1)
        oinp = tl.zeros([OBLOCK], dtype=fdt)
        for q0_o in range(0, nq, EB):
            qs_o = q0_o + eoffs
            qm_o = qs_o < nq
            j_o = tl.load(lst + (b * 2 + pp) * NTOT + lbase + qs_o, mask=qm_o, other=0).to(tl.int64)
            oinp += tl.sum(_row_tile(wout, j_o, N_OUT, qm_o, ooffs, omask), 0)
        ii = io + oinp
        vm = o_mu_v * vo + o_mu_i * ii
        if HAS_BIAS:
            vm = vm + o_mu_b * bias_v
        vs = vo
        vv = o_alpha * vo + o_rho * ii
        if HAS_BIAS:
            vv = vv + o_bias_k * bias_v
        io = o_beta * ii
        vo = vv
        if OUT_LIF:
            spike = (vo >= o_theta) & omask
            den = _crossing_slope(vs, ii, vo, oc).to(fdt)
            zi = spike.to(tl.int32)
            pos = tl.cumsum(zi, 0) - 1
            idx = ocnt + pos
            ok = spike & (idx < CAP_O)
            tl.store(o_step + b * CAP_O + idx, pos * 0 + (n + 1), mask=ok)
            tl.store(o_neu + b * CAP_O + idx, ooffs.to(tl.int32), mask=ok)
            tl.store(o_den + b * CAP_O + idx, den, mask=ok)
            ocnt += tl.sum(zi, 0)
            first_b = tl.where(spike & (first_b > n + 1), n + 1, first_b)
            vo = tl.where(spike, o_reset, vo)
        elif KIND == 0:
            acc_b = acc_b + tl.load(coeff + n) * vm
        elif KIND == 1:
            upd = vm > vmax_b
            vmax_b = tl.where(upd, vm, vmax_b)
            argmax_b = tl.where(upd, n, argmax_b)
        elif KIND == 2:
            tl.store(trace + (n * B + b) * N_OUT + ooffs, vm, mask=omask)
        tl.debug_barrier()
    orow = b * N_OUT + ooffs
    tl.store(o_cnt + b, ocnt)
    tl.store(acc + orow, acc_b, mask=omask)
    tl.store(vmax + orow, vmax_b, mask=omask)
    tl.store(argmax + orow, argmax_b, mask=omask)
    tl.store(first + orow, first_b, mask=omask)


@triton.jit
def backward_kernel(
    ev_ptr, ev_ch, ev_val,
    wff, ff_off, sizes, noff, wrec, rec_off, wout, hc, oc, coeff,
    g, extra, reg, eps_arr, src_b_arr,
    spk_step, spk_neu, spk_den, spk_cnt,
    o_step, o_neu, o_den, o_cnt,
    lv_s, li_s, fb_s, rng,
    g_ff, g_rec, g_out, g_bias,
    T, B, L, NTOT, N_OUT, CAP, CAP_O,
    HAS_BIAS: tl.constexpr, HAS_REG: tl.constexpr, KIND: tl.constexpr,
    BLOCK: tl.constexpr, OBLOCK: tl.constexpr, EB: tl.constexpr,
):  # fmt: skip
    r"""EventProp reverse replay of sample ``b = program_id(0)``, ``n = T-1 .. 0`` (``s = n + 1``),
    the steps of ``_numba_kernels.backward_kernel``:

    1. feedback of the spikes stamped ``s < T`` from the adjoints at :math:`t_s^+`:
       :math:`F_j = \sum_m W^{next}_{jm}(\lambda_V - \lambda_I)_m + \sum_m W^{rec}_{jm}(\lambda_V
       - \lambda_I)_m`;
    2. first-spike readout at ``t_s``: jumps at the output spikes and the phantom at ``T``;
    3. hidden jumps :math:`\lambda_V \mathrel{+}= [(\vartheta - V_r)\lambda_V + F]/\max(I-V,
       \epsilon)` (+ regulariser);
    4. :math:`\lambda_I \leftarrow \beta\lambda_I + \kappa\lambda_V`, :math:`\lambda_V \leftarrow
       \alpha\lambda_V`; 4b. voltage readouts at :math:`t_n^+`: :math:`\lambda_V^{out}
       \mathrel{-}= G\mu_V/\tau_m`, :math:`\lambda_I^{out} \mathrel{-}= G\mu_I/\tau_s`;
    5. every event delivered at ``t_n`` adds :math:`\lambda_I` of its target to its synapse
       (atomic adds into ``g_ff``/``g_rec``/``g_out`` in the working dtype; ``g_bias`` float64
       holds :math:`\sum\lambda_V^{out}` plus the direct term, unscaled as on the CPU path).

    ``g`` is ``dL/d readout`` ``[B, n_out]`` (``[T, B, n_out]`` for traces); ``extra [B, n_out]``
    the arg-max steps or the first-spike stamps; ``eps_arr = (guard, 0, mu_v / tau_m,
    mu_i / tau_s)``; ``src_b_arr`` (float64) the bias factor of the direct readout term.
    Scratch ``lv_s``/``li_s``/``fb_s [B, ntot]`` start at zero, ``rng [B, 3, L]`` is free.
    """
    b = tl.program_id(0).to(tl.int64)
    eoffs = tl.arange(0, EB)
    offs = tl.arange(0, BLOCK)
    ooffs = tl.arange(0, OBLOCK)
    omask = ooffs < N_OUT
    fdt = wff.dtype.element_ty
    lvo = tl.zeros([OBLOCK], dtype=fdt)
    lio = tl.zeros([OBLOCK], dtype=fdt)
    gb = tl.zeros([OBLOCK], dtype=tl.float64)
    eps = tl.load(eps_arr + 0)
    src_v = tl.load(eps_arr + 2)
    src_i = tl.load(eps_arr + 3)
    src_b = tl.load(src_b_arr)
    o_tmr = tl.load(oc + 5)
    o_alpha = tl.load(oc + 0)
    o_beta = tl.load(oc + 1)
    o_kappa = tl.load(oc + 3)
    orow = b * N_OUT + ooffs
    ext = tl.load(extra + orow, mask=omask, other=0)
    last = L - 1
    HI = 0
    LO_S = 1
    LO_N = 2
    for layer in range(0, L):
        tl.store(rng + (b * 3 + HI) * L + layer, tl.load(spk_cnt + layer * B + b))
    o_hi = tl.load(o_cnt + b)
    tl.debug_barrier()
    for r in range(0, T):
        n = T - 1 - r
        s = n + 1
        # ranges of the spikes stamped s ([lo_s, hi)) and n ([lo_n, lo_s)) per layer
        for layer in range(0, L):
            hi = tl.load(rng + (b * 3 + HI) * L + layer)
            sp = spk_step + (layer * B + b) * CAP
            lo_s = _run_start(sp, hi, s, EB)
            tl.store(rng + (b * 3 + LO_S) * L + layer, lo_s)
            tl.store(rng + (b * 3 + LO_N) * L + layer, _run_start(sp, lo_s, n, EB))
        tl.debug_barrier()
        # 1. feedback at t_s^+ (before any jump)
        if s < T:
            for layer in range(0, L):
                hi = tl.load(rng + (b * 3 + HI) * L + layer)
                lo_s = tl.load(rng + (b * 3 + LO_S) * L + layer)
                nl = tl.load(sizes + layer)
                base = tl.load(noff + layer)
                if layer < last:
                    nn = tl.load(sizes + layer + 1)
                    nbase = tl.load(noff + layer + 1)
                    offn = tl.load(ff_off + layer + 1)
                else:
                    nn = nl
                    nbase = base
                    offn = tl.load(ff_off + layer)
                mn = offs < nn
                diff = tl.load(lv_s + b * NTOT + nbase + offs, mask=mn, other=0.0) - tl.load(
                    li_s + b * NTOT + nbase + offs, mask=mn, other=0.0
                )
                diff_o = lvo - lio
                offr = tl.load(rec_off + layer)
                ml = offs < nl
                diff_rec = tl.load(lv_s + b * NTOT + base + offs, mask=ml, other=0.0) - tl.load(
                    li_s + b * NTOT + base + offs, mask=ml, other=0.0
                )
                for q0_b in range(lo_s, hi, EB):
                    qs_b = q0_b + eoffs
                    qm_b = qs_b < hi
                    j_b = tl.load(spk_neu + (layer * B + b) * CAP + qs_b, mask=qm_b, other=0).to(tl.int64)
                    if layer < last:
                        f_b = tl.sum(_row_tile(wff + offn, j_b, nn, qm_b, offs, mn) * diff[None, :], 1)
                    else:
                        f_b = tl.sum(_row_tile(wout, j_b, N_OUT, qm_b, ooffs, omask) * diff_o[None, :], 1)
                    if offr >= 0:
                        f_b = f_b + tl.sum(_row_tile(wrec + offr, j_b, nl, qm_b, offs, ml) * diff_rec[None, :], 1)
                    tl.store(fb_s + b * NTOT + base + qs_b - lo_s, f_b, mask=qm_b)
            tl.debug_barrier()
        # 2. first-spike readout at t_s
        if KIND == 3:
            o_lo = _run_start(o_step + b * CAP_O, o_hi, s, EB)
            for q in range(o_lo, o_hi):
                k2 = tl.load(o_neu + b * CAP_O + q)
                den = tl.load(o_den + b * CAP_O + q)
                den = tl.where(den < eps, eps, den)
                sel = ooffs == k2
                lvk = tl.sum(tl.where(sel, lvo, 0.0), 0)
                num = o_tmr * lvk
                fk = tl.load(extra + b * N_OUT + k2)
                num = tl.where(fk == s, num + tl.load(g + b * N_OUT + k2), num)
                lvo = tl.where(sel, lvk + num / den, lvo)
            o_hi = o_lo
            if s == T:
                gv = tl.load(g + orow, mask=omask, other=0.0)
                lvo = tl.where((ext > T) & omask, lvo + gv, lvo)
        if HAS_BIAS:
            gb += lvo.to(tl.float64)
        # 3. hidden jumps at t_s
        for layer in range(0, L):
            hi = tl.load(rng + (b * 3 + HI) * L + layer)
            lo_s = tl.load(rng + (b * 3 + LO_S) * L + layer)
            base = tl.load(noff + layer)
            tmr = tl.load(hc + layer * 15 + 5)
            for q0_j in range(lo_s, hi, EB):
                qs_j = q0_j + eoffs
                qm_j = qs_j < hi
                sq_j = (layer * B + b) * CAP + qs_j
                j_j = tl.load(spk_neu + sq_j, mask=qm_j, other=0).to(tl.int64)
                den_j = tl.load(spk_den + sq_j, mask=qm_j, other=1.0)
                den_j = tl.where(den_j < eps, eps, den_j)
                lvj_j = tl.load(lv_s + b * NTOT + base + j_j, mask=qm_j, other=0.0)
                num_j = tmr * lvj_j
                if s < T:
                    num_j = num_j + tl.load(fb_s + b * NTOT + base + qs_j - lo_s, mask=qm_j, other=0.0)
                delta_j = num_j / den_j
                if HAS_REG:
                    delta_j = delta_j + tl.load(reg + base + j_j, mask=qm_j, other=0.0)
                tl.store(lv_s + b * NTOT + base + j_j, lvj_j + delta_j, mask=qm_j)
            tl.store(rng + (b * 3 + HI) * L + layer, lo_s)
        tl.debug_barrier()
        # 4. exact reverse dynamics over [t_n, t_{n+1}]
        for layer in range(0, L):
            nl = tl.load(sizes + layer)
            base = tl.load(noff + layer)
            ml = offs < nl
            srow = b * NTOT + base + offs
            lvl = tl.load(lv_s + srow, mask=ml, other=0.0)
            lil = tl.load(li_s + srow, mask=ml, other=0.0)
            hrow = hc + layer * 15
            tl.store(li_s + srow, tl.load(hrow + 1) * lil + tl.load(hrow + 3) * lvl, mask=ml)
            tl.store(lv_s + srow, tl.load(hrow + 0) * lvl, mask=ml)
        lio = o_beta * lio + o_kappa * lvo
        lvo = o_alpha * lvo
        # 4b. voltage readouts: the source of step n's mean on the state at t_n^+
        if KIND != 3:
            if KIND == 0:
                src = tl.load(g + orow, mask=omask, other=0.0) * tl.load(coeff + n)
                sel = omask
            elif KIND == 2:
                src = tl.load(g + n * B * N_OUT + orow, mask=omask, other=0.0)
                sel = omask
            else:
                src = tl.load(g + orow, mask=omask, other=0.0)
                sel = omask & (ext == n)
            lvo = tl.where(sel, lvo - src * src_v, lvo)
            lio = tl.where(sel, lio - src * src_i, lio)
            if HAS_BIAS:
                gb = tl.where(sel, gb + src * src_b, gb)
        tl.debug_barrier()
        # 5. events delivered at t_n meet lambda_I(t_n)
        n0 = tl.load(sizes + 0)
        m0 = offs < n0
        off0 = tl.load(ff_off + 0)
        li0 = tl.load(li_s + b * NTOT + offs, mask=m0, other=0.0)
        k_ev = n * B + b
        e0 = tl.load(ev_ptr + k_ev)
        e1 = tl.load(ev_ptr + k_ev + 1)
        for q0_e in range(e0, e1, EB):
            qs_e = q0_e + eoffs
            qm_e = qs_e < e1
            ch_e = tl.load(ev_ch + qs_e, mask=qm_e, other=0).to(tl.int64)
            xv_e = tl.load(ev_val + qs_e, mask=qm_e, other=0.0)
            tl.atomic_add(
                g_ff + off0 + ch_e[:, None] * n0 + offs[None, :], xv_e[:, None] * li0[None, :],
                mask=qm_e[:, None] & m0[None, :],
            )
        for layer in range(0, L):
            nl = tl.load(sizes + layer)
            base = tl.load(noff + layer)
            ml = offs < nl
            lil = tl.load(li_s + b * NTOT + base + offs, mask=ml, other=0.0)
            if layer > 0:
                offl = tl.load(ff_off + layer)
                lo_n = tl.load(rng + (b * 3 + LO_N) * L + layer - 1)
                lo_s = tl.load(rng + (b * 3 + LO_S) * L + layer - 1)
                for q0_f in range(lo_n, lo_s, EB):
                    qs_f = q0_f + eoffs
                    qm_f = qs_f < lo_s
                    j_f = tl.load(spk_neu + ((layer - 1) * B + b) * CAP + qs_f, mask=qm_f, other=0).to(tl.int64)
                    _add_rows(g_ff + offl, j_f, nl, qm_f, offs, ml, lil)
            offr = tl.load(rec_off + layer)
            if offr >= 0:
                lo_n = tl.load(rng + (b * 3 + LO_N) * L + layer)
                lo_s = tl.load(rng + (b * 3 + LO_S) * L + layer)
                for q0_r in range(lo_n, lo_s, EB):
                    qs_r = q0_r + eoffs
                    qm_r = qs_r < lo_s
                    j_r = tl.load(spk_neu + (layer * B + b) * CAP + qs_r, mask=qm_r, other=0).to(tl.int64)
                    _add_rows(g_rec + offr, j_r, nl, qm_r, offs, ml, lil)
        lo_n = tl.load(rng + (b * 3 + LO_N) * L + last)
        lo_s = tl.load(rng + (b * 3 + LO_S) * L + last)
        for q0_o in range(lo_n, lo_s, EB):
            qs_o = q0_o + eoffs
            qm_o = qs_o < lo_s
            j_o = tl.load(spk_neu + (last * B + b) * CAP + qs_o, mask=qm_o, other=0).to(tl.int64)
            _add_rows(g_out, j_o, N_OUT, qm_o, ooffs, omask, lio)
        tl.debug_barrier()
    if HAS_BIAS:
        tl.atomic_add(g_bias + ooffs, gb, mask=omask)


__all__ = ["INTERPRETED", "backward_kernel", "forward_kernel", "triton"]
