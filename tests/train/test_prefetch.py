"""The training loop's batches, built ahead in a thread for the CPU kernels, are the same."""

from __future__ import annotations

import threading

import numpy as np
import torch

from eventbench.data import EventSample, bin_samples
from eventbench.train.data import BinnedSplit
from eventbench.train.loop import _batches


def test_prefetched_batches_equal_the_plain_ones() -> None:
    rng = np.random.default_rng(0)
    samples = [
        EventSample(rng.random(50) * 0.04, rng.integers(0, 30, 50), 30, int(i % 3)) for i in range(23)
    ]
    split = BinnedSplit("toy", bin_samples(samples, 30, 1e-3, 40))
    perm = torch.randperm(23, generator=torch.Generator().manual_seed(1))
    seen: set[int] = set()
    inner = split.batch

    def spy(idx: torch.Tensor, sparse: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        seen.add(threading.get_ident())
        return inner(idx, sparse=sparse)

    object.__setattr__(split, "batch", spy)
    slices = list(perm.split(5))
    plain = list(_batches(split, slices, sparse=False))
    ahead = list(_batches(split, slices, sparse=True))
    assert len(plain) == len(ahead) == 5
    for (i0, (x0, y0)), (i1, (x1, y1)) in zip(plain, ahead, strict=True):
        assert torch.equal(i0, i1) and torch.equal(y0, y1)
        assert torch.equal(x0.to_dense(), x1.to_dense())
    assert len(seen) == 2  # the caller's thread and the prefetch thread
