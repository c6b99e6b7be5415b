"""SQLite results store, safe for concurrent writers.

One file holds every :class:`~eventbench.bench.result.RunResult` as JSON (``runs``) plus a
row per numeric metric (``metrics``) for querying, and the state of every sweep trial
(``trials``: done or failed, its error, its settings). Writers open a short ``BEGIN IMMEDIATE``
transaction in WAL mode with a busy timeout, one transaction per result, so processes writing
at once serialise instead of failing or losing rows; a write that still finds the file locked
(busy timeout exceeded, e.g. many sweep workers on a slow disk) is retried with a growing pause.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from eventbench.bench.result import RunResult

DEFAULT_STORE = Path("eventbench-results") / "results.sqlite"
"""Default store file (relative to the working directory); ``EVENTBENCH_STORE`` overrides."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_utc TEXT NOT NULL,
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    mode TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, name)
);
CREATE INDEX IF NOT EXISTS runs_task_model ON runs(task, model, mode);
CREATE INDEX IF NOT EXISTS metrics_name ON metrics(name, value);
CREATE TABLE IF NOT EXISTS trials (
    sweep TEXT NOT NULL,
    trial_id TEXT NOT NULL,
    status TEXT NOT NULL,
    run_id TEXT,
    settings TEXT NOT NULL,
    seed INTEGER NOT NULL,
    error TEXT,
    updated_utc TEXT NOT NULL,
    PRIMARY KEY (sweep, trial_id)
);
"""

log = logging.getLogger(__name__)

#: attempts of one write when the file stays locked beyond the busy timeout
WRITE_ATTEMPTS = 8

_T = TypeVar("_T")


def _is_lock_error(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _retry(what: str, fn: Callable[[], _T], attempts: int = WRITE_ATTEMPTS) -> _T:
    """``fn()``, retried with pauses of 0.05, 0.1, 0.2, ... s (at most 2 s) while SQLite reports
    the file locked or busy; other errors, and the last lock error, are raised."""
    for k in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not _is_lock_error(exc) or k == attempts - 1:
                raise
            pause = min(2.0, 0.05 * 2**k)
            log.info("%s: store locked (%s), retrying in %.2f s", what, exc, pause)
            time.sleep(pause)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class TrialRecord:
    """State of one sweep trial in the store.

    Attributes:
        sweep: the sweep's name.
        trial_id: stable id of (settings, seed) within the sweep.
        status: ``"done"`` (its result is the run ``run_id``) or ``"failed"`` (see ``error``).
        run_id: the stored result of a finished trial (``None`` when failed).
        settings: the swept ``--set`` keys and their values.
        seed: the trial's ``train.seed``.
        error: one line naming what went wrong (``None`` when done).
        updated_utc: ISO-8601 time of the last write.
    """

    sweep: str
    trial_id: str
    status: str
    run_id: str | None
    settings: dict[str, Any]
    seed: int
    error: str | None
    updated_utc: str


def default_store_path() -> Path:
    """``$EVENTBENCH_STORE`` or :data:`DEFAULT_STORE`."""
    env = os.environ.get("EVENTBENCH_STORE")
    return Path(env) if env else DEFAULT_STORE


class ResultStore:
    """Results store in an SQLite file.

    Args:
        path: the database file (created with its parent folder if missing); default
            :func:`default_store_path`.
        timeout_s: how long a writer waits for another writer's lock.
        write_attempts: tries of a write that still finds the file locked after ``timeout_s``
            (pauses of 0.05, 0.1, 0.2, ... s, at most 2 s, between them).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        timeout_s: float = 30.0,
        write_attempts: int = WRITE_ATTEMPTS,
    ) -> None:
        if write_attempts < 1:
            raise ValueError(f"write_attempts must be >= 1, got {write_attempts}")
        self.path = Path(path) if path is not None else default_store_path()
        self.timeout_s = timeout_s
        self.write_attempts = write_attempts
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def create() -> None:
            with self._connect() as con:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)

        _retry(f"creating {self.path}", create, write_attempts)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        try:
            con.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
            con.execute("PRAGMA foreign_keys=ON")
            yield con
        finally:
            con.close()

    def _write(self, what: str, statements: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``statements`` in one ``BEGIN IMMEDIATE`` transaction, retried while locked."""

        def once() -> None:
            with self._connect() as con:
                con.execute("BEGIN IMMEDIATE")
                try:
                    statements(con)
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")

        _retry(what, once, self.write_attempts)

    def add(self, result: RunResult, trial: TrialRecord | None = None) -> str:
        """Store a result (one atomic transaction); returns its ``run_id``. With ``trial``
        (status ``"done"``), the sweep trial's row is written in the same transaction, so a
        trial is never marked done without its result, nor stored twice as done."""
        rows = [(result.run_id, k, v) for k, v in result.flat_metrics().items()]

        def statements(con: sqlite3.Connection) -> None:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    result.run_id,
                    result.provenance.created_utc,
                    result.task,
                    result.model,
                    result.mode,
                    result.schema_version,
                    result.to_json(),
                ),
            )
            con.executemany("INSERT INTO metrics VALUES (?, ?, ?)", rows)
            if trial is not None:
                _put_trial(con, trial)

        self._write(f"storing run {result.run_id}", statements)
        return result.run_id

    def record_trial(self, trial: TrialRecord) -> None:
        """Write (insert or replace) a sweep trial's state, e.g. a failure and its error."""
        self._write(f"recording trial {trial.trial_id}", lambda con: _put_trial(con, trial))

    def trials(self, sweep: str) -> builtins.list[TrialRecord]:
        """Every recorded trial of the sweep ``sweep`` (by trial id)."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT sweep, trial_id, status, run_id, settings, seed, error, updated_utc "
                "FROM trials WHERE sweep = ? ORDER BY trial_id",
                (sweep,),
            ).fetchall()
        return [
            TrialRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), int(r[5]), r[6], r[7])
            for r in rows
        ]

    def sweeps(self) -> builtins.list[str]:
        """Names of the sweeps with recorded trials."""
        with self._connect() as con:
            return [r[0] for r in con.execute("SELECT DISTINCT sweep FROM trials ORDER BY sweep")]

    def get(self, run_id: str) -> RunResult:
        """The result with this id (KeyError if absent)."""
        with self._connect() as con:
            row = con.execute("SELECT json FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(run_id)
        return RunResult.from_json(row[0])

    def list(
        self,
        *,
        task: str | None = None,
        model: str | None = None,
        mode: str | None = None,
        where: dict[str, tuple[str, float]] | None = None,
        limit: int | None = None,
    ) -> list[RunResult]:
        """Results matching the filters, oldest first.

        ``where`` filters on numeric metrics: ``{"accuracy": (">=", 0.9)}`` (operators
        ``< <= = >= > !=``; metric keys are the dotted names of
        :meth:`~eventbench.bench.result.RunResult.flat_metrics`).
        """
        sql = "SELECT r.json FROM runs r WHERE 1=1"
        args: list[object] = []
        for col, val in (("task", task), ("model", model), ("mode", mode)):
            if val is not None:
                sql += f" AND r.{col} = ?"
                args.append(val)
        for name, (op, value) in (where or {}).items():
            if op not in ("<", "<=", "=", ">=", ">", "!="):
                raise ValueError(f"unsupported operator {op!r}")
            sql += (
                " AND EXISTS (SELECT 1 FROM metrics m WHERE m.run_id = r.run_id"
                f" AND m.name = ? AND m.value {op} ?)"
            )
            args += [name, value]
        sql += " ORDER BY r.created_utc, r.rowid"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._connect() as con:
            rows = con.execute(sql, args).fetchall()
        return [RunResult.from_json(r[0]) for r in rows]

    def __len__(self) -> int:
        with self._connect() as con:
            n: int = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        return n

    def metric_names(self) -> builtins.list[str]:
        """Every metric key present in the store."""
        with self._connect() as con:
            return [r[0] for r in con.execute("SELECT DISTINCT name FROM metrics ORDER BY name")]


def _put_trial(con: sqlite3.Connection, t: TrialRecord) -> None:
    if t.status not in ("done", "failed"):
        raise ValueError(f"trial status must be 'done' or 'failed', got {t.status!r}")
    con.execute(
        "INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (t.sweep, t.trial_id, t.status, t.run_id, json.dumps(t.settings, sort_keys=True),
         t.seed, t.error, t.updated_utc),
    )
