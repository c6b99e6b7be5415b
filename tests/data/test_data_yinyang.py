"""Yin-Yang: the generator must reproduce the paper's published splits exactly."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from eventbench.data import (
    DataFormatError,
    bin_events,
    latency_encode,
    yin_yang,
    yin_yang_class,
    yinyang_splits,
)

# Golden values of publication_data/{train,validation,test}_{samples,labels}.npy (datasets.md).
GOLDEN = {
    (5000, 42): ([0.68030754, 0.45049925, 0.31969246, 0.54950075], 2, [1681, 1702, 1617],
                 "f5a4054d56f2a058", "534d12acda4f9dbc"),
    (1000, 41): ([0.68057273, 0.32097339, 0.31942727, 0.67902661], 0, [316, 336, 348],
                 "5eac358bdf212276", "5a4c2f605814a620"),
    (1000, 40): ([0.23409665, 0.40172498, 0.76590335, 0.59827502], 2, [350, 316, 334],
                 "7bab3ed668ed4992", "daa0f8f4e3b37b1d"),
}


@pytest.mark.parametrize(("size", "seed"), list(GOLDEN))
def test_paper_splits_bit_exact(size: int, seed: int) -> None:
    first, label, counts, x_hash, y_hash = GOLDEN[(size, seed)]
    x, y = yin_yang(size, seed)
    assert x.shape == (size, 4) and x.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_allclose(x[0], first, atol=5e-9)
    assert int(y[0]) == label
    assert np.bincount(y).tolist() == counts
    assert hashlib.sha256(x.astype("<f8").tobytes()).hexdigest()[:16] == x_hash
    assert hashlib.sha256(y.astype("<i8").tobytes()).hexdigest()[:16] == y_hash


def test_geometry_and_mirrored_features() -> None:
    x, y = yin_yang(300, 7)
    np.testing.assert_array_equal(x[:, 2:], 1.0 - x[:, :2])
    r = np.hypot(x[:, 0] - 0.5, x[:, 1] - 0.5)
    assert (r <= 0.5).all()
    assert [yin_yang_class(a, b) for a, b in x[:, :2]] == y.tolist()
    # dots: centres (0.25, 0.5) and (0.75, 0.5), radius 0.1
    assert yin_yang_class(0.75, 0.5) == 2 and yin_yang_class(0.25, 0.5) == 2
    assert yin_yang_class(0.5, 0.9) == 1  # upper half, far from the right dot
    assert yin_yang_class(0.5, 0.1) == 0


def test_splits_encoding_defaults() -> None:
    sp = yinyang_splits(sizes=(20, 10, 10))
    assert [len(d) for _, d in sp.items()] == [20, 10, 10]
    tr = sp.train
    assert tr.n_channels == 5 and tr.n_classes == 3 and tr.origin == "generated"
    x, y = yin_yang(20, 42)
    s = tr[0]
    assert s.channels.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(s.times_s[0], 0.2e-3)  # bias at t_min
    np.testing.assert_allclose(s.times_s[1:], 0.2e-3 + x[0] * 29.6e-3, rtol=0, atol=1e-15)
    assert tr.labels().tolist() == y.tolist()
    # bias-free variant, binned on the paper grid dt = 0.1 ms, T = 30 ms
    nb = yinyang_splits(bias_time_s=None, sizes=(20, 10, 10))
    assert nb.train.n_channels == 4
    xb = bin_events(nb.train.samples, 4, 1e-4, 300)
    assert xb.sum().item() == 80  # one spike per feature, none lost
    assert sp.train.fingerprint() != nb.train.fingerprint()
    assert yinyang_splits(sizes=(20, 10, 10)).train.fingerprint() == tr.fingerprint()


def test_latency_encode_rejects_out_of_range_values() -> None:
    with pytest.raises(DataFormatError, match="values"):
        latency_encode(np.array([[0.5, 1.5]]), 0.0, 1e-3)
    with pytest.raises(DataFormatError, match="labels"):
        latency_encode(np.array([[0.5]]), 0.0, 1e-3, labels=[0, 1])
    with pytest.raises(ValueError):
        latency_encode(np.array([[0.5]]), 2e-3, 1e-3)
