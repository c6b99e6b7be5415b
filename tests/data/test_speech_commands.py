"""Google Speech Commands: word folders of real 16 kHz PCM wav files and the split lists."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from eventbench.data import DataFormatError, DataMissingError
from eventbench.data.speech_commands import gsc_files, mel_filterbank, mfcc, read_clip

WORDS = {"yes": 300.0, "no": 900.0, "up": 2500.0}  # a tone per word: learnable, distinct


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(np.clip(samples, -1, 1) * 32767, "<i2").tobytes())
    return path


def tone(f_hz: float, n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / 16000
    return 0.3 * np.sin(2 * np.pi * f_hz * t) + 0.01 * rng.standard_normal(n)


def write_gsc(root: Path, per_word: int = 6, seed: int = 0) -> Path:
    """``speech_commands_v0.02/``: per word ``per_word`` clips (speaker ``s<i>``; some shorter
    than 1 s), a background-noise folder, speaker 4 in the validation list, 5 in testing."""
    rng = np.random.default_rng(seed)
    folder = root / "speech_commands_v0.02"
    val, test = [], []
    for word, f in WORDS.items():
        for i in range(per_word):
            n = 16000 if i % 2 == 0 else 12000
            name = f"{word}/{i:08x}_nohash_0.wav"
            write_wav(folder / name, tone(f, n, rng))
            if i == 4:
                val.append(name)
            elif i == 5:
                test.append(name)
    write_wav(folder / "_background_noise_" / "white_noise.wav", rng.standard_normal(32000) * 0.1)
    (folder / "validation_list.txt").write_text("\n".join(val) + "\n")
    (folder / "testing_list.txt").write_text("\n".join(test) + "\n")
    return folder


def test_official_split_classes_and_order(tmp_path: Path) -> None:
    write_gsc(tmp_path)
    f = gsc_files(tmp_path)
    assert f.classes == ("no", "up", "yes")  # sorted word folders, no _background_noise_
    assert (len(f.train), len(f.val), len(f.test)) == (12, 3, 3)
    assert not set(f.train) & (set(f.val) | set(f.test))
    assert sorted(f.val) == ["no/00000004_nohash_0.wav", "up/00000004_nohash_0.wav",
                             "yes/00000004_nohash_0.wav"]
    assert f.label("yes/00000000_nohash_0.wav") == 2
    assert sorted(f.train) != list(f.train) and gsc_files(tmp_path).train == f.train


def test_read_clip_pads_cuts_and_checks_the_format(tmp_path: Path) -> None:
    short = write_wav(tmp_path / "a.wav", np.full(100, 0.5))
    x = read_clip(short)
    assert x.shape == (16000,) and x[:100] == pytest.approx(16383 / 32768) and not x[100:].any()
    long = write_wav(tmp_path / "b.wav", np.full(20000, -0.5))
    assert read_clip(long).shape == (16000,)
    with pytest.raises(DataFormatError, match="8000 Hz; expected mono 16-bit 16000 Hz"):
        read_clip(write_wav(tmp_path / "c.wav", np.zeros(10), rate=8000))
    (tmp_path / "d.wav").write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(DataFormatError) as err:
        read_clip(tmp_path / "d.wav")
    assert err.value.path == str(tmp_path / "d.wav")


def test_mfcc_equals_the_written_out_equations() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(16000) * 0.1
    m = mfcc(x)
    assert m.shape == (98, 20) and m.dtype == np.float32
    # frame 7 by hand: periodic Hann, |FFT|^2 on 512 points, mel filters, log, DCT-II (ortho)
    frame = x[7 * 160: 7 * 160 + 400] * (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400))
    power = np.abs(np.fft.rfft(frame, 512)) ** 2
    logmel = np.log(mel_filterbank(40, 512, 16000) @ power + 1e-6)
    k, j = np.arange(20)[:, None], np.arange(40)[None, :]
    basis = np.sqrt(2 / 40) * np.cos(np.pi * k * (j + 0.5) / 40)
    basis[0] /= np.sqrt(2)
    np.testing.assert_allclose(m[7], basis @ logmel, rtol=1e-4, atol=1e-4)


def test_mel_filterbank_peaks_on_the_mel_scale() -> None:
    fb = mel_filterbank(40, 512, 16000)
    assert fb.shape == (40, 257) and fb.max() <= 1.0
    freqs = np.linspace(0, 8000, 257)
    centres = freqs[fb.argmax(axis=1)]
    # ideal centres: 40 points equally spaced in mel between 0 and mel(8 kHz), edges excluded
    mel_max = 2595 * np.log10(1 + 8000 / 700)
    ideal = 700 * (10 ** (np.arange(1, 41) * mel_max / 41 / 2595) - 1)
    assert np.abs(centres - ideal).max() <= 8000 / 256  # the sampled peak: within one FFT bin


def test_missing_folder_and_listed_clip(tmp_path: Path) -> None:
    with pytest.raises(DataMissingError) as err:
        gsc_files(tmp_path)
    assert "testing_list.txt" in str(err.value) and "speech_commands_v0.02.tar.gz" in str(err.value)
    assert str(tmp_path / "speech_commands_v0.02") in str(err.value)
    folder = write_gsc(tmp_path)
    (folder / "up" / "00000005_nohash_0.wav").unlink()
    with pytest.raises(DataFormatError, match=r"up/00000005_nohash_0\.wav") as err2:
        gsc_files(tmp_path)
    assert err2.value.path == str(folder / "testing_list.txt")


def test_gsc_task_mfcc_trains_and_records_its_protocol(tmp_path: Path) -> None:
    from eventbench.tasks import get_task
    from eventbench.tasks.pipeline import benchmark, resolve_recipe, train

    write_gsc(tmp_path)
    task = get_task("gsc")
    recipe = resolve_recipe(task, assignments=[
        "network.hidden=16", "train.threads=1", "train.epochs=2", "data.max_train=9"])
    data = task.load(recipe, tmp_path)
    assert (data.n_inputs, data.n_outputs, data.n_steps) == (40, 3, 98)
    assert data.train.x.shape == (98, 9, 40) and data.val is not None and len(data.test) == 3
    x = data.train.x
    assert float(x.min()) == 0.0 and float(x.max()) == 4.0 and bool((x == x.round()).all())
    assert not bool(((x[..., 0::2] > 0) & (x[..., 1::2] > 0)).any())  # on or off, not both
    # the counts are round(2 z) of the standardised coefficients z (capped at 4)
    f = gsc_files(tmp_path)
    raw = np.stack([mfcc(read_clip(f.root / r)) for r in f.train[:9]], axis=1)  # [98, 9, 20]
    z = 2 * (raw - raw.mean(axis=(0, 1))) / raw.std(axis=(0, 1))
    want = np.minimum(np.round(np.stack([np.maximum(z, 0), np.maximum(-z, 0)], -1)), 4)
    assert np.abs(want.reshape(98, 9, 40) - x.numpy()).max() <= 1  # float32 rounding edges
    assert (want.reshape(98, 9, 40) == x.numpy()).mean() > 0.99
    built, _ = train(task, recipe, data, tmp_path / "run")
    res = benchmark(task, recipe, data, built, store=None)
    assert res.metric("accuracy") == pytest.approx(res.metric("test_score"))
    assert res.provenance.protocol is not None and "validation_list" in res.provenance.protocol
    cache = tmp_path / "speech_commands_v0.02" / ".eventbench-cache"
    assert sorted(p.name.split("-")[1] for p in cache.glob("mfcc-*.npz")) == ["test", "train",
                                                                              "val"]
    again = task.load(recipe, tmp_path)
    assert again.train.fingerprint() == data.train.fingerprint()


def test_gsc_task_cochlea_front_end_caches_its_spikes(tmp_path: Path) -> None:
    from eventbench.tasks import get_task
    from eventbench.tasks.pipeline import resolve_recipe

    folder = write_gsc(tmp_path, per_word=6)
    task = get_task("gsc")
    recipe = resolve_recipe(task, assignments=[
        "data.frontend=cochlea", "data.cochlea_channels=16", "data.dt_ms=5",
        "data.duration_ms=1000", "data.max_train=3", "data.max_eval=2"])
    data = task.load(recipe, tmp_path)
    assert (data.n_inputs, data.n_steps, len(data.train), len(data.test)) == (16, 200, 3, 2)
    cached = sorted((folder / ".eventbench-cache").glob("cochlea-*.npz"))
    assert len(cached) == 3
    again = task.load(recipe, tmp_path)
    assert again.train.fingerprint() == data.train.fingerprint()
    x, _ = data.train.batch(torch.arange(3))
    assert float(x.sum()) > 0
