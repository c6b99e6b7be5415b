"""Writers of tiny data files in the exact real formats (all inside tmp_path)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import numpy as np
import pytest

ShdWriter = Callable[..., Path]


def _write_shd_like(
    path: Path,
    times: Sequence[Sequence[float]],
    units: Sequence[Sequence[int]],
    labels: Sequence[int],
    speakers: Sequence[int] | None = None,
    keys: Sequence[str] | None = None,
    times_dtype: type = np.float16,
    units_dtype: type = np.uint16,
    labels_dtype: type = np.uint8,
) -> Path:
    """The SHD/SSC HDF5 layout (datasets.md section 3)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        t = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(times_dtype))
        u = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(units_dtype))
        for i, ti in enumerate(times):
            t[i] = np.asarray(ti, times_dtype)
        for i, ui in enumerate(units):
            u[i] = np.asarray(ui, units_dtype)
        f["labels"] = np.asarray(labels, labels_dtype)
        if speakers is not None:
            f["extra/speaker"] = np.asarray(speakers, np.uint8)
        if keys is not None:
            f["extra/keys"] = np.asarray([k.encode() for k in keys])
        m = f.create_group("extra/meta_info")
        m["gender"] = np.asarray([b"f"] * 12)
        m["age"] = np.zeros(12, np.uint8)
        m["body_height"] = np.zeros(12, np.uint8)
    return path


@pytest.fixture
def write_shd_like() -> ShdWriter:
    return _write_shd_like


SHD_KEYS = [f"digit-{i}" for i in range(20)]


@pytest.fixture
def shd_file(tmp_path: Path) -> Path:
    """A 4-sample shd_train.h5: normal, empty, late (float16 near 1.39 s), two in one bin."""
    return _write_shd_like(
        tmp_path / "shd_train.h5",
        times=[[0.0105, 0.25, 0.5], [], [0.3, 0.999, 1.2, 1.39], [0.0101, 0.0104]],
        units=[[0, 350, 699], [], [5, 6, 7, 8], [10, 10]],
        labels=[3, 19, 0, 3],
        speakers=[1, 2, 1, 4],
        keys=SHD_KEYS,
    )
