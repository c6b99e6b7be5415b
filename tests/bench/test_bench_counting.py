"""Exact operation counts against brute-force enumeration, and unsupported-layer reporting."""

from __future__ import annotations

import pytest
import torch
from bench_helpers import brute_linear_ops, loader
from torch import Tensor, nn

import eventbench.bench as eb
from eventbench.bench.collector import Collector


def count(net: nn.Module, x: Tensor, mode: str = "exact", **kw: object) -> dict[str, eb.LayerOps]:
    with torch.no_grad(), Collector(net, mode, **kw) as col:  # type: ignore[arg-type]
        net(x)
        return col.end_batch(x.shape[0]).ops


def test_linear_effective_and_dense_match_enumeration(gen: torch.Generator) -> None:
    lin = nn.Linear(7, 5)
    with torch.no_grad():
        lin.weight[lin.weight.abs() < 0.2] = 0
    x = torch.relu(torch.randn(3, 4, 7, generator=gen))  # extra leading dim, exact zeros
    ops = count(lin, x)["<root>"]
    eff, dense = brute_linear_ops(x.reshape(-1, 7), lin.weight)
    assert (ops.effective_macs, ops.effective_acs, ops.dense) == (eff, 0, dense)
    assert 0 < eff < dense


def test_event_layer_counts_multiplicity() -> None:
    lin = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [1.0, 1.0, 0.0]]))
    x = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])  # event counts
    ops = count(lin, x, encoding=lambda n, m: "ac")["<root>"]
    # fan-out per input: [2, 1, 1]; events: [2, 1, 3]
    assert (ops.effective_acs, ops.effective_macs) == (2 * 2 + 1 * 1 + 3 * 1, 0)
    with pytest.raises(ValueError, match="non-integer"):
        count(lin, x * 0.5, encoding=lambda n, m: "ac")


def test_neurobench_mac_ac_rule_is_per_call_by_value() -> None:
    lin = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    net = nn.Sequential(lin)
    with torch.no_grad(), Collector(net, "neurobench") as col:
        net(torch.tensor([[1.0, -1.0]]))  # ternary -> AC
        net(torch.tensor([[0.0, 3.0]]))  # a 3 -> MAC (the whole call)
        ops = col.end_batch(1).ops["0"]
    assert (ops.effective_acs, ops.effective_macs, ops.dense) == (2, 1, 4)


@pytest.mark.parametrize(
    ("shape", "padding", "expected"),
    [((1, 1, 3, 3), 0, 9), ((1, 1, 12, 12), 0, 900), ((1, 1, 4, 4), 1, 100)],
)
def test_conv_golden_dense_counts(shape: tuple[int, ...], padding: int, expected: int) -> None:
    """NeuroBench fixtures (3x3 on 3x3 -> 9, on 12x12 -> 900); zero padding not counted."""
    conv = nn.Conv2d(1, 1, 3, padding=padding)
    ops = count(nn.Sequential(conv), torch.ones(shape))["0"]
    assert ops.dense == expected
    assert ops.effective_macs + ops.effective_acs == expected  # all-ones input, dense weights


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "circular"])
def test_conv_effective_matches_unfold_enumeration(
    gen: torch.Generator, padding_mode: str
) -> None:
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=1, groups=2, padding_mode=padding_mode)
    with torch.no_grad():
        conv.weight[conv.weight.abs() < 0.1] = 0
    x = torch.relu(torch.randn(3, 4, 9, 7, generator=gen))
    ops = count(conv, x)["<root>"]
    # enumeration: binarised convolution of the binarised input, summed
    xb = (x != 0).double()
    if padding_mode != "zeros":
        xb = nn.functional.pad(xb, [1, 1, 1, 1], mode=padding_mode)
        pad = 0
    else:
        pad = 1
    ref = nn.functional.conv2d(xb, (conv.weight != 0).double(), None, 2, pad, 1, 2)
    assert ops.effective_macs == int(ref.sum().item())
    assert count(conv, x[0])["<root>"].dense * 3 == ops.dense  # unbatched input works


