"""The input -> readout skip (``NetworkSpec(skip=True)``): its trace against the step-by-step
simulation, its gradient against finite differences, its composition with the gradient methods,
and its checks."""

from __future__ import annotations

import pytest
import torch

from eventbench.core import SNN, LayerSpec, LIFParams, NetworkSpec, Normal, SurrogateBPTT
from eventbench.core.params import discretise
from eventbench.core.skip import bias_response, impulse_response, readout_response, skip_trace
from eventbench.core.stepper import initial_state, network_step
from eventbench.eventprop import kernels
from eventbench.eventprop.method import EventProp
from eventbench.readout.losses import VoltageMSE
from eventbench.readout.readouts import ExpWeightedVoltage, MaxVoltage, VoltageTrace

T, B, N_IN, N_OUT = 40, 3, 6, 2

METHODS = [EventProp(backend="torch"), SurrogateBPTT()]
IDS = ["eventprop-torch", "bptt"]
if kernels.available():
    METHODS.append(EventProp(backend="cpu-kernel"))
    IDS.append("eventprop-cpu-kernel")


def _spec(skip: bool = True, **kw: object) -> NetworkSpec:
    args: dict[str, object] = dict(
        n_inputs=N_IN,
        hidden=(LayerSpec(10, recurrent=True, init_ff=Normal(0.6, 1.0), init_rec=Normal(0.0, 0.3),
                          neuron=LIFParams(5e-3, 1e-3)),),
        n_outputs=N_OUT, dt_s=1e-3, n_steps=T, output_bias=True, skip=skip,
        init_skip=Normal(0.0, 0.5) if skip else Normal(0.0, 0.0),
        init_out=Normal(0.0, 0.5), output=LIFParams(2e-3, 1e-3),
    )
    args.update(kw)
    return NetworkSpec(**args)  # type: ignore[arg-type]


