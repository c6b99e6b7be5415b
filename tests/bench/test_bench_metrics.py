"""Workload and static metrics: exact accumulation, NeuroBench aggregation, golden values."""

from __future__ import annotations

import pytest
import torch
from bench_helpers import loader
from torch import Tensor, nn

import eventbench.bench as eb
from eventbench.bench.collector import BatchCounts
from eventbench.bench.metrics import SMAPE, ClassificationAccuracy


class Echo(nn.Module):
    """Returns its input: predictions are whatever the loader provides as inputs."""

    def forward(self, x: Tensor) -> Tensor:
        return x


def _accuracy_for(correct_per_batch: tuple[int, ...], sizes: tuple[int, ...], mode: str) -> float:
    preds, targets = [], []
    for c, n in zip(correct_per_batch, sizes, strict=True):
        preds.append(torch.ones(n, dtype=torch.long))
        targets.append(torch.tensor([1] * c + [0] * (n - c)))
    dl = loader(torch.cat(preds), torch.cat(targets), sizes[0])
    assert [len(b[0]) for b in dl] == list(sizes)
    res = eb.run(eb.Task("acc", dl), Echo(), mode=mode, metrics=["accuracy"])  # type: ignore[arg-type]
    v = res.metrics["accuracy"]
    assert isinstance(v, float)
    return v


@pytest.mark.parametrize(
    ("per_batch", "golden"),
    [((2, 5, 4), 0.17187499906867743), ((5, 7, 2), 0.21874999441206455)],
)
def test_appendix_accuracy_golden(per_batch: tuple[int, ...], golden: float) -> None:
    """Appendix A: 11/64 and 14/64 over batches of 24/24/16 (float32 batch means)."""
    assert _accuracy_for(per_batch, (24, 24, 16), "neurobench") == golden
    assert _accuracy_for(per_batch, (24, 24, 16), "exact") == sum(per_batch) / 64


