"""``eventbench sweep`` on a local Ray instance (one per module): tiny Yin-Yang trials,
results and trial states in the store, checkpoints per trial, failed trials, resuming after the
driver is killed, and ``report --sweep``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventbench.bench import ResultStore
from eventbench.cli import main
from eventbench.sweep import expand, parse_sweep
from eventbench.sweep.runner import run_sweep

ray = pytest.importorskip("ray")

#: a trial takes about a second: 60 training samples, 8 hidden neurons, 1 ms steps
TINY = {"data.max_train": 60, "data.max_eval": 60, "data.dt_ms": 1.0,
        "train.eval_batch_size": 60, "train.epochs": 1}


@pytest.fixture(scope="module")
def ray_local() -> Iterator[str]:
    """One local Ray instance for the module (start-up takes seconds); yields its address."""
    ray.init(num_cpus=2, object_store_memory=80 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False)
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


def sweep_toml(path: Path, grid: dict[str, list[object]], seeds: int, name: str,
               fixed: dict[str, object] | None = None) -> Path:
    fx = {**TINY, **(fixed or {})}
    lines = [f'name = "{name}"', f"seeds = {seeds}", "[fixed]"]
    lines += [f'"{k}" = {json.dumps(v)}' for k, v in fx.items()]
    lines += ["[grid]"] + [f'"{k}" = {json.dumps(v)}' for k, v in grid.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_sweep_stores_every_trial_with_provenance_and_checkpoints(
    ray_local: str, tmp_path: Path
) -> None:
    spec = parse_sweep({"name": "grid", "seeds": 2, "fixed": TINY,
                        "grid": {"network.hidden": [4, 8]}}, source="t", default_name="x")
    trials = expand(spec)
    store = tmp_path / "r.sqlite"
    res = run_sweep("yinyang", spec, trials, store=store, out_root=tmp_path / "out")
    assert (res.total, res.skipped, len(res.outcomes), res.failed) == (4, 0, 4, ())
    st = ResultStore(store)
    recs = {t.trial_id: t for t in st.trials("grid")}
    assert set(recs) == {t.trial_id for t in trials}
    for t in trials:
        rec = recs[t.trial_id]
        assert rec.status == "done" and rec.error is None and rec.seed == t.seed
        r = st.get(rec.run_id or "")
        assert r.task == "yinyang" and r.tags["sweep"] == "grid"
        assert r.tags["trial"] == t.trial_id and r.tags["seed"] == str(t.seed)
        assert json.loads(r.tags["settings"]) == t.settings
        assert r.provenance.seed == t.seed and r.provenance.git_commit is not None
        assert r.metric("parameter_count") == 5 * t.settings["network.hidden"] + 3 * t.settings["network.hidden"]
        assert r.metric("training.epochs") == 1
        run_dir = tmp_path / "out" / "grid" / t.trial_id
        assert (run_dir / "last.pt").is_file() and (run_dir / "best.pt").is_file()
    # seeds differ: same setting, different weights, different results
    h4 = [st.get(recs[t.trial_id].run_id or "") for t in trials if t.settings["network.hidden"] == 4]
    assert h4[0].metrics["accuracy"] != h4[1].metrics["accuracy"] or (
        h4[0].metrics["activation_sparsity"] != h4[1].metrics["activation_sparsity"])
    again = run_sweep("yinyang", spec, trials, store=store, out_root=tmp_path / "out")
    assert (again.skipped, again.outcomes) == (4, ())
    assert len(st) == 4


def test_a_failed_trial_is_recorded_and_rerun_alone(ray_local: str, tmp_path: Path) -> None:
    # hidden = 0 passes the type check but the network cannot be built: the trial fails
    spec = parse_sweep({"name": "bad", "fixed": TINY, "grid": {"network.hidden": [6, 0]}},
                       source="t", default_name="x")
    trials = expand(spec)
    store = tmp_path / "r.sqlite"
    res = run_sweep("yinyang", spec, trials, store=store, out_root=tmp_path / "out")
    assert len(res.outcomes) == 2 and len(res.failed) == 1
    (bad,) = res.failed
    assert bad.error is not None and "size must be positive, got 0" in bad.error
    st = ResultStore(store)
    states = {t.settings["network.hidden"]: t for t in st.trials("bad")}
    assert states[6].status == "done" and states[0].status == "failed"
    assert states[0].error == bad.error and len(st) == 1
    again = run_sweep("yinyang", spec, trials, store=store, out_root=tmp_path / "out")
    assert again.skipped == 1 and [o.trial_id for o in again.outcomes] == [bad.trial_id]
    assert len(st) == 1


def _start_driver(args: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with log.open("w") as sink:
        return subprocess.Popen([sys.executable, "-m", "eventbench.cli", *args], cwd=cwd,
                                env=env, stdout=sink, stderr=subprocess.STDOUT)


def _done(store: Path, sweep: str) -> set[str]:
    if not store.is_file():
        return set()
    return {t.trial_id for t in ResultStore(store).trials(sweep) if t.status == "done"}


def _stop_after_next_trial(driver: subprocess.Popen[bytes], store: Path, sweep: str,
                           before: set[str], sig: int, log: Path) -> int:
    """Send ``sig`` to the driver once a trial beyond ``before`` is stored; its exit status."""
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and driver.poll() is None:
            if _done(store, sweep) - before:
                break
            time.sleep(0.2)
        assert driver.poll() is None, log.read_text()
        driver.send_signal(sig)
        return driver.wait(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


@pytest.mark.timeout(600)
def test_cli_sweep_resumes_after_ctrl_c_and_after_the_driver_is_killed(
    ray_local: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = sweep_toml(tmp_path / "kill.toml", {"network.hidden": [4, 6, 8]}, 2, "kill",
                      fixed={"train.epochs": 3})
    store = tmp_path / "r.sqlite"
    args = ["sweep", "yinyang", "--grid", str(grid), "--store", str(store), "--out-dir",
            str(tmp_path / "out"), "--address", ray_local]
    # Ctrl-C: the driver cancels its trials, says how to resume and exits with 130
    log = tmp_path / "driver-int.log"
    code = _stop_after_next_trial(_start_driver(args, tmp_path, log), store, "kill", set(),
                                  signal.SIGINT, log)
    assert code == 130, log.read_text()
    assert "interrupted; rerun the same command" in log.read_text()
    first = _done(store, "kill")
    assert 1 <= len(first) < 6
    # a crash: the rerun driver is killed once it has stored another trial
    log = tmp_path / "driver-kill.log"
    _stop_after_next_trial(_start_driver(args, tmp_path, log), store, "kill", first,
                           signal.SIGKILL, log)
    assert "already done" in log.read_text()
    time.sleep(1.0)  # Ray ends the tasks of the dead driver
    before = _done(store, "kill")
    assert first < before and len(before) < 6
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"6 trials, {len(before)} already done; running {6 - len(before)}" in out
    st = ResultStore(store)
    states = st.trials("kill")
    assert len(states) == 6 and all(t.status == "done" for t in states)
    runs = [r for r in st.list() if r.tags.get("sweep") == "kill"]
    assert len(runs) == 6  # nothing lost, nothing doubled
    assert all(r.metric("training.epochs") == 3 for r in runs)
    # the summary: one row per setting over its two seeds; then the report with plots
    assert "| 4 | 2 | 0 |" in out and "| 8 | 2 | 0 |" in out
    try:
        main(["report", "--sweep", "kill", "--store", str(store), "--out-dir", str(tmp_path / "rep")])
    except SystemExit as exc:
        assert not exc.code
    rep = (tmp_path / "rep" / "kill.md").read_text()
    assert "accuracy (mean ± std)" in rep and "kill-pareto.png" in rep
    for name in ("kill-network_hidden.png", "kill-pareto.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 1000


def test_cli_sweep_rejects_a_wrong_setting_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = sweep_toml(tmp_path / "typo.toml", {"train.lrr": [0.1]}, 1, "typo")
    with pytest.raises(SystemExit) as info:
        main(["sweep", "yinyang", "--grid", str(grid), "--store", str(tmp_path / "s.sqlite")])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "--grid (sweep typo): unknown setting 'train.lrr'" in err
    assert not ResultStore(tmp_path / "s.sqlite").trials("typo")
