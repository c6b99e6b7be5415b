"""The spoken-digits set: SHD layout, speakers, statistics, task, errors, rebuild (slow)."""

from __future__ import annotations

import dataclasses
import gzip
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from eventbench.data import DataFormatError, DataMissingError, load_shd
from eventbench.data.spoken_digits import (
    BUILD_COMMAND,
    CLASS_NAMES,
    GENERATOR,
    SPEAKERS,
    EspeakNotFoundError,
    _parse_wav,
    build_spoken_digits,
    load_spoken_digits,
    write_shd_h5,
)
from eventbench.tasks import get_task
from eventbench.tasks.heidelberg import heidelberg_validation

ShdWriter = Callable[..., Path]  # the write_shd_like fixture (tests/data/conftest.py)
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "spoken_digits_small"
FIXTURE_SPEAKERS = {"train": [0, 1], "test": [11]}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory holding the decompressed fixture in ``spoken-digits/``."""
    out = tmp_path / "data" / "spoken-digits"
    out.mkdir(parents=True)
    for split in ("train", "test"):
        with gzip.open(FIXTURE / f"shd_{split}.h5.gz", "rb") as src, \
                open(out / f"shd_{split}.h5", "wb") as dst:
            shutil.copyfileobj(src, dst)
    return out.parent


def test_fixture_has_the_exact_shd_layout(data_dir: Path) -> None:
    with h5py.File(data_dir / "spoken-digits" / "shd_train.h5", "r") as f:
        assert h5py.check_vlen_dtype(f["spikes/times"].dtype) == np.float16
        assert h5py.check_vlen_dtype(f["spikes/units"].dtype) == np.uint16
        assert f["labels"].dtype == np.uint8 and f["labels"].shape == (40,)
        assert f["extra/speaker"].shape == (40,)
        keys = [k.decode() for k in f["extra/keys"][()]]
        assert keys == list(CLASS_NAMES) and keys[0] == "english-zero"
        assert keys[15] == "german-fuenf" and keys[19] == "german-neun"
        genders = [g.decode() for g in f["extra/meta_info/gender"][()]]
        assert genders == [s.gender for s in SPEAKERS]
        assert f["extra/meta_info/age"].shape == f["extra/meta_info/body_height"].shape == (14,)
        assert f.attrs["generator"] == GENERATOR and int(f.attrs["seed"]) == 0
        assert "espeak-ng" in str(f.attrs["espeak_ng_version"]).lower()
    # every SHD reader reads it: the plain SHD loader, given the file
    ds = load_shd(data_dir / "spoken-digits" / "shd_train.h5")
    assert (len(ds), ds.n_channels, ds.n_classes) == (40, 700, 20)


@pytest.mark.parametrize("split", ["train", "test"])
def test_fixture_statistics_are_shd_like(data_dir: Path, split: str) -> None:
    ds = load_spoken_digits(data_dir, split)
    assert ds.name == f"spoken-digits/{split}" and ds.origin == "generated"
    assert ds.class_names == CLASS_NAMES
    n_speakers = len(FIXTURE_SPEAKERS[split])  # one utterance per word and speaker
    assert sorted(ds.labels().tolist()) == sorted(list(range(20)) * n_speakers)
    assert ds.groups is not None and sorted(set(ds.groups.tolist())) == FIXTURE_SPEAKERS[split]
    counts = np.array([s.n_events for s in ds])
    assert 5_000 < np.median(counts) < 12_000 and counts.min() > 1_500
    active = np.array([np.unique(s.channels).size for s in ds])
    assert np.median(active) > 600  # most of the 700 channels fire
    t_max = max(float(s.times_s.max()) for s in ds)
    assert t_max <= 1.0 + 1e-3  # clips are at most 1 s long
    # onset-heavy: on average the first 50 ms after a word's onset fire faster than the rest
    early, rest = [], []
    for s in ds:
        rate = np.bincount((s.times_s / 0.01).astype(int))
        on = int(np.argmax(rate > 3 * np.median(rate)))
        early.append(rate[on:on + 5].mean())
        rest.append(rate[on + 5:].mean())
    assert np.mean(early) > 1.3 * np.mean(rest)


def test_train_and_test_speakers_are_disjoint(data_dir: Path) -> None:
    train = load_spoken_digits(data_dir, "train")
    test = load_spoken_digits(data_dir, "test")
    assert train.groups is not None and test.groups is not None
    assert not set(train.groups.tolist()) & set(test.groups.tolist())
    split_of = {s.speaker_id: s.split for s in SPEAKERS}
    assert {split_of[int(g)] for g in train.groups} == {"train"}
    assert {split_of[int(g)] for g in test.groups} == {"test"}
    # the full speaker table: 11 training, 3 test-only speakers, one variant each
    assert [s.split for s in SPEAKERS].count("train") == 11
    assert [s.split for s in SPEAKERS].count("test") == 3
    assert len({s.variant for s in SPEAKERS}) == len(SPEAKERS)


def test_task_loads_the_fixture_through_the_registry(data_dir: Path, tmp_path: Path) -> None:
    task = get_task("spoken-digits")
    assert task.availability(data_dir).available
    assert task.recipe == get_task("shd").recipe  # the SHD recipe
    data = task.load(task.recipe, data_dir)
    assert (data.n_inputs, data.n_outputs) == (700, 20)
    assert data.n_steps == 1000 and data.dt_s == pytest.approx(1e-3)
    assert data.objective == "classification" and data.origin == "generated"
    assert data.val is not None and len(data.train) + len(data.val) == 40
    assert len(data.val) == 20 and len(data.test) == 20  # one of the two speakers held out
    # speaker ids travel with the data set: the held-out-speaker validation split uses them
    full = load_spoken_digits(data_dir, "train", t_stop_s=1.0)
    cfg = task.recipe.data
    train, val = heidelberg_validation(full, cfg)  # type: ignore[arg-type]
    assert train.groups is not None and val.groups is not None
    assert len(set(val.groups.tolist())) == 1
    assert not set(train.groups.tolist()) & set(val.groups.tolist())
    # missing files: the note and the error say how to build them
    empty = tmp_path / "empty"
    av = task.availability(empty)
    assert not av.available and BUILD_COMMAND in av.note and str(empty) in av.note
    with pytest.raises(DataMissingError, match="build-spoken-digits --data-dir"):
        task.load(task.recipe, empty)


def test_missing_and_foreign_files(tmp_path: Path, write_shd_like: ShdWriter) -> None:
    with pytest.raises(DataMissingError, match="espeak-ng") as exc:
        load_spoken_digits(tmp_path, "train")
    assert exc.value.filename == "shd_train.h5"
    folder = tmp_path / "spoken-digits"
    folder.mkdir()
    (folder / "shd_test.h5.gz").write_bytes(b"")
    with pytest.raises(DataMissingError, match="decompress"):
        load_spoken_digits(tmp_path, "test")
    # a real SHD file (no generator attribute) dropped there is refused, naming the field
    write_shd_like(folder / "shd_train.h5", [[0.1]], [[3]], [2], speakers=[0])
    with pytest.raises(DataFormatError, match="attrs/generator"):
        load_spoken_digits(tmp_path, "train")
    with pytest.raises(ValueError, match="splits"):
        load_spoken_digits(tmp_path, "valid")


def test_writer_round_trip_and_checks(tmp_path: Path) -> None:
    times = [np.array([0.0, 0.25, 0.9991]), np.zeros(0), np.array([0.5])]
    units = [np.array([0, 350, 699]), np.zeros(0, np.int64), np.array([7])]
    path = write_shd_h5(tmp_path / "shd_train.h5", times, units, [3, 19, 0], [4, 4, 12],
                        CLASS_NAMES, genders=["male"] * 13, attrs={"generator": GENERATOR})
    assert not list(tmp_path.glob("*.partial"))
    ds = load_shd(path)
    assert ds.labels().tolist() == [3, 19, 0]
    assert ds.groups is not None and ds.groups.tolist() == [4, 4, 12]
    np.testing.assert_array_equal(ds[0].times_s, times[0].astype(np.float16).astype(np.float64))
    assert ds[0].channels.tolist() == [0, 350, 699] and ds[1].n_events == 0
    with pytest.raises(DataFormatError, match=r"spikes/units.*sample 0"):
        write_shd_h5(tmp_path / "bad.h5", [np.array([0.1])], [np.array([700])], [0], [0],
                     CLASS_NAMES)
    with pytest.raises(DataFormatError, match="spikes/times"):
        write_shd_h5(tmp_path / "bad.h5", [np.array([-0.1])], [np.array([1])], [0], [0],
                     CLASS_NAMES)
    with pytest.raises(DataFormatError, match="labels"):
        write_shd_h5(tmp_path / "bad.h5", [np.array([0.1])], [np.array([1])], [20], [0],
                     CLASS_NAMES)
    assert not (tmp_path / "bad.h5").exists()


def test_streamed_wav_header_of_espeak_is_parsed() -> None:
    pcm = (np.array([0, 1000, -1000, 32767], "<i2")).tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, 22050, 44100, 2, 16)
    streamed = 0x7FFFF000  # espeak-ng --stdout writes placeholder sizes
    data = (b"RIFF" + struct.pack("<I", streamed) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"data" + struct.pack("<I", streamed) + pcm)
    x, fs = _parse_wav(data)
    assert fs == 22050
    np.testing.assert_allclose(x, [0.0, 1000 / 32768, -1000 / 32768, 32767 / 32768])
    with pytest.raises(DataFormatError, match="fmt chunk"):
        _parse_wav(data.replace(struct.pack("<HH", 1, 1), struct.pack("<HH", 1, 2), 1))
    with pytest.raises(DataFormatError, match="RIFF"):
        _parse_wav(b"nope")


def test_missing_espeak_is_named_with_install_instructions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(EspeakNotFoundError, match=r"'espeak-ng'.*apt-get install -y espeak-ng"):
        build_spoken_digits(tmp_path / "out", 1)
    assert not (tmp_path / "out").exists()
    from eventbench.cli import main

    with pytest.raises(SystemExit) as code:
        main(["data", "build-spoken-digits", "--data-dir", str(tmp_path), "--quiet"])
    assert code.value.code == 1
    err = capsys.readouterr().err
    assert "espeak-ng" in err and "apt-get install" in err


def test_builder_refuses_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_per_class_per_speaker"):
        build_spoken_digits(tmp_path, 0)
    with pytest.raises(ValueError, match="workers"):
        build_spoken_digits(tmp_path, 1, workers=3)


@pytest.mark.slow
def test_rebuild_reproduces_the_fixture(data_dir: Path, tmp_path: Path) -> None:
    """Re-synthesise the fixture with espeak-ng (same seed and speakers) and compare spikes."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    from eventbench.data.spoken_digits import espeak_version

    with h5py.File(data_dir / "spoken-digits" / "shd_train.h5", "r") as f:
        built_with = str(f.attrs["espeak_ng_version"])
    if espeak_version() != built_with:
        pytest.skip(f"fixture built with {built_with!r}, here {espeak_version()!r}")
    res = build_spoken_digits(tmp_path / "again", 1, seed=0, speakers=[0, 1, 11], workers=2)
    assert res.n_samples == {"train": 40, "test": 20}
    for split in ("train", "test"):
        a = load_spoken_digits(data_dir, split)
        b = load_shd(res.paths[split])
        assert a.labels().tolist() == b.labels().tolist()
        for sa, sb in zip(a, b, strict=True):
            np.testing.assert_array_equal(sa.times_s, sb.times_s)
            np.testing.assert_array_equal(sa.channels, sb.channels)
    # another seed gives other samples
    other = build_spoken_digits(tmp_path / "other", 1, seed=1, speakers=[0, 11])
    c = load_shd(other.paths["test"])
    d = load_spoken_digits(data_dir, "test")
    assert c[0].n_events != d[0].n_events or not np.array_equal(c[0].channels, d[0].channels)


def test_recipe_is_overridable_for_small_builds(data_dir: Path) -> None:
    task = get_task("spoken-digits")
    cfg = dataclasses.replace(task.recipe.data, max_train=8, max_eval=4)
    data = task.load(dataclasses.replace(task.recipe, data=cfg), data_dir)
    assert (data.n_inputs, data.n_outputs) == (700, 20)
