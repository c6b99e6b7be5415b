"""The torch EventProp path equals the slow float64 time-stepped reference, spike for spike.

The compiled CPU kernels are held to the same reference in ``test_kernels.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eventbench.core import SNN, LayerSpec, LIFParams, NetworkSpec, Normal, RateRegulariser
from eventbench.core.network import Delays
from eventbench.eventprop import EventProp
from eventbench.eventprop.reference import from_tensors, reference_eventprop
from eventbench.readout import (
    AvgVoltage,
    CrossEntropy,
    ExpWeightedVoltage,
    FirstSpikeCrossEntropy,
    FirstSpikeTime,
    MaxVoltage,
    PerStepCrossEntropy,
    SigmoidWeightedVoltage,
    VoltageTrace,
)

T_STEPS = 50
DT = 1e-3


def _spec(hidden: tuple[LayerSpec, ...], kind: str = "li", bias: bool = False) -> NetworkSpec:
    return NetworkSpec(
        n_inputs=6,
        hidden=hidden,
        n_outputs=3,
        dt_s=DT,
        n_steps=T_STEPS,
        output=LIFParams(tau_mem_s=20e-3, tau_syn_s=5e-3, threshold=0.3),
        output_kind=kind,  # type: ignore[arg-type]
        output_bias=bias,
        init_out=Normal(0.4 if kind == "lif" else 0.0, 0.6),
    )


def _input(batch: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T_STEPS, batch, 6, generator=g) < 0.15).double()
    x[3, 0, 2] = 2.0  # a count of two in one bin
    return x


ONE = (LayerSpec(10, init_ff=Normal(0.6, 0.5)),)
REC = (LayerSpec(10, recurrent=True, init_ff=Normal(0.6, 0.5), init_rec=Normal(0.0, 0.3)),)
TWO = (
    LayerSpec(8, recurrent=True, init_ff=Normal(0.6, 0.5), init_rec=Normal(0.0, 0.3)),
    LayerSpec(7, neuron=LIFParams(tau_mem_s=10e-3, tau_syn_s=10e-3), init_ff=Normal(0.5, 0.4)),
)


def _compare(net: SNN, x: torch.Tensor, loss_fn, y: torch.Tensor, reg=None) -> int:  # type: ignore[no-untyped-def]
    out = net(x)
    loss = loss_fn(out.readout, y, out.fired)
    loss.backward()
    # dL/d readout from a detached copy, fed to the reference per sample
    v = out.readout.detach().clone().requires_grad_(True)
    (gv,) = torch.autograd.grad(loss_fn(v, y, out.fired), [v])
    ref = from_tensors(net.tensors())
    kind = net.readout.kind
    coeff = (
        net.readout.coefficients(x.shape[0], torch.float64, torch.device("cpu")).numpy()  # type: ignore[union-attr]
        if kind == "weighted"
        else None
    )
    reg_jump = None
    if reg is not None:
        reg_jump = [reg.adjoint_jump(r.counts()).numpy() for r in out.spikes]
    total: dict[str, np.ndarray] = {}
    hits = 0
    for b in range(x.shape[1]):
        g_b = gv[:, b].numpy() if kind == "trace" else gv[b].numpy()
        res = reference_eventprop(
            ref, x[:, b].numpy(), kind, g_b, coeff, guard_eps=net.method.guard_eps, reg_jump=reg_jump  # type: ignore[attr-defined]
        )
        hits += res.guard_hits
        for k, g in res.grads.items():
            total[k] = total.get(k, 0) + g
        # spikes equal
        for layer, rec in enumerate(out.spikes):
            mine = rec.batch == b
            got = sorted(zip(rec.step[mine].tolist(), rec.neuron[mine].tolist(), strict=True))
            assert got == sorted((s, j) for s, j, _ in res.spikes[layer])
    assert hits == out.guard_hits
    named = {
        **{f"w_ff.{k}": lay.w_ff.grad for k, lay in enumerate(net.layers)},
        **{f"w_rec.{k}": lay.w_rec.grad for k, lay in enumerate(net.layers) if lay.w_rec is not None},
        "w_out": net.readout_layer.w.grad,
    }
    if net.readout_layer.bias is not None:
        named["bias"] = net.readout_layer.bias.grad
    for k, lay in enumerate(net.layers):
        if lay.d_ff is not None:
            named[f"d_ff.{k}"] = lay.d_ff.grad
        if lay.d_rec is not None:
            named[f"d_rec.{k}"] = lay.d_rec.grad
    assert set(named) == set(total)
    for k, g in named.items():
        assert g is not None
        np.testing.assert_allclose(g.numpy(), total[k], rtol=1e-9, atol=1e-12, err_msg=k)
    return sum(r.n_spikes for r in out.spikes)


@pytest.mark.parametrize("hidden", [ONE, REC, TWO], ids=["ff", "rec", "two"])
@pytest.mark.parametrize(
    ("readout", "loss"),
    [
        (AvgVoltage(), CrossEntropy()),
        (ExpWeightedVoltage(), CrossEntropy()),
        (SigmoidWeightedVoltage(), CrossEntropy()),
        (MaxVoltage(), CrossEntropy()),
        (VoltageTrace(), PerStepCrossEntropy()),
    ],
    ids=["avg", "exp", "sigmoid", "max", "perstep"],
)
def test_fast_equals_reference_voltage(hidden, readout, loss) -> None:  # type: ignore[no-untyped-def]
    net = SNN(_spec(hidden, bias=True), readout, EventProp(chunk=16, backend="torch"), dtype=torch.float64, seed=3)
    with torch.no_grad():
        net.readout_layer.bias.normal_()  # type: ignore[union-attr]
    y = torch.tensor([0, 2, 1])
    n = _compare(net, _input(3, 1), loss, y)
    assert n > 20  # the test exercises spikes


def test_fast_equals_reference_first_spike() -> None:
    spec = _spec(REC, kind="lif")
    net = SNN(spec, FirstSpikeTime(), EventProp(chunk=8, backend="torch"), dtype=torch.float64, seed=5)
    loss = FirstSpikeCrossEntropy(duration_s=spec.duration_s)
    with torch.no_grad():
        net.readout_layer.w[:, 2] = -0.2 * net.readout_layer.w[:, 2].abs()  # output 2 stays silent
        net.readout_layer.w[:5, 1] = 0.0
    x = _input(4, 2)
    out = net(x)
    assert bool(out.fired.any()) and not bool(out.fired.all())  # type: ignore[union-attr]  # both cases
    _compare(net, x, loss, torch.tensor([0, 1, 2, 1]))


def test_fast_equals_reference_with_regulariser_and_guard() -> None:
    reg = RateRegulariser(nu=2.0, lambda_upper=1e-6, lambda_lower=3e-6)
    x = _input(3, 4)
    probe = SNN(_spec(REC), ExpWeightedVoltage(), EventProp(backend="torch"), dtype=torch.float64)
    den = probe(x).spikes[0].i_minus_v
    eps = float(den.median())  # a guard that half of the crossings hit
    net = SNN(_spec(REC), ExpWeightedVoltage(), EventProp(regulariser=reg, guard_eps=eps, backend="torch"), dtype=torch.float64)
    _compare(net, x, CrossEntropy(), torch.tensor([1, 0, 2]), reg=reg)
    assert net(x).guard_hits == int((den < eps).sum()) > 0


def test_no_spikes_gives_readout_only_gradient() -> None:
    spec = NetworkSpec(n_inputs=6, hidden=(LayerSpec(5, recurrent=True, init_ff=Normal(0.01, 0.0)),), n_outputs=3, dt_s=DT, n_steps=T_STEPS)
    net = SNN(spec, AvgVoltage(), EventProp(backend="torch"), dtype=torch.float64)
    out = net(_input(2, 0))
    assert out.spikes[0].n_spikes == 0
    CrossEntropy()(out.readout, torch.tensor([0, 1])).backward()
    assert float(net.layers[0].w_ff.grad.abs().max()) == 0.0  # type: ignore[union-attr]
    assert float(net.readout_layer.w.grad.abs().max()) == 0.0  # type: ignore[union-attr]


def test_chunk_size_does_not_change_results() -> None:
    x = _input(2, 7)
    grads = []
    for chunk in (1, 7, 64):
        net = SNN(_spec(TWO), ExpWeightedVoltage(), EventProp(chunk=chunk, backend="torch"), dtype=torch.float64, seed=1)
        CrossEntropy()(net(x).readout, torch.tensor([0, 1])).backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))  # type: ignore[union-attr]
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grads[0], grads[2], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("variant", ["latency+1", "latency-1", "no_reset_term", "flip_feedback"])
def test_wrong_variants_differ_from_the_reference(variant: str) -> None:
    """Negative control: each deliberately wrong adjoint is caught by the parity test."""
    net = SNN(_spec(REC), ExpWeightedVoltage(), EventProp(_variant=variant, backend="torch"), dtype=torch.float64, seed=3)
    with pytest.raises(AssertionError):
        _compare(net, _input(3, 1), CrossEntropy(), torch.tensor([0, 2, 1]))


def test_grazing_crossing_is_guarded_counted_and_finite() -> None:
    """A single input spike whose voltage peak barely exceeds threshold: the jump denominator
    I - V is tiny, the guard raises it and counts the hit, and the gradients stay finite and
    equal to the reference's."""
    spec = NetworkSpec(
        n_inputs=1,
        hidden=(LayerSpec(1, init_ff=Normal(0.0, 0.0)),),
        n_outputs=2,
        dt_s=1e-4,
        n_steps=300,
        init_out=Normal(0.5, 0.3),
    )
    net = SNN(spec, AvgVoltage(), EventProp(guard_eps=0.02, backend="torch"), dtype=torch.float64)
    x = torch.zeros(300, 1, 1, dtype=torch.float64)
    x[0, 0, 0] = 1.0
    # bisect the weight at which the voltage peak just reaches threshold
    lo, hi = 1.0, 10.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        with torch.no_grad():
            net.layers[0].w_ff.fill_(mid)
        if net(x).spikes[0].n_spikes:
            hi = mid
        else:
            lo = mid
    with torch.no_grad():
        net.layers[0].w_ff.fill_(hi)  # the smallest weight that still spikes: grazing
    out = net(x)
    assert out.spikes[0].n_spikes == 1
    assert float(out.spikes[0].i_minus_v[0]) < 0.02
    assert out.guard_hits == 1
    _compare(net, x, CrossEntropy(), torch.tensor([1]))
    assert all(bool(torch.isfinite(p.grad).all()) for p in net.parameters())  # type: ignore[arg-type]


