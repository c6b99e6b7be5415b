"""Errors a user can act on: one line on stderr, non-zero exit, traceback only with --debug."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import TINY_YY, run_cli

from eventbench.data import DataMissingError
from eventbench.tasks import ConfigError


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_unknown_task(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["run", "yinyan"], capsys)
    assert code == 1
    assert _one_line(err) == (
        "eventbench: error: unknown task 'yinyan'; did you mean 'yinyang'? (tasks: yinyang, "
        "digits, mnist, shd, ssc, spoken-digits, mackey-glass, nhp-reaching, dvs-gesture, gsc, "
        "yinyang-delays, shd-delays, ssc-delays)"
    )


def test_unknown_option_and_bad_choice(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["train", "yinyang", "--lr", "0.1"], capsys)
    assert code == 2
    line = _one_line(err)
    assert "No such option: --lr" in line and "eventbench train --help" in line
    code, _, err = run_cli(["train", "yinyang", "--method", "sgd"], capsys)
    assert code == 1
    assert "train.method must be one of 'eventprop', 'bptt', 'ann', got 'sgd'" in _one_line(err)
    code, _, err = run_cli(["train", "yinyang", "--set", "train.learning_rate=0.1"], capsys)
    assert code == 1
    assert "unknown setting 'train.learning_rate'" in _one_line(err)


def test_missing_data_file_says_where_to_get_it(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["run", "mnist"], capsys)
    assert code == 1
    line = _one_line(err)
    assert "data file" in line and "not found" in line
    assert str(in_tmp / "no-data") in line  # EVENTBENCH_DATA was searched
    assert "yann.lecun.com" in line
    code, _, err = run_cli(["train", "shd", "--data-dir", str(in_tmp)], capsys)
    assert code == 1
    line = _one_line(err)
    assert "shd_train.h5" in line and str(in_tmp) in line and "zenkelab" in line


def test_config_with_a_wrong_type(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = in_tmp / "bad.toml"
    cfg.write_text('[train]\nlr = "fast"\n')
    code, _, err = run_cli(["train", "yinyang", "--config", str(cfg)], capsys)
    assert code == 1
    assert _one_line(err) == f"eventbench: error: {cfg}: train.lr must be float, got 'fast' (str)"
    cfg.write_text("[network]\nhidden = [16, 0.5]\n")
    code, _, err = run_cli(["train", "yinyang", "-c", str(cfg)], capsys)
    assert "network.hidden must be list of int, got [16, 0.5] (list)" in _one_line(err)
    code, _, err = run_cli(["train", "yinyang", "--set", "train.epochs=two"], capsys)
    assert "--set: train.epochs must be int, got 'two' (str)" in _one_line(err)


def test_checkpoint_of_another_network(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["train", "yinyang", "--epochs", "1", "-o", "t", "--quiet", *TINY_YY], capsys)
    assert code == 0, err
    code, _, err = run_cli(
        ["bench", "yinyang", "--checkpoint", "t/best.pt", "--set", "network.hidden=8"], capsys
    )
    assert code == 1
    assert _one_line(err) == (
        "eventbench: error: checkpoint 't/best.pt' was written for another network: "
        "spec.hidden[0].size = 16 in the checkpoint, 8 in the network"
    )
    code, _, err = run_cli(["bench", "digits", "--checkpoint", "t/best.pt"], capsys)
    assert code == 1
    assert _one_line(err) == (
        "eventbench: error: checkpoint 't/best.pt' was trained on task 'yinyang', not 'digits'; "
        "use: eventbench bench yinyang --checkpoint t/best.pt"
    )
    code, _, err = run_cli(["bench", "yinyang", "--checkpoint", "t/nothing.pt"], capsys)
    assert code == 1
    assert _one_line(err) == "eventbench: error: checkpoint 't/nothing.pt' does not exist"


def test_debug_shows_the_exception(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from eventbench.cli import main

    with pytest.raises(DataMissingError):
        main(["train", "mnist", "--debug"])
    cfg = in_tmp / "bad.toml"
    cfg.write_text("[train]\nepochs = 1.5\n")
    with pytest.raises(ConfigError, match=r"train\.epochs must be int"):
        main(["--debug", "train", "yinyang", "-c", str(cfg)])
