"""Spoken digits: an SHD-class data set that anyone can rebuild offline.

Twenty classes as in SHD (0-9: English "zero".."nine", 10-19: German "null".."neun") spoken by
the speech synthesiser **espeak-ng** and turned into spikes by the fast cochlea model of
:mod:`eventbench.data.cochlea` (700 channels). The files use the exact SHD HDF5 layout
(:mod:`eventbench.data.shd`), so every SHD tool reads them.

Speakers
    A speaker is a fixed espeak-ng voice variant (``m1``.. ``m7``, ``f1``.. ``f5``, ``linda``,
    ``Annie``) with a fixed base pitch and speed, used for both languages (``en+m3``,
    ``de+m3``). There are 14; speakers 0-10 make the training set, 11-13 the test set
    (speaker-disjoint; SHD has 10 training speakers and 2 test-only ones).

Per utterance (seeded)
    speed x ``exp(N(0, 0.05))``, pitch ``+ N(0, 3)`` espeak units, loudness x ``10^(U(-6,6)/20)``
    against a fixed white-noise floor at -60 dBFS (so loudness sets the SNR, about 35-50 dB),
    leading and trailing silence ``U(0.05, 0.2)`` s each (shortened so that a clip stays within
    1 s where the word allows it: the SHD recipe crops at 1 s), and the cochlea's own spike noise.

Determinism
    Every utterance draws from ``numpy.random.SeedSequence([seed, speaker, label, repeat])``, so
    a file depends only on the seed, the sample count, the espeak-ng version and NumPy, never on
    the number of worker processes. Samples are stored in a seeded random order.

Build: :func:`build_spoken_digits`, ``eventbench data build-spoken-digits`` or
``python -m eventbench.data.spoken_digits``; load: :func:`load_spoken_digits`. The files go to
``<data dir>/spoken-digits/shd_{train,test}.h5`` and carry HDF5 attributes ``generator``,
``seed``, ``espeak_ng_version``, ``cochlea_params`` (JSON) and ``samples_per_class_per_speaker``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import multiprocessing
import os
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .cochlea import CochleaParams, cochlea_spikes
from .dataset import EventDataset
from .errors import DataFormatError, DataMissingError, resolve_data_dir
from .shd import SHD, load_heidelberg

__all__ = [
    "BUILD_COMMAND",
    "CLASS_NAMES",
    "DIRNAME",
    "ENGLISH",
    "GENERATOR",
    "GERMAN",
    "SPEAKERS",
    "EspeakNotFoundError",
    "Speaker",
    "SpokenDigitsBuild",
    "SpokenDigitsMissingError",
    "Utterance",
    "build_spoken_digits",
    "espeak_version",
    "load_spoken_digits",
    "spoken_digits_dir",
    "synthesise",
    "write_shd_h5",
]

logger = logging.getLogger(__name__)

#: Sub-folder of the data directory holding the files.
DIRNAME = "spoken-digits"
#: Value of the ``generator`` attribute of every file written here.
GENERATOR = "eventbench.spoken-digits/1"
#: The command that builds the files (named in error messages).
BUILD_COMMAND = "eventbench data build-spoken-digits"

ENGLISH = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
GERMAN = ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun")
#: SHD-style class names (``extra/keys``), ASCII: label ``l`` is ``CLASS_NAMES[l]``.
CLASS_NAMES: tuple[str, ...] = tuple(f"english-{w}" for w in ENGLISH) + tuple(
    f"german-{w.replace('ü', 'ue')}" for w in GERMAN
)

N_CHANNELS = 700
_NOISE_DBFS = -60.0
_PAD_S = (0.05, 0.2)
_MAX_CLIP_S = 1.0
_SPEED_SD = 0.05
_PITCH_SD = 3.0
_GAIN_DB = 6.0


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker.

    Attributes:
        speaker_id: id stored in ``extra/speaker``.
        variant: espeak-ng voice variant (used as ``en+<variant>`` and ``de+<variant>``).
        gender: ``"male"`` or ``"female"`` (the variant's, stored in ``extra/meta_info/gender``).
        pitch: base pitch, espeak-ng ``-p`` units (0-99, default 50).
        speed_wpm: base speed, espeak-ng ``-s`` words per minute (default 175).
        split: ``"train"`` or ``"test"``.
    """

    speaker_id: int
    variant: str
    gender: Literal["male", "female"]
    pitch: int
    speed_wpm: int
    split: Literal["train", "test"]