def test_non_finite_gradients_are_an_error_naming_the_tensor() -> None:
    from eventbench.eventprop.function import check_finite_gradients

    net = SNN(_spec(REC), ExpWeightedVoltage(), EventProp(backend="torch"))
    t = net.tensors()
    grads = [torch.zeros_like(t.w_ff[0]), torch.zeros_like(t.w_rec[0]), torch.zeros_like(t.w_out)]  # type: ignore[arg-type]
    check_finite_gradients(grads, t, 0)  # finite: no error
    grads[2].fill_(3e38)  # finite elements whose float32 sum overflows: still no error
    assert not bool(torch.isfinite(grads[2].sum()))
    check_finite_gradients(grads, t, 0)
    grads[2][1, 1] = float("nan")
    with pytest.raises(FloatingPointError, match=r"readout_layer\.w "):
        check_finite_gradients(grads, t, 0)
    grads[2].zero_()
    grads[1][0, 0] = float("inf")
    with pytest.raises(FloatingPointError, match=r"layers\.0\.w_rec .*7 guarded crossings"):
        check_finite_gradients(grads, t, 7)


# ------------------------------------------------------------------------------ delays

D8 = Delays(max_s=8e-3, init_high_s=8e-3)
DELAYED = {
    "ff": (LayerSpec(10, init_ff=Normal(0.6, 0.5), delay_ff=D8),),
    "rec": (
        LayerSpec(
            10, recurrent=True, init_ff=Normal(0.6, 0.5), init_rec=Normal(0.0, 0.3),
            delay_ff=D8, delay_rec=Delays(max_s=5e-3, init_high_s=5e-3),
        ),
    ),
    "two": (
        LayerSpec(8, recurrent=True, init_ff=Normal(0.6, 0.5), init_rec=Normal(0.0, 0.3),
                  delay_rec=Delays(max_s=3e-3, init_high_s=3e-3)),
        LayerSpec(7, init_ff=Normal(0.8, 0.4), delay_ff=Delays(max_s=12e-3, init_high_s=12e-3)),
    ),
}


