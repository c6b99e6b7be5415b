"""Google Speech Commands v0.02 keyword spotting (your ``speech_commands_v0.02`` folder): 35
classes, the official validation / testing lists, clips padded to 1 s.

Front end (``data.frontend``):

* ``mfcc`` (default): ``data.n_mfcc`` coefficients per 10 ms frame
  (:func:`eventbench.data.speech_commands.mfcc`; the hop is ``dt_ms``), standardised per
  coefficient with the training split's mean and standard deviation; each standardised value
  ``z`` becomes spike counts on an on/off pair of input channels,
  ``min(round(gain * max(z, 0)), max_count)`` and the same of ``-z`` (``data.mfcc_gain`` spikes
  per standard deviation, at most ``data.mfcc_max_count`` per frame; spiking networks take
  spike counts): one frame per simulation step, ``[98, B, 40]`` by default (channel ``2 k`` on,
  ``2 k + 1`` off for coefficient ``k``);
* ``cochlea``: SHD-style spikes of the project's cochlea model (``data.cochlea_channels``
  channels, binned on the recipe's grid); about 0.3-2 s of CPU per clip, so
  ``data.max_train`` / ``data.max_eval`` are the practical way to try it.

Both front ends' outputs are cached in ``<gsc folder>/.eventbench-cache/`` (keyed by the clip
list, the settings and the split lists' sizes and times); delete the folder to rebuild.

``data.max_train`` / ``data.max_eval`` take the first clips of the split lists in a fixed,
class-mixed order (sorted by the md5 of the clip path), and only those clips are read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from eventbench.data import DataMissingError, EventDataset, EventSample, Splits
from eventbench.data.cache import cache_key, cached_arrays
from eventbench.data.cochlea import CochleaParams, cochlea_spikes
from eventbench.data.speech_commands import (
    GSC_RATE_HZ,
    GSC_URL,
    GscFiles,
    gsc_files,
    gsc_root,
    mfcc,
    read_clip,
)
from eventbench.tasks.base import Availability, Protocol, TaskData, TaskSpec, event_task_data
from eventbench.tasks.config import BaselineConfig, DataConfig, NetworkConfig, Recipe, TrainSettings
from eventbench.train.data import TensorSplit

__all__ = ["TASK", "SpeechCommandsData"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechCommandsData(DataConfig):
    """Speech Commands settings.

    Attributes:
        frontend: ``"mfcc"`` or ``"cochlea"``.
        n_mfcc: MFCC coefficients per frame (``2 n_mfcc`` input channels of the ``mfcc`` front
            end).
        mfcc_gain: spikes per standard deviation of a coefficient.
        mfcc_max_count: at most this many spikes per channel and frame.
        cochlea_channels: channels of the ``cochlea`` front end.
        cochlea_seed: seed of the cochlea's spike noise (clip ``i`` of a split uses
            ``SeedSequence([cochlea_seed, split, i])``).
    """

    frontend: Literal["mfcc", "cochlea"] = "mfcc"
    n_mfcc: int = 20
    mfcc_gain: float = 2.0
    mfcc_max_count: int = 4
    cochlea_channels: int = 700
    cochlea_seed: int = 0


def _limit(files: tuple[str, ...], n: int | None) -> tuple[str, ...]:
    return files if n is None else files[:n]


def _cache_path(files: GscFiles, kind: str, name: str, **parts: object) -> Path:
    """``<gsc folder>/.eventbench-cache/<kind>-<split>-<key>.npz``; the key hashes ``parts``
    (clip list, settings) and the split lists' sizes and modification times."""
    lists = [(f.name, f.stat().st_size, f.stat().st_mtime_ns)
             for f in (files.root / "validation_list.txt", files.root / "testing_list.txt")]
    key = cache_key(version=1, split=name, lists=lists, **parts)
    return files.root / ".eventbench-cache" / f"{kind}-{name}-{key}.npz"