def _unrolled_counts(rnn: nn.RNNBase, x: Tensor) -> tuple[int, int]:
    """Effective (pairs) and dense synaptic counts of a [T, B, F] input, by unrolling cells."""
    cell_cls = {nn.LSTM: nn.LSTMCell, nn.GRU: nn.GRUCell, nn.RNN: nn.RNNCell}[type(rnn)]
    dirs = 2 if rnn.bidirectional else 1
    h_size = rnn.hidden_size
    eff = dense = 0
    layer_in = x
    t_steps, b = x.shape[:2]
    for layer in range(rnn.num_layers):
        outs = []
        for d in range(dirs):
            sfx = "_reverse" if d else ""
            cell = (
                nn.RNNCell(layer_in.shape[-1], h_size, nonlinearity=rnn.nonlinearity)
                if isinstance(rnn, nn.RNN)
                else cell_cls(layer_in.shape[-1], h_size)
            )
            with torch.no_grad():
                cell.weight_ih.copy_(getattr(rnn, f"weight_ih_l{layer}{sfx}"))
                cell.weight_hh.copy_(getattr(rnn, f"weight_hh_l{layer}{sfx}"))
                cell.bias_ih.copy_(getattr(rnn, f"bias_ih_l{layer}{sfx}"))
                cell.bias_hh.copy_(getattr(rnn, f"bias_hh_l{layer}{sfx}"))
            h = torch.zeros(b, h_size)
            c = torch.zeros(b, h_size)
            seq: list[Tensor] = [torch.empty(0)] * t_steps
            steps = range(t_steps - 1, -1, -1) if d else range(t_steps)
            for t in steps:
                e1, d1 = brute_linear_ops(layer_in[t], cell.weight_ih)
                e2, d2 = brute_linear_ops(h, cell.weight_hh)
                eff += e1 + e2
                dense += d1 + d2
                if isinstance(cell, nn.LSTMCell):
                    h, c = cell(layer_in[t], (h, c))
                else:
                    h = cell(layer_in[t], h)
                seq[t] = h
            outs.append(torch.stack(seq))
        layer_in = torch.cat(outs, dim=-1)
    return eff, dense


@pytest.mark.parametrize("kind", [nn.RNN, nn.LSTM, nn.GRU])
@pytest.mark.parametrize(("layers", "bidir"), [(1, False), (2, True)])
def test_recurrent_layers_match_unrolled_cells(
    gen: torch.Generator, kind: type[nn.RNNBase], layers: int, bidir: bool
) -> None:
    torch.manual_seed(0)
    extra = {"nonlinearity": "relu"} if kind is nn.RNN else {}  # relu: exact zeros in h
    rnn = kind(5, 4, num_layers=layers, bidirectional=bidir, **extra)
    with torch.no_grad():
        rnn.weight_ih_l0[:, 1] = 0
        rnn.weight_hh_l0[0] = 0
    x = torch.relu(torch.randn(6, 3, 5, generator=gen))
    ops = count(rnn, x)["<root>"]
    eff, dense = _unrolled_counts(rnn, x)
    elementwise = {nn.RNN: 0, nn.LSTM: 3, nn.GRU: 3}[kind] * 4 * 6 * 3 * layers * (2 if bidir else 1)
    assert ops.dense == dense + elementwise
    assert ops.effective_macs == eff + elementwise
    assert ops.effective_acs == 0


def test_batch_first_and_explicit_state_give_same_counts(gen: torch.Generator) -> None:
    torch.manual_seed(1)
    tm = nn.GRU(3, 4, num_layers=2)
    bf = nn.GRU(3, 4, num_layers=2, batch_first=True)
    bf.load_state_dict(tm.state_dict())
    x = torch.randn(5, 2, 3, generator=gen)
    h0 = torch.zeros(2, 2, 4)
    a = count(tm, x)["<root>"]
    b = count(bf, x.transpose(0, 1).contiguous())["<root>"]
    with torch.no_grad(), Collector(tm, "exact") as col:
        tm(x, h0)
        c = col.end_batch(2).ops["<root>"]
    assert a == b == c


def test_cells_without_state(gen: torch.Generator) -> None:
    cell = nn.LSTMCell(4, 3)
    x = torch.randn(5, 4, generator=gen)
    ex = count(cell, x)["<root>"]
    e1, d1 = brute_linear_ops(x, cell.weight_ih)
    assert ex.effective_macs == e1 + 3 * 3 * 5  # no W_hh work on the zero state
    assert ex.dense == d1 + 5 * 12 * 3 + 3 * 3 * 5
    rnn_cell = nn.RNNCell(4, 3)
    net = nn.Sequential(rnn_cell)
    with torch.no_grad(), Collector(net, "neurobench") as col:
        net(x)
        with pytest.warns(eb.BenchWarning, match="without a state"):
            nb = col.end_batch(5)
    # NeuroBench would count sample 0 only; here every sample, and a note says so
    e_all, _ = brute_linear_ops(x, rnn_cell.weight_ih)
    assert nb.ops["0"].effective_macs == e_all
    assert "0:stateless-call" in col.unsupported


