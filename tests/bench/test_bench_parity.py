"""``neurobench`` mode against the official NeuroBench 2.3.0 package, and ``exact`` mode's
documented differences from it, on SNN and ANN, feed-forward, conv and recurrent models."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from bench_helpers import CellNet, loader
from torch import Tensor, nn

import eventbench.bench as eb

pytestmark = pytest.mark.peers

nb_bench = pytest.importorskip("neurobench.benchmarks")
snn = pytest.importorskip("snntorch")
nb_models = pytest.importorskip("neurobench.models")
nb_static = pytest.importorskip("neurobench.metrics.static")
nb_workload = pytest.importorskip("neurobench.metrics.workload")

OFFICIAL_KEYS = {
    "Footprint": "footprint",
    "ParameterCount": "parameter_count",
    "ConnectionSparsity": "connection_sparsity",
    "ClassificationAccuracy": "accuracy",
    "MSE": "mse",
    "SMAPE": "smape",
    "R2": "r2",
    "ActivationSparsity": "activation_sparsity",
    "ActivationSparsityByLayer": "activation_sparsity_by_layer",
    "SynapticOperations": "synaptic_operations",
    "MembraneUpdates": "membrane_updates",
    "NeuronOperations": "neuron_operations",
}
SUBKEYS = {
    "Effective_MACs": "effective_macs",
    "Effective_ACs": "effective_acs",
    "Dense": "dense",
    "Effective Neuron Ops": "effective",
    "Neuron Dense Ops": "dense",
}
STATIC = ("Footprint", "ParameterCount", "ConnectionSparsity")


def official(
    model: Any, dl: Any, post: list[Callable[[Tensor], Tensor]], names: list[str]
) -> dict[str, Any]:
    """Run the official Benchmark and translate its keys to ours."""
    static = [getattr(nb_static, n) for n in names if n in STATIC]
    work = [getattr(nb_workload, n) for n in names if n not in STATIC]
    bench = nb_bench.Benchmark(model, dl, [], post, [static, work])
    res = bench.run(quiet=True)
    bench.workload_metric_manager.cleanup_hooks(model)
    out: dict[str, Any] = {}
    for k, v in res.items():
        if isinstance(v, dict) and k != "ActivationSparsityByLayer":
            v = {SUBKEYS[s]: x for s, x in v.items()}
        out[OFFICIAL_KEYS[k]] = v
    return out


def ours(
    adapter: eb.ModelAdapter,
    dl: Any,
    post: tuple[Callable[[Tensor], Tensor], ...],
    names: list[str],
    mode: str,
) -> eb.RunResult:
    task = eb.Task("parity", dl, postprocessors=post)
    return eb.run(task, adapter, mode=mode, metrics=[OFFICIAL_KEYS[n] for n in names])  # type: ignore[arg-type]


def assert_same(nb: dict[str, Any], res: eb.RunResult) -> None:
    for k, v in nb.items():
        assert res.metrics[k] == v, f"{k}: official {v!r} vs ours {res.metrics[k]!r}"


CLASSIFY = [
    "Footprint",
    "ParameterCount",
    "ConnectionSparsity",
    "ClassificationAccuracy",
    "ActivationSparsity",
    "ActivationSparsityByLayer",
    "SynapticOperations",
]
SNN_METRICS = [*CLASSIFY, "MembraneUpdates", "NeuronOperations"]


def appendix_snn(seed: int = 0) -> nn.Sequential:
    """The spec's appendix SNN: Linear20->32, Leaky, Linear32->5, Leaky(output), 5 columns pruned."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(20, 32),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(32, 5),
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )
    with torch.no_grad():
        net[0].weight[:, :5] = 0
        net[0].weight.mul_(4)
    return net


@pytest.mark.parametrize("graded", [False, True])
def test_snntorch_snn_matches_official(graded: bool) -> None:
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(64, 10, 20, generator=g) < 0.2).float()
    if graded:  # event counts 0..3: NeuroBench's value rule turns the first layer into MACs
        x = x * torch.randint(1, 4, x.shape, generator=g).float()
    y = torch.randint(0, 5, (64,), generator=g)
    dl = loader(x, y, 24)
    net = appendix_snn()
    nb = official(nb_models.SNNTorchModel(copy.deepcopy(net)), dl, [eb.choose_max_count], SNN_METRICS)
    assert nb["footprint"] == 3388 and nb["parameter_count"] == 837
    assert nb["connection_sparsity"] == 0.2
    assert nb["synaptic_operations"]["dense"] == 8000.0  # appendix A
    assert nb["membrane_updates"] == 370.0  # 37 neurons x 10 steps
    assert nb["neuron_operations"] == {"effective": 1480.0, "dense": 1480.0}
    adapter = eb.SNNTorchModel(copy.deepcopy(net), input_events=True)
    res = ours(adapter, dl, (eb.choose_max_count,), SNN_METRICS, "neurobench")
    assert_same(nb, res)
    ex = ours(eb.SNNTorchModel(copy.deepcopy(net), input_events=True), dl, (eb.choose_max_count,), SNN_METRICS, "exact")
    nb_ops, ex_ops = nb["synaptic_operations"], ex.metrics["synaptic_operations"]
    assert ex_ops["dense"] == nb_ops["dense"]
    assert ex_ops["effective_macs"] == 0.0  # declared events: every synaptic op is an AC
    if graded:
        assert nb_ops["effective_macs"] > 0  # by value: counts >= 2 make the layer MACs
        # exact counts a count k as k events; NeuroBench counts one operation per non-zero
        first = ex.details["ops_per_layer"]["0"]
        w_fan = (net[0].weight != 0).sum(0).double()
        assert first["effective_acs"] == int((x.sum((0, 1)).double() * w_fan).sum().item())
    else:
        assert ex_ops["effective_acs"] == nb_ops["effective_acs"] + nb_ops["effective_macs"]
    assert ex.metrics["accuracy"] == pytest.approx(nb["accuracy"], abs=1e-7)
    assert ex.metrics["footprint"] == 3388  # state buffers excluded whatever the history
    assert ex.metrics["state_bytes_per_sample"] == (32 + 5) * 4


