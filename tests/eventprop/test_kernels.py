"""The compiled CPU kernels equal the float64 reference and the torch path, spike for spike.

Shapes are small (numba compiles each kernel once per dtype, cached on disk) but wide enough to
exercise the kernels' blocked paths: the dense input scan and the spike collection work on chunks of 16,
the feedback dot products on 8 partial sums, so every population has a block part and a tail.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from eventbench.core import SNN, LayerSpec, LIFParams, NetworkSpec, Normal, RateRegulariser
from eventbench.core.network import SNNOutput
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

pytest.importorskip("numba")

from eventbench.eventprop.kernels import function as kfn

T_STEPS = 60
DT = 1e-3
N_IN = 21

ONE = (LayerSpec(12, init_ff=Normal(0.35, 0.4)),)
REC = (LayerSpec(19, recurrent=True, init_ff=Normal(0.35, 0.4), init_rec=Normal(0.0, 0.3)),)
TWO = (
    LayerSpec(17, recurrent=True, init_ff=Normal(0.35, 0.4), init_rec=Normal(0.0, 0.3)),
    LayerSpec(9, neuron=LIFParams(tau_mem_s=10e-3, tau_syn_s=10e-3), init_ff=Normal(0.5, 0.4)),
)
HIDDEN = [ONE, REC, TWO]
HIDDEN_IDS = ["ff", "rec", "two"]

Loss = Callable[..., torch.Tensor]


@contextmanager
def _threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _spec(hidden: tuple[LayerSpec, ...], kind: str = "li", bias: bool = False) -> NetworkSpec:
    return NetworkSpec(
        n_inputs=N_IN,
        hidden=hidden,
        n_outputs=3,
        dt_s=DT,
        n_steps=T_STEPS,
        output=LIFParams(tau_mem_s=20e-3, tau_syn_s=5e-3, threshold=0.3),
        output_kind=kind,  # type: ignore[arg-type]
        output_bias=bias,
        init_out=Normal(0.4 if kind == "lif" else 0.0, 0.6),
    )


def _input(batch: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T_STEPS, batch, N_IN, generator=g) < 0.08).to(dtype)
    x[3, 0, 2] = 2.0  # a count of two in one bin
    x[5, -1, N_IN - 1] = 1.0  # the last channel (scan tail)
    return x


def _net(
    spec: NetworkSpec, readout: object, backend: str, dtype: torch.dtype, seed: int, **kw: object
) -> SNN:
    net = SNN(spec, readout, EventProp(backend=backend, **kw), dtype=dtype, seed=seed)  # type: ignore[arg-type]
    if net.readout_layer.bias is not None:
        with torch.no_grad():
            net.readout_layer.bias.copy_(torch.linspace(-0.5, 0.8, spec.n_outputs, dtype=dtype))
    return net


def _run(
    net: SNN, x: torch.Tensor, loss_fn: Loss, y: torch.Tensor, threads: int = 2
) -> tuple[SNNOutput, dict[str, torch.Tensor]]:
    """Forward and backward; the kernels run ``threads`` blocks of samples (torch threads). The
    torch path runs single-threaded (its tiny ops gain nothing from threads in a test)."""
    assert isinstance(net.method, EventProp)
    with _threads(1 if net.method.backend == "torch" else threads):
        out = net(x)
        loss_fn(out.readout, y, out.fired).backward()
    grads = {name: p.grad.detach().clone() for name, p in net.named_parameters() if p.grad is not None}
    return out, grads


def _assert_same_records(a: SNNOutput, b: SNNOutput, rtol: float) -> None:
    recs_a = [*a.spikes, *([a.output_spikes] if a.output_spikes is not None else [])]
    recs_b = [*b.spikes, *([b.output_spikes] if b.output_spikes is not None else [])]
    assert len(recs_a) == len(recs_b)
    for ra, rb in zip(recs_a, recs_b, strict=True):
        # same spikes in the same (stamp, sample, neuron) order
        assert torch.equal(ra.step, rb.step)
        assert torch.equal(ra.batch, rb.batch)
        assert torch.equal(ra.neuron, rb.neuron)
        assert (ra.n_steps, ra.batch_size, ra.n_neurons) == (rb.n_steps, rb.batch_size, rb.n_neurons)
        assert ra.i_minus_v.dtype == rb.i_minus_v.dtype
        torch.testing.assert_close(ra.i_minus_v, rb.i_minus_v, rtol=rtol, atol=rtol)
    assert a.guard_hits == b.guard_hits
    assert a.input_events == b.input_events


def _reference_grads(
    net: SNN, x: torch.Tensor, out: SNNOutput, loss_fn: Loss, y: torch.Tensor,
    reg: RateRegulariser | None = None,
) -> tuple[dict[str, np.ndarray], int]:  # fmt: skip
    """Gradients of the float64 reference, summed over the samples, and its guard hits."""
    v = out.readout.detach().double().clone().requires_grad_(True)
    (gv,) = torch.autograd.grad(loss_fn(v, y, out.fired), [v])
    ref = from_tensors(net.tensors())
    kind = net.readout.kind
    coeff = (
        net.readout.coefficients(T_STEPS, torch.float64, torch.device("cpu")).numpy()  # type: ignore[union-attr]
        if kind == "weighted"
        else None
    )
    reg_jump = [reg.adjoint_jump(r.counts()).numpy() for r in out.spikes] if reg is not None else None
    total: dict[str, np.ndarray] = {}
    hits = 0
    eps = net.method.guard_eps  # type: ignore[attr-defined]
    for b in range(x.shape[1]):
        g_b = gv[:, b].numpy() if kind == "trace" else gv[b].numpy()
        res = reference_eventprop(ref, x[:, b].double().numpy(), kind, g_b, coeff, eps, reg_jump)
        hits += res.guard_hits
        for k, g in res.grads.items():
            total[k] = total.get(k, 0) + g
        for layer, rec in enumerate(out.spikes):
            mine = rec.batch == b
            got = sorted(zip(rec.step[mine].tolist(), rec.neuron[mine].tolist(), strict=True))
            assert got == sorted((s, j) for s, j, _ in res.spikes[layer])
    out_grads: dict[str, np.ndarray] = {}
    for k, g in total.items():
        if k == "w_out":
            out_grads["readout_layer.w"] = g
        elif k == "bias":
            out_grads["readout_layer.bias"] = g
        else:
            kind_, idx = k.split(".")
            out_grads[f"layers.{idx}.{kind_}"] = g
    return out_grads, hits


def _check_against_reference(
    net: SNN, x: torch.Tensor, out: SNNOutput, grads: dict[str, torch.Tensor], loss_fn: Loss,
    y: torch.Tensor, reg: RateRegulariser | None = None, rtol: float = 1e-9,
    atol: float = 1e-12,
) -> None:  # fmt: skip
    ref, hits = _reference_grads(net, x, out, loss_fn, y, reg)
    assert hits == out.guard_hits
    assert set(ref) == set(grads)
    for k, g in grads.items():
        scale = float(np.abs(ref[k]).max())
        np.testing.assert_allclose(g.double().numpy(), ref[k], rtol=rtol, atol=atol * max(scale, 1.0), err_msg=k)


VOLTAGE_READOUTS = [
    (AvgVoltage(), CrossEntropy()),
    (ExpWeightedVoltage(), CrossEntropy()),
    (SigmoidWeightedVoltage(), CrossEntropy()),
    (MaxVoltage(), CrossEntropy()),
    (VoltageTrace(), PerStepCrossEntropy()),
]
VOLTAGE_IDS = ["avg", "exp", "sigmoid", "max", "perstep"]


@pytest.mark.parametrize("hidden", HIDDEN, ids=HIDDEN_IDS)
@pytest.mark.parametrize(("readout", "loss"), VOLTAGE_READOUTS, ids=VOLTAGE_IDS)
def test_kernel_equals_reference_and_torch_voltage(hidden, readout, loss) -> None:  # type: ignore[no-untyped-def]
    x = _input(3, 1)
    y = torch.tensor([0, 2, 1])
    spec = _spec(hidden, bias=True)
    k_out, k_grads = _run(_net(spec, readout, "cpu-kernel", torch.float64, 3), x, loss, y)
    t_out, t_grads = _run(_net(spec, readout, "torch", torch.float64, 3), x, loss, y)
    assert sum(r.n_spikes for r in k_out.spikes) > 30  # the case exercises spikes
    torch.testing.assert_close(k_out.readout, t_out.readout, rtol=1e-12, atol=1e-12)
    _assert_same_records(k_out, t_out, rtol=1e-12)
    assert set(k_grads) == set(t_grads)
    for k in k_grads:
        torch.testing.assert_close(k_grads[k], t_grads[k], rtol=1e-9, atol=1e-12, msg=k)
    net = _net(spec, readout, "cpu-kernel", torch.float64, 3)
    _check_against_reference(net, x, k_out, k_grads, loss, y)


def test_kernel_first_spike_with_phantom() -> None:
    spec = _spec(REC, kind="lif")
    loss = FirstSpikeCrossEntropy(duration_s=spec.duration_s)
    x = _input(4, 2)
    y = torch.tensor([0, 1, 2, 1])
    outs = []
    for backend in ("cpu-kernel", "torch"):
        net = _net(spec, FirstSpikeTime(), backend, torch.float64, 5)
        with torch.no_grad():
            net.readout_layer.w[:, 2] = -0.2 * net.readout_layer.w[:, 2].abs()  # output 2 silent
            net.readout_layer.w[:5, 1] = 0.0
        outs.append((net, *_run(net, x, loss, y)))
    (k_net, k_out, k_grads), (_, t_out, t_grads) = outs
    assert k_out.fired is not None and bool(k_out.fired.any()) and not bool(k_out.fired.all())
    assert torch.equal(k_out.fired, t_out.fired)  # type: ignore[arg-type]
    torch.testing.assert_close(k_out.readout, t_out.readout, rtol=0, atol=0)
    _assert_same_records(k_out, t_out, rtol=1e-12)
    for k in k_grads:
        torch.testing.assert_close(k_grads[k], t_grads[k], rtol=1e-9, atol=1e-12, msg=k)
    _check_against_reference(k_net, x, k_out, k_grads, loss, y)


def test_kernel_regulariser_and_guard_hits() -> None:
    reg = RateRegulariser(nu=2.0, lambda_upper=1e-6, lambda_lower=3e-6)
    x = _input(3, 4)
    y = torch.tensor([1, 0, 2])
    spec = _spec(TWO)
    probe = _net(spec, ExpWeightedVoltage(), "cpu-kernel", torch.float64, 0)(x)
    eps = float(probe.spikes[0].i_minus_v.median())  # half of the first layer's crossings hit it
    loss = CrossEntropy()
    k_net = _net(spec, ExpWeightedVoltage(), "cpu-kernel", torch.float64, 0, regulariser=reg, guard_eps=eps)
    k_out, k_grads = _run(k_net, x, loss, y)
    t_out, t_grads = _run(
        _net(spec, ExpWeightedVoltage(), "torch", torch.float64, 0, regulariser=reg, guard_eps=eps), x, loss, y
    )
    assert k_out.guard_hits > 0
    _assert_same_records(k_out, t_out, rtol=1e-12)
    for k in k_grads:
        torch.testing.assert_close(k_grads[k], t_grads[k], rtol=1e-9, atol=1e-12, msg=k)
    _check_against_reference(k_net, x, k_out, k_grads, loss, y, reg=reg)


def test_kernel_no_spikes_gives_readout_only_gradient() -> None:
    spec = NetworkSpec(
        n_inputs=N_IN, hidden=(LayerSpec(9, recurrent=True, init_ff=Normal(0.01, 0.0)),),
        n_outputs=3, dt_s=DT, n_steps=T_STEPS, output_bias=True,
    )  # fmt: skip
    net = _net(spec, AvgVoltage(), "cpu-kernel", torch.float64, 0)
    out, grads = _run(net, _input(2, 0), CrossEntropy(), torch.tensor([0, 1]))
    assert out.spikes[0].n_spikes == 0
    assert float(grads["layers.0.w_ff"].abs().max()) == 0.0
    assert float(grads["layers.0.w_rec"].abs().max()) == 0.0
    assert float(grads["readout_layer.w"].abs().max()) == 0.0
    assert float(grads["readout_layer.bias"].abs().max()) > 0.0  # the bias still learns


@pytest.mark.parametrize("hidden", [REC, TWO], ids=["rec", "two"])
@pytest.mark.parametrize(("readout", "loss"), [VOLTAGE_READOUTS[1], VOLTAGE_READOUTS[3]], ids=["exp", "max"])
def test_kernel_float32_matches_torch_and_reference(hidden, readout, loss) -> None:  # type: ignore[no-untyped-def]
    x = _input(4, 6, torch.float32)
    y = torch.tensor([0, 2, 1, 1])
    spec = _spec(hidden, bias=True)
    k_net = _net(spec, readout, "cpu-kernel", torch.float32, 2)
    k_out, k_grads = _run(k_net, x, loss, y)
    t_out, t_grads = _run(_net(spec, readout, "torch", torch.float32, 2), x, loss, y)
    assert k_out.readout.dtype == torch.float32
    assert all(g.dtype == torch.float32 for g in k_grads.values())
    torch.testing.assert_close(k_out.readout, t_out.readout, rtol=1e-5, atol=1e-6)
    _assert_same_records(k_out, t_out, rtol=1e-5)
    for k in k_grads:
        scale = float(t_grads[k].abs().max())
        torch.testing.assert_close(k_grads[k], t_grads[k], rtol=1e-4, atol=1e-5 * scale, msg=k)
    # and both are the float64 reference's gradient to float32 rounding
    _check_against_reference(k_net, x, k_out, k_grads, loss, y, rtol=1e-4, atol=1e-5)


def test_kernel_result_does_not_depend_on_thread_count() -> None:
    x = _input(5, 8)
    y = torch.tensor([0, 1, 2, 0, 1])
    spec = _spec(TWO, bias=True)
    runs = [
        _run(_net(spec, ExpWeightedVoltage(), "cpu-kernel", torch.float64, 4), x, CrossEntropy(), y, threads)
        for threads in (1, 2, 3)
    ]
    for out, grads in runs[1:]:
        torch.testing.assert_close(out.readout, runs[0][0].readout, rtol=0, atol=0)
        _assert_same_records(out, runs[0][0], rtol=0)
        for k in grads:
            torch.testing.assert_close(grads[k], runs[0][1][k], rtol=1e-12, atol=1e-15, msg=k)


def test_kernel_spike_buffer_overflow_reruns_with_exact_capacity(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    x = _input(3, 9)
    y = torch.tensor([2, 0, 1])
    spec = _spec(TWO, bias=True)
    ref_out, ref_grads = _run(_net(spec, MaxVoltage(), "cpu-kernel", torch.float64, 1), x, CrossEntropy(), y)
    monkeypatch.setattr(kfn, "_MIN_CAP", 1)
    monkeypatch.setattr(kfn, "_CAP_DIV", 10**9)  # capacity 1: every sample overflows
    monkeypatch.setattr(kfn, "_HINTS", kfn._CapacityHints())  # nothing learnt from the first run
    passes = _count_forward_passes(monkeypatch)
    out, grads = _run(_net(spec, MaxVoltage(), "cpu-kernel", torch.float64, 1), x, CrossEntropy(), y)
    assert passes == [2, 2]  # both blocks (threads) ran twice: the first pass overflowed
    _assert_same_records(out, ref_out, rtol=0)
    for k in grads:
        torch.testing.assert_close(grads[k], ref_grads[k], rtol=0, atol=0, msg=k)


def _count_forward_passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the forward kernel's runs per block (index 0: the block starting at sample 0)."""
    runs = [0, 0]
    inner = kfn.K.forward_kernel
    b0_at = list(inspect.signature(inner.py_func).parameters).index("b0")

    def counted(*args: object) -> object:
        runs[0 if args[b0_at] == 0 else 1] += 1
        return inner(*args)

    monkeypatch.setattr(kfn.K, "forward_kernel", counted)
    return runs