SPEAKERS: tuple[Speaker, ...] = (
    Speaker(0, "m1", "male", 45, 150, "train"),
    Speaker(1, "f1", "female", 55, 160, "train"),
    Speaker(2, "m2", "male", 38, 170, "train"),
    Speaker(3, "f2", "female", 62, 145, "train"),
    Speaker(4, "m3", "male", 50, 160, "train"),
    Speaker(5, "f3", "female", 48, 175, "train"),
    Speaker(6, "m4", "male", 42, 140, "train"),
    Speaker(7, "f4", "female", 58, 155, "train"),
    Speaker(8, "m5", "male", 32, 165, "train"),
    Speaker(9, "linda", "female", 52, 150, "train"),
    Speaker(10, "m6", "male", 55, 135, "train"),
    Speaker(11, "m7", "male", 40, 158, "test"),
    Speaker(12, "f5", "female", 60, 150, "test"),
    Speaker(13, "Annie", "female", 50, 165, "test"),
)


class EspeakNotFoundError(RuntimeError):
    """The ``espeak-ng`` program is not installed (or not on ``PATH``)."""

    def __init__(self) -> None:
        super().__init__(
            "the program 'espeak-ng' was not found on PATH; it synthesises the spoken digits. "
            "Install it (Debian/Ubuntu: 'sudo apt-get update && sudo apt-get install -y "
            "espeak-ng'; Fedora: 'sudo dnf install espeak-ng'; macOS: 'brew install espeak-ng') "
            f"and run '{BUILD_COMMAND}' again."
        )


class SpokenDigitsMissingError(DataMissingError):
    """A spoken-digits file is missing; the message says how to build it.

    Args:
        filename: the missing file (``shd_train.h5`` / ``shd_test.h5``).
        searched: where it was looked for (``<data dir>/spoken-digits/<filename>``).
        data_dir: the data directory to name in the build command.
    """

    def __init__(
        self, filename: str, searched: Sequence[Path | str], data_dir: Path,
        packed: Path | None = None,
    ) -> None:
        build = f"{BUILD_COMMAND} --data-dir {data_dir}"
        hint = (f"found {packed}: decompress it (gunzip -k) next to it, or build the files with: "
                f"{build}" if packed is not None else f"build the files with: {build}")
        super().__init__(
            filename, searched,
            url=f"'{BUILD_COMMAND}' (an offline build on this machine; needs espeak-ng)",
            hint=hint,
        )
        where = "\n".join(f"  - {p}" for p in self.searched)
        self.args = (
            f"data file {filename!r} not found. Searched:\n{where}\n"
            "The spoken-digits set is generated on this machine (offline; needs the espeak-ng "
            f"program): {hint}.",
        )


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EspeakNotFoundError()
    return exe


def espeak_version() -> str:
    """The first line of ``espeak-ng --version`` (raises :class:`EspeakNotFoundError`)."""
    out = subprocess.run([_espeak(), "--version"], capture_output=True, check=True, text=True)
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"


def _parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Mono 16-bit PCM samples (float64 in [-1, 1)) and rate from WAV bytes; tolerates the
    placeholder sizes that ``espeak-ng --stdout`` writes into a streamed header."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise DataFormatError("<espeak-ng stdout>", "RIFF header", "not a WAV stream")
    pos, fs, fmt_ok = 12, 0, False
    while pos + 8 <= len(data):
        tag, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if tag == b"fmt ":
            fmt, channels, fs = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0]
            if (fmt, channels, bits) != (1, 1, 16):
                raise DataFormatError(
                    "<espeak-ng stdout>", "fmt chunk",
                    f"need mono 16-bit PCM, got format {fmt}, {channels} channels, {bits} bits",
                )
            fmt_ok = True
        elif tag == b"data":
            if not fmt_ok:
                raise DataFormatError("<espeak-ng stdout>", "data chunk", "before the fmt chunk")
            n = len(body) // 2
            return np.frombuffer(body[: 2 * n], "<i2").astype(np.float64) / 32768.0, fs
        pos += 8 + size + (size & 1)
    raise DataFormatError("<espeak-ng stdout>", "data chunk", "missing")


