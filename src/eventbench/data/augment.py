"""Event augmentations (pure functions; randomness only through an explicit Generator).

The SHD augmentations of the EventProp papers (loss-shaping, mlGeNN, delay learning):

* :func:`shift_channels` / :func:`random_shift`: add one integer to every channel id;
* :func:`blend` / :func:`blend_dataset`: mix two samples of the same class;
* :func:`delay_lines`: input delay-line copies on extra channels;
* :func:`jitter_channels`, :func:`dilate_time`: genn_eventprop's ``ID_jitter`` and
  ``random_dilate``;
* :func:`pool_channels`: merge groups of adjacent channels (e.g. 700 -> 140).

Events moved outside the channel range or the trial window are dropped: that is the definition of
these augmentations in the papers (not a repair of bad input), and each docstring says so.
Arguments that make no sense (a shift range as wide as the channel range, a blend of two classes)
raise ``ValueError``.
"""

from __future__ import annotations

import numpy as np

from .dataset import EventDataset
from .events import EventSample

__all__ = [
    "blend",
    "blend_dataset",
    "delay_lines",
    "dilate_time",
    "jitter_channels",
    "pool_channels",
    "random_shift",
    "shift_channels",
]


def shift_channels(sample: EventSample, shift: int) -> EventSample:
    """Add ``shift`` to every channel id; events leaving ``[0, n_channels)`` are dropped.

    ``|shift| >= n_channels`` would drop everything and raises ``ValueError``.
    """
    n = sample.n_channels
    if not -n < shift < n:
        raise ValueError(f"channel shift {shift} out of range (-{n}, {n}) for {n} channels")
    ch = sample.channels + int(shift)
    keep = (ch >= 0) & (ch < n)
    return sample.replace_events(sample.times_s[keep], ch[keep])


def random_shift(sample: EventSample, rng: np.random.Generator, max_shift: int = 40) -> EventSample:
    """:func:`shift_channels` by ``s = rng.integers(-max_shift, max_shift)`` (upper bound
    exclusive, as mlGeNN's and deventprop's ``randint(-40, 40)``)."""
    if not 0 <= max_shift < sample.n_channels:
        raise ValueError(
            f"max_shift {max_shift} out of range [0, {sample.n_channels}) (channel shift)"
        )
    if max_shift == 0:
        return sample
    return shift_channels(sample, int(rng.integers(-max_shift, max_shift)))


def blend(
    a: EventSample,
    b: EventSample,
    rng: np.random.Generator,
    p_keep: float = 0.5,
    t_stop_s: float = 1.0,
) -> EventSample:
    """Blend two samples of the same class (mlGeNN / deventprop SHD augmentation).

    Each sample is moved halfway towards the other: its channels by ``int(m - m_own)`` (truncated
    towards zero) and its times by ``tau - tau_own`` seconds, where ``m`` and ``tau`` are the
    midpoints of the two samples' mean channel and mean time. Events moved outside
    ``[0, n_channels)`` or ``[0, t_stop_s)`` are dropped; each remaining event is kept with
    probability ``p_keep``; the result is sorted by time (stable). An empty sample is not moved
    (it has no mean). Raises ``ValueError`` if labels or channel counts differ.
    """
    if a.label != b.label:
        raise ValueError(f"blend needs samples of one class, got labels {a.label} and {b.label}")
    if a.n_channels != b.n_channels:
        raise ValueError(f"n_channels differ: {a.n_channels} vs {b.n_channels}")
    if not 0.0 <= p_keep <= 1.0:
        raise ValueError(f"p_keep must be in [0, 1], got {p_keep!r}")
    parts_t, parts_c = [], []
    both = a.n_events > 0 and b.n_events > 0
    mc = 0.5 * (a.channels.mean() + b.channels.mean()) if both else 0.0
    mt = 0.5 * (a.times_s.mean() + b.times_s.mean()) if both else 0.0
    for s in (a, b):
        t, c = s.times_s, s.channels
        if both:
            c = c + int(mc - c.mean())
            t = t + (mt - t.mean())
        keep = (c >= 0) & (c < s.n_channels) & (t >= 0.0) & (t < t_stop_s)
        keep &= rng.random(t.shape[0]) < p_keep
        parts_t.append(t[keep])
        parts_c.append(c[keep])
    t_all, c_all = np.concatenate(parts_t), np.concatenate(parts_c)
    order = np.argsort(t_all, kind="stable")
    return a.replace_events(t_all[order], c_all[order])


