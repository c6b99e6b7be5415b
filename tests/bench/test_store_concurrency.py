"""The results store under many writers: sweep workers write results and trial states at once.

Every row must arrive (none lost, none doubled), the file must stay a valid database, and a
writer that finds the file locked beyond its busy timeout retries instead of failing.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest
from test_bench_runner_store import small_run

import eventbench.bench as eb
from eventbench.bench.store import TrialRecord

WRITERS = 4
ROWS = 25


def test_several_processes_write_results_and_trials_at_once(tmp_path: Path) -> None:
    db = tmp_path / "sweep.sqlite"
    base = small_run("w")
    # no schema beforehand: the writers also race to create it
    script = textwrap.dedent(
        f"""
        import dataclasses, sys, uuid
        import eventbench.bench as eb
        from eventbench.bench.store import TrialRecord
        w = int(sys.argv[1])
        res = eb.RunResult.from_json(sys.stdin.readline())
        print("ready", flush=True)
        assert sys.stdin.readline().strip() == "go"
        store = eb.ResultStore({str(db)!r}, timeout_s=0.2)
        for i in range({ROWS}):
            r = dataclasses.replace(res, run_id=uuid.uuid4().hex, model=f"w{{w}}")
            store.add(r, trial=TrialRecord("s", f"{{w}}-{{i}}", "done", r.run_id,
                                           {{"train.lr": i}}, w, None, "t"))
            store.record_trial(TrialRecord("s", f"{{w}}-f{{i}}", "failed", None,
                                           {{"train.lr": i}}, w, "ValueError: x", "t"))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(w)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for w in range(WRITERS)
    ]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(base.to_json() + "\n")
        p.stdin.flush()
    for p in procs:  # all writers start together, once every interpreter has started
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    store = eb.ResultStore(db)
    assert len(store) == WRITERS * ROWS
    for w in range(WRITERS):
        assert len(store.list(model=f"w{w}")) == ROWS
    trials = store.trials("s")
    assert len(trials) == 2 * WRITERS * ROWS
    done = [t for t in trials if t.status == "done"]
    assert {t.run_id for t in done} == {r.run_id for r in store.list()}
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n_metrics = con.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    assert n_metrics == WRITERS * ROWS * len(base.flat_metrics())


def test_a_write_blocked_beyond_the_busy_timeout_is_retried(tmp_path: Path) -> None:
    db = tmp_path / "locked.sqlite"
    store = eb.ResultStore(db, timeout_s=0.05)
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock for 0.5 s
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        t0 = time.perf_counter()
        r = dataclasses.replace(small_run("late"), run_id=uuid.uuid4().hex)
        store.add(r)
        waited = time.perf_counter() - t0
    finally:
        release.join()
        holder.close()
    assert waited >= 0.4  # it waited for the lock instead of failing after 0.05 s
    assert store.get(r.run_id) == r


def test_a_lock_that_never_ends_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "stuck.sqlite"
    store = eb.ResultStore(db, timeout_s=0.01, write_attempts=2)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            store.add(small_run("never"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(store) == 0


def test_trial_rows_replace_the_previous_state_and_reject_bad_status(tmp_path: Path) -> None:
    store = eb.ResultStore(tmp_path / "t.sqlite")
    store.record_trial(TrialRecord("s", "a", "failed", None, {"train.lr": 1.0}, 0, "boom", "t1"))
    r = small_run()
    store.add(r, trial=TrialRecord("s", "a", "done", r.run_id, {"train.lr": 1.0}, 0, None, "t2"))
    (t,) = store.trials("s")
    assert (t.status, t.run_id, t.error, t.settings) == ("done", r.run_id, None, {"train.lr": 1.0})
    assert store.sweeps() == ["s"]
    with pytest.raises(ValueError, match="status must be 'done' or 'failed'"):
        store.record_trial(TrialRecord("s", "b", "running", None, {}, 0, None, "t"))
    # a failed insert of a result leaves the trial state untouched
    with pytest.raises(sqlite3.IntegrityError):
        store.add(r, trial=TrialRecord("s", "a", "done", "other", {}, 0, None, "t3"))
    assert store.trials("s")[0].run_id == r.run_id