def _speak(text: str, voice: str, pitch: int, speed_wpm: int) -> tuple[np.ndarray, int]:
    cmd = [_espeak(), "-v", voice, "-p", str(pitch), "-s", str(speed_wpm), "--stdout", text]
    res = subprocess.run(cmd, capture_output=True, check=False)
    if res.returncode != 0 or not res.stdout:
        msg = res.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"espeak-ng failed ({' '.join(cmd)}): exit {res.returncode} {msg}")
    return _parse_wav(res.stdout)


@dataclass(frozen=True, eq=False)
class Utterance:
    """One synthesised word.

    Attributes:
        wave: float64 ``[S]`` mono waveform (about -20 dBFS speech, -60 dBFS noise floor).
        fs_hz: its sample rate (espeak-ng: 22 050 Hz).
        label: class 0-19; speaker: the speaker id.
        voice, pitch, speed_wpm, gain_db: the espeak-ng settings and loudness actually used.
        speech_s: ``(start, stop)`` of the word inside the clip (s).
    """

    wave: np.ndarray
    fs_hz: int
    label: int
    speaker: int
    voice: str
    pitch: int
    speed_wpm: int
    gain_db: float
    speech_s: tuple[float, float]


def synthesise(speaker: Speaker, label: int, rng: np.random.Generator) -> Utterance:
    """Speak the digit ``label`` (0-19) as ``speaker`` with the per-utterance jitter of the
    module docstring, drawn from ``rng``; needs the ``espeak-ng`` program."""
    if not 0 <= label < len(CLASS_NAMES):
        raise ValueError(f"label must be in [0, {len(CLASS_NAMES)}), got {label}")
    lang, word = ("en", ENGLISH[label]) if label < 10 else ("de", GERMAN[label - 10])
    speed = round(speaker.speed_wpm * math.exp(rng.normal(0.0, _SPEED_SD)))
    pitch = int(np.clip(round(speaker.pitch + rng.normal(0.0, _PITCH_SD)), 0, 99))
    gain_db = float(rng.uniform(-_GAIN_DB, _GAIN_DB))
    lead, tail = rng.uniform(*_PAD_S, size=2)
    voice = f"{lang}+{speaker.variant}"
    raw, fs = _speak(word, voice, pitch, speed)
    loud = np.flatnonzero(np.abs(raw) > 1e-3 * max(float(np.abs(raw).max()), 1e-12))
    if loud.size == 0:
        raise RuntimeError(f"espeak-ng produced silence for {word!r} with voice {voice}")
    speech = raw[loud[0]: loud[-1] + 1]
    spare = _MAX_CLIP_S - speech.shape[0] / fs
    if lead + tail > spare:  # shorten the pads (keeping their ratio) to stay within 1 s
        scale = max(spare, 0.0) / (lead + tail)
        lead, tail = lead * scale, tail * scale
    n_lead, n_tail = round(lead * fs), round(tail * fs)
    wave = np.concatenate([np.zeros(n_lead), speech * 10 ** (gain_db / 20), np.zeros(n_tail)])
    wave += rng.normal(0.0, 10 ** (_NOISE_DBFS / 20), size=wave.shape[0])
    return Utterance(
        wave=wave, fs_hz=fs, label=label, speaker=speaker.speaker_id, voice=voice, pitch=pitch,
        speed_wpm=speed, gain_db=gain_db,
        speech_s=(n_lead / fs, (n_lead + speech.shape[0]) / fs),
    )


@dataclass(frozen=True)
class _Job:
    speaker: Speaker
    label: int
    repeat: int
    seed: int
    params: CochleaParams


@dataclass(frozen=True, eq=False)
class _Sample:
    times_s: np.ndarray
    units: np.ndarray
    label: int
    speaker: int
    duration_s: float


def _run_job(job: _Job) -> _Sample:
    ss = np.random.SeedSequence([job.seed, job.speaker.speaker_id, job.label, job.repeat])
    synth_ss, cochlea_ss = ss.spawn(2)
    utt = synthesise(job.speaker, job.label, np.random.default_rng(synth_ss))
    out = cochlea_spikes(utt.wave, utt.fs_hz, seed=cochlea_ss, params=job.params)
    return _Sample(out.times_s, out.channels, job.label, job.speaker.speaker_id, out.duration_s)


