"""``eventbench run / train / bench / report / compare`` end to end on tiny settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from cli_helpers import TINY_YY, run_cli

from eventbench.bench import ResultStore
from eventbench.train.checkpoint import load_checkpoint


def test_tasks_lists_every_task_with_availability(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["tasks"], capsys)
    assert code == 0
    for name in ("yinyang", "digits", "mnist", "shd", "ssc", "mackey-glass", "nhp-reaching"):
        assert name in out
    lines = {ln.split()[1]: ln for ln in out.splitlines() if ln.startswith("│ ") and ln.split()[1] in
             ("yinyang", "mnist")}
    assert "yes" in lines["yinyang"]
    assert "no" in lines["mnist"]


def test_run_writes_checkpoints_history_store_and_report(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = in_tmp / "store.sqlite"
    code, out, err = run_cli(
        ["run", "yinyang", "--epochs", "2", "-o", "r1", "--store", str(store), "--quiet", *TINY_YY],
        capsys,
    )
    assert code == 0, err
    run = in_tmp / "r1"
    for name in ("best.pt", "last.pt", "history.json", "recipe.toml", "report.md", "result.csv",
                 "curves.png", "tradeoff.png", "diagnostics.png", "raster.png", "rates.png",
                 "activity.npz"):
        assert (run / name).is_file(), name
    hist = json.loads((run / "history.json").read_text())
    assert [e["epoch"] for e in hist["epochs"]] == [0, 1]
    assert all(0.0 <= e["val_score"] <= 1.0 for e in hist["epochs"])
    assert hist["best_score"] == max(e["val_score"] for e in hist["epochs"])
    # training diagnostics per epoch and hidden layer
    first, second = hist["epochs"]
    (layer,) = second["hidden"]
    assert layer["neurons"] == 16 and 0 <= layer["silent"] <= 16 and layer["rate_hz"] > 0
    assert first["hidden"][0]["spikes_created"] is None
    assert layer["spikes_created"] - layer["spikes_deleted"] == (
        layer["spikes"] - first["hidden"][0]["spikes"])
    assert set(second["grad_norm"]) == {"layers.0.w_ff", "readout_layer.w"}
    assert second["guard_fraction"] == pytest.approx(second["guard_hits"] / layer["spikes"])
    # the result in the store
    results = ResultStore(store).list(task="yinyang")
    assert len(results) == 1
    r = results[0]
    assert r.model == "snn-eventprop" and r.samples == 100
    acc = r.metric("accuracy")
    assert acc is not None and 0.0 <= acc <= 1.0
    assert acc == pytest.approx(r.metric("test_score"))  # harness == training-code evaluation
    assert r.metric("training.epochs") == 2
    assert r.metric("synaptic_operations.effective_acs") > 0  # type: ignore[operator]
    assert r.metric("parameter_count") == 5 * 16 + 16 * 3
    assert r.tags["method"] == "eventprop" and r.tags["run_dir"] == "r1"
    # the last epoch's diagnostics are queryable numbers, the series are in the details
    assert r.metric("training.hidden.0.rate_hz") == pytest.approx(layer["rate_hz"])
    assert r.metric("training.hidden.0.silent") == layer["silent"]
    assert r.metric("training.hidden.0.spikes_deleted") == layer["spikes_deleted"]
    assert r.metric("training.guard_fraction") == pytest.approx(second["guard_fraction"])
    assert r.metric("training.grad_norm.layers.0.w_ff") == pytest.approx(
        second["grad_norm"]["layers.0.w_ff"])
    assert [e["epoch"] for e in r.details["training_diagnostics"]] == [1, 2]
    assert r.details["training_diagnostics"][1]["hidden"][0] == layer
    # the report and the printed table agree
    report = (run / "report.md").read_text()
    assert r.run_id in report and "| yinyang | snn-eventprop | exact |" in report
    assert "## Training diagnostics" in report
    for png in ("curves.png", "diagnostics.png", "raster.png", "rates.png", "tradeoff.png"):
        assert f"]({png})" in report, png
    assert f"| 2 | 0 | {layer['rate_hz']:.2f} | {layer['silent']} / 16 |" in report
    assert f"{acc:.4f}" in out
    # best.pt holds the best epoch's weights and the recipe
    best = load_checkpoint(run / "best.pt")
    assert best["epoch"] == hist["best_epoch"]
    assert best["task"] == "yinyang" and best["recipe"]["network.hidden"] == [16]
    assert (run / "recipe.toml").read_text().count("hidden = [16]") == 1


def test_train_then_bench_checkpoint_and_report(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = in_tmp / "s.sqlite"
    code, out, err = run_cli(
        ["train", "yinyang", "--epochs", "1", "-o", "t1", "--quiet", "--method", "bptt", *TINY_YY],
        capsys,
    )
    assert code == 0, err
    assert "test accuracy" in out
    code, out, err = run_cli(
        ["bench", "yinyang", "--checkpoint", "t1/best.pt", "--store", str(store),
         "--set", "train.threads=1"],
        capsys,
    )
    assert code == 0, err
    (r,) = ResultStore(store).list()
    # the same summary table as 'run', not a raw Markdown table
    assert f"yinyang / snn-bptt: test set (run {r.run_id[:8]})" in out
    assert "│ accuracy " in out and "│ parameters " in out and "|---|" not in out
    assert r.model == "snn-bptt"  # the recipe (method, sizes, grid) came from the checkpoint
    assert r.samples == 100 and r.tags["checkpoint"] == "t1/best.pt"
    assert r.metric("parameter_count") == 5 * 16 + 16 * 3
    # a report over the store
    code, out, err = run_cli(["report", "--store", str(store), "-o", "rep"], capsys)
    assert code == 0, err
    assert (in_tmp / "rep" / "report.md").is_file()
    assert (in_tmp / "rep" / "yinyang.csv").read_text().count("\n") == 2
    assert (in_tmp / "rep" / "yinyang-tradeoff.png").is_file()
    assert "snn-bptt" in (in_tmp / "rep" / "report.md").read_text()


def test_ann_baseline_run(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = in_tmp / "s.sqlite"
    code, _, err = run_cli(
        ["run", "yinyang", "--method", "ann", "--epochs", "2", "-o", "a1", "--store", str(store),
         "--quiet", *TINY_YY],
        capsys,
    )
    assert code == 0, err
    (r,) = ResultStore(store).list()
    assert r.model == "mlp"
    n_in = 5 * 30  # 5 channels x 30 steps of 1 ms
    assert r.metric("parameter_count") == n_in * 8 + 8 + 8 * 3 + 3
    assert r.metric("training.epochs") == 2
    assert r.metric("training.hidden.0.rate_hz") is None  # no spiking layers
    assert r.metric("training.grad_norm.net.0.weight") is not None
    assert not (in_tmp / "a1" / "diagnostics.png").exists()
    assert not (in_tmp / "a1" / "raster.png").exists()
    ck = load_checkpoint(in_tmp / "a1" / "last.pt")
    assert ck["model"]["kind"] == "ann" and ck["next_epoch"] == 2
    assert isinstance(ck["model_state"]["net.0.weight"], torch.Tensor)
