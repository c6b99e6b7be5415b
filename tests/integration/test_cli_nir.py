"""``eventbench export CHECKPOINT --nir FILE`` and ``eventbench bench TASK --nir FILE``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from cli_helpers import TINY_YY, run_cli

from eventbench.bench import ResultStore
from eventbench.core import SNN, LayerSpec, NetworkSpec
from eventbench.tasks.pipeline import snn_from_checkpoint

nir = pytest.importorskip("nir")
ebnir = pytest.importorskip("eventbench.nir")

BENCH_SETS = ["--set", "data.max_train=160", "--set", "data.max_eval=100", "--set", "data.dt_ms=1.0",
              "--set", "train.eval_batch_size=100", "--set", "train.threads=1"]


def test_export_then_benchmark_the_graph(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = in_tmp / "s.sqlite"
    code, _, err = run_cli(["train", "yinyang", "--epochs", "1", "-o", "t1", "--quiet", *TINY_YY], capsys)
    assert code == 0, err
    code, out, err = run_cli(["export", "t1/best.pt", "--nir", "t1/net.nir"], capsys)
    assert code == 0, err
    assert "wrote t1/net.nir: 5 inputs, hidden [16], 3 CubaLI outputs" in out
    graph = nir.read("t1/net.nir")
    net = snn_from_checkpoint("t1/best.pt")
    torch.testing.assert_close(
        torch.as_tensor(graph.nodes["fc0"].weight), net.layers[0].w_ff.detach().T, rtol=0, atol=0
    )
    # the graph, benchmarked on the task's grid with the recipe's readout, scores exactly as
    # the checkpoint it came from
    code, out, err = run_cli(["bench", "yinyang", "--nir", "t1/net.nir", "--store", str(store),
                              *BENCH_SETS], capsys)
    assert code == 0, err
    code, _, err = run_cli(["bench", "yinyang", "--checkpoint", "t1/best.pt", "--store", str(store),
                            "--set", "train.threads=1"], capsys)
    assert code == 0, err
    runs = {r.model: r for r in ResultStore(store).list()}
    assert set(runs) == {"nir-net", "snn-eventprop"}
    a, b = runs["nir-net"], runs["snn-eventprop"]
    assert a.tags["nir"] == "t1/net.nir" and a.samples == b.samples == 100
    for m in ("accuracy", "parameter_count", "activation_sparsity", "synaptic_operations.effective_acs"):
        assert a.metric(m) == b.metric(m), m
    assert a.metric("parameter_count") == 5 * 16 + 16 * 3


def test_export_with_delays_writes_delay_nodes(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = in_tmp / "s.sqlite"
    delays = ["--set", "network.delay_ff_max_ms=3", "--set", "network.delay_ff_init_ms=0,3"]
    code, _, err = run_cli(["train", "yinyang", "--epochs", "1", "-o", "t2", "--quiet", *TINY_YY,
                            *delays], capsys)
    assert code == 0, err
    code, _, err = run_cli(["export", "t2/best.pt", "--nir", "t2/d.nir"], capsys)
    assert code == 0, err
    graph = nir.read("t2/d.nir")
    assert any(isinstance(n, nir.Delay) for n in graph.nodes.values())
    for args in (["--nir", "t2/d.nir", *BENCH_SETS], ["--checkpoint", "t2/best.pt"]):
        code, _, err = run_cli(["bench", "yinyang", *args, "--store", str(store),
                                "--set", "train.threads=1"], capsys)
        assert code == 0, err
    a, b = sorted(ResultStore(store).list(), key=lambda r: r.model)
    assert (a.model, b.model) == ("nir-d", "snn-eventprop")
    assert a.metric("accuracy") == b.metric("accuracy")
    assert a.metric("activation_sparsity") == b.metric("activation_sparsity")


def test_nir_cli_errors(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["bench", "yinyang", *BENCH_SETS], capsys)
    assert code != 0 and "exactly one of --checkpoint and --nir" in err
    wrong = SNN(NetworkSpec(n_inputs=7, hidden=(LayerSpec(4),), n_outputs=3, dt_s=1e-3, n_steps=10))
    ebnir.write(in_tmp / "wrong.nir", wrong)
    code, _, err = run_cli(["bench", "yinyang", "--nir", "wrong.nir", *BENCH_SETS], capsys)
    assert code == 1
    assert "has 7 inputs and 3 outputs; the task's data has 5 and 3" in err
    code, _, err = run_cli(["bench", "yinyang", "--nir", "wrong.nir", "--set", "train.loss=first-spike",
                            *BENCH_SETS], capsys)
    assert code == 1
    assert "needs a spiking readout population (CubaLIF), but 'readout' is a CubaLI" in err
    assert "train.loss = 'first-spike'" in err
    code, _, err = run_cli(["export", "missing.pt", "--nir", "x.nir"], capsys)
    assert code == 1 and "checkpoint 'missing.pt' does not exist" in err
    assert not (in_tmp / "x.nir").exists()
