"""Helpers for driving the CLI end to end on tiny settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventbench.cli import main

#: Tiny Yin-Yang: few samples, small network, coarse grid; a run takes seconds.
TINY_YY = [
    "--set", "data.max_train=160", "--set", "data.max_eval=100", "--set", "data.dt_ms=1.0",
    "--set", "network.hidden=16", "--set", "train.eval_batch_size=100",
    "--set", "train.threads=1", "--set", "baseline.hidden=8",
]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``eventbench ARGS`` in-process; returns (exit status, stdout, stderr)."""
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def cli_subprocess(args: list[str], cwd: Path, **kw: object) -> subprocess.Popen[str]:
    """Start ``python -m eventbench.cli ARGS`` as a separate process."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "eventbench.cli", *args], cwd=cwd, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw,
    )