def write_shd_h5(
    path: str | os.PathLike[str],
    times: Sequence[np.ndarray],
    units: Sequence[np.ndarray],
    labels: Sequence[int] | np.ndarray,
    speakers: Sequence[int] | np.ndarray,
    keys: Sequence[str],
    genders: Sequence[str] | None = None,
    attrs: dict[str, str | int | float] | None = None,
    n_channels: int = N_CHANNELS,
) -> Path:
    """Write one file in the SHD HDF5 layout (see :mod:`eventbench.data.shd`).

    ``spikes/times`` (float16 vlen, s), ``spikes/units`` (uint16 vlen), ``labels`` (uint8),
    ``extra/speaker`` (uint16), ``extra/keys`` (byte strings) and, with ``genders`` (indexed by
    speaker id), ``extra/meta_info/{gender,age,body_height}`` (age and height 0: unknown).
    ``attrs`` become root attributes. The file is written next to ``path`` and renamed into
    place, so an interrupted write never leaves a truncated file. Bad input raises
    :class:`~eventbench.data.DataFormatError` naming the field and sample.
    """
    import h5py

    p = Path(path)
    n = len(times)
    where = f"<samples for {p}>"
    if len(units) != n or len(labels) != n or len(speakers) != n:
        raise DataFormatError(
            where, "labels",
            f"{n} time rows, {len(units)} unit rows, {len(labels)} labels, {len(speakers)} speakers",
        )
    lab = np.asarray(labels, np.int64)
    if lab.size and (lab.min() < 0 or lab.max() >= len(keys) or lab.max() > 255):
        raise DataFormatError(where, "labels", f"values outside [0, {len(keys)})")
    spk = np.asarray(speakers, np.int64)
    if spk.size and (spk.min() < 0 or spk.max() > 65535):
        raise DataFormatError(where, "extra/speaker", "values outside [0, 65535]")
    t16: list[np.ndarray] = []
    u16: list[np.ndarray] = []
    for i, (t, u) in enumerate(zip(times, units, strict=True)):
        t = np.asarray(t, np.float64)
        u = np.asarray(u)
        if t.shape != u.shape or t.ndim != 1:
            raise DataFormatError(where, "spikes/units", f"sample {i}: shapes {t.shape}, {u.shape}")
        if t.size and not (np.isfinite(t).all() and t.min() >= 0 and t.max() < 65504):
            raise DataFormatError(where, "spikes/times", f"sample {i}: times outside [0, 65504) s")
        if u.size and (u.min() < 0 or u.max() >= n_channels):
            raise DataFormatError(
                where, "spikes/units", f"sample {i}: unit outside [0, {n_channels})"
            )
        t16.append(t.astype(np.float16))
        u16.append(u.astype(np.uint16))
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".partial")
    with h5py.File(tmp, "w") as f:
        dt = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
        du = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i in range(n):
            dt[i] = t16[i]
            du[i] = u16[i]
        f["labels"] = lab.astype(np.uint8)
        f["extra/speaker"] = spk.astype(np.uint16)
        f["extra/keys"] = np.asarray([k.encode("ascii") for k in keys])
        if genders is not None:
            m = f.create_group("extra/meta_info")
            m["gender"] = np.asarray([g.encode("ascii") for g in genders])
            m["age"] = np.zeros(len(genders), np.uint8)
            m["body_height"] = np.zeros(len(genders), np.uint8)
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
    os.replace(tmp, p)
    return p


@dataclass(frozen=True)
class SpokenDigitsBuild:
    """What :func:`build_spoken_digits` wrote.

    Attributes:
        paths: split (``"train"``, ``"test"``) -> file.
        n_samples: split -> number of samples.
        speakers: split -> speaker ids.
        spikes_per_sample: split -> ``(mean, median)`` spikes per sample.
        seconds: wall-clock build time (s).
    """

    paths: dict[str, Path]
    n_samples: dict[str, int]
    speakers: dict[str, tuple[int, ...]]
    spikes_per_sample: dict[str, tuple[float, float]]
    seconds: float


