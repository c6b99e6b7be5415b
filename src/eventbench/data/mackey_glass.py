r"""Mackey-Glass series (NeuroBench chaotic-function-prediction task).

The equation (NeuroBench / HF ``NeuroBench/mackey_glass``):

.. math:: \dot x(t) = \beta \frac{x(t-\tau)}{1 + x(t-\tau)^n} - \gamma x(t),
          \quad \beta = 0.2,\ \gamma = 0.1,\ n = 10,

with constant history ``x(t) = x0`` for ``t <= 0``, ``tau`` in 17..30 and the per-``tau`` Lyapunov
time and ``x0`` of the HF card's ``mackey_glass_parameters.csv`` (:data:`MG_PARAMETERS`). The
canonical files ``mg_<tau>.npy`` hold 3751 points (75 per Lyapunov time, 50 Lyapunov times),
sampled from ``t = tau`` (where jitcdde's ``step_on_discontinuities`` leaves the integrator; this
matches the published first value 1.2668 for ``tau = 17``) with spacing ``lyapunov_time / 75``.

Generator (:func:`mackey_glass_series`), pure NumPy/SciPy, method of steps: on the grid
``t_k = k h`` with ``h = 1 / (75 m)`` (``m`` = ``substeps``, so that ``tau`` and the sampling step
are whole numbers of steps), the linear part is integrated exactly,

.. math:: x_{k+1} = e^{-\gamma h} x_k + \int_0^h e^{-\gamma (h-s)} g(t_k + s)\,ds,
          \quad g(t) = \beta x(t-\tau) / (1 + x(t-\tau)^n),

where ``g`` is known from the previous delay interval and is integrated against the exponential
with a four-point (cubic) stencil that never crosses a multiple of ``tau`` (where the derivatives
of the solution jump). The recursion is linear in ``x`` and runs per delay interval with
``scipy.signal.lfilter``. Local error is ``O(h^5)``. A chaotic series cannot be reproduced bit for
bit on another machine or with another solver, so generated data is labelled
``origin="regenerated"``; use the canonical files for comparable results.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.signal import lfilter

from .dataset import DenseDataset, Splits
from .errors import DataFormatError, DataMissingError, resolve_data_dir

__all__ = [
    "MG_BETA",
    "MG_GAMMA",
    "MG_N",
    "MG_PARAMETERS",
    "MG_POINTS",
    "MG_POINTS_PER_LYAPUNOV",
    "MG_URL",
    "load_mackey_glass_series",
    "mackey_glass",
    "mackey_glass_series",
    "neurobench_offset",
]

logger = logging.getLogger(__name__)

MG_BETA, MG_GAMMA, MG_N = 0.2, 0.1, 10.0
MG_POINTS_PER_LYAPUNOV = 75
MG_N_LYAPUNOV = 50
MG_POINTS = MG_N_LYAPUNOV * MG_POINTS_PER_LYAPUNOV + 1  # 3751
MG_URL = "https://huggingface.co/datasets/NeuroBench/mackey_glass (files mg_<tau>.npy)"

#: tau -> (Lyapunov time, x0), from the HF card's mackey_glass_parameters.csv.
MG_PARAMETERS: dict[int, tuple[int, float]] = {
    17: (197, 0.72066), 18: (138, 0.774431), 19: (315, 0.778347), 20: (131, 0.922599),
    21: (191, 0.947943), 22: (119, 0.545596), 23: (106, 0.862225), 24: (97, 0.325966),
    25: (98, 0.829783), 26: (104, 1.003349), 27: (112, 0.649141), 28: (119, 1.09575),
    29: (131, 0.925618), 30: (139, 0.271364),
}


def _stencil_weights(h: float, gamma: float, nodes: tuple[int, ...]) -> np.ndarray:
    """Weights ``w_i`` with ``int_0^h e^{-gamma (h - s)} p(s) ds = sum_i w_i p(nodes_i h)`` for
    every cubic ``p`` (Gauss-Legendre quadrature of the Lagrange basis, exact to rounding)."""
    gx, gw = np.polynomial.legendre.leggauss(8)
    s = 0.5 * h * (gx + 1.0)
    wq = 0.5 * h * gw * np.exp(-gamma * (h - s))
    z = np.asarray(nodes, dtype=np.float64) * h
    w = np.empty(len(nodes))
    for i in range(len(nodes)):
        basis = np.ones_like(s)
        for j in range(len(nodes)):
            if j != i:
                basis *= (s - z[j]) / (z[i] - z[j])
        w[i] = float(np.sum(wq * basis))
    return w


def _integrate(
    tau: float, x0: float, t_end: float, h: float, beta: float, gamma: float, n: float
) -> np.ndarray:
    """``x(k h)`` for ``k = 0..round(t_end / h)`` (see the module docstring)."""
    d = round(tau / h)
    if abs(d * h - tau) > 1e-9 * tau or d < 4:
        raise ValueError(f"tau={tau} must be a whole number (>= 4) of steps h={h}")
    k_end = round(t_end / h)
    x = np.empty(k_end + 1 + d)
    x[0] = x0
    a = float(np.exp(-gamma * h))
    w_mid = _stencil_weights(h, gamma, (-1, 0, 1, 2))
    w_first = _stencil_weights(h, gamma, (0, 1, 2, 3))
    w_last = _stencil_weights(h, gamma, (-2, -1, 0, 1))
    k = 0
    while k < k_end:
        # forcing on this delay interval, from x one delay earlier (history x0 for t <= 0)
        lag = np.arange(k - d, k + 1)
        xl = np.where(lag <= 0, x0, x[np.maximum(lag, 0)])
        g = beta * xl / (1.0 + xl**n)  # g at local nodes 0..d
        c = np.empty(d)
        c[1:d - 1] = (w_mid[0] * g[0:d - 2] + w_mid[1] * g[1:d - 1] + w_mid[2] * g[2:d]
                      + w_mid[3] * g[3:d + 1])
        c[0] = w_first @ g[0:4]
        c[d - 1] = w_last @ g[d - 3:d + 1]
        y, _ = lfilter([1.0], [1.0, -a], c, zi=[a * x[k]])
        x[k + 1:k + d + 1] = y
        k += d
    return x[: k_end + 1]


def mackey_glass_series(
    tau: int,
    n_points: int = MG_POINTS,
    substeps: int = 2,
    x0: float | None = None,
    lyapunov_time: float | None = None,
) -> np.ndarray:
    """Regenerate the NeuroBench series ``mg_<tau>.npy`` (float64 ``[n_points]``).

    Points are ``x(tau + i * lyapunov_time / 75)``, ``i = 0..n_points-1``, solved on a grid of
    ``h = 1 / (75 * substeps)`` time units. ``x0`` and ``lyapunov_time`` default to
    :data:`MG_PARAMETERS` (needed for ``tau`` outside 17..30).
    """
    if tau not in MG_PARAMETERS and (x0 is None or lyapunov_time is None):
        raise ValueError(f"tau={tau} has no published parameters; give x0 and lyapunov_time")
    lyap_d, x0_d = MG_PARAMETERS.get(tau, (0, 0.0))
    lyap = float(lyapunov_time if lyapunov_time is not None else lyap_d)
    x_init = float(x0 if x0 is not None else x0_d)
    if substeps < 1 or n_points < 1:
        raise ValueError(f"need substeps >= 1 and n_points >= 1, got {substeps}, {n_points}")
    h = 1.0 / (MG_POINTS_PER_LYAPUNOV * substeps)
    stride = lyap / MG_POINTS_PER_LYAPUNOV / h
    if abs(stride - round(stride)) > 1e-9:
        raise ValueError(f"lyapunov_time={lyap} must be a whole number of time units")
    stride_i = round(stride)
    start = round(tau / h)
    t_end = (start + (n_points - 1) * stride_i) * h
    x = _integrate(float(tau), x_init, t_end, h, MG_BETA, MG_GAMMA, MG_N)
    out = x[start::stride_i][:n_points].copy()
    logger.debug("regenerated Mackey-Glass tau=%d: %d points", tau, out.shape[0])
    return out


def load_mackey_glass_series(path: str | os.PathLike[str]) -> np.ndarray:
    """Read and check a canonical ``mg_<tau>.npy`` (1-D finite float, 3751 points)."""
    p = Path(path)
    try:
        a = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataFormatError(p, "<npy array>", f"cannot be read: {exc}") from exc
    if not np.issubdtype(a.dtype, np.floating):
        raise DataFormatError(p, "<npy array>", f"wrong dtype {a.dtype}: expected float")
    if a.ndim != 1 or a.shape[0] != MG_POINTS:
        raise DataFormatError(p, "<npy array>", f"shape {a.shape} != ({MG_POINTS},)")
    if not np.isfinite(a).all():
        raise DataFormatError(p, "<npy array>", "contains NaN or inf")
    out: np.ndarray = a.astype(np.float64)
    return out


def neurobench_offset(repeat: int) -> int:
    """NeuroBench start offset of repeat ``k`` (0..29): ``int(k * 37.5)`` points
    (half a Lyapunov time)."""
    if not 0 <= repeat:
        raise ValueError(f"repeat must be >= 0, got {repeat}")
    return int(repeat * 0.5 * MG_POINTS_PER_LYAPUNOV)


def mackey_glass(
    tau: int = 17,
    data_dir: str | os.PathLike[str] | None = None,
    source: Literal["auto", "file", "generate"] = "auto",
    repeat: int = 0,
    bin_window: int = 1,
    substeps: int = 2,
) -> Splits[DenseDataset]:
    """NeuroBench Mackey-Glass train/test split for one ``tau`` and one repeat.

    The series is the user's ``mg_<tau>.npy`` (looked for in the data directory and its
    ``mackey_glass/`` subfolder; ``origin="user-file"``) or, with ``source="generate"`` or when
    ``source="auto"`` finds no file, :func:`mackey_glass_series` (``origin="regenerated"``, logged
    as a warning). ``source="file"`` raises :class:`DataMissingError` when no file is found.

    Split (``neurobench.datasets.MackeyGlass``): the slice ``series[o : o + 1501]`` with
    ``o = neurobench_offset(repeat)``; step ``i`` (0..1499) has input the ``bin_window`` values
    ending at ``i`` (zero-padded in front) and target value ``i + 1``. Steps 0..749 (10 Lyapunov
    times) are train, 750..1499 test. ``inputs`` are ``[750, bin_window]``, ``targets`` ``[750, 1]``.
    """
    if tau not in MG_PARAMETERS:
        raise ValueError(f"tau must be one of {sorted(MG_PARAMETERS)}, got {tau}")
    if bin_window < 1:
        raise ValueError(f"bin_window must be >= 1, got {bin_window}")
    if source not in ("auto", "file", "generate"):
        raise ValueError(f"source must be 'auto', 'file' or 'generate', got {source!r}")
    root = resolve_data_dir(data_dir)
    name = f"mg_{tau}.npy"
    candidates = [root / name, root / "mackey_glass" / name]
    found = next((c for c in candidates if c.is_file()), None) if source != "generate" else None
    if found is not None:
        series = load_mackey_glass_series(found)
        origin: Literal["user-file", "regenerated"] = "user-file"
        src = str(found)
    elif source == "file":
        raise DataMissingError(name, candidates, MG_URL)
    else:
        if source == "auto":
            logger.warning("%s not found in %s; regenerating it (origin 'regenerated', not "
                           "bit-identical to the canonical series)", name,
                           ", ".join(map(str, candidates)))
        series = mackey_glass_series(tau, substeps=substeps)
        origin = "regenerated"
        src = f"eventbench.data.mackey_glass_series(tau={tau}, substeps={substeps})"
    offset = neurobench_offset(repeat)
    n_steps = 1500
    if offset + n_steps + 1 > series.shape[0]:
        raise ValueError(f"repeat {repeat} (offset {offset}) runs past the {series.shape[0]} points")
    window = series[offset:offset + n_steps + 1]
    padded = np.concatenate([np.zeros(bin_window - 1), window])
    idx = np.arange(n_steps)[:, None] + np.arange(bin_window)[None, :]
    inputs = padded[idx]  # [1500, W]: values i-W+1 .. i
    targets = window[1:n_steps + 1, None]
    lyap = MG_PARAMETERS[tau][0]
    params: dict[str, object] = {
        "tau": tau, "lyapunov_time": lyap, "step": lyap / MG_POINTS_PER_LYAPUNOV,
        "repeat": repeat, "start_offset": offset, "bin_window": bin_window,
        "beta": MG_BETA, "gamma": MG_GAMMA, "n": MG_N,
    }
    if origin == "regenerated":
        params["substeps"] = substeps

    def part(split: str, sl: slice) -> DenseDataset:
        return DenseDataset(
            name=f"mackey_glass/tau{tau}/{split}", inputs=inputs[sl], targets=targets[sl],
            n_channels=bin_window, origin=origin, dt_s=None, source=src,
            params={**params, "split": split},
        )

    return Splits(train=part("train", slice(0, 750)), val=None, test=part("test", slice(750, 1500)))
