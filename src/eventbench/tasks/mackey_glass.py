r"""NeuroBench Mackey-Glass chaotic-function prediction (regression, ``tau = 17`` by default).

The series is your canonical ``mg_<tau>.npy`` or, when absent, regenerated (origin
``regenerated``; results then are not comparable with published ones). NeuroBench's split of the
slice ``s_0 .. s_1500`` (:func:`eventbench.data.mackey_glass`): values up to ``s_750`` train, the
750 values ``s_751 .. s_1500`` are forecast. Series point ``n`` is held for ``data.hold``
simulation steps, which receive ``s_n`` (with ``data.window > 1`` the ``window`` values
``s_{n-window+1} .. s_n``, zeros before the start), encoded on ``levels`` input channels per value
(``data.encoding``):

* ``interp`` (default): linear interpolation between the two nearest of ``levels`` equally spaced
  levels over the training range, :math:`c_k = 1 - |u - k|` for the two ``k`` next to
  :math:`u = (v - lo) / (hi - lo) \cdot (levels - 1)` (two graded, non-negative input currents
  that sum to 1; the value is recovered exactly);
* ``level``: one spike on the channel of the value's level (a one-hot code, 1/``levels`` of the
  range resolution).

The prediction of ``s_n`` is made from ``s_{<n}``: the spiking network's readout voltage in the
first step of point ``n`` (its spikes reach the readout one step after the input), the GRU's
per-step output after the last step of ``s_{n-1}``; see :mod:`eventbench.train.closed_loop`.
What the output stands for is ``data.target``:

* ``value``: the output ``o_n`` is the prediction, :math:`\hat s_n = o_n`;
* ``increment`` (default): the output is the normalised change from the last value fed,
  :math:`\hat s_n = s_{n-1} + \sigma\, o_n`, with :math:`\sigma` the standard deviation of
  the increments :math:`s_{i+1} - s_i` of the training half (standard differencing: the network
  represents the derivative, which spike counts resolve far better than the value). This costs
  one multiply and one add per forecast value outside the network, not counted by the
  harness' complexity metrics. Persistence (:math:`\hat s_n = s_{n-1}`) is the model that
  outputs 0, so report it next to any result.

Per-step MSE trains every step towards the target of the value that the step's readout is next
to predict: step ``j`` (hold ``k``, lag 1 for the spiking network, 0 for the GRU) predicts
``s_i``, ``i = floor((j - lag) / k) + 1`` (``k = 1``: ``s_j`` and ``s_{j+1}``), with target
``s_i`` or :math:`(s_i - s_{i-1}) / \sigma`. Training uses windows of ``duration_ms / dt_ms``
steps of the training half (every ``stride`` steps).

Protocols (``data.protocol`` / ``--protocol``):

* ``autoregressive`` (default, NeuroBench 2.3.0): the model runs through the training half on the
  true values, then forecasts ``s_751 .. s_1500`` from its own predictions, each fed back as the
  next input (the first forecast step gets the true ``s_750``);
* ``one-step``: the same run, but every input is the true value (teacher forcing).

The per-window metrics of the harness (``smape_test_windows``) compare the raw outputs with
the targets, i.e. normalised increments under ``target = increment``; only the forecast's
metrics below are comparable with NeuroBench.

Correctness is the forecast's sMAPE (NeuroBench's: :math:`200 \cdot \mathrm{mean}\,|\hat y -
y| / (|\hat y| + |y|)`, a non-finite prediction counts 200) and MSE over the 750 forecast values;
the harness' complexity metrics are measured on windows of the test half.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from eventbench.data import mackey_glass
from eventbench.data.dataset import DenseDataset
from eventbench.tasks.base import (
    Availability,
    Protocol,
    TaskData,
    TaskSpec,
    find_first,
    window_split,
)
from eventbench.tasks.config import BaselineConfig, DataConfig, NetworkConfig, Recipe, TrainSettings
from eventbench.train.closed_loop import Forecaster, forecaster_for, output_lag, single_thread

__all__ = [
    "PROTOCOLS",
    "TARGETS",
    "TASK",
    "MackeyGlassData",
    "decode_output",
    "encode_values",
    "forecast",
    "forecast_smape",
    "increment_scale",
    "input_encoder",
    "series_of",
    "target_scale",
    "target_values",
    "windows_of",
]

log = logging.getLogger(__name__)

#: first forecast value ``s_751`` of the slice ``s_0 .. s_1500``
FIRST_FORECAST = 751

PROTOCOLS = (
    Protocol(
        "autoregressive",
        "NeuroBench 2.3.0 Mackey-Glass, autoregressive",
        "forecast of the second half from the model's own predictions, fed back as inputs",
    ),
    Protocol(
        "one-step",
        "NeuroBench 2.3.0 Mackey-Glass split, one step ahead (variant)",
        "every value of the second half predicted from the true past values",
    ),
)


@dataclass(frozen=True)
class MackeyGlassData(DataConfig):
    """Mackey-Glass settings.

    Attributes:
        tau: delay of the series (17..30).
        repeat: NeuroBench repeat (start offset ``int(37.5 k)``).
        stride: steps between training window starts.
        source: ``auto`` (file, else regenerate), ``file`` or ``generate``.
        levels: input channels per value.
        encoding: ``interp`` (two graded channels) or ``level`` (one-hot spike).
        window: past values per step (NeuroBench's ``bin_window``).
        hold: simulation steps each series value is held for (the prediction of the next
            value is read at the end of the last one).
        target: what the model's output is trained on: ``value`` (the next value ``s_{n+1}``)
            or ``increment`` (the normalised change ``(s_{n+1} - s_n) / sigma``, the prediction
            being ``s_n + sigma * output``; see :func:`decode_output`).
    """

    tau: int = 17
    repeat: int = 0
    stride: int = 10
    source: str = "auto"
    levels: int = 16
    encoding: str = "interp"
    window: int = 1
    hold: int = 1
    target: str = "value"


TARGETS = ("value", "increment")


def _check_target(target: str) -> None:
    """Raises ValueError naming ``data.target`` unless ``target`` is one of :data:`TARGETS`."""
    if target not in TARGETS:
        raise ValueError(f"data.target must be 'value' or 'increment', got {target!r}")


def increment_scale(train_values: np.ndarray) -> float:
    r"""``sigma``: the standard deviation of the increments :math:`s_{i+1} - s_i` of the training
    values ``[n]`` (the unit of the ``increment`` target)."""
    sigma = float(np.std(np.diff(train_values)))
    if not np.isfinite(sigma) or sigma <= 0.0:
        raise ValueError("data.target='increment' needs a training half that is not constant")
    return sigma


def target_values(s: np.ndarray, idx: np.ndarray, target: str, sigma: float) -> np.ndarray:
    r"""Training targets for the series values ``s[idx]`` (``idx [J]`` -> ``[J]``): ``value``:
    :math:`s_i`; ``increment``: :math:`(s_i - s_{i-1}) / \sigma` (0 for ``i = 0``)."""
    _check_target(target)
    if target == "value":
        out: np.ndarray = s[idx]
        return out
    inc: np.ndarray = (s[idx] - s[np.maximum(idx - 1, 0)]) / sigma
    return inc


def decode_output(out: float, last: float, target: str, sigma: float) -> float:
    r"""The prediction of :math:`s_{n+1}` from the model's output after the input :math:`s_n =`
    ``last``: ``value``: ``out``; ``increment``: :math:`s_n + \sigma \cdot out` (one add and
    one multiply per forecast step, outside the network)."""
    _check_target(target)
    if target == "value":
        return out
    return last + sigma * out


def encode_values(v: Tensor, lo: float, hi: float, levels: int, encoding: str) -> Tensor:
    """Encode values ``[..., W]`` on ``levels`` channels each: ``[..., W * levels]`` (see the
    module docstring; values outside ``[lo, hi]`` are clipped to the end levels)."""
    u = ((v - lo) / max(hi - lo, 1e-12)).clamp(0.0, 1.0)
    if encoding == "level":
        idx = (u * levels).floor().clamp(0, levels - 1).long()
        code = torch.zeros(*v.shape, levels, dtype=v.dtype)
        code.scatter_(-1, idx.unsqueeze(-1), 1.0)
        return code.flatten(-2)
    if encoding != "interp":
        raise ValueError(f"data.encoding must be 'interp' or 'level', got {encoding!r}")
    pos = u * (levels - 1)
    centres = torch.arange(levels, dtype=v.dtype)
    code = (1.0 - (pos.unsqueeze(-1) - centres).abs()).clamp(min=0.0)
    return code.flatten(-2)


def input_encoder(series: np.ndarray, cfg: MackeyGlassData) -> Callable[[Tensor], Tensor]:
    """The task's input code: :func:`encode_values` with ``cfg.levels`` / ``cfg.encoding`` over
    the range ``[lo, hi]`` of the training values ``s_0 .. s_749`` of ``series`` (the slice
    ``s_0 .. s_1500``); values ``[..., W]`` -> ``[..., W * levels]``."""
    lo, hi = float(series[:750].min()), float(series[:750].max())

    def encode(v: Tensor) -> Tensor:
        return encode_values(v, lo, hi, cfg.levels, cfg.encoding)

    return encode


def target_scale(series: np.ndarray, target: str) -> float:
    """``sigma`` of :func:`decode_output`: :func:`increment_scale` of the training half
    ``s_0 .. s_750`` of ``series`` for ``target = "increment"``, 1 for ``"value"``."""
    return increment_scale(series[:FIRST_FORECAST]) if target == "increment" else 1.0


def series_of(train: DenseDataset, test: DenseDataset) -> np.ndarray:
    """The slice ``s_0 .. s_1500`` behind NeuroBench's split (``bin_window = 1``)."""
    return np.concatenate([train.inputs[:, -1], test.inputs[:, -1], test.targets[-1:, 0]])


def windows_of(h: np.ndarray, window: int) -> np.ndarray:
    """``[len(h), window]``: row ``n`` holds ``h_{n-window+1} .. h_n`` (zeros before the start)."""
    padded = np.concatenate([np.zeros(window - 1), h])
    idx = np.arange(len(h))[:, None] + np.arange(window)[None, :]
    out: np.ndarray = padded[idx]
    return out


def forecast(
    model: Forecaster,
    series: np.ndarray,
    encode: Callable[[Tensor], Tensor],
    window: int,
    feedback: bool,
    first: int = FIRST_FORECAST,
    hold: int = 1,
    target: str = "value",
    sigma: float = 1.0,
) -> np.ndarray:
    """Predictions of ``series[first:]`` by a model stepped through the whole series.

    Step ``n`` reads the prediction of ``s_n`` (``model.output()``) and then feeds the window of
    values ending at ``n`` (for ``hold`` simulation steps); with ``feedback`` every value from
    ``first`` on is the model's own prediction instead of the true one. The model's output is
    decoded by :func:`decode_output` (``target``, ``sigma``) against the last value fed. A
    non-finite prediction ends the forecast: it and all later values are NaN. Returns float64
    ``[len(series) - first]``.
    """
    if first < 1:
        raise ValueError(f"the forecast needs at least one value before it, got first = {first}")
    h = np.array(series, dtype=np.float64)
    preds = np.full(len(h) - first, np.nan)
    pad = np.zeros(window - 1)
    with single_thread(), torch.no_grad():
        for n in range(len(h)):
            if n >= first:
                p = decode_output(float(model.output()[0, 0]), float(h[n - 1]), target, sigma)
                if not np.isfinite(p):
                    log.warning("forecast diverged at step %d (prediction %r)", n, p)
                    break
                preds[n - first] = p
                if feedback:
                    h[n] = p
            if n == len(h) - 1:
                break
            vals = h[max(0, n - window + 1):n + 1]
            if len(vals) < window:
                vals = np.concatenate([pad[: window - len(vals)], vals])
            x = encode(torch.from_numpy(vals).float().unsqueeze(0))
            for _ in range(hold):
                model.advance(x)
    return preds


def forecast_smape(preds: np.ndarray, targets: np.ndarray) -> float:
    r"""NeuroBench's sMAPE of a forecast, :math:`\frac{200}{N}\sum_i |\hat y_i - y_i| / (|\hat
    y_i| + |y_i|)` in percent (0..200), with a non-finite prediction counted as 200 (its term
    is 1); computed by the harness' :class:`~eventbench.bench.metrics.workload.SMAPE`."""
    from eventbench.bench.collector import BatchCounts
    from eventbench.bench.metrics.workload import SMAPE

    y = torch.as_tensor(targets, dtype=torch.float64)
    p = torch.as_tensor(preds, dtype=torch.float64)
    if bool((y == 0).any()):
        raise ValueError("sMAPE forecast targets must be non-zero")
    # -y has the largest possible term, |-y - y| / (|y| + |y|) = 1
    p = torch.where(torch.isfinite(p), p, -y)
    metric = SMAPE()
    metric.reset()
    metric.update(p, y, BatchCounts(batch_size=1))
    value = metric.compute()
    assert isinstance(value, float)
    return value


def _protocol_metrics(
    series: np.ndarray, encode: Callable[[Tensor], Tensor], window: int, feedback: bool, hold: int,
    target: str, sigma: float,
) -> Callable[[nn.Module], dict[str, float]]:
    def metrics(module: nn.Module) -> dict[str, float]:
        preds = forecast(forecaster_for(module), series, encode, window, feedback, hold=hold,
                         target=target, sigma=sigma)
        y = series[FIRST_FORECAST:]
        ok = np.isfinite(preds)
        out = {"smape": forecast_smape(preds, y), "diverged_steps": float((~ok).sum())}
        if ok.all():
            out["mse"] = float(np.mean((preds - y) ** 2))
        return out

    return metrics


def _load(recipe: Recipe, data_dir: Path | None) -> TaskData:
    cfg = recipe.data
    assert isinstance(cfg, MackeyGlassData)
    protocol = TASK.protocol(cfg.protocol)
    assert protocol is not None
    if cfg.source not in ("auto", "file", "generate"):
        raise ValueError(f"data.source must be 'auto', 'file' or 'generate', got {cfg.source!r}")
    if cfg.levels < 2:
        raise ValueError(f"data.levels must be >= 2, got {cfg.levels}")
    if cfg.window < 1:
        raise ValueError(f"data.window must be >= 1, got {cfg.window}")
    if cfg.hold < 1:
        raise ValueError(f"data.hold must be >= 1, got {cfg.hold}")
    net = recipe.network
    if recipe.train.method != "ann" and (len(net.hidden) != 1 or net.delay_ff_max_ms is not None
                                         or net.delay_rec_max_ms is not None):
        # checked before training: the forecast steps the network one value at a time
        raise ValueError(
            f"network.hidden = {list(net.hidden)}: the Mackey-Glass forecast needs one hidden "
            "layer without delays (a prediction must be ready one step after its input)"
        )
    if cfg.encoding not in ("interp", "level"):
        raise ValueError(f"data.encoding must be 'interp' or 'level', got {cfg.encoding!r}")
    _check_target(cfg.target)
    splits = mackey_glass(cfg.tau, data_dir, source=cfg.source, repeat=cfg.repeat)  # type: ignore[arg-type]
    s = series_of(splits.train, splits.test)
    sigma = target_scale(s, cfg.target)
    encode = input_encoder(s, cfg)
    lag = output_lag(recipe.train.method != "ann")
    k = cfg.hold

    x = encode(torch.from_numpy(windows_of(s[:1500], cfg.window))).numpy()  # [1500, W * levels]
    x = np.repeat(x, k, axis=0)  # [1500 k, W * levels]: each value held for k steps
    j = np.arange(1500 * k)
    # step j: s_{floor((j - lag) / k) + 1} (k = 1: s_{j + 1 - lag}), or its increment
    y = target_values(s, (j - lag) // k + 1, cfg.target, sigma)[:, None]

    def part(ds: DenseDataset, sl: slice) -> DenseDataset:
        return dataclasses.replace(
            ds, inputs=x[sl], targets=y[sl], n_channels=x.shape[1],
            params={**ds.params, "encoding": cfg.encoding, "levels": cfg.levels,
                    "window": cfg.window, "hold": k, "target_lag": lag,
                    "target": cfg.target, "target_sigma": sigma,
                    "protocol": protocol.name},
        )

    n = cfg.n_steps
    train = window_split(part(splits.train, slice(0, 750 * k)), n, cfg.stride, cfg.max_train)
    test = window_split(part(splits.test, slice(750 * k, 1500 * k)), n, n, cfg.max_eval)
    return TaskData(
        train=train,
        val=None,
        test=test,
        n_inputs=x.shape[1],
        n_outputs=1,
        n_steps=n,
        dt_s=cfg.dt_ms * 1e-3,
        objective="regression",
        origin=splits.train.origin,
        source=splits.train.source or splits.train.name,
        protocol=protocol.version,
        protocol_metrics=_protocol_metrics(s, encode, cfg.window,
                                           protocol.name == "autoregressive", k,
                                           cfg.target, sigma),
    )


def _available(data_dir: Path | None) -> Availability:
    found = find_first(data_dir, ["mg_17.npy", "mackey_glass/mg_17.npy"])
    if found is None:
        return Availability(True, "regenerated here (canonical mg_17.npy not found)")
    return Availability(True, f"found {found}")


RECIPE = Recipe(
    # the increment target with a delay embedding of 8 values (tau = 17 is 6.5 sampling steps,
    # so the window holds s(t - tau), which the derivative of the series depends on)
    data=MackeyGlassData(dt_ms=1.0, duration_ms=50.0, target="increment", window=8),
    network=NetworkConfig(
        hidden=(100,),
        recurrent=True,
        # fast hidden neurons (one step per series value; 20 / 5 ms smear ~20 values)
        tau_mem_ms=5.0,
        tau_syn_ms=1.0,
        readout="trace",
        output_bias=True,
        # ~220 Hz: most neurons fire in some steps and not in others (N(1, 1) drives them to
        # fire in ~90 % of the 1 ms steps, which forecasts worse: 17.8 against 12.3 over 12 runs)
        init_ff_mean=0.25,
        init_ff_std=0.5,
        init_out_std=0.1,
        # the input code also drives the readout (the increment is nearly additive in the
        # window's values, which a linear map of the interp code represents), beside the hidden
        # layer's spikes
        skip=True,
        # a readout that forgets within ~2 values: its response to the code is nearly the
        # code itself (a slow one smears the values and lags the series)
        out_tau_mem_ms=1.0,
        out_tau_syn_ms=0.5,
    ),
    train=TrainSettings(
        loss="mse", epochs=300, batch_size=16, lr=1e-3, lr_decay=0.99,
        # windows start from rest: the first 10 steps (values) are not scored
        washout_ms=10.0,
        # start at the least-squares readout of the initial hidden layer and the input code
        readout_init="least-squares",
    ),
    baseline=BaselineConfig(kind="gru", hidden=(32,), epochs=300, lr=5e-3, batch_size=16),
)

TASK = TaskSpec(
    name="mackey-glass",
    summary="NeuroBench Mackey-Glass (tau 17) forecast, autoregressive (or one-step), regression",
    objective="regression",
    metrics=("smape", "mse"),
    recipe=RECIPE,
    recipe_source="no published EventProp recipe; NeuroBench split and protocols",
    load=_load,
    availability=_available,
    protocols=PROTOCOLS,
)
