"""``eventbench train --devices 2``: data-parallel training over two gloo processes gives the
weights and history of one process (to rounding)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from cli_helpers import TINY_YY, run_cli

from eventbench.train.checkpoint import load_checkpoint


@pytest.mark.timeout(400)
def test_train_on_two_processes_matches_one(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["train", "yinyang", *TINY_YY, "--epochs", "2", "--quiet"]
    code, out1, err = run_cli([*common, "-o", "one"], capsys)
    assert code == 0, err
    code, out2, err = run_cli([*common, "-o", "two", "--devices", "2"], capsys)
    assert code == 0, err
    one, two = load_checkpoint(in_tmp / "one" / "last.pt"), load_checkpoint(in_tmp / "two" / "last.pt")
    assert one["next_epoch"] == two["next_epoch"] == 2
    for name, w in one["model_state"].items():
        if w.is_floating_point():
            torch.testing.assert_close(two["model_state"][name], w, rtol=1e-5, atol=1e-6)
    # 160 samples in minibatches of 64 (the recipe): shards 32+32, 32+32, 16+16
    vals = [[e["val_score"] for e in c["history"]["epochs"]] for c in (one, two)]
    assert vals[0] == vals[1]
    assert out1.splitlines()[0].split("test accuracy")[1] == out2.splitlines()[0].split("test accuracy")[1]
    assert (in_tmp / "two" / "best.pt").is_file() and (in_tmp / "two" / "history.json").is_file()


def test_devices_below_one_is_an_error_naming_the_flag(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["train", "yinyang", *TINY_YY, "--devices", "0"], capsys)
    assert code == 2 and "--devices" in err
