"""``--protocol``: validated against the task, listed by ``eventbench tasks``, recorded with
results (store, report, CSV)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from cli_helpers import TINY_YY, run_cli

from eventbench.bench import ResultStore
from eventbench.tasks import TASKS


def test_tasks_lists_the_default_protocol_of_every_task(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(["tasks"], capsys)
    assert code == 0
    assert "Evaluation protocols (--protocol NAME" in out
    assert "  shd: official = SHD v2 official train/test split" in out
    assert "also: loader-default" in out  # nhp-reaching's second protocol


def test_every_task_but_mackey_glass_declares_a_protocol() -> None:
    # Mackey-Glass's protocols are defined with its autoregressive evaluation (issue 13, 1-2)
    missing = [n for n, t in TASKS.items() if not t.protocols and n != "mackey-glass"]
    assert missing == []
    for t in TASKS.values():
        names = [p.name for p in t.protocols]
        assert len(names) == len(set(names)) and all(p.version for p in t.protocols)


@pytest.mark.parametrize("command", ["train", "run", "compare"])
def test_unknown_protocol_is_an_error_listing_the_task_protocols(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, err = run_cli([command, "nhp-reaching", "--protocol", "streamed"], capsys)
    assert code == 1 and "running" not in out  # rejected before any training
    assert "--protocol" in err and "'streamed'" in err
    assert "leaderboard, loader-default" in err
    assert not (in_tmp / "eventbench-results").exists()


def test_protocol_via_set_is_checked_too(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["train", "yinyang", "--set", "data.protocol=neurobench"], capsys)
    assert code == 1 and "data.protocol 'neurobench'" in err and "offers paper" in err


def test_run_records_the_protocol_in_store_report_and_csv(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = in_tmp / "s.sqlite"
    code, _, err = run_cli(["run", "yinyang", "--protocol", "paper", "--epochs", "1", "-o", "r",
                            "--store", str(store), "--quiet", *TINY_YY], capsys)
    assert code == 0, err
    version = TASKS["yinyang"].protocols[0].version
    (res,) = ResultStore(store).list(task="yinyang")
    assert res.provenance.protocol == version and res.tags["protocol"] == "paper"
    assert f"- protocol: {version}" in (in_tmp / "r" / "report.md").read_text()
    rows = list(csv.DictReader((in_tmp / "r" / "result.csv").read_text().splitlines()))
    assert rows[0]["protocol"] == version
    code, _, err = run_cli(["report", "--store", str(store), "-o", "rep"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader((in_tmp / "rep" / "yinyang.csv").read_text().splitlines()))
    assert rows[0]["protocol"] == version
    # bench: the checkpoint's recipe keeps its protocol; --protocol is checked there too
    code, _, err = run_cli(["bench", "yinyang", "-k", str(in_tmp / "r" / "best.pt"),
                            "--store", str(store), *TINY_YY], capsys)
    assert code == 0, err
    assert {r.provenance.protocol for r in ResultStore(store).list(task="yinyang")} == {version}
    code, _, err = run_cli(["bench", "yinyang", "-k", str(in_tmp / "r" / "best.pt"),
                            "--protocol", "official", *TINY_YY], capsys)
    assert code == 1 and "offers paper" in err


@pytest.mark.parametrize(
    ("task", "wanted", "where"),
    [("dvs-gesture", "trials_to_train.txt", "research.ibm.com"),
     ("gsc", "testing_list.txt", "speech_commands_v0.02.tar.gz")],
)
def test_new_tasks_without_data_say_where_to_get_it(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], task: str, wanted: str, where: str
) -> None:
    code, _, err = run_cli(["run", task, "--data-dir", str(in_tmp / "none"), "--quiet"], capsys)
    assert code == 1 and wanted in err and where in err and "--data-dir" in err
    code, out, _ = run_cli(["tasks", "--data-dir", str(in_tmp / "none")], capsys)
    assert code == 0 and task in out
