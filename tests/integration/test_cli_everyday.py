"""Everyday use: devices, --version, Ctrl-C and resume, run folders, errors naming flags."""

from __future__ import annotations

import shlex
import signal
import time
from pathlib import Path

import pytest
import torch
from cli_helpers import TINY_YY, cli_subprocess, run_cli

from eventbench import __version__
from eventbench.train.checkpoint import CheckpointError, load_checkpoint
from eventbench.train.device import DeviceError, resolve_device

TRAIN = ["train", "yinyang", "--quiet", *TINY_YY]


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0
    assert out.strip() == f"eventbench {__version__}"


def test_device_resolution_on_this_machine() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeviceError, match=r"--device 'tpu': unknown device; use cpu, cuda, cuda:N or auto"):
        resolve_device("tpu")
    with pytest.raises(DeviceError, match=r"--device cuda:x: the CUDA index must be a number"):
        resolve_device("cuda:x")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_device_is_one_clear_line(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in (TRAIN, ["bench", "yinyang", "--checkpoint", "x.pt"], ["compare", "yinyang"]):
        code, _, err = run_cli([*cmd, "--device", "cuda:1"], capsys)
        assert code == 1
        line = _one_line(err)
        assert line.startswith("eventbench: error: --device cuda:1: ")
        assert "use --device cpu or auto" in line
    assert not (in_tmp / "eventbench-results").exists()  # refused before anything was written


@pytest.mark.gpu
def test_training_and_benchmark_on_cuda(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["run", "yinyang", "--epochs", "1", "-o", "g", "--quiet",
                              "--device", "cuda", "--store", "s.sqlite", *TINY_YY], capsys)
    assert code == 0, err
    assert "1 epochs, cuda) -> g" in out
    assert "device cuda:0" in (in_tmp / "g" / "report.md").read_text()


def test_device_cpu_trains_benchmarks_and_records_the_device(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["run", "yinyang", "--epochs", "1", "-o", "c", "--quiet",
                              "--device", "cpu", "--store", "s.sqlite", *TINY_YY], capsys)
    assert code == 0, err
    assert "1 epochs, cpu) -> c" in out
    assert "device cpu" in (in_tmp / "c" / "report.md").read_text()


def test_sigint_stops_cleanly_and_the_printed_command_resumes_exactly(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*TRAIN, "--epochs", "3", "--device", "cpu", "--set", "data.max_train=2000",
            "--set", "data.dt_ms=0.25", "--set", "network.hidden=64"]
    proc = cli_subprocess([*args, "-o", "stopped"], cwd=in_tmp)
    last = in_tmp / "stopped" / "last.pt"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # wait for the first finished epoch
        try:
            if last.is_file() and load_checkpoint(last)["next_epoch"] == 1:
                break
        except CheckpointError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"training ended early: {proc.communicate()[1]}")
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail("no checkpoint after 240 s")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "SIGINT received, stopping after the current minibatch" in err
    assert "(that epoch is discarded); " in err and "saved in stopped/last.pt" in err
    resume = next(ln for ln in err.splitlines() if ln.startswith("resume with: "))
    assert resume == "resume with: eventbench train yinyang --resume stopped --device cpu"
    done = int(load_checkpoint(last)["next_epoch"])
    assert 1 <= done < 3
    code, _, err = run_cli([*shlex.split(resume.removeprefix("resume with: "))[1:], "--quiet"],
                           capsys)
    assert code == 0, err
    code, _, err = run_cli([*args, "-o", "straight"], capsys)
    assert code == 0, err
    a, b = load_checkpoint(last), load_checkpoint(in_tmp / "straight" / "last.pt")
    assert a["next_epoch"] == b["next_epoch"] == 3
    for k, v in b["model_state"].items():
        assert torch.equal(a["model_state"][k], v), k


def test_sigterm_before_the_first_epoch_leaves_a_resumable_run(in_tmp: Path) -> None:
    args = [*TRAIN, "--epochs", "2", "--set", "data.max_train=2000", "--set", "data.dt_ms=0.25",
            "--set", "network.hidden=64", "--set", "train.batch_size=8"]
    proc = cli_subprocess([*args, "-o", "early"], cwd=in_tmp)
    last = in_tmp / "early" / "last.pt"
    deadline = time.monotonic() + 240
    while not last.is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "SIGTERM: training stopped in epoch 1" in err
    assert "0 finished epoch(s) saved in early/last.pt" in err
    assert load_checkpoint(last)["next_epoch"] == 0


