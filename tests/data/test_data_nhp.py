"""NHP primate reaching: MATLAB v7.3 (.mat = HDF5) files written here in the real layout."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from eventbench.data import (
    DataFormatError,
    DataMissingError,
    bin_reaching,
    load_nhp,
    reaching_segments,
    read_reaching_mat,
)

T = 60
T0 = 100.0


def write_mat73(
    path: Path,
    spikes: list[list[list[float]]],
    t: np.ndarray | None = None,
    cursor: np.ndarray | None = None,
    target: np.ndarray | None = None,
    skip: str | None = None,
    spike_dtype: type = np.float64,
) -> Path:
    """A MATLAB v7.3 file: 512-byte user block with the MATLAB header, fields transposed."""
    if t is None:
        t = T0 + 0.004 * np.arange(T)
    if cursor is None:
        cursor = np.stack([np.sin(np.arange(T) / 5.0), np.arange(T) ** 2 / 100.0])
    if target is None:  # 10 segments of 6 steps
        target = np.repeat(np.arange(10, dtype=np.float64), 6)[None, :].repeat(2, axis=0)
    with h5py.File(path, "w", userblock_size=512) as f:
        fields = {"t": np.asarray(t)[None, :], "cursor_pos": cursor, "target_pos": target}
        for k, v in fields.items():
            if k != skip:
                f[k] = v
        refs = f.create_group("#refs#")
        n_units, n_ch = len(spikes), len(spikes[0])
        ref_arr = np.empty((n_units, n_ch), dtype=h5py.ref_dtype)
        for u in range(n_units):
            for c in range(n_ch):
                times = spikes[u][c]
                if times:
                    ds = refs.create_dataset(f"u{u}c{c}", data=np.asarray(times, spike_dtype)[None, :])
                else:
                    ds = refs.create_dataset(f"u{u}c{c}", data=np.zeros(2, np.uint64))
                    ds.attrs["MATLAB_empty"] = np.uint8(1)
                ds.attrs["MATLAB_class"] = np.bytes_(b"double")
                ref_arr[u, c] = ds.ref
        if skip != "spikes":
            f.create_dataset("spikes", data=ref_arr, dtype=h5py.ref_dtype)
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 .")
    return path


def centre(i: int) -> float:
    """A time in the middle of 4 ms grid cell i (relative to T0): avoids edge ambiguity."""
    return T0 + 0.004 * i + 0.002


SPIKES = [  # 2 units x 3 channels
    [[centre(3), centre(10)], [], [centre(20), centre(21), centre(22)]],
    [[centre(3), centre(4)], [centre(30)], []],  # centre(3) also in unit 0: OR -> one
]


def brute_force_counts(spikes: list[list[list[float]]], n_ch: int) -> np.ndarray:
    out = np.zeros((T, n_ch))
    for i in range(T):
        ti = T0 + 0.004 * i
        lo, hi = ti - 0.004 - 0.028, ti - 0.004
        for c in range(n_ch):
            cells = {int(np.floor((s - lo) / 0.004)) for u in spikes for s in u[c] if lo <= s < hi}
            out[i, c] = len(cells)
    return out


def test_read_and_bin_match_brute_force(tmp_path: Path) -> None:
    p = write_mat73(tmp_path / "indy_test.mat", SPIKES)
    rec = read_reaching_mat(p)
    assert (rec.n_units, rec.n_channels) == (2, 3) and rec.t.shape == (T,)
    assert rec.spikes[0][1].shape == (0,)  # MATLAB empty
    counts = bin_reaching(rec)
    assert counts.dtype == np.float32 and counts.shape == (T, 3)
    np.testing.assert_array_equal(counts, brute_force_counts(SPIKES, 3))
    # step i sums grid cells i-8 .. i-2 (window [t_i - 32 ms, t_i - 4 ms)): cell 3 (two units,
    # OR-ed) counts for i = 5..11, cell 4 for 6..12, cell 10 for 12..18
    assert counts[3:14, 0].tolist() == [0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 1]
    assert counts[:, 2].max() == 3


def test_segments_split_and_velocity(tmp_path: Path) -> None:
    p = write_mat73(tmp_path / "indy_test.mat", SPIKES)
    target = np.repeat(np.arange(10, dtype=np.float64), 6)[None, :].repeat(2, axis=0)
    seg = reaching_segments(target)
    # NeuroBench: the boundary is the last index before the change
    assert seg[:3].tolist() == [[0, 5], [5, 11], [11, 17]] and seg[-1].tolist() == [53, 60]
    sp = load_nhp(p)
    assert sp.val is not None
    assert sp.train.params["steps"] == [0, 47] and sp.val.params["steps"] == [47, 53]
    assert sp.test.params["steps"] == [53, 60]
    assert sp.train.inputs.shape == (47, 3) and sp.train.targets.shape == (47, 2)
    assert sp.train.dt_s == 0.004 and sp.train.origin == "user-file"
    cursor = np.stack([np.sin(np.arange(T) / 5.0), np.arange(T) ** 2 / 100.0])
    vel = np.gradient(cursor, axis=1).T
    np.testing.assert_allclose(sp.test.targets, vel[53:60])
    np.testing.assert_allclose(sp.train.targets[1:-1, 1], (2 * np.arange(1, 46)) / 100.0)
    np.testing.assert_array_equal(sp.val.inputs, brute_force_counts(SPIKES, 3)[47:53])


def test_lookup_by_name_and_missing(tmp_path: Path) -> None:
    (tmp_path / "primate_reaching").mkdir()
    write_mat73(tmp_path / "primate_reaching" / "loco_x.mat", SPIKES)
    assert load_nhp("loco_x", tmp_path).train.n_channels == 3
    with pytest.raises(DataMissingError) as err:
        load_nhp("indy_20160622_01", tmp_path)
    msg = str(err.value)
    assert "indy_20160622_01.mat" in msg and "zenodo.org/record/583331" in msg
    assert str(tmp_path / "primate_reaching" / "indy_20160622_01.mat") in msg


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"skip": "target_pos"}, "target_pos", "missing"),
        ({"skip": "spikes"}, "spikes", "missing"),
        ({"cursor": np.zeros((3, T))}, "cursor_pos", "shape (3, 60)"),
        ({"t": T0 + 0.004 * np.arange(T)[::-1]}, "t", "increasing"),
        ({"spike_dtype": np.int32}, "spikes[0,0]", "wrong dtype"),
        ({"cursor": np.full((2, T), np.nan)}, "cursor_pos", "NaN"),
    ],
)
def test_bad_mat_files(tmp_path: Path, kwargs: dict[str, object], field: str, text: str) -> None:
    spikes = [[[centre(1)]]]
    p = write_mat73(tmp_path / "bad.mat", spikes, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(DataFormatError) as err:
        load_nhp(p)
    assert err.value.field == field and err.value.path == str(p)
    assert text in str(err.value)


def test_truncated_and_old_format_mat(tmp_path: Path) -> None:
    p = write_mat73(tmp_path / "cut.mat", SPIKES)
    p.write_bytes(p.read_bytes()[:900])
    with pytest.raises(DataFormatError) as err:
        load_nhp(p)
    assert err.value.path == str(p)
    old = tmp_path / "old.mat"
    old.write_bytes(b"MATLAB 5.0 MAT-file, Platform: GLNXA64".ljust(128, b" "))
    with pytest.raises(DataFormatError, match=r"v7\.3"):
        load_nhp(old)


def test_too_few_segments(tmp_path: Path) -> None:
    p = write_mat73(tmp_path / "one.mat", SPIKES, target=np.zeros((2, T)))
    with pytest.raises(DataFormatError, match="too few"):
        load_nhp(p)


# ------------------------------------------------------------- NeuroBench protocols of the task


def neurobench_style_counts(spikes: list[list[list[float]]], bin_width: float) -> np.ndarray:
    """The official loader's steps written out: histogram on a 4 ms grid starting ``bin_width``
    before the first time stamp, shift by one bin, OR over units, sum ``bin_width / 4 ms``
    neighbouring bins ("valid" convolution). Returns ``[T, channels]``."""
    t = T0 + 0.004 * np.arange(T)
    grid = np.arange(t[0] - bin_width, t[-1], 0.004)
    n_ch = len(spikes[0])
    occ = np.zeros((n_ch, len(grid)), dtype=np.int64)
    for unit in spikes:
        for c, times in enumerate(unit):
            hist, _ = np.histogram(np.asarray(times), bins=grid)
            occ[c, np.nonzero(hist)[0] + 1] = 1
    ratio = round(bin_width / 0.004)
    counts = np.stack([np.convolve(row, np.ones(ratio), mode="valid") for row in occ])
    return counts.T[:T]


@pytest.mark.parametrize("bin_width", [0.004, 0.028])
def test_binning_matches_the_official_loader_steps(tmp_path: Path, bin_width: float) -> None:
    p = write_mat73(tmp_path / "indy_test.mat", SPIKES)
    ours = bin_reaching(read_reaching_mat(p), window_s=bin_width)
    ref = neurobench_style_counts(SPIKES, bin_width)
    assert ref.shape == (T, 3)
    np.testing.assert_array_equal(ours, ref)
    if bin_width == 0.004:  # one bin: cell 3 (OR-ed over units) is seen at step 5 only
        assert ours[3:8, 0].tolist() == [0, 0, 1, 1, 0]


@pytest.mark.parametrize(
    ("protocol", "steps", "window"),
    [("", (29, 12, 19), 0.004), ("leaderboard", (29, 12, 19), 0.004),
     ("loader-default", (47, 6, 7), 0.028)],
)
def test_reaching_task_protocols_split_and_record(
    tmp_path: Path, protocol: str, steps: tuple[int, int, int], window: float
) -> None:
    from eventbench.tasks import get_task
    from eventbench.tasks.pipeline import benchmark, build, resolve_recipe

    write_mat73(tmp_path / "indy_x.mat", SPIKES)
    task = get_task("nhp-reaching")
    sets = ["data.session=indy_x", "data.duration_ms=12", "data.stride=5", "network.hidden=8",
            "train.threads=1"]
    recipe = resolve_recipe(task, assignments=[*sets, f"data.protocol={protocol}"] if protocol
                            else sets)
    data = task.load(recipe, tmp_path)
    # 10 segments: leaderboard 5 / 2 / 3 of them, loader defaults 8 / 1 / 1; 3-step windows
    n_train, n_val, n_test = steps
    assert data.val is not None
    assert data.val.x.shape == (3, n_val // 3, 3) and data.test.x.shape == (3, n_test // 3, 3)
    assert data.train.x.shape == (3, (n_train - 3) // 5 + 1, 3)
    counts = neurobench_style_counts(SPIKES, window)
    first = T - n_test  # the test split starts here; window k covers first + 3k .. first + 3k + 2
    np.testing.assert_array_equal(data.test.x[:, 1].numpy(), counts[first + 3:first + 6])
    built = build(recipe, data)
    with torch.no_grad():
        pred = built.learner.step(data.test.x, data.test.y).prediction.double().reshape(-1, 2)
    y = data.test.y.double().reshape(-1, 2)
    # NeuroBench's R2 over every scored step: per axis 1 - SS_res / (population variance x n),
    # then the mean of x and y
    r2 = np.mean([1 - float(((y[:, j] - pred[:, j]) ** 2).sum())
                  / float(y[:, j].var(correction=0) * len(y)) for j in (0, 1)])
    res = benchmark(task, recipe, data, built, store=tmp_path / "s.sqlite")
    assert res.metric("r2") == pytest.approx(r2, rel=1e-6)
    assert res.metric("test_score") == pytest.approx(r2, rel=1e-6)
    expect = task.protocol(protocol)
    assert expect is not None and res.provenance.protocol == expect.version
    assert res.tags["protocol"] == expect.name and res.provenance.execution_rate_hz == 250.0