def _mfcc_split(name: str, files: GscFiles, clips: tuple[str, ...], cfg: SpeechCommandsData
                ) -> tuple[np.ndarray, np.ndarray]:
    """Raw MFCCs float32 ``[T, S, n_mfcc]`` (frames cut or zero-padded to ``n_steps``) and
    int64 labels ``[S]``, cached in the GSC folder (about 15 ms per clip otherwise)."""
    if not clips:
        raise ValueError(f"gsc: the {name} split is empty (data.max_train / data.max_eval = 0?)")

    def compute() -> dict[str, np.ndarray]:
        x = np.zeros((cfg.n_steps, len(clips), cfg.n_mfcc), np.float32)
        for i, rel in enumerate(clips):
            m = mfcc(read_clip(files.root / rel), GSC_RATE_HZ, n_mfcc=cfg.n_mfcc,
                     hop_s=cfg.dt_ms * 1e-3)
            k = min(cfg.n_steps, m.shape[0])
            x[:k, i] = m[:k]
        return {"x": x}

    path = _cache_path(files, "mfcc", name, clips=clips, n_mfcc=cfg.n_mfcc, dt_ms=cfg.dt_ms,
                       n_steps=cfg.n_steps)
    x = cached_arrays(path, compute)["x"]
    y = np.asarray([files.label(r) for r in clips], np.int64)
    return x, y


def _fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256(b"eventbench.gsc.mfcc.v1\x00")
    h.update(repr(x.shape).encode() + np.ascontiguousarray(x).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())
    return h.hexdigest()


def _load_mfcc(files: GscFiles, cfg: SpeechCommandsData) -> TaskData:
    if cfg.n_mfcc < 1:
        raise ValueError(f"data.n_mfcc must be >= 1, got {cfg.n_mfcc}")
    if cfg.mfcc_gain <= 0 or cfg.mfcc_max_count < 1:
        raise ValueError(f"data.mfcc_gain must be > 0 and data.mfcc_max_count >= 1, got "
                         f"{cfg.mfcc_gain}, {cfg.mfcc_max_count}")
    clips = {"train": _limit(files.train, cfg.max_train), "val": _limit(files.val, cfg.max_eval),
             "test": _limit(files.test, cfg.max_eval)}
    raw = {k: _mfcc_split(k, files, v, cfg) for k, v in clips.items()}
    xt = raw["train"][0]
    mean = xt.mean(axis=(0, 1))
    std = xt.std(axis=(0, 1))
    std = np.where(std > 0, std, 1.0)
    splits = {}
    for k, (x, y) in raw.items():
        z = cfg.mfcc_gain * (x - mean) / std
        z = np.stack([np.maximum(z, 0), np.maximum(-z, 0)], axis=-1).reshape(*z.shape[:2], -1)
        z = np.minimum(np.round(z), cfg.mfcc_max_count).astype(np.float32)
        splits[k] = TensorSplit(f"gsc/{k}", torch.from_numpy(z), torch.from_numpy(y),
                                _fingerprint(z, y))
    return TaskData(
        train=splits["train"], val=splits["val"], test=splits["test"], n_inputs=2 * cfg.n_mfcc,
        n_outputs=len(files.classes), n_steps=cfg.n_steps, dt_s=cfg.dt_ms * 1e-3,
        objective="classification", origin="user-file", source=str(files.root),
    )