def test_footprint_state_policy_against_official() -> None:
    """NeuroBench's footprint depends on the last batch size; exact mode's does not."""
    net = appendix_snn()
    x = (torch.rand(40, 10, 20) < 0.2).float()
    y = torch.zeros(40, dtype=torch.long)
    dl = loader(x, y, 24)  # last batch of 16
    model = nb_models.SNNTorchModel(net)
    official(model, dl, [eb.choose_max_count], ["ClassificationAccuracy"])
    after = nb_static.Footprint()(model)
    assert after == 5756  # appendix A: after a last batch of 16
    assert eb.footprint(net, "neurobench") == 5756
    adapter = eb.SNNTorchModel(net)
    assert eb.footprint(net, "exact", adapter.state_buffers()) == 3388


def mlp() -> nn.Sequential:
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(200, 32), nn.ReLU(), nn.Linear(32, 5))


def test_ann_mlp_matches_official() -> None:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(64, 10, 20, generator=g)
    y = torch.randint(0, 5, (64,), generator=g)
    dl = loader(x, y, 24)
    net = mlp()
    nb = official(nb_models.TorchModel(copy.deepcopy(net)), dl, [eb.argmax], CLASSIFY)
    assert nb["parameter_count"] == 6597 and nb["footprint"] == 26388  # appendix A
    assert nb["synaptic_operations"]["dense"] == 6560.0
    res = ours(eb.TorchModel(copy.deepcopy(net)), dl, (eb.argmax,), CLASSIFY, "neurobench")
    assert_same(nb, res)
    ex = ours(eb.TorchModel(copy.deepcopy(net)), dl, (eb.argmax,), CLASSIFY, "exact")
    assert ex.metrics["synaptic_operations"] == nb["synaptic_operations"]
    # exact mode keys layers by qualified name
    assert set(ex.metrics["activation_sparsity_by_layer"]) == {"2"}


def conv_net() -> nn.Sequential:
    torch.manual_seed(2)
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2, groups=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 5),
    )
    with torch.no_grad():
        net[0].weight[0, 0] = 0  # some pruned kernels
    return net


def conv13_net() -> nn.Module:
    torch.manual_seed(3)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv1d(3, 4, 3, padding=2, dilation=2)
            self.a1 = nn.ReLU()
            self.c3 = nn.Conv3d(1, 2, (2, 3, 3), padding=(0, 1, 1))
            self.a3 = nn.ReLU()
            self.fc = nn.Linear(4 * 4 + 2 * 3 * 4 * 4, 3)

        def forward(self, x: Tensor) -> Tensor:
            a = self.a1(self.c1(x[:, :3, :, 0]))  # [B, 4, 4]
            b = self.a3(self.c3(x.unsqueeze(1)))  # [B, 2, 3, 4, 4]
            out: Tensor = self.fc(torch.cat([a.flatten(1), b.flatten(1)], 1))
            return out

    return Net()


@pytest.mark.parametrize("factory", [conv_net, conv13_net])
def test_conv_matches_official(factory: Callable[[], nn.Module]) -> None:
    g = torch.Generator().manual_seed(7)
    if factory is conv_net:
        x = torch.relu(torch.randn(30, 2, 8, 8, generator=g))  # real inputs with exact zeros
    else:
        x = (torch.rand(30, 4, 4, 4, generator=g) < 0.3).float()  # binary: ACs by value
    y = torch.randint(0, 3, (30,), generator=g)
    dl = loader(x, y, 8)
    net = factory()
    nb = official(nb_models.TorchModel(copy.deepcopy(net)), dl, [eb.argmax], CLASSIFY)
    res = ours(eb.TorchModel(copy.deepcopy(net)), dl, (eb.argmax,), CLASSIFY, "neurobench")
    assert_same(nb, res)
    assert res.metrics["synaptic_operations"]["effective_macs"] > 0


