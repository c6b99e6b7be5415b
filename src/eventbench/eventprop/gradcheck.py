"""Gradient check of the time-stepped EventProp against finite differences on the exact reference.

Finite differences on a time-stepped simulation measure the gradient with spike times frozen to
the grid (see ``docs/verification.md``), so the reference here is the exact event-driven float64
simulation of :mod:`eventbench.eventprop.exact`: central differences on it give the exact
gradient of the continuous-time loss. The time-stepped EventProp gradient converges to it as
``dt`` shrinks (first order). The exact-time adjoint of :mod:`eventbench.eventprop.exact` is
reported alongside (it must match to ~1e-6).

Used by ``eventbench gradcheck`` and by the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import torch

from eventbench.core.network import SNN, LayerSpec, LIFLayer, NetworkSpec, Normal
from eventbench.core.params import LIFParams
from eventbench.core.records import SpikeRecord
from eventbench.eventprop import exact
from eventbench.eventprop.method import EventProp
from eventbench.readout.losses import CrossEntropy, FirstSpikeCrossEntropy
from eventbench.readout.readouts import (
    AvgVoltage,
    ExpWeightedVoltage,
    FirstSpikeTime,
    LinearWeightedVoltage,
    MaxVoltage,
    Readout,
    SigmoidWeightedVoltage,
)

__all__ = ["LOSSES", "GradcheckConfig", "GradcheckReport", "GradcheckRow", "run_gradcheck"]

F64 = npt.NDArray[np.float64]

#: loss name -> (engine readout, exact readout kind)
LOSSES: dict[str, tuple[Readout, exact.ReadoutKind]] = {
    "avg": (AvgVoltage(), "avg"),
    "exp": (ExpWeightedVoltage(), "exp"),
    "linear": (LinearWeightedVoltage(), "linear"),
    "sigmoid": (SigmoidWeightedVoltage(), "sigmoid"),
    "max": (MaxVoltage(), "max"),
    "first-spike": (FirstSpikeTime(), "first_spike"),
}

_TAU_M, _TAU_S = 20e-3, 5e-3
_FS_TAU0, _FS_ALPHA = 0.5, 0.01


@dataclass(frozen=True)
class GradcheckConfig:
    """A random tiny network and input, and the check's tolerance.

    Attributes:
        hidden: hidden layer sizes.
        recurrent: recurrent hidden layers.
        loss: one of :data:`LOSSES` (cross-entropy on that readout; first-spike cross-entropy
            with the inverse regulariser for ``"first-spike"``).
        dt_ms: step of the time-stepped EventProp (ms); the input grid is a multiple of it.
        seed: seed of weights, input and labels.
        n_inputs, n_outputs: population sizes.
        duration_ms: trial length (ms).
        batch: samples whose losses are averaged.
        tolerance: largest accepted relative error ``|g - g_fd| / |g_fd|`` per tensor.
    """

    hidden: tuple[int, ...] = (6,)
    recurrent: bool = False
    loss: str = "exp"
    dt_ms: float = 0.01
    seed: int = 0
    n_inputs: int = 3
    n_outputs: int = 2
    duration_ms: float = 20.0
    batch: int = 2
    tolerance: float = 0.05

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown gradcheck loss {self.loss!r}; choose one of {sorted(LOSSES)}")
        if not self.hidden or min(self.hidden) <= 0:
            raise ValueError(f"hidden sizes must be positive, got {self.hidden}")
        steps = self.duration_ms / self.dt_ms
        if not (self.dt_ms > 0 and abs(steps - round(steps)) < 1e-6):
            raise ValueError(
                f"duration_ms={self.duration_ms} must be a multiple of dt_ms={self.dt_ms}"
            )


@dataclass(frozen=True)
class GradcheckRow:
    """Errors for one parameter tensor (relative errors use the norm of the FD gradient)."""

    name: str
    n_checked: int
    fd_norm: float
    rel_error: float
    max_abs_error: float
    adjoint_rel_error: float


@dataclass(frozen=True)
class GradcheckReport:
    """Result of :func:`run_gradcheck`.

    ``spike_mismatches`` counts hidden spikes of the time-stepped run that are missing or extra,
    or that swapped order with another event (a crossing and an arrival closer than the
    accumulated timing error). A mismatch means the step is too coarse for this network, and
    the gradients then differ by O(1), not O(dt).
    """

    config: GradcheckConfig
    rows: tuple[GradcheckRow, ...]
    n_unresolved: int
    hidden_spikes: tuple[int, ...]
    guard_hits: int
    attempts: int
    spike_mismatches: int
    tolerance: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tolerance", self.config.tolerance)

    @property
    def passed(self) -> bool:
        """True when every tensor's relative error is within the tolerance."""
        return all(r.rel_error <= self.tolerance for r in self.rows)

    def to_table(self) -> list[list[str]]:
        """Rows of strings: header first."""
        out = [["parameter", "entries", "|g_fd|", "rel. error", "max abs error", "exact adjoint"]]
        for r in self.rows:
            out.append(
                [
                    r.name,
                    str(r.n_checked),
                    f"{r.fd_norm:.3e}",
                    f"{r.rel_error:.2e}",
                    f"{r.max_abs_error:.2e}",
                    f"{r.adjoint_rel_error:.1e}",
                ]
            )
        return out


