"""Runner results, provenance, the SQLite store (including concurrent writers) and reports."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import torch
from bench_helpers import loader
from torch import nn

import eventbench.bench as eb


def small_run(name: str = "mlp", hidden: int = 8, **kw: object) -> eb.RunResult:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 3))
    g = torch.Generator().manual_seed(0)
    dl = loader(torch.randn(12, 4, generator=g), torch.randint(0, 3, (12,), generator=g), 5)
    task = eb.Task("toy", dl, postprocessors=(eb.argmax,), execution_rate_hz=50.0)
    return eb.run(task, eb.TorchModel(net, name=name), **kw)  # type: ignore[arg-type]


def test_result_schema_and_provenance() -> None:
    r = small_run(seed=7)
    assert r.schema_version == eb.SCHEMA_VERSION == 1
    assert (r.task, r.model, r.mode, r.samples, r.batches) == ("toy", "mlp", "exact", 12, 3)
    p = r.provenance
    assert p.seed == 7 and p.device.startswith("cpu (") and p.device.endswith(" cores)") and p.execution_rate_hz == 50.0
    assert p.package_versions["torch"] == torch.__version__
    assert "eventbench" in p.package_versions and "python" in p.package_versions
    assert p.data_fingerprint is not None and len(p.data_fingerprint) == 64
    assert r.details["ops_per_layer"]["0"]["dense"] == 12 * 4 * 8
    back = eb.RunResult.from_json(r.to_json())
    assert back == r
    bad = json.loads(r.to_json())
    bad["schema_version"] = 99
    with pytest.raises(ValueError, match="schema version"):
        eb.RunResult.from_dict(bad)


def test_fingerprint_tracks_the_data() -> None:
    a = small_run().provenance.data_fingerprint
    b = small_run().provenance.data_fingerprint
    assert a == b
    net = nn.Linear(4, 3)
    dl = loader(torch.ones(4, 4), torch.zeros(4, dtype=torch.long), 2)
    c = eb.run(eb.Task("t", dl, postprocessors=(eb.argmax,)), net, metrics=["accuracy"])
    assert c.provenance.data_fingerprint != a
    full = eb.run(eb.Task("t", dl, postprocessors=(eb.argmax,)), net, metrics=["accuracy"], fingerprint="full")
    assert full.provenance.data_fingerprint not in (None, c.provenance.data_fingerprint)


def test_errors_in_the_model_are_not_swallowed() -> None:
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    dl = loader(torch.ones(2, 3), torch.zeros(2), 2)
    with pytest.raises(RuntimeError, match="boom"):
        eb.run(eb.Task("t", dl), Broken(), metrics=["accuracy"])


def test_store_roundtrip_and_queries(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "results.sqlite"
    r1 = small_run("small", 4, store=db)
    r2 = small_run("large", 16, store=db)
    r3 = small_run("large", 16, mode="neurobench")
    store = eb.ResultStore(db)
    store.add(r3)
    assert len(store) == 3
    assert store.get(r1.run_id) == r1
    assert [r.model for r in store.list(model="large")] == ["large", "large"]
    assert [r.run_id for r in store.list(mode="neurobench")] == [r3.run_id]
    big = store.list(where={"synaptic_operations.dense": (">", 100.0)})
    assert {r.model for r in big} == {"large"}
    assert "synaptic_operations.effective_macs" in store.metric_names()
    with pytest.raises(KeyError):
        store.get("nope")
    with pytest.raises(ValueError, match="operator"):
        store.list(where={"accuracy": ("; DROP", 1.0)})
    _ = r2


def test_store_two_processes_write_at_once(tmp_path: Path) -> None:
    """A child process and this one add results to the same file at the same time."""
    db = tmp_path / "shared.sqlite"
    base = small_run("w0")
    eb.ResultStore(db)  # create the schema first
    script = textwrap.dedent(
        f"""
        import dataclasses, sys, uuid
        import eventbench.bench as eb
        res = eb.RunResult.from_json(sys.stdin.readline())
        store = eb.ResultStore({str(db)!r})
        print("ready", flush=True)
        for i in range(60):
            store.add(dataclasses.replace(res, run_id=uuid.uuid4().hex, model="w1"))
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(base.to_json() + "\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "ready"
    store = eb.ResultStore(db, timeout_s=60)
    for _ in range(60):
        store.add(dataclasses.replace(base, run_id=uuid.uuid4().hex))
    _, err = child.communicate(timeout=180)
    assert child.returncode == 0, err
    assert len(store) == 120
    assert len(store.list(model="w0")) == len(store.list(model="w1")) == 60


def test_markdown_and_csv(tmp_path: Path) -> None:
    rs = [small_run("a", 4), small_run("b", 16)]
    md = eb.to_markdown(rs)
    lines = md.splitlines()
    assert lines[0].startswith("| run | task | model | mode | epochs | accuracy")
    assert lines[2].startswith(f"| {rs[0].run_id[:8]} | toy | a | exact | n/a |")
    text = eb.to_csv(rs, tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text() == text
    header, row_a = text.splitlines()[:2]
    cols = header.split(",")
    assert cols[:6] == ["run", "task", "model", "mode", "epochs", "execution_rate_hz"]
    assert row_a.split(",")[:6] == [rs[0].run_id, "toy", "a", "exact", "", "50"]
    dense = float(row_a.split(",")[cols.index("synaptic_operations.dense")])
    assert dense == rs[0].metric("synaptic_operations.dense") == (4 * 4 + 4 * 3)


def test_one_number_format() -> None:
    values = (47360, 9472.0, 1558.894, 74490.0, 0.963812, 12.3, 0.0, 7.4e-05, -3.25, None)
    assert [eb.format_number(v) for v in values] == [
        "47,360", "9,472", "1,559", "74,490", "0.9638", "12.30", "0", "7.400e-05", "-3.250", "n/a",
    ]


def test_regression_metrics_and_run_ids_in_the_tables() -> None:
    rs = [small_run("a", 4), small_run("a", 4)]
    rs = [dataclasses.replace(r, metrics={**r.metrics, "smape": 12.5, "mse": 0.25, "r2": 0.75,
                                          "training": {"epochs": 7}}) for r in rs]
    md = eb.to_markdown(rs)
    header, _, row1, row2 = md.splitlines()[:4]
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols[:9] == ["run", "task", "model", "mode", "epochs", "accuracy", "smape", "mse", "r2"]
    assert row1 != row2  # identical runs stay distinguishable by their id
    cells = [c.strip() for c in row1.strip("|").split("|")]
    assert cells[4:9] == ["7", cells[5], "12.50", "0.2500", "0.7500"]


def test_markdown_lists_unsupported() -> None:
    dl = loader(torch.ones(2, 3), torch.zeros(2, 2), 2)
    with pytest.warns(eb.BenchWarning):
        r = eb.run(eb.Task("t", dl, metrics=("mse",)), nn.Linear(3, 2), metrics=["mse", "activation_sparsity"])
    md = eb.to_markdown([r], columns=["mse", "activation_sparsity"])
    assert "| n/a |" in md and "Not measured:" in md
    assert "activation_sparsity: activation_sparsity" not in md
    assert "): activation_sparsity: no activation module found" in md


def test_pareto_front() -> None:
    pts = [(10.0, 0.5), (5.0, 0.6), (20.0, 0.9), (30.0, 0.85), (5.0, 0.4), (1.0, 0.1)]
    assert eb.pareto_front(pts) == [5, 1, 2]


def test_tradeoff_plot_has_ac_and_mac_panels_and_the_legend_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    rs = [small_run("a", 4), small_run("b", 16)]
    rs = [dataclasses.replace(r, metrics={**r.metrics, "accuracy": 1.0, "synaptic_operations":
                                          {"effective_acs": 100.0 * (i + 1), "effective_macs": 50.0}})
          for i, r in enumerate(rs)]
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to inspect it
    eb.plot_tradeoff(rs, tmp_path / "t.png")
    (fig,) = figures
    ac, mac = fig.axes
    assert ac.get_xlabel() == "effective synaptic ACs per sample"
    assert mac.get_xlabel() == "effective synaptic MACs per sample"
    assert ac.get_ylabel() == "accuracy" and ac.get_ylim()[1] == 1.0
    legend = mac.get_legend()
    assert legend.get_bbox_to_anchor().x0 > mac.get_window_extent().x1  # right of the data
    texts = [t.get_text() for t in legend.get_texts()]
    assert f"a ({rs[0].run_id[:8]})" in texts and any("MACs" in t for t in texts)


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plots(tmp_path: Path, suffix: str) -> None:
    pytest.importorskip("matplotlib")
    rs = [small_run("a", 4), small_run("b", 16), small_run("c", 32)]
    out = eb.plot_tradeoff(rs, tmp_path / f"pareto{suffix}")
    data = out.read_bytes()
    assert data[:4] == b"\x89PNG" if suffix == ".png" else b"<svg" in data[:500]
    fp = eb.plot_accuracy_vs_footprint(rs, tmp_path / f"fp{suffix}")
    assert fp.stat().st_size > 1000
    with pytest.raises(ValueError, match=r"png or \.svg"):
        eb.plot_tradeoff(rs, tmp_path / "x.pdf")


def test_default_store_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTBENCH_STORE", str(tmp_path / "env.sqlite"))
    r = small_run(store=True)
    assert eb.ResultStore().get(r.run_id) == r
    assert (tmp_path / "env.sqlite").exists()
