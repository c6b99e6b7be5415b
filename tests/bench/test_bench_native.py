"""EventBench's native SNN adapter: counts from the spike records against dense enumeration."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import eventbench.bench as eb

core = pytest.importorskip("eventbench.core")

T, B = 25, 4


def make_net(recurrent: bool = True) -> core.SNN:
    spec = core.NetworkSpec(
        n_inputs=6,
        hidden=(core.LayerSpec(8, recurrent=recurrent), core.LayerSpec(5)),
        n_outputs=3,
        dt_s=1e-3,
        n_steps=T,
    )
    net = core.SNN(spec, method=core.SurrogateBPTT(), seed=0)
    with torch.no_grad():
        for layer in net.layers:
            layer.w_ff.mul_(6.0)
        net.layers[0].mask_ff[0, :4] = False  # pruned synapses
        net.apply_masks()
    return net


def inputs(gen: torch.Generator, graded: bool) -> Tensor:
    x = (torch.rand(T, B, 6, generator=gen) < 0.3).float()
    if graded:
        x = x * torch.randint(1, 3, x.shape, generator=gen).float()
    return x


def dense_reference(net: core.SNN, x: Tensor) -> tuple[int, int, list[int]]:
    """(effective ACs, dense ops, spikes per layer) by dense matrix enumeration."""
    with torch.no_grad():
        out = net(x)
    t = net.tensors()
    nzw = [(w != 0).double() for w in t.w_ff]
    eff = int((x.double() @ nzw[0]).sum().item())  # each count k is k events
    dense = T * B * sum(w.numel() for w in t.w_ff) + T * B * t.w_out.numel()
    targets = [*t.w_ff[1:], t.w_out]
    for li, rec in enumerate(out.spikes):
        z = rec.dense(1, T, torch.float64)  # stamps 1..T-1 are delivered, stamp T is not
        eff += int((z @ (targets[li] != 0).double()).sum().item())
        if t.w_rec[li] is not None:
            w_rec = t.w_rec[li]
            assert w_rec is not None
            eff += int((z @ (w_rec != 0).double()).sum().item())
            dense += T * B * w_rec.numel()
    return eff, dense, [r.n_spikes for r in out.spikes]


@pytest.mark.parametrize("graded", [False, True])
def test_native_counts_match_dense_enumeration(gen: torch.Generator, graded: bool) -> None:
    net = make_net()
    x = inputs(gen, graded)
    eff, dense, spikes = dense_reference(net, x)
    assert all(s > 0 for s in spikes)  # the check is not vacuous
    model = eb.NativeSNNModel(net)
    session = model.counting_session("exact", frozenset({"ops"}))
    with torch.no_grad(), session:
        model(x)
        counts = session.end_batch(B)
    total = eb.LayerOps()
    for ops in counts.ops.values():
        total += ops
    assert (total.effective_acs, total.effective_macs, total.dense) == (eff, 0, dense)
    assert counts.activations["layers.0"] == (spikes[0], T * B * 8)
    assert counts.membrane["layers.1"].dense == T * B * 5


def test_native_neurobench_mode_counts_graded_steps_as_macs(gen: torch.Generator) -> None:
    net = make_net(recurrent=False)
    x = inputs(gen, graded=True)
    model = eb.NativeSNNModel(net)
    session = model.counting_session("neurobench", frozenset({"ops"}))
    with torch.no_grad(), session:
        model(x)
        ops0 = session.end_batch(B).ops["layers.0.ff"]
    fan = (net.tensors().w_ff[0] != 0).sum(1)
    per_step = ((x != 0).sum(1) * fan).sum(1)
    graded = (x > 1).flatten(1).any(1)
    assert ops0.effective_macs == int(per_step[graded].sum()) > 0
    assert ops0.effective_acs == int(per_step[~graded].sum())


def test_native_end_to_end_run(gen: torch.Generator) -> None:
    net = make_net()
    xs = torch.stack([inputs(gen, False) for _ in range(3)], 0)  # 3 batches of [T, B, 6]
    data = [(xs[i], torch.randint(0, 3, (B,), generator=gen)) for i in range(3)]
    task = eb.Task("native", data, batch_dim=1, postprocessors=(eb.argmax,), execution_rate_hz=1000.0)
    res = eb.run(task, eb.NativeSNNModel(net))
    m = res.metrics
    assert res.samples == 3 * B and res.unsupported == {}
    assert set(m) >= {"accuracy", "synaptic_operations", "membrane_updates", "neuron_operations"}
    assert m["membrane_updates"] == T * (8 + 5 + 3)
    assert m["neuron_operations"] == {"effective": T * (13 * 5 + 3 * 4), "dense": T * (13 * 5 + 3 * 4)}
    assert m["synaptic_operations"]["effective_macs"] == 0.0
    eff = sum(dense_reference(net, xs[i])[0] for i in range(3))
    assert m["synaptic_operations"]["effective_acs"] == eff / (3 * B)
    n_syn = 6 * 8 + 8 * 8 + 8 * 5 + 5 * 3
    assert m["connection_sparsity"] == 4 / n_syn
    params = sum(p.numel() * p.element_size() for p in net.parameters())
    masks = sum(b.numel() * b.element_size() for b in net.buffers())
    assert m["footprint"] == params + masks
    assert m["state_bytes_per_sample"] == 2 * 16 * 4
    assert res.provenance.execution_rate_hz == 1000.0


def test_native_adapter_rejects_other_modules() -> None:
    with pytest.raises(TypeError, match=r"eventbench\.core\.SNN"):
        eb.NativeSNNModel(torch.nn.Linear(2, 2))  # type: ignore[arg-type]


def test_harness_runs_without_training_code() -> None:
    """A user with only a trained torch model: no eventbench.train import on the way, and
    eventbench.core is imported by the harness only inside the native adapter (lazily)."""
    import ast
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, torch\n"
        "import eventbench.bench as eb\n"
        "from torch.utils.data import DataLoader, TensorDataset\n"
        "dl = DataLoader(TensorDataset(torch.randn(8, 4), torch.zeros(8, dtype=torch.long)), batch_size=4)\n"
        "net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())\n"
        "r = eb.run(eb.Task('t', dl, postprocessors=(eb.argmax,)), net, fingerprint='none')\n"
        "assert r.metrics['synaptic_operations']['dense'] == 12.0\n"
        "bad = [m for m in sys.modules if m.startswith('eventbench.train')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    root = Path(eb.__file__).parent
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            else:
                continue
            for mod in mods:
                assert not mod.startswith("eventbench.train"), path
                if mod.startswith("eventbench.core"):
                    # only in native.py, inside a function or under TYPE_CHECKING
                    assert path.name == "native.py" and node.col_offset > 0, (path, node.lineno)


@pytest.mark.parametrize("kind", ["spikes", "counts", "currents"])
def test_native_counts_the_input_to_readout_skip(gen: torch.Generator, kind: str) -> None:
    """The skip costs one operation per input event and non-zero skip weight, over the steps
    0..T-2 (the last step's input would arrive after the trial); dense T x n_in x n_out."""
    spec = core.NetworkSpec(n_inputs=6, hidden=(core.LayerSpec(8),), n_outputs=3, dt_s=1e-3,
                            n_steps=T, skip=True, init_skip=core.Normal(0.0, 1.0))
    net = core.SNN(spec, method=core.SurrogateBPTT(), seed=0)
    with torch.no_grad():
        net.readout_layer.mask_skip[1, :2] = False
        net.apply_masks()
    x = inputs(gen, kind != "spikes")
    if kind == "currents":
        x = x * 0.3
    model = eb.NativeSNNModel(net)
    session = model.counting_session("exact", frozenset({"ops"}))
    with torch.no_grad(), session:
        model(x)
        ops = session.end_batch(B).ops["skip"]
    fan = (net.tensors().w_skip != 0).double()
    assert fan.sum() == 6 * 3 - 2
    expected = int((x[:-1].double() @ fan).sum().item())
    assert expected > 0
    if kind == "currents":  # one multiply-accumulate per non-zero entry and synapse
        macs = int(((x[:-1] != 0).double() @ fan).sum().item())
        assert (ops.effective_acs, ops.effective_macs) == (0, macs)
    else:  # a count k is k events
        assert (ops.effective_acs, ops.effective_macs) == (expected, 0)
    assert ops.dense == T * B * 6 * 3
    assert "skip" in dict(model.effective_weights())
    assert model.connection_counts().zeros == 2
