"""SHD/SSC HDF5 loading, validation splits and the paper's augmentations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from eventbench.data import (
    DataFormatError,
    DataMissingError,
    EventDataset,
    EventSample,
    bin_events,
    blend,
    blend_dataset,
    crop_events,
    delay_lines,
    dilate_time,
    from_tonic,
    jitter_channels,
    load_shd,
    load_ssc,
    pool_channels,
    random_shift,
    shift_channels,
    validation_split,
)

ShdWriter = Callable[..., Path]  # the write_shd_like fixture (tests/data/conftest.py)
SHD_KEYS = [f"digit-{i}" for i in range(20)]  # as written by the shd_file fixture


def test_load_shd_contents_and_float16_cast(shd_file: Path) -> None:
    ds = load_shd(shd_file)
    assert ds.name == "shd/train" and ds.origin == "user-file" and ds.source == str(shd_file)
    assert (len(ds), ds.n_channels, ds.n_classes) == (4, 700, 20)
    assert ds.labels().tolist() == [3, 19, 0, 3]
    assert ds.class_names == tuple(SHD_KEYS)
    assert ds.groups is not None and ds.groups.tolist() == [1, 2, 1, 4]
    s0 = ds[0]
    assert s0.times_s.dtype == np.float64
    np.testing.assert_array_equal(
        s0.times_s, np.array([0.0105, 0.25, 0.5], np.float16).astype(np.float64)
    )
    assert s0.channels.tolist() == [0, 350, 699]
    assert ds[1].n_events == 0
    late = ds[2].times_s
    assert late[-1] == float(np.float16(1.39)) == 1.3896484375
    assert np.isfinite(late * 1e6).all()  # float16 * 1e6 would be inf


def test_file_resolution_dir_env_and_tonic_layout(
    tmp_path: Path, write_shd_like: ShdWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_shd_like(tmp_path / "SHD" / "shd_test.h5", [[0.1]], [[1]], [2])
    assert load_shd(tmp_path, "test").labels().tolist() == [2]
    monkeypatch.setenv("EVENTBENCH_DATA", str(tmp_path))
    assert load_shd(split="test").source == str(tmp_path / "SHD" / "shd_test.h5")
    with pytest.raises(ValueError, match="splits"):
        load_shd(tmp_path, "valid")


def test_missing_file_error_names_file_paths_url_and_gz_hint(tmp_path: Path) -> None:
    (tmp_path / "shd_train.h5.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(DataMissingError) as err:
        load_shd(tmp_path, "train")
    msg = str(err.value)
    assert "'shd_train.h5'" in msg
    for p in (tmp_path / "shd_train.h5", tmp_path / "SHD" / "shd_train.h5"):
        assert str(p) in msg
    assert "zenkelab.org" in msg and "gunzip" in msg
    assert isinstance(err.value, FileNotFoundError)


def test_crop_and_binning(shd_file: Path) -> None:
    full = load_shd(shd_file)
    with pytest.raises(ValueError, match="beyond the window"):
        bin_events(full.samples, 700, 1e-3, 1000)
    ds = load_shd(shd_file, t_stop_s=1.0)
    assert ds.params["t_stop_s"] == 1.0
    assert [s.n_events for s in ds] == [3, 0, 2, 2]
    for cropped, whole in zip(ds, full, strict=True):
        ref = crop_events(whole, 1.0)
        np.testing.assert_array_equal(cropped.times_s, ref.times_s)
        np.testing.assert_array_equal(cropped.channels, ref.channels)
    x = bin_events(ds.samples, 700, 1e-3, 1000, mode="count")
    assert x.shape == (1000, 4, 700)
    # float16(0.0101) = 0.010101318..., float16(0.0104) = 0.01040649...: both in bin 10
    assert x[10, 3, 10].item() == 2
    assert bin_events(ds.samples, 700, 1e-3, 1000)[10, 3, 10].item() == 1
    assert x[:, 1].sum().item() == 0
    assert float(np.float16(0.999)) == 0.9990234375  # -> bin 999
    assert x[999, 2, 6].item() == 1
    assert x.sum().item() == 7
    b = ds.binned(10e-3, 100)
    xd = b.dense(mode="count")
    assert xd.shape == (100, 4, 700) and xd.sum().item() == 7
    assert torch.equal(xd, bin_events(ds.samples, 700, 10e-3, 100, mode="count"))


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"labels": [3, 20]}, "labels", "label 20 outside [0, 20)"),
        ({"units": [[0], [700]]}, "spikes/units", "unit 700"),
        ({"units": [[0], [1, 2]]}, "spikes/units", "sample 1: 2 units but 1 times"),
        ({"times": [[0.1], [-0.5]]}, "spikes/times", "invalid time"),
        ({"times_dtype": np.int32, "times": [[1], [2]]}, "spikes/times", "wrong dtype"),
        ({"units_dtype": np.float32}, "spikes/units", "wrong dtype"),
        ({"labels_dtype": np.float32}, "labels", "wrong dtype"),
        ({"labels": [1, 2, 3]}, "labels", "3 labels for 2 samples"),
        ({"keys": ["a", "b"]}, "extra/keys", "2 class names"),
        ({"speakers": [1]}, "extra/speaker", "1 entries"),
    ],
)
def test_bad_files_raise_with_file_and_field(
    tmp_path: Path, write_shd_like: ShdWriter, kwargs: dict[str, object], field: str, text: str
) -> None:
    args: dict[str, object] = {"times": [[0.1], [0.2]], "units": [[0], [1]], "labels": [3, 4],
                               "speakers": [1, 2], "keys": SHD_KEYS}
    args.update(kwargs)
    path = write_shd_like(tmp_path / "shd_train.h5", **args)
    with pytest.raises(DataFormatError) as err:
        load_shd(path)
    assert err.value.field == field
    assert err.value.path == str(path)
    assert text in str(err.value)


def test_missing_field_and_truncated_file(shd_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "nolabels.h5"
    with h5py.File(shd_file, "r") as src, h5py.File(bad, "w") as dst:
        src.copy("spikes", dst)
    with pytest.raises(DataFormatError) as err:
        load_shd(bad)
    assert err.value.field == "labels" and "missing" in str(err.value)
    data = shd_file.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataFormatError) as err:
        load_shd(cut)
    assert err.value.path == str(cut)
    cut.write_bytes(b"not an hdf5 file")
    with pytest.raises(DataFormatError, match="HDF5"):
        load_shd(cut)


def test_ssc_splits_and_label_range(tmp_path: Path, write_shd_like: ShdWriter) -> None:
    write_shd_like(tmp_path / "ssc_valid.h5", [[0.1], [0.2]], [[0], [1]], [34, 0])
    ds = load_ssc(tmp_path, "val")
    assert ds.name == "ssc/valid" and ds.n_classes == 35 and ds.groups is None
    write_shd_like(tmp_path / "ssc_test.h5", [[0.1]], [[0]], [35])
    with pytest.raises(DataFormatError, match=r"label 35 outside \[0, 35\)"):
        load_ssc(tmp_path, "test")


def test_validation_split_random_and_speaker(shd_file: Path) -> None:
    ds = load_shd(shd_file)
    tr, va = validation_split(ds, "random", n_val=1, seed=3)
    expected = np.sort(np.random.default_rng(3).choice(4, size=1, replace=False))
    assert len(tr) == 3 and len(va) == 1
    assert va[0] is ds[int(expected[0])]
    tr, va = validation_split(ds, "speaker", speaker=1)
    assert va.labels().tolist() == [3, 0] and tr.labels().tolist() == [19, 3]
    assert va.groups is not None and set(va.groups.tolist()) == {1}
    assert tr.fingerprint() != ds.fingerprint()
    with pytest.raises(ValueError, match="speaker 9 not in"):
        validation_split(ds, "speaker", speaker=9)
    with pytest.raises(ValueError, match="n_val"):
        validation_split(ds, "random", n_val=4)


def _speakers(sizes: list[int], n_classes: int = 20) -> EventDataset:
    """One event per sample; speaker ``k`` (id ``10 + k``) has ``sizes[k]`` samples."""
    groups = np.repeat(np.arange(len(sizes)) + 10, sizes)
    samples = [EventSample(np.array([0.01]), np.array([i % 700]), 700, i % n_classes)
               for i in range(len(groups))]
    return EventDataset("toy/train", samples, 700, n_classes, "generated", groups=groups)


def test_validation_split_scales_with_the_data() -> None:
    ds = _speakers([10] * 10)  # 100 samples of 10 speakers
    tr, va = validation_split(ds, "random", seed=1)  # default fraction 0.1
    assert (len(tr), len(va)) == (90, 10)
    assert len(validation_split(ds, "random", fraction=0.25)[1]) == 25
    assert len(validation_split(ds, "random", n_val=7, fraction=0.5)[1]) == 7  # n_val wins
    assert len(validation_split(_speakers([3]), "random")[1]) == 1  # never empty
    with pytest.raises(ValueError, match=r"n_val must be in \(0, 100\)"):
        validation_split(ds, "random", n_val=100)
    with pytest.raises(ValueError, match="fraction"):
        validation_split(ds, "random", fraction=1.0)


def test_speaker_split_holds_out_whole_speakers_near_the_fraction() -> None:
    ds = _speakers([10] * 10)
    tr, va = validation_split(ds, "speaker", fraction=0.2, seed=0)
    assert (len(tr), len(va)) == (80, 20)  # exactly two whole speakers
    assert tr.groups is not None and va.groups is not None
    held = set(va.groups.tolist())
    assert len(held) == 2 and held.isdisjoint(tr.groups.tolist())
    assert sorted(held) == sorted(int(g) for g in np.unique(ds.groups)[
        np.random.default_rng(0).permutation(10)[:2]])
    assert len(validation_split(ds, "speaker", fraction=0.2, seed=5)[1]) == 20
    # the small set: 80 samples from 4 speakers; 10 % is 8 samples -> one speaker (20)
    small = _speakers([20] * 4)
    tr, va = validation_split(small, "speaker")
    assert (len(tr), len(va)) == (60, 20)
    assert va.groups is not None and len(set(va.groups.tolist())) == 1
    # unequal speakers: the held-out count is the closest to the target that whole speakers give
    uneven = _speakers([50, 5, 30, 15])
    for seed in range(6):
        _, va = validation_split(uneven, "speaker", n_val=20, seed=seed)
        order = np.random.default_rng(seed).permutation(4)
        cum = np.cumsum(np.array([50, 5, 30, 15])[order])[:-1]
        assert len(va) == cum[np.argmin(np.abs(cum - 20))]
    # never all speakers, even when the target asks for nearly everything
    tr, va = validation_split(_speakers([5, 5]), "speaker", fraction=0.9)
    assert (len(tr), len(va)) == (5, 5)
    # an explicit speaker list
    _, va = validation_split(ds, "speaker", speaker=[11, 13])
    assert va.groups is not None and sorted(set(va.groups.tolist())) == [11, 13]


def test_speaker_split_errors_are_clear() -> None:
    with pytest.raises(ValueError, match=r"only one speaker \(id 10\).*random"):
        validation_split(_speakers([30]), "speaker")
    no_ids = _speakers([10, 10]).with_samples(_speakers([10, 10]).samples)  # groups dropped
    with pytest.raises(ValueError, match="no speaker ids"):
        validation_split(no_ids, "speaker")
    with pytest.raises(ValueError, match="every speaker"):
        validation_split(_speakers([4, 4]), "speaker", speaker=[10, 11])
    with pytest.raises(ValueError, match="needs method='speaker'"):
        validation_split(_speakers([4, 4]), "random", speaker=10)


def ev(times: list[float], chans: list[int], n: int = 700, label: int = 1) -> EventSample:
    return EventSample(np.array(times), np.array(chans, np.int64), n, label)


def test_shift_drops_out_of_range_and_refuses_absurd_shifts() -> None:
    s = ev([0.1, 0.2, 0.3], [0, 350, 699])
    assert shift_channels(s, 1).channels.tolist() == [1, 351]
    assert shift_channels(s, -1).channels.tolist() == [349, 698]
    assert shift_channels(s, -1).times_s.tolist() == [0.2, 0.3]
    with pytest.raises(ValueError, match="out of range"):
        shift_channels(s, 700)
    with pytest.raises(ValueError, match="out of range"):
        random_shift(s, np.random.default_rng(0), max_shift=700)
    shifts = set()
    for seed in range(200):
        r = random_shift(ev([0.1], [350]), np.random.default_rng(seed), 40)
        shifts.add(int(r.channels[0]) - 350)
    assert min(shifts) == -40 and max(shifts) == 39
    assert random_shift(s, np.random.default_rng(0), 0) is s


def test_blend() -> None:
    a = ev([0.1, 0.2], [100, 110])
    b = ev([0.3, 0.4], [200, 210])
    out = blend(a, b, np.random.default_rng(0), p_keep=1.0)
    # means: channels 105 / 205 -> 155; times 0.15 / 0.35 -> 0.25
    assert np.all(np.diff(out.times_s) >= 0)
    pairs = sorted(zip(np.round(out.times_s, 12).tolist(), out.channels.tolist(), strict=True))
    assert pairs == [(0.2, 150), (0.2, 150), (0.3, 160), (0.3, 160)]
    assert out.label == 1
    again = blend(a, b, np.random.default_rng(5), p_keep=0.5)
    assert again.times_s.tolist() == blend(a, b, np.random.default_rng(5)).times_s.tolist()
    near_end = ev([0.95, 0.99], [0, 1])
    late = blend(near_end, ev([0.99], [0]), np.random.default_rng(0), p_keep=1.0, t_stop_s=1.0)
    assert (late.times_s < 1.0).all() and late.n_events < 3
    with pytest.raises(ValueError, match="one class"):
        blend(a, ev([0.1], [0], label=2), np.random.default_rng(0))


def test_blend_dataset_same_class(shd_file: Path) -> None:
    ds = load_shd(shd_file, t_stop_s=1.0)
    new = blend_dataset(ds, 10, np.random.default_rng(1), p_keep=1.0)
    assert len(new) == 10
    assert all(s.label in (0, 3, 19) for s in new)
    assert all((s.times_s < 1.0).all() for s in new)


def test_delay_lines_pool_jitter_dilate() -> None:
    s = ev([0.0, 0.95], [3, 699])
    d = delay_lines(s, n_copies=3, delay_s=0.03, t_stop_s=1.0)
    assert d.n_channels == 2100
    assert d.channels.tolist() == [3, 703, 1403, 699, 1399]
    np.testing.assert_allclose(d.times_s, [0.0, 0.03, 0.06, 0.95, 0.98])
    p = pool_channels(s, 5)
    assert p.n_channels == 140 and p.channels.tolist() == [0, 139]
    with pytest.raises(ValueError):
        pool_channels(s, 3)
    assert jitter_channels(s, np.random.default_rng(0), 0.0).channels.tolist() == [3, 699]
    dl = dilate_time(s, np.random.default_rng(0), 2.0, 2.0, t_stop_s=1.0)
    assert dl.times_s.tolist() == [0.0]


class FakeTonic:
    """Duck-typed stand-in for tonic.datasets.SHD (tonic is optional and not installed here)."""

    sensor_size = (700, 1, 1)
    classes: tuple[int, ...] = tuple(range(20))

    def __init__(self) -> None:
        dt = np.dtype([("t", np.int64), ("x", np.int16), ("p", np.int8)])
        self.items = [
            (np.array([(1000, 5, 0), (65000, 699, 0)], dt), 4),
            (np.array([], dt), 19),
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)


def test_from_tonic() -> None:
    ds = from_tonic(FakeTonic(), "shd-tonic/train")
    assert ds.n_channels == 700 and ds.n_classes == 20
    np.testing.assert_allclose(ds[0].times_s, [1e-3, 65e-3])
    assert ds[0].channels.tolist() == [5, 699] and ds[1].n_events == 0
    fake = FakeTonic()
    fake.items[0] = (fake.items[0][0], 20)
    with pytest.raises(DataFormatError, match="target"):
        from_tonic(fake, "bad")


def test_from_tonic_camera_channels() -> None:
    class FakeGesture:
        sensor_size = (4, 3, 2)
        classes = tuple(range(11))

        def __iter__(self):  # type: ignore[no-untyped-def]
            dt = np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)])
            return iter([(np.array([(3, 2, True, 10), (0, 1, False, 20)], dt), 10)])

    ds = from_tonic(FakeGesture(), "dvsgesture/train")
    assert ds.n_channels == 24 and ds.n_classes == 11
    assert ds[0].channels.tolist() == [(3 * 3 + 2) * 2 + 1, (0 * 3 + 1) * 2 + 0]
    np.testing.assert_allclose(ds[0].times_s, [10e-6, 20e-6])


def test_shd_task_validation_follows_the_recipe(
    tmp_path: Path, write_shd_like: ShdWriter, caplog: pytest.LogCaptureFixture
) -> None:
    from eventbench.tasks import ConfigError, get_task
    from eventbench.tasks.pipeline import resolve_recipe

    rng = np.random.default_rng(0)

    def write(name: str, speakers: list[int]) -> None:
        n = len(speakers)
        times = [np.sort(rng.uniform(0, 0.9, 5)).tolist() for _ in range(n)]
        units = [rng.integers(0, 700, 5).tolist() for _ in range(n)]
        write_shd_like(tmp_path / name, times, units, [i % 20 for i in range(n)], speakers)

    write("shd_train.h5", [s for s in range(4) for _ in range(20)])  # 80 samples, 4 speakers
    write("shd_test.h5", [4] * 20)
    task = get_task("shd")
    recipe = resolve_recipe(task)
    assert (recipe.data.val_split, recipe.data.val_fraction, recipe.data.n_val) == (  # type: ignore[attr-defined]
        "speaker", 0.1, None)
    data = task.load(recipe, tmp_path)
    assert data.val is not None and (len(data.train), len(data.val)) == (60, 20)  # one speaker
    with caplog.at_level("WARNING", logger="eventbench.tasks.heidelberg"):
        data = task.load(resolve_recipe(task, None, ["data.val_split=random"]), tmp_path)
    assert data.val is not None and (len(data.train), len(data.val)) == (72, 8)
    assert any("8 samples, fewer than the 20 classes" in r.getMessage() for r in caplog.records)
    data = task.load(resolve_recipe(task, None, ["data.val_split=random", "data.n_val=16"]),
                     tmp_path)
    assert data.val is not None and len(data.val) == 16
    data = task.load(resolve_recipe(task, None, ["data.val_speaker=2"]), tmp_path)
    assert data.val is not None and len(data.val) == 20
    for bad in (["data.val_fraction=1.5"], ["data.val_split=speakers"],
                ["data.val_split=random", "data.val_speaker=1"]):
        with pytest.raises(ConfigError):
            resolve_recipe(task, None, bad)
    write("shd_train.h5", [7] * 30)
    with pytest.raises(ValueError, match="only one speaker"):
        task.load(recipe, tmp_path)
