"""The fast cochlea front end: place map, tonotopy, silence, onsets, determinism, level."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from eventbench.data.cochlea import (
    CochleaParams,
    centre_frequencies,
    cochlea_spikes,
    drive_rate_hz,
    erb_hz,
    hair_cell_drive,
)

FS = 16000  # Hz; enough for the tests' tones, cheaper than 22.05 kHz


def _tone(f_hz: float, dur_s: float, lead_s: float = 0.0, fs: int = FS) -> np.ndarray:
    t = np.arange(int(dur_s * fs)) / fs
    x = np.sin(2 * np.pi * f_hz * t)
    ramp = int(0.005 * fs)  # 5 ms cosine ramps: no click
    x[:ramp] *= np.sin(np.linspace(0, np.pi / 2, ramp)) ** 2
    x[-ramp:] *= np.sin(np.linspace(np.pi / 2, 0, ramp)) ** 2
    return np.concatenate([np.zeros(int(lead_s * fs)), x])


def test_place_map_is_a_decreasing_greenwood_scale() -> None:
    f = centre_frequencies()
    assert f.shape == (700,) and f.dtype == np.float64
    assert np.all(np.diff(f) < 0)  # channel 0 = base = highest frequency, as lauscher/SHD
    assert f[0] == pytest.approx(12_100, rel=0.01) and f[-1] == pytest.approx(132, rel=0.01)
    # about 105 channels per octave in the speech range (lauscher's peak responses: ~105)
    c1k, c2k = (int(np.argmin(np.abs(f - v))) for v in (1000.0, 2000.0))
    assert 95 <= c1k - c2k <= 115
    assert erb_hz(1000.0) == pytest.approx(24.7 * 5.37)
    small = centre_frequencies(CochleaParams(n_channels=7))
    assert small.shape == (7,) and small[0] == pytest.approx(f[0])


@pytest.mark.parametrize("f_hz", [500.0, 1000.0, 2000.0, 4000.0])
def test_tone_excites_the_channel_with_its_centre_frequency(f_hz: float) -> None:
    out = cochlea_spikes(_tone(f_hz, 0.25, lead_s=0.05), FS, seed=1)
    counts = np.bincount(out.channels, minlength=700)
    smooth = np.convolve(counts, np.ones(9) / 9, mode="same")
    peak = int(np.argmax(smooth))
    expected = int(np.argmin(np.abs(centre_frequencies() - f_hz)))
    assert abs(peak - expected) <= 25, (peak, expected)  # within a quarter octave
    # the response is local and asymmetric like a basilar membrane's: channels tuned an octave
    # or more below the tone hardly fire, those tuned above it keep a weak low-frequency tail
    ch = np.arange(700)
    below = ch > expected + 105
    above = ch < expected - 210
    if below.any():
        assert smooth[below].max() < 0.1 * smooth[peak]
    if above.any():
        assert smooth[above].max() < 0.35 * smooth[peak]


def test_higher_tones_move_the_response_towards_channel_0() -> None:
    peaks = []
    for f_hz in (300.0, 800.0, 2500.0, 7000.0):
        out = cochlea_spikes(_tone(f_hz, 0.15), FS, seed=0)
        counts = np.convolve(np.bincount(out.channels, minlength=700), np.ones(9), "same")
        peaks.append(int(np.argmax(counts)))
    assert peaks == sorted(peaks, reverse=True) and peaks[0] - peaks[-1] > 400


def test_silence_gives_no_driven_spikes() -> None:
    silent = np.zeros(int(0.5 * FS))
    quiet = CochleaParams(spont_rate_hz=0.0)
    assert cochlea_spikes(silent, FS, params=quiet).n_spikes == 0
    drive, rate = hair_cell_drive(silent, FS)
    assert not drive.any() and rate == drive_rate_hz(FS)
    # with the default spontaneous rate, silence gives only the ~2 Hz background, on all channels
    out = cochlea_spikes(silent, FS, seed=3)
    expected = 2.0 * 700 * 0.5
    assert abs(out.n_spikes - expected) < 5 * np.sqrt(expected)
    assert np.unique(out.channels).size > 400


def test_onset_heavy_response_and_shd_like_counts() -> None:
    out = cochlea_spikes(_tone(1000.0, 0.4, lead_s=0.1), FS, seed=0)
    t = out.times_s
    onset = np.count_nonzero((t >= 0.1) & (t < 0.12)) / 0.02
    late = np.count_nonzero((t >= 0.35) & (t < 0.45)) / 0.1
    assert onset > 2.5 * late > 0  # adaptation: the first 20 ms fire far faster than later
    assert 1000 < out.n_spikes < 10_000


def test_output_layout_and_determinism() -> None:
    rng = np.random.default_rng(0)
    x = _tone(1500.0, 0.2) + 0.05 * rng.normal(size=int(0.2 * FS))
    a = cochlea_spikes(x, FS, seed=7)
    b = cochlea_spikes(x, FS, seed=7)
    c = cochlea_spikes(x, FS, seed=8)
    assert a.times_s.dtype == np.float64 and a.channels.dtype == np.int64
    np.testing.assert_array_equal(a.times_s, b.times_s)
    np.testing.assert_array_equal(a.channels, b.channels)
    assert a.n_spikes != c.n_spikes or not np.array_equal(a.channels, c.channels)
    assert np.all(np.diff(a.times_s) >= 0)
    assert a.times_s.min() > 0 and a.times_s.max() <= 0.2 + 1e-3
    assert a.channels.min() >= 0 and a.channels.max() < 700
    assert a.duration_s == pytest.approx(0.2)
    # the bushy cells' 1 ms dead time: no channel fires twice within 1 ms
    order = np.lexsort((a.times_s, a.channels))
    same = np.diff(a.channels[order]) == 0
    assert np.diff(a.times_s[order])[same].min() >= 1e-3 - 1e-9


def test_level_is_normalised() -> None:
    x = _tone(700.0, 0.2)
    a = cochlea_spikes(x, FS, seed=2)
    b = cochlea_spikes(1e-3 * x, FS, seed=2)
    assert abs(a.n_spikes - b.n_spikes) <= 0.01 * a.n_spikes


def test_bad_input_and_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="n_channels"):
        CochleaParams(n_channels=0)
    with pytest.raises(ValueError, match="tau_mem_s"):
        CochleaParams(tau_mem_s=-1.0)
    with pytest.raises(ValueError, match="ear_highpass_hz"):
        CochleaParams(ear_highpass_hz=3000.0, ear_lowpass_hz=1000.0)
    with pytest.raises(ValueError, match="window"):
        dataclasses.replace(CochleaParams(), window="box")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1-D"):
        cochlea_spikes(np.zeros((2, 100)), FS)
    with pytest.raises(ValueError, match="NaN"):
        cochlea_spikes(np.full(100, np.nan), FS)