def _cross_entropy(z: F64, label: int) -> float:
    m = float(np.max(z))
    return float(m + math.log(float(np.sum(np.exp(z - m)))) - z[label])


def _first_spike_loss(t: F64, label: int, duration_s: float) -> float:
    u = np.where(np.isfinite(t), t, duration_s) / 1e-3
    reg = _FS_ALPHA / (1.01 * duration_s / 1e-3 - u[label])
    return _cross_entropy(-u / _FS_TAU0, label) + float(reg)


def _loss_and_grad(cfg: GradcheckConfig, z: F64, label: int) -> tuple[float, F64]:
    """Per-sample loss (already divided by the batch size) and its gradient wrt the readout."""
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([label])
    if cfg.loss == "first-spike":
        loss = FirstSpikeCrossEntropy(duration_s=cfg.duration_ms * 1e-3, tau0=_FS_TAU0, alpha=_FS_ALPHA)(
            zt.view(1, -1), y, torch.ones(1, z.size, dtype=torch.bool)
        )
    else:
        loss = CrossEntropy()(zt.view(1, -1), y)
    loss = loss / cfg.batch
    (g,) = torch.autograd.grad(loss, [zt])
    return float(loss.detach()), g.numpy()


def _sample_case(
    cfg: GradcheckConfig, seed: int
) -> tuple[exact.ExactNetwork, list[tuple[F64, npt.NDArray[np.int64]]], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    layers = []
    n_pre = cfg.n_inputs
    for size in cfg.hidden:
        w_ff = rng.normal(2.0 / math.sqrt(n_pre), 1.0 / math.sqrt(n_pre), (n_pre, size))
        w_rec = rng.normal(0.0, 0.4 / math.sqrt(size), (size, size)) if cfg.recurrent else None
        layers.append(exact.ExactLayer(w_ff=w_ff, w_rec=w_rec, tau_mem_s=_TAU_M, tau_syn_s=_TAU_S))
        n_pre = size
    lif = cfg.loss == "first-spike"
    out_w = rng.normal(1.2 if lif else 0.0, 0.5, (n_pre, cfg.n_outputs)) * (2.0 / math.sqrt(n_pre))
    if cfg.loss == "max":
        # excitatory readout weights: the maximum never sits at the kink of an inhibitory
        # arrival, where the time-stepped max readout lacks a term (see MaxVoltage)
        out_w = np.abs(out_w)
    net = exact.ExactNetwork(
        hidden=tuple(layers),
        out_w=out_w,
        out_tau_mem_s=_TAU_M,
        out_tau_syn_s=_TAU_S,
        out_kind="lif" if lif else "li",
        out_bias=None if lif else rng.normal(0.0, 0.1, cfg.n_outputs),
    )
    grid_ms = max(1.0, cfg.dt_ms)
    n_grid = int((cfg.duration_ms * 0.6) // grid_ms)
    inputs = []
    for _ in range(cfg.batch):
        n_spk = 3 * cfg.n_inputs
        slots = rng.choice(n_grid * cfg.n_inputs, size=n_spk, replace=False)
        times = (slots // cfg.n_inputs) * grid_ms * 1e-3
        chans = (slots % cfg.n_inputs).astype(np.int64)
        order = np.argsort(times, kind="stable")
        inputs.append((times[order].astype(np.float64), chans[order]))
    labels = rng.integers(0, cfg.n_outputs, cfg.batch).astype(np.int64)
    return net, inputs, labels


def _usable(cfg: GradcheckConfig, net: exact.ExactNetwork, inputs: list[tuple[F64, npt.NDArray[np.int64]]]) -> bool:
    """Every hidden layer spikes, and for spike-time losses every output fires in every sample."""
    dur = cfg.duration_ms * 1e-3
    fired_layers = np.zeros(len(cfg.hidden), dtype=bool)
    for times, chans in inputs:
        tr = exact.simulate(net, times, chans, dur)
        counts = tr.spike_counts()
        fired_layers |= np.array([c.sum() > 0 for c in counts[:-1]])
        if cfg.loss == "first-spike" and not bool(np.all(counts[-1] > 0)):
            return False
    return bool(fired_layers.all())


def _engine(cfg: GradcheckConfig, net: exact.ExactNetwork, variant: str | None) -> SNN:
    readout = LOSSES[cfg.loss][0]
    lif = cfg.loss == "first-spike"
    spec = NetworkSpec(
        n_inputs=cfg.n_inputs,
        hidden=tuple(LayerSpec(n, recurrent=cfg.recurrent, neuron=LIFParams(_TAU_M, _TAU_S)) for n in cfg.hidden),
        n_outputs=cfg.n_outputs,
        dt_s=cfg.dt_ms * 1e-3,
        n_steps=round(cfg.duration_ms / cfg.dt_ms),
        output=LIFParams(_TAU_M, _TAU_S),
        output_kind="lif" if lif else "li",
        output_bias=not lif,
        init_out=Normal(),
    )
    snn = SNN(spec, readout, EventProp(chunk=512, _variant=variant), dtype=torch.float64)
    with torch.no_grad():
        for layer, ex in zip(snn.layers, net.hidden, strict=True):
            assert isinstance(layer, LIFLayer)
            layer.w_ff.copy_(torch.from_numpy(ex.w_ff))
            if ex.w_rec is not None and layer.w_rec is not None:
                layer.w_rec.copy_(torch.from_numpy(ex.w_rec))
        snn.readout_layer.w.copy_(torch.from_numpy(net.out_w))
        if snn.readout_layer.bias is not None and net.out_bias is not None:
            snn.readout_layer.bias.copy_(torch.from_numpy(net.out_bias))
    return snn


def _engine_names(net: exact.ExactNetwork) -> dict[str, str]:
    names = {}
    for k, layer in enumerate(net.hidden):
        names[f"hidden.{k}.w_ff"] = f"layers.{k}.w_ff"
        if layer.w_rec is not None:
            names[f"hidden.{k}.w_rec"] = f"layers.{k}.w_rec"
    names["out_w"] = "readout_layer.w"
    if net.out_kind == "li":
        names["out_bias"] = "readout_layer.bias"
    return names


def _bin_inputs(cfg: GradcheckConfig, inputs: list[tuple[F64, npt.NDArray[np.int64]]]) -> torch.Tensor:
    t_steps = round(cfg.duration_ms / cfg.dt_ms)
    x = torch.zeros(t_steps, cfg.batch, cfg.n_inputs, dtype=torch.float64)
    for b, (times, chans) in enumerate(inputs):
        steps = np.rint(times / (cfg.dt_ms * 1e-3)).astype(np.int64)
        for s, c in zip(steps, chans, strict=True):
            x[s, b, c] += 1.0
    return x


def _count_mismatches(
    cfg: GradcheckConfig,
    traces: list[exact.ExactTrace],
    records: tuple[SpikeRecord, ...],
) -> int:
    """Hidden spikes of the time-stepped run that are missing or extra, or whose detection step
    starts after an event that the exact spike precedes (an order swap)."""
    dt = cfg.dt_ms * 1e-3
    bad = 0
    for layer, rec in enumerate(records):
        for b, tr in enumerate(traces):
            lt = tr.hidden[layer]
            arrivals = np.concatenate([lt.in_t, lt.spike_t])
            for j, t_exact in enumerate(lt.spike_times()):
                sel = (rec.batch == b) & (rec.neuron == j)
                stamps = np.sort(rec.step[sel].numpy())
                n = min(len(stamps), len(t_exact))
                bad += abs(len(stamps) - len(t_exact))
                for t_e, k in zip(t_exact[:n], stamps[:n], strict=True):
                    step_start = (k - 1) * dt
                    between = (arrivals > t_e + 1e-12) & (arrivals <= step_start + 1e-12)
                    bad += int(between.any())
    return bad


def run_gradcheck(
    cfg: GradcheckConfig, max_attempts: int = 25, *, _variant: str | None = None
) -> GradcheckReport:
    """Compare the time-stepped EventProp gradient (float64) with central finite differences on
    the exact event-driven simulation, per parameter tensor.

    ``_variant`` selects a deliberately wrong adjoint (negative-control tests only).

    Networks are drawn from ``cfg.seed`` (then ``seed + 1000``, ...) until every hidden layer spikes
    and, for the first-spike loss, every output fires in every sample (a silent output only gets
    the phantom-spike pseudo-gradient, which no finite difference can check).
    """
    kind = LOSSES[cfg.loss][1]
    dur = cfg.duration_ms * 1e-3
    for attempt in range(max_attempts):
        net, inputs, labels = _sample_case(cfg, cfg.seed + 1000 * attempt)
        if _usable(cfg, net, inputs):
            break
    else:
        raise RuntimeError(
            f"no usable random network in {max_attempts} draws (silent layer or output); "
            "try another seed or larger layers"
        )
    names = _engine_names(net)
    fd_total: dict[str, F64] = {}
    adj_total: dict[str, F64] = {}
    n_unresolved = 0
    traces = []
    for (times, chans), label in zip(inputs, labels, strict=True):
        trace = exact.simulate(net, times, chans, dur)
        traces.append(trace)
        z = exact.readout(trace, kind)
        _, g_z = _loss_and_grad(cfg, z, int(label))

        def loss_of(zz: F64, lab: int = int(label)) -> float:
            return _loss_and_grad(cfg, zz, lab)[0]

        res = exact.gradients_by_fd(net, times, chans, dur, kind, loss_of)
        n_unresolved += res.n_unresolved
        adj = exact.exact_adjoint_gradient(net, trace, g_z, kind)
        for k in names:
            fd_total[k] = fd_total.get(k, 0.0) + res.grad[k]
            adj_total[k] = adj_total.get(k, 0.0) + adj[k]

    snn = _engine(cfg, net, _variant)
    x = _bin_inputs(cfg, inputs)
    out = snn(x)
    y = torch.from_numpy(labels)
    if cfg.loss == "first-spike":
        loss = FirstSpikeCrossEntropy(duration_s=dur, tau0=_FS_TAU0, alpha=_FS_ALPHA)(out.readout, y, out.fired)
    else:
        loss = CrossEntropy()(out.readout, y)
    loss.backward()  # type: ignore[no-untyped-call]
    params = dict(snn.named_parameters())
    rows = []
    for k, eng in names.items():
        grad = params[eng].grad
        g = grad.numpy() if grad is not None else np.zeros_like(fd_total[k])
        fd = fd_total[k]
        ok = np.isfinite(fd)
        diff = np.abs(g - fd)[ok]
        norm = float(np.linalg.norm(fd[ok]))
        denom = max(norm, 1e-12)
        rows.append(
            GradcheckRow(
                name=eng,
                n_checked=int(ok.sum()),
                fd_norm=norm,
                rel_error=float(np.linalg.norm(diff)) / denom,
                max_abs_error=float(diff.max()) if diff.size else 0.0,
                adjoint_rel_error=float(np.linalg.norm((adj_total[k] - fd)[ok])) / denom,
            )
        )
    return GradcheckReport(
        config=cfg,
        rows=tuple(rows),
        n_unresolved=n_unresolved,
        hidden_spikes=tuple(r.n_spikes for r in out.spikes),
        guard_hits=out.guard_hits,
        attempts=attempt + 1,
        spike_mismatches=_count_mismatches(cfg, traces, out.spikes),
    )


# --------------------------------------------------------------------------------------------
# the training regime (verification ladder step 7)


@dataclass(frozen=True)
class RegimeConfig:
    """A scaled-down mean-driven network, the regime of the SHD recipe: many weak inputs, the
    steady-state voltage just above threshold, regular firing at tens of Hz.

    Attributes:
        n_inputs, rate_hz: Poisson inputs and their rate (on a 1 ms grid, so that every ``dt``
            that divides 1 ms bins them exactly).
        hidden: hidden neurons (one layer); ``recurrent`` adds ``w_rec ~ N(0, rec_std^2)``.
        ff_mean, ff_std: input weights ``N(mean, std^2)`` (the SHD recipe's initialisation).
        out_std: readout weights ``N(0, std^2)``.
        n_outputs, duration_ms, batch, seed: the rest of the case; loss: a :data:`LOSSES` key
            (cross-entropy on that voltage readout).
    """

    n_inputs: int = 100
    rate_hz: float = 84.0
    hidden: int = 10
    recurrent: bool = False
    ff_mean: float = 0.03
    ff_std: float = 0.01
    rec_std: float = 0.02
    out_std: float = 0.03
    n_outputs: int = 3
    duration_ms: float = 200.0
    batch: int = 4
    seed: int = 0
    loss: str = "exp"


@dataclass(frozen=True)
class RegimeRow:
    """Time-stepped EventProp gradient ``g`` of one tensor against the exact one ``g*``.

    ``ratio = (g . g/|g|) / (g* . g/|g|)``: the loss change per unit step that ``g`` predicts
    along its own direction, over the exact one (1 is exact; 10 means ten times too large; a
    negative value means ``-g`` goes uphill). ``cosine`` between ``g`` and ``g*``.
    """

    dt_ms: float
    name: str
    cosine: float
    ratio: float
    norm: float
    exact_norm: float


@dataclass(frozen=True)
class RegimeReport:
    """Rows per ``dt`` and tensor, with the fraction of crossings that hit the guard and the
    hidden rate of the exact simulation (Hz)."""

    config: RegimeConfig
    rows: tuple[RegimeRow, ...]
    guard_fraction: dict[float, float]
    hidden_rate_hz: float
    fd_check: float


def _regime_case(cfg: RegimeConfig) -> tuple[exact.ExactNetwork, list[tuple[F64, npt.NDArray[np.int64]]], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(cfg.seed)
    w_ff = rng.normal(cfg.ff_mean, cfg.ff_std, (cfg.n_inputs, cfg.hidden))
    w_rec = rng.normal(0.0, cfg.rec_std, (cfg.hidden, cfg.hidden)) if cfg.recurrent else None
    layer = exact.ExactLayer(w_ff=w_ff, w_rec=w_rec, tau_mem_s=_TAU_M, tau_syn_s=_TAU_S)
    net = exact.ExactNetwork(
        hidden=(layer,),
        out_w=rng.normal(0.0, cfg.out_std, (cfg.hidden, cfg.n_outputs)),
        out_tau_mem_s=_TAU_M,
        out_tau_syn_s=_TAU_S,
        out_bias=np.zeros(cfg.n_outputs),
    )
    n_grid = round(cfg.duration_ms)  # 1 ms grid
    p = cfg.rate_hz * 1e-3
    inputs = []
    for _ in range(cfg.batch):
        hit = rng.random((n_grid, cfg.n_inputs)) < p
        hit[0] = False  # nothing at t = 0 (a spike stamped 0 is delivered at once on every grid)
        steps, chans = np.nonzero(hit)
        inputs.append((steps.astype(np.float64) * 1e-3, chans.astype(np.int64)))
    labels = rng.integers(0, cfg.n_outputs, cfg.batch).astype(np.int64)
    return net, inputs, labels


def _gc_config(cfg: RegimeConfig, dt_ms: float) -> GradcheckConfig:
    return GradcheckConfig(
        hidden=(cfg.hidden,),
        recurrent=cfg.recurrent,
        loss=cfg.loss,
        dt_ms=dt_ms,
        n_inputs=cfg.n_inputs,
        n_outputs=cfg.n_outputs,
        duration_ms=cfg.duration_ms,
        batch=cfg.batch,
    )


def run_regime_check(cfg: RegimeConfig, dt_ms: tuple[float, ...] = (1.0, 0.5, 0.25, 0.1)) -> RegimeReport:
    """Verification at the training regime: the time-stepped EventProp gradient at each ``dt``
    against the exact gradient of the continuous-time loss (the exact-time adjoint on the
    event-driven float64 simulation, itself checked here against one central finite difference
    along ``-g*``: ``fd_check`` is their relative difference).

    Only voltage readouts (``avg``, ``exp``, ``linear``, ``sigmoid``) are supported.
    """
    if cfg.loss not in ("avg", "exp", "linear", "sigmoid"):
        raise ValueError(f"run_regime_check supports the voltage readouts avg/exp/linear/sigmoid, got {cfg.loss!r}")
    kind = LOSSES[cfg.loss][1]
    dur = cfg.duration_ms * 1e-3
    net, inputs, labels = _regime_case(cfg)
    base = _gc_config(cfg, 1.0)
    names = _engine_names(net)
    exact_g: dict[str, F64] = {}
    total_loss = 0.0
    n_spikes = 0
    for (times, chans), label in zip(inputs, labels, strict=True):
        trace = exact.simulate(net, times, chans, dur)
        n_spikes += int(sum(c.sum() for c in trace.spike_counts()[:-1]))
        z = exact.readout(trace, kind)
        loss, g_z = _loss_and_grad(base, z, int(label))
        total_loss += loss
        adj = exact.exact_adjoint_gradient(net, trace, g_z, kind)
        for k in names:
            exact_g[k] = exact_g.get(k, 0.0) + adj[k]

    def exact_loss(params: dict[str, F64]) -> float:
        moved = exact.replace_parameters(net, params)
        tot = 0.0
        for (times, chans), label in zip(inputs, labels, strict=True):
            z = exact.readout(exact.simulate(moved, times, chans, dur), kind)
            tot += _loss_and_grad(base, z, int(label))[0]
        return tot

    # one central difference along the exact hidden-weight gradient confirms the adjoint
    key = "hidden.0.w_ff"
    d = exact_g[key] / max(float(np.linalg.norm(exact_g[key])), 1e-300)
    h = 1e-5
    p0 = exact.network_parameters(net)
    plus = {**p0, key: p0[key] + h * d}
    minus = {**p0, key: p0[key] - h * d}
    fd = (exact_loss(plus) - exact_loss(minus)) / (2 * h)
    along = float(np.sum(exact_g[key] * d))
    fd_check = abs(fd - along) / max(abs(along), 1e-300)

    rows: list[RegimeRow] = []
    guard: dict[float, float] = {}
    for step in dt_ms:
        gcfg = _gc_config(cfg, step)
        snn = _engine(gcfg, net, None)
        out = snn(_bin_inputs(gcfg, inputs))
        CrossEntropy()(out.readout, torch.from_numpy(labels)).backward()  # type: ignore[no-untyped-call]
        spikes = sum(r.n_spikes for r in out.spikes)
        guard[step] = out.guard_hits / max(spikes, 1)
        params = dict(snn.named_parameters())
        for k, eng in names.items():
            grad = params[eng].grad
            g = grad.numpy() if grad is not None else np.zeros_like(exact_g[k])
            gs = exact_g[k]
            gn, sn = float(np.linalg.norm(g)), float(np.linalg.norm(gs))
            cos = float(np.sum(g * gs)) / max(gn * sn, 1e-300)
            own = g / max(gn, 1e-300)
            ratio = float(np.sum(g * own)) / float(np.sum(gs * own)) if gn > 0 else 0.0
            rows.append(RegimeRow(step, eng, cos, ratio, gn, sn))
    rate = n_spikes / (cfg.batch * cfg.hidden * dur)
    return RegimeReport(cfg, tuple(rows), guard, rate, fd_check)
