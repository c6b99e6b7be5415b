"""Least-squares readout (``train.readout_init = "least-squares"``): the features reproduce the
readout, the fit is the stationary point of the loss that the gradient methods differentiate,
and bad input is named."""

from __future__ import annotations

import pytest
import torch

from eventbench.core import SNN, LayerSpec, LIFParams, NetworkSpec, Normal, SurrogateBPTT
from eventbench.eventprop.method import EventProp
from eventbench.readout.losses import VoltageMSE
from eventbench.readout.readouts import AvgVoltage, VoltageTrace
from eventbench.train.data import TensorSplit
from eventbench.train.readout_fit import fit_readout, readout_features

T, S, N_IN, N_OUT = 30, 12, 5, 2


def _net(skip: bool, bias: bool = True, method: object | None = None,
         dtype: torch.dtype = torch.float64) -> SNN:
    spec = NetworkSpec(
        n_inputs=N_IN,
        hidden=(LayerSpec(9, recurrent=True, init_ff=Normal(0.8, 1.0), init_rec=Normal(0.0, 0.3),
                          neuron=LIFParams(5e-3, 1e-3)),),
        n_outputs=N_OUT, dt_s=1e-3, n_steps=T, output_bias=bias, skip=skip,
        init_skip=Normal(0.0, 0.3) if skip else Normal(0.0, 0.0), init_out=Normal(0.0, 0.3),
        output=LIFParams(1e-3, 5e-4),
    )
    return SNN(spec, VoltageTrace(), method, seed=4, dtype=dtype)  # type: ignore[arg-type]


def _split(dtype: torch.dtype = torch.float64) -> TensorSplit:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(T, S, N_IN, generator=g) < 0.3).to(dtype) * 1.5
    y = torch.randn(T, S, N_OUT, generator=g, dtype=torch.float64).to(dtype)
    return TensorSplit("toy/train", x, y)


@pytest.mark.parametrize("skip", [True, False], ids=["skip", "no-skip"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_features_reproduce_the_readout(skip: bool, bias: bool) -> None:
    net = _net(skip, bias)
    sp = _split()
    f = readout_features(net, sp.x)
    ro = net.readout_layer
    parts = [ro.w] + ([ro.w_skip] if ro.w_skip is not None else [])
    theta = torch.cat([p.detach() for p in parts]
                      + ([ro.bias.detach().view(1, -1)] if ro.bias is not None else []))
    assert f.shape == (T, S, 9 + (N_IN if skip else 0) + (1 if bias else 0))
    with torch.no_grad():
        out = net(sp.x).readout
    assert out.abs().max() > 0.1
    torch.testing.assert_close(f @ theta, out, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "method", [EventProp(backend="torch"), EventProp(), SurrogateBPTT()],
    ids=["eventprop-torch", "eventprop-auto", "bptt"],
)
def test_fit_is_the_minimum_of_the_mse_the_methods_differentiate(method: object) -> None:
    """With ridge 0 the fitted readout zeroes the gradient of the washed-out per-step MSE with
    respect to every readout weight (the gradient the method itself computes), and lowers the
    loss from the initial readout."""
    net = _net(True, method=method)
    sp = _split()
    loss_fn = VoltageMSE(washout=4)

    def loss_and_grads() -> tuple[float, list[torch.Tensor]]:
        loss = loss_fn(net(sp.x).readout, sp.y)
        ro = net.readout_layer
        params = [ro.w, ro.w_skip, ro.bias]
        grads = torch.autograd.grad(loss, params)  # type: ignore[arg-type]
        return float(loss.detach()), list(grads)

    before, g0 = loss_and_grads()
    fit = fit_readout(net, sp, washout=4, ridge=0.0, batch_size=5)  # batches of 5, 5, 2
    after, g1 = loss_and_grads()
    assert fit.rows == (T - 4) * S and fit.features == 9 + N_IN + 1
    assert after < 0.9 * before
    # the loss is 1/2 the squared error summed over outputs, averaged over rows
    assert fit.rmse == pytest.approx((2 * after / N_OUT) ** 0.5, rel=1e-9)
    for a, b in zip(g0, g1, strict=True):
        assert float(b.abs().max()) < 1e-9 * max(1.0, float(a.abs().max()))


def test_fit_keeps_masked_connections_at_zero_and_uses_the_ridge() -> None:
    net = _net(True)
    ro = net.readout_layer
    assert ro.w_skip is not None and ro.mask_skip is not None
    ro.mask[0, 1] = False
    ro.mask_skip[2, :] = False
    net.apply_masks()
    sp = _split()
    fit_readout(net, sp, ridge=1e-6)
    assert ro.w[0, 1] == 0 and torch.all(ro.w_skip[2] == 0)
    assert ro.w[0, 0] != 0 and torch.all(ro.w_skip[1] != 0)
    small = ro.w_skip.detach().abs().sum()
    fit_readout(net, sp, ridge=1e3)
    assert ro.w_skip.detach().abs().sum() < 0.1 * small  # a large penalty shrinks the weights


def test_float32_network_is_fitted_in_float64() -> None:
    net = _net(True, dtype=torch.float32)
    sp = _split(torch.float32)
    fit = fit_readout(net, sp, ridge=0.0)
    ref = _net(True)
    fit64 = fit_readout(ref, _split())
    assert fit.rmse == pytest.approx(fit64.rmse, rel=1e-4)
    assert net.readout_layer.w.dtype == torch.float32


def test_bad_input_is_named() -> None:
    sp = _split()
    with pytest.raises(ValueError, match="VoltageTrace readout"):
        fit_readout(SNN(_net(True).spec, AvgVoltage()), sp)
    net = _net(True)
    with pytest.raises(ValueError, match=r"washout must be in \[0, 30\) steps, got 30"):
        fit_readout(net, sp, washout=T)
    with pytest.raises(ValueError, match="ridge penalty must be >= 0"):
        fit_readout(net, sp, ridge=-1.0)
    labels = TensorSplit("toy/labels", sp.x, torch.zeros(S, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"toy/labels.*regression targets \[30, b, 2\]"):
        fit_readout(net, labels)
    bad = TensorSplit("toy/nan", sp.x, sp.y.clone().index_fill_(0, torch.tensor([3]), float("nan")))
    with pytest.raises(ValueError, match=r"toy/nan.*NaN"):
        fit_readout(net, bad)
    w = net.readout_layer.w.detach().clone()
    with pytest.raises(ValueError, match="empty"):
        fit_readout(net, TensorSplit("toy/empty", sp.x[:, :0], sp.y[:, :0]))
    assert torch.equal(net.readout_layer.w, w)  # nothing written on failure
