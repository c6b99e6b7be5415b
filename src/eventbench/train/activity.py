"""Hidden-layer activity of a trained spiking network on a few samples (for the run report).

:func:`record_activity` runs the network once, without gradients, on the first samples of a
split and keeps two things per hidden layer: the spike raster of one sample (stamp index and
neuron of every spike) and every neuron's mean rate over all the samples (Hz). Both fit in a
small ``.npz`` file (:func:`save_activity` / :func:`load_activity`), which the run report turns
into a raster plot and a rate histogram.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eventbench.core import SNN
from eventbench.readout.losses import predict
from eventbench.train.data import Split

__all__ = ["HiddenActivity", "load_activity", "record_activity", "save_activity"]


@dataclass(frozen=True, eq=False)
class HiddenActivity:
    """Spikes of one sample and per-neuron rates over ``n_samples`` samples, per hidden layer.

    Attributes:
        split: name of the split the samples came from.
        dt_s: simulation step (s); a spike with stamp ``k`` happened at ``k * dt_s``.
        n_steps: steps per trial ``T``.
        sample: index (in the split) of the rastered sample.
        label: its class label (``None`` for regression targets).
        prediction: the network's class for it (``None`` for regression).
        steps: per layer, int64 ``[S_l]`` stamp indices ``1..T`` of that sample's spikes.
        neurons: per layer, int64 ``[S_l]`` neuron indices of those spikes.
        sizes: neurons per layer.
        rates_hz: per layer, float64 ``[N_l]`` spikes per neuron per sample divided by the trial
            length ``T * dt_s`` (Hz), over the first ``n_samples`` samples of the split.
        n_samples: samples behind ``rates_hz``.
    """

    split: str
    dt_s: float
    n_steps: int
    sample: int
    label: int | None
    prediction: int | None
    steps: tuple[np.ndarray, ...]
    neurons: tuple[np.ndarray, ...]
    sizes: tuple[int, ...]
    rates_hz: tuple[np.ndarray, ...]
    n_samples: int

    @property
    def duration_s(self) -> float:
        """Trial length ``T * dt_s`` in seconds."""
        return self.n_steps * self.dt_s


def record_activity(
    net: SNN, split: Split, n_samples: int = 256, sample: int = 0
) -> HiddenActivity:
    """One forward pass of ``net`` (eval mode, no gradients) on the first ``n_samples``
    samples of ``split``; the raster is that of sample ``sample`` (which must be among them).

    Raises:
        ValueError: an empty split, or ``sample`` outside the samples run.
    """
    n = min(n_samples, len(split))
    if n <= 0:
        raise ValueError(f"{split.name}: no samples to record activity on")
    if not 0 <= sample < n:
        raise ValueError(f"sample {sample} is not among the {n} samples run")
    x, y = split.batch(torch.arange(n))
    x = x.to(net.readout_layer.w.device)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = net(x)
    finally:
        net.train(was_training)
    classes = y.dim() == 1
    label = int(y[sample]) if classes else None
    prediction = None
    if classes:
        pred = predict(net.readout, out.readout.detach(), out.fired)
        prediction = int(pred[sample])
    duration = net.spec.duration_s
    steps, neurons, rates = [], [], []
    for rec in out.spikes:
        mine = rec.batch == sample
        steps.append(rec.step[mine].cpu().numpy().astype(np.int64))
        neurons.append(rec.neuron[mine].cpu().numpy().astype(np.int64))
        per_neuron = torch.bincount(rec.neuron.cpu(), minlength=rec.n_neurons).to(torch.float64)
        rates.append((per_neuron / (n * duration)).numpy())
    return HiddenActivity(
        split=split.name,
        dt_s=float(net.spec.dt_s),
        n_steps=int(net.spec.n_steps),
        sample=sample,
        label=label,
        prediction=prediction,
        steps=tuple(steps),
        neurons=tuple(neurons),
        sizes=tuple(h.size for h in net.spec.hidden),
        rates_hz=tuple(rates),
        n_samples=n,
    )


def save_activity(activity: HiddenActivity, path: str | os.PathLike[str]) -> Path:
    """Write ``activity`` as an ``.npz`` file (arrays per layer plus a JSON header)."""
    p = Path(path)
    meta = {
        "split": activity.split, "dt_s": activity.dt_s, "n_steps": activity.n_steps,
        "sample": activity.sample, "label": activity.label, "prediction": activity.prediction,
        "sizes": list(activity.sizes), "n_samples": activity.n_samples,
    }
    arrays: dict[str, Any] = {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    for i in range(len(activity.sizes)):
        arrays[f"steps_{i}"] = activity.steps[i]
        arrays[f"neurons_{i}"] = activity.neurons[i]
        arrays[f"rates_hz_{i}"] = activity.rates_hz[i]
    with p.open("wb") as f:
        np.savez_compressed(f, **arrays)
    return p


def load_activity(path: str | os.PathLike[str]) -> HiddenActivity:
    """Inverse of :func:`save_activity`."""
    with np.load(Path(path), allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        layers = range(len(meta["sizes"]))
        return HiddenActivity(
            split=str(meta["split"]),
            dt_s=float(meta["dt_s"]),
            n_steps=int(meta["n_steps"]),
            sample=int(meta["sample"]),
            label=meta["label"],
            prediction=meta["prediction"],
            steps=tuple(z[f"steps_{i}"] for i in layers),
            neurons=tuple(z[f"neurons_{i}"] for i in layers),
            sizes=tuple(int(v) for v in meta["sizes"]),
            rates_hz=tuple(z[f"rates_hz_{i}"] for i in layers),
            n_samples=int(meta["n_samples"]),
        )
