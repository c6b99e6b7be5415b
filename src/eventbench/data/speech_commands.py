"""Google Speech Commands v0.02 (Warden 2018) from the user's own download, through an MFCC or
cochlea front end.

Layout (``speech_commands_v0.02.tar.gz`` unpacked): one folder per word with 16 kHz mono 16-bit
PCM ``.wav`` clips of at most 1 s, ``_background_noise_/`` (not a class), and the official split
lists ``validation_list.txt`` and ``testing_list.txt`` (paths like ``right/bb05582b_nohash_0.wav``);
every other clip is training data. As NeuroBench's ``SpeechCommands``: the classes are the word
folders in sorted order (35 in v0.02; hidden folders and ``_background_noise_`` are not
classes), and each clip is zero-padded (or cut) to 1 s.

Front ends:

* :func:`mfcc`: ``n_mfcc`` mel-frequency cepstral coefficients per frame (Hann window of
  ``window_s``, hop ``hop_s``, power spectrum on ``n_fft`` points, ``n_mels`` triangular filters
  on the HTK mel scale ``m = 2595 log10(1 + f / 700)`` from 0 Hz to ``fs / 2``,
  ``log(mel + 1e-6)``, orthonormal DCT-II); ``[frames, n_mfcc]`` with
  ``frames = 1 + (S - window) // hop`` (98 for 1 s, 25 ms, 10 ms). Written from these equations;
  it is not torchaudio's ``MFCC`` (whose defaults differ: 128 mel bands, dB scale), so
  features are comparable in kind, not bit for bit.
* :func:`~eventbench.data.cochlea.cochlea_spikes`: the project's cochlea model, SHD-style spike
  trains (about 0.3-0.6 s of CPU per clip, i.e. hours for the whole set; the task caches them).
"""

from __future__ import annotations

import hashlib
import logging
import os
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataFormatError, DataMissingError, resolve_data_dir

__all__ = [
    "GSC_DIRS",
    "GSC_RATE_HZ",
    "GSC_URL",
    "GscFiles",
    "gsc_files",
    "gsc_root",
    "mel_filterbank",
    "mfcc",
    "read_clip",
]

logger = logging.getLogger(__name__)

GSC_URL = ("http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz (unpack it into "
           "<data dir>/speech_commands_v0.02/)")
#: folders under the data dir searched for the word folders and split lists, in order
GSC_DIRS: tuple[str, ...] = (
    "speech_commands_v0.02", "SpeechCommands/speech_commands_v0.02", "speech_commands", "gsc",
)
GSC_RATE_HZ = 16_000


@dataclass(frozen=True)
class GscFiles:
    """The clips of each split (paths relative to ``root``, in a fixed class-mixed order:
    sorted by the md5 of the path, so that taking the first ``n`` gives all classes) and the
    class names (sorted word folders)."""

    root: Path
    classes: tuple[str, ...]
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def label(self, rel: str) -> int:
        """Class index of a clip path ``word/file.wav``."""
        return self.classes.index(rel.split("/", 1)[0])


