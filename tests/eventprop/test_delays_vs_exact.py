"""Time-stepped EventProp with delays against the exact gradient of the continuous-time network
(the exact-time adjoint with delays on the event-driven float64 simulation, itself checked
against finite differences in ``test_exact_delays.py``): the weight and delay gradients converge
as ``dt`` shrinks, and reading them at the undelayed time is caught."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eventbench.core import SNN, Delays, LayerSpec, LIFParams, NetworkSpec, Normal
from eventbench.eventprop import EventProp
from eventbench.eventprop import exact as ex
from eventbench.readout import CrossEntropy, ExpWeightedVoltage

T_MS = 30.0
TM, TS = 20e-3, 5e-3


def _case(seed: int, recurrent: bool) -> tuple[ex.ExactNetwork, list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    rng = np.random.default_rng(seed)
    n_in, n_h, n_out = 3, 6, 2
    w_ff = rng.normal(2.2 / np.sqrt(n_in), 0.8 / np.sqrt(n_in), (n_in, n_h))
    d_ff = rng.integers(0, 60, (n_in, n_h)) * 1e-4  # multiples of 0.1 ms: exact on every grid
    w_rec = rng.normal(0.0, 0.3, (n_h, n_h)) if recurrent else None
    d_rec = rng.integers(0, 30, (n_h, n_h)) * 1e-4 if recurrent else None
    layer = ex.ExactLayer(w_ff=w_ff, w_rec=w_rec, d_ff=d_ff, d_rec=d_rec, tau_mem_s=TM, tau_syn_s=TS)
    net = ex.ExactNetwork(hidden=(layer,), out_w=rng.normal(0.0, 0.8, (n_h, n_out)), out_tau_mem_s=TM,
                          out_tau_syn_s=TS, out_bias=np.zeros(n_out))
    inputs = []
    for _ in range(2):
        slots = rng.choice(15 * n_in, size=3 * n_in, replace=False)
        t = (slots // n_in) * 1e-3 + 1e-3
        c = (slots % n_in).astype(np.int64)
        o = np.argsort(t, kind="stable")
        inputs.append((t[o], c[o]))
    return net, inputs, rng.integers(0, n_out, 2)


def _exact_grads(net: ex.ExactNetwork, inputs: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray) -> dict[str, np.ndarray]:
    total: dict[str, np.ndarray] = {}
    for (t, c), label in zip(inputs, y, strict=True):
        tr = ex.simulate(net, t, c, T_MS * 1e-3)
        z = torch.tensor(ex.readout(tr, "exp"), requires_grad=True)
        loss = CrossEntropy()(z.view(1, -1), torch.tensor([int(label)])) / len(inputs)
        (g,) = torch.autograd.grad(loss, [z])
        for k, v in ex.exact_adjoint_gradient(net, tr, g.numpy(), "exp").items():
            total[k] = total.get(k, 0.0) + v
    return total


def _engine_grads(net: ex.ExactNetwork, inputs: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray, dt_ms: float,
                  variant: str | None = None) -> dict[str, np.ndarray]:
    layer = net.hidden[0]
    rec = layer.w_rec is not None
    spec = NetworkSpec(
        n_inputs=3,
        hidden=(LayerSpec(6, recurrent=rec, neuron=LIFParams(TM, TS), delay_ff=Delays(max_s=10e-3),
                          delay_rec=Delays(max_s=10e-3) if rec else None),),
        n_outputs=2, dt_s=dt_ms * 1e-3, n_steps=round(T_MS / dt_ms), output=LIFParams(TM, TS),
        output_bias=True, init_out=Normal(),
    )
    snn = SNN(spec, ExpWeightedVoltage(), EventProp(backend="torch", _variant=variant), dtype=torch.float64)
    lay = snn.layers[0]
    with torch.no_grad():
        lay.w_ff.copy_(torch.from_numpy(layer.w_ff))
        lay.d_ff.copy_(torch.from_numpy(layer.d_ff))  # type: ignore[union-attr, arg-type]
        if rec:
            lay.w_rec.copy_(torch.from_numpy(layer.w_rec))  # type: ignore[union-attr, arg-type]
            lay.d_rec.copy_(torch.from_numpy(layer.d_rec))  # type: ignore[union-attr, arg-type]
        snn.readout_layer.w.copy_(torch.from_numpy(net.out_w))
        snn.readout_layer.bias.zero_()  # type: ignore[union-attr]
    n = spec.n_steps
    x = torch.zeros(n, 2, 3, dtype=torch.float64)
    for b, (t, c) in enumerate(inputs):
        x[np.rint(t / (dt_ms * 1e-3)).astype(np.int64), b, c] += 1.0
    CrossEntropy()(snn(x).readout, torch.from_numpy(y)).backward()
    out = {"hidden.0.w_ff": lay.w_ff.grad, "hidden.0.d_ff": lay.d_ff.grad}  # type: ignore[union-attr]
    if rec:
        out["hidden.0.w_rec"] = lay.w_rec.grad  # type: ignore[union-attr]
        out["hidden.0.d_rec"] = lay.d_rec.grad  # type: ignore[union-attr]
    return {k: v.numpy() for k, v in out.items() if v is not None}


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


@pytest.mark.parametrize("recurrent", [False, True], ids=["feed-forward", "recurrent"])
def test_delay_gradients_converge_to_the_exact_ones(recurrent: bool) -> None:
    net, inputs, y = _case(3, recurrent)
    counts = [int(sum(c.sum() for c in ex.simulate(net, t, ch, T_MS * 1e-3).spike_counts()[:-1])) for t, ch in inputs]
    assert min(counts) > 3  # hidden spikes carry the delay gradients
    exact = _exact_grads(net, inputs, y)
    coarse = _engine_grads(net, inputs, y, 0.1)
    fine = _engine_grads(net, inputs, y, 0.01)
    for k in coarse:
        assert np.linalg.norm(exact[k]) > 1e-6, k
        e_c, e_f = _rel(coarse[k], exact[k]), _rel(fine[k], exact[k])
        assert e_f < 0.08, (k, e_f)
        assert e_f < e_c or e_c < 0.02, (k, e_c, e_f)
    wrong = _engine_grads(net, inputs, y, 0.01, variant="delay_undelayed")
    assert _rel(wrong["hidden.0.d_ff"], exact["hidden.0.d_ff"]) > 5 * _rel(fine["hidden.0.d_ff"], exact["hidden.0.d_ff"])
