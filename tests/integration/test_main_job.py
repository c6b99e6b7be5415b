"""The main job with default settings: accuracy and wall time on this CPU (about 40 s in all
on the compiled kernels, so it stays in the default tier).

``eventbench run yinyang`` must reach >= 96 % test accuracy on the paper's test split and
``eventbench run digits`` >= 95 %, each within 10 minutes on a 2-core CPU, and write a result and
a report with plots.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cli_helpers import run_cli

from eventbench.bench import ResultStore


@pytest.mark.parametrize(("task", "target"), [("yinyang", 0.96), ("digits", 0.95)])
def test_main_job_reaches_the_target(
    task: str, target: float, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = in_tmp / "results.sqlite"
    t0 = time.perf_counter()
    code, out, err = run_cli(["run", task, "-o", "run", "--store", str(store), "--quiet"], capsys)
    wall = time.perf_counter() - t0
    assert code == 0, err
    (result,) = ResultStore(store).list(task=task)
    acc = result.metric("accuracy")
    assert acc is not None and acc >= target, f"{task}: test accuracy {acc}"
    assert wall <= 600.0, f"{task}: {wall:.0f} s"
    if task == "yinyang":
        assert result.samples == 1000  # the paper's test split
    for name in ("report.md", "curves.png", "tradeoff.png", "best.pt"):
        assert (in_tmp / "run" / name).is_file()
    assert f"{acc:.4f}" in out
