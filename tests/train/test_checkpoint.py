"""Checkpoints: atomic writes, readable errors, spec mismatch in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from eventbench.core import LayerSpec, NetworkSpec
from eventbench.train.checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    describe,
    first_difference,
    load_checkpoint,
    save_checkpoint,
)


def _spec(n_hidden: int) -> NetworkSpec:
    return NetworkSpec(n_inputs=5, hidden=(LayerSpec(n_hidden),), n_outputs=3, dt_s=1e-3, n_steps=10)


def test_round_trip_and_no_temporary_files(tmp_path: Path) -> None:
    desc = {"kind": "snn", "spec": describe(_spec(8))}
    w = torch.arange(6.0).view(2, 3)
    path = save_checkpoint(tmp_path / "ck.pt", {"model": desc, "w": w, "epoch": 3})
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]
    data = load_checkpoint(path, expected_model=desc)
    assert data["epoch"] == 3
    assert torch.equal(data["w"], w)
    assert data["model"]["spec"]["hidden"][0]["size"] == 8


def test_interrupted_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_checkpoint(tmp_path / "ck.pt", {"epoch": 1})

    def broken_save(obj: object, fh: object) -> None:
        raise KeyboardInterrupt  # killed in the middle of writing

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


def test_spec_mismatch_is_one_line_naming_the_field(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "ck.pt", {"model": {"spec": describe(_spec(8))}})
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint(path, expected_model={"spec": describe(_spec(16))})
    msg = str(err.value)
    assert "\n" not in msg
    assert "spec.hidden[0].size = 8 in the checkpoint, 16 in the network" in msg


def test_first_difference_reports_lengths_and_keys() -> None:
    assert first_difference({"a": [1, 2]}, {"a": [1, 2]}) is None
    assert first_difference({"a": [1, 2]}, {"a": [1]}) == "a has 1 entries, the network has 2"
    assert first_difference({"a": 1}, {"b": 1}) == "a present in only one of them"


class _Thing:
    """A Python object a safe loader must refuse."""


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("missing", "does not exist"),
        ("folder", "is a folder, not a file; pass a file in it such as"),
        ("text", "is not an EventBench checkpoint: it is not a file written by torch.save"),
        ("random", "is not an EventBench checkpoint: it is not a file written by torch.save"),
        ("truncated", "is not an EventBench checkpoint: it is not a file written by torch.save"),
        ("object", "is not an EventBench checkpoint: it holds Python objects other than tensors"),
        ("list", "is not an EventBench checkpoint: it holds a list, not a checkpoint dictionary"),
        ("foreign", "is not an EventBench checkpoint: no 'checkpoint_version' field"),
        ("future", "checkpoint_version = 99, this eventbench reads version 1"),
    ],
)
def test_every_foreign_file_gets_one_line_naming_it(tmp_path: Path, kind: str, expected: str) -> None:
    path = tmp_path / f"{kind}.pt"
    if kind == "folder":
        path.mkdir()
    elif kind == "text":
        path.write_text("root:x:0:0:root:/root:/bin/bash\n")  # like /etc/passwd
    elif kind == "random":
        path.write_bytes(bytes(range(256)) * 16)
    elif kind == "truncated":
        torch.save({"checkpoint_version": 1, "w": torch.zeros(100)}, path)
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "object":
        torch.save({"checkpoint_version": 1, "x": _Thing()}, path)
    elif kind == "list":
        torch.save([1, 2], path)
    elif kind == "foreign":
        torch.save({"weights": torch.zeros(2)}, path)
    elif kind == "future":
        torch.save({"checkpoint_version": 99}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert expected in msg
    assert repr(str(path)) in msg or str(path) in msg
    assert "\n" not in msg
    assert "weights_only" not in msg and "trust" not in msg  # never suggests unsafe loading
