"""Latency-coded digits: sklearn's bundled 8x8 digits and the user's MNIST IDX files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from eventbench.data import (
    DataFormatError,
    DataMissingError,
    digits_splits,
    load_mnist_idx,
    pixel_latency_encode,
    read_idx,
)


def idx_bytes(arr: np.ndarray, type_code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, type_code, arr.ndim) + struct.pack(
        f">{arr.ndim}I", *arr.shape
    )
    return header + arr.tobytes()


def write_mnist(root: Path, gz: bool, n_train: int = 3, n_test: int = 2,
                labels: list[int] | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.array(labels or [5, 0, 4][:n_train], np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.array([7, 2][:n_test], np.uint8),
    }
    root.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        data = idx_bytes(a)
        if gz:
            (root / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)
    return arrays


def test_pixel_encoding_matches_paper_formula() -> None:
    img = np.array([[[0, 1, 2], [128, 254, 255]]], np.uint8)
    s = pixel_latency_encode(img, duration_s=20e-3, dt_s=1e-3, labels=[3])[0]
    assert s.n_channels == 6 and s.label == 3
    assert s.channels.tolist() == [2, 3, 4, 5]  # v <= 1 silent
    v = np.array([2, 128, 254, 255])
    np.testing.assert_allclose(s.times_s, 2e-3 + (255 - v) / 255 * 16e-3, rtol=0, atol=1e-15)
    assert s.times_s[-1] == pytest.approx(2e-3)  # brightest fires at 2 dt
    with pytest.raises(DataFormatError, match="pixels"):
        pixel_latency_encode(np.array([[300.0]]))


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_idx_roundtrip(tmp_path: Path, gz: bool) -> None:
    arrays = write_mnist(tmp_path, gz)
    np.testing.assert_array_equal(
        read_idx(tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))),
        arrays["t10k-images-idx3-ubyte"],
    )
    sp = load_mnist_idx(tmp_path, n_val=1, seed=123)
    assert sp.val is not None
    assert [len(sp.train), len(sp.val), len(sp.test)] == [2, 1, 2]
    assert sp.train.n_channels == 784 and sp.train.origin == "user-file"
    perm = np.random.default_rng(123).permutation(3)
    train_labels = arrays["train-labels-idx1-ubyte"]
    assert sp.train.labels().tolist() == train_labels[perm[:2]].tolist()
    assert sp.val.labels().tolist() == train_labels[perm[2:]].tolist()
    img = arrays["t10k-images-idx3-ubyte"][1].reshape(-1)
    s = sp.test[1]
    assert s.label == 2
    np.testing.assert_array_equal(s.channels, np.flatnonzero(img > 1))
    np.testing.assert_allclose(
        s.times_s, 2e-3 + (255 - img[img > 1]) / 255 * 16e-3, rtol=0, atol=1e-15
    )


def test_env_var_and_subfolder_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_mnist(tmp_path / "MNIST" / "raw", gz=True)
    monkeypatch.setenv("EVENTBENCH_DATA", str(tmp_path))
    assert len(load_mnist_idx(n_val=0).test) == 2


def test_missing_mnist_names_file_paths_and_url(tmp_path: Path) -> None:
    with pytest.raises(DataMissingError) as err:
        load_mnist_idx(tmp_path)
    msg = str(err.value)
    assert "train-images-idx3-ubyte" in msg
    assert str(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz") in msg
    assert "yann.lecun.com" in msg
    assert isinstance(err.value, FileNotFoundError)
    assert len(err.value.searched) == 12


def test_idx_truncated(tmp_path: Path) -> None:
    p = tmp_path / "x"
    p.write_bytes(idx_bytes(np.zeros((3, 28, 28), np.uint8))[:-10])
    with pytest.raises(DataFormatError) as err:
        read_idx(p)
    assert err.value.field == "data" and str(p) in str(err.value) and "truncated" in str(err.value)
    p.write_bytes(idx_bytes(np.zeros((3,), np.uint8)) + b"\x00")
    with pytest.raises(DataFormatError, match="trailing"):
        read_idx(p)
    p.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DataFormatError, match="header truncated"):
        read_idx(p)
    p.write_bytes(gzip.compress(idx_bytes(np.zeros((3,), np.uint8)))[:-8])
    with pytest.raises(DataFormatError, match="gzip"):
        read_idx(p)


def test_idx_bad_magic_and_types(tmp_path: Path) -> None:
    p = tmp_path / "x"
    p.write_bytes(b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(DataFormatError, match="00 00"):
        read_idx(p)
    p.write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(DataFormatError, match="0x07"):
        read_idx(p)
    # big-endian int16 / float32 round-trip
    a = np.array([[1, -2], [300, 4]], np.int16)
    p.write_bytes(idx_bytes(a.astype(">i2"), 0x0B))
    np.testing.assert_array_equal(read_idx(p), a)
    f = np.array([1.5, -2.25], np.float32)
    p.write_bytes(idx_bytes(f.astype(">f4"), 0x0D))
    np.testing.assert_array_equal(read_idx(p), f)


def test_mnist_wrong_dtype_and_labels(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    lab = tmp_path / "train-labels-idx1-ubyte"
    lab.write_bytes(idx_bytes(np.array([5, 0, 4], ">i4"), 0x0C))
    with pytest.raises(DataFormatError) as err:
        load_mnist_idx(tmp_path, n_val=1)
    assert err.value.path == str(lab) and "ubyte" in err.value.reason
    lab.write_bytes(idx_bytes(np.array([5, 12, 4], np.uint8)))
    with pytest.raises(DataFormatError) as err:
        load_mnist_idx(tmp_path, n_val=1)
    assert err.value.field == "labels" and "12 at index 1" in err.value.reason
    lab.write_bytes(idx_bytes(np.array([5, 1], np.uint8)))
    with pytest.raises(DataFormatError, match="2 labels for 3 images"):
        load_mnist_idx(tmp_path, n_val=1)


def test_digits_splits_are_stratified_seeded_and_real() -> None:
    sp = digits_splits(seed=0)
    assert sp.val is not None
    assert [len(sp.train), len(sp.val), len(sp.test)] == [1259, 179, 359]
    assert sp.train.n_channels == 64 and sp.train.n_classes == 10
    assert sp.train.origin == "package" and sp.train.source is not None
    assert sp.train.source.endswith("digits.csv.gz")
    counts = np.bincount(sp.test.labels(), minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # 20 % of 174..183 per class
    all_ids = {(round(float(t), 12), int(c)) for s in sp.test for t, c in
               zip(s.times_s, s.channels, strict=True)}
    assert len(all_ids) > 100
    # times lie on [2 ms, 18 ms]; intensity 16 -> 255 fires at 2 ms
    times = np.concatenate([s.times_s for s in sp.train])
    assert times.min() == pytest.approx(2e-3) and times.max() <= 18e-3
    again = digits_splits(seed=0)
    other = digits_splits(seed=1)
    assert again.train.fingerprint() == sp.train.fingerprint()
    assert other.train.fingerprint() != sp.train.fingerprint()
    assert len(other.train) == 1259