@pytest.mark.parametrize("case", sorted(DELAYED))
@pytest.mark.parametrize(
    ("readout", "loss"),
    [(ExpWeightedVoltage(), CrossEntropy()), (MaxVoltage(), CrossEntropy())],
    ids=["exp", "max"],
)
def test_delays_equal_reference(case: str, readout, loss) -> None:  # type: ignore[no-untyped-def]
    """Delayed synapses (rounded to steps, a ring buffer per layer): spikes, weight gradients and
    delay gradients equal the explicit float64 reference."""
    net = SNN(_spec(DELAYED[case]), readout, EventProp(chunk=16, backend="torch"), dtype=torch.float64, seed=3)
    steps, _ = net.tensors().delay_steps()
    assert any(d is not None and int(d.max()) > 2 for d in steps) or case == "two"
    n = _compare(net, _input(3, 1), loss, torch.tensor([0, 2, 1]))
    assert n > 20
    grads = [lay.d_ff.grad for lay in net.layers if lay.d_ff is not None]
    grads += [lay.d_rec.grad for lay in net.layers if lay.d_rec is not None]
    assert all(g is not None and float(g.abs().max()) > 0 for g in grads)  # delays get a gradient


def test_zero_delays_equal_no_delays() -> None:
    x = _input(3, 1)
    outs = []
    for spec_ in (
        LayerSpec(10, recurrent=True, init_ff=Normal(0.6, 0.5), init_rec=Normal(0.0, 0.3)),
        LayerSpec(10, recurrent=True, init_ff=Normal(0.6, 0.5), init_rec=Normal(0.0, 0.3),
                  delay_ff=Delays(max_s=5e-3), delay_rec=Delays(max_s=5e-3)),
    ):
        net = SNN(_spec((spec_,)), ExpWeightedVoltage(), EventProp(backend="torch"), dtype=torch.float64, seed=3)
        out = net(x)
        CrossEntropy()(out.readout, torch.tensor([0, 2, 1])).backward()
        outs.append((out, {k: p.grad for k, p in net.named_parameters() if p.grad is not None}))
    (a, ga), (b, gb) = outs
    torch.testing.assert_close(a.readout, b.readout, rtol=0, atol=0)
    assert torch.equal(a.spikes[0].step, b.spikes[0].step)
    for k, g in ga.items():
        torch.testing.assert_close(g, gb[k], rtol=1e-12, atol=1e-14, msg=k)


