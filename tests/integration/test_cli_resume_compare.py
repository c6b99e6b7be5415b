"""Kill a training process mid-epoch and resume it; compare; gradcheck."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from cli_helpers import TINY_YY, cli_subprocess, run_cli

from eventbench.bench import ResultStore
from eventbench.train.checkpoint import CheckpointError, load_checkpoint


def _next_epoch(path: Path) -> int | None:
    try:
        return int(load_checkpoint(path)["next_epoch"])
    except CheckpointError:
        return None


def test_kill_mid_epoch_then_resume_loses_at_most_that_epoch(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # epochs of ~0.15 s (a larger network and grid than TINY_YY): the kill lands mid-run even
    # when the poll below is late by a few scheduling slices
    args = [
        "train", "yinyang", "--epochs", "4", "--quiet", *TINY_YY, "--set", "data.max_train=2000",
        "--set", "data.dt_ms=0.25", "--set", "network.hidden=64",
    ]  # fmt: skip
    proc = cli_subprocess([*args, "-o", "killed"], cwd=in_tmp)
    last = in_tmp / "killed" / "last.pt"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if last.is_file() and _next_epoch(last) == 1:
            break
        if proc.poll() is not None:
            pytest.fail(f"training ended early: {proc.communicate()[1]}")
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail("no checkpoint after 240 s")
    proc.kill()  # SIGKILL during the second epoch (or a later one on a slow poll)
    proc.communicate()
    assert proc.returncode != 0, "training finished before the kill"
    killed_at = _next_epoch(last)
    assert 1 <= killed_at < 4  # the finished epochs survived, the running one was lost
    assert [p.name for p in last.parent.iterdir() if p.name.endswith(".tmp")] == []

    code, _, err = run_cli([*args, "-o", "killed", "--resume"], capsys)
    assert code == 0, err
    code, _, err = run_cli([*args, "-o", "straight"], capsys)
    assert code == 0, err
    a = load_checkpoint(in_tmp / "killed" / "last.pt")
    b = load_checkpoint(in_tmp / "straight" / "last.pt")
    assert a["next_epoch"] == b["next_epoch"] == 4
    for k, v in b["model_state"].items():
        assert torch.equal(a["model_state"][k], v), k
    ha = json.loads((in_tmp / "killed" / "history.json").read_text())
    hb = json.loads((in_tmp / "straight" / "history.json").read_text())
    assert [e["train_loss"] for e in ha["epochs"]] == [e["train_loss"] for e in hb["epochs"]]
    assert [e["val_score"] for e in ha["epochs"]] == [e["val_score"] for e in hb["epochs"]]


def test_resume_without_a_checkpoint_is_an_error(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["train", "yinyang", "-o", "nothing", "--resume"], capsys)
    assert code == 1
    assert "--resume nothing: no last.pt there (not a run folder of 'eventbench train')" in err


@pytest.mark.parametrize(
    "methods",
    [
        "eventprop,bptt",
        pytest.param("eventprop,bptt,ann", marks=pytest.mark.slow),
    ],
)
def test_compare_methods_one_table(
    methods: str, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = in_tmp / "c.sqlite"
    wanted = methods.split(",")
    names = {"eventprop": "snn-eventprop", "bptt": "snn-bptt", "ann": "mlp"}
    code, _, err = run_cli(
        ["compare", "yinyang", "--methods", methods, "--epochs", "1", "-o", "cmp",
         "--store", str(store), *TINY_YY],
        capsys,
    )
    assert code == 0, err
    table = (in_tmp / "cmp" / "compare.md").read_text()
    rows = [ln for ln in table.splitlines() if ln.startswith("| ") and "model" not in ln]
    assert [r.split("|")[1].strip() for r in rows] == [names[m] for m in wanted]
    results = ResultStore(store).list()
    assert sorted(r.model for r in results) == sorted(names[m] for m in wanted)
    for r in results:
        assert r.tags["seed"] == "0" and r.samples == 100
        assert r.metric("training.peak_memory_mb") > 50  # type: ignore[operator]
        assert r.metric("training.time_per_epoch_s") > 0  # type: ignore[operator]
        acc = r.metric("accuracy")
        assert acc is not None and f"{acc:.4f}" in table
    assert (in_tmp / "cmp" / "tradeoff.png").is_file()
    for m in wanted:
        assert (in_tmp / "cmp" / m / "best.pt").is_file()


def test_gradcheck_prints_the_table_and_sets_the_exit_status(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["gradcheck", "--hidden", "4", "--dt-ms", "0.05"], capsys)
    assert code == 0, err
    assert "layers.0.w_ff" in out and "readout_layer.w" in out
    assert "PASSED: tolerance 0.05" in out
    code, out, _ = run_cli(
        ["gradcheck", "--hidden", "4", "--dt-ms", "0.05", "--tolerance", "1e-12"], capsys
    )
    assert code == 1
    assert "FAILED: tolerance 1e-12" in out
