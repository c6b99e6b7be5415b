"""Docstring examples, data-directory resolution, error messages and the benchmark script."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
from pathlib import Path

import pytest

import eventbench.data as data
from eventbench.data import DataFormatError, DataMissingError, resolve_data_dir

MODULES = ["events", "encoders", "dataset", "yinyang", "augment", "shd", "mnist", "digits",
           "mackey_glass", "nhp", "cache", "errors"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"eventbench.data.{name}")
    result = doctest.testmod(module, extraglobs={"np": __import__("numpy")}, verbose=False)
    assert result.failed == 0


def test_public_api_is_exported() -> None:
    for name in data.__all__:
        assert hasattr(data, name), name
    for name in ["EventSample", "bin_events", "yinyang_splits", "digits_splits", "load_mnist_idx",
                 "load_shd", "load_ssc", "mackey_glass", "load_nhp", "DataMissingError",
                 "DataFormatError", "BinCache", "collate_events", "crop_to_grid"]:
        assert name in data.__all__


def test_resolve_data_dir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTBENCH_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("EVENTBENCH_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir() == tmp_path / "home" / ".eventbench" / "data"


def test_error_types_and_messages(tmp_path: Path) -> None:
    e = DataMissingError("f.h5", [tmp_path / "a", tmp_path / "b"], "https://example.org/x")
    assert isinstance(e, FileNotFoundError)
    assert str(tmp_path / "b") in str(e) and "https://example.org/x" in str(e) and "'f.h5'" in str(e)
    assert e.searched == (str(tmp_path / "a"), str(tmp_path / "b"))
    f = DataFormatError(tmp_path / "x.h5", "labels", "bad")
    assert isinstance(f, ValueError)
    assert str(f) == f"{tmp_path / 'x.h5'}: field 'labels': bad"


def test_benchmark_script_runs_small(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "data_loading.py"
    spec = importlib.util.spec_from_file_location("data_loading_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--n-samples", "40", "--spikes", "200", "--batch", "16",
                        "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "40 samples" in out and "bin all samples, dt=1 ms" in out
    labels = [r[0] for r in rows]
    assert "BinCache hit from disk (fresh cache)" in labels
    assert all(r[1] >= 0 and r[2] >= 0 for r in rows)
