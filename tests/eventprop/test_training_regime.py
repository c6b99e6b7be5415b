"""Verification at the training regime (ladder step 7 of ``docs/verification``).

Tiny networks at small ``dt`` do not show what training sees. Two rungs here:

1. a scaled-down mean-driven network (100 weak Poisson inputs at 84 Hz, ``w ~ N(0.03, 0.01)``,
   10 neurons firing regularly at ~27 Hz) against the exact gradient of the continuous-time
   loss: the time-stepped gradient along its own direction is within 2x of the exact one at
   ``dt = 1 ms`` (it was ~10x with end-of-step ``I - V`` denominators and point-sampled
   readouts) and within 1.5x at ``0.25 ms`` (it converges slowly: cosine 0.88, 0.91, 0.95, 0.98
   at 1, 0.25, 0.1, 0.025 ms for the recurrent case);
2. the SHD recipe's network (700 inputs, 256 recurrent, 20 outputs, its initialisation, the
   exponentially weighted voltage readout) on speech-like input at ``dt = 1 ms``: a small step
   along ``-g`` lowers the time-stepped loss on every batch, and ``g`` agrees with the gradient
   at ``dt = 0.1 ms`` (same spikes re-binned). Before the fix both failed: ``-g`` went uphill
   and the cosine with the fine-``dt`` gradient was about -0.5.
"""

from __future__ import annotations

import gzip
import math
import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from eventbench import SNN, EventProp, LayerSpec, NetworkSpec
from eventbench.core.lif import LIFState, crossing_slope, step_mean
from eventbench.core.network import Normal
from eventbench.core.params import LIFParams, discretise
from eventbench.data.spoken_digits import load_spoken_digits
from eventbench.eventprop.gradcheck import RegimeConfig, run_regime_check
from eventbench.readout import CrossEntropy, ExpWeightedVoltage

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "spoken_digits_small"


def test_step_mean_is_the_exact_integral_of_the_step() -> None:
    for tm, ts in ((20e-3, 5e-3), (10e-3, 10e-3)):
        c = discretise(LIFParams(tau_mem_s=tm, tau_syn_s=ts), 1e-3)
        v0, i0, b = 0.3, 1.7, 0.2
        u = np.linspace(0.0, 1e-3, 200_001)
        if tm != ts:
            rho = ts / (tm - ts) * (np.exp(-u / tm) - np.exp(-u / ts))
        else:
            rho = u / tm * np.exp(-u / tm)
        v = np.exp(-u / tm) * v0 + rho * i0 + b * (1 - np.exp(-u / tm))
        exact = np.trapezoid(v, u) / 1e-3
        got = step_mean(
            LIFState(torch.tensor([v0], dtype=torch.float64), torch.tensor([i0], dtype=torch.float64)),
            c,
            torch.tensor([b], dtype=torch.float64),
        )
        assert got.item() == pytest.approx(exact, rel=1e-9)


def test_crossing_slope_matches_the_exact_crossing() -> None:
    """``I(t*) - threshold`` at the crossing within a 1 ms step, against a bisection on the
    exact trajectory; the end-of-step ``I - V`` is far off."""
    tm, ts = 20e-3, 5e-3
    c = discretise(LIFParams(tau_mem_s=tm, tau_syn_s=ts), 1e-3)
    v0 = torch.tensor([0.95, 0.90, 0.99], dtype=torch.float64)
    i0 = torch.tensor([3.00, 4.00, 1.50], dtype=torch.float64)

    def v_at(u: float, k: int) -> float:
        return math.exp(-u / tm) * float(v0[k]) + ts / (tm - ts) * (math.exp(-u / tm) - math.exp(-u / ts)) * float(i0[k])

    v1 = c.alpha * v0 + c.rho * i0
    assert bool((v1 >= 1.0).all())
    got = crossing_slope(v0, i0, v1, c)
    for k in range(3):
        lo, hi = 0.0, 1e-3
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if v_at(mid, k) < 1.0 else (lo, mid)
        exact = math.exp(-lo / ts) * float(i0[k]) - 1.0
        assert got[k].item() == pytest.approx(exact, rel=1e-2, abs=1e-3)
    end_of_step = c.beta * i0 - v1
    assert float((end_of_step - got).abs().max()) > 0.05  # what the old denominator got wrong