def test_kernel_spike_capacity_is_learnt_from_earlier_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """A call whose spikes overflowed the default capacity sizes the buffers of later calls of
    the same shape (no second rerun), with identical results."""
    x = _input(3, 9)
    y = torch.tensor([2, 0, 1])
    spec = _spec(TWO, bias=True)
    monkeypatch.setattr(kfn, "_MIN_CAP", 1)
    monkeypatch.setattr(kfn, "_CAP_DIV", 10**9)
    monkeypatch.setattr(kfn, "_HINTS", kfn._CapacityHints())
    passes = _count_forward_passes(monkeypatch)
    net = _net(spec, MaxVoltage(), "cpu-kernel", torch.float64, 1)
    first, g1 = _run(net, x, CrossEntropy(), y)
    assert passes == [2, 2]
    net.zero_grad()
    second, g2 = _run(net, x, CrossEntropy(), y)
    assert passes == [3, 3]  # one pass each
    _assert_same_records(second, first, rtol=0)
    for k in g1:
        torch.testing.assert_close(g2[k], g1[k], rtol=0, atol=0, msg=k)


def test_kernel_max_spikes_is_an_error() -> None:
    net = _net(_spec(REC), AvgVoltage(), "cpu-kernel", torch.float64, 0, max_spikes=3)
    with pytest.raises(RuntimeError, match="max_spikes=3"):
        net(_input(2, 0))


