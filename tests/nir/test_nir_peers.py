r"""NIR graphs across libraries: graphs written by snnTorch 1.0 and Norse 1.1 load here and
reproduce those libraries' spikes; our graphs load in their importers and reproduce ours.

**Time step and convention.** Both peers are time-stepped and read a spike as the value 1 for
one step; snnTorch's exporter and importer fix that step at 0.1 ms (``r = tau_mem/dt``,
``w_in = tau_syn/dt``), Norse's importer takes ``dt``. Every comparison runs at
``dt = 0.1 ms`` and passes ``spike_dt_s = 1e-4`` (eventbench.nir.convert).

**Tolerance and why.** The peers integrate with forward Euler
(``I <- (1 - dt/tau_s) I + input``, ``V <- (1 - dt/tau_m) V + (dt/tau_m) r I_new``); we integrate
the same equations exactly (``e^{-dt/tau}``, ``rho``). At ``dt = 0.1 ms``, ``tau_s = 5 ms``,
``tau_m = 20 ms`` the drive of one spike differs by about
``(dt/2)(1/tau_s + 1/tau_m) = 1.25 %``, which moves a threshold crossing by up to about 1 ms
where the voltage approaches threshold slowly, and can add or remove a spike near threshold.
So: at least 95 % of the spikes of either side have a spike of the other within
+-10 steps (1 ms) on the same neuron, spike counts per neuron differ by at most 2 and totals by
at most 5 %, and the first output spike times (the first-spike readout) differ by at most
1 ms. Measured (shared 2-core machine, deterministic): 97.9-100 % within 1 ms.

**Alignment.** The peers pass a spike to the next layer within the same step; here a spike
emitted in step ``n`` is stamped ``t_{n+1}`` and reaches the next layer in step ``n+1``
(docs/design.md), so our layer ``k`` (0 = first hidden) lags theirs by ``k`` steps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.peers,
    # the peers' own NIR code calls a deprecated nirtorch entry point
    pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:nirtorch.load is being deprecated:DeprecationWarning"),
]

nir = pytest.importorskip("nir")
snn = pytest.importorskip("snntorch")
pytest.importorskip("nirtorch")
norse_torch = pytest.importorskip("norse.torch")

from norse.torch.utils.export_nir import to_nir  # noqa: E402
from norse.torch.utils.import_nir import from_nir  # noqa: E402
from snntorch import utils as snn_utils  # noqa: E402
from snntorch.export_nir import export_to_nir  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402

from eventbench import nir as ebnir  # noqa: E402
from eventbench.core import SNN, LayerSpec, LIFParams, NetworkSpec  # noqa: E402
from eventbench.readout import FirstSpikeTime  # noqa: E402

DT = 1e-4
T = 600
B = 4
N_IN, N_HID, N_OUT = 20, 30, 10
TOL_STEPS = 10  # 1 ms
MIN_MATCHED = 0.95


def _input(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return (torch.rand(T, B, N_IN, generator=g) < 0.05).to(dtype)


def _matched(a: torch.Tensor, b: torch.Tensor, tol: int) -> float:
    """Fraction of the spikes of ``a [T, B, N]`` with a spike of ``b`` on the same neuron
    within ``+-tol`` steps."""
    c = torch.nn.functional.pad(b.double().cumsum(0), (0, 0, 0, 0, tol + 1, tol))
    t = torch.arange(a.shape[0])
    window = c[t + 2 * tol + 1] - c[t]  # spikes of b in [t - tol, t + tol]
    hits = (a > 0) & (window > 0)
    return float(hits.sum()) / max(1.0, float((a > 0).sum()))


def _assert_close_spikes(theirs: torch.Tensor, ours: torch.Tensor, lag: int, what: str) -> None:
    theirs, ours = theirs.double(), ours.double()
    assert theirs.sum() > 20, f"{what}: the test network must spike"
    a, b = theirs[: T - lag], ours[lag:]  # ours lags by `lag` steps
    assert _matched(a, b, TOL_STEPS) >= MIN_MATCHED, what
    assert _matched(b, a, TOL_STEPS) >= MIN_MATCHED, what
    assert float((a.sum(0) - b.sum(0)).abs().max()) <= 2, what
    assert abs(float(a.sum() - b.sum())) <= 0.05 * float(a.sum()), what


def _first_spike_steps(s: torch.Tensor) -> torch.Tensor:
    return torch.where(s.any(0), s.double().argmax(0).double(), torch.nan)


def _assert_first_spikes(theirs: torch.Tensor, ours: torch.Tensor, lag: int) -> None:
    a, b = _first_spike_steps(theirs[: T - lag]), _first_spike_steps(ours[lag:])
    assert torch.equal(a.isnan(), b.isnan()), "the same output neurons fire"
    fired = ~a.isnan()
    assert bool(fired.any())
    assert float((a[fired] - b[fired]).abs().max()) <= TOL_STEPS


def _ours_dense(out) -> tuple[torch.Tensor, torch.Tensor]:
    return (out.spikes[0].dense(1, T + 1, torch.float64),
            out.output_spikes.dense(1, T + 1, torch.float64))


# ------------------------------------------------------------------------ snnTorch -> here


def _synaptic(n: int, **kw: object):
    # per-neuron alpha/beta/threshold: snnTorch's exporter infers the layer size from them
    return snn.Synaptic(alpha=torch.full((n,), 0.98), beta=torch.full((n,), 0.995),
                        threshold=torch.ones(n), init_hidden=True, reset_mechanism="zero", **kw)


@pytest.mark.parametrize("recurrent", [False, True])
def test_snntorch_graph_loads_and_reproduces_snntorch(recurrent: bool) -> None:
    torch.manual_seed(0)
    l1 = torch.nn.Linear(N_IN, N_HID, bias=False)
    l2 = torch.nn.Linear(N_HID, N_OUT, bias=False)
    with torch.no_grad():
        l1.weight.normal_(3e-4, 2e-4)
        l2.weight.normal_(5e-4, 3e-4)
    # the reference neuron resets right after its spike, as our neurons and the graph's
    # CubaLIF do (snnTorch's importer also builds reset_delay=False neurons)
    hid = _synaptic(N_HID, reset_delay=False)
    out = _synaptic(N_OUT, reset_delay=False, output=True)
    if recurrent:
        # RSynaptic with reset_delay=False crashes in snnTorch 1.0.0; the graph comes from an
        # RSynaptic (which writes the recurrent nested graph), and the reference applies its
        # update, syn <- alpha syn + input + W_rec spk_prev, with the Synaptic neuron above
        rs = snn.RSynaptic(alpha=torch.full((N_HID,), 0.98), beta=torch.full((N_HID,), 0.995),
                           threshold=torch.ones(N_HID), init_hidden=True, reset_mechanism="zero",
                           all_to_all=True, linear_features=N_HID)
        with torch.no_grad():
            rs.recurrent.weight.normal_(0.0, 5e-5)
            rs.recurrent.bias.zero_()
        graph = export_to_nir(torch.nn.Sequential(l1, rs, l2, out), torch.zeros(N_IN))
        assert ("1.lif", "1.w_rec") in graph.edges and ("1.w_rec", "1.lif") in graph.edges
    else:
        graph = export_to_nir(torch.nn.Sequential(l1, hid, l2, out), torch.zeros(N_IN))
    x = _input()
    hs, os_ = [], []
    with torch.no_grad():
        snn_utils.reset(torch.nn.Sequential(hid, out))  # states left by the export's trace
        prev = torch.zeros(B, N_HID)
        for t in range(T):
            cur = l1(x[t]) + (rs.recurrent(prev) if recurrent else 0.0)
            prev = hid(cur)
            spk, _, _ = out(l2(prev))
            hs.append(prev)
            os_.append(spk)
    ours = ebnir.load(graph, dt_s=DT, n_steps=T, spike_dt_s=DT, dtype=torch.float64)
    assert ours.spec.hidden[0].recurrent == recurrent
    assert isinstance(ours.readout, FirstSpikeTime)
    # parameters: tau = dt/(1 - alpha) in seconds; weights scaled by g = tau_mem/dt
    np.testing.assert_allclose(ours.spec.hidden[0].neuron.tau_syn_s, DT / 0.02, rtol=1e-5)
    np.testing.assert_allclose(ours.spec.hidden[0].neuron.tau_mem_s, DT / 0.005, rtol=1e-5)
    # g = dt r w_in / tau_syn = tau_mem/dt = 1/(1 - beta) = 200
    torch.testing.assert_close(ours.layers[0].w_ff.detach(),
                               l1.weight.detach().T.double() * 200.0, rtol=1e-5, atol=0)
    oh, oo = _ours_dense(ours(x.double()))
    _assert_close_spikes(torch.stack(hs), oh, 0, "hidden")
    _assert_close_spikes(torch.stack(os_), oo, 1, "output")
    _assert_first_spikes(torch.stack(os_), oo, 1)


# --------------------------------------------------------------------------- Norse -> here


def _norse_lif(n: int):
    p = norse_torch.LIFParameters(tau_syn_inv=torch.full((n,), 200.0),
                                  tau_mem_inv=torch.full((n,), 50.0), v_th=torch.ones(n),
                                  v_leak=torch.zeros(n), v_reset=torch.zeros(n))
    return norse_torch.LIFCell(p)


def _run_executor(module, x: torch.Tensor, hidden: str) -> tuple[torch.Tensor, torch.Tensor]:
    hs, os_ = [], []
    state = None
    with torch.no_grad():
        for t in range(T):
            y, state = module(x[t], state)
            hs.append(state.cache[hidden])
            os_.append(y)
    return torch.stack(hs), torch.stack(os_)


def test_norse_graph_loads_and_reproduces_norse() -> None:
    """A graph written by Norse's exporter, compared with Norse's own reading of it
    (``from_nir``). Norse 1.1 writes ``tau = dt / tau_inv`` (its ``dt`` argument, fixed in
    later Norse), so the graph is written with ``dt=1`` to hold the time constants in seconds;
    and its ``LIFCell`` adds a weighted spike to the current in full while the graph says
    ``w_in = 1``, so the Norse *model* and the graph it writes are different networks: the
    graph's meaning is what Norse's importer simulates."""
    torch.manual_seed(0)
    l1 = torch.nn.Linear(N_IN, N_HID, bias=False)
    l2 = torch.nn.Linear(N_HID, N_OUT, bias=False)
    with torch.no_grad():
        l1.weight.normal_(1.5, 0.8)
        l2.weight.normal_(30.0, 15.0)
    model = norse_torch.SequentialState(l1, _norse_lif(N_HID), l2, _norse_lif(N_OUT))
    graph = to_nir(model, torch.zeros(1, N_IN), dt=1.0)
    np.testing.assert_allclose(np.asarray(graph.nodes["1"].tau_syn), 5e-3, rtol=1e-6)
    x = _input()
    hs, os_ = _run_executor(from_nir(graph, dt=DT), x, "1")
    ours = ebnir.load(graph, dt_s=DT, n_steps=T, spike_dt_s=DT, dtype=torch.float64)
    oh, oo = _ours_dense(ours(x.double()))
    _assert_close_spikes(hs, oh, 0, "hidden")
    _assert_close_spikes(os_, oo, 1, "output")
    _assert_first_spikes(os_, oo, 1)


# ------------------------------------------------------------------------- here -> peers


def _our_net() -> SNN:
    neuron = LIFParams(tau_mem_s=20e-3, tau_syn_s=5e-3)
    spec = NetworkSpec(n_inputs=N_IN, hidden=(LayerSpec(N_HID, neuron=neuron),), n_outputs=N_OUT,
                       dt_s=DT, n_steps=T, output=neuron, output_kind="lif")
    net = SNN(spec, FirstSpikeTime(), seed=0, dtype=torch.float64)
    with torch.no_grad():
        net.layers[0].w_ff.normal_(0.06, 0.04)
        net.readout_layer.w.normal_(0.15, 0.1)
    return net


def test_our_graph_runs_in_snntorch_and_norse() -> None:
    """Our export in the time-stepped convention loads in snnTorch's and Norse's importers
    and reproduces our spikes. (Neither importer runs a recurrent graph: snnTorch 1.0 and
    Norse 1.1 give no output spikes for one, not even for snnTorch's own recurrent export;
    neither reads CubaLI, so the readout here is the spiking one.)"""
    net = _our_net()
    x = _input(torch.float64)
    oh, oo = _ours_dense(net(x))
    graph = ebnir.export(net, spike_dt_s=DT)
    # snnTorch: only the output comes back from its graph module
    m = import_from_nir(graph)
    snn_utils.reset(m)
    outs = []
    with torch.no_grad():
        for t in range(T):
            y, _ = m(x[t].float())
            outs.append(y)
    _assert_close_spikes(torch.stack(outs), oo, 1, "snnTorch output")
    _assert_first_spikes(torch.stack(outs), oo, 1)
    # Norse: hidden spikes from the executor's cache
    hs, os_ = _run_executor(from_nir(graph, dt=DT), x.float(), "lif0")
    _assert_close_spikes(hs, oh, 0, "Norse hidden")
    _assert_close_spikes(os_, oo, 1, "Norse output")
    _assert_first_spikes(os_, oo, 1)