def gsc_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder with ``testing_list.txt`` (an error naming where to get and put it)."""
    root = resolve_data_dir(data_dir)
    searched = [root / d / "testing_list.txt" for d in GSC_DIRS] + [root / "testing_list.txt"]
    for cand in searched:
        if cand.is_file():
            return cand.parent
    raise DataMissingError("testing_list.txt", searched, GSC_URL,
                           hint=f"put the word folders and split lists in {root / GSC_DIRS[0]}")


def _mixed(paths: list[str]) -> tuple[str, ...]:
    return tuple(sorted(paths, key=lambda p: (hashlib.md5(p.encode()).hexdigest(), p)))


def gsc_files(data_dir: str | os.PathLike[str] | None = None) -> GscFiles:
    """The official split of the clips (see the module docstring)."""
    root = gsc_root(data_dir)
    classes = tuple(sorted(d.name for d in root.iterdir()
                           if d.is_dir() and not d.name.startswith(("_", "."))))
    if len(classes) < 2:
        raise DataFormatError(root, "word folders", f"found {len(classes)} word folder(s); "
                              "expected the 35 of v0.02")
    lists: dict[str, set[str]] = {}
    for name in ("validation_list.txt", "testing_list.txt"):
        f = root / name
        if not f.is_file():
            raise DataMissingError(name, [f], GSC_URL)
        entries = {ln.strip() for ln in f.read_text().splitlines() if ln.strip()}
        bad = sorted(e for e in entries if e.split("/", 1)[0] not in classes or
                     not (root / e).is_file())
        if bad:
            raise DataFormatError(f, "entries", f"{len(bad)} listed clip(s) missing, e.g. "
                                  f"{bad[0]!r}")
        lists[name] = entries
    every = [f"{c}/{p.name}" for c in classes for p in sorted((root / c).glob("*.wav"))]
    val, test = lists["validation_list.txt"], lists["testing_list.txt"]
    train = [p for p in every if p not in val and p not in test]
    return GscFiles(root, classes, _mixed(train), _mixed(sorted(val)), _mixed(sorted(test)))


def read_clip(path: str | os.PathLike[str], length: int = GSC_RATE_HZ) -> np.ndarray:
    """A 16 kHz mono 16-bit PCM clip as float64 ``[length]`` in [-1, 1), zero-padded at the end
    or cut to ``length`` samples (1 s)."""
    p = Path(path)
    try:
        with wave.open(str(p), "rb") as w:
            fmt = (w.getnchannels(), w.getsampwidth(), w.getframerate())
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise DataFormatError(p, "RIFF/WAVE header", f"not a readable PCM wav file: {exc}") from None
    if fmt != (1, 2, GSC_RATE_HZ):
        raise DataFormatError(p, "fmt chunk", f"{fmt[0]} channel(s), {8 * fmt[1]} bits, "
                              f"{fmt[2]} Hz; expected mono 16-bit 16000 Hz")
    x = np.frombuffer(frames, "<i2").astype(np.float64) / 32768.0
    out = np.zeros(length)
    out[: min(length, x.shape[0])] = x[:length]
    return out


def mel_filterbank(n_mels: int, n_fft: int, fs_hz: float) -> np.ndarray:
    """Triangular filters ``[n_mels, n_fft // 2 + 1]`` equally spaced on the HTK mel scale from
    0 Hz to ``fs_hz / 2`` (peak 1)."""
    def to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    edges_mel = np.linspace(0.0, float(to_mel(np.asarray(fs_hz / 2))), n_mels + 2)
    edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    freqs = np.linspace(0.0, fs_hz / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lo) / (mid - lo)
    down = (hi - freqs[None, :]) / (hi - mid)
    return np.clip(np.minimum(up, down), 0.0, None)


def mfcc(
    wave_: np.ndarray,
    fs_hz: float = GSC_RATE_HZ,
    *,
    n_mfcc: int = 20,
    n_mels: int = 40,
    window_s: float = 0.025,
    hop_s: float = 0.010,
    n_fft: int = 512,
) -> np.ndarray:
    """MFCCs float32 ``[frames, n_mfcc]`` of a waveform ``[S]`` (module docstring)."""
    from scipy.fft import dct

    win = round(window_s * fs_hz)
    hop = round(hop_s * fs_hz)
    if win > n_fft or hop <= 0 or n_mfcc > n_mels:
        raise ValueError(f"MFCC settings: window {win} samples > n_fft {n_fft}, hop {hop}, or "
                         f"n_mfcc {n_mfcc} > n_mels {n_mels}")
    if wave_.shape[0] < win:
        raise ValueError(f"waveform of {wave_.shape[0]} samples is shorter than one window")
    n_frames = 1 + (wave_.shape[0] - win) // hop
    idx = np.arange(n_frames)[:, None] * hop + np.arange(win)[None, :]
    frames = wave_[idx] * np.hanning(win + 1)[:-1]  # periodic Hann
    power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2
    mel = power @ mel_filterbank(n_mels, n_fft, fs_hz).T
    coeffs = np.asarray(dct(np.log(mel + 1e-6), type=2, norm="ortho", axis=1))
    return coeffs[:, :n_mfcc].astype(np.float32)
