"""Mackey-Glass: regenerated series, canonical-file loading, NeuroBench split."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from eventbench.data import (
    MG_PARAMETERS,
    DataFormatError,
    DataMissingError,
    load_mackey_glass_series,
    mackey_glass,
    mackey_glass_series,
    neurobench_offset,
)


def analytic_first_interval(t: float, x0: float) -> float:
    # on [0, tau] the delayed value is the constant history x0: a linear ODE
    c = 0.2 * x0 / (1.0 + x0**10)
    return c / 0.1 + (x0 - c / 0.1) * np.exp(-0.1 * t)


def test_first_value_matches_published_and_closed_form() -> None:
    s = mackey_glass_series(17, n_points=3)
    x0 = MG_PARAMETERS[17][1]
    assert s[0] == pytest.approx(analytic_first_interval(17.0, x0), abs=1e-12)
    assert round(float(s[0]), 4) == 1.2668  # the canonical mg_17.npy starts at 1.2668


def test_solver_converges_at_fourth_order() -> None:
    # 40 points ~ half a Lyapunov time for tau = 17 (later, chaos amplifies rounding errors)
    ref = mackey_glass_series(17, n_points=40, substeps=4)
    e1 = np.abs(mackey_glass_series(17, n_points=40, substeps=1) - ref).max()
    e2 = np.abs(mackey_glass_series(17, n_points=40, substeps=2) - ref).max()
    assert e1 < 1e-10
    assert 8.0 < e1 / e2 < 40.0  # (1 - 4^-4) / (2^-4 - 4^-4) = 17 for a 4th-order method


@pytest.mark.slow
def test_full_tau17_series_range() -> None:
    s = mackey_glass_series(17)
    assert s.shape == (3751,)
    # the canonical series spans [0.419, 1.318]; chaos makes only the attractor's range robust
    assert 0.40 < s.min() < 0.44 and 1.30 < s.max() < 1.33


def test_neurobench_split_shapes_and_windows(tmp_path: Path) -> None:
    series = np.linspace(0.0, 1.0, 3751)
    np.save(tmp_path / "mg_17.npy", series)
    sp = mackey_glass(17, tmp_path, source="file", repeat=3, bin_window=3)
    o = neurobench_offset(3)
    assert o == 112  # int(3 * 37.5)
    tr, te = sp.train, sp.test
    assert sp.val is None
    assert tr.origin == "user-file" and tr.source == str(tmp_path / "mg_17.npy")
    assert tr.inputs.shape == (750, 3) and tr.targets.shape == (750, 1)
    assert te.inputs.shape == (750, 3)
    np.testing.assert_array_equal(tr.inputs[0], [0.0, 0.0, series[o]])  # zero-padded in front
    np.testing.assert_array_equal(tr.inputs[5], series[o + 3:o + 6])
    np.testing.assert_array_equal(tr.targets[:, 0], series[o + 1:o + 751])
    np.testing.assert_array_equal(te.targets[-1], [series[o + 1500]])
    np.testing.assert_array_equal(te.inputs[0], series[o + 748:o + 751])
    assert tr.params["start_offset"] == 112 and tr.n_classes is None
    assert len(tr.fingerprint()) == 64 and tr.fingerprint() != te.fingerprint()


def test_auto_regenerates_with_label_and_file_mode_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        sp = mackey_glass(17, tmp_path, source="auto")
    assert sp.train.origin == "regenerated" and "regenerating" in caplog.text
    assert sp.train.targets[0, 0] == pytest.approx(1.30340, abs=2e-5)  # second point of the series
    with pytest.raises(DataMissingError) as err:
        mackey_glass(17, tmp_path, source="file")
    assert "mg_17.npy" in str(err.value) and "huggingface.co" in str(err.value)
    assert str(tmp_path / "mackey_glass" / "mg_17.npy") in str(err.value)


@pytest.mark.parametrize(
    ("array", "text"),
    [
        (np.zeros(100), "shape"),
        (np.zeros(3751, np.int64), "wrong dtype"),
        (np.full(3751, np.nan), "NaN"),
        (np.zeros((3751, 1)), "shape"),
    ],
)
def test_bad_npy_files(tmp_path: Path, array: np.ndarray, text: str) -> None:
    p = tmp_path / "mg_20.npy"
    np.save(p, array)
    with pytest.raises(DataFormatError) as err:
        mackey_glass(20, tmp_path)
    assert err.value.path == str(p) and text in str(err.value)


def test_truncated_npy(tmp_path: Path) -> None:
    p = tmp_path / "mg_17.npy"
    np.save(p, np.zeros(3751))
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(DataFormatError, match="cannot be read"):
        load_mackey_glass_series(p)