def test_backend_dispatch() -> None:
    x = _input(2, 0)
    spec = _spec(REC)
    cfg_net = _net(spec, AvgVoltage(), "auto", torch.float64, 0)
    method = cfg_net.method
    assert isinstance(method, EventProp)
    from eventbench.eventprop.function import EventPropConfig

    cfg = EventPropConfig(readout=AvgVoltage())
    assert method.resolve_backend(cfg, cfg_net.tensors(), x) == "cpu-kernel"
    assert EventProp(backend="torch").resolve_backend(cfg, cfg_net.tensors(), x) == "torch"
    # the wrong-variant hook runs on the torch path only
    bad = EventPropConfig(readout=AvgVoltage(), variant="flip_feedback")
    assert method.resolve_backend(bad, cfg_net.tensors(), x) == "torch"
    # a LIF readout population with a voltage readout: the torch path's all-zero readout
    lif_spec = _spec(REC, kind="lif")
    with _threads(1):
        auto = _net(lif_spec, AvgVoltage(), "auto", torch.float64, 0)(x)
        torch_ = _net(lif_spec, AvgVoltage(), "torch", torch.float64, 0)(x)
    torch.testing.assert_close(auto.readout, torch_.readout, rtol=0, atol=0)
    with pytest.raises(ValueError, match="cpu-kernel"):
        _net(lif_spec, AvgVoltage(), "cpu-kernel", torch.float64, 0)(x)
    with pytest.raises(ValueError, match="backend"):
        EventProp(backend="gpu")  # type: ignore[arg-type]


