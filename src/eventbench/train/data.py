"""Training splits: random access to batches of time-major inputs and their targets.

A :class:`Split` hands out ``(x [T, b, N], y)`` for a list of sample indices, where ``y`` is
int64 ``[b]`` (classes) or float ``[T, b, K]`` (regression targets per step). Two
implementations cover the tasks:

* :class:`BinnedSplit`: events kept sparse (:class:`~eventbench.data.BinnedEvents`), made dense
  one batch at a time (MNIST-sized data sets never exist densely in memory);
* :class:`TensorSplit`: dense tensors already in memory (regression windows, small sets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch
from torch import Tensor

from eventbench.data import BinnedEvents

__all__ = ["SPARSE_MIN_BINS", "BinnedSplit", "Split", "TensorSplit"]

#: smallest dense batch (``T x b x N`` bins) that :class:`BinnedSplit` delivers sparse on request:
#: for an SHD batch (1000 x 32 x 700 bins, 1.2 % active) the sparse tensor takes 14 ms to build
#: against 42 ms for the dense one, and EventProp's CPU kernels then skip their pass over the
#: dense bins; a Yin-Yang batch (120 x 32 x 5) is cheaper dense.
SPARSE_MIN_BINS = 1_000_000


class Split(Protocol):
    """A data split with random access by sample index."""

    @property
    def name(self) -> str:
        """Split name, e.g. ``"yinyang/test"``."""
        ...

    def __len__(self) -> int:
        """Number of samples."""
        ...

    def batch(self, indices: Tensor, sparse: bool = False) -> tuple[Tensor, Tensor]:
        """``(x [T, b, N], y)`` for int64 ``indices [b]``. ``sparse=True`` asks for ``x`` as a
        sparse COO tensor where that is cheaper to build (a split may return a dense one)."""
        ...

    def fingerprint(self) -> str | None:
        """Content fingerprint of the underlying data set (provenance), if known."""
        ...


@dataclass(frozen=True, eq=False)
class BinnedSplit:
    """Classification split backed by sparse binned events.

    Attributes:
        name: e.g. ``"yinyang/test"``.
        binned: events on the simulation grid (labels required).
        mode: ``"count"`` (events per bin) or ``"binary"``.
        dtype: dtype of the dense batches.
        data_fingerprint: fingerprint of the source data set.
    """

    name: str
    binned: BinnedEvents
    mode: Literal["count", "binary"] = "count"
    dtype: torch.dtype = torch.float32
    data_fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.binned.labels is None:
            raise ValueError(f"{self.name}: every sample needs a class label")

    def __len__(self) -> int:
        return len(self.binned)

    def batch(self, indices: Tensor, sparse: bool = False) -> tuple[Tensor, Tensor]:
        """Dense ``x``, or with ``sparse=True`` a coalesced sparse COO ``x`` built from the events
        (:meth:`BinnedEvents.sparse`) when the dense batch would hold at least
        :data:`SPARSE_MIN_BINS` bins (below that the dense tensor is as cheap)."""
        idx = indices.numpy().astype(np.int64)
        bins = self.binned.n_steps * idx.shape[0] * self.binned.n_channels
        if sparse and bins >= SPARSE_MIN_BINS:
            x = _sparse(self.binned, idx, self.mode, self.dtype)
        else:
            x = self.binned.dense(idx, mode=self.mode, dtype=self.dtype)
        labels = self.binned.labels
        assert labels is not None  # checked in __post_init__
        return x, torch.from_numpy(labels[idx].astype(np.int64))

    def fingerprint(self) -> str | None:
        return self.data_fingerprint


def _sparse(
    binned: BinnedEvents, idx: np.ndarray, mode: Literal["count", "binary"], dtype: torch.dtype
) -> Tensor:
    """:meth:`BinnedEvents.sparse`, by the compiled counting sort of the EventProp kernels when
    Numba is installed (sparse batches are asked for only when the network runs on them)."""
    from eventbench.eventprop import kernels

    if kernels.available():
        from eventbench.eventprop.kernels.batch import sparse_batch

        return sparse_batch(binned, idx, mode, dtype)
    return binned.sparse(idx, mode=mode, dtype=dtype)


@dataclass(frozen=True, eq=False)
class TensorSplit:
    """Split backed by dense tensors: ``x [T, S, N]`` and ``y`` int64 ``[S]`` or ``[T, S, K]``."""

    name: str
    x: Tensor
    y: Tensor
    data_fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.x.dim() != 3:
            raise ValueError(f"{self.name}: inputs must be [T, S, N], got {tuple(self.x.shape)}")
        s = self.x.shape[1]
        ok = (self.y.dim() == 1 and self.y.shape[0] == s) or (
            self.y.dim() == 3 and self.y.shape[1] == s and self.y.shape[0] == self.x.shape[0]
        )
        if not ok:
            raise ValueError(
                f"{self.name}: targets {tuple(self.y.shape)} do not match inputs "
                f"{tuple(self.x.shape)} (need [S] or [T, S, K])"
            )

    def __len__(self) -> int:
        return int(self.x.shape[1])

    def batch(self, indices: Tensor, sparse: bool = False) -> tuple[Tensor, Tensor]:
        """Always dense (the data are held dense; ``sparse`` is only a preference)."""
        x = self.x[:, indices]
        y = self.y[indices] if self.y.dim() == 1 else self.y[:, indices]
        return x, y

    def fingerprint(self) -> str | None:
        return self.data_fingerprint
