"""The Yin-Yang data set (Kriener, Göltz & Petrovici 2021), generated exactly.

The generator reproduces the sample stream of the reference implementation
(``lkriener/yin_yang_data_set``) bit for bit: NumPy's legacy ``RandomState(seed)`` (MT19937, whose
stream NumPy keeps stable), one ``randint(3)`` per sample for the target class, then rejection
sampling of ``rand(2) * 2 r_big`` points until one inside the big circle has the target class. The
paper's splits are train 5000 (seed 42), validation 1000 (seed 41), test 1000 (seed 40); the tests
check the golden first samples, class counts and sha256 of those splits.

Features are ``[x, y, 1 - x, 1 - y]`` (float64 in [0, 1)), labels 0 (yin), 1 (yang), 2 (dot).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from .dataset import EventDataset, Splits
from .encoders import latency_encode

__all__ = ["YINYANG_PAPER_SPLITS", "yin_yang", "yin_yang_class", "yinyang_splits"]

logger = logging.getLogger(__name__)

#: (size, seed) of the paper's train, validation and test splits.
YINYANG_PAPER_SPLITS: dict[str, tuple[int, int]] = {
    "train": (5000, 42),
    "val": (1000, 41),
    "test": (1000, 40),
}

CLASS_NAMES = ("yin", "yang", "dot")


def yin_yang_class(x: float, y: float, r_small: float = 0.1, r_big: float = 0.5) -> int:
    """Class of the point ``(x, y)`` inside the big circle: 0 yin, 1 yang, 2 dot."""
    d_right = math.sqrt((x - 1.5 * r_big) ** 2 + (y - r_big) ** 2)
    d_left = math.sqrt((x - 0.5 * r_big) ** 2 + (y - r_big) ** 2)
    if d_right < r_small or d_left < r_small:
        return 2
    in_yang = (
        d_right <= r_small
        or r_small < d_left <= 0.5 * r_big
        or (y > r_big and d_right > 0.5 * r_big)
    )
    return 1 if in_yang else 0


def yin_yang(
    size: int, seed: int, r_small: float = 0.1, r_big: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``size`` Yin-Yang samples with the reference generator's exact random stream.

    Returns:
        ``(X, y)``: float64 ``[size, 4]`` features ``[x, y, 1-x, 1-y]`` and int64 ``[size]`` labels.
    """
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    if not 0.0 < r_small < 0.5 * r_big:
        raise ValueError(f"need 0 < r_small < r_big / 2, got r_small={r_small}, r_big={r_big}")
    rng = np.random.RandomState(seed)  # legacy stream on purpose: it defines the data set
    features = np.empty((size, 4), dtype=np.float64)
    labels = np.empty(size, dtype=np.int64)
    for i in range(size):
        goal = int(rng.randint(3))
        while True:
            x, y = rng.rand(2) * 2.0 * r_big
            if math.sqrt((x - r_big) ** 2 + (y - r_big) ** 2) > r_big:
                continue
            if yin_yang_class(float(x), float(y), r_small, r_big) == goal:
                break
        xy = np.array([x, y])
        features[i, :2] = xy
        features[i, 2:] = 1.0 - xy
        labels[i] = goal
    return features, labels


def yinyang_splits(
    t_min_s: float = 0.2e-3,
    t_max_s: float = 29.8e-3,
    bias_time_s: float | None = 0.2e-3,
    sizes: tuple[int, int, int] = (5000, 1000, 1000),
    seeds: tuple[int, int, int] = (42, 41, 40),
    r_small: float = 0.1,
    r_big: float = 0.5,
) -> Splits[EventDataset]:
    """The paper's Yin-Yang splits, latency-encoded.

    Each feature ``v`` fires once at ``t_min_s + v (t_max_s - t_min_s)``. Defaults follow the
    loss-shaping paper (GeNN convention, ``T = 30 ms``, ``dt = 0.1 ms``: ``t_min = 2 dt``,
    ``t_max = T - 2 dt``, bias spike on channel 0 at ``t_min``), giving 5 channels; pass
    ``bias_time_s=None`` for 4 channels without bias.

    Each split's ``params`` records the encoding, and ``features`` / ``labels`` arrays are
    available through :func:`yin_yang` with the same size and seed.
    """
    out: list[EventDataset] = []
    for split, size, seed in zip(("train", "val", "test"), sizes, seeds, strict=True):
        x, y = yin_yang(size, seed, r_small, r_big)
        samples = latency_encode(x, t_min_s, t_max_s, bias_time_s=bias_time_s, labels=y)
        n_ch = 4 if bias_time_s is None else 5
        out.append(EventDataset(
            name=f"yinyang/{split}",
            samples=samples,
            n_channels=n_ch,
            n_classes=3,
            origin="generated",
            source=f"eventbench.data.yin_yang(size={size}, seed={seed}, r_small={r_small}, "
                   f"r_big={r_big})",
            class_names=CLASS_NAMES,
            params={"t_min_s": t_min_s, "t_max_s": t_max_s, "bias_time_s": bias_time_s,
                    "size": size, "seed": seed, "r_small": r_small, "r_big": r_big},
        ))
        logger.debug("generated yinyang/%s: %d samples", split, size)
    return Splits(train=out[0], val=out[1], test=out[2])
