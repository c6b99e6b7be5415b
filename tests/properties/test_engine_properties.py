"""Property tests of the engine (hypothesis): batch independence, permutation equivariance of
hidden neurons, zero input gives zero gradient, and EventProp == BPTT forward."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from eventbench.core import SNN, LayerSpec, NetworkSpec, Normal
from eventbench.eventprop import EventProp
from eventbench.readout import CrossEntropy, ExpWeightedVoltage

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True)


def _net(seed: int, recurrent: bool, n_hidden: int = 7) -> SNN:
    spec = NetworkSpec(
        n_inputs=4,
        hidden=(LayerSpec(n_hidden, recurrent=recurrent, init_ff=Normal(0.6, 0.5), init_rec=Normal(0.0, 0.3)),),
        n_outputs=3,
        dt_s=1e-3,
        n_steps=30,
        init_out=Normal(0.0, 0.5),
    )
    return SNN(spec, ExpWeightedVoltage(), EventProp(), seed=seed, dtype=torch.float64)


def _input(seed: int, batch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(30, batch, 4, generator=g) < 0.2).double()


@SETTINGS
@given(seed=st.integers(0, 10_000), recurrent=st.booleans())
def test_samples_are_independent_of_their_batch(seed: int, recurrent: bool) -> None:
    net = _net(seed, recurrent)
    x = _input(seed, 4)
    full = net(x)
    for b in range(4):
        single = net(x[:, b : b + 1])
        torch.testing.assert_close(single.readout[0], full.readout[b], rtol=0, atol=1e-12)
        assert single.spikes[0].n_spikes == int((full.spikes[0].batch == b).sum())


@SETTINGS
@given(seed=st.integers(0, 10_000), recurrent=st.booleans())
def test_permuting_hidden_neurons_is_equivariant(seed: int, recurrent: bool) -> None:
    """Relabel hidden neurons (and their weights): the readout and its gradients are unchanged
    up to the same relabelling."""
    net = _net(seed, recurrent)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(seed))
    twin = _net(seed, recurrent)
    with torch.no_grad():
        twin.layers[0].w_ff.copy_(net.layers[0].w_ff[:, perm])
        if recurrent:
            assert net.layers[0].w_rec is not None and twin.layers[0].w_rec is not None
            twin.layers[0].w_rec.copy_(net.layers[0].w_rec[perm][:, perm])
        twin.readout_layer.w.copy_(net.readout_layer.w[perm])
    x = _input(seed + 1, 3)
    y = torch.tensor([0, 1, 2])
    a, b = net(x), twin(x)
    torch.testing.assert_close(a.readout, b.readout, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(a.spikes[0].counts()[:, perm], b.spikes[0].counts())
    CrossEntropy()(a.readout, y).backward()
    CrossEntropy()(b.readout, y).backward()
    assert net.layers[0].w_ff.grad is not None and twin.layers[0].w_ff.grad is not None
    torch.testing.assert_close(net.layers[0].w_ff.grad[:, perm], twin.layers[0].w_ff.grad, rtol=1e-9, atol=1e-12)


@SETTINGS
@given(seed=st.integers(0, 10_000), recurrent=st.booleans())
def test_zero_input_gives_zero_readout_and_zero_gradient(seed: int, recurrent: bool) -> None:
    net = _net(seed, recurrent)
    out = net(torch.zeros(30, 2, 4, dtype=torch.float64))
    assert out.spikes[0].n_spikes == 0
    assert float(out.readout.detach().abs().max()) == 0.0
    CrossEntropy()(out.readout, torch.tensor([0, 1])).backward()
    for p in net.parameters():
        assert p.grad is not None and float(p.grad.abs().max()) == 0.0
