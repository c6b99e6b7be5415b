"""MNIST from the user's own IDX files (gzip or raw), latency-coded.

IDX format: a big-endian header ``00 00 <type> <ndim>`` (type 0x08 ubyte, 0x09 int8, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64), then ``ndim`` uint32 sizes, then row-major data. MNIST
images are type 0x08 with 3 dims ``(N, 28, 28)``, labels type 0x08 with 1 dim ``(N,)``. Every
header field is checked; a truncated or over-long file, a wrong type or shape, or a label outside
0..9 raises :class:`~eventbench.data.DataFormatError` naming the file and the field.
"""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from pathlib import Path

import numpy as np

from .dataset import EventDataset, Splits
from .encoders import pixel_latency_encode
from .errors import DataFormatError, DataMissingError, resolve_data_dir

__all__ = ["IDX_DTYPES", "MNIST_URL", "load_mnist_arrays", "load_mnist_idx", "read_idx"]

logger = logging.getLogger(__name__)

MNIST_URL = "https://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)"

#: IDX type byte -> big-endian NumPy dtype.
IDX_DTYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
                              0x0E: ">f8"}

_FILES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (gzip-compressed or raw, detected from the content) into a native array."""
    p = Path(path)
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise DataFormatError(p, "gzip stream", f"cannot be decompressed: {exc}") from exc
    if len(raw) < 4:
        raise DataFormatError(p, "magic", f"file has {len(raw)} bytes, the header needs 4")
    if raw[0] != 0 or raw[1] != 0:
        raise DataFormatError(
            p, "magic", f"first two bytes must be 00 00, got {raw[:4].hex()} (not an IDX file)"
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in IDX_DTYPES:
        raise DataFormatError(p, "magic (type byte)", f"unknown data type 0x{type_code:02x}")
    if ndim == 0:
        raise DataFormatError(p, "magic (ndim byte)", "ndim is 0")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataFormatError(p, "dimensions", f"header truncated: needs {header_len} bytes")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[type_code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header_len
    if found < expected:
        raise DataFormatError(
            p, "data", f"truncated: dimensions {dims} need {expected} bytes, found {found}"
        )
    if found > expected:
        raise DataFormatError(
            p, "data", f"{found - expected} trailing bytes after the {dims} array"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def _find(root: Path, key: str) -> Path:
    dirs = [root, root / "mnist", root / "MNIST" / "raw"]
    searched: list[Path] = []
    for d in dirs:
        for name in _FILES[key]:
            for suffix in ("", ".gz"):
                cand = d / (name + suffix)
                searched.append(cand)
                if cand.is_file():
                    return cand
    raise DataMissingError(_FILES[key][0] + "[.gz]", searched, MNIST_URL)


def load_mnist_arrays(
    data_dir: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """Read and check the four MNIST IDX files.

    Files are looked for in ``data_dir`` (resolved by :func:`~eventbench.data.resolve_data_dir`),
    then its ``mnist/`` and ``MNIST/raw/`` subfolders, as ``train-images-idx3-ubyte[.gz]`` (or the
    ``train-images.idx3-ubyte`` spelling) etc.

    Returns:
        ``{"train_images": uint8 [N, H, W], "train_labels": int64 [N], "test_images": ...,
        "test_labels": ...}``.
    """
    root = resolve_data_dir(data_dir)
    out: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        ip, lp = _find(root, f"{split}_images"), _find(root, f"{split}_labels")
        images, labels = read_idx(ip), read_idx(lp)
        if images.dtype != np.uint8:
            raise DataFormatError(ip, "magic (type byte)", f"images must be ubyte, got {images.dtype}")
        if images.ndim != 3:
            raise DataFormatError(ip, "dimensions", f"images must be [N, H, W], got {images.shape}")
        if labels.dtype != np.uint8:
            raise DataFormatError(lp, "magic (type byte)", f"labels must be ubyte, got {labels.dtype}")
        if labels.ndim != 1:
            raise DataFormatError(lp, "dimensions", f"labels must be [N], got {labels.shape}")
        if labels.shape[0] != images.shape[0]:
            raise DataFormatError(
                lp, "dimensions", f"{labels.shape[0]} labels for {images.shape[0]} images in {ip}"
            )
        bad = np.flatnonzero(labels > 9)
        if bad.size:
            raise DataFormatError(
                lp, "labels", f"label {int(labels[bad[0]])} at index {int(bad[0])} outside 0..9"
            )
        out[f"{split}_images"] = images
        out[f"{split}_labels"] = labels.astype(np.int64)
        logger.info("read MNIST %s: %d images from %s", split, images.shape[0], ip)
    return out


def load_mnist_idx(
    data_dir: str | os.PathLike[str] | None = None,
    duration_s: float = 20e-3,
    dt_s: float = 1e-3,
    threshold: float = 1.0,
    n_val: int = 5000,
    seed: int = 123,
) -> Splits[EventDataset]:
    """Latency-coded MNIST from the user's IDX files (see :func:`load_mnist_arrays`).

    Encoding (loss-shaping paper): pixel ``v`` fires once at ``2 dt + (255 - v)/255 (T - 4 dt)``
    if ``v > threshold``; ``T = 20 ms``, ``dt = 1 ms`` by default; 784 channels. Split as in the
    paper's code: the training images are shuffled with a seeded generator
    (``numpy.random.default_rng(seed).permutation``; not the paper's exact shuffle), the last
    ``n_val`` go to validation (``n_val = 0``: no validation split); the test file is the test set.
    """
    arrays = load_mnist_arrays(data_dir)
    n_train = arrays["train_images"].shape[0]
    if not 0 <= n_val < n_train:
        raise ValueError(f"n_val must be in [0, {n_train}), got {n_val}")
    perm = np.random.default_rng(seed).permutation(n_train)
    parts = {"train": perm[: n_train - n_val], "val": perm[n_train - n_val:]}
    params = {"duration_s": duration_s, "dt_s": dt_s, "threshold": threshold, "n_val": n_val,
              "seed": seed}
    root = str(resolve_data_dir(data_dir))

    def make(name: str, images: np.ndarray, labels: np.ndarray) -> EventDataset:
        samples = pixel_latency_encode(images, duration_s, dt_s, threshold, labels)
        return EventDataset(
            name=f"mnist/{name}", samples=samples, n_channels=int(np.prod(images.shape[1:])),
            n_classes=10, origin="user-file", source=root, params=params,
        )

    ti, tl = arrays["train_images"], arrays["train_labels"]
    train = make("train", ti[parts["train"]], tl[parts["train"]])
    val = make("val", ti[parts["val"]], tl[parts["val"]]) if n_val else None
    test = make("test", arrays["test_images"], arrays["test_labels"])
    return Splits(train=train, val=val, test=test)
