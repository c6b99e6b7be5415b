"""Sparse spike records: what the forward pass keeps for the adjoint and for the metrics."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["SpikeRecord"]


class SpikeRecord(NamedTuple):
    """Spikes of one population in one forward pass, stored sparsely.

    Memory grows with the number of spikes ``S``, not with ``T x B x N``.

    Attributes:
        step: int64 ``[S]``, stamp index ``k`` of each spike (time ``k * dt``), ``1 <= k <= T``,
            non-decreasing.
        batch: int64 ``[S]``, sample index.
        neuron: int64 ``[S]``, neuron index.
        i_minus_v: ``[S]`` ``I - V`` at the crossing (the adjoint jump denominator before
            its guard); empty for records that do not need it.
        n_steps: ``T``.
        batch_size: ``B``.
        n_neurons: ``N``.
    """

    step: Tensor
    batch: Tensor
    neuron: Tensor
    i_minus_v: Tensor
    n_steps: int
    batch_size: int
    n_neurons: int

    @property
    def n_spikes(self) -> int:
        """Number of recorded spikes ``S``."""
        return int(self.step.numel())

    def counts(self) -> Tensor:
        """Spike counts per sample and neuron, int64 ``[B, N]``."""
        flat = self.batch * self.n_neurons + self.neuron
        return torch.bincount(flat, minlength=self.batch_size * self.n_neurons).view(
            self.batch_size, self.n_neurons
        )

    def dense(self, start: int, stop: int, dtype: torch.dtype) -> Tensor:
        """Dense spikes with stamps ``start <= k < stop`` as ``[stop - start, B, N]`` of ``dtype``."""
        out = torch.zeros(
            stop - start, self.batch_size, self.n_neurons, dtype=dtype, device=self.step.device
        )
        lo, hi = self._slice(start, stop)
        if hi > lo:
            out[self.step[lo:hi] - start, self.batch[lo:hi], self.neuron[lo:hi]] = 1.0
        return out

    def dense_values(self, values: Tensor, start: int, stop: int, fill: float) -> Tensor:
        """Scatter per-spike ``values [S]`` into ``[stop - start, B, N]`` (``fill`` elsewhere)."""
        out = torch.full(
            (stop - start, self.batch_size, self.n_neurons),
            fill,
            dtype=values.dtype,
            device=values.device,
        )
        lo, hi = self._slice(start, stop)
        if hi > lo:
            out[self.step[lo:hi] - start, self.batch[lo:hi], self.neuron[lo:hi]] = values[lo:hi]
        return out

    def _slice(self, start: int, stop: int) -> tuple[int, int]:
        bounds = torch.tensor([start, stop], dtype=self.step.dtype, device=self.step.device)
        lo, hi = torch.searchsorted(self.step, bounds).tolist()
        return int(lo), int(hi)


def record_from_dense(spikes: Tensor, i_minus_v: Tensor | None, first_stamp: int) -> SpikeRecord:
    """Build a record from dense spikes ``[C, B, N]`` whose first row has stamp ``first_stamp``.

    ``i_minus_v`` (same shape, or ``None``) is read at the spike positions.
    """
    c, b, n = spikes.shape
    idx = torch.nonzero(spikes, as_tuple=True)
    step = idx[0] + first_stamp
    vals = (
        i_minus_v[idx]
        if i_minus_v is not None
        else torch.empty(0, dtype=spikes.dtype, device=spikes.device)
    )
    return SpikeRecord(step, idx[1], idx[2], vals, c, b, n)


def concat_records(
    parts: list[SpikeRecord],
    n_steps: int,
    batch: int,
    n: int,
    device: torch.device | None = None,
) -> SpikeRecord:
    """Concatenate chunk records (in time order) into one record over ``n_steps``."""
    if not parts:
        e = torch.empty(0, dtype=torch.int64, device=device)
        return SpikeRecord(e, e, e, torch.empty(0, device=device), n_steps, batch, n)
    return SpikeRecord(
        torch.cat([p.step for p in parts]),
        torch.cat([p.batch for p in parts]),
        torch.cat([p.neuron for p in parts]),
        torch.cat([p.i_minus_v for p in parts]),
        n_steps,
        batch,
        n,
    )
