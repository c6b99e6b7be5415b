r"""Latency encoders: one spike per input value, earlier for larger (pixels) or per value.

Two conventions from the EventProp literature (``/work/shared/docs/datasets.md``):

* :func:`latency_encode` (Yin-Yang and other features in ``[0, 1]``):
  :math:`t = t_\mathrm{min} + v\,(t_\mathrm{max} - t_\mathrm{min})`, optionally with a bias spike
  on channel 0 (features then use channels ``1..F``).
* :func:`pixel_latency_encode` (MNIST-style intensities ``v`` in ``[0, 255]``):
  :math:`t = 2\,dt + \frac{255 - v}{255}\,(T - 4\,dt)` for ``v > threshold`` (default 1); pixels
  with ``v <= threshold`` stay silent. Bright pixels fire early, ``t`` lies in ``[2dt, T-2dt]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import DataFormatError
from .events import EventSample

__all__ = ["latency_encode", "latency_times", "pixel_latency_encode", "pixel_latency_times"]

_WHERE = "<encoder input>"


def _labels(labels: Sequence[int] | np.ndarray | None, n: int) -> list[int | None]:
    if labels is None:
        return [None] * n
    lab = np.asarray(labels)
    if lab.shape != (n,):
        raise DataFormatError(_WHERE, "labels", f"shape {lab.shape} != ({n},)")
    if not np.issubdtype(lab.dtype, np.integer):
        raise DataFormatError(_WHERE, "labels", f"must be integer, got {lab.dtype}")
    return [int(v) for v in lab]


def latency_times(values: np.ndarray, t_min_s: float, t_max_s: float) -> np.ndarray:
    """Spike times ``t_min + v (t_max - t_min)`` in seconds, same shape as ``values`` (in [0, 1])."""
    v = np.asarray(values, dtype=np.float64)
    if not 0.0 <= t_min_s <= t_max_s:
        raise ValueError(f"need 0 <= t_min_s <= t_max_s, got {t_min_s!r}, {t_max_s!r}")
    if v.size and (not np.isfinite(v).all() or v.min() < 0.0 or v.max() > 1.0):
        raise DataFormatError(
            _WHERE, "values", f"must be finite and in [0, 1], got range [{v.min()!r}, {v.max()!r}]"
        )
    return t_min_s + v * (t_max_s - t_min_s)


def latency_encode(
    values: np.ndarray,
    t_min_s: float,
    t_max_s: float,
    bias_time_s: float | None = None,
    labels: Sequence[int] | np.ndarray | None = None,
) -> list[EventSample]:
    """Encode rows of ``values`` (float ``[n, F]`` in ``[0, 1]``) as one spike per feature.

    Feature ``f`` of a row fires once at ``t_min_s + v (t_max_s - t_min_s)`` seconds on channel
    ``f`` (or ``f + 1`` with a bias). With ``bias_time_s`` set, channel 0 fires once at
    ``bias_time_s`` in every sample (``n_channels = F + 1``), else ``n_channels = F``.

    >>> s = latency_encode(np.array([[0.0, 0.5]]), 1e-3, 3e-3, bias_time_s=1e-3)[0]
    >>> s.times_s.tolist(), s.channels.tolist(), s.n_channels
    ([0.001, 0.001, 0.002], [0, 1, 2], 3)
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise DataFormatError(_WHERE, "values", f"must be [n, F], got shape {v.shape}")
    times = latency_times(v, t_min_s, t_max_s)
    n = v.shape[0]
    labs = _labels(labels, n)
    if bias_time_s is not None:
        if not bias_time_s >= 0.0:
            raise ValueError(f"bias_time_s must be >= 0, got {bias_time_s!r}")
        times = np.concatenate([np.full((n, 1), float(bias_time_s)), times], axis=1)
    n_ch = times.shape[1]
    chans = np.arange(n_ch, dtype=np.int64)
    return [EventSample(times[i], chans, n_ch, labs[i]) for i in range(n)]


def pixel_latency_times(
    pixels: np.ndarray, duration_s: float, dt_s: float, threshold: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(times_s, active)`` for intensities ``v`` in ``[0, 255]`` (any shape).

    ``times_s = 2 dt + (255 - v)/255 (T - 4 dt)``; ``active = v > threshold`` (inactive entries
    have a time too, which callers ignore).
    """
    p = np.asarray(pixels)
    if not (np.issubdtype(p.dtype, np.integer) or np.issubdtype(p.dtype, np.floating)):
        raise DataFormatError(_WHERE, "pixels", f"must be numeric, got {p.dtype}")
    v = p.astype(np.float64)
    if v.size and (not np.isfinite(v).all() or v.min() < 0.0 or v.max() > 255.0):
        raise DataFormatError(
            _WHERE, "pixels", f"must be in [0, 255], got range [{v.min()!r}, {v.max()!r}]"
        )
    if not (dt_s > 0.0 and duration_s > 4.0 * dt_s):
        raise ValueError(f"need dt_s > 0 and duration_s > 4 dt_s, got {duration_s!r}, {dt_s!r}")
    times = 2.0 * dt_s + (255.0 - v) / 255.0 * (duration_s - 4.0 * dt_s)
    return times, v > threshold


def pixel_latency_encode(
    pixels: np.ndarray,
    duration_s: float = 20e-3,
    dt_s: float = 1e-3,
    threshold: float = 1.0,
    labels: Sequence[int] | np.ndarray | None = None,
) -> list[EventSample]:
    """Encode images (``[n, H, W]`` or ``[n, P]``, intensities in ``[0, 255]``) as latency spikes.

    Pixel ``p`` (row-major index, ``n_channels = P``) fires once at
    ``2 dt + (255 - v)/255 (T - 4 dt)`` seconds if ``v > threshold``. Defaults: the loss-shaping
    paper's MNIST setting ``T = 20 ms``, ``dt = 1 ms``, threshold 1. Events are in channel order.

    >>> s = pixel_latency_encode(np.array([[0, 255, 1, 2]], np.uint8))[0]
    >>> s.channels.tolist(), [round(float(t) * 1e3, 5) for t in s.times_s]
    ([1, 3], [2.0, 17.87451])
    """
    p = np.asarray(pixels)
    if p.ndim < 2:
        raise DataFormatError(_WHERE, "pixels", f"must be [n, ...], got shape {p.shape}")
    n = p.shape[0]
    flat = p.reshape(n, -1)
    times, active = pixel_latency_times(flat, duration_s, dt_s, threshold)
    labs = _labels(labels, n)
    n_ch = flat.shape[1]
    rows, cols = np.nonzero(active)
    bounds = np.searchsorted(rows, np.arange(n + 1))
    t_sel = times[rows, cols]
    return [
        EventSample(t_sel[bounds[i]:bounds[i + 1]], cols[bounds[i]:bounds[i + 1]], n_ch, labs[i])
        for i in range(n)
    ]