def test_delay_shifts_the_arrival_by_whole_steps() -> None:
    """One input spike through a delay of 4.4 ms (rounded to 4 steps at 1 ms): the hidden spike
    comes exactly 4 steps later than without the delay."""
    stamps = []
    for d in (0.0, 4.4e-3):
        spec = NetworkSpec(n_inputs=1, hidden=(LayerSpec(1, init_ff=Normal(8.0, 0.0), delay_ff=Delays(max_s=10e-3)),),
                           n_outputs=1, dt_s=DT, n_steps=T_STEPS)
        net = SNN(spec, AvgVoltage(), EventProp(backend="torch"), dtype=torch.float64)
        with torch.no_grad():
            net.layers[0].d_ff.fill_(d)  # type: ignore[union-attr]
        x = torch.zeros(T_STEPS, 1, 1, dtype=torch.float64)
        x[5, 0, 0] = 1.0
        stamps.append(int(net(x).spikes[0].step[0]))
    assert stamps[1] - stamps[0] == 4


def test_delay_gradient_read_at_the_undelayed_time_is_caught() -> None:
    net = SNN(_spec(DELAYED["rec"]), ExpWeightedVoltage(), EventProp(_variant="delay_undelayed", backend="torch"), dtype=torch.float64, seed=3)
    with pytest.raises(AssertionError):
        _compare(net, _input(3, 1), CrossEntropy(), torch.tensor([0, 2, 1]))


def test_delays_are_clamped_and_bptt_refuses_them() -> None:
    from eventbench.core import SurrogateBPTT

    net = SNN(_spec(DELAYED["rec"]), ExpWeightedVoltage(), dtype=torch.float64)
    with torch.no_grad():
        net.layers[0].d_ff.fill_(1.0)  # type: ignore[union-attr]
        net.layers[0].d_rec.fill_(-1.0)  # type: ignore[union-attr]
    net.clamp_delays()
    assert float(net.layers[0].d_ff.detach().max()) == pytest.approx(8e-3)  # type: ignore[union-attr]
    assert float(net.layers[0].d_rec.detach().min()) == 0.0  # type: ignore[union-attr]
    bptt = SNN(_spec(DELAYED["ff"]), ExpWeightedVoltage(), SurrogateBPTT(), dtype=torch.float64)
    with pytest.raises(ValueError, match="delays are not supported with SurrogateBPTT"):
        bptt(_input(1, 0))


def test_bad_delay_settings_are_errors_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"Delays\.max_s must be a non-negative"):
        Delays(max_s=-1e-3)
    with pytest.raises(ValueError, match=r"0 <= init_low_s <= init_high_s <= max_s"):
        Delays(max_s=1e-3, init_high_s=2e-3)
    with pytest.raises(ValueError, match=r"LayerSpec\.delay_rec needs recurrent=True"):
        LayerSpec(4, delay_rec=Delays(max_s=1e-3))
