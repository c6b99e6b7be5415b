"""The CUDA kernels of EventProp (Triton) equal the float64 reference and the CPU kernels, spike
for spike.

Without a GPU the kernels run under Triton's CPU interpreter: this module imports them with
``TRITON_INTERPRET=1`` (set for the import only; the launcher sets it again around each call), so
no other test is affected. Each check is parametrised by ``mode``: ``"sim"`` (interpreter, CPU
tensors, default tier) and ``"gpu"`` (compiled kernels on a CUDA device, ``gpu`` marker). In one
process only one of them can be active (Triton decides when the kernels are decorated): on a
machine with a GPU the ``sim`` cases are skipped and ``pytest -m gpu`` runs the same checks on
the device.

The interpreter runs each block operation in NumPy, a few milliseconds per time step of a small
network, so the shapes here are short (``T = 24``) and narrow.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable

import numpy as np
import pytest
import torch

from eventbench.core import SNN, LayerSpec, LIFParams, NetworkSpec, Normal, RateRegulariser
from eventbench.core.network import Delays, SNNOutput
from eventbench.eventprop import EventProp
from eventbench.eventprop.function import EventPropConfig
from eventbench.eventprop.kernels import cuda as kcuda
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

if importlib.util.find_spec("triton") is None:
    pytest.skip("needs triton (the dev extra installs it)", allow_module_level=True)

# Triton decides at import (of triton.language and of the kernels) whether it interprets: the
# variable is set for these imports only, and only if Triton was not imported before (then the
# sim cases skip).
_GPU = torch.cuda.is_available()
if not _GPU and "triton" not in sys.modules:
    _old = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        import triton.language  # noqa: F401

        import eventbench.eventprop.kernels._triton_kernels  # noqa: F401
    finally:
        if _old is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = _old

_SIM_ACTIVE = kcuda.kernel_device() == "cpu"

MODES = [
    pytest.param("sim", id="sim"),
    pytest.param("gpu", id="gpu", marks=pytest.mark.gpu),
]

T_STEPS = 24
DT = 1e-3
N_IN = 13

ONE = (LayerSpec(12, init_ff=Normal(0.5, 0.4)),)
REC = (LayerSpec(11, recurrent=True, init_ff=Normal(0.5, 0.4), init_rec=Normal(0.0, 0.3)),)
TWO = (
    LayerSpec(10, recurrent=True, init_ff=Normal(0.5, 0.4), init_rec=Normal(0.0, 0.3)),
    LayerSpec(7, neuron=LIFParams(tau_mem_s=10e-3, tau_syn_s=10e-3), init_ff=Normal(0.6, 0.4)),
)

Loss = Callable[..., torch.Tensor]


def _device(mode: str) -> torch.device:
    """The device of ``mode``, or skip when that mode is not the active one in this process."""
    if mode == "sim":
        if not _SIM_ACTIVE:
            pytest.skip("the compiled kernels are active (GPU present): run pytest -m gpu")
        return torch.device("cpu")
    if not _GPU or _SIM_ACTIVE:
        pytest.skip("needs a CUDA device and the compiled kernels")
    return torch.device("cuda")


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
        init_out=Normal(0.5 if kind == "lif" else 0.0, 0.6),
    )


def _input(batch: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T_STEPS, batch, N_IN, generator=g) < 0.2).to(dtype)
    x[3, 0, 2] = 2.0  # a count of two in one bin
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
    net: SNN, x: torch.Tensor, loss_fn: Loss, y: torch.Tensor, device: torch.device
) -> tuple[SNNOutput, dict[str, torch.Tensor]]:
    """Forward and backward on ``device``; outputs and gradients come back on the CPU."""
    net = net.to(device)
    out = net(x.to(device))
    loss_fn(out.readout, y.to(device), out.fired).backward()
    grads = {n: p.grad.detach().cpu() for n, p in net.named_parameters() if p.grad is not None}
    return _to_cpu(out), grads


def _to_cpu(out: SNNOutput) -> SNNOutput:
    def rec(r):  # type: ignore[no-untyped-def]
        return None if r is None else r._replace(
            step=r.step.cpu(), batch=r.batch.cpu(), neuron=r.neuron.cpu(), i_minus_v=r.i_minus_v.cpu()
        )

    return out._replace(  # type: ignore[attr-defined,no-any-return]
        readout=out.readout.detach().cpu(),
        fired=None if out.fired is None else out.fired.cpu(),
        spikes=tuple(rec(r) for r in out.spikes),
        output_spikes=rec(out.output_spikes),
    )


def _same_records(a: SNNOutput, b: SNNOutput, rtol: float) -> float:
    """Assert the same spikes in the same order; return the largest ``I - V`` difference."""
    recs_a = [*a.spikes, *([a.output_spikes] if a.output_spikes is not None else [])]
    recs_b = [*b.spikes, *([b.output_spikes] if b.output_spikes is not None else [])]
    assert len(recs_a) == len(recs_b)
    worst = 0.0
    for ra, rb in zip(recs_a, recs_b, strict=True):
        assert torch.equal(ra.step, rb.step)
        assert torch.equal(ra.batch, rb.batch)
        assert torch.equal(ra.neuron, rb.neuron)
        assert (ra.n_steps, ra.batch_size, ra.n_neurons) == (rb.n_steps, rb.batch_size, rb.n_neurons)
        assert ra.i_minus_v.dtype == rb.i_minus_v.dtype
        torch.testing.assert_close(ra.i_minus_v, rb.i_minus_v, rtol=rtol, atol=rtol)
        if ra.n_spikes:
            worst = max(worst, float((ra.i_minus_v.double() - rb.i_minus_v.double()).abs().max()))
    assert a.guard_hits == b.guard_hits
    assert a.input_events == b.input_events
    return worst


def _reference_grads(
    net: SNN, x: torch.Tensor, out: SNNOutput, loss_fn: Loss, y: torch.Tensor,
    reg: RateRegulariser | None = None,
) -> tuple[dict[str, np.ndarray], int]:  # fmt: skip
    """Gradients of the float64 reference (``reference_eventprop``, one sample at a time, summed)
    and its guard hits; asserts that its spikes are the ones in ``out``."""
    v = out.readout.double().clone().requires_grad_(True)
    (gv,) = torch.autograd.grad(loss_fn(v, y, out.fired), [v])
    ref = from_tensors(net.cpu().tensors())
    kind = net.readout.kind
    coeff = (
        net.readout.coefficients(T_STEPS, torch.float64, torch.device("cpu")).numpy()  # type: ignore[union-attr]
        if kind == "weighted"
        else None
    )
    reg_jump = [reg.adjoint_jump(r.counts()).numpy() for r in out.spikes] if reg is not None else None
    total: dict[str, np.ndarray] = {}
    hits = 0
    for b in range(x.shape[1]):
        g_b = gv[:, b].numpy() if kind == "trace" else gv[b].numpy()
        res = reference_eventprop(ref, x[:, b].double().numpy(), kind, g_b, coeff, net.method.guard_eps, reg_jump)  # type: ignore[attr-defined]
        hits += res.guard_hits
        for k, g in res.grads.items():
            total[k] = total.get(k, 0) + g
        for layer, rec in enumerate(out.spikes):
            mine = rec.batch == b
            got = sorted(zip(rec.step[mine].tolist(), rec.neuron[mine].tolist(), strict=True))
            assert got == sorted((s, j) for s, j, _ in res.spikes[layer])
    names = {"w_out": "readout_layer.w", "bias": "readout_layer.bias"}
    grads = {}
    for k, g in total.items():
        if k in names:
            grads[names[k]] = g
        else:
            kind_, idx = k.split(".")
            grads[f"layers.{idx}.{kind_}"] = g
    return grads, hits


def _check_reference(
    net: SNN, x: torch.Tensor, out: SNNOutput, grads: dict[str, torch.Tensor], loss_fn: Loss,
    y: torch.Tensor, rtol: float, atol: float, reg: RateRegulariser | None = None,
) -> float:  # fmt: skip
    """Assert the gradients equal the float64 reference; return the largest relative difference
    (absolute difference over the tensor's largest reference entry)."""
    ref, hits = _reference_grads(net, x, out, loss_fn, y, reg)
    assert hits == out.guard_hits
    assert set(ref) == set(grads)
    worst = 0.0
    for k, g in grads.items():
        scale = max(float(np.abs(ref[k]).max()), 1.0)
        np.testing.assert_allclose(g.double().numpy(), ref[k], rtol=rtol, atol=atol * scale, err_msg=k)
        worst = max(worst, float(np.abs(g.double().numpy() - ref[k]).max()) / scale)
    return worst


CASES = [
    (ONE, AvgVoltage(), CrossEntropy(), False),
    (REC, MaxVoltage(), CrossEntropy(), True),
    (TWO, SigmoidWeightedVoltage(), CrossEntropy(), True),
    (TWO, VoltageTrace(), PerStepCrossEntropy(), True),
]
CASE_IDS = ["ff-avg", "rec-max-bias", "two-sigmoid-bias", "two-perstep-bias"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("hidden", "readout", "loss", "bias"), CASES, ids=CASE_IDS)
def test_cuda_kernel_equals_reference_and_cpu_kernel(mode, hidden, readout, loss, bias) -> None:  # type: ignore[no-untyped-def]
    dev = _device(mode)
    x = _input(2, 1)
    y = torch.tensor([0, 2])
    spec = _spec(hidden, bias=bias)
    g_net = _net(spec, readout, "cuda-kernel", torch.float64, 3)
    g_out, g_grads = _run(g_net, x, loss, y, dev)
    c_out, c_grads = _run(_net(spec, readout, "cpu-kernel", torch.float64, 3), x, loss, y, torch.device("cpu"))
    assert sum(r.n_spikes for r in g_out.spikes) > 20  # the case exercises spikes
    torch.testing.assert_close(g_out.readout, c_out.readout, rtol=1e-12, atol=1e-12)
    _same_records(g_out, c_out, rtol=1e-12)
    assert set(g_grads) == set(c_grads)
    for k in g_grads:
        torch.testing.assert_close(g_grads[k], c_grads[k], rtol=1e-9, atol=1e-12, msg=k)
    _check_reference(g_net, x, g_out, g_grads, loss, y, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_cuda_kernel_first_spike_with_phantom(mode: str) -> None:
    dev = _device(mode)
    spec = _spec(REC, kind="lif")
    loss = FirstSpikeCrossEntropy(duration_s=spec.duration_s)
    x = _input(3, 2)
    y = torch.tensor([0, 1, 2])
    outs = []
    for backend, d in (("cuda-kernel", dev), ("cpu-kernel", torch.device("cpu"))):
        net = _net(spec, FirstSpikeTime(), backend, torch.float64, 5)
        with torch.no_grad():
            net.readout_layer.w[:, 2] = -0.2 * net.readout_layer.w[:, 2].abs()  # output 2 silent
        outs.append((net, *_run(net, x, loss, y, d)))
    (g_net, g_out, g_grads), (_, c_out, c_grads) = outs
    assert g_out.fired is not None and bool(g_out.fired.any()) and not bool(g_out.fired.all())
    assert torch.equal(g_out.fired, c_out.fired)  # type: ignore[arg-type]
    assert g_out.output_spikes is not None and g_out.output_spikes.n_spikes > 0
    torch.testing.assert_close(g_out.readout, c_out.readout, rtol=0, atol=0)
    _same_records(g_out, c_out, rtol=1e-12)
    for k in g_grads:
        torch.testing.assert_close(g_grads[k], c_grads[k], rtol=1e-9, atol=1e-12, msg=k)
    _check_reference(g_net, x, g_out, g_grads, loss, y, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_cuda_kernel_regulariser_and_guard_hits(mode: str) -> None:
    dev = _device(mode)
    reg = RateRegulariser(nu=2.0, lambda_upper=1e-6, lambda_lower=3e-6)
    x = _input(2, 4)
    y = torch.tensor([1, 0])
    spec = _spec(TWO)
    probe = _net(spec, ExpWeightedVoltage(), "cpu-kernel", torch.float64, 0)(x)
    eps = float(probe.spikes[0].i_minus_v.median())  # half of the first layer's crossings hit it
    loss = CrossEntropy()
    g_net = _net(spec, ExpWeightedVoltage(), "cuda-kernel", torch.float64, 0, regulariser=reg, guard_eps=eps)
    g_out, g_grads = _run(g_net, x, loss, y, dev)
    c_out, c_grads = _run(
        _net(spec, ExpWeightedVoltage(), "cpu-kernel", torch.float64, 0, regulariser=reg, guard_eps=eps),
        x, loss, y, torch.device("cpu"),
    )  # fmt: skip
    assert g_out.guard_hits > 0
    _same_records(g_out, c_out, rtol=1e-12)
    for k in g_grads:
        torch.testing.assert_close(g_grads[k], c_grads[k], rtol=1e-9, atol=1e-12, msg=k)
    _check_reference(g_net, x, g_out, g_grads, loss, y, rtol=1e-9, atol=1e-12, reg=reg)


@pytest.mark.parametrize("mode", MODES)
def test_cuda_kernel_float32_to_float32_rounding(mode: str) -> None:
    """float32: spike for spike with the CPU kernels, gradients equal to the float64 reference
    to float32 rounding."""
    dev = _device(mode)
    x = _input(2, 6, torch.float32)
    y = torch.tensor([0, 2])
    spec = _spec(TWO, bias=True)
    g_net = _net(spec, ExpWeightedVoltage(), "cuda-kernel", torch.float32, 2)
    g_out, g_grads = _run(g_net, x, CrossEntropy(), y, dev)
    c_out, c_grads = _run(_net(spec, ExpWeightedVoltage(), "cpu-kernel", torch.float32, 2), x, CrossEntropy(), y, torch.device("cpu"))
    assert g_out.readout.dtype == torch.float32
    assert all(g.dtype == torch.float32 for g in g_grads.values())
    torch.testing.assert_close(g_out.readout, c_out.readout, rtol=1e-6, atol=1e-6)
    _same_records(g_out, c_out, rtol=1e-5)
    for k in g_grads:
        scale = float(c_grads[k].abs().max())
        torch.testing.assert_close(g_grads[k], c_grads[k], rtol=1e-4, atol=1e-5 * scale, msg=k)
    _check_reference(g_net, x, g_out, g_grads, CrossEntropy(), y, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_cuda_kernel_sparse_input_and_overflow_rerun(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sparse COO input (with duplicates and in reverse order) reads like the dense one, and
    a spike buffer that overflows (capacity 1) is detected and the pass rerun with the exact
    capacity: bit for bit equal to the dense run with the default capacity."""
    dev = _device(mode)
    x = _input(2, 9)
    y = torch.tensor([2, 0])
    spec = _spec(REC, bias=True)
    d_out, d_grads = _run(_net(spec, MaxVoltage(), "cuda-kernel", torch.float64, 1), x, CrossEntropy(), y, dev)
    c = x.to_sparse().coalesce()
    half = c.values() / 2
    xs = torch.sparse_coo_tensor(
        torch.cat([c.indices().flip(1), c.indices()], dim=1), torch.cat([half.flip(0), c.values() - half]), x.shape,
        check_invariants=True,
    )
    monkeypatch.setattr(kcuda, "_MIN_CAP", 1)
    monkeypatch.setattr(kcuda, "_CAP_DIV", 10**9)
    out, grads = _run(_net(spec, MaxVoltage(), "cuda-kernel", torch.float64, 1), xs, CrossEntropy(), y, dev)
    assert d_out.spikes[0].n_spikes > 1
    torch.testing.assert_close(out.readout, d_out.readout, rtol=0, atol=0)
    _same_records(out, d_out, rtol=0)
    for k in grads:
        torch.testing.assert_close(grads[k], d_grads[k], rtol=1e-12, atol=1e-15, msg=k)


@pytest.mark.parametrize("mode", MODES)
def test_cuda_kernel_errors_name_the_problem(mode: str) -> None:
    dev = _device(mode)
    net = _net(_spec(ONE), AvgVoltage(), "cuda-kernel", torch.float64, 0).to(dev)
    x = _input(2, 0)
    x[7, 1, 4] = float("nan")
    with pytest.raises(ValueError, match="finite and non-negative"):
        net(x.to(dev))
    with pytest.raises(RuntimeError, match="max_spikes=3"):
        _net(_spec(REC), AvgVoltage(), "cuda-kernel", torch.float64, 0, max_spikes=3).to(dev)(_input(2, 0).to(dev))
    delayed = (LayerSpec(12, init_ff=Normal(0.35, 0.4), delay_ff=Delays(max_s=4e-3, init_high_s=4e-3)),)
    with pytest.raises(ValueError, match=r"delays \(network.delay_ff_max_ms .*LayerSpec.delay_ff / delay_rec\) are not supported on the CUDA path yet"):
        _net(_spec(delayed), AvgVoltage(), "cuda-kernel", torch.float64, 0).to(dev)(_input(2, 0).to(dev))
    with pytest.raises(ValueError, match=r"cuda-kernel.*readout kind 'weighted'"):
        _net(_spec(REC, kind="lif"), AvgVoltage(), "cuda-kernel", torch.float64, 0).to(dev)(_input(2, 0).to(dev))


@pytest.mark.parametrize("mode", MODES)
def test_cuda_kernel_without_input_events(mode: str) -> None:
    """An all-zero input (no events, silent hidden layer): the readout is the bias response,
    equal to the CPU kernels', and only the bias learns."""
    dev = _device(mode)
    spec = _spec(ONE, bias=True)
    x = torch.zeros(T_STEPS, 2, N_IN, dtype=torch.float64)
    y = torch.tensor([0, 1])
    g_out, g_grads = _run(_net(spec, AvgVoltage(), "cuda-kernel", torch.float64, 0), x, CrossEntropy(), y, dev)
    c_out, c_grads = _run(_net(spec, AvgVoltage(), "cpu-kernel", torch.float64, 0), x, CrossEntropy(), y, torch.device("cpu"))
    assert g_out.input_events == 0 and g_out.spikes[0].n_spikes == 0
    torch.testing.assert_close(g_out.readout, c_out.readout, rtol=1e-12, atol=1e-12)
    assert float(g_grads["layers.0.w_ff"].abs().max()) == 0.0
    assert float(g_grads["readout_layer.bias"].abs().max()) > 0.0
    torch.testing.assert_close(g_grads["readout_layer.bias"], c_grads["readout_layer.bias"], rtol=1e-9, atol=1e-12)


def test_cuda_dispatch() -> None:
    """``auto`` takes the CUDA kernels for CUDA inputs they cover, the torch path for the rest
    (delays); CPU inputs keep the CPU kernels."""
    spec = _spec(REC)
    net = _net(spec, AvgVoltage(), "auto", torch.float64, 0)
    cfg = EventPropConfig(readout=AvgVoltage())
    method = net.method
    assert isinstance(method, EventProp)
    assert method.resolve_backend(cfg, net.tensors(), _input(2, 0)) == "cpu-kernel"
    assert EventProp(backend="cuda-kernel").resolve_backend(cfg, net.tensors(), _input(2, 0)) == "cuda-kernel"
    if _GPU:
        xg = _input(2, 0).cuda()
        assert method.resolve_backend(cfg, net.cuda().tensors(), xg) == ("torch" if _SIM_ACTIVE else "cuda-kernel")
        delayed = (LayerSpec(12, init_ff=Normal(0.35, 0.4), delay_ff=Delays(max_s=4e-3, init_high_s=4e-3)),)
        dnet = _net(_spec(delayed), AvgVoltage(), "auto", torch.float64, 0).cuda()
        assert method.resolve_backend(cfg, dnet.tensors(), xg) == "torch"


def test_cuda_kernels_compile_for_sm90_without_a_device() -> None:
    """Triton's GPU compiler (TTIR to cubin, with the ptxas its wheel bundles) accepts both
    kernels for an H100/H200 (sm_90) in float32 and float64, voltage and first-spike readouts:
    the interpreter does not check types across control flow or code generation. Runs in a
    subprocess without ``TRITON_INTERPRET``."""
    import subprocess
    from pathlib import Path

    try:
        from triton.backends.compiler import GPUTarget  # noqa: F401
        from triton.compiler import ASTSource  # noqa: F401
    except ImportError as err:  # pragma: no cover - other Triton layouts
        pytest.skip(f"this Triton has no ahead-of-time compile API: {err}")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    script = Path(__file__).with_name("triton_compile_check.py")
    proc = subprocess.run(
        [sys.executable, str(script), "90", "fp32-weighted", "fp64-first_spike"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 4 and all("cubin" in line and " 0 bytes" not in line for line in lines), proc.stdout
