"""EventSample validation, the binning rule, cropping, collation and the bin cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eventbench.data import (
    BinCache,
    BinnedEvents,
    DataFormatError,
    EventDataset,
    EventSample,
    bin_events,
    bin_samples,
    collate_events,
    crop_events,
    crop_to_grid,
    iter_batches,
    time_to_bin,
)


def sample(times: list[float], chans: list[int], n: int = 4, label: int | None = 0) -> EventSample:
    return EventSample(np.array(times, np.float64), np.array(chans, np.int64), n, label)


def test_sample_widens_dtypes_and_is_read_only() -> None:
    s = EventSample(np.array([0.5, 0.25], np.float16), np.array([1, 2], np.uint16), 3, label=1)
    assert s.times_s.dtype == np.float64 and s.channels.dtype == np.int64
    assert s.times_s.tolist() == [0.5, 0.25]
    with pytest.raises(ValueError):
        s.times_s[0] = 1.0
    assert s.n_events == 2


@pytest.mark.parametrize(
    ("times", "chans", "n", "field"),
    [
        (np.array([0.1]), np.array([4]), 4, "channels"),  # out of range
        (np.array([0.1]), np.array([-1]), 4, "channels"),
        (np.array([-0.1]), np.array([0]), 4, "times_s"),
        (np.array([np.nan]), np.array([0]), 4, "times_s"),
        (np.array([1, 2]), np.array([0, 1]), 4, "times_s"),  # integer times: wrong dtype
        (np.array([0.1]), np.array([0.0]), 4, "channels"),  # float channels: wrong dtype
        (np.array([0.1, 0.2]), np.array([0]), 4, "channels"),  # length mismatch
        (np.array([0.1]), np.array([0]), 0, "n_channels"),
    ],
)
def test_sample_rejects_bad_fields(
    times: np.ndarray, chans: np.ndarray, n: int, field: str
) -> None:
    with pytest.raises(DataFormatError) as err:
        EventSample(times, chans, n)
    assert err.value.field == field


def test_time_to_bin_rounding_rule() -> None:
    # 0.0003/0.0001 = 2.9999999999999996 in floating point: the 1e-9 tolerance puts it in bin 3.
    assert 0.0003 / 0.0001 < 3
    t = np.array([0.0, 0.00009999, 0.0001, 0.0003, 0.00035, 0.00039999999, 0.0007])
    assert time_to_bin(t, 1e-4).tolist() == [0, 0, 1, 3, 3, 3, 7]
    assert np.floor(t / 1e-4).astype(int).tolist()[3] == 2  # what plain flooring would give
    with pytest.raises(ValueError):
        time_to_bin(t, 0.0)


def test_bin_events_binary_and_count_with_two_spikes_in_one_bin() -> None:
    s0 = sample([0.0, 0.0021, 0.0029, 0.0029], [1, 0, 0, 3])
    s1 = sample([], [])  # empty sample
    s2 = sample([0.001], [2])
    xb = bin_events([s0, s1, s2], 4, 1e-3, 3)
    xc = bin_events([s0, s1, s2], 4, 1e-3, 3, mode="count", dtype=torch.float64)
    assert xb.shape == (3, 3, 4) and xb.dtype == torch.float32
    assert xc.dtype == torch.float64
    expected_b0 = [[0, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 1]]
    expected_c0 = [[0, 1, 0, 0], [0, 0, 0, 0], [2, 0, 0, 1]]
    assert xb[:, 0].tolist() == expected_b0
    assert xc[:, 0].tolist() == expected_c0
    assert xb[:, 1].sum().item() == 0 and xc[:, 1].sum().item() == 0
    assert xb[1, 2].tolist() == [0, 0, 1, 0]
    assert xc.sum().item() == 5 and xb.sum().item() == 4


def test_bin_events_refuses_events_beyond_window_and_crop_fixes_it() -> None:
    s = sample([0.0, 0.0019, 0.002, 0.0025], [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"beyond the window.*sample 0.*crop"):
        bin_events([s], 4, 1e-3, 2)
    c = crop_to_grid(s, 1e-3, 2)
    assert c.times_s.tolist() == [0.0, 0.0019] and c.channels.tolist() == [0, 1]
    x = bin_events([c], 4, 1e-3, 2)
    assert x[:, 0].tolist() == [[1, 0, 0, 0], [0, 1, 0, 0]]
    # time-based crop keeps [start, stop)
    assert crop_events(s, 0.0025, 0.0019).times_s.tolist() == [0.0019, 0.002]
    with pytest.raises(ValueError):
        crop_events(s, 0.001, 0.002)


def test_bin_events_rejects_wider_samples_and_bad_mode() -> None:
    s = sample([0.0], [0], n=8)
    with pytest.raises(ValueError, match="n_channels"):
        bin_events([s], 4, 1e-3, 2)
    with pytest.raises(ValueError, match="mode"):
        bin_events([sample([0.0], [0])], 4, 1e-3, 2, mode="rate")  # type: ignore[arg-type]


def test_bin_events_matches_a_loop_reference() -> None:
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(7):
        k = int(rng.integers(0, 50))
        samples.append(sample(list(rng.uniform(0, 0.02, k)), list(rng.integers(0, 5, k)), n=5))
    dt, t = 1e-3, 20
    ref = np.zeros((t, 7, 5))
    for b, s in enumerate(samples):
        for ti, ci in zip(s.times_s, s.channels, strict=True):
            ref[int(np.floor(ti / dt + 1e-9)), b, ci] += 1
    xc = bin_events(samples, 5, dt, t, mode="count", dtype=torch.float64).numpy()
    xb = bin_events(samples, 5, dt, t, mode="binary", dtype=torch.float64).numpy()
    np.testing.assert_array_equal(xc, ref)
    np.testing.assert_array_equal(xb, (ref > 0).astype(float))


def test_binned_events_subset_dense_and_roundtrip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    samples = [sample([0.0], [0]), sample([], []), sample([0.001, 0.001], [3, 3], label=1)]
    b = bin_samples(samples, 4, 1e-3, 2)
    assert len(b) == 3 and b.n_events == 3 and b.labels is not None
    assert b.labels.tolist() == [0, 0, 1]
    sub = b.dense([2, 0], mode="count")
    assert sub.shape == (2, 2, 4)
    assert sub[1, 0].tolist() == [0, 0, 0, 2] and sub[0, 1].tolist() == [1, 0, 0, 0]
    with pytest.raises(IndexError):
        b.dense([3])
    b.save(tmp_path / "x.npz")
    back = BinnedEvents.load(tmp_path / "x.npz")
    assert torch.equal(back.dense(mode="count"), b.dense(mode="count"))
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataFormatError):
        BinnedEvents.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("mode", ["count", "binary"])
def test_binned_events_sparse_equals_dense(mode: str) -> None:
    rng = np.random.default_rng(3)
    samples = []
    for _ in range(6):
        k = int(rng.integers(0, 40))
        samples.append(sample(list(rng.uniform(0, 0.02, k)), list(rng.integers(0, 5, k)), n=5))
    b = bin_samples(samples, 5, 1e-3, 20)
    for idx in (None, [4, 0, 4, 2]):  # all samples; a subset with a repeated sample
        sp = b.sparse(idx, mode=mode, dtype=torch.float64)  # type: ignore[arg-type]
        dense = b.dense(idx, mode=mode, dtype=torch.float64)  # type: ignore[arg-type]
        assert sp.is_sparse and sp.is_coalesced() and sp.shape == dense.shape
        assert torch.equal(sp.to_dense(), dense)
        assert int(sp._nnz()) == int((dense != 0).sum())
        ind = sp.indices()  # sorted by (step, sample, channel): what the kernels expect
        lin = (ind[0] * dense.shape[1] + ind[1]) * dense.shape[2] + ind[2]
        assert bool((lin[1:] > lin[:-1]).all())
    with pytest.raises(IndexError):
        b.sparse([6])
    with pytest.raises(ValueError, match="mode"):
        b.sparse(mode="spikes")  # type: ignore[arg-type]
    empty = bin_samples([sample([], [])], 4, 1e-3, 3).sparse()
    assert empty._nnz() == 0 and empty.shape == (3, 1, 4)


def test_collate_pads_sorts_and_masks() -> None:
    s0 = sample([0.003, 0.001, 0.001], [2, 0, 1], label=2)
    s1 = sample([], [], label=1)
    batch = collate_events([s0, s1], dt_s=1e-3, n_steps=4, mode="count")
    assert batch.times_s.shape == (2, 3)
    assert batch.times_s[0].tolist() == [0.001, 0.001, 0.003]
    assert batch.channels[0].tolist() == [0, 1, 2]  # stable: tie keeps input order
    assert batch.mask.tolist() == [[True, True, True], [False, False, False]]
    assert batch.channels[1].tolist() == [-1, -1, -1]
    assert torch.isinf(batch.times_s[1]).all()
    assert batch.lengths.tolist() == [3, 0]
    assert batch.labels is not None and batch.labels.tolist() == [2, 1]
    assert batch.dense is not None and batch.dense.shape == (4, 2, 4)
    assert batch.dense[1, 0].tolist() == [1, 1, 0, 0]
    nolabel = collate_events([sample([0.0], [0], label=None)])
    assert nolabel.labels is None and nolabel.dense is None


def test_collate_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        collate_events([])
    with pytest.raises(ValueError, match="labels"):
        collate_events([sample([0.0], [0], label=None), sample([0.0], [0], label=1)])
    with pytest.raises(ValueError, match="both"):
        collate_events([sample([0.0], [0])], dt_s=1e-3)
    t0 = EventSample(np.zeros(1), np.zeros(1, np.int64), 1, target=np.zeros(2))
    t1 = EventSample(np.zeros(1), np.zeros(1, np.int64), 1, target=np.zeros(3))
    with pytest.raises(ValueError, match="shapes"):
        collate_events([t0, t1])


def test_dataset_fingerprint_is_stable_and_content_sensitive() -> None:
    a = EventDataset("a", [sample([0.001], [1]), sample([], [])], 4, 3, "generated")
    b = EventDataset("b", [sample([0.001], [1]), sample([], [])], 4, 3, "package")
    c = EventDataset("a", [sample([0.001], [2]), sample([], [])], 4, 3, "generated")
    d = EventDataset("a", [sample([0.001], [1]), sample([], [], label=1)], 4, 3, "generated")
    assert a.fingerprint() == b.fingerprint()  # content only
    assert len({a.fingerprint(), c.fingerprint(), d.fingerprint()}) == 3
    assert len(a.fingerprint()) == 64
    with pytest.raises(DataFormatError, match="label"):
        EventDataset("e", [sample([0.0], [0], label=3)], 4, 3, "generated")
    with pytest.raises(ValueError, match="origin"):
        EventDataset("e", [], 4, 3, "downloaded")  # type: ignore[arg-type]


def test_bin_cache_memory_and_disk(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ds = EventDataset("a", [sample([0.001, 0.0015], [1, 1]), sample([0.0], [3])], 4, 3, "generated")
    cache = BinCache(tmp_path / "cache")
    b1 = ds.binned(1e-3, 2, cache=cache)
    assert cache.misses == 1 and cache.hits == 0
    assert ds.binned(1e-3, 2, cache=cache) is b1 and cache.hits == 1
    files = list((tmp_path / "cache").glob("binned-*.npz"))
    assert len(files) == 1
    fresh = BinCache(tmp_path / "cache")
    b2 = ds.binned(1e-3, 2, cache=fresh)
    assert fresh.hits == 1 and fresh.misses == 0
    assert torch.equal(b2.dense(mode="count"), b1.dense(mode="count"))
    assert b2.dense(mode="count")[1, 0, 1].item() == 2
    # another grid gives another entry
    ds.binned(0.5e-3, 4, cache=fresh)
    assert len(list((tmp_path / "cache").glob("binned-*.npz"))) == 2


def test_iter_batches_covers_every_sample_once() -> None:
    samples = [sample([0.001 * (i % 3)], [i % 4], label=i % 3) for i in range(10)]
    b = bin_samples(samples, 4, 1e-3, 3)
    seen = []
    for x, labels in iter_batches(b, 4, rng=np.random.default_rng(0), mode="count"):
        assert x.shape[0] == 3 and x.shape[2] == 4 and labels is not None
        assert x.sum().item() == x.shape[1]  # one event per sample
        for j in range(x.shape[1]):
            step, chan = (x[:, j] > 0).nonzero()[0].tolist()
            seen.append((step, chan, int(labels[j])))
    assert sorted(seen) == sorted((i % 3, i % 4, i % 3) for i in range(10))
    assert [x.shape[1] for x, _ in iter_batches(b, 4)] == [4, 4, 2]
    assert [x.shape[1] for x, _ in iter_batches(b, 4, drop_last=True)] == [4, 4]
