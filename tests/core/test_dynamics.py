"""Discrete LIF dynamics: closed forms, exactness of the step, validation of the description."""

from __future__ import annotations

import math

import pytest
import torch

from eventbench.core import (
    SNN,
    LayerSpec,
    LIFParams,
    LIFState,
    NetworkSpec,
    Normal,
    SurrogateBPTT,
    discretise,
    integrate,
    lif_step,
)
from eventbench.eventprop import EventProp
from eventbench.readout import (
    AvgVoltage,
    ExpWeightedVoltage,
    FirstSpikeTime,
    MaxVoltage,
    VoltageTrace,
)


def _closed_form_v(t: float, i0: float, tm: float, ts: float) -> float:
    return i0 * ts / (ts - tm) * (math.exp(-t / ts) - math.exp(-t / tm))


@pytest.mark.parametrize("dt", [1e-3, 1e-4])
def test_integration_is_exact_for_a_decaying_current(dt: float) -> None:
    """V after n steps equals the analytic solution of tau_m dV/dt = -V + I0 e^{-t/tau_s}."""
    p = LIFParams(tau_mem_s=20e-3, tau_syn_s=5e-3)
    c = discretise(p, dt)
    st = LIFState(torch.zeros(1, 1, dtype=torch.float64), torch.full((1, 1), 2.0, dtype=torch.float64))
    for _ in range(round(10e-3 / dt)):
        st = integrate(st, c)
    expected = _closed_form_v(10e-3, 2.0, p.tau_mem_s, p.tau_syn_s)
    assert float(st.v) == pytest.approx(expected, rel=1e-12)
    assert float(st.i) == pytest.approx(2.0 * math.exp(-10e-3 / 5e-3), rel=1e-12)


def test_equal_time_constants_use_the_limit() -> None:
    """tau_m == tau_s: rho = (dt/tau) e^{-dt/tau}, continuous with tau_s -> tau_m."""
    c_eq = discretise(LIFParams(10e-3, 10e-3), 1e-3)
    c_near = discretise(LIFParams(10e-3, 10e-3 * (1 + 1e-6)), 1e-3)
    assert c_eq.rho == pytest.approx(0.1 * math.exp(-0.1), rel=1e-12)
    assert c_near.rho == pytest.approx(c_eq.rho, rel=1e-5)
    assert c_eq.kappa == pytest.approx(c_eq.rho, rel=1e-12)


def test_discretise_values_and_errors() -> None:
    c = discretise(LIFParams(), 1e-3)
    assert c.alpha == pytest.approx(math.exp(-1 / 20))
    assert c.beta == pytest.approx(math.exp(-1 / 5))
    assert c.kappa == pytest.approx(c.rho * 4.0)
    with pytest.raises(ValueError, match="dt_s"):
        discretise(LIFParams(), 0.0)
    with pytest.raises(ValueError, match="tau_mem_s"):
        LIFParams(tau_mem_s=-1.0)
    with pytest.raises(ValueError, match="v_reset"):
        LIFParams(threshold=1.0, v_reset=1.0)


def test_lif_step_threshold_reset_and_denominator() -> None:
    c = discretise(LIFParams(threshold=1.0, v_reset=-0.2), 1e-3)
    st = LIFState(torch.tensor([[0.99, 0.2]]), torch.tensor([[3.0, 0.0]]))
    out = lif_step(st, c)
    v_pre = c.alpha * 0.99 + c.rho * 3.0
    assert out.spikes.tolist() == [[1.0, 0.0]]
    assert out.state.v[0, 0].item() == pytest.approx(-0.2)
    assert out.state.v[0, 1].item() == pytest.approx(c.alpha * 0.2)
    assert out.i_minus_v[0, 0].item() == pytest.approx(c.beta * 3.0 - v_pre, rel=1e-6)