def test_unsupported_layers_are_reported_not_zero() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.fc = nn.Linear(4, 2)

        def forward(self, x: Tensor) -> Tensor:
            out: Tensor = self.fc(self.emb(x))
            return out

    net = Net()
    x = torch.randint(0, 10, (6,))
    dl = loader(x, torch.zeros(6, 2), 3)
    task = eb.Task("t", dl, metrics=("mse",))
    with pytest.warns(eb.BenchWarning) as rec:
        res = eb.run(task, net, metrics=["synaptic_operations", "activation_sparsity", "mse"])
    assert any("Embedding" in str(w.message) for w in rec)
    assert "emb" in res.unsupported
    assert res.metrics["activation_sparsity"] is None
    assert "activation_sparsity" in res.unsupported
    assert res.metrics["synaptic_operations"]["dense"] == 4 * 2  # the Linear still counts


def test_model_with_nothing_to_measure_is_explicit() -> None:
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(3, 2))

        def forward(self, x: Tensor) -> Tensor:
            return torch.relu(x @ self.w)

    dl = loader(torch.ones(4, 3), torch.zeros(4, 2), 2)
    task = eb.Task("t", dl, metrics=("mse",))
    for mode in ("exact", "neurobench"):
        with pytest.warns(eb.BenchWarning):
            res = eb.run(task, Functional(), mode=mode)  # type: ignore[arg-type]
        assert res.metrics["synaptic_operations"] is None
        assert res.metrics["connection_sparsity"] is None
        assert {"synaptic_operations", "activation_sparsity", "connection_sparsity"} <= set(
            res.unsupported
        )


def test_root_layer_counts_in_exact_mode_only() -> None:
    lin = nn.Linear(3, 2)
    dl = loader(torch.ones(4, 3), torch.zeros(4, 2), 2)
    task = eb.Task("t", dl, metrics=("mse",))
    ex = eb.run(task, lin, metrics=["synaptic_operations", "connection_sparsity"])
    assert ex.metrics["synaptic_operations"]["dense"] == 6.0
    assert ex.metrics["connection_sparsity"] == 0.0
    with pytest.warns(eb.BenchWarning) as rec:
        nb = eb.run(task, lin, mode="neurobench", metrics=["synaptic_operations"])
    assert any("connection layer" in str(w.message) for w in rec)
    assert nb.metrics["synaptic_operations"] is None


def _held_elements(obj: object, depth: int = 0, seen: set[int] | None = None) -> int:
    """Tensor elements reachable from a collector's attributes (containers and counters)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 4:
        return 0
    seen.add(id(obj))
    if isinstance(obj, Tensor):
        return obj.numel()
    if isinstance(obj, nn.Module):
        return 0  # the model's own tensors
    if isinstance(obj, dict):
        return sum(_held_elements(v, depth + 1, seen) for v in obj.values())
    if isinstance(obj, (list, tuple, set)):
        return sum(_held_elements(v, depth + 1, seen) for v in obj)
    if hasattr(obj, "__dict__"):
        return sum(_held_elements(v, depth + 1, seen) for v in vars(obj).values())
    return 0


def test_collector_memory_does_not_grow_with_steps() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(30, 20), nn.ReLU(), nn.GRUCell(20, 10), nn.Linear(10, 4))
    held = []
    for steps in (5, 200):
        with torch.no_grad(), Collector(net, "exact") as col:
            h = torch.zeros(8, 10)
            for _ in range(steps):
                z = net[1](net[0](torch.randn(8, 30)))
                h = net[2](z, h)
                net[3](h)
            held.append(_held_elements(col))
            ops = col.end_batch(8).ops
        assert ops["0"].calls == steps
    assert held[0] == held[1] > 0


def test_large_inputs_use_chunked_reductions_exactly(gen: torch.Generator) -> None:
    """Inputs above the chunk size (2**20 elements) take the chunked float path."""
    net = nn.Sequential(nn.Linear(600, 7), nn.ReLU())
    with torch.no_grad():
        net[0].weight[:, ::3] = 0
    x = torch.relu(torch.randn(2100, 600, generator=gen))
    with torch.no_grad(), Collector(net, "exact") as col:
        out = net(x)
        counts = col.end_batch(2100)
    eff, dense = brute_linear_ops(x, net[0].weight)
    assert (counts.ops["0"].effective_macs, counts.ops["0"].dense) == (eff, dense)
    big = torch.relu(torch.randn(1100, 1000, generator=gen))  # activation count, chunked too
    relu = nn.Sequential(nn.ReLU())
    with torch.no_grad(), Collector(relu, "exact") as col2:
        relu(big)
        act = col2.end_batch(1100).activations["0"]
    assert act == (int((big != 0).sum()), big.numel())
    assert counts.activations["1"] == (int((out != 0).sum()), out.numel())
