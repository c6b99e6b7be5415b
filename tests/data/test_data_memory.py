"""Loading and binning in blocks (bounded memory) give exactly the whole-array results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eventbench.data import EventDataset, EventSample, bin_samples
from eventbench.data import shd as shd_mod
from eventbench.data.events import _concat


def _samples(n: int, seed: int = 0) -> list[EventSample]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.integers(0, 30))
        out.append(EventSample(np.sort(rng.random(k) * 0.05), rng.integers(0, 7, k), 7, i % 3))
    return out


def test_blockwise_binning_and_fingerprint_equal_the_flat_ones() -> None:
    samples = _samples(1300)  # more than two blocks of bin_samples
    flat = _concat(samples)
    with_flat = EventDataset("a", samples, 7, 3, "generated", flat=flat)
    without = EventDataset("b", list(samples), 7, 3, "generated")
    assert without.fingerprint() == with_flat.fingerprint()
    a = with_flat.binned(1e-3, 50)
    b = without.binned(1e-3, 50)
    for key in ("ptr", "step", "channel", "labels"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    assert a.step.dtype == b.step.dtype == np.int32
    # the flat arrays themselves were never built for the data set without them
    assert "_flat" not in without.__dict__


def test_late_events_are_counted_over_all_blocks() -> None:
    samples = _samples(1100)
    samples[3] = EventSample(np.array([0.0, 0.2]), np.array([1, 2]), 7, 0)
    samples[1050] = EventSample(np.array([0.3, 0.4, 0.01]), np.array([1, 2, 3]), 7, 0)
    with pytest.raises(ValueError, match=r"3 event\(s\) at or beyond .*first: sample 3, t = 0\.2"):
        bin_samples(samples, 7, 1e-3, 50)


def test_heidelberg_reader_in_chunks_equals_rows(
    tmp_path: Path, write_shd_like: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    times = [np.sort(rng.random(int(rng.integers(0, 9)))).astype(np.float16) for _ in range(11)]
    units = [rng.integers(0, 700, t.shape[0]) for t in times]
    path = write_shd_like(tmp_path / "shd_train.h5", times, units, list(range(11)))  # type: ignore[operator]
    monkeypatch.setattr(shd_mod, "_READ_CHUNK", 3)  # 11 rows in 4 chunks
    raw = shd_mod.read_heidelberg(path)
    assert raw.times.dtype == np.float64 and raw.units.dtype == np.int64
    assert np.array_equal(np.diff(raw.ptr), [t.shape[0] for t in times])
    assert np.array_equal(raw.times, np.concatenate(times).astype(np.float64))
    assert np.array_equal(raw.units, np.concatenate(units))


def test_crop_in_place_keeps_order() -> None:
    a = np.arange(10, dtype=np.float64)
    keep = a % 3 != 0
    expected = a[keep].copy()
    out = shd_mod._compact(a, keep, chunk=4)
    assert np.array_equal(out, expected)