def _spec(**kw) -> NetworkSpec:  # type: ignore[no-untyped-def]
    base = dict(
        n_inputs=5,
        hidden=(LayerSpec(12, recurrent=True, init_ff=Normal(0.6, 0.4), init_rec=Normal(0.0, 0.3)),),
        n_outputs=3,
        dt_s=1e-3,
        n_steps=40,
    )
    base.update(kw)
    return NetworkSpec(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("readout", [AvgVoltage(), ExpWeightedVoltage(), MaxVoltage(), VoltageTrace()])
def test_eventprop_and_bptt_simulate_the_same_network(readout) -> None:  # type: ignore[no-untyped-def]
    """One description, two gradient methods: identical forward values and spikes."""
    x = (torch.rand(40, 4, 5) < 0.2).float()
    ep = SNN(_spec(), readout, EventProp(), seed=2)
    bp = SNN(_spec(), readout, SurrogateBPTT(), seed=2)
    a, b = ep(x), bp(x)
    torch.testing.assert_close(a.readout, b.readout, rtol=1e-5, atol=1e-6)
    assert a.spikes[0].n_spikes == b.spikes[0].n_spikes > 0
    torch.testing.assert_close(a.spikes[0].counts(), b.spikes[0].counts())
    assert a.input_events == b.input_events == int(x.sum())


def test_bptt_gradients_flow_and_match_eventprop_on_the_readout_weights() -> None:
    """The readout weights do not change spikes, so both methods give the same exact gradient."""
    x = (torch.rand(40, 3, 5) < 0.2).double()
    y = torch.tensor([0, 1, 2])
    grads = []
    for method in (EventProp(), SurrogateBPTT()):
        net = SNN(_spec(), ExpWeightedVoltage(), method, seed=1, dtype=torch.float64)
        torch.nn.functional.cross_entropy(net(x).readout, y).backward()
        assert net.layers[0].w_ff.grad is not None and float(net.layers[0].w_ff.grad.abs().sum()) > 0
        grads.append(net.readout_layer.w.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-12)


def test_masks_keep_pruned_weights_out_of_the_dynamics_and_gradients() -> None:
    x = (torch.rand(40, 2, 5) < 0.3).double()
    net = SNN(_spec(), AvgVoltage(), EventProp(), dtype=torch.float64)
    net.layers[0].mask_ff[0, :] = False  # input channel 0 disconnected
    torch.nn.functional.cross_entropy(net(x).readout, torch.tensor([0, 1])).backward()
    assert float(net.layers[0].w_ff.grad[0].abs().sum()) == 0.0  # type: ignore[index]
    ref = SNN(_spec(), AvgVoltage(), EventProp(), dtype=torch.float64)
    x0 = x.clone()
    x0[:, :, 0] = 0.0
    torch.testing.assert_close(net(x).readout, ref(x0).readout)


def test_bad_inputs_and_descriptions_are_named() -> None:
    net = SNN(_spec(), AvgVoltage())
    with pytest.raises(ValueError, match=r"\[40, B, 5\]"):
        net(torch.zeros(39, 2, 5))
    with pytest.raises(ValueError, match="dtype"):
        net(torch.zeros(40, 2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="non-negative"):
        net(torch.full((40, 2, 5), float("nan")))
    with pytest.raises(ValueError, match=r"\[T, B, n_inputs\]"):
        net(torch.zeros(40, 5))
    with pytest.raises(ValueError, match="output_kind='lif'"):
        SNN(_spec(), FirstSpikeTime())
    with pytest.raises(ValueError, match="hidden"):
        _spec(hidden=())
    with pytest.raises(ValueError, match="output_bias"):
        _spec(output_kind="lif", output_bias=True)
    with pytest.raises(ValueError, match="SurrogateBPTT"):
        SNN(_spec(output_kind="lif"), FirstSpikeTime(), SurrogateBPTT())(torch.zeros(40, 1, 5))


def test_spike_budget_overflow_is_an_error() -> None:
    net = SNN(_spec(), AvgVoltage(), EventProp(max_spikes=3))
    with pytest.raises(RuntimeError, match="max_spikes=3"):
        net(torch.ones(40, 2, 5))


def test_float64_and_seeded_initialisation() -> None:
    a = SNN(_spec(), seed=7, dtype=torch.float64)
    b = SNN(_spec(), seed=7, dtype=torch.float64)
    assert a.layers[0].w_ff.dtype == torch.float64
    torch.testing.assert_close(a.layers[0].w_ff, b.layers[0].w_ff)
    assert not torch.equal(a.layers[0].w_ff, SNN(_spec(), seed=8, dtype=torch.float64).layers[0].w_ff)