def test_bare_resume_picks_the_latest_run_of_the_task(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(2):  # two runs in the same second get two folders
        code, _, err = run_cli([*TRAIN, "--epochs", "1"], capsys)
        assert code == 0, err
    runs = sorted((in_tmp / "eventbench-results" / "runs").iterdir())
    assert len(runs) == 2
    newest = max(runs, key=lambda d: (d / "last.pt").stat().st_mtime_ns)
    code, out, err = run_cli(["train", "yinyang", "--resume", "--epochs", "2", "--quiet"], capsys)
    assert code == 0, err
    assert f"{newest.relative_to(in_tmp) / 'last.pt'} (resume)" in out
    assert load_checkpoint(newest / "last.pt")["next_epoch"] == 2
    code, _, err = run_cli(["train", "digits", "--resume"], capsys)
    assert code == 1
    assert "--resume: no run of task 'digits' with a last.pt under" in _one_line(err)


def test_a_finished_run_is_not_overwritten_without_overwrite(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli([*TRAIN, "--epochs", "1", "-o", "r"], capsys)
    assert code == 0, err
    before = (in_tmp / "r" / "best.pt").read_bytes()
    code, _, err = run_cli([*TRAIN, "--epochs", "1", "-o", "r", "--seed", "5"], capsys)
    assert code == 1
    assert _one_line(err) == (
        "eventbench: error: --out-dir r: already holds a run (1 of 1 epochs finished); "
        "continue it with --resume r or replace it with --overwrite"
    )
    assert (in_tmp / "r" / "best.pt").read_bytes() == before
    code, _, err = run_cli([*TRAIN, "--epochs", "1", "-o", "r", "--seed", "5", "--overwrite"], capsys)
    assert code == 0, err
    assert load_checkpoint(in_tmp / "r" / "last.pt")["recipe"]["train.seed"] == 5


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--epochs", "0"], "--epochs = 0: needs at least 1 epoch"),
        (["--epochs", "-1"], "--epochs = -1: needs at least 1 epoch"),
        (["--set", "data.dt_ms=0"], "--set data.dt_ms = 0.0: the time step must be > 0 ms"),
        (["--set", "data.duration_ms=0.5"],
         "--set data.duration_ms = 0.5: the trial must last at least one step (data.dt_ms = 1.0)"),
        (["--set", "train.lr=-1"], "--set train.lr = -1.0: the learning rate must be > 0"),
        (["--set", "train.batch_size=0"], "--set train.batch_size = 0: needs at least 1 sample per batch"),
    ],
)
def test_out_of_range_settings_name_the_users_flag(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    code, _, err = run_cli([*TRAIN, *args, "-o", "bad"], capsys)
    assert code == 1
    assert _one_line(err) == f"eventbench: error: {expected}"
    assert not (in_tmp / "bad").exists()


def test_a_data_error_names_the_data_settings(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["train", "digits", "--set", "data.duration_ms=1", "--epochs", "1",
                            "-o", "bad", "--quiet"], capsys)
    assert code == 1
    line = _one_line(err)
    assert line.startswith("eventbench: error: task 'digits' with data.dt_ms = 1, "
                           "data.duration_ms = 1 (1 steps): ")
    assert line.endswith("(data settings are changed with --set data.NAME=VALUE)")
    assert not (in_tmp / "bad").exists()


def test_tasks_prints_whole_download_addresses_the_same_as_the_missing_file_error(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from eventbench.data.shd import SHD

    code, out, _ = run_cli(["tasks"], capsys)
    assert code == 0
    assert f"  shd: needs shd_train.h5 and shd_test.h5; get them from {SHD.url}" in out.splitlines()
    assert "…" not in out
    code, _, err = run_cli(["train", "shd", "--epochs", "1", "-o", "s"], capsys)
    assert code == 1
    assert f"get it from {SHD.url}" in _one_line(err)
