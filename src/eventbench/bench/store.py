"""SQLite results store, safe for concurrent writers.

One file holds every :class:`~eventbench.bench.result.RunResult` as JSON (``runs``) plus a
row per numeric metric (``metrics``) for querying. Writers open a short ``BEGIN IMMEDIATE``
transaction in WAL mode with a busy timeout, so two processes writing at once serialise
instead of failing or losing rows.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
"""


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
    """

    def __init__(self, path: str | Path | None = None, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.timeout_s = timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        try:
            con.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
            con.execute("PRAGMA foreign_keys=ON")
            yield con
        finally:
            con.close()

    def add(self, result: RunResult) -> str:
        """Store a result (one atomic transaction); returns its ``run_id``."""
        rows = [(result.run_id, k, v) for k, v in result.flat_metrics().items()]
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
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
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        return result.run_id

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
