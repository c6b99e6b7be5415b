r"""Training diagnostics of spiking networks: the loss-shaping paper's failure analysis as a feature.

EventProp can fail by deleting the spikes the loss needs ([NTK]): the hidden layers fall silent
while the loss barely moves. The training loop therefore records, per epoch and per hidden layer
(all numbers from the training forward passes the loop runs anyway; no extra passes):

* ``spikes``: hidden spikes of the epoch, :math:`S_l = \sum_{s,n} c_{s,n}`, where
  :math:`c_{s,n}` is the spike count of neuron ``n`` in the (one) forward pass of training
  sample ``s`` in this epoch;
* ``rate_hz``: mean rate :math:`S_l / (N_l \, n_{\text{samples}} \, T)` in Hz (``T`` the trial
  length in s);
* ``silent``: neurons that fired no spike in the whole epoch, :math:`\#\{n : \sum_s c_{s,n} = 0\}`;
* ``spikes_created`` / ``spikes_deleted``: spikes gained and lost against the previous epoch,
  sample by sample and neuron by neuron,

  .. math::

     \text{created} = \sum_{s,n} \max(0, c^{e}_{s,n} - c^{e-1}_{s,n}), \qquad
     \text{deleted} = \sum_{s,n} \max(0, c^{e-1}_{s,n} - c^{e}_{s,n})

  (so ``spikes`` of epoch ``e`` minus ``spikes`` of epoch ``e - 1`` equals created minus
  deleted). ``None`` in the first epoch (nothing to compare with). The weights change between
  minibatches, so each count is that of the weights at the sample's minibatch; input-spike drop
  also changes counts between epochs.

and per epoch: the guard-hit fraction (guard hits / threshold crossings, hidden plus LIF-output
spikes) and the mean over the epoch's optimiser steps of each parameter's gradient norm
:math:`\lVert \partial L / \partial \theta \rVert_2` (before any clipping).

Memory: :class:`SpikeCountTracker` keeps the previous and the current epoch's counts, int16
``[n_samples, N_l]`` per layer (int32 when a trial has more than 32 767 steps, the most spikes
one neuron can fire in a trial), i.e. :math:`2 \times 2 \, n_{\text{samples}} N_l` bytes: 8.4 MB
for SHD (8 156 samples x 256 neurons).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "LOW_RATE_HZ",
    "SILENT_FRACTION",
    "GradNormMeter",
    "LayerDiagnostics",
    "SpikeCountTracker",
    "is_silent",
    "layer_diagnostics",
    "spike_changes",
    "warn_if_silent",
]

log = logging.getLogger(__name__)

#: a hidden layer with more than this fraction of silent neurons triggers a warning
SILENT_FRACTION = 0.9
#: a hidden layer firing below this mean rate (Hz) triggers a warning
LOW_RATE_HZ = 1.0

_INT16_MAX = 32767


@dataclass(frozen=True)
class LayerDiagnostics:
    """Activity of one hidden layer over one training epoch (definitions in the module docstring).

    Attributes:
        layer: hidden layer index (0 = first).
        neurons: neurons in the layer ``N_l``.
        spikes: hidden spikes of the epoch.
        rate_hz: mean rate per neuron and sample (Hz); ``None`` when the trial length is unknown.
        silent: neurons with no spike in the epoch.
        spikes_created: spikes gained against the previous epoch (``None`` in the first one).
        spikes_deleted: spikes lost against the previous epoch (``None`` in the first one).
    """

    layer: int
    neurons: int
    spikes: int
    rate_hz: float | None
    silent: int
    spikes_created: int | None = None
    spikes_deleted: int | None = None

    @property
    def silent_fraction(self) -> float:
        """``silent / neurons`` (0 for an empty layer)."""
        return self.silent / self.neurons if self.neurons else 0.0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayerDiagnostics:
        """Inverse of :func:`dataclasses.asdict`."""
        return cls(**d)


def spike_changes(previous: Tensor, current: Tensor) -> tuple[int, int]:
    r"""``(created, deleted)`` spikes between two count tables of the same samples.

    Args:
        previous: integer ``[S, N]`` counts of the previous epoch.
        current: integer ``[S, N]`` counts of this epoch (same samples, same order).

    Returns:
        :math:`\sum \max(0, c - c')` and :math:`\sum \max(0, c' - c)` with ``c`` the current and
        ``c'`` the previous counts.

    >>> spike_changes(torch.tensor([[2, 0], [1, 1]]), torch.tensor([[0, 3], [1, 2]]))
    (4, 2)
    """
    if previous.shape != current.shape:
        raise ValueError(
            f"count tables differ in shape: {tuple(previous.shape)} vs {tuple(current.shape)}"
        )
    diff = current.to(torch.int64) - previous.to(torch.int64)
    created = int(diff.clamp_min(0).sum())
    deleted = int((-diff).clamp_min(0).sum())
    return created, deleted


class SpikeCountTracker:
    """Per-sample, per-neuron spike counts of the current and the previous training epoch.

    Call :meth:`start_epoch`, then :meth:`add` for every minibatch (sample indices into the
    training split and the learner's ``sample_counts``), then :meth:`finish_epoch`, which
    returns per layer ``(created, deleted)`` against the previous epoch over the samples seen
    in both, or ``None`` when there is no previous epoch. Counts are stored as int16 (int32 when
    ``max_count`` exceeds 32 767) and saturate at that type's maximum.

    Args:
        n_samples: samples in the training split.
        sizes: neurons per hidden layer.
        max_count: the most spikes a neuron can fire in one trial (its number of steps).
    """

    def __init__(self, n_samples: int, sizes: Sequence[int], max_count: int) -> None:
        self.n_samples = n_samples
        self.sizes = tuple(sizes)
        self.dtype = torch.int16 if max_count <= _INT16_MAX else torch.int32
        self._cap = _INT16_MAX if self.dtype == torch.int16 else torch.iinfo(torch.int32).max
        self._prev: tuple[Tensor, ...] | None = None
        self._prev_seen: Tensor | None = None
        self._cur: tuple[Tensor, ...] = ()
        self._seen = torch.zeros(0, dtype=torch.bool)

    def start_epoch(self) -> None:
        """Begin recording a new epoch."""
        self._cur = tuple(torch.zeros(self.n_samples, n, dtype=self.dtype) for n in self.sizes)
        self._seen = torch.zeros(self.n_samples, dtype=torch.bool)

    def add(self, indices: Tensor, counts: Sequence[Tensor]) -> None:
        """Record the counts ``[b, N_l]`` per layer of the samples ``indices [b]``."""
        if len(counts) != len(self.sizes):
            raise ValueError(f"got counts of {len(counts)} layers, expected {len(self.sizes)}")
        idx = indices.to("cpu", torch.int64)
        for table, c in zip(self._cur, counts, strict=True):
            table[idx] = c.detach().to("cpu").clamp(max=self._cap).to(self.dtype)
        self._seen[idx] = True

    def finish_epoch(self) -> tuple[tuple[int, int] | None, ...]:
        """Changes against the previous epoch per layer; this epoch becomes the previous one."""
        if self._prev is None or self._prev_seen is None:
            out: tuple[tuple[int, int] | None, ...] = tuple(None for _ in self.sizes)
        else:
            both = self._seen & self._prev_seen
            out = tuple(
                spike_changes(p[both], c[both]) for p, c in zip(self._prev, self._cur, strict=True)
            )
        self._prev, self._prev_seen = self._cur, self._seen
        return out

    def state_dict(self) -> dict[str, Any]:
        """The previous epoch's counts (what a resumed run needs), for checkpoints."""
        return {
            "counts": None if self._prev is None else list(self._prev),
            "seen": self._prev_seen,
        }

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`state_dict` (``None`` or a mismatching shape: start afresh)."""
        if not state or state.get("counts") is None or state.get("seen") is None:
            self._prev = self._prev_seen = None
            return
        counts = tuple(state["counts"])
        shapes = tuple(tuple(c.shape) for c in counts)
        if shapes != tuple((self.n_samples, n) for n in self.sizes):
            log.warning("stored spike counts %s do not fit this run; spike changes restart", shapes)
            self._prev = self._prev_seen = None
            return
        self._prev = tuple(c.to(self.dtype) for c in counts)
        self._prev_seen = state["seen"].to(torch.bool)


class GradNormMeter:
    r"""Mean over optimiser steps of every parameter's gradient norm
    :math:`\lVert \partial L / \partial \theta \rVert_2` (steps where a parameter has no gradient
    do not count for it)."""

    def __init__(self, module: nn.Module) -> None:
        self._params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._sums = [0.0] * len(self._params)
        self._steps = [0] * len(self._params)

    def add(self) -> None:
        """Record the gradients now held by the parameters (call after ``backward``)."""
        have = [(i, p.grad) for i, (_, p) in enumerate(self._params) if p.grad is not None]
        if not have:
            return
        norms = torch.stack(
            [torch.linalg.vector_norm(g.detach(), dtype=torch.float64) for _, g in have]
        ).tolist()
        for (i, _), v in zip(have, norms, strict=True):
            self._sums[i] += float(v)
            self._steps[i] += 1

    def compute(self) -> dict[str, float]:
        """``{parameter name: mean norm}`` over the recorded steps."""
        return {
            name: self._sums[i] / self._steps[i]
            for i, (name, _) in enumerate(self._params)
            if self._steps[i]
        }


def layer_diagnostics(
    epoch_counts: Sequence[Tensor],
    n_samples: int,
    duration_s: float | None,
    changes: Sequence[tuple[int, int] | None] | None = None,
) -> tuple[LayerDiagnostics, ...]:
    """Per-layer diagnostics from the epoch's per-neuron counts.

    Args:
        epoch_counts: per layer, int ``[N_l]`` spikes of each neuron summed over the epoch.
        n_samples: training samples in the epoch.
        duration_s: trial length in seconds (``None``: rates unknown).
        changes: per layer ``(created, deleted)`` from :meth:`SpikeCountTracker.finish_epoch`.

    >>> d = layer_diagnostics([torch.tensor([0, 4, 0, 2])], n_samples=2, duration_s=0.5)
    >>> d[0].spikes, d[0].silent, d[0].rate_hz
    (6, 2, 1.5)
    """
    ch = list(changes) if changes is not None else [None] * len(epoch_counts)
    out = []
    for i, (c, delta) in enumerate(zip(epoch_counts, ch, strict=True)):
        n = int(c.numel())
        spikes = int(c.sum())
        rate = None
        if duration_s is not None and n and n_samples:
            rate = spikes / (n * n_samples * duration_s)
        out.append(
            LayerDiagnostics(
                layer=i,
                neurons=n,
                spikes=spikes,
                rate_hz=rate,
                silent=int((c == 0).sum()),
                spikes_created=None if delta is None else delta[0],
                spikes_deleted=None if delta is None else delta[1],
            )
        )
    return tuple(out)


def is_silent(
    d: LayerDiagnostics,
    silent_fraction: float = SILENT_FRACTION,
    low_rate_hz: float = LOW_RATE_HZ,
) -> bool:
    """Whether a hidden layer is (almost) silent: more than ``silent_fraction`` of its neurons
    fired no spike, or its mean rate is below ``low_rate_hz`` Hz.

    >>> is_silent(LayerDiagnostics(0, neurons=10, spikes=5, rate_hz=2.0, silent=9))
    False
    >>> is_silent(LayerDiagnostics(0, neurons=10, spikes=1, rate_hz=0.5, silent=9))
    True
    """
    if not d.neurons:
        return False
    low_rate = d.rate_hz is not None and math.isfinite(d.rate_hz) and d.rate_hz < low_rate_hz
    return d.silent_fraction > silent_fraction or low_rate


def warn_if_silent(
    layers: Sequence[LayerDiagnostics],
    epoch: int,
    silent_fraction: float = SILENT_FRACTION,
    low_rate_hz: float = LOW_RATE_HZ,
) -> list[int]:
    """Log a warning for every hidden layer that :func:`is_silent`, naming the layer, the
    epoch (counted from 1), its silent neurons and its rate. Returns those layers' indices."""
    flagged = []
    for d in layers:
        if is_silent(d, silent_fraction, low_rate_hz):
            rate = "n/a" if d.rate_hz is None else f"{d.rate_hz:.3g} Hz"
            log.warning(
                "hidden layer %d is going silent in epoch %d: %d of %d neurons fired no spike, "
                "mean rate %s (EventProp may be deleting the spikes the loss needs; see the "
                "diagnostics plot)",
                d.layer, epoch + 1, d.silent, d.neurons, rate,
            )
            flagged.append(d.layer)
    return flagged