def blend_dataset(
    dataset: EventDataset,
    n_blend: int,
    rng: np.random.Generator,
    p_keep: float = 0.5,
    t_stop_s: float = 1.0,
) -> list[EventSample]:
    """``n_blend`` new samples, each a :func:`blend` of a random sample and another random
    sample of the same class (a different one where the class has more than one)."""
    labels = dataset.labels()
    by_class = {int(c): np.flatnonzero(labels == c) for c in np.unique(labels)}
    out: list[EventSample] = []
    for _ in range(n_blend):
        i = int(rng.integers(len(dataset)))
        pool = by_class[int(labels[i])]
        if pool.size > 1:
            others = pool[pool != i]
            j = int(others[rng.integers(others.size)])
        else:
            j = i
        out.append(blend(dataset[i], dataset[j], rng, p_keep, t_stop_s))
    return out


def delay_lines(
    sample: EventSample, n_copies: int = 10, delay_s: float = 30e-3, t_stop_s: float = 1.0
) -> EventSample:
    """``n_copies`` copies of the input; copy ``k`` is delayed by ``k * delay_s`` and put on
    channels ``k * N .. k * N + N - 1`` (``n_channels`` becomes ``n_copies * N``). Copies of
    events landing at ``t >= t_stop_s`` are dropped (mlGeNN ``shd_delay_shift_blend``)."""
    if n_copies < 1 or delay_s < 0:
        raise ValueError(f"need n_copies >= 1 and delay_s >= 0, got {n_copies}, {delay_s}")
    n = sample.n_channels
    k = np.repeat(np.arange(n_copies, dtype=np.int64), sample.n_events)
    t = np.tile(sample.times_s, n_copies) + k * delay_s
    c = np.tile(sample.channels, n_copies) + k * n
    keep = t < t_stop_s
    order = np.argsort(t[keep], kind="stable")
    return sample.replace_events(t[keep][order], c[keep][order], n_channels=n * n_copies)


def jitter_channels(sample: EventSample, rng: np.random.Generator, sigma: float) -> EventSample:
    """Add ``round(N(0, sigma))`` to each event's channel independently; events leaving the
    channel range are dropped (genn_eventprop ``ID_jitter``)."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    c = sample.channels + np.rint(rng.normal(0.0, sigma, sample.n_events)).astype(np.int64)
    keep = (c >= 0) & (c < sample.n_channels)
    return sample.replace_events(sample.times_s[keep], c[keep])


def dilate_time(
    sample: EventSample, rng: np.random.Generator, low: float, high: float, t_stop_s: float
) -> EventSample:
    """Multiply all times by ``exp(U(ln low, ln high))``; events at ``t >= t_stop_s`` are dropped
    (genn_eventprop ``random_dilate``)."""
    if not 0 < low <= high:
        raise ValueError(f"need 0 < low <= high, got {low}, {high}")
    factor = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    t = sample.times_s * factor
    keep = t < t_stop_s
    return sample.replace_events(t[keep], sample.channels[keep])


def pool_channels(sample: EventSample, factor: int) -> EventSample:
    """Merge groups of ``factor`` adjacent channels (channel ``c`` -> ``c // factor``); events
    are kept (count-mode binning then sums them). ``n_channels`` must divide by ``factor``."""
    if factor < 1 or sample.n_channels % factor:
        raise ValueError(f"factor {factor} does not divide n_channels {sample.n_channels}")
    return sample.replace_events(
        sample.times_s, sample.channels // factor, n_channels=sample.n_channels // factor
    )