def _input(dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    on = torch.rand(T, B, N_IN, generator=g) < 0.3
    return (on * torch.rand(T, B, N_IN, generator=g) * 2.0).to(dtype)  # graded currents


def test_impulse_and_bias_responses_by_hand() -> None:
    c = discretise(LIFParams(4e-3, 1e-3), 1e-3)
    h = impulse_response(c, 3)
    # step 0: the step mean of (V, I) = (0, 1); step 1: of (rho, beta); step 2: of the next state
    v1, i1 = c.rho, c.beta
    v2, i2 = c.alpha * v1 + c.rho * i1, c.beta * i1
    expected = [c.mu_i, c.mu_v * v1 + c.mu_i * i1, c.mu_v * v2 + c.mu_i * i2]
    torch.testing.assert_close(h, torch.tensor(expected, dtype=torch.float64), rtol=1e-15, atol=0)
    r = bias_response(c, 3)
    b1 = 1.0 - c.alpha
    torch.testing.assert_close(
        r, torch.tensor([1 - c.mu_v, c.mu_v * b1 + 1 - c.mu_v,
                         c.mu_v * (c.alpha * b1 + b1) + 1 - c.mu_v], dtype=torch.float64),
        rtol=1e-15, atol=0,
    )
    # readout_response of a unit current in step 2 is h shifted by two steps
    u = torch.zeros(5, 1, 1, dtype=torch.float64)
    u[2] = 1.0
    torch.testing.assert_close(readout_response(u, c)[:, 0, 0],
                               torch.cat((torch.zeros(2, dtype=torch.float64), impulse_response(c, 3))),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("method", METHODS, ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_forward_equals_the_step_by_step_simulation(method: object, dtype: torch.dtype) -> None:
    """SNN.forward (gradient method + skip trace by FFT) = network_step one step at a time,
    whose skip delivers x_{n-1} W_s at step n; dense and sparse inputs alike."""
    net = SNN(_spec(), VoltageTrace(), method, seed=1, dtype=dtype)  # type: ignore[arg-type]
    x = _input(dtype)
    with torch.no_grad():
        full = net(x).readout
        sparse = net(x.to_sparse()).readout
        t = net.tensors()
        assert t.w_skip is not None
        state = initial_state(t, B, x)
        steps = []
        for n in range(T):
            so = network_step(t, state, x[n] @ t.w_ff[0], skip_cur=x[n] @ t.w_skip)
            state = so.state
            steps.append(so.readout)
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    torch.testing.assert_close(full, torch.stack(steps), rtol=tol, atol=tol)
    torch.testing.assert_close(sparse, full, rtol=tol, atol=tol)
    # the skip carries something: without it the readout differs
    with torch.no_grad():
        net.readout_layer.w_skip.zero_()  # type: ignore[union-attr]
        assert (net(x).readout - full).abs().max() > 0.05


def test_skip_reaches_the_readout_one_step_after_its_input() -> None:
    c = discretise(LIFParams(2e-3, 1e-3), 1e-3)
    x = torch.zeros(6, 1, 2, dtype=torch.float64)
    x[2, 0, 1] = 1.0
    w = torch.tensor([[0.0], [2.0]], dtype=torch.float64)
    tr = skip_trace(x, w, c)[:, 0, 0]
    assert torch.all(tr[:3] == 0)
    torch.testing.assert_close(tr[3:], 2.0 * impulse_response(c, 3), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("method", METHODS, ids=IDS)
@pytest.mark.parametrize("readout", [VoltageTrace(), ExpWeightedVoltage()], ids=["trace", "exp"])
def test_skip_gradient_matches_finite_differences(method: object, readout: object) -> None:
    """The skip has no spike, so central differences of the float64 loss are exact to
    rounding; every entry of dL/dW_s is checked."""
    net = SNN(_spec(), readout, method, seed=2, dtype=torch.float64)  # type: ignore[arg-type]
    x = _input(torch.float64, seed=1)
    out = net(x).readout
    target = torch.randn(out.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def loss() -> torch.Tensor:
        return ((net(x).readout - target) ** 2).sum()

    w = net.readout_layer.w_skip
    assert w is not None
    (g,) = torch.autograd.grad(loss(), w)
    fd = torch.zeros_like(w)
    eps = 1e-6
    with torch.no_grad():
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                w[i, j] += eps
                up = loss()
                w[i, j] -= 2 * eps
                down = loss()
                w[i, j] += eps
                fd[i, j] = (up - down) / (2 * eps)
    assert g.abs().max() > 1e-3
    torch.testing.assert_close(g, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_hidden_gradients_see_the_whole_readout(method: object) -> None:
    """With a skip, the gradient method receives dL/dV of the whole readout: the hidden and
    readout gradients equal those of the network without the skip trained on the targets minus
    the skip's (fixed) share, L = |V_net + V_s - y|^2 = |V_net - (y - V_s)|^2."""
    x = _input(torch.float64, seed=4)
    with_skip = SNN(_spec(), VoltageTrace(), method, seed=5, dtype=torch.float64)  # type: ignore[arg-type]
    without = SNN(_spec(skip=False), VoltageTrace(), method, seed=5, dtype=torch.float64)  # type: ignore[arg-type]
    # the skip's weights are drawn last: every other weight is the same
    for (na, pa), (nb, pb) in zip(
        [(n, p) for n, p in with_skip.named_parameters() if "w_skip" not in n],
        without.named_parameters(), strict=True,
    ):
        assert na == nb
        assert torch.equal(pa, pb)
    y = torch.randn(T, B, N_OUT, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    t = with_skip.tensors()
    assert t.w_skip is not None
    share = skip_trace(x, t.w_skip.detach(), t.out_coeffs)
    la = ((with_skip(x).readout - y) ** 2).sum()
    lb = ((without(x).readout - (y - share)) ** 2).sum()
    torch.testing.assert_close(la, lb, rtol=1e-12, atol=0)
    ga = torch.autograd.grad(la, [p for n, p in with_skip.named_parameters() if "w_skip" not in n])
    gb = torch.autograd.grad(lb, list(without.parameters()))
    assert max(float(g.abs().max()) for g in gb[:2]) > 1e-3  # hidden weights get gradient
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_skip_checks() -> None:
    with pytest.raises(ValueError, match="skip needs output_kind='li'"):
        _spec(output_kind="lif", output_bias=False)
    with pytest.raises(ValueError, match="weighted-voltage or VoltageTrace readout"):
        SNN(_spec(), MaxVoltage())
    net = SNN(_spec(), VoltageTrace(), dtype=torch.float64)
    t = net.tensors()
    state = initial_state(t, 1, t.w_out)
    with pytest.raises(ValueError, match="skip_cur"):
        network_step(t, state, torch.zeros(1, 10, dtype=torch.float64))


def test_masked_skip_connections_stay_zero() -> None:
    net = SNN(_spec(), VoltageTrace(), seed=0)
    ro = net.readout_layer
    assert ro.w_skip is not None and ro.mask_skip is not None
    ro.mask_skip[0, :] = False
    t = net.tensors()
    assert t.w_skip is not None and torch.all(t.w_skip[0] == 0) and torch.any(t.w_skip[1] != 0)
    loss = VoltageMSE()(net(_input(torch.float32)).readout, torch.zeros(T, B, N_OUT))
    loss.backward()  # type: ignore[no-untyped-call]
    assert ro.w_skip.grad is not None and torch.all(ro.w_skip.grad[0] == 0)
    net.apply_masks()
    assert torch.all(ro.w_skip[0] == 0)