def _cochlea_split(name: str, index: int, files: GscFiles, clips: tuple[str, ...],
                   cfg: SpeechCommandsData) -> EventDataset:
    params = CochleaParams(n_channels=cfg.cochlea_channels)

    def compute() -> dict[str, np.ndarray]:
        parts = []
        for i, rel in enumerate(clips):
            out = cochlea_spikes(read_clip(files.root / rel), GSC_RATE_HZ, params=params,
                                 seed=np.random.SeedSequence([cfg.cochlea_seed, index, i]))
            parts.append((out.times_s, out.channels))
        return {
            "ptr": np.cumsum([0] + [p[0].shape[0] for p in parts]).astype(np.int64),
            "times": np.concatenate([p[0] for p in parts]) if parts else np.zeros(0),
            "channels": np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64),
        }

    cache = _cache_path(files, "cochlea", name, clips=clips, seed=cfg.cochlea_seed,
                        params=dataclasses.asdict(params))
    arrays = cached_arrays(cache, compute)
    times, chans, ptr = arrays["times"], arrays["channels"], arrays["ptr"]
    samples = [EventSample(times[a:b], chans[a:b], n_channels=cfg.cochlea_channels,
                           label=files.label(rel))
               for rel, a, b in zip(clips, ptr[:-1], ptr[1:], strict=True)]
    return EventDataset(
        name=f"gsc/{name}", samples=samples, n_channels=cfg.cochlea_channels,
        n_classes=len(files.classes), origin="user-file", source=str(files.root),
        class_names=files.classes, params={"frontend": "cochlea", "cache": cache.name},
    )


def _load(recipe: Recipe, data_dir: Path | None) -> TaskData:
    cfg = recipe.data
    if not isinstance(cfg, SpeechCommandsData):
        raise TypeError(f"gsc needs SpeechCommandsData settings, got {type(cfg).__name__}")
    if cfg.frontend not in ("mfcc", "cochlea"):
        raise ValueError(f"data.frontend must be 'mfcc' or 'cochlea', got {cfg.frontend!r}")
    files = gsc_files(data_dir)
    if cfg.frontend == "mfcc":
        return _load_mfcc(files, cfg)
    splits = Splits(
        train=_cochlea_split("train", 0, files, _limit(files.train, cfg.max_train), cfg),
        val=_cochlea_split("val", 1, files, _limit(files.val, cfg.max_eval), cfg),
        test=_cochlea_split("test", 2, files, _limit(files.test, cfg.max_eval), cfg),
    )
    return event_task_data(splits, cfg, crop=True)


def _available(data_dir: Path | None) -> Availability:
    try:
        found = gsc_root(data_dir)
    except DataMissingError:
        return Availability(False, f"needs speech_commands_v0.02/ (word folders, "
                                   f"validation_list.txt, testing_list.txt); get it from {GSC_URL}")
    return Availability(True, f"found {found}")


RECIPE = Recipe(
    data=SpeechCommandsData(dt_ms=10.0, duration_ms=980.0),
    network=NetworkConfig(
        hidden=(256,),
        recurrent=True,
        readout="exp",
        tau_mem_ms=40.0,
        tau_syn_ms=10.0,
        out_tau_mem_ms=40.0,
        out_tau_syn_ms=10.0,
        init_ff_mean=0.0,
        init_ff_std=0.1,
        init_rec_mean=0.0,
        init_rec_std=0.02,
        init_out_mean=0.0,
        init_out_std=0.03,
    ),
    train=TrainSettings(loss="ce", epochs=30, batch_size=64, lr=1e-3),
    baseline=BaselineConfig(kind="gru", hidden=(128,), epochs=30, lr=1e-3),
)

TASK = TaskSpec(
    name="gsc",
    summary="Google Speech Commands v0.02, 35 keywords, MFCC or cochlea front end (your wav "
    "folders)",
    objective="classification",
    metrics=("accuracy",),
    recipe=RECIPE,
    recipe_source="no published EventProp recipe; NeuroBench SpeechCommands split and 1 s "
    "padding, this project's MFCC / cochlea front ends",
    load=_load,
    availability=_available,
    protocols=(
        Protocol(
            "official",
            "Google Speech Commands v0.02, 35 keywords, official validation_list/testing_list "
            "split, clips padded to 1 s (NeuroBench SpeechCommands)",
            "classes = sorted word folders; _background_noise_ excluded",
        ),
    ),
)
