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
    assert a.step.dtype == b.step.dtype == a.channel.dtype == np.uint16  # 2 bytes per field
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


@pytest.mark.parametrize("task_name", ["shd", "ssc"])
@pytest.mark.parametrize("extra", [[], ["data.val_split=random", "data.n_val=5"], ["data.max_train=7", "data.max_eval=3"]])
def test_windowed_heidelberg_task_data_equals_the_event_dataset_path(
    tmp_path: Path, write_shd_like: object, task_name: str, extra: list[str]
) -> None:
    """The bounded-memory SHD/SSC loader gives the splits of loading every sample as float64
    events and binning them (same events, order, names, labels and fingerprints)."""
    from eventbench.data import load_heidelberg
    from eventbench.tasks import get_task
    from eventbench.tasks.base import event_task_data
    from eventbench.tasks.heidelberg import heidelberg_validation
    from eventbench.tasks.pipeline import resolve_recipe

    spec = shd_mod.SHD if task_name == "shd" else shd_mod.SSC
    rng = np.random.default_rng(5)
    files = ("train", "test") if task_name == "shd" else ("train", "valid", "test")
    for k, split in enumerate(files):
        n = 40 + 3 * k
        # times up to 1.2 s: the 1 s trial crops some, a few sit just below a bin edge
        times = [np.sort(rng.random(int(rng.integers(0, 60))) * 1.2).astype(np.float16) for _ in range(n)]
        times[0] = np.array([0.0, 0.999, 0.9995, 1.0, 1.1], np.float16)
        units = [rng.integers(0, 700, t.shape[0]) for t in times]
        labels = rng.integers(0, spec.n_classes, n)
        speakers = rng.integers(0, 6, n)
        write_shd_like(tmp_path / f"{task_name}_{split}.h5", times, units, labels, speakers)  # type: ignore[operator]
    task = get_task(task_name)
    recipe = resolve_recipe(task, assignments=extra)
    new = task.load(recipe, tmp_path)
    # the general path: float64 samples, validation split, crop and binning of event_task_data
    t_stop = recipe.data.duration_ms * 1e-3
    full = load_heidelberg(spec, tmp_path, "train", t_stop_s=t_stop)
    if task_name == "shd":
        train, val = heidelberg_validation(full, recipe.data)  # type: ignore[arg-type]
    else:
        train, val = full, load_heidelberg(spec, tmp_path, "valid", t_stop_s=t_stop)
    test = load_heidelberg(spec, tmp_path, "test", t_stop_s=t_stop)
    from eventbench.data import Splits

    old = event_task_data(Splits(train=train, val=val, test=test), recipe.data, crop=True)
    for part in ("train", "val", "test"):
        a, b = getattr(new, part), getattr(old, part)
        assert a.name == b.name
        assert a.fingerprint() == b.fingerprint()
        for key in ("ptr", "step", "channel", "labels"):
            assert np.array_equal(getattr(a.binned, key), getattr(b.binned, key)), (part, key)
        assert a.binned.step.dtype == b.binned.step.dtype
    assert (new.n_inputs, new.n_outputs, new.n_steps, new.dt_s, new.source) == (
        old.n_inputs, old.n_outputs, old.n_steps, old.dt_s, old.source
    )


def test_index_dtype_widens_for_long_trials_and_survives_save(tmp_path: Path) -> None:
    samples = _samples(5)
    long = bin_samples(samples, 7, 1e-6, 70_000)  # 70 000 steps do not fit uint16
    assert long.step.dtype == np.int32 and long.channel.dtype == np.int32
    short = bin_samples(samples, 7, 1e-3, 50)
    short.save(tmp_path / "b.npz")
    back = type(short).load(tmp_path / "b.npz")
    assert back.step.dtype == np.uint16
    assert np.array_equal(back.step, short.step) and np.array_equal(back.channel, short.channel)
    assert np.array_equal(short.dense(None).numpy(), back.dense(None).numpy())