def _iter_results(
    jobs: list[_Job], workers: int
) -> Iterator[_Sample]:
    if workers == 1:
        yield from map(_run_job, jobs)
        return
    ctx = multiprocessing.get_context("spawn")  # the parent may hold torch threads: no fork
    with ctx.Pool(processes=workers) as pool:
        yield from pool.imap(_run_job, jobs, chunksize=4)


def build_spoken_digits(
    out_dir: str | os.PathLike[str],
    n_per_class_per_speaker: int = 8,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    *,
    speakers: Sequence[int] | None = None,
    workers: int = 1,
    params: CochleaParams | None = None,
) -> SpokenDigitsBuild:
    """Synthesise, encode and write ``out_dir/shd_train.h5`` and ``out_dir/shd_test.h5``.

    Args:
        out_dir: target folder (created); usually ``<data dir>/spoken-digits``.
        n_per_class_per_speaker: utterances of each of the 20 words per speaker. The default 8
            gives 11 x 20 x 8 = 1 760 training and 3 x 20 x 8 = 480 test samples.
        seed: seed of all randomness (see the module docstring).
        progress: called as ``progress(done, total)`` after every sample.
        speakers: ids of the :data:`SPEAKERS` to use (default: all 14); each keeps its split.
        workers: processes (1 or 2; the output does not depend on it).
        params: cochlea parameters (default :class:`~eventbench.data.cochlea.CochleaParams`).

    Raises:
        EspeakNotFoundError: ``espeak-ng`` is not installed (checked before any work).
    """
    if isinstance(n_per_class_per_speaker, bool) or n_per_class_per_speaker < 1:
        raise ValueError(f"n_per_class_per_speaker must be >= 1, got {n_per_class_per_speaker!r}")
    if workers not in (1, 2):
        raise ValueError(f"workers must be 1 or 2, got {workers!r}")
    version = espeak_version()  # fails early with install instructions
    by_id = {s.speaker_id: s for s in SPEAKERS}
    chosen = [s.speaker_id for s in SPEAKERS] if speakers is None else list(speakers)
    unknown = [i for i in chosen if i not in by_id]
    if unknown:
        raise ValueError(f"unknown speaker ids {unknown} (known: {sorted(by_id)})")
    p = params or CochleaParams()
    if p.n_channels != N_CHANNELS:
        raise ValueError(f"the SHD layout has {N_CHANNELS} channels, params has {p.n_channels}")
    jobs = [
        _Job(by_id[sid], label, rep, seed, p)
        for sid in chosen for label in range(len(CLASS_NAMES))
        for rep in range(n_per_class_per_speaker)
    ]
    split_of = {s.speaker_id: s.split for s in SPEAKERS}
    missing = [s for s in ("train", "test") if not any(split_of[i] == s for i in chosen)]
    if missing:
        raise ValueError(f"speakers {chosen} give no {' or '.join(missing)} samples")
    t0 = time.perf_counter()
    results: dict[str, list[_Sample]] = {"train": [], "test": []}
    logger.info("spoken digits: %d samples (%s), %d worker(s)", len(jobs), version, workers)
    for done, sample in enumerate(_iter_results(jobs, workers), start=1):
        results[split_of[sample.speaker]].append(sample)
        if progress is not None:
            progress(done, len(jobs))
    out = Path(out_dir)
    attrs: dict[str, str | int | float] = {
        "generator": GENERATOR,
        "seed": seed,
        "samples_per_class_per_speaker": n_per_class_per_speaker,
        "espeak_ng_version": version,
        "cochlea_params": json.dumps(dataclasses.asdict(p), sort_keys=True),
    }
    genders = [s.gender for s in sorted(SPEAKERS, key=lambda s: s.speaker_id)]
    paths: dict[str, Path] = {}
    stats: dict[str, tuple[float, float]] = {}
    for offset, (split, samples) in enumerate(results.items()):
        order = np.random.default_rng([seed, 1000 + offset]).permutation(len(samples))
        rows = [samples[int(i)] for i in order]
        paths[split] = write_shd_h5(
            out / f"shd_{split}.h5",
            [r.times_s for r in rows], [r.units for r in rows],
            [r.label for r in rows], [r.speaker for r in rows],
            CLASS_NAMES, genders, {**attrs, "split": split},
        )
        counts = np.array([r.times_s.shape[0] for r in rows])
        stats[split] = (float(counts.mean()), float(np.median(counts)))
        logger.info("wrote %s: %d samples, spikes per sample mean %.0f median %.0f",
                    paths[split], len(rows), *stats[split])
    return SpokenDigitsBuild(
        paths=paths,
        n_samples={k: len(v) for k, v in results.items()},
        speakers={k: tuple(sorted({r.speaker for r in v})) for k, v in results.items()},
        spikes_per_sample=stats,
        seconds=time.perf_counter() - t0,
    )


