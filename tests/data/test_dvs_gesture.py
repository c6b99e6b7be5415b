"""DVS128 Gesture: AEDAT 3.1 files, labels CSVs and trial lists written here in the real layout."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from eventbench.data import DataFormatError, DataMissingError
from eventbench.data.dvs_gesture import (
    DvsEvents,
    denoise,
    frame_bins,
    load_dvs_gesture,
    read_aedat31,
    read_gesture_labels,
)

HEADER = (b"#!AEDAT-3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n"
          b"#Start-Time: 2017-01-01 10:00:00 (TZ+0000)\r\n#!END-HEADER\r\n")


def packet(etype: int, events: np.ndarray, overflow: int = 0, size: int = 8,
           capacity: int | None = None) -> bytes:
    """One AEDAT 3.1 packet: 28-byte header, then ``events`` (uint32 pairs) as its payload."""
    n = events.shape[0]
    cap = n if capacity is None else capacity
    head = struct.pack("<hhiiiiii", etype, 1, size, 4, overflow, cap, n, n)
    return head + events.astype("<u4").tobytes()


def write_aedat(path: Path, x: np.ndarray, y: np.ndarray, p: np.ndarray, t: np.ndarray,
                valid: np.ndarray | None = None, chunk: int = 5) -> Path:
    """Polarity packets of ``chunk`` events (one timestamp-overflow value per packet), with a
    special-event packet (type 0) after the first, as cameras write them."""
    valid = np.ones_like(x) if valid is None else valid
    data = (x << 17) | (y << 2) | (p << 1) | valid
    body = b""
    for i, s in enumerate(range(0, len(t), chunk)):
        sl = slice(s, s + chunk)
        over = t[sl] >> 31
        assert (over == over[0]).all()
        ev = np.stack([data[sl], t[sl] & 0x7FFFFFFF], axis=1)
        body += packet(1, ev, int(over[0]))
        if i == 0:  # a special event (timestamp reset) in a packet with unused capacity
            body += packet(0, np.array([[7, 123]]), capacity=64)
    path.write_bytes(HEADER + body)
    return path


def test_read_aedat31_events_validity_special_packets_and_overflow(tmp_path: Path) -> None:
    x = np.array([0, 127, 5, 6, 7, 8, 9, 10, 11, 12])
    y = np.array([127, 0, 1, 2, 3, 4, 5, 6, 7, 8])
    p = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0])
    t = np.array([10, 20, 30, 40, 50, 2**31 + 1, 2**31 + 2, 2**31 + 3, 2**31 + 4, 2**31 + 5])
    valid = np.array([1, 1, 1, 0, 1, 1, 1, 1, 1, 1])
    ev = read_aedat31(write_aedat(tmp_path / "user01_led.aedat", x, y, p, t, valid))
    keep = valid == 1
    for got, want in ((ev.x, x), (ev.y, y), (ev.p, p), (ev.t_us, t)):
        np.testing.assert_array_equal(got, want[keep])
    assert ev.t_us.dtype == np.int64 and len(ev) == 9


@pytest.mark.parametrize(
    ("mutate", "field", "text"),
    [
        (lambda b: b.replace(b"#!AEDAT-3.1", b"#!AEDAT-2.0"), "header", "AEDAT-3.1"),
        (lambda b: b.replace(b"#!END-HEADER\r\n", b""), "header", "END-HEADER"),
        (lambda b: b[:-3], "packet at byte", "truncated"),
        (lambda b: b[: len(HEADER) + 20], "packet at byte", "truncated packet header"),
    ],
)
def test_bad_aedat_files_name_the_problem(tmp_path: Path, mutate: object, field: str,
                                          text: str) -> None:
    good = write_aedat(tmp_path / "a.aedat", *(np.arange(3),) * 3, np.arange(3) * 10)
    bad = tmp_path / "bad.aedat"
    bad.write_bytes(mutate(good.read_bytes()))  # type: ignore[operator]
    with pytest.raises(DataFormatError) as err:
        read_aedat31(bad)
    assert err.value.path == str(bad) and err.value.field.startswith(field)
    assert text in str(err.value)


def tonic_like_denoise(ev: DvsEvents, filter_us: int) -> np.ndarray:
    """The denoise filter event by event: a timestamp memory (starting at ``filter_us``) per
    pixel, the event's own pixel updated first, then its 4 neighbours checked."""
    w, h = int(ev.x.max()) + 1, int(ev.y.max()) + 1
    mem = np.full((w, h), filter_us, dtype=np.int64)
    keep = []
    for i in range(len(ev)):
        x, y, t = int(ev.x[i]), int(ev.y[i]), int(ev.t_us[i])
        mem[x, y] = t + filter_us
        if ((x > 0 and mem[x - 1, y] > t) or (x < w - 1 and mem[x + 1, y] > t)
                or (y > 0 and mem[x, y - 1] > t) or (y < h - 1 and mem[x, y + 1] > t)):
            keep.append(i)
    return np.asarray(keep, np.int64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_denoise_matches_the_event_by_event_filter(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    t = np.sort(rng.integers(0, 400_000, n))
    ev = DvsEvents(rng.integers(0, 12, n), rng.integers(0, 10, n), rng.integers(0, 2, n), t)
    kept = denoise(ev, 10_000)
    ref = ev.take(tonic_like_denoise(ev, 10_000))
    assert 0 < len(kept) < n
    np.testing.assert_array_equal(kept.t_us, ref.t_us)
    np.testing.assert_array_equal(kept.x, ref.x)


def test_denoise_edge_cases() -> None:
    # isolated pixel after the first 10 ms: dropped; its neighbour 5 ms later: kept; the same
    # pixel again (no neighbour): dropped; an event in the first 10 ms: kept
    ev = DvsEvents(np.array([3, 9, 4, 9]), np.array([3, 9, 3, 9]), np.zeros(4, np.int64),
                   np.array([1_000, 20_000, 25_000, 26_000]))
    assert denoise(ev, 10_000).t_us.tolist() == [1_000]
    ev2 = DvsEvents(np.array([3, 4, 3]), np.array([3, 3, 3]), np.zeros(3, np.int64),
                    np.array([20_000, 25_000, 36_000]))
    assert denoise(ev2, 10_000).t_us.tolist() == [25_000]


def test_frame_bins_drop_the_tail_and_refuse_short_gestures() -> None:
    t = np.array([100, 105, 110, 119, 120, 131])  # span 31 µs, 3 frames of 10 µs
    assert frame_bins(t, 3).tolist() == [0, 0, 1, 1, 2, -1]
    with pytest.raises(ValueError, match="cannot fill 3 frames"):
        frame_bins(np.array([5, 6]), 3)


# ------------------------------------------------------------------ folder, splits, frames

def gesture_events(rng: np.random.Generator, start: int, stop: int, n: int
                   ) -> tuple[np.ndarray, ...]:
    """Events clustered in a 6 x 6 patch, so that most survive the denoise filter."""
    cx, cy = rng.integers(10, 110, 2)
    x = cx + rng.integers(0, 6, n)
    y = cy + rng.integers(0, 6, n)
    return x, y, rng.integers(0, 2, n), np.sort(rng.integers(start, stop, n))


def write_folder(root: Path, users: dict[str, list[int]], seed: int = 0) -> Path:
    """A ``DvsGesture`` folder: per user one recording with gestures of the given classes
    (1..11), 200 ms each with 50 ms gaps, its labels CSV and the two trial lists."""
    rng = np.random.default_rng(seed)
    folder = root / "DvsGesture"
    folder.mkdir(parents=True)
    train, test = [], []
    for name, classes in users.items():
        parts, rows = [], []
        for g, c in enumerate(classes):
            start = 1_000_000 + g * 250_000
            parts.append(gesture_events(rng, start, start + 200_000, 400))
            rows.append(f"{c},{start},{start + 200_000}")
        noise = (rng.integers(0, 128, 20), rng.integers(0, 128, 20), rng.integers(0, 2, 20),
                 rng.integers(0, 900_000, 20))  # before the first gesture: not in any sample
        x, y, p, t = (np.concatenate([a[i] for a in [*parts, noise]]) for i in range(4))
        order = np.argsort(t, kind="stable")
        write_aedat(folder / f"{name}.aedat", x[order], y[order], p[order], t[order], chunk=97)
        (folder / f"{name}_labels.csv").write_text(
            "class,startTime_usec,endTime_usec\n" + "\n".join(rows) + "\n")
        (test if int(name[4:6]) >= 24 else train).append(f"{name}.aedat")
    (folder / "trials_to_train.txt").write_text("\n".join(train) + "\n\n")
    (folder / "trials_to_test.txt").write_text("\n".join(test) + "\n")
    return folder


def expected_sample(folder: Path, name: str, gesture: int, n_bins: int) -> np.ndarray:
    """Frame counts ``[n_bins, 2048]`` of one gesture by the documented steps."""
    ev = read_aedat31(folder / f"{name}.aedat")
    _, s, e = read_gesture_labels(folder / f"{name}_labels.csv")[gesture]
    g = ev.take((ev.t_us >= s) & (ev.t_us < e))
    g = DvsEvents(g.x, g.y, g.p, g.t_us - s)
    g = g.take(tonic_like_denoise(g, 10_000))
    w = (g.t_us[-1] - g.t_us[0]) // n_bins
    frames = np.zeros((n_bins, 2, 32, 32))
    for x, y, p, t in zip(g.x, g.y, g.p, g.t_us, strict=True):
        k = (t - g.t_us[0]) // w
        if k < n_bins:
            frames[k, p, y // 4, x // 4] += 1
    return frames.reshape(n_bins, -1)


def test_load_folder_official_split_and_preprocessing(tmp_path: Path) -> None:
    users = {"user01_fluorescent": [1, 5, 11], "user02_led": [2, 3],
             "user24_natural": [4, 11]}
    folder = write_folder(tmp_path, users)
    sp = load_dvs_gesture(tmp_path, n_bins=8, frame_s=0.01)
    assert sp.val is None and (len(sp.train), len(sp.test)) == (5, 2)
    assert [s.label for s in sp.train.samples] == [0, 4, 10, 1, 2]
    assert [s.label for s in sp.test.samples] == [3, 10]
    assert sp.train.groups is not None and sp.train.groups.tolist() == [1, 1, 1, 2, 2]
    assert sp.train.n_channels == 2048 and sp.train.n_classes == 11
    assert sp.test.origin == "user-file" and sp.test.params["n_bins"] == 8
    binned = sp.test.binned(0.01, 8).dense(mode="count").numpy()  # [T, B, N]
    for b, (name, g) in enumerate([("user24_natural", 0), ("user24_natural", 1)]):
        np.testing.assert_array_equal(binned[:, b], expected_sample(folder, name, g, 8))
    assert binned.sum() > 300  # most of the 400 clustered events survive
    # the preprocessed splits are cached; a cached load gives the same data, and a changed
    # recording is preprocessed again
    cached = sorted(p.name for p in (folder / ".eventbench-cache").iterdir())
    assert len(cached) == 2 and cached[0].startswith("dvs-gesture-test-")
    again = load_dvs_gesture(tmp_path, n_bins=8, frame_s=0.01)
    assert again.train.fingerprint() == sp.train.fingerprint()
    assert again.test.fingerprint() == sp.test.fingerprint()
    assert again.train.groups is not None and again.train.groups.tolist() == [1, 1, 1, 2, 2]
    write_folder(tmp_path / "other", {"user24_natural": [7, 11]}, seed=5)
    (folder / "user24_natural.aedat").write_bytes(
        (tmp_path / "other" / "DvsGesture" / "user24_natural.aedat").read_bytes())
    (folder / "user24_natural_labels.csv").write_text(
        (tmp_path / "other" / "DvsGesture" / "user24_natural_labels.csv").read_text())
    changed = load_dvs_gesture(tmp_path, n_bins=8, frame_s=0.01)
    assert [s.label for s in changed.test.samples] == [6, 10]
    assert len(list((folder / ".eventbench-cache").iterdir())) == 3
    uncached = load_dvs_gesture(tmp_path, n_bins=8, frame_s=0.01, cache=False)
    assert uncached.test.fingerprint() == changed.test.fingerprint()


def test_missing_folder_and_files_say_where_to_get_and_put_them(tmp_path: Path) -> None:
    with pytest.raises(DataMissingError) as err:
        load_dvs_gesture(tmp_path)
    msg = str(err.value)
    assert "trials_to_train.txt" in msg and "research.ibm.com" in msg
    assert str(tmp_path / "DvsGesture") in msg
    folder = write_folder(tmp_path, {"user01_led": [1], "user24_led": [2]})
    (folder / "user24_led_labels.csv").unlink()
    with pytest.raises(DataMissingError, match=r"user24_led_labels\.csv"):
        load_dvs_gesture(tmp_path)


def test_bad_labels_csv(tmp_path: Path) -> None:
    p = tmp_path / "user01_led_labels.csv"
    p.write_text("class,startTime_usec,endTime_usec\n12,5,9\n")
    with pytest.raises(DataFormatError, match=r"line 2.*class 12"):
        read_gesture_labels(p)
    p.write_text("cls,start,end\n1,5,9\n")
    with pytest.raises(DataFormatError, match="header"):
        read_gesture_labels(p)


def test_dvs_gesture_task_trains_and_records_its_protocol(tmp_path: Path) -> None:
    from eventbench.tasks import get_task
    from eventbench.tasks.pipeline import benchmark, resolve_recipe, train

    write_folder(tmp_path, {"user01_led": [1, 2, 3], "user02_led": [4, 5, 6],
                            "user03_led": [7, 8, 9], "user24_led": [10, 11, 1]})
    task = get_task("dvs-gesture")
    recipe = resolve_recipe(task, assignments=[
        "data.duration_ms=80", "network.hidden=8", "train.threads=1", "train.epochs=1",
        "data.val_fraction=0.3"])
    data = task.load(recipe, tmp_path)
    assert (data.n_inputs, data.n_outputs, data.n_steps) == (2048, 11, 8)
    assert data.val is not None and len(data.val) == 3 and len(data.train) == 6
    built, _ = train(task, recipe, data, tmp_path / "run")
    res = benchmark(task, recipe, data, built, store=None)
    assert res.metric("accuracy") == pytest.approx(res.metric("test_score"))
    assert res.provenance.protocol is not None and "trials_to_train" in res.provenance.protocol
