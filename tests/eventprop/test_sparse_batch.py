"""The compiled sparse-batch builder equals BinnedEvents.sparse (its definition)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eventbench.data import EventSample, bin_samples
from eventbench.eventprop import kernels

pytestmark = pytest.mark.skipif(not kernels.available(), reason="needs numba")


@pytest.mark.parametrize("mode", ["binary", "count"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sparse_batch_equals_the_definition(mode: str, dtype: torch.dtype) -> None:
    from eventbench.eventprop.kernels.batch import sparse_batch

    rng = np.random.default_rng(0)
    samples = []
    for i in range(12):
        k = 0 if i == 4 else int(rng.integers(1, 400))  # sample 4 is empty
        # 30 steps x 9 channels: many bins hold several events (duplicates to merge)
        samples.append(EventSample(rng.random(k) * 0.03, rng.integers(0, 9, k), 9, i % 2))
    binned = bin_samples(samples, 9, 1e-3, 30)
    for idx in (np.array([3, 4, 0, 11, 3]), np.arange(12), np.array([4])):
        ref = binned.sparse(idx, mode=mode, dtype=dtype)  # type: ignore[arg-type]
        out = sparse_batch(binned, idx, mode, dtype)  # type: ignore[arg-type]
        assert out.is_coalesced() and out.shape == ref.shape and out.dtype == ref.dtype
        assert torch.equal(out.indices(), ref.indices())
        assert torch.equal(out.values(), ref.values())
    if mode == "count":
        assert float(sparse_batch(binned, np.arange(12), mode, dtype).values().max()) > 1.0  # type: ignore[arg-type]
    with pytest.raises(IndexError, match="out of range"):
        sparse_batch(binned, np.array([12]), mode, dtype)  # type: ignore[arg-type]
