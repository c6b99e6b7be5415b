"""Fixtures of the CLI end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in ``tmp_path`` with no user data directory and no default store."""
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("EVENTBENCH_DATA", str(empty))
    monkeypatch.delenv("EVENTBENCH_STORE", raising=False)
    return tmp_path
