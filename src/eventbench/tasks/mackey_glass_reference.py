r"""NeuroBench's published Mackey-Glass baselines, the echo state network (ESN) and the LSTM,
re-implemented here to reproduce their leaderboard sMAPE on the same series and protocol.

Both are trained on the first half of the slice ``s_0 .. s_1500`` (input ``s_i``, target
``s_{i+1}``, ``i < 750``) and forecast ``s_751 .. s_1500`` with
:func:`eventbench.tasks.mackey_glass.forecast` (autoregressive: own predictions fed back; or one
step ahead), starting from the state reached on the training half, as NeuroBench's examples do.

**ESN** (leaky tanh reservoir, ridge-regression readout), per ``tau`` hyperparameters of
NeuroBench's random search (:data:`ESN_HYPERPARAMETERS`), seed = repeat index. With input
``u_n`` and bias 1, reservoir ``r [R]``:

.. math:: r \leftarrow (1-a)\,r + a \tanh(W r + W_{in} [1, u_n]),\qquad
          \hat s_{n+1} = W_{out} [1, u_n, r],

``W_in = (U(0,1) - 1/2) * [scale_bias, scale_input]`` ``[R, 2]``; ``W`` has entries ``N(0, 1)``
where ``U(0,1) <= connect_prob`` and is scaled to ``spectral_radius / |lambda_0|`` with
``lambda_0`` the *first* eigenvalue LAPACK returns (not necessarily the largest: what the
published runs did); ``W_out`` solves ``(F^T F + ridge I) W = F^T y`` on the features
after a warm-up of ``0.6`` Lyapunov times (45 points). The draws use torch's generator in the
published order, so a seed gives the published reservoir.

**LSTM**: window of the last 50 values (zeros before the start) -> ``LayerNorm(50)`` ->
``LSTMCell(50, 40)`` -> ReLU -> ``Linear(40, 1)``, float64, seed = repeat index; 200 epochs of
full-sequence Adam (lr 0.005, weight decay 0.001) on the MSE over the 750 training steps.

Leaderboard (NeuroBench v1.0, canonical files, mean over repeats): LSTM 13.37, ESN 14.79
(:data:`LEADERBOARD_SMAPE`).

**Linear code readout** (this project's diagnostic reference, not a NeuroBench baseline): what
the spiking recipe's *input code* alone supports, without a hidden layer. The code
``c_n [N]`` of the window ending at ``s_n`` (:func:`~eventbench.tasks.mackey_glass.input_encoder`,
``N = window * levels``) is read by one linear map fitted by ridge regression on the training
half, :math:`o_n = w^\top c_n + b`, target ``s_{n+1}`` or its normalised increment
(``data.target``, decoded by :func:`~eventbench.tasks.mackey_glass.decode_output`):

.. math:: [w; b] = (A^\top A + \lambda I)^{-1} A^\top y,\qquad A = [c_n, 1]_{n = W-1}^{749},

``lambda`` = :data:`LINEAR_CODE_RIDGE` (the first ``W - 1`` rows, whose window reaches before
``s_0``, are left out). With ``interp`` codes this is an additive model
:math:`\sum_k f_k(s_{n-k})` of piecewise-linear :math:`f_k`, and the Mackey-Glass derivative,
:math:`\beta g(s(t-\tau)) - \gamma s(t)`, is additive in the delayed and the current value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from eventbench.data.mackey_glass import MG_POINTS_PER_LYAPUNOV
from eventbench.tasks.mackey_glass import (
    FIRST_FORECAST,
    MackeyGlassData,
    forecast,
    forecast_smape,
    input_encoder,
    target_scale,
    target_values,
    windows_of,
)
from eventbench.train.closed_loop import single_thread

__all__ = [
    "ESN_HYPERPARAMETERS",
    "LEADERBOARD_SMAPE",
    "LINEAR_CODE_RIDGE",
    "EchoStateNetwork",
    "EsnParams",
    "LSTMForecaster",
    "LinearCodeForecaster",
    "fit_esn",
    "fit_linear_code",
    "fit_lstm",
    "linear_code_smape",
    "reference_smape",
]

#: published sMAPE (%) of NeuroBench's Mackey-Glass baselines
LEADERBOARD_SMAPE: dict[str, float] = {"lstm": 13.37, "esn": 14.79}

#: ESN warm-up excluded from the ridge regression: 0.6 Lyapunov times
ESN_WARMUP = round(0.6 * MG_POINTS_PER_LYAPUNOV)


@dataclass(frozen=True)
class EsnParams:
    """ESN hyperparameters of one ``tau`` (NeuroBench's random search)."""

    reservoir_size: int
    scale_bias: float
    scale_input: float
    connect_prob: float
    spectral_radius: float
    leakage: float
    ridge: float


#: tau -> hyperparameters (NeuroBench examples/mackey_glass/model_data)
ESN_HYPERPARAMETERS: dict[int, EsnParams] = {
    17: EsnParams(966, 0.9, 0.78, 0.97, 1.19, 0.69, 1e-07),
    18: EsnParams(913, 0.98, 1.0, 0.43, 1.08, 0.92, 1e-09),
    19: EsnParams(836, 0.45, 0.89, 0.64, 1.25, 0.77, 1e-06),
    20: EsnParams(656, 0.29, 0.83, 0.06, 1.07, 0.86, 1e-08),
    21: EsnParams(547, 0.37, 0.92, 0.92, 1.08, 0.45, 1e-08),
    22: EsnParams(661, 0.79, 0.92, 0.55, 1.17, 0.87, 1e-07),
    23: EsnParams(577, 0.69, 0.93, 0.02, 1.01, 0.54, 1e-08),
    24: EsnParams(694, 0.85, 0.98, 0.51, 1.13, 0.76, 1e-05),
    25: EsnParams(831, 0.87, 0.93, 0.49, 1.21, 1.0, 0.0001),
    26: EsnParams(522, 0.91, 0.95, 0.59, 1.22, 0.58, 1e-06),
    27: EsnParams(952, 0.99, 0.65, 0.6, 1.19, 0.78, 1e-06),
    28: EsnParams(838, 0.82, 0.83, 0.37, 1.21, 0.81, 1e-06),
    29: EsnParams(728, 0.99, 0.62, 0.48, 1.23, 0.9, 1e-05),
    30: EsnParams(577, 0.69, 0.93, 0.02, 1.01, 0.54, 1e-08),
}


class EchoStateNetwork:
    """A seeded ESN (see the module docstring); a forecaster once :func:`fit_esn` set ``w_out``."""

    def __init__(self, p: EsnParams, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        f64 = torch.float64
        r = p.reservoir_size
        scale = torch.tensor([p.scale_bias, p.scale_input], dtype=f64)
        self.w_in = (torch.rand((r, 2), generator=gen, dtype=f64) - 0.5) * scale
        mask = torch.rand((r, r), generator=gen, dtype=f64) <= p.connect_prob
        w = torch.zeros((r, r), dtype=f64)
        w[mask] = torch.normal(0.0, 1.0, size=(int(mask.sum()),), generator=gen, dtype=f64)
        lam0 = torch.linalg.eigvals(w)[0]
        self.w = p.spectral_radius * w / lam0.abs()
        self.leak = p.leakage
        self.ridge = p.ridge
        self.w_out: Tensor | None = None
        self.reset()

    def reset(self) -> None:
        """Empty reservoir (and no input seen)."""
        self.r = torch.zeros(self.w.shape[0], dtype=torch.float64)
        self.u = torch.zeros(2, dtype=torch.float64)

    def advance(self, x: Tensor) -> None:
        """Consume one value ``x [1, 1]``."""
        self.u = torch.cat([torch.ones(1, dtype=torch.float64), x.reshape(1).double()])
        pre = torch.tanh(self.w @ self.r + self.w_in @ self.u)
        self.r = (1.0 - self.leak) * self.r + self.leak * pre

    def features(self) -> Tensor:
        """``[1, u, r]`` of the last step ``[R + 2]``."""
        return torch.cat([self.u, self.r])

    def output(self) -> Tensor:
        """Prediction of the next value ``[1, 1]``."""
        if self.w_out is None:
            raise RuntimeError("EchoStateNetwork: fit it first (fit_esn)")
        return (self.w_out @ self.features()).reshape(1, 1)


def fit_esn(
    series: np.ndarray, tau: int, seed: int, params: EsnParams | None = None
) -> EchoStateNetwork:
    """Build the ``tau`` ESN (or one with ``params``) with ``seed`` and fit its readout on the
    training half."""
    esn = EchoStateNetwork(params or ESN_HYPERPARAMETERS[tau], seed)
    feats = []
    with single_thread():
        for i in range(FIRST_FORECAST - 1):
            esn.advance(torch.tensor([[series[i]]]))
            feats.append(esn.features())
    f = torch.stack(feats)[ESN_WARMUP:]  # [750 - warm-up, R + 2]
    y = torch.as_tensor(series[ESN_WARMUP + 1:FIRST_FORECAST], dtype=torch.float64)[:, None]
    a = f.T @ f + esn.ridge * torch.eye(f.shape[1], dtype=torch.float64)
    esn.w_out = torch.linalg.lstsq(a, f.T @ y, rcond=None, driver="gelsd").solution.T
    esn.reset()
    return esn


class LSTMForecaster(nn.Module):
    """NeuroBench's Mackey-Glass LSTM (see the module docstring), stepped by
    :func:`~eventbench.tasks.mackey_glass.forecast` with ``window = 50`` raw values."""

    def __init__(self, window: int = 50, hidden: int = 40) -> None:
        super().__init__()
        f64 = torch.float64
        # same construction order as the published model, so a seed gives its initial weights
        self.lstm = nn.LSTM(window, hidden, dtype=f64)
        self.fc = nn.Linear(hidden, 1, dtype=f64)
        self.norm = nn.LayerNorm(window, dtype=f64)
        self.reset()

    def reset(self) -> None:
        """Zero state."""
        h = self.lstm.hidden_size
        self.state = (torch.zeros(1, 1, h, dtype=torch.float64),
                      torch.zeros(1, 1, h, dtype=torch.float64))
        self.last = torch.zeros(1, 1, dtype=torch.float64)

    def forward(self, windows: Tensor) -> Tensor:
        """Teacher-forced run from a zero state: windows ``[T, W]`` -> predictions ``[T, 1]``."""
        h, _ = self.lstm(self.norm(windows).unsqueeze(1))
        out: Tensor = self.fc(torch.relu(h[:, 0]))
        return out

    def advance(self, x: Tensor) -> None:
        """Consume one window ``x [1, W]``."""
        h, self.state = self.lstm(self.norm(x.double()).unsqueeze(0), self.state)
        self.last = self.fc(torch.relu(h[0]))

    def output(self) -> Tensor:
        """Prediction of the next value ``[1, 1]``."""
        return self.last


def fit_lstm(
    series: np.ndarray, seed: int, epochs: int = 200, lr: float = 5e-3, weight_decay: float = 1e-3
) -> LSTMForecaster:
    """Train the LSTM with ``seed`` on the training half (full-sequence Adam on the MSE)."""
    from eventbench.tasks.mackey_glass import windows_of

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LSTMForecaster()
    n = FIRST_FORECAST - 1
    x = torch.as_tensor(windows_of(series[:n], 50), dtype=torch.float64)
    y = torch.as_tensor(series[1:n + 1], dtype=torch.float64)[:, None]
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
    if not math.isfinite(float(loss.detach())):
        raise FloatingPointError(f"LSTM training diverged (loss {float(loss.detach())})")
    model.reset()
    return model


def reference_smape(
    kind: str, series: np.ndarray, tau: int, seed: int, feedback: bool, epochs: int = 200
) -> float:
    """sMAPE (%) of the forecast of ``s_751 .. s_1500`` by NeuroBench's ``kind`` baseline
    (``"esn"`` or ``"lstm"``) trained with ``seed`` on ``series`` (the slice ``s_0 .. s_1500``)."""
    if kind == "esn":
        model: EchoStateNetwork | LSTMForecaster = fit_esn(series, tau, seed)
        window = 1
    elif kind == "lstm":
        model = fit_lstm(series, seed, epochs=epochs)
        window = 50
    else:
        raise ValueError(f"reference baseline must be 'esn' or 'lstm', got {kind!r}")
    with torch.no_grad():
        preds = forecast(model, series, lambda v: v.double(), window, feedback)
    return forecast_smape(preds, series[FIRST_FORECAST:])


#: ridge penalty of :func:`fit_linear_code` (codes are in ``[0, 1]``)
LINEAR_CODE_RIDGE = 1e-3


class LinearCodeForecaster:
    """A linear readout of the input code, :math:`o = w^\top c + b` (float64), stepped by
    :func:`~eventbench.tasks.mackey_glass.forecast`: after consuming the code ``c_n [1, N]`` its
    output ``[1, 1]`` is the prediction for ``s_{n+1}`` (before any input: ``b``)."""

    def __init__(self, weights: Tensor, bias: float) -> None:
        if weights.ndim != 1:
            raise ValueError(f"weights must be [N], got shape {tuple(weights.shape)}")
        self.weights = weights.double()
        self.bias = float(bias)
        self.last = torch.full((1, 1), self.bias, dtype=torch.float64)

    def advance(self, x: Tensor) -> None:
        """Consume one code ``x [1, N]``."""
        if x.shape[-1] != self.weights.shape[0]:
            raise ValueError(f"code has {x.shape[-1]} channels, the readout {self.weights.shape[0]}")
        self.last = (x.double() @ self.weights + self.bias).reshape(1, 1)

    def output(self) -> Tensor:
        """Prediction ``[1, 1]`` from the last code consumed."""
        return self.last


def fit_linear_code(
    codes: np.ndarray, targets: np.ndarray, ridge: float = LINEAR_CODE_RIDGE
) -> LinearCodeForecaster:
    r"""Ridge regression of ``targets [n]`` on ``codes [n, N]`` with a bias (see the module
    docstring; the bias is penalised like the weights)."""
    if codes.ndim != 2 or targets.shape != (codes.shape[0],):
        raise ValueError(f"need codes [n, N] and targets [n], got {codes.shape} and {targets.shape}")
    if not ridge >= 0.0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    a = np.concatenate([codes, np.ones((codes.shape[0], 1))], axis=1).astype(np.float64)
    sol = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ targets.astype(np.float64))
    return LinearCodeForecaster(torch.from_numpy(sol[:-1].copy()), float(sol[-1]))


def linear_code_smape(series: np.ndarray, cfg: MackeyGlassData, feedback: bool) -> float:
    """sMAPE (%) of the forecast of ``s_751 .. s_1500`` by the linear readout of the code that
    the task's settings ``cfg`` (window, levels, encoding, target) give, fitted on ``series``'
    training half."""
    encode = input_encoder(series, cfg)
    sigma = target_scale(series, cfg.target)
    w = cfg.window
    n = np.arange(w - 1, FIRST_FORECAST - 1)  # windows ending at s_{W-1} .. s_749
    codes = encode(torch.from_numpy(windows_of(series[:FIRST_FORECAST - 1], w)[n])).numpy()
    model = fit_linear_code(codes, target_values(series, n + 1, cfg.target, sigma))
    preds = forecast(model, series, encode, w, feedback, hold=cfg.hold, target=cfg.target,
                     sigma=sigma)
    return forecast_smape(preds, series[FIRST_FORECAST:])