def test_kernel_trains_like_the_torch_path() -> None:
    """A few Adam steps on both backends stay on the same trajectory (float64)."""
    x = _input(4, 11)
    y = torch.tensor([0, 1, 2, 1])
    spec = _spec(REC, bias=True)
    params = []
    for backend in ("cpu-kernel", "torch"):
        net = _net(spec, ExpWeightedVoltage(), backend, torch.float64, 7)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(5):
            opt.zero_grad()
            _run(net, x, CrossEntropy(), y)
            opt.step()
        params.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    torch.testing.assert_close(params[0], params[1], rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------
# sparse COO input and the validation of the counts


def _uncoalesced(x: torch.Tensor) -> torch.Tensor:
    """The COO form of ``x`` with every count split into two entries (duplicates, unsorted) and
    an explicitly stored zero, which must read exactly like ``x``."""
    c = x.to_sparse().coalesce()
    idx, val = c.indices(), c.values()
    half = val / 2
    zero_at = torch.tensor([[1], [0], [4]])
    idx2 = torch.cat([idx.flip(1), idx, zero_at], dim=1)
    val2 = torch.cat([half.flip(0), val - half, torch.zeros(1, dtype=val.dtype)])
    return torch.sparse_coo_tensor(idx2, val2, x.shape, check_invariants=True)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("backend", ["cpu-kernel", "torch"])
def test_sparse_input_equals_dense_input(backend: str, dtype: torch.dtype) -> None:
    """Same readout, spikes, guard hits, event count and gradients, bit for bit on the kernels
    (the sparse reader produces the dense scan's event lists)."""
    x = _input(3, 4, dtype)
    y = torch.tensor([0, 2, 1])
    spec = _spec(TWO, bias=True)
    d_out, d_grads = _run(_net(spec, ExpWeightedVoltage(), backend, dtype, 2), x, CrossEntropy(), y)
    assert d_out.spikes[0].n_spikes > 0
    for xs in (x.to_sparse(), _uncoalesced(x)):
        s_out, s_grads = _run(_net(spec, ExpWeightedVoltage(), backend, dtype, 2), xs, CrossEntropy(), y)
        tol = 0.0
        torch.testing.assert_close(s_out.readout, d_out.readout, rtol=tol, atol=tol)
        _assert_same_records(s_out, d_out, rtol=tol)
        for k in d_grads:
            torch.testing.assert_close(s_grads[k], d_grads[k], rtol=tol, atol=tol, msg=k)


@pytest.mark.parametrize("n_in", [150, 5])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_dense_scan_equals_the_sparse_reader(dtype: torch.dtype, n_in: int) -> None:
    """The dense scan reads 16 channels per vector compare and re-reads the last 16 channels
    of a row for its partial chunk, skipping those already read (150 = 9 x 16 + 6); rows of
    fewer than 16 channels are read one by one. Negative zeros are no events, counts above one
    are kept, and the events equal the sparse reader's bit for bit, as do the validation
    errors."""
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(T_STEPS, 3, n_in, generator=g) < (0.05 if n_in > 16 else 0.3)).to(dtype)
    x[2, 0, 0] = 3.0
    x[4, 1, n_in // 2] = 1.0
    x[8, 0, n_in - 1] = 2.0  # last channel
    for n, b, c in ((10, 1, 1), (11, 2, n_in - 3), (12, 0, n_in - 1)):
        x[n, b, c] = -0.0
    spec = NetworkSpec(
        n_inputs=n_in, hidden=ONE, n_outputs=3, dt_s=DT, n_steps=T_STEPS, output=LIFParams(20e-3, 5e-3)
    )
    y = torch.tensor([0, 2, 1])
    d_out, d_grads = _run(_net(spec, ExpWeightedVoltage(), "cpu-kernel", dtype, 2), x, CrossEntropy(), y)
    assert d_out.input_events == int(x.sum()) and d_out.spikes[0].n_spikes > 0
    s_out, s_grads = _run(_net(spec, ExpWeightedVoltage(), "cpu-kernel", dtype, 2), x.to_sparse(), CrossEntropy(), y)
    torch.testing.assert_close(d_out.readout, s_out.readout, rtol=0, atol=0)
    _assert_same_records(d_out, s_out, rtol=0)
    for k in d_grads:
        torch.testing.assert_close(d_grads[k], s_grads[k], rtol=0, atol=0, msg=k)
    net = _net(spec, ExpWeightedVoltage(), "cpu-kernel", dtype, 2)
    for bad_at in ((20, 1, 2), (21, 2, n_in // 2), (22, 1, n_in - 2)):
        xb = x.clone()
        xb[bad_at] = float("nan")
        with pytest.raises(ValueError, match=f"sample {bad_at[1]} .* 1 negative or non-finite"):
            net(xb)


def test_sparse_input_in_any_entry_order() -> None:
    """Entries in shuffled order (even when flagged coalesced) still land in their bins."""
    x = _input(3, 7)
    c = x.to_sparse().coalesce()
    perm = torch.randperm(c._nnz(), generator=torch.Generator().manual_seed(0))
    shuffled = torch.sparse_coo_tensor(
        c.indices()[:, perm], c.values()[perm], x.shape, is_coalesced=True, check_invariants=False
    )
    net = _net(_spec(REC), ExpWeightedVoltage(), "cpu-kernel", torch.float64, 2)
    d_out, s_out = net(x), net(shuffled)
    torch.testing.assert_close(s_out.readout, d_out.readout, rtol=1e-12, atol=1e-12)
    _assert_same_records(s_out, d_out, rtol=1e-12)


def test_sparse_input_with_bptt_equals_dense() -> None:
    from eventbench.core import SurrogateBPTT

    x = _input(2, 5)
    spec = _spec(REC)
    outs = [SNN(spec, AvgVoltage(), SurrogateBPTT(), dtype=torch.float64, seed=1)(v) for v in (x, x.to_sparse())]
    torch.testing.assert_close(outs[0].readout, outs[1].readout, rtol=0, atol=0)
    assert outs[0].input_events == outs[1].input_events == int(x.sum())


@pytest.mark.parametrize("backend", ["cpu-kernel", "torch"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0], ids=["nan", "inf", "negative"])
def test_bad_counts_are_named_dense_and_sparse(backend: str, bad: float) -> None:
    net = _net(_spec(ONE), AvgVoltage(), backend, torch.float64, 0)
    x = _input(3, 6)
    x[7, 2, 4] = bad
    for xi in (x, x.to_sparse()):
        with pytest.raises(ValueError, match="finite and non-negative") as err:
            net(xi)
        if backend == "cpu-kernel":
            assert "sample 2" in str(err.value)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_sparse_input_errors_name_the_problem() -> None:
    net = _net(_spec(ONE), AvgVoltage(), "cpu-kernel", torch.float64, 0)
    ones = torch.ones(1, dtype=torch.float64)
    for index, name, value in (([[0], [0], [N_IN]], "channel", N_IN), ([[0], [-1], [0]], "sample", -1), ([[T_STEPS], [0], [0]], "step", T_STEPS)):
        xs = torch.sparse_coo_tensor(torch.tensor(index), ones, (T_STEPS, 2, N_IN), check_invariants=False)
        with pytest.raises(ValueError, match=f"{name} index {value} is outside"):
            net(xs)
    with pytest.raises(ValueError, match="3 sparse dimensions"):
        net(torch.zeros(T_STEPS, 2, N_IN, dtype=torch.float64).to_sparse(2))
    with pytest.raises(ValueError, match="layout"):
        net(torch.zeros(T_STEPS, 2, N_IN, dtype=torch.float64).to_sparse_csr())


def test_empty_sparse_input_runs() -> None:
    net = _net(_spec(ONE), AvgVoltage(), "cpu-kernel", torch.float64, 0)
    xs = torch.sparse_coo_tensor(
        torch.zeros(3, 0, dtype=torch.long), torch.zeros(0, dtype=torch.float64), (T_STEPS, 2, N_IN),
        check_invariants=True,
    )
    out = net(xs)
    assert out.input_events == 0 and out.spikes[0].n_spikes == 0
    torch.testing.assert_close(out.readout, net(torch.zeros(T_STEPS, 2, N_IN, dtype=torch.float64)).readout, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------
# GPU: the torch path on CUDA has the same semantics as the CPU kernels


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("readout", "loss"), [VOLTAGE_READOUTS[1], VOLTAGE_READOUTS[3], VOLTAGE_READOUTS[4]], ids=["exp", "max", "perstep"])
def test_cuda_torch_path_equals_cpu_kernel(readout, loss) -> None:  # type: ignore[no-untyped-def]
    x = _input(3, 1)
    y = torch.tensor([0, 2, 1])
    spec = _spec(TWO, bias=True)
    k_out, k_grads = _run(_net(spec, readout, "cpu-kernel", torch.float64, 3), x, loss, y)
    g_net = _net(spec, readout, "torch", torch.float64, 3).cuda()
    g_out, g_grads = _run(g_net, x.cuda(), loss, y.cuda())
    torch.testing.assert_close(g_out.readout.cpu(), k_out.readout, rtol=1e-12, atol=1e-12)
    for rk, rg in zip(k_out.spikes, g_out.spikes, strict=True):
        assert torch.equal(rk.step, rg.step.cpu())
        assert torch.equal(rk.neuron, rg.neuron.cpu())
    for k in k_grads:
        torch.testing.assert_close(g_grads[k].cpu(), k_grads[k], rtol=1e-9, atol=1e-12, msg=k)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_first_spike_equals_cpu_kernel() -> None:
    spec = _spec(REC, kind="lif")
    loss = FirstSpikeCrossEntropy(duration_s=spec.duration_s)
    x = _input(4, 2)
    y = torch.tensor([0, 1, 2, 1])
    k_out, k_grads = _run(_net(spec, FirstSpikeTime(), "cpu-kernel", torch.float64, 5), x, loss, y)
    g_net = _net(spec, FirstSpikeTime(), "torch", torch.float64, 5).cuda()
    g_out, g_grads = _run(g_net, x.cuda(), loss, y.cuda())
    torch.testing.assert_close(g_out.readout.cpu(), k_out.readout, rtol=1e-12, atol=1e-12)
    for k in k_grads:
        torch.testing.assert_close(g_grads[k].cpu(), k_grads[k], rtol=1e-9, atol=1e-12, msg=k)


# ------------------------------------------------------------------------------ delays

from eventbench.core.network import Delays  # noqa: E402

_D = Delays(max_s=9e-3, init_high_s=9e-3)
DELAYED = [
    (LayerSpec(12, init_ff=Normal(0.35, 0.4), delay_ff=_D),),
    (LayerSpec(19, recurrent=True, init_ff=Normal(0.35, 0.4), init_rec=Normal(0.0, 0.3), delay_ff=_D,
               delay_rec=Delays(max_s=4e-3, init_high_s=4e-3)),),
    (
        LayerSpec(17, recurrent=True, init_ff=Normal(0.35, 0.4), init_rec=Normal(0.0, 0.3),
                  delay_rec=Delays(max_s=6e-3, init_high_s=6e-3)),
        LayerSpec(9, init_ff=Normal(0.5, 0.4), delay_ff=Delays(max_s=15e-3, init_high_s=15e-3)),
    ),
]


@pytest.mark.parametrize("hidden", DELAYED, ids=["ff", "rec", "two"])
@pytest.mark.parametrize(
    ("readout", "loss"), [(ExpWeightedVoltage(), CrossEntropy()), (MaxVoltage(), CrossEntropy())], ids=["exp", "max"]
)
def test_kernel_with_delays_equals_reference_and_torch(hidden, readout, loss) -> None:  # type: ignore[no-untyped-def]
    x = _input(3, 1)
    y = torch.tensor([0, 2, 1])
    spec = _spec(hidden, bias=True)
    k_out, k_grads = _run(_net(spec, readout, "cpu-kernel", torch.float64, 3), x, loss, y)
    t_out, t_grads = _run(_net(spec, readout, "torch", torch.float64, 3), x, loss, y)
    assert sum(r.n_spikes for r in k_out.spikes) > 30
    torch.testing.assert_close(k_out.readout, t_out.readout, rtol=1e-12, atol=1e-12)
    _assert_same_records(k_out, t_out, rtol=1e-12)
    assert set(k_grads) == set(t_grads)
    assert any(".d_" in k for k in k_grads)
    for k in k_grads:
        torch.testing.assert_close(k_grads[k], t_grads[k], rtol=1e-9, atol=1e-12, msg=k)
    _check_against_reference(_net(spec, readout, "cpu-kernel", torch.float64, 3), x, k_out, k_grads, loss, y)


def test_kernel_with_delays_float32_and_sparse_input() -> None:
    spec = _spec(DELAYED[1], bias=True)
    x = _input(4, 2, torch.float32)
    y = torch.tensor([0, 2, 1, 1])
    d_out, d_grads = _run(_net(spec, ExpWeightedVoltage(), "cpu-kernel", torch.float32, 3), x, CrossEntropy(), y)
    s_out, s_grads = _run(_net(spec, ExpWeightedVoltage(), "cpu-kernel", torch.float32, 3), x.to_sparse(), CrossEntropy(), y)
    t_out, t_grads = _run(_net(spec, ExpWeightedVoltage(), "torch", torch.float32, 3), x, CrossEntropy(), y)
    torch.testing.assert_close(s_out.readout, d_out.readout, rtol=0, atol=0)
    _assert_same_records(d_out, t_out, rtol=1e-5)
    for k in d_grads:
        torch.testing.assert_close(s_grads[k], d_grads[k], rtol=0, atol=0, msg=k)
        scale = float(t_grads[k].abs().max())
        torch.testing.assert_close(d_grads[k], t_grads[k], rtol=1e-4, atol=1e-5 * max(scale, 1.0), msg=k)
