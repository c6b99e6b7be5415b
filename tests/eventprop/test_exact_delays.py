"""Synaptic delays in the exact event-driven reference (``ExactLayer.d_ff`` / ``d_rec``).

A spike of presynaptic ``i`` at ``t_k`` adds ``w[i, j]`` to ``I_j`` at ``t_k + d[i, j]``
(Meszaros, Knight & Nowotny 2025). Checked here:

1. zero delays reproduce the undelayed simulation bit for bit (spike times, ``I^-``, readouts),
   and its adjoint gradients to 1e-14 (measured ~3e-17 absolute);
2. closed forms: a delayed input shifts a spike by exactly the delay (1e-15 s); a uniform
   feed-forward delay shifts a whole downstream layer; a recurrent delay that moves an
   excitatory arrival past an inhibitory input arrival switches the target's spike on and off
   as predicted; arrivals after ``T`` are dropped;
3. finite differences w.r.t. a delay equal the hand-derived ``dz/dd`` of a tiny chain (one
   input -> one hidden spike -> LI avg readout: ``dz/dd = -(w_o/T) kappa(T - t_A)``), also
   one-sided from ``d = 0``; the one-sided stencil; the signature flags an arrival that
   crosses a spike of its own target (and only of its target);
4. the exact-time adjoint with delays against finite differences on small random feed-forward,
   recurrent and two-layer (mixed delayed / undelayed) networks, several seeds and readouts,
   with ~20 % of the delays exactly 0: per parameter tensor, relative error < 1e-6 (measured
   ~3e-8); negative controls (adjoint read at the emission time, a flipped recurrent term,
   a missing feed-forward term) fail by > 1e-2.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from eventbench.eventprop import exact as ex

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
T = 0.03  # trial length (s)
TOL = 1e-6  # per-parameter relative error, adjoint vs finite differences


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def _random_delayed_case(
    seed: int,
    arch: str,
    out_kind: str = "li",
    *,
    max_delay_s: float = 5e-3,
    frac_zero: float = 0.2,
    n_in: int = 3,
    n_out: int = 2,
    n_spikes: int = 15,
) -> tuple[ex.ExactNetwork, F64, I64]:
    """A tiny random network with delays uniform in ``[0, max_delay_s]`` (a fraction
    ``frac_zero`` of them exactly 0). arch: 'ff' (5 hidden), 'rec' (5 recurrent),
    'two' (4 -> 3 recurrent, both delayed), 'two_top' (only the second layer delayed),
    'two_bottom' (only the first layer delayed)."""
    rng = np.random.default_rng(seed)
    sizes = {"ff": (5,), "rec": (5,)}.get(arch, (4, 3))

    def delays(shape: tuple[int, ...]) -> F64:
        d = rng.uniform(0.0, max_delay_s, shape)
        d[rng.random(shape) < frac_zero] = 0.0
        if frac_zero > 0.0:
            d.flat[rng.integers(d.size)] = 0.0  # at least one delay at the bound
        return d

    hidden = []
    n_pre = n_in
    for l_idx, n in enumerate(sizes):
        recurrent = arch == "rec" or (arch.startswith("two") and l_idx == 1)
        delayed = not (arch == "two_top" and l_idx == 0) and not (
            arch == "two_bottom" and l_idx == 1
        )
        w_ff = rng.normal(1.5, 1.0, (n_pre, n))
        w_rec = rng.normal(0.0, 0.5, (n, n)) if recurrent else None
        hidden.append(
            ex.ExactLayer(
                w_ff=w_ff,
                w_rec=w_rec,
                tau_mem_s=20e-3,
                tau_syn_s=5e-3,
                v_reset=0.0 if l_idx == 0 else -0.2,
                d_ff=delays(w_ff.shape) if delayed else None,
                d_rec=delays(w_rec.shape) if delayed and w_rec is not None else None,
            )
        )
        n_pre = n
    out_w = rng.normal(0.5, 1.0, (n_pre, n_out)) * (3.0 if out_kind == "lif" else 1.0)
    net = ex.ExactNetwork(
        hidden=tuple(hidden),
        out_w=out_w,
        out_kind="lif" if out_kind == "lif" else "li",
        out_bias=rng.normal(0.0, 0.2, n_out) if out_kind == "li" else None,
    )
    return net, rng.uniform(0.0, T, n_spikes), rng.integers(0, n_in, n_spikes).astype(np.int64)


def _undelayed(net: ex.ExactNetwork) -> ex.ExactNetwork:
    """The same network with ``d_ff = d_rec = None``."""
    hidden = tuple(
        ex.ExactLayer(
            w_ff=layer.w_ff,
            w_rec=layer.w_rec,
            tau_mem_s=layer.tau_mem_s,
            tau_syn_s=layer.tau_syn_s,
            threshold=layer.threshold,
            v_reset=layer.v_reset,
        )
        for layer in net.hidden
    )
    return ex.ExactNetwork(
        hidden=hidden,
        out_w=net.out_w,
        out_tau_mem_s=net.out_tau_mem_s,
        out_tau_syn_s=net.out_tau_syn_s,
        out_kind=net.out_kind,
        out_bias=net.out_bias,
    )


def _with_zero_delays(net: ex.ExactNetwork) -> ex.ExactNetwork:
    params = {
        f"hidden.{l_idx}.{key}": np.zeros_like(w)
        for l_idx, layer in enumerate(net.hidden)
        for key, w in (("d_ff", layer.w_ff), ("d_rec", layer.w_rec))
        if w is not None
    }
    base = _undelayed(net)
    hidden = tuple(
        ex.ExactLayer(
            w_ff=layer.w_ff,
            w_rec=layer.w_rec,
            tau_mem_s=layer.tau_mem_s,
            tau_syn_s=layer.tau_syn_s,
            threshold=layer.threshold,
            v_reset=layer.v_reset,
            d_ff=params[f"hidden.{l_idx}.d_ff"],
            d_rec=params.get(f"hidden.{l_idx}.d_rec"),
        )
        for l_idx, layer in enumerate(base.hidden)
    )
    return ex.ExactNetwork(
        hidden=hidden,
        out_w=net.out_w,
        out_tau_mem_s=net.out_tau_mem_s,
        out_tau_syn_s=net.out_tau_syn_s,
        out_kind=net.out_kind,
        out_bias=net.out_bias,
    )


def _loss_and_grad(c: F64) -> tuple[Callable[[F64], float], Callable[[F64], F64]]:
    """L(z) = c.z + z.z/2 over the finite entries of z (silent first-spike outputs drop out)."""

    def loss(z: F64) -> float:
        zz = np.where(np.isfinite(z), z, 0.0)
        return float(c @ zz + 0.5 * zz @ zz)

    def grad(z: F64) -> F64:
        zz = np.where(np.isfinite(z), z, 0.0)
        return c + zz

    return loss, grad


def _rel_err_per_param(adj: dict[str, F64], fd: dict[str, F64]) -> dict[str, float]:
    """max |adj - fd| / max |fd| per parameter tensor (delay gradients, per second, are much
    larger than weight gradients: one global normalisation would hide weight errors)."""
    assert set(adj) == set(fd)
    out = {}
    for k, f in fd.items():
        m = np.isfinite(f)
        den = float(np.max(np.abs(f)[m], initial=0.0))
        num = float(np.max(np.abs(adj[k] - f)[m], initial=0.0))
        out[k] = num / den if den > 0.0 else num
    return out


def _compare(
    net: ex.ExactNetwork,
    t_in: F64,
    ch: I64,
    kind: ex.ReadoutKind,
    seed: int,
    variant: str | None = None,
) -> tuple[dict[str, float], ex.FDResult, ex.ExactTrace]:
    c = np.random.default_rng(1000 + seed).normal(size=net.n_out)
    loss, dloss = _loss_and_grad(c)
    tr = ex.simulate(net, t_in, ch, T)
    fd = ex.gradients_by_fd(net, t_in, ch, T, kind, loss)
    adj = ex.exact_adjoint_gradient(net, tr, dloss(ex.readout(tr, kind)), kind, _variant=variant)
    return _rel_err_per_param(adj, fd.grad), fd, tr


# closed form of the first crossing for tau_m = 2 tau_s, one input of weight w >= 4 onto a
# resting neuron: V(s) = w (x - x^2), x = e^{-s/tau_m}; crossing at x = (1 + sqrt(1 - 4/w))/2
TM, TS = 20e-3, 10e-3


def _s_cross(w: float) -> float:
    return -TM * math.log(0.5 * (1.0 + math.sqrt(1.0 - 4.0 / w)))


# ------------------------------------------------------------------------------------------
# 1. zero delays == no delays; validation
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["ff", "rec", "two"])
@pytest.mark.parametrize("seed", [0, 1])
def test_zero_delays_equal_no_delays(arch: str, seed: int) -> None:
    delayed, t_in, ch = _random_delayed_case(seed, arch)
    plain = _undelayed(delayed)
    zero = _with_zero_delays(delayed)
    assert not any(layer.delayed for layer in plain.hidden)
    assert all(layer.delayed for layer in zero.hidden)
    a = ex.simulate(plain, t_in, ch, T)
    b = ex.simulate(zero, t_in, ch, T)
    assert sum(lt.spike_t.size for lt in a.hidden) >= 10
    for la, lb in zip(a.hidden, b.hidden, strict=True):
        assert not la.delayed and lb.delayed
        np.testing.assert_array_equal(la.spike_t, lb.spike_t)
        np.testing.assert_array_equal(la.spike_neuron, lb.spike_neuron)
        np.testing.assert_array_equal(la.spike_i, lb.spike_i)
    t = np.linspace(0.0, T, 301)
    np.testing.assert_array_equal(a.output_voltage(t), b.output_voltage(t))
    for kind in ("avg", "exp", "linear", "sigmoid", "max"):
        np.testing.assert_array_equal(ex.readout(a, kind), ex.readout(b, kind))
    g = np.array([0.7, -1.1])
    ga = ex.exact_adjoint_gradient(plain, a, g, "exp")
    gb = ex.exact_adjoint_gradient(zero, b, g, "exp")
    assert set(gb) - set(ga) == {k for k in ex.network_parameters(zero) if ".d_" in k}
    for k, v in ga.items():
        np.testing.assert_allclose(gb[k], v, rtol=0, atol=1e-14 * max(1.0, np.max(np.abs(v))))


def test_delay_fields_are_validated() -> None:
    w = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"d_ff must have shape \(2, 3\)"):
        ex.ExactLayer(w_ff=w, d_ff=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="d_ff must have 2 dimensions"):
        ex.ExactLayer(w_ff=w, d_ff=np.zeros(6))
    with pytest.raises(ValueError, match="d_ff must be >= 0"):
        ex.ExactLayer(w_ff=w, d_ff=np.full((2, 3), -1e-3))
    with pytest.raises(ValueError, match="d_ff contains non-finite"):
        ex.ExactLayer(w_ff=w, d_ff=np.full((2, 3), np.inf))
    with pytest.raises(ValueError, match=r"d_rec .* w_rec is None"):
        ex.ExactLayer(w_ff=w, d_rec=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"d_rec must have shape \(3, 3\)"):
        ex.ExactLayer(w_ff=w, w_rec=np.zeros((3, 3)), d_rec=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="d_rec contains non-finite"):
        ex.ExactLayer(w_ff=w, w_rec=np.zeros((3, 3)), d_rec=np.full((3, 3), np.nan))
    layer = ex.ExactLayer(w_ff=w, w_rec=np.zeros((3, 3)), d_rec=np.ones((3, 3)) * 1e-3)
    assert layer.delayed and layer.d_ff is None
    # parameters and their round trip
    net = ex.ExactNetwork(hidden=(layer,), out_w=np.ones((3, 1)))
    params = ex.network_parameters(net)
    assert sorted(params) == [
        "hidden.0.d_rec",
        "hidden.0.w_ff",
        "hidden.0.w_rec",
        "out_bias",
        "out_w",
    ]
    moved = ex.replace_parameters(net, {"hidden.0.d_rec": np.full((3, 3), 2e-3)})
    assert moved.hidden[0].d_rec is not None and np.all(moved.hidden[0].d_rec == 2e-3)
    with pytest.raises(ValueError, match="d_rec must be >= 0"):
        ex.replace_parameters(net, {"hidden.0.d_rec": np.full((3, 3), -2e-3)})
    with pytest.raises(KeyError, match=r"hidden\.0\.d_ff"):
        ex.replace_parameters(net, {"hidden.0.d_ff": np.zeros((2, 3))})


# ------------------------------------------------------------------------------------------
# 2. closed forms
# ------------------------------------------------------------------------------------------
def _one_neuron(w: float, d: float | None) -> ex.ExactNetwork:
    layer = ex.ExactLayer(
        w_ff=np.array([[w]]),
        tau_mem_s=TM,
        tau_syn_s=TS,
        d_ff=None if d is None else np.array([[d]]),
    )
    return ex.ExactNetwork(hidden=(layer,), out_w=np.array([[1.0]]))


@pytest.mark.parametrize("d", [0.0, 1e-3, 2.5e-3, 7.3e-3])
def test_delayed_input_shifts_the_spike_by_the_delay(d: float) -> None:
    t0, w = 1e-3, 5.0
    tr = ex.simulate(_one_neuron(w, d), [t0], [0], T)
    spikes = tr.hidden_spike_times(0)[0]
    assert spikes.size == 1
    assert abs(spikes[0] - (t0 + d + _s_cross(w))) < 1e-15
    # identical to the undelayed neuron fed at t0 + d (the arrival time is the same float)
    ref = ex.simulate(_one_neuron(w, None), [t0 + d], [0], T)
    assert spikes[0] == ref.hidden_spike_times(0)[0][0]
    assert tr.hidden[0].spike_i[0] == ref.hidden[0].spike_i[0]
    np.testing.assert_array_equal(tr.hidden[0].in_t, [t0 + d])


def test_uniform_feedforward_delay_shifts_the_layer_above() -> None:
    # delaying every input of layer 1 by D (d_rec = 0) shifts its whole dynamics by D: its
    # spikes are those of the undelayed network plus D, up to the ones pushed past T
    net, t_in, ch = _random_delayed_case(3, "two", frac_zero=1.0)
    big_d = 4e-3
    assert net.hidden[1].d_ff is not None
    shifted = ex.replace_parameters(net, {"hidden.1.d_ff": np.full_like(net.hidden[1].w_ff, big_d)})
    a = ex.simulate(net, t_in, ch, T)
    b = ex.simulate(shifted, t_in, ch, T)
    np.testing.assert_array_equal(a.hidden[0].spike_t, b.hidden[0].spike_t)
    keep = a.hidden[1].spike_t + big_d <= T
    assert int(keep.sum()) >= 3
    np.testing.assert_array_equal(b.hidden[1].spike_neuron, a.hidden[1].spike_neuron[keep])
    np.testing.assert_allclose(b.hidden[1].spike_t, a.hidden[1].spike_t[keep] + big_d, atol=1e-15)


def _chain(d: float) -> tuple[ex.ExactTrace, float]:
    """Neuron 0 fires once at t_A (input 0, w = 5); it excites neuron 1 (w_rec = 5, delay d).
    Input 1 at t1 = 20 ms inhibits neuron 1 (w = -20). Returns the trace and t_A."""
    t0, t1 = 1e-3, 20e-3
    layer = ex.ExactLayer(
        w_ff=np.array([[5.0, 0.0], [0.0, -20.0]]),
        w_rec=np.array([[0.0, 5.0], [0.0, 0.0]]),
        d_rec=np.array([[0.0, d], [0.0, 0.0]]),
        tau_mem_s=TM,
        tau_syn_s=TS,
    )
    net = ex.ExactNetwork(hidden=(layer,), out_w=np.ones((2, 1)))
    return ex.simulate(net, [t0, t1], [0, 1], T), t0 + _s_cross(5.0)


def test_recurrent_delay_moves_an_arrival_past_an_input_and_changes_the_pattern() -> None:
    t1 = 20e-3
    # d = 1 ms: the excitation arrives at t_A + d and neuron 1 crosses s* later, before the
    # inhibition at t1: a spike at exactly t_A + d + s*
    tr, t_a = _chain(1e-3)
    s0, s1 = tr.hidden_spike_times(0)
    assert s0.size == 1 and abs(s0[0] - t_a) < 1e-15  # after the reset I0 = 5 x^2: peak 0.65
    assert s1.size == 1 and abs(s1[0] - (t_a + 1e-3 + _s_cross(5.0))) < 1e-15
    assert s1[0] < t1
    # d = 10 ms: the excitation still arrives before t1, but the crossing would come after it;
    # from t1 on I = 5 e^{-(t1 - t_A - d)/tau_s} - 20 < 0 for ever, so V never reaches 1
    tr, _ = _chain(10e-3)
    assert tr.hidden[0].spike_t.size == 1 and tr.hidden_spike_times(0)[1].size == 0
    assert 5.0 * math.exp(-(t1 - t_a - 10e-3) / TS) - 20.0 < 0.0
    # d = 14 ms: the excitation arrives after the inhibition (t_A + d > t1): silent as well
    tr, _ = _chain(14e-3)
    assert t_a + 14e-3 > t1 and tr.hidden_spike_times(0)[1].size == 0
    # ...and between 1 and 10 ms the spike of neuron 1 simply follows the delay
    for d in (2e-3, 4e-3):
        tr, _ = _chain(d)
        s1 = tr.hidden_spike_times(0)[1]
        assert s1.size == 1 and abs(s1[0] - (t_a + d + _s_cross(5.0))) < 1e-15
    # d = 25 ms: the arrival at neuron 1 would be after T and is dropped; what is left of the
    # recurrent arrivals is the (zero-weight, zero-delay) self-connection of neuron 0
    tr, _ = _chain(25e-3)
    lt = tr.hidden[0]
    assert lt.in_rec is not None and lt.in_post is not None and np.all(lt.in_t <= T)
    assert lt.in_t.size == 5  # two input events x two targets + one recurrent arrival
    assert np.array_equal(lt.in_post[lt.in_rec], [0]) and lt.in_t[lt.in_rec][0] == t_a


# ------------------------------------------------------------------------------------------
# 3. finite differences w.r.t. delays
# ------------------------------------------------------------------------------------------
def _kappa(s: float, tm: float, ts: float) -> float:
    return ts / (ts - tm) * (math.exp(-s / ts) - math.exp(-s / tm))


@pytest.mark.parametrize("d", [0.0, 3e-3])
def test_fd_wrt_a_delay_equals_the_hand_derived_readout_derivative(d: float) -> None:
    # input at t0 -> (delay d) -> hidden neuron, which fires once at t_A = t0 + d + s*
    # -> LI output (w_o): z = (w_o/T) int_0^{T - t_A} kappa(u) du and, since dt_A/dd = 1,
    # dz/dd = dz/dt_A = -(w_o/T) kappa(T - t_A) (kappa(0) = 0)
    t0, w, w_o = 1e-3, 5.0, 0.8
    otm, ots = 20e-3, 5e-3
    layer = ex.ExactLayer(w_ff=np.array([[w]]), d_ff=np.array([[d]]), tau_mem_s=TM, tau_syn_s=TS)
    net = ex.ExactNetwork(
        hidden=(layer,), out_w=np.array([[w_o]]), out_tau_mem_s=otm, out_tau_syn_s=ots
    )
    tr = ex.simulate(net, [t0], [0], T)
    t_a = t0 + d + _s_cross(w)
    assert tr.hidden[0].spike_t.size == 1 and abs(tr.hidden[0].spike_t[0] - t_a) < 1e-15
    s_len = T - t_a
    int_kappa = (
        ots / (ots - otm) * (ots * -math.expm1(-s_len / ots) + otm * math.expm1(-s_len / otm))
    )
    z_ref = w_o / T * int_kappa
    assert ex.integral(tr, "avg")[0] == pytest.approx(z_ref, rel=1e-13)
    dz_dd = -w_o / T * _kappa(s_len, otm, ots)

    fd = ex.gradients_by_fd(net, [t0], [0], T, "avg", lambda z: float(z[0]))
    assert fd.n_unresolved == 0
    assert fd.grad["hidden.0.d_ff"][0, 0] == pytest.approx(dz_dd, rel=1e-8)
    adj = ex.exact_adjoint_gradient(net, tr, np.ones(1), "avg")
    assert adj["hidden.0.d_ff"][0, 0] == pytest.approx(dz_dd, rel=1e-10)


def test_one_sided_stencil_at_the_lower_bound() -> None:
    # f(d) = |d| + d^3 + sin(d): at the bound d = 0 the right derivative is 2; the central
    # stencil would give 1. Interior entries still use the central stencil.
    calls: list[float] = []

    def f(p: dict[str, F64]) -> tuple[float, int]:
        d = p["d"]
        calls.extend(d.tolist())
        return float(np.sum(np.abs(d) + d**3 + np.sin(d))), 0

    res = ex.finite_difference_gradient(
        f, {"d": np.array([0.0, 0.5])}, lower_bounds={"d": 0.0}, scales={"d": 1.0}
    )
    assert min(calls) >= 0.0  # never evaluated below the bound
    assert res.grad["d"][0] == pytest.approx(2.0, rel=1e-10)
    assert res.grad["d"][1] == pytest.approx(1.0 + 3 * 0.25 + math.cos(0.5), rel=1e-9)
    unbounded = ex.finite_difference_gradient(f, {"d": np.array([0.0, 0.5])})
    assert unbounded.grad["d"][0] == pytest.approx(1.0, rel=1e-10)


def test_signature_flags_an_arrival_crossing_its_own_target_spike() -> None:
    # neuron 0 fires at t_A, neuron 1 (input 0 delayed by 2 ms) at t_A + 2 ms; input 1 reaches
    # both (w = 0.1) through delays, 1e-12 s before t_A. That arrival is a kink of neuron 0
    # (it is about to cross neuron 0's spike): FD must refuse the entries that move one across
    # the other (nan, reported); at neuron 1 the same arrival time is harmless.
    t0, t_in1 = 1e-3, 2e-3
    t_a = t0 + _s_cross(5.0)
    gap = t_a - t_in1 - 1e-12
    loss, dloss = _loss_and_grad(np.array([1.0]))

    def net_with(d_to_0: float, d_to_1: float) -> ex.ExactNetwork:
        layer = ex.ExactLayer(
            w_ff=np.array([[5.0, 5.0], [0.1, 0.1]]),
            d_ff=np.array([[0.0, 2e-3], [d_to_0, d_to_1]]),
            tau_mem_s=TM,
            tau_syn_s=TS,
        )
        return ex.ExactNetwork(hidden=(layer,), out_w=np.array([[1.0], [0.5]]))

    before = ex.simulate(net_with(gap, gap), [t0, t_in1], [0, 1], T)
    assert [s.size for s in before.hidden_spike_times(0)] == [1, 1]
    after = ex.simulate(net_with(gap + 2e-12, gap + 2e-12), [t0, t_in1], [0, 1], T)
    sig_b = ex.readout_signature(before, "exp")
    assert sig_b != ex.readout_signature(after, "exp")
    only_other = ex.simulate(net_with(gap, gap + 2e-12), [t0, t_in1], [0, 1], T)
    assert sig_b == ex.readout_signature(only_other, "exp")

    # unresolved: the arrival's own delay, and w_ff[0, 0], which moves the spike across it
    # (d_ff[0, 0] = 0 is differentiated one-sided: it only moves the spike later, away from
    # the arrival, so it is resolved)
    net = net_with(gap, gap)
    fd = ex.gradients_by_fd(net, [t0, t_in1], [0, 1], T, "exp", loss)
    assert fd.unresolved == (("hidden.0.w_ff", (0, 0)), ("hidden.0.d_ff", (1, 0)))
    assert abs(fd.grad["hidden.0.d_ff"][1, 1]) > 1e-3 and abs(fd.grad["hidden.0.d_ff"][0, 0]) > 1
    adj = ex.exact_adjoint_gradient(net, before, dloss(ex.readout(before, "exp")), "exp")
    errs = _rel_err_per_param(adj, fd.grad)
    assert max(errs.values()) < TOL, errs


# ------------------------------------------------------------------------------------------
# 4. exact adjoint vs finite differences
# ------------------------------------------------------------------------------------------
CASES = [
    ("ff", "exp", 0),
    ("ff", "max", 1),
    ("ff", "first_spike", 2),
    ("rec", "avg", 0),
    ("rec", "exp", 1),
    ("rec", "max", 2),
    ("rec", "first_spike", 3),
    ("two", "exp", 0),
    ("two", "first_spike", 1),
    ("two_top", "linear", 2),
    ("two_bottom", "max", 3),
]


@pytest.mark.parametrize(("arch", "kind", "seed"), CASES)
def test_adjoint_matches_fd_with_delays(arch: str, kind: ex.ReadoutKind, seed: int) -> None:
    net, t_in, ch = _random_delayed_case(seed, arch, "lif" if kind == "first_spike" else "li")
    errs, fd, tr = _compare(net, t_in, ch, kind, seed)
    assert all(lt.spike_t.size > 0 for lt in tr.hidden), "hidden layers must spike"
    if kind == "first_spike":
        assert tr.output.spike_t.size > 0
    delay_keys = [k for k in fd.grad if ".d_" in k]
    assert delay_keys
    for k in delay_keys:  # non-vacuous: delay gradients exist, some at d = 0 (one-sided FD)
        assert np.max(np.abs(fd.grad[k])) > 0.0
    assert any(
        np.any(getattr(layer, key) == 0.0)
        for layer in net.hidden
        for key in ("d_ff", "d_rec")
        if getattr(layer, key) is not None
    )
    assert fd.n_unresolved == 0
    assert max(errs.values()) < TOL, errs


@pytest.mark.parametrize(
    ("variant", "arch", "kind"),
    [
        ("read_at_emission", "ff", "exp"),
        ("read_at_emission", "rec", "first_spike"),
        ("flip_recurrent", "rec", "avg"),
        ("no_feedforward_term", "two", "exp"),
    ],
)
def test_wrong_delayed_adjoints_fail(variant: str, arch: str, kind: ex.ReadoutKind) -> None:
    net, t_in, ch = _random_delayed_case(0, arch, "lif" if kind == "first_spike" else "li")
    good, _, _ = _compare(net, t_in, ch, kind, 0)
    bad, _, _ = _compare(net, t_in, ch, kind, 0, variant=variant)
    assert max(good.values()) < TOL
    assert max(bad.values()) > 1e-2
