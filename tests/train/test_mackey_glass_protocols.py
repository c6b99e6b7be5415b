"""Mackey-Glass protocols: closed-loop stepping equals the trained forward pass, the forecast's
feedback and sMAPE, the encodings and NeuroBench's ESN / LSTM baselines."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from eventbench.core import SNN, LayerSpec, NetworkSpec, Normal, SurrogateBPTT
from eventbench.eventprop import EventProp
from eventbench.readout import VoltageTrace
from eventbench.tasks import get_task
from eventbench.tasks.mackey_glass import (
    decode_output,
    encode_values,
    forecast,
    forecast_smape,
    increment_scale,
    target_values,
    windows_of,
)
from eventbench.tasks.mackey_glass_reference import (
    ESN_HYPERPARAMETERS,
    ESN_WARMUP,
    LinearCodeForecaster,
    LSTMForecaster,
    fit_esn,
    fit_linear_code,
    linear_code_smape,
)
from eventbench.tasks.pipeline import resolve_recipe
from eventbench.train.baselines import BaselineSpec, build_baseline
from eventbench.train.closed_loop import GRUForecaster, SNNForecaster


def _snn(method: object, hidden: tuple[LayerSpec, ...] = (LayerSpec(12, recurrent=True,
         init_ff=Normal(0.8, 0.8), init_rec=Normal(0.0, 0.3)),)) -> SNN:
    spec = NetworkSpec(n_inputs=5, hidden=hidden, n_outputs=2, dt_s=1e-3, n_steps=40,
                       output_bias=True, init_out=Normal(0.0, 0.5))
    return SNN(spec, VoltageTrace(), method, seed=3)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", [EventProp(), SurrogateBPTT()], ids=["eventprop", "bptt"])
def test_snn_stepped_one_step_at_a_time_equals_its_forward_pass(method: object) -> None:
    net = _snn(method)
    x = torch.rand(40, 1, 5, generator=torch.Generator().manual_seed(0)) * 2.0
    with torch.no_grad():
        full = net(x).readout[:, 0]  # [T, n_out]
        f = SNNForecaster(net)
        stepped = []
        for n in range(40):
            stepped.append(f.output()[0])  # read before the step's input is consumed
            f.advance(x[n])
    assert full.abs().max() > 0.05  # the network is not silent
    torch.testing.assert_close(torch.stack(stepped), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", [EventProp(), SurrogateBPTT()], ids=["eventprop", "bptt"])
def test_snn_with_skip_stepped_equals_its_forward_pass(method: object) -> None:
    """The closed loop reads the skip's share before the step's input is consumed: the input
    of step n reaches the readout at step n + 1, as in the trained forward pass."""
    spec = NetworkSpec(n_inputs=5, hidden=(LayerSpec(12, recurrent=True, init_ff=Normal(0.8, 0.8)),),
                       n_outputs=2, dt_s=1e-3, n_steps=40, output_bias=True,
                       init_out=Normal(0.0, 0.5), skip=True, init_skip=Normal(0.0, 1.0))
    net = SNN(spec, VoltageTrace(), method, seed=3)  # type: ignore[arg-type]
    x = torch.rand(40, 1, 5, generator=torch.Generator().manual_seed(0)) * 2.0
    with torch.no_grad():
        full = net(x).readout[:, 0]
        f = SNNForecaster(net)
        stepped = []
        for n in range(40):
            stepped.append(f.output()[0])
            f.advance(x[n])
        net.readout_layer.w_skip.zero_()  # type: ignore[union-attr]
        without = net(x).readout[:, 0]
    assert (full - without).abs().max() > 0.1  # the skip contributes
    torch.testing.assert_close(torch.stack(stepped), full, atol=1e-5, rtol=1e-5)


def test_recipe_starts_from_the_least_squares_readout(tmp_path: Path) -> None:
    """The recipe's readout_init fits the readout before the first epoch: after one epoch at a
    tiny learning rate the one-step forecast is already far better than persistence, which
    the random readout is still at."""
    from eventbench.tasks.pipeline import train

    task = get_task("mackey-glass")
    sets = ["data.source=generate", "train.threads=1", "train.lr=1e-9", "data.protocol=one-step"]
    recipe = resolve_recipe(task, None, sets, epochs=1)
    data = task.load(recipe, tmp_path)
    built, _ = train(task, recipe, data, tmp_path / "run")
    assert data.protocol_metrics is not None
    fitted = data.protocol_metrics(built.module)["smape"]
    random = resolve_recipe(task, None, [*sets, "train.readout_init=random"], epochs=1)
    built_r, _ = train(task, random, task.load(random, tmp_path), tmp_path / "run-r")
    unfitted = data.protocol_metrics(built_r.module)["smape"]
    # measured 0.08 and 8.46 (an untrained increment model is about persistence, 8.59)
    assert fitted < 0.5 and unfitted > 5.0


def test_snn_forecaster_needs_one_hidden_layer() -> None:
    net = _snn(SurrogateBPTT(), hidden=(LayerSpec(4), LayerSpec(4)))
    with pytest.raises(ValueError, match=r"network\.hidden has 2 layers"):
        SNNForecaster(net)


def test_gru_stepped_equals_its_forward_pass() -> None:
    net = build_baseline(BaselineSpec("gru", 3, 30, (6,), 1, per_step=True), seed=1)
    x = torch.randn(30, 1, 3)
    with torch.no_grad():
        full = net(x)[:, 0]
        f = GRUForecaster(net)  # type: ignore[arg-type]
        outs = []
        for n in range(30):
            f.advance(x[n])
            outs.append(f.output()[0])
    torch.testing.assert_close(torch.stack(outs), full, atol=1e-6, rtol=1e-6)


def test_encodings_recover_the_value() -> None:
    v = torch.tensor([[0.5], [0.73], [1.2], [2.0]], dtype=torch.float64)
    code = encode_values(v, 0.5, 1.2, 8, "interp")  # [4, 8]
    assert torch.allclose(code.sum(dim=1), torch.ones(4, dtype=torch.float64))
    assert int((code > 0).sum(dim=1).max()) <= 2
    back = 0.5 + (code * torch.arange(8.0, dtype=torch.float64)).sum(dim=1) / 7 * 0.7
    torch.testing.assert_close(back, torch.tensor([0.5, 0.73, 1.2, 1.2], dtype=torch.float64))
    one_hot = encode_values(v, 0.5, 1.2, 8, "level")
    assert one_hot.sum(dim=1).tolist() == [1.0] * 4
    assert one_hot.argmax(dim=1).tolist() == [0, 2, 7, 7]  # floor(0.23 / 0.7 * 8) = 2
    with pytest.raises(ValueError, match=r"data\.encoding"):
        encode_values(v, 0.5, 1.2, 8, "rate")


class _Persistence:
    """Predicts the last value it was given (or ``nan_after`` turns it into NaN)."""

    def __init__(self, nan_after: int | None = None) -> None:
        self.last = torch.zeros(1, 1)
        self.seen = 0
        self.nan_after = nan_after

    def output(self) -> torch.Tensor:
        if self.nan_after is not None and self.seen > self.nan_after:
            return torch.full((1, 1), float("nan"))
        return self.last

    def advance(self, x: torch.Tensor) -> None:
        self.last = x[:, -1:].clone()
        self.seen += 1


def test_forecast_feeds_back_its_predictions_only_when_autoregressive() -> None:
    s = np.linspace(1.0, 2.0, 11)
    ident = lambda v: v  # noqa: E731
    one = forecast(_Persistence(), s, ident, 1, feedback=False, first=6)
    np.testing.assert_allclose(one, s[5:10], rtol=1e-6)  # s_n predicted as s_{n-1}
    auto = forecast(_Persistence(), s, ident, 1, feedback=True, first=6)
    np.testing.assert_allclose(auto, np.full(5, s[5]), rtol=1e-6)  # its own output, forever
    # a window of 3 past values reaches the model (zeros before the start)
    np.testing.assert_allclose(windows_of(s[:3], 3), [[0, 0, 1.0], [0, 1.0, 1.1], [1.0, 1.1, 1.2]])


def test_forecast_smape_by_hand_and_nan_counts_200() -> None:
    y = np.array([1.0, 2.0, 4.0, 1.0])
    p = np.array([1.0, 1.0, 5.0, np.nan])
    expected = 200.0 / 4 * (0.0 + 1.0 / 3.0 + 1.0 / 9.0 + 1.0)
    assert forecast_smape(p, y) == pytest.approx(expected, rel=1e-12)
    s = np.linspace(1.0, 2.0, 11)
    preds = forecast(_Persistence(nan_after=7), s, lambda v: v, 1, feedback=True, first=6)
    assert np.isfinite(preds[:2]).all() and np.isnan(preds[2:]).all()
    assert forecast_smape(preds, s[6:]) > 200.0 * 3 / 5


def test_protocol_setting_selects_the_forecast(tmp_path: object) -> None:
    task = get_task("mackey-glass")
    assert [p.name for p in task.protocols] == ["autoregressive", "one-step"]
    base = ["data.source=generate", "data.duration_ms=20", "data.stride=100", "network.hidden=8"]
    one = task.load(resolve_recipe(task, None, [*base, "data.protocol=one-step"]), tmp_path)  # type: ignore[arg-type]
    assert one.protocol == "NeuroBench 2.3.0 Mackey-Glass split, one step ahead (variant)"
    with pytest.raises(ValueError, match=r"--protocol.*'closed'.*autoregressive, one-step"):
        task.load(resolve_recipe(task, None, [*base, "data.protocol=closed"]), tmp_path)  # type: ignore[arg-type]
    ann = task.load(resolve_recipe(task, None, [*base, "train.method=ann"]), tmp_path)  # type: ignore[arg-type]
    snn = task.load(resolve_recipe(task, None, base), tmp_path)  # type: ignore[arg-type]
    # same inputs; the GRU is trained on the next value, the spiking readout on the current one
    torch.testing.assert_close(ann.train.batch(torch.arange(2))[0], snn.train.batch(torch.arange(2))[0])
    y_ann, y_snn = ann.train.batch(torch.arange(1))[1], snn.train.batch(torch.arange(1))[1]
    torch.testing.assert_close(y_ann[:-1], y_snn[1:])
    assert one.protocol_metrics is not None
    with pytest.raises(ValueError, match=r"network\.hidden = \[8, 8\]: the Mackey-Glass forecast"):
        task.load(resolve_recipe(task, None, [*base, "network.hidden=8,8"]), tmp_path)  # type: ignore[arg-type]


def _series() -> np.ndarray:
    from eventbench.data import mackey_glass
    from eventbench.tasks.mackey_glass import series_of

    sp = mackey_glass(17, None, source="generate")
    return series_of(sp.train, sp.test)


def test_esn_reservoir_draws_and_one_step_fit() -> None:
    s = _series()
    p = dataclasses.replace(ESN_HYPERPARAMETERS[17], reservoir_size=150)
    esn = fit_esn(s, 17, seed=0, params=p)
    # the published draw order: W_in from the first 300 uniforms, scaled by the bias/input scales
    gen = torch.Generator().manual_seed(0)
    u = torch.rand((150, 2), generator=gen, dtype=torch.float64)
    torch.testing.assert_close(esn.w_in, (u - 0.5) * torch.tensor([0.9, 0.78], dtype=torch.float64))
    assert abs(torch.linalg.eigvals(esn.w)[0].abs().item() - 1.19) < 1e-9
    assert ESN_WARMUP == 45
    with torch.no_grad():
        one = forecast(esn, s, lambda v: v.double(), 1, feedback=False)
        auto = forecast(esn, s, lambda v: v.double(), 1, feedback=True)
    # one step ahead a fitted reservoir is almost exact; its own feedback makes errors grow
    assert forecast_smape(one, s[751:]) < 1.0
    assert forecast_smape(auto, s[751:]) > 2.0 * forecast_smape(one, s[751:])


def test_lstm_stepped_equals_its_sequence_forward() -> None:
    torch.manual_seed(0)
    model = LSTMForecaster()
    s = np.sin(np.linspace(0, 6, 80)) + 1.5
    w = torch.as_tensor(windows_of(s, 50), dtype=torch.float64)
    with torch.no_grad():
        full = model(w)[:, 0]
        outs = []
        for n in range(80):
            model.advance(w[n:n + 1])
            outs.append(model.output()[0, 0])
    torch.testing.assert_close(torch.stack(outs), full)


def test_linear_code_fit_recovers_a_linear_map_and_steps_it() -> None:
    gen = np.random.default_rng(0)
    codes = gen.random((60, 5))
    w_true, b_true = np.array([0.5, -1.0, 2.0, 0.0, 0.25]), 0.3
    model = fit_linear_code(codes, codes @ w_true + b_true, ridge=0.0)
    np.testing.assert_allclose(model.weights.numpy(), w_true, atol=1e-10)
    assert model.bias == pytest.approx(b_true, abs=1e-10)
    # a ridge penalty shrinks the weights: (A^T A + lambda I) x = A^T y by hand
    a = np.concatenate([codes, np.ones((60, 1))], axis=1)
    y = codes @ w_true + b_true
    ridged = fit_linear_code(codes, y, ridge=5.0)
    by_hand = np.linalg.solve(a.T @ a + 5.0 * np.eye(6), a.T @ y)
    np.testing.assert_allclose(ridged.weights.numpy(), by_hand[:-1], atol=1e-10)
    assert np.linalg.norm(by_hand[:-1]) < np.linalg.norm(w_true)
    f = LinearCodeForecaster(torch.tensor(w_true), b_true)
    assert float(f.output()) == pytest.approx(b_true)  # nothing consumed yet: the bias
    f.advance(torch.from_numpy(codes[3:4]).float())
    assert float(f.output()) == pytest.approx(float(codes[3] @ w_true + b_true), abs=1e-6)
    with pytest.raises(ValueError, match="4 channels, the readout 5"):
        f.advance(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="ridge must be >= 0"):
        fit_linear_code(codes, y, ridge=-1.0)


def test_linear_readout_of_the_recipe_code_forecasts_mackey_glass() -> None:
    """The default recipe's input code (8 values x 16 interp levels, increment target) read by
    one ridge-regressed linear map: one step ahead almost exact (measured 0.040 on repeat 0),
    autoregressively 11.4 (persistence: 41.9)."""
    s = _series()
    cfg = resolve_recipe(get_task("mackey-glass"), None, []).data
    assert linear_code_smape(s, cfg, feedback=False) < 0.1
    assert linear_code_smape(s, cfg, feedback=True) < 20.0


def test_increment_target_round_trip_and_errors() -> None:
    s = np.array([1.0, 1.3, 0.9, 1.1, 1.25])
    sigma = increment_scale(s)
    assert sigma == pytest.approx(float(np.std(np.diff(s))))
    idx = np.array([0, 1, 2, 3, 4])
    inc = target_values(s, idx, "increment", sigma)
    np.testing.assert_allclose(inc * sigma, [0.0, 0.3, -0.4, 0.2, 0.15], atol=1e-12)
    np.testing.assert_allclose(target_values(s, idx, "value", sigma), s)
    # decoding the target against the previous value gives the value back
    back = [decode_output(float(inc[i]), float(s[i - 1]), "increment", sigma) for i in range(1, 5)]
    np.testing.assert_allclose(back, s[1:], rtol=1e-12)
    assert decode_output(0.7, 5.0, "value", sigma) == 0.7
    with pytest.raises(ValueError, match=r"data\.target must be 'value' or 'increment', got 'delta'"):
        target_values(s, idx, "delta", sigma)
    with pytest.raises(ValueError, match=r"data\.target"):
        decode_output(0.0, 1.0, "delta", sigma)
    with pytest.raises(ValueError, match=r"data\.target='increment' needs"):
        increment_scale(np.ones(5))


class _Oracle:
    """Outputs the exact normalised increment ``(s_n - s_{n-1}) / sigma`` of the true series
    after ``n`` inputs (or 0 for ever when ``zero``)."""

    def __init__(self, s: np.ndarray, sigma: float, zero: bool = False) -> None:
        self.s, self.sigma, self.zero, self.seen = s, sigma, zero, 0

    def output(self) -> torch.Tensor:
        n = self.seen
        v = 0.0 if self.zero else (self.s[n] - self.s[n - 1]) / self.sigma
        return torch.full((1, 1), v)

    def advance(self, x: torch.Tensor) -> None:
        self.seen += 1


def test_forecast_decodes_increments_on_both_protocols() -> None:
    s = 1.0 + 0.3 * np.sin(np.arange(40) / 3.0)
    sigma = increment_scale(s[:21])
    ident = lambda v: v  # noqa: E731
    kw = {"first": 21, "target": "increment", "sigma": sigma}
    exact = forecast(_Oracle(s, sigma), s, ident, 1, feedback=False, **kw)  # type: ignore[arg-type]
    assert forecast_smape(exact, s[21:]) == pytest.approx(0.0, abs=1e-4)
    # the model that outputs 0 is persistence: the last true value, or s_20 for ever
    zero_one = forecast(_Oracle(s, sigma, zero=True), s, ident, 1, feedback=False, **kw)  # type: ignore[arg-type]
    np.testing.assert_allclose(zero_one, s[20:-1], rtol=1e-12)
    zero_auto = forecast(_Oracle(s, sigma, zero=True), s, ident, 1, feedback=True, **kw)  # type: ignore[arg-type]
    np.testing.assert_allclose(zero_auto, np.full(19, s[20]), rtol=1e-12)
    # autoregressively, the exact true increments decoded against its own (exact) values
    auto = forecast(_Oracle(s, sigma), s, ident, 1, feedback=True, **kw)  # type: ignore[arg-type]
    np.testing.assert_allclose(auto, s[21:], rtol=1e-5)
    with pytest.raises(ValueError, match="at least one value before"):
        forecast(_Oracle(s, sigma), s, ident, 1, feedback=False, first=0)  # type: ignore[arg-type]


def test_target_setting_reaches_the_training_targets(tmp_path: object) -> None:
    task = get_task("mackey-glass")
    base = ["data.source=generate", "data.duration_ms=20", "data.stride=100", "network.hidden=8"]
    s = _series()
    sigma = increment_scale(s[:751])
    for method, lag in (("eventprop", 1), ("ann", 0)):
        inc = task.load(resolve_recipe(task, None, [*base, f"train.method={method}"]), tmp_path)  # type: ignore[arg-type]
        val = task.load(resolve_recipe(task, None, [*base, f"train.method={method}",
                                                    "data.target=value"]), tmp_path)  # type: ignore[arg-type]
        y_inc = inc.train.batch(torch.arange(2))[1][:, :, 0].double()
        y_val = val.train.batch(torch.arange(2))[1][:, :, 0].double()
        # window w starts at step 100 w; its step j predicts s_{100 w + j + 1 - lag}
        i = 100 + torch.arange(20) + 1 - lag
        torch.testing.assert_close(y_val[:, 1], torch.from_numpy(s[i.numpy()]), atol=1e-6, rtol=0)
        torch.testing.assert_close(y_inc[:, 1] * sigma, torch.from_numpy(s[i.numpy()] - s[i.numpy() - 1]),
                                   atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match=r"data\.target must be 'value' or 'increment', got 'delta'"):
        task.load(resolve_recipe(task, None, [*base, "data.target=delta"]), tmp_path)  # type: ignore[arg-type]


#: persistence forecasts 41.9 autoregressively on repeat 0, a diverged forecast 200; the
#: default recipe measured 11.3 (seed 0) and 13.6 (seed 1), a chaotic forecast being fragile
BOUND_AUTOREGRESSIVE = 20.0


@pytest.mark.slow
def test_default_recipe_forecasts_autoregressively(tmp_path: Path) -> None:
    """The default recipe (EventProp, repeat 0) is far better than persistence one step ahead
    and autoregressively stays on the series without diverging."""
    from eventbench.tasks.pipeline import train

    task = get_task("mackey-glass")
    sets = ["data.source=generate", "train.threads=1"]
    recipe = resolve_recipe(task, None, sets)
    data = task.load(recipe, tmp_path)
    built, _ = train(task, recipe, data, tmp_path / "run")
    built.module.eval()
    assert data.protocol_metrics is not None
    auto = data.protocol_metrics(built.module)
    one = task.load(resolve_recipe(task, None, [*sets, "data.protocol=one-step"]), tmp_path)
    assert one.protocol_metrics is not None
    one_step = one.protocol_metrics(built.module)
    assert one_step["smape"] < 0.3  # measured 0.08; persistence 8.58
    assert auto["diverged_steps"] == 0.0 and auto["smape"] < BOUND_AUTOREGRESSIVE