@pytest.mark.parametrize("recurrent", [False, True], ids=["feed-forward", "recurrent"])
def test_mean_driven_gradient_close_to_exact(recurrent: bool) -> None:
    reps = [run_regime_check(RegimeConfig(recurrent=recurrent, seed=s), (1.0, 0.25)) for s in range(6)]
    assert all(20.0 < r.hidden_rate_hz < 35.0 for r in reps)  # the mean-driven regime
    assert statistics.median(r.fd_check for r in reps) < 0.05  # exact adjoint == FD
    for name in {row.name for row in reps[0].rows if row.name.startswith("layers")}:
        for dt, bound in ((1.0, 2.0), (0.25, 1.5)):
            rows = [row for r in reps for row in r.rows if row.name == name and row.dt_ms == dt]
            ratio = statistics.median(row.ratio for row in rows)
            assert 1 / bound < ratio < bound, (name, dt, ratio)
            assert statistics.median(row.cosine for row in rows) > 0.6, (name, dt)
            assert all(row.cosine > 0 for row in rows), (name, dt)  # -g goes downhill
    assert statistics.mean(r.guard_fraction[1.0] for r in reps) < 0.02


def _speechlike(rng: np.random.Generator, batch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Onset-heavy tonotopic bursts: 4 drifting bands per sample, ~6,000 spikes over 1 s."""
    out = []
    for _ in range(batch):
        t, c = [], []
        onset, length = rng.uniform(50, 300), rng.uniform(400, 650)
        for _ in range(4):
            c0, drift = rng.uniform(50, 650), rng.uniform(-0.3, 0.3)
            tt = onset + rng.gamma(1.5, length / 3, rng.poisson(1600))
            tt = tt[tt < 999.0]
            cc = c0 + drift * (tt - onset) + rng.normal(0, 25, tt.size)
            keep = (cc >= 0) & (cc < 700)
            t.append(tt[keep] * 1e-3)
            c.append(cc[keep].astype(np.int64))
        out.append((np.concatenate(t), np.concatenate(c)))
    return out


def _bin(events: list[tuple[np.ndarray, np.ndarray]], dt_ms: float) -> torch.Tensor:
    n = round(1000 / dt_ms)
    x = torch.zeros(n, len(events), 700, dtype=torch.float64)
    for b, (t, c) in enumerate(events):
        x[np.minimum((t / (dt_ms * 1e-3)).astype(np.int64), n - 1), b, c] = 1.0
    return x


def _shd_net(dt_ms: float) -> SNN:
    spec = NetworkSpec(
        n_inputs=700,
        hidden=(LayerSpec(256, recurrent=True, init_ff=Normal(0.03, 0.01), init_rec=Normal(0.0, 0.02)),),
        n_outputs=20,
        dt_s=dt_ms * 1e-3,
        n_steps=round(1000 / dt_ms),
        init_out=Normal(0.0, 0.03),
    )
    torch.manual_seed(0)
    return SNN(spec, readout=ExpWeightedVoltage(), method=EventProp(), dtype=torch.float64)


def _spoken_digits(tmp_path: Path) -> list[tuple[list[tuple[np.ndarray, np.ndarray]], torch.Tensor]]:
    """Two batches of 4 real spoken digits (espeak-ng voices through the cochlea model) from
    the committed fixture."""
    out = tmp_path / "spoken-digits"
    out.mkdir()
    with gzip.open(FIXTURE / "shd_train.h5.gz", "rb") as src, open(out / "shd_train.h5", "wb") as dst:
        shutil.copyfileobj(src, dst)
    ds = load_spoken_digits(tmp_path, "train", t_stop_s=1.0)
    batches = []
    for idx in ((0, 11, 23, 37), (5, 16, 28, 33)):
        events = [(np.array(ds[i].times_s, np.float64), np.array(ds[i].channels, np.int64)) for i in idx]
        labels = ds.labels()
        batches.append((events, torch.tensor([int(labels[i]) for i in idx])))
    return batches


@pytest.mark.parametrize("source", ["speech-like", "spoken-digits"])
def test_shd_scale_gradient_descends_and_converges_in_dt(source: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    state = _shd_net(1.0).state_dict()
    hidden = ("layers.0.w_ff", "layers.0.w_rec")
    w_norm = math.sqrt(sum(float((state[k] ** 2).sum()) for k in hidden))
    if source == "spoken-digits":
        batches = _spoken_digits(tmp_path)
    else:
        batches = [(_speechlike(rng, 4), torch.from_numpy(rng.integers(0, 20, 4))) for _ in range(2)]
    for events, y in batches:
        grads = {}
        for dt in (1.0, 0.1):
            net = _shd_net(dt)
            net.load_state_dict(state)
            out = net(_bin(events, dt))
            CrossEntropy()(out.readout, y).backward()  # type: ignore[no-untyped-call]
            params = dict(net.named_parameters())
            grads[dt] = torch.cat([params[k].grad.flatten() for k in hidden])  # type: ignore[union-attr]
            if dt == 1.0:
                rate = sum(r.n_spikes for r in out.spikes) / (4 * 256 * 1.0)
                assert 10.0 < rate < 50.0  # the recipe's operating point
                assert out.guard_hits / sum(r.n_spikes for r in out.spikes) < 0.005
        g1, g01 = grads[1.0], grads[0.1]
        assert float(g1 @ g01 / (g1.norm() * g01.norm())) > 0.8
        # a small step along -g lowers the time-stepped loss that training sees
        x = _bin(events, 1.0)
        net = _shd_net(1.0)
        net.load_state_dict(state)
        with torch.no_grad():
            base = float(CrossEntropy()(net(x).readout, y))
            for eps in (1e-3, 1e-2):
                moved = {k: v.clone() for k, v in state.items()}
                off = 0
                for k in hidden:
                    n = moved[k].numel()
                    moved[k] -= eps * w_norm * (g1[off : off + n] / g1.norm()).view_as(moved[k])
                    off += n
                net.load_state_dict(moved)
                assert float(CrossEntropy()(net(x).readout, y)) < base
                net.load_state_dict(state)


def test_mackey_glass_recipe_gradients_at_its_operating_point(tmp_path: Path) -> None:
    """The Mackey-Glass recipe (128 graded input currents, 100 fast recurrent neurons, the
    input -> readout skip, washout 10 steps) at dt = 1 ms, at its random start and at the
    least-squares readout that training starts from: the compiled kernels' gradients equal the
    float64 torch path's, the hidden layer fires in its regime with few guarded crossings, and the
    readout weights' gradient is the directional derivative of the washed-out MSE. (The hidden weights'
    gradient at this operating point is measured by ``benchmarks/mackey_glass_gradient_dt.py``:
    it converges only slowly under dt refinement, see the README.)"""
    from eventbench.tasks import get_task
    from eventbench.tasks.pipeline import build, init_readout, resolve_recipe

    task = get_task("mackey-glass")
    recipe = resolve_recipe(task, None, ["data.source=generate", "train.threads=1"])
    data = task.load(recipe, tmp_path)
    built = build(recipe, data)
    net = built.module
    assert isinstance(net, SNN) and net.spec.skip
    loss_fn = built.learner.loss  # type: ignore[attr-defined]
    readout = ("readout_layer.w", "readout_layer.w_skip", "readout_layer.bias")
    x, y = data.train.batch(torch.arange(0, 16))
    x, y = x.double(), y.double()
    for fitted in (False, True):
        if fitted:
            init_readout(built, recipe, data)  # the recipe's least-squares readout
        state = {k: v.double() if v.is_floating_point() else v for k, v in net.state_dict().items()}
        grads = {}
        for backend in ("torch", "cpu-kernel"):
            ref = SNN(net.spec, net.readout, EventProp(backend=backend), dtype=torch.float64)  # type: ignore[arg-type]
            ref.load_state_dict(state)
            out = ref(x)
            loss_fn(out.readout, y).backward()
            grads[backend] = {k: p.grad.clone() for k, p in ref.named_parameters()}  # type: ignore[union-attr]
            n_spikes = out.spikes[0].n_spikes
            rate = n_spikes / (16 * 100 * net.spec.duration_s)
            assert 100.0 < rate < 400.0, rate  # measured 217 Hz
            assert out.guard_hits / n_spikes < 0.03  # measured 0.018
        for k, g in grads["torch"].items():
            assert float(g.abs().max()) > 0, k
            torch.testing.assert_close(grads["cpu-kernel"][k], g, rtol=1e-9, atol=1e-12, msg=k)
        g = torch.cat([grads["torch"][k].flatten() for k in readout])
        probe = SNN(net.spec, net.readout, EventProp(), dtype=torch.float64)  # type: ignore[arg-type]
        d = g / g.norm()

        def loss_at(step: float, probe: SNN = probe, state: dict = state,  # type: ignore[type-arg]
                    d: torch.Tensor = d) -> float:
            moved = dict(state)
            off = 0
            for k in readout:
                n = state[k].numel()
                moved[k] = state[k] + step * d[off:off + n].view_as(state[k])
                off += n
            probe.load_state_dict(moved)
            with torch.no_grad():
                return float(loss_fn(probe(x).readout, y))

        # the readout has no spike: the directional derivative along g is |g| (central
        # differences), and a small step along -g goes downhill
        h = 1e-6
        assert (loss_at(h) - loss_at(-h)) / (2 * h) == pytest.approx(float(g.norm()), rel=1e-5)
        assert loss_at(-1e-3 * float(g.norm())) < loss_at(0.0)
