"""scikit-learn's bundled 8x8 handwritten digits, latency-coded (real handwriting, offline).

``sklearn.datasets.load_digits()`` reads ``digits.csv.gz`` from the installed wheel (no network):
1797 images of 8x8 pixels with integer intensities 0..16, 10 classes. Intensities are rescaled by
255/16 and encoded with the MNIST rule ``t = 2 dt + (255 - v)/255 (T - 4 dt)`` for ``v > 1`` (so
only intensity 0 is silent), 64 channels. There is no official split: a seeded stratified split
is used (per class, a ``numpy.random.default_rng(seed)`` permutation; counts rounded per class).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .dataset import EventDataset, Splits
from .encoders import pixel_latency_encode

__all__ = ["digits_splits", "load_digits_arrays", "stratified_split"]

logger = logging.getLogger(__name__)


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray, str]:
    """``(images float64 [1797, 8, 8] in 0..16, labels int64 [1797], source path)``."""
    import sklearn.datasets

    bunch = sklearn.datasets.load_digits()
    source = str(Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz")
    return (
        np.asarray(bunch.images, dtype=np.float64),
        np.asarray(bunch.target, dtype=np.int64),
        source,
    )


def stratified_split(
    labels: np.ndarray, fractions: tuple[float, ...], seed: int
) -> list[np.ndarray]:
    """Split indices per class: for each class (ascending) a seeded permutation of its indices is
    cut into parts of ``round(f * n_class)`` for each fraction ``f`` except the first, which gets
    the rest. Returns sorted int64 index arrays, one per fraction."""
    if abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"fractions must be >= 0 and sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        sizes = [round(f * idx.size) for f in fractions[1:]]
        first = idx.size - sum(sizes)
        if first < 0:
            raise ValueError(f"class {c} has too few samples ({idx.size}) for {fractions}")
        bounds = np.cumsum([0, first, *sizes])
        for k in range(len(fractions)):
            parts[k].append(idx[bounds[k]:bounds[k + 1]])
    return [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]


def digits_splits(
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    duration_s: float = 20e-3,
    dt_s: float = 1e-3,
    threshold: float = 1.0,
) -> Splits[EventDataset]:
    """Latency-coded sklearn digits, stratified train/val/test split (``val_fraction = 0``: none).

    Defaults give 1259/179/359 samples (sizes do not depend on the seed), 64 channels, 10 classes.
    """
    images, labels, source = load_digits_arrays()
    pixels = images * (255.0 / 16.0)
    fr = (1.0 - val_fraction - test_fraction, val_fraction, test_fraction)
    tr, va, te = stratified_split(labels, fr, seed)
    params = {"seed": seed, "val_fraction": val_fraction, "test_fraction": test_fraction,
              "duration_s": duration_s, "dt_s": dt_s, "threshold": threshold,
              "pixel_scale": 255.0 / 16.0}

    def make(name: str, idx: np.ndarray) -> EventDataset:
        return EventDataset(
            name=f"digits/{name}",
            samples=pixel_latency_encode(pixels[idx], duration_s, dt_s, threshold, labels[idx]),
            n_channels=64, n_classes=10, origin="package", source=source,
            class_names=tuple(str(i) for i in range(10)), params=params,
        )

    return Splits(
        train=make("train", tr), val=make("val", va) if va.size else None, test=make("test", te)
    )
