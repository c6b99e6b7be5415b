"""Figures of a training run: curves, per-epoch diagnostics, a hidden spike raster and a rate
histogram (matplotlib, the ``plot`` extra; imported only when a figure is drawn).

Every figure has labelled axes with units, its legends outside the data area, and is saved with
a tight bounding box so that nothing is cut off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventbench.train.activity import HiddenActivity
from eventbench.train.diagnostics import LOW_RATE_HZ, SILENT_FRACTION
from eventbench.train.loop import History

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_curves", "plot_diagnostics", "plot_raster", "plot_rate_histogram"]

_DPI = 150


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=_DPI, bbox_inches="tight", pad_inches=0.08)
    _pyplot().close(fig)
    return path


def _legend_right(ax: Axes, title: str | None = None) -> None:
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                  frameon=False, fontsize=8, title=title, title_fontsize=8)


def _style(ax: Axes) -> None:
    ax.grid(alpha=0.3, linewidth=0.6)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


def _epoch_axis(ax: Axes, epochs: Sequence[int]) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(epochs) == 1:
        ax.set_xlim(epochs[0] - 0.5, epochs[0] + 0.5)
        ax.set_xticks([epochs[0]])


def plot_curves(history: History, path: str | Path, score_name: str) -> Path:
    """Training and validation loss and score per epoch (``curves.png``)."""
    plt = _pyplot()
    ep = [e.epoch + 1 for e in history.epochs]
    mark = "o" if len(ep) < 30 else None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.0, 3.4))
    a1.plot(ep, [e.train_loss for e in history.epochs], marker=mark, ms=3, label="train")
    a2.plot(ep, [e.train_score for e in history.epochs], marker=mark, ms=3, label="train")
    if any(e.val_loss is not None for e in history.epochs):
        a1.plot(ep, [_nan(e.val_loss) for e in history.epochs], marker=mark, ms=3,
                label="validation")
        a2.plot(ep, [_nan(e.val_score) for e in history.epochs], marker=mark, ms=3,
                label="validation")
    if history.best_epoch is not None:
        a2.axvline(history.best_epoch + 1, color="0.5", ls=":", lw=1, label="best epoch")
    a1.set_ylabel("loss (dimensionless)")
    a2.set_ylabel(score_name)
    if score_name == "accuracy" and a2.get_ylim()[1] > 1.0:
        a2.set_ylim(top=1.0)  # no axis beyond the possible
    for ax in (a1, a2):
        ax.set_xlabel("epoch")
        _epoch_axis(ax, ep)
        _style(ax)
    _legend_right(a2)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_diagnostics(history: History, path: str | Path) -> Path:
    """Per-epoch diagnostics of the hidden layers (``diagnostics.png``): mean rate (Hz),
    silent neurons (% of the layer), spikes created and deleted against the previous epoch,
    guard-hit fraction (% of threshold crossings) and mean gradient norm per parameter; dotted
    lines mark the levels of the silent-layer warning.

    Raises:
        ValueError: the history has no hidden-layer diagnostics (a conventional network, or a
            history written before they existed).
    """
    recs = [e for e in history.epochs if e.hidden]
    if not recs:
        raise ValueError("the history has no hidden-layer diagnostics")
    plt = _pyplot()
    from matplotlib.ticker import EngFormatter

    ep = [e.epoch + 1 for e in recs]
    mark = "o" if len(ep) < 30 else None
    n_layers = max(len(e.hidden) for e in recs)
    fig, axes = plt.subplots(5, 1, figsize=(7.5, 10.5), sharex=True)
    a_rate, a_silent, a_change, a_guard, a_grad = axes
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for li in range(n_layers):
        c = colours[li % len(colours)]
        layer = [e.hidden[li] if li < len(e.hidden) else None for e in recs]
        name = f"layer {li}"
        a_rate.plot(ep, [_nan(d.rate_hz) if d else math.nan for d in layer], marker=mark, ms=3,
                    color=c, label=name)
        a_silent.plot(ep, [100.0 * d.silent_fraction if d else math.nan for d in layer],
                      marker=mark, ms=3, color=c, label=name)
        a_change.plot(ep, [_nan(d.spikes_created) if d else math.nan for d in layer],
                      marker=mark, ms=3, color=c, label=f"{name} created")
        a_change.plot(ep, [_nan(d.spikes_deleted) if d else math.nan for d in layer],
                      marker=mark, ms=3, color=c, ls="--", mfc="none", label=f"{name} deleted")
    warn = {"color": "0.45", "ls": ":", "lw": 1.0, "label": "warning level"}
    a_rate.axhline(LOW_RATE_HZ, **warn)
    a_silent.axhline(100.0 * SILENT_FRACTION, **warn)
    a_rate.set_ylabel("mean hidden\nrate (Hz)")
    a_rate.set_ylim(bottom=0)
    a_silent.set_ylabel("silent neurons\n(% of layer)")
    a_silent.set_ylim(-3, 103)
    a_change.set_ylabel("spikes changed vs.\nprevious epoch")
    a_change.set_ylim(bottom=0)
    a_change.yaxis.set_major_formatter(EngFormatter(sep=""))
    if all(d.spikes_created is None for e in recs for d in e.hidden):
        a_change.set_yticks([])
        a_change.text(0.5, 0.5, "compared with the previous epoch: from epoch 2 on",
                      transform=a_change.transAxes, ha="center", va="center", color="0.4",
                      fontsize=9)
    guard = [100.0 * _nan(e.guard_fraction) for e in recs]
    a_guard.plot(ep, guard, marker=mark, ms=3, color="k", label="all layers")
    a_guard.set_ylabel("guard hits\n(% of crossings)")
    a_guard.set_ylim(bottom=0)
    names = sorted({k for e in recs for k in e.grad_norm})
    for k in names:
        a_grad.plot(ep, [e.grad_norm.get(k, math.nan) for e in recs], marker=mark, ms=3, label=k)
    finite = [v for e in recs for v in e.grad_norm.values() if math.isfinite(v)]
    if finite and min(finite) > 0:
        a_grad.set_yscale("log")
    a_grad.set_ylabel("gradient norm\n(mean over steps)")
    a_grad.set_xlabel("epoch")
    _epoch_axis(a_grad, ep)
    for ax, title in zip(axes, (None, None, None, None, "parameter"), strict=True):
        _style(ax)
        _legend_right(ax, title)
    fig.align_ylabels(axes)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_raster(activity: HiddenActivity, path: str | Path) -> Path:
    """Hidden spikes of one sample, time (ms) against neuron, one panel per layer
    (``raster.png``)."""
    plt = _pyplot()
    n = len(activity.sizes)
    panel_in = 2.6
    fig, axes = plt.subplots(n, 1, figsize=(7.5, 1.0 + panel_in * n), sharex=True, squeeze=False)
    dt_ms = activity.dt_s * 1e3
    for i, ax in enumerate(axes[:, 0]):
        t_ms = activity.steps[i].astype(float) * dt_ms
        # tick height: about 80 % of one neuron's row (72 pt per inch), within 1.5 ... 6 pt
        tick_pt = min(6.0, max(1.5, 0.8 * 72.0 * (panel_in - 0.6) / max(1, activity.sizes[i])))
        ax.scatter(t_ms, activity.neurons[i], s=tick_pt**2, marker="|", linewidths=0.7,
                   color="k", rasterized=True)
        ax.set_ylim(-0.5, activity.sizes[i] - 0.5)
        ax.set_xlim(0, activity.duration_s * 1e3)
        ax.set_ylabel(f"layer {i}\nneuron index")
        rate = len(t_ms) / (activity.sizes[i] * activity.duration_s)
        ax.set_title(f"{len(t_ms)} spikes, {rate:.1f} Hz mean", fontsize=9, loc="right")
        _style(ax)
    axes[-1, 0].set_xlabel("time (ms)")
    head = f"{activity.split}, sample {activity.sample}"
    if activity.label is not None:
        head += f": label {activity.label}, predicted {activity.prediction}"
    axes[0, 0].set_title(head, fontsize=9, loc="left")
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_rate_histogram(activity: HiddenActivity, path: str | Path) -> Path:
    """Histogram of the hidden neurons' mean rates (Hz) over ``activity.n_samples`` samples,
    one outline per layer (``rates.png``); silent neurons are counted in the legend."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    top = max((float(r.max()) for r in activity.rates_hz if r.size), default=0.0)
    edges = np.linspace(0.0, max(top, 1.0) * 1.0001, 41)
    for i, r in enumerate(activity.rates_hz):
        silent = int((r == 0).sum())
        ax.hist(r, bins=edges, histtype="step", linewidth=1.4,
                label=f"layer {i}: {r.size} neurons,\n{silent} silent, mean {r.mean():.1f} Hz")
    ax.set_xlabel("mean rate per neuron (Hz)")
    ax.set_ylabel("neurons")
    ax.set_xlim(left=0)
    ax.set_title(f"{activity.split}: first {activity.n_samples} samples", fontsize=9, loc="left")
    _style(ax)
    _legend_right(ax)
    fig.tight_layout()
    return _save(fig, Path(path))