@pytest.mark.parametrize("cell", ["lstm", "rnn", "gru"])
def test_recurrent_cells_match_official(cell: str) -> None:
    torch.manual_seed(4)
    mod = {"lstm": nn.LSTMCell(6, 5), "rnn": nn.RNNCell(6, 5), "gru": nn.GRUCell(6, 5)}[cell]
    with torch.no_grad():
        mod.weight_ih[:, 0] = 0
        mod.weight_hh[1] = 0
    net = CellNet(mod, 3)
    g = torch.Generator().manual_seed(8)
    x = torch.relu(torch.randn(20, 4, 6, generator=g))
    y = torch.randint(0, 3, (20,), generator=g)
    dl = loader(x, y, 8)
    names = ["ConnectionSparsity", "ClassificationAccuracy", "SynapticOperations"]
    nb = official(nb_models.TorchModel(copy.deepcopy(net)), dl, [eb.argmax], names)
    res = ours(eb.TorchModel(copy.deepcopy(net)), dl, (eb.argmax,), names, "neurobench")
    assert_same(nb, res)


def test_lstm_layer_unsupported_in_neurobench_mode_is_explicit() -> None:
    """Appendix A corner case: NeuroBench silently reports the Linear only (40 ops)."""

    class LSTMNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(20, 8, batch_first=True)
            self.fc = nn.Linear(8, 5)

        def forward(self, x: Tensor) -> Tensor:
            out: Tensor = self.fc(self.lstm(x)[0][:, -1])
            return out

    torch.manual_seed(0)
    net = LSTMNet()
    x = torch.randn(32, 6, 20)
    y = torch.randint(0, 5, (32,))
    dl = loader(x, y, 8)
    nb = official(nb_models.TorchModel(copy.deepcopy(net)), dl, [eb.argmax], ["SynapticOperations"])
    assert nb["synaptic_operations"] == {"effective_macs": 40.0, "effective_acs": 0.0, "dense": 40.0}
    with pytest.warns(eb.BenchWarning, match="lstm"):
        res = ours(eb.TorchModel(copy.deepcopy(net)), dl, (eb.argmax,), ["SynapticOperations"], "neurobench")
    assert res.metrics["synaptic_operations"] == nb["synaptic_operations"]
    assert "lstm" in res.unsupported
    ex = ours(eb.TorchModel(copy.deepcopy(net)), dl, (eb.argmax,), ["SynapticOperations"], "exact")
    # exact: 6 steps x 4 gates x 8 x (20 + 8) pairs + 3 x 8 gate products per step, + Linear
    assert ex.metrics["synaptic_operations"]["dense"] == 6 * (4 * 8 * 28 + 3 * 8) + 40
    assert ex.unsupported == {}


def test_regression_metrics_match_official() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 2))
    g = torch.Generator().manual_seed(9)
    x = torch.randn(50, 2, generator=g)
    y = torch.randn(50, 2, generator=g)
    names = ["MSE", "SMAPE", "R2"]

    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: Tensor) -> Tensor:
            out: Tensor = self.net(x)
            return out

    model = Wrapped()
    dl = loader(x, y, 16)  # 16/16/16/2: the batch weighting matters
    nb = official(nb_models.TorchModel(copy.deepcopy(model)), dl, [], names)
    res = ours(eb.TorchModel(copy.deepcopy(model)), dl, (), names, "neurobench")
    assert_same(nb, res)
    ex = ours(eb.TorchModel(copy.deepcopy(model)), dl, (), names, "exact")
    with torch.no_grad():
        p = model(x).double()
    yd = y.double()
    assert ex.metrics["mse"] == pytest.approx(((p - yd) ** 2).mean().item(), rel=1e-12)
    r2 = 1 - ((yd - p) ** 2).sum(0) / ((yd - yd.mean(0)) ** 2).sum(0)
    assert ex.metrics["r2"] == pytest.approx(r2.mean().item(), rel=1e-10)
    assert ex.metrics["r2"] == pytest.approx(nb["r2"], abs=1e-5)


def test_official_drop_last_bias_is_fixed_in_exact_mode() -> None:
    """NeuroBench divides by len(dataset): 10/10 correct with a dropped batch reports 0.8."""

    class Oracle(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return x[:, 0]

    y = torch.arange(10) % 3
    x = torch.stack([y.float(), y.float()], 1)
    dl = loader(x, y.float(), 4, drop_last=True)
    nb = official(nb_models.TorchModel(Oracle()), dl, [], ["ClassificationAccuracy"])
    assert nb["accuracy"] == pytest.approx(0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = ours(eb.TorchModel(Oracle()), dl, (), ["ClassificationAccuracy"], "neurobench")
        ex = ours(eb.TorchModel(Oracle()), dl, (), ["ClassificationAccuracy"], "exact")
    assert res.metrics["accuracy"] == nb["accuracy"]
    assert ex.metrics["accuracy"] == 1.0 and ex.samples == 8
