"""NIR export and import (eventbench.nir): round trips through a file, the continuous-time
meaning of the parameters, and errors for what EventBench cannot express."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from eventbench.core import SNN, Delays, LayerSpec, LIFParams, NetworkSpec, Normal
from eventbench.eventprop import EventProp
from eventbench.readout import AvgVoltage, FirstSpikeTime, VoltageTrace

nir = pytest.importorskip("nir")
ebnir = pytest.importorskip("eventbench.nir")

DT = 1e-3
T = 60


def _delayed_recurrent_net(dtype: torch.dtype = torch.float64) -> SNN:
    """Two hidden layers (the first recurrent, with delays on both projections), a pruned
    input connection block and a leaky-integrator readout with bias."""
    spec = NetworkSpec(
        n_inputs=5,
        hidden=(
            LayerSpec(7, recurrent=True, neuron=LIFParams(15e-3, 4e-3, 1.0, -0.2),
                      delay_ff=Delays(4e-3, 0.0, 4e-3), delay_rec=Delays(2e-3, 0.0, 2e-3)),
            LayerSpec(6, neuron=LIFParams(25e-3, 6e-3, 0.8, 0.0)),
        ),
        n_outputs=3,
        dt_s=DT,
        n_steps=T,
        output=LIFParams(20e-3, 5e-3),
        output_bias=True,
    )
    net = SNN(spec, AvgVoltage(), EventProp(), seed=3, dtype=dtype)
    with torch.no_grad():
        net.layers[0].w_ff.mul_(5.0)
        net.layers[0].mask_ff[0, :4] = False
        net.layers[1].w_ff.abs_().mul_(4.0)
        net.readout_layer.bias.copy_(torch.tensor([0.3, -0.2, 0.1]))
    return net


def _input(n_in: int, seed: int = 0, p: float = 0.25, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, 4, n_in, generator=g) < p).to(dtype)


def _effective(net: SNN) -> dict[str, torch.Tensor]:
    """What the simulation uses: masked weights, masks, bias and delays in whole steps."""
    t = net.tensors()
    out: dict[str, torch.Tensor] = {"w_out": t.w_out, "mask_out": net.readout_layer.mask}
    if t.bias is not None:
        out["bias"] = t.bias
    ff, rec = t.delay_steps() if t.has_delays else ([None] * len(t.w_ff),) * 2
    for k, layer in enumerate(net.layers):
        out[f"w_ff{k}"] = t.w_ff[k]
        out[f"mask_ff{k}"] = layer.mask_ff
        if t.w_rec[k] is not None:
            out[f"w_rec{k}"] = t.w_rec[k]
            out[f"mask_rec{k}"] = layer.mask_rec
        for name, d, w in ((f"d_ff{k}", ff[k], t.w_ff[k]), (f"d_rec{k}", rec[k], t.w_rec[k])):
            if d is not None and w is not None:
                out[name] = torch.where(w != 0, d, 0)  # a pruned connection has no delay
    return {k: v.detach().double() for k, v in out.items()}


def _spikes(out) -> list[torch.Tensor]:
    recs = [*out.spikes, *([out.output_spikes] if out.output_spikes is not None else [])]
    return [r.dense(1, T + 1, torch.float64) for r in recs]


@pytest.mark.parametrize("spike_dt_s", [None, 1e-4])
def test_file_round_trip_same_parameters_and_spikes(tmp_path: Path, spike_dt_s: float | None) -> None:
    net = _delayed_recurrent_net()
    path = ebnir.write(tmp_path / "net.nir", net, spike_dt_s=spike_dt_s)
    back = ebnir.load(ebnir.read(path), dt_s=DT, n_steps=T, readout=AvgVoltage(),
                      dtype=torch.float64, spike_dt_s=spike_dt_s)
    assert back.spec.hidden[0].neuron == net.spec.hidden[0].neuron
    assert back.spec.hidden[1].neuron == net.spec.hidden[1].neuron
    assert back.spec.output.tau_mem_s == net.spec.output.tau_mem_s
    assert back.spec.output.tau_syn_s == net.spec.output.tau_syn_s
    assert [h.recurrent for h in back.spec.hidden] == [True, False]
    assert back.spec.output_kind == "li" and back.spec.output_bias
    a, b = _effective(net), _effective(back)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-12, atol=0, msg=k)
    x = _input(5)
    o1, o2 = net(x), back(x)
    s1, s2 = _spikes(o1), _spikes(o2)
    assert all(s.sum() > 0 for s in s1), "the test network must spike in every layer"
    for u, v in zip(s1, s2, strict=True):
        assert torch.equal(u, v)
    torch.testing.assert_close(o2.readout, o1.readout, rtol=1e-12, atol=1e-12)


def test_lif_readout_round_trip_first_spike_times(tmp_path: Path) -> None:
    spec = NetworkSpec(n_inputs=4, hidden=(LayerSpec(8),), n_outputs=3, dt_s=DT, n_steps=T,
                       output=LIFParams(20e-3, 5e-3, threshold=0.5, v_reset=-0.1), output_kind="lif")
    net = SNN(spec, FirstSpikeTime(), seed=1, dtype=torch.float32)
    with torch.no_grad():
        net.layers[0].w_ff.mul_(6.0)
        net.readout_layer.w.abs_().mul_(4.0)
    path = ebnir.write(tmp_path / "fs.nir", net)
    graph = ebnir.read(path)
    assert isinstance(graph.nodes["readout"], nir.CubaLIF)
    back = ebnir.load(graph, dt_s=DT, n_steps=T)
    assert isinstance(back.readout, FirstSpikeTime) and back.spec.output == spec.output
    x = _input(4, dtype=torch.float32)
    o1, o2 = net(x), back(x)
    assert o1.fired is not None and o2.fired is not None and bool(o1.fired.any())
    assert torch.equal(o1.fired, o2.fired)
    torch.testing.assert_close(o2.readout, o1.readout, rtol=0, atol=0)


def test_exported_nodes_are_nir_continuous_time_parameters() -> None:
    net = _delayed_recurrent_net()
    g = ebnir.export(net)
    lif0 = g.nodes["lif0"]
    assert isinstance(lif0, nir.CubaLIF)
    np.testing.assert_array_equal(lif0.tau_mem, np.full(7, 15e-3))  # seconds
    np.testing.assert_array_equal(lif0.tau_syn, np.full(7, 4e-3))
    np.testing.assert_array_equal(lif0.r, np.ones(7))
    np.testing.assert_array_equal(lif0.w_in, np.full(7, 4e-3))  # w_in = tau_syn: W = w
    np.testing.assert_array_equal(lif0.v_threshold, np.ones(7))
    np.testing.assert_array_equal(lif0.v_reset, np.full(7, -0.2))
    ro = g.nodes["readout"]
    assert isinstance(ro, nir.CubaLI)
    np.testing.assert_allclose(ro.v_leak, [0.3, -0.2, 0.1])  # the readout bias
    # recurrence is a cycle lif0 -> rec0_d* (-> Delay) -> lif0
    assert any(a == "lif0" and b.startswith("rec0_d") for a, b in g.edges)
    assert any(a.startswith("rec0_d") and b == "lif0" for a, b in g.edges)
    # delays: one Linear -> Delay branch per delay value, each a whole number of steps
    delays = {k: v for k, v in g.nodes.items() if isinstance(v, nir.Delay)}
    assert delays, "the delayed projections must be written as Delay nodes"
    for name, node in delays.items():
        steps = node.delay / DT
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-9, err_msg=name)
    t = net.tensors()
    ff, _ = t.delay_steps()
    assert ff[0] is not None
    n_values = len(torch.unique(ff[0][t.w_ff[0] != 0]))
    assert sum(1 for k in g.nodes if k.startswith("fc0_d")) - len(
        [k for k in delays if k.startswith("fc0")]) == n_values
    # the time-stepped convention (snnTorch's importer): r = tau_mem/dt, w_in = tau_syn/dt
    g2 = ebnir.export(net, spike_dt_s=1e-4)
    np.testing.assert_allclose(g2.nodes["lif1"].r, np.full(6, 25e-3 / 1e-4))
    np.testing.assert_allclose(g2.nodes["lif1"].w_in, np.full(6, 6e-3 / 1e-4))
    np.testing.assert_allclose(g2.nodes["fc1"].weight, t.w_ff[1].detach().T.numpy() * 1e-4 / 25e-3, rtol=1e-12)


def _li_graph(r: float, w_in: float, v_leak: float, w_hid: float, w_out: float) -> nir.NIRGraph:
    """Input(1) -> CubaLIF(1) -> CubaLI(1) with arbitrary r and w_in on the readout."""
    one = np.ones(1)
    return nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type={"input": np.array([1])}),
            "w1": nir.Linear(weight=np.array([[w_hid]])),
            "h": nir.CubaLIF(tau_syn=one * 2e-3, tau_mem=one * 10e-3, r=one, v_leak=0 * one,
                             v_threshold=one, v_reset=0 * one, w_in=one * 2e-3),
            "w2": nir.Linear(weight=np.array([[w_out]])),
            "o": nir.CubaLI(tau_syn=one * 5e-3, tau_mem=one * 20e-3, r=one * r,
                            v_leak=one * v_leak, w_in=one * w_in),
            "out": nir.Output(output_type={"output": np.array([1])}),
        },
        edges=[("in", "w1"), ("w1", "h"), ("h", "w2"), ("w2", "o"), ("o", "out")],
    )


def test_readout_follows_the_nir_equations_in_continuous_time() -> None:
    """The readout voltage equals the closed-form solution of NIR's CubaLI equations
    (tau_syn dI/dt = -I + w_in S, tau_mem dv/dt = v_leak - v + r I, S = Dirac spikes) driven
    by the recorded hidden spikes; an independent check of the weight and bias mapping."""
    r, w_in, v_leak, w_out = 2.5, 3e-3, 0.2, 0.7
    net = ebnir.load(_li_graph(r, w_in, v_leak, 40.0, w_out), dt_s=1e-4, n_steps=400,
                     readout=VoltageTrace(), dtype=torch.float64)
    x = torch.zeros(400, 1, 1, dtype=torch.float64)
    x[0, 0, 0] = 1.0
    out = net(x)
    times = out.spikes[0].step.double() * 1e-4  # hidden spikes (s)
    assert 1 <= len(times) <= 20
    ts, tm = 5e-3, 20e-3

    def v(t: np.ndarray) -> np.ndarray:
        total = v_leak * (1 - np.exp(-t / tm))
        for tk in times.tolist():
            u = np.clip(t - tk, 0.0, None)
            # jump of I: w_in * W / tau_syn; v gets r * I filtered by the membrane
            total = total + r * (w_in * w_out / ts) * ts / (tm - ts) * (np.exp(-u / tm) - np.exp(-u / ts))
        return total

    # the readout trace holds step means: average the closed form over each step
    fine = np.linspace(0, 400 * 1e-4, 400 * 50 + 1)
    means = np.array([v(fine[50 * n: 50 * n + 51]).mean() for n in range(400)])
    trace = out.readout[:, 0, 0].detach().numpy()
    assert np.abs(trace).max() > 0.05
    np.testing.assert_allclose(trace, means, atol=2e-4 * np.abs(means).max())


def test_graph_is_dt_independent() -> None:
    """The same graph on finer and finer grids converges (the only discretisation is the
    rounding of spike times up to the grid): the readout's distance to the dt/64 result
    shrinks about like dt."""
    g = ebnir.export(_delayed_recurrent_net())
    x = _input(5)
    res = {}
    for f in (1, 4, 16, 64):
        net = ebnir.load(g, dt_s=DT / f, n_steps=f * T, readout=AvgVoltage(), dtype=torch.float64)
        xf = torch.zeros(f * T, *x.shape[1:], dtype=torch.float64)
        xf[::f] = x  # the same input spike times
        res[f] = net(xf).readout.detach()
    err = {f: float((res[f] - res[64]).abs().max()) for f in (1, 4, 16)}
    assert err[1] > err[4] > err[16] > 0
    assert err[16] < 0.1 * err[1]


# ------------------------------------------------------------------------------------ errors


def _ff_graph(**over: object) -> nir.NIRGraph:
    g = ebnir.export(SNN(NetworkSpec(3, (LayerSpec(4),), 2, DT, T), seed=0))
    for name, node in over.items():
        g.nodes[name] = node
    return g


def test_neuron_without_synapse_is_an_error_naming_the_node() -> None:
    n = np.ones(4)
    g = _ff_graph(lif0=nir.LIF(tau=n * 0.02, r=n, v_leak=0 * n, v_threshold=n, v_reset=0 * n))
    with pytest.raises(ebnir.NIRConversionError, match=r"'lif0' is a NIR LIF.*current synapse"):
        ebnir.load(g, dt_s=DT, n_steps=T)


def test_per_neuron_time_constants_are_an_error() -> None:
    g = _ff_graph()
    g.nodes["lif0"].tau_mem = np.array([0.02, 0.02, 0.03, 0.02])
    with pytest.raises(ebnir.NIRConversionError, match=r"'lif0': tau_mem differs between neurons"):
        ebnir.load(g, dt_s=DT, n_steps=T)


def test_affine_bias_and_hidden_leak_are_errors() -> None:
    g = _ff_graph(fc0=nir.Affine(weight=np.ones((4, 3)), bias=np.full(4, 0.1)))
    with pytest.raises(ebnir.NIRConversionError, match=r"Affine 'fc0' has a non-zero bias"):
        ebnir.load(g, dt_s=DT, n_steps=T)
    g = _ff_graph()
    g.nodes["lif0"].v_leak = np.full(4, 0.5)
    with pytest.raises(ebnir.NIRConversionError, match=r"'lif0' has v_leak != 0"):
        ebnir.load(g, dt_s=DT, n_steps=T)
    # a zero bias is a Linear
    g = _ff_graph(fc0=nir.Affine(weight=np.ones((4, 3)), bias=np.zeros(4)))
    assert ebnir.load(g, dt_s=DT, n_steps=T).spec.n_inputs == 3


def test_off_grid_delay_is_an_error_naming_dt() -> None:
    net = _delayed_recurrent_net()
    g = ebnir.export(net)
    with pytest.raises(ebnir.NIRConversionError, match=r"not a whole number of steps of dt = 0.0003"):
        ebnir.load(g, dt_s=3e-4, n_steps=T)
    assert ebnir.load(g, dt_s=5e-4, n_steps=T).has_delays  # 1 ms delays on a 0.5 ms grid


def test_skip_connection_and_missing_file_are_errors(tmp_path: Path) -> None:
    g = ebnir.export(SNN(NetworkSpec(3, (LayerSpec(4), LayerSpec(4)), 2, DT, T), seed=0))
    g.nodes["skip"] = nir.Linear(weight=np.ones((4, 3)))
    g.edges += [("input", "skip"), ("skip", "lif1")]
    with pytest.raises(ebnir.NIRConversionError, match=r"'input' feeds 2 neuron populations \['lif0', 'lif1'\]"):
        ebnir.load(g, dt_s=DT, n_steps=T)
    with pytest.raises(FileNotFoundError, match=r"nope\.nir"):
        ebnir.load(tmp_path / "nope.nir", dt_s=DT, n_steps=T)
    with pytest.raises(ValueError, match="spike_dt_s must be a positive"):
        ebnir.export(SNN(NetworkSpec(3, (LayerSpec(4),), 2, DT, T)), spike_dt_s=0.0)


def test_zero_bias_readout_keeps_its_bias_parameter(tmp_path: Path) -> None:
    """A readout bias that is still zero is kept as a (trainable) bias through a file; a
    network without one loads without one."""
    for has_bias in (True, False):
        net = SNN(NetworkSpec(3, (LayerSpec(4),), 2, DT, T, output_bias=has_bias), seed=0)
        back = ebnir.load(ebnir.write(tmp_path / f"b{has_bias}.nir", net), dt_s=DT, n_steps=T)
        assert back.spec.output_bias == has_bias
        assert (back.readout_layer.bias is not None) == has_bias
    with pytest.raises(ValueError, match="spike_dt_s applies when writing a network"):
        ebnir.write(tmp_path / "g.nir", ebnir.export(net), spike_dt_s=1e-4)


def test_delays_before_and_after_a_linear_compose_per_connection() -> None:
    """Input -> Delay(pre) -> Linear -> Delay(post) -> CubaLIF: connection i -> j is delayed
    by pre_i + post_j; a second path with another delay onto the same connection is an error."""
    g = ebnir.export(SNN(NetworkSpec(3, (LayerSpec(4),), 2, DT, T), seed=0))
    w = np.asarray(g.nodes["fc0"].weight)
    pre, post = np.array([0.0, 1e-3, 3e-3]), np.array([2e-3, 0.0, 1e-3, 0.0])
    g.nodes["pre"] = nir.Delay(delay=pre)
    g.nodes["post"] = nir.Delay(delay=post)
    g.edges = [e for e in g.edges if e not in (("input", "fc0"), ("fc0", "lif0"))]
    g.edges += [("input", "pre"), ("pre", "fc0"), ("fc0", "post"), ("post", "lif0")]
    net = ebnir.load(g, dt_s=DT, n_steps=T)
    steps, _ = net.tensors().delay_steps()
    assert steps[0] is not None
    expected = np.round((pre[:, None] + post[None, :]) / DT).astype(np.int64)
    np.testing.assert_array_equal(steps[0].numpy(), expected)
    np.testing.assert_allclose(net.layers[0].w_ff.detach().numpy(), w.T, rtol=1e-6)
    # a parallel undelayed path onto the same connections
    g.nodes["direct"] = nir.Linear(weight=w)
    g.edges += [("input", "direct"), ("direct", "lif0")]
    with pytest.raises(ebnir.NIRConversionError, match=r"'input' -> .* of 'lif0' has two different delays"):
        ebnir.load(g, dt_s=DT, n_steps=T)


def test_fan_out_linear_delay_linear_gives_per_connection_delays() -> None:
    """Per-connection delays written as fan-out: Linear (one unit per connection i -> j)
    -> Delay(d_ij) -> Linear (w_ij); a unit reaching one target through two delays is an error."""
    rng = np.random.default_rng(0)
    n_pre, n_post = 3, 4
    w = rng.normal(size=(n_pre, n_post))
    steps = rng.integers(0, 5, size=(n_pre, n_post))
    fan = np.zeros((n_pre * n_post, n_pre))
    gather = np.zeros((n_post, n_pre * n_post))
    for i in range(n_pre):
        for j in range(n_post):
            fan[i * n_post + j, i] = 1.0
            gather[j, i * n_post + j] = w[i, j]
    g = ebnir.export(SNN(NetworkSpec(n_pre, (LayerSpec(n_post),), 2, DT, T), seed=0))
    g.nodes.pop("fc0")
    g.nodes["fan"] = nir.Linear(weight=fan)
    g.nodes["d"] = nir.Delay(delay=(steps * DT).reshape(-1))
    g.nodes["gather"] = nir.Linear(weight=gather)
    g.edges = [e for e in g.edges if "fc0" not in e]
    g.edges += [("input", "fan"), ("fan", "d"), ("d", "gather"), ("gather", "lif0")]
    net = ebnir.load(g, dt_s=DT, n_steps=T, dtype=torch.float64)
    ff, _ = net.tensors().delay_steps()
    assert ff[0] is not None
    np.testing.assert_array_equal(ff[0].numpy(), steps)
    np.testing.assert_allclose(net.layers[0].w_ff.detach().numpy(), w, rtol=1e-12)
    gather[0, 1] = 1.0  # unit (0 -> 1) now also reaches target 0, with another delay than (0 -> 0)
    g.nodes["gather"] = nir.Linear(weight=gather)
    assert steps[0, 0] != steps[0, 1]
    with pytest.raises(ebnir.NIRConversionError, match=r"'gather': connection 0 -> 0 sums paths"):
        ebnir.load(g, dt_s=DT, n_steps=T)


def test_own_graph_loads_on_its_recorded_grid_others_need_one(tmp_path: Path) -> None:
    net = _delayed_recurrent_net()
    back = ebnir.load(ebnir.write(tmp_path / "g.nir", net), dtype=torch.float64)
    assert (back.spec.dt_s, back.spec.n_steps) == (DT, T)
    graph = ebnir.export(net)
    graph.metadata = {}
    with pytest.raises(ValueError, match="load needs dt_s and n_steps"):
        ebnir.load(graph)


def test_missing_nir_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "nir", None)  # as if not installed
    net = SNN(NetworkSpec(3, (LayerSpec(4),), 2, DT, T))
    with pytest.raises(ImportError, match=r"needs the 'nir' package: pip install 'eventbench\[nir\]'"):
        ebnir.export(net)


@pytest.mark.parametrize("spike_dt_s", [None, 1e-4])
def test_input_to_readout_skip_round_trip(tmp_path: Path, spike_dt_s: float | None) -> None:
    """The skip is exported as Input -> Linear -> Delay(dt) -> readout and loads back as the
    same network (same readout to rounding)."""
    spec = NetworkSpec(3, (LayerSpec(6, recurrent=True, init_ff=Normal(1.0, 1.0)),), 2, DT, T,
                       output_bias=True, skip=True, init_skip=Normal(0.0, 1.0))
    net = SNN(spec, VoltageTrace(), seed=2, dtype=torch.float64)
    g = ebnir.export(net, spike_dt_s=spike_dt_s)
    assert ("input", "fc_skip_d1") in g.edges and ("fc_skip_d1_delay", "readout") in g.edges
    np.testing.assert_allclose(g.nodes["fc_skip_d1_delay"].delay, DT)
    back = ebnir.load(ebnir.read(ebnir.write(tmp_path / "skip.nir", g)), readout=VoltageTrace(),
                      dtype=torch.float64, spike_dt_s=spike_dt_s)
    assert back.spec.skip
    assert back.readout_layer.w_skip is not None and net.readout_layer.w_skip is not None
    torch.testing.assert_close(back.readout_layer.w_skip, net.readout_layer.w_skip,
                               rtol=1e-12, atol=0)
    x = (torch.rand(T, 2, 3, generator=torch.Generator().manual_seed(0)) < 0.4).double()
    ref = net(x).readout
    assert ref.abs().max() > 0.1
    torch.testing.assert_close(back(x).readout, ref, rtol=1e-12, atol=1e-12)


def test_skip_without_its_one_step_delay_is_an_error_naming_dt() -> None:
    spec = NetworkSpec(3, (LayerSpec(4),), 2, DT, T, skip=True, init_skip=Normal(0.0, 1.0))
    g = ebnir.export(SNN(spec, VoltageTrace(), seed=0))
    g.edges.remove(("fc_skip_d1", "fc_skip_d1_delay"))
    g.edges.remove(("fc_skip_d1_delay", "readout"))
    del g.nodes["fc_skip_d1_delay"]
    g.edges.append(("fc_skip_d1", "readout"))
    with pytest.raises(ebnir.NIRConversionError, match=r"skip must be delayed by exactly one step dt"):
        ebnir.load(g, readout=VoltageTrace())