def spoken_digits_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<data dir>/spoken-digits`` (data dir resolved by
    :func:`~eventbench.data.resolve_data_dir`)."""
    return resolve_data_dir(data_dir) / DIRNAME


def load_spoken_digits(
    data_dir: str | os.PathLike[str] | None = None,
    split: str = "train",
    t_stop_s: float | None = None,
) -> EventDataset:
    """One split (``"train"`` or ``"test"``) of the built set: 700 channels, 20 classes.

    Reads ``<data dir>/spoken-digits/shd_<split>.h5``; ``groups`` holds the speaker ids,
    ``class_names`` the keys, ``origin`` is ``"generated"``. ``t_stop_s`` as in
    :func:`~eventbench.data.load_shd`. A missing file raises
    :class:`SpokenDigitsMissingError` (with the build command); a file that was not written
    by this module raises :class:`~eventbench.data.DataFormatError`.
    """
    import h5py

    if split not in ("train", "test"):
        raise ValueError(f"spoken-digits has splits ('train', 'test'), got {split!r}")
    path = spoken_digits_dir(data_dir) / f"shd_{split}.h5"
    if not path.is_file():
        gz = path.with_name(path.name + ".gz")
        raise SpokenDigitsMissingError(path.name, [path], resolve_data_dir(data_dir),
                                       gz if gz.is_file() else None)
    try:
        with h5py.File(path, "r") as f:
            gen = f.attrs.get("generator")
    except OSError as exc:
        raise DataFormatError(path, "<HDF5 file>", f"cannot be opened as HDF5: {exc}") from exc
    gen = gen.decode() if isinstance(gen, bytes) else gen
    if not (isinstance(gen, str) and gen.startswith("eventbench.spoken-digits/")):
        raise DataFormatError(
            path, "attrs/generator",
            f"{gen!r}: not a spoken-digits file (rebuild with '{BUILD_COMMAND}')",
        )
    ds = load_heidelberg(SHD, path, split, t_stop_s)
    return EventDataset(
        name=f"{DIRNAME}/{split}",
        samples=ds.samples,
        n_channels=ds.n_channels,
        n_classes=ds.n_classes,
        origin="generated",
        source=str(path),
        class_names=ds.class_names,
        groups=ds.groups,
        params={"t_stop_s": t_stop_s, "generator": gen},
        flat=ds.flat_events(),
    )


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m eventbench.data.spoken_digits``: build the files (see ``--help``)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m eventbench.data.spoken_digits",
                                 description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--out-dir", type=Path, default=None,
                    help="target folder (default: <data dir>/spoken-digits)")
    ap.add_argument("--samples", type=int, default=8, help="utterances per word and speaker")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--speakers", type=str, default=None,
                    help="comma-separated speaker ids (default: all 14)")
    ap.add_argument("--workers", type=int, default=1, choices=(1, 2))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    spk = None if args.speakers is None else [int(s) for s in args.speakers.split(",")]
    out_dir = args.out_dir if args.out_dir is not None else spoken_digits_dir()
    try:
        res = build_spoken_digits(out_dir, args.samples, args.seed, speakers=spk,
                                  workers=args.workers)
    except EspeakNotFoundError as exc:
        logger.error("%s", exc)
        return 1
    for split, path in res.paths.items():
        mean, median = res.spikes_per_sample[split]
        sys.stdout.write(
            f"{split}: {path} ({res.n_samples[split]} samples, speakers "
            f"{list(res.speakers[split])}, spikes/sample mean {mean:.0f} median {median:.0f})\n"
        )
    sys.stdout.write(f"built in {res.seconds:.1f} s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