def test_appendix_ann_static_and_dense_golden() -> None:
    """Appendix A ANN: Flatten-Linear200->32-ReLU-Linear32->5."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(200, 32), nn.ReLU(), nn.Linear(32, 5))
    assert eb.parameter_count(net) == 6597
    assert eb.footprint(net, "neurobench") == eb.footprint(net) == 26388
    assert eb.connection_sparsity(net, "neurobench") == 0.0
    dl = loader(torch.randn(64, 10, 20), torch.zeros(64, dtype=torch.long), 24)
    res = eb.run(eb.Task("t", dl, postprocessors=(eb.argmax,)), net, mode="neurobench")
    assert res.metrics["synaptic_operations"]["dense"] == 6560.0


def test_exact_metrics_do_not_depend_on_batch_split(gen: torch.Generator) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3), nn.Sigmoid())
    x = torch.randn(23, 6, generator=gen)
    y = torch.randint(0, 3, (23,), generator=gen)
    names = ["accuracy", "activation_sparsity", "activation_sparsity_by_layer", "synaptic_operations"]
    results = [
        eb.run(eb.Task("t", loader(x, y, bs), postprocessors=(eb.argmax,)), net, metrics=names)
        for bs in (23, 5, 7)
    ]
    for r in results[1:]:
        assert r.metrics == results[0].metrics
    nb = [
        eb.run(eb.Task("t", loader(x, y, bs), postprocessors=(eb.argmax,)), net, mode="neurobench", metrics=names)
        for bs in (23, 5)
    ]
    # NeuroBench's batch-weighted mean of per-batch ratios depends on the split
    assert nb[0].metrics["accuracy"] != nb[1].metrics["accuracy"] or nb[0].metrics[
        "activation_sparsity"
    ] != nb[1].metrics["activation_sparsity"]


def test_activation_sparsity_exact_value() -> None:
    net = nn.Sequential(nn.ReLU())
    x = torch.tensor([[1.0, -1.0, 0.0, 2.0], [-3.0, -1.0, -2.0, 5.0]])
    res = eb.run(eb.Task("t", loader(x, x, 2), metrics=()), net, metrics=["activation_sparsity"])
    assert res.metrics["activation_sparsity"] == 5 / 8


def test_smape_zero_over_zero() -> None:
    counts = BatchCounts(batch_size=2)
    p = torch.tensor([[0.0, 1.0], [2.0, 1.0]])
    y = torch.tensor([[0.0, 3.0], [2.0, -1.0]])
    ex = SMAPE("exact")
    ex.update(p, y, counts)
    assert ex.compute() == pytest.approx(200 / 4 * (0 + 2 / 4 + 0 + 2 / 2))
    assert ex.zero_zero == 1
    nb = SMAPE("neurobench", dataset_len=2)
    nb.update(p, y, counts)
    assert nb.compute() == 200.0  # one 0/0 element turns the batch into 200


def test_shape_mismatch_fails_loudly() -> None:
    m = ClassificationAccuracy("exact")
    with pytest.raises(ValueError, match="same shape"):
        m.update(torch.zeros(4, 1), torch.zeros(4), BatchCounts(batch_size=4))


def test_r2_exact_merges_batches_like_one_pass(gen: torch.Generator) -> None:
    x = torch.randn(37, 3, generator=gen) * 5 + 100  # large offset: naive sums would lose bits
    y = x + 0.1 * torch.randn(37, 3, generator=gen)
    one = eb.run(eb.Task("t", loader(x, y, 37), metrics=("r2",)), Echo(), metrics=["r2"])
    many = eb.run(eb.Task("t", loader(x, y, 4), metrics=("r2",)), Echo(), metrics=["r2"])
    assert many.metrics["r2"] == pytest.approx(one.metrics["r2"], rel=1e-12)
    xd, yd = x.double(), y.double()
    ref = (1 - ((yd - xd) ** 2).sum(0) / ((yd - yd.mean(0)) ** 2).sum(0)).mean()
    assert one.metrics["r2"] == pytest.approx(ref.item(), rel=1e-12)


def test_connection_sparsity_definitions_differ_on_biases() -> None:
    cell = nn.Sequential(nn.GRUCell(3, 2))
    with torch.no_grad():
        cell[0].weight_ih.zero_()
        cell[0].bias_ih.zero_()
    w = 6 * 3 + 6 * 2
    assert eb.connection_sparsity(cell, "exact") == 18 / w  # weights only
    assert eb.connection_sparsity(cell, "neurobench") == round((18 + 6) / (w + 12), 4)


def test_neurobench_mode_needs_dataset_len() -> None:
    data = [(torch.zeros(2, 3), torch.zeros(2, 3))]
    with pytest.raises(ValueError, match="dataset_len"):
        eb.run(eb.Task("t", data, metrics=("mse",)), Echo(), mode="neurobench", metrics=["mse"])
    res = eb.run(eb.Task("t", data, metrics=("mse",), dataset_len=2), Echo(), mode="neurobench", metrics=["mse"])
    assert res.metrics["mse"] == 0.0


def test_unknown_metric_and_mode_are_errors() -> None:
    data = [(torch.zeros(2, 3), torch.zeros(2, 3))]
    with pytest.raises(ValueError, match="unknown metrics"):
        eb.run(eb.Task("t", data), Echo(), metrics=["flops"])
    with pytest.raises(ValueError, match="unknown mode"):
        eb.run(eb.Task("t", data), Echo(), mode="fast")  # type: ignore[arg-type]


@pytest.mark.peers
def test_snntorch_membrane_and_neuron_ops_golden() -> None:
    """NeuroBench fixtures: Linear(20->5)+Leaky, all-ones input, 10 steps -> 1000 ACs, 50
    membrane updates, 200/200 neuron ops; with no input 20/200 (neurobench) vs 0/200 (exact)."""
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 5), snn.Leaky(beta=0.9, init_hidden=True, output=True))
    with torch.no_grad():
        net[0].weight.abs_().add_(0.01)
    names = ["synaptic_operations", "membrane_updates", "neuron_operations"]
    ones = loader(torch.ones(5, 10, 20), torch.zeros(5), 5)
    for mode in ("neurobench", "exact"):
        r = eb.run(eb.Task("t", ones), eb.SNNTorchModel(net, input_events=True), mode=mode, metrics=names)
        assert r.metrics["synaptic_operations"]["effective_acs"] == 1000.0
        assert r.metrics["membrane_updates"] == 50.0
        assert r.metrics["neuron_operations"] == {"effective": 200.0, "dense": 200.0}
    with torch.no_grad():
        net[0].bias.zero_()
    zeros = loader(torch.zeros(5, 10, 20), torch.zeros(5), 5)
    nb = eb.run(eb.Task("t", zeros), eb.SNNTorchModel(net), mode="neurobench", metrics=names)
    ex = eb.run(eb.Task("t", zeros), eb.SNNTorchModel(net), metrics=names)
    assert nb.metrics["neuron_operations"] == {"effective": 20.0, "dense": 200.0}
    assert ex.metrics["neuron_operations"] == {"effective": 0.0, "dense": 200.0}


@pytest.mark.peers
def test_snntorch_unsupported_neuron_type_is_explicit() -> None:
    snn = pytest.importorskip("snntorch")
    net = nn.Sequential(nn.Linear(4, 3), snn.RLeaky(beta=0.9, linear_features=3, init_hidden=True))
    dl = loader(torch.ones(2, 5, 4), torch.zeros(2), 2)
    with pytest.warns(eb.BenchWarning, match="RLeaky"):
        r = eb.run(eb.Task("t", dl), eb.SNNTorchModel(net, input_events=True), metrics=["neuron_operations", "synaptic_operations"])
    assert r.metrics["neuron_operations"] is None
    # RLeaky's recurrent Linear is found inside the neuron and counted as event-driven
    assert set(r.details["ops_per_layer"]) == {"0", "1.recurrent"}
    assert r.metrics["synaptic_operations"]["effective_macs"] == 0.0


def test_mode_differences_table() -> None:
    table = eb.render_differences()
    assert table.count("\n") == len(eb.MODE_DIFFERENCES) + 2
    assert "MAC vs AC" in table and "footprint" in table


@pytest.mark.gpu
def test_cuda_counts_equal_cpu_counts() -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6, 3))
    g = torch.Generator().manual_seed(0)
    dl = loader(torch.relu(torch.randn(10, 2, 8, generator=g)), torch.randint(0, 3, (10,), generator=g), 4)
    names = ["accuracy", "activation_sparsity", "synaptic_operations"]
    cpu = eb.run(eb.Task("t", dl, postprocessors=(eb.argmax,)), net, metrics=names)
    gpu = eb.run(eb.Task("t", dl, postprocessors=(eb.argmax,)), net, metrics=names, device="cuda")
    assert gpu.metrics == cpu.metrics
    assert gpu.provenance.device.startswith("cuda:0")


@pytest.mark.peers
def test_snntorch_layouts_and_custom_forward_agree() -> None:
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), snn.Leaky(beta=0.8, init_hidden=True, output=True))
    with torch.no_grad():
        net[0].weight.mul_(4)
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(8, 12, 6, generator=g) < 0.3).float()  # [B, T, F]
    y = torch.randint(0, 5, (8,), generator=g)
    names = ["accuracy", "activation_sparsity", "synaptic_operations", "membrane_updates"]
    bt = eb.run(eb.Task("t", loader(x, y, 4), postprocessors=(eb.choose_max_count,)),
                eb.SNNTorchModel(net, input_events=True), metrics=names)
    tb_data = [(x[i : i + 4].transpose(0, 1), y[i : i + 4]) for i in (0, 4)]  # [T, B, F]
    tb = eb.run(eb.Task("t", tb_data, postprocessors=(eb.choose_max_count,), batch_dim=1),
                eb.SNNTorchModel(net, input_events=True, time_dim=0), metrics=names)
    assert tb.metrics == bt.metrics

    class Looped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, xt: Tensor) -> Tensor:  # [T, B, F] -> [T, B, N] spikes
            snn.utils.reset(self.net)
            return torch.stack([self.net(s)[0] for s in xt])

    cf = eb.run(eb.Task("t", tb_data, postprocessors=(eb.choose_max_count,), batch_dim=1),
                eb.SNNTorchModel(Looped(), custom_forward=True, input_events=True), metrics=names)
    assert cf.metrics == bt.metrics
