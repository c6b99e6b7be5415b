"""The training loop: learning, determinism, resume after an interruption, regression scores."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from eventbench.core import SNN, LayerSpec, NetworkSpec, Normal, SurrogateBPTT
from eventbench.data import EventSample, bin_samples
from eventbench.eventprop import EventProp, kernels
from eventbench.readout import CrossEntropy, MaxVoltage, VoltageMSE, VoltageTrace
from eventbench.train import (
    ANNLearner,
    BaselineSpec,
    Callback,
    LRSchedule,
    SNNLearner,
    TensorSplit,
    TrainConfig,
    build_baseline,
    evaluate,
    fit,
    load_checkpoint,
)
from eventbench.train.callbacks import BatchProgress
from eventbench.train.checkpoint import CheckpointMismatchError, describe
from eventbench.train.data import SPARSE_MIN_BINS, BinnedSplit
from eventbench.train.loop import StopRequest, TrainingInterrupted

T_STEPS = 20


def _toy(n: int, seed: int) -> TensorSplit:
    """Two classes: class c fires channel c early and channel 1-c late (plus jitter)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.zeros(T_STEPS, n, 4)
    early = torch.randint(1, 5, (n,), generator=g)
    late = torch.randint(10, 15, (n,), generator=g)
    idx = torch.arange(n)
    x[early, idx, y] = 1.0
    x[late, idx, 1 - y] = 1.0
    x[2, idx, 2] = 1.0  # bias channel
    return TensorSplit("toy", x, y)


def _snn(method: object = None, hidden: int = 12, seed: int = 0) -> SNN:
    spec = NetworkSpec(
        n_inputs=4, hidden=(LayerSpec(hidden, init_ff=Normal(3.0, 2.0)),), n_outputs=2,
        dt_s=1e-3, n_steps=T_STEPS,
    )
    return SNN(spec, MaxVoltage(), method or EventProp(), seed=seed)  # type: ignore[arg-type]


CFG = TrainConfig(epochs=3, batch_size=16, seed=3, schedule=LRSchedule(lr=2e-2))


def _desc(net: SNN) -> dict[str, object]:
    return {"spec": describe(net.spec)}


def test_eventprop_learns_the_toy_task_and_is_deterministic(tmp_path: Path) -> None:
    train, val = _toy(128, 0), _toy(64, 1)
    cfg = TrainConfig(epochs=6, batch_size=16, seed=3, schedule=LRSchedule(lr=2e-2))
    runs = []
    for k in range(2):
        net = _snn()
        learner = SNNLearner(net, CrossEntropy())
        before = evaluate(learner, val).score
        hist = fit(learner, train, val, cfg, model_description=_desc(net), run_dir=tmp_path / str(k))
        runs.append((net, hist, before))
    (net_a, hist_a, before), (net_b, hist_b, _) = runs
    assert len(hist_a.epochs) == 6
    assert hist_a.epochs[-1].train_loss < hist_a.epochs[0].train_loss
    assert hist_a.best_score is not None and hist_a.best_score >= 0.9 > before
    for pa, pb in zip(net_a.parameters(), net_b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    strip = [(e.train_loss, e.val_score, e.spike_rate, e.guard_hits) for e in hist_a.epochs]
    assert strip == [(e.train_loss, e.val_score, e.spike_rate, e.guard_hits) for e in hist_b.epochs]
    best = load_checkpoint(tmp_path / "0" / "best.pt", expected_model=_desc(net_a))
    assert best["epoch"] == hist_a.best_epoch
    assert best["score"] == hist_a.best_score


class _Interrupt(Callback):
    """Simulates a kill in the middle of epoch ``epoch`` (after ``batch`` minibatches)."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, progress: BatchProgress) -> None:
        if progress.epoch == self.epoch and progress.batch == self.batch:
            raise KeyboardInterrupt


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path: Path) -> None:
    train, val = _toy(96, 0), _toy(32, 1)
    net_ref = _snn()
    ref = fit(SNNLearner(net_ref, CrossEntropy()), train, val, CFG,
              model_description=_desc(net_ref), run_dir=tmp_path / "ref")

    net = _snn()
    with pytest.raises(KeyboardInterrupt):
        fit(SNNLearner(net, CrossEntropy()), train, val, CFG, model_description=_desc(net),
            run_dir=tmp_path / "run", callbacks=[_Interrupt(epoch=2, batch=3)])
    saved = load_checkpoint(tmp_path / "run" / "last.pt")
    assert saved["next_epoch"] == 2  # epochs 0 and 1 survived, epoch 2 is lost
    fresh = _snn(seed=99)  # different initial weights: everything must come from the checkpoint
    resumed = fit(SNNLearner(fresh, CrossEntropy()), train, val, CFG,
                  model_description=_desc(fresh), run_dir=tmp_path / "run", resume=True)
    for pa, pb in zip(net_ref.parameters(), fresh.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert [e.train_loss for e in resumed.epochs] == [e.train_loss for e in ref.epochs]
    assert [e.lr for e in resumed.epochs] == [e.lr for e in ref.epochs]
    assert resumed.best_epoch == ref.best_epoch
    # the diagnostics too: spikes created / deleted in the resumed epoch compare with the counts
    # of the epoch before the interruption, kept in last.pt
    assert resumed.epochs[2].hidden[0].spikes_created is not None
    assert [e.hidden for e in resumed.epochs] == [e.hidden for e in ref.epochs]
    assert [e.grad_norm for e in resumed.epochs] == [e.grad_norm for e in ref.epochs]


class _RequestStop(Callback):
    """Sets a stop request (as the CLI's signal handler does) after a given batch."""

    def __init__(self, stop: StopRequest, epoch: int, batch: int) -> None:
        self.stop, self.epoch, self.batch = stop, epoch, batch

    def on_batch_end(self, p: BatchProgress) -> None:
        if (p.epoch, p.batch) == (self.epoch, self.batch):
            self.stop.set("SIGINT")


@pytest.mark.parametrize("epoch", [0, 1])
def test_stop_request_ends_at_a_batch_boundary_and_resumes_exactly(tmp_path: Path, epoch: int) -> None:
    train, val = _toy(96, 0), _toy(32, 1)
    cfg = replace(CFG, epochs=2)
    net_ref = _snn()
    ref = fit(SNNLearner(net_ref, CrossEntropy()), train, val, cfg,
              model_description=_desc(net_ref), run_dir=tmp_path / "ref")
    net = _snn()
    stop = StopRequest()
    with pytest.raises(TrainingInterrupted) as info:
        fit(SNNLearner(net, CrossEntropy()), train, val, cfg, model_description=_desc(net),
            run_dir=tmp_path / "run", callbacks=[_RequestStop(stop, epoch, 1)], stop=stop)
    exc = info.value
    assert (exc.epoch, exc.batch, exc.completed, exc.reason) == (epoch, 2, epoch, "SIGINT")
    assert exc.checkpoint == tmp_path / "run" / "last.pt"
    # last.pt holds the state before the cut epoch (for epoch 0: the initial state)
    assert load_checkpoint(exc.checkpoint)["next_epoch"] == epoch
    fresh = _snn(seed=99)
    resumed = fit(SNNLearner(fresh, CrossEntropy()), train, val, cfg,
                  model_description=_desc(fresh), run_dir=tmp_path / "run", resume=True)
    for pa, pb in zip(net_ref.parameters(), fresh.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert [e.train_loss for e in resumed.epochs] == [e.train_loss for e in ref.epochs]


def test_resume_into_another_network_is_refused(tmp_path: Path) -> None:
    train = _toy(32, 0)
    net = _snn(hidden=12)
    cfg = TrainConfig(epochs=1, batch_size=16)
    fit(SNNLearner(net, CrossEntropy()), train, None, cfg, model_description=_desc(net),
        run_dir=tmp_path)
    other = _snn(hidden=7)
    with pytest.raises(CheckpointMismatchError, match=r"hidden\[0\].size = 12 in the checkpoint, 7"):
        fit(SNNLearner(other, CrossEntropy()), train, None, cfg, model_description=_desc(other),
            run_dir=tmp_path, resume=True)


def test_bptt_and_mlp_train_on_the_same_data() -> None:
    train, val = _toy(64, 0), _toy(32, 1)
    net = _snn(SurrogateBPTT())
    h_snn = fit(SNNLearner(net, CrossEntropy()), train, val, CFG, model_description=_desc(net))
    mlp = build_baseline(BaselineSpec("mlp", 4, T_STEPS, (16,), 2), seed=0)
    h_mlp = fit(ANNLearner(mlp), train, val, CFG, model_description={})
    assert h_snn.epochs[-1].train_loss < h_snn.epochs[0].train_loss
    assert h_mlp.best_score == 1.0
    assert h_mlp.epochs[0].spike_rate is None and h_snn.epochs[0].spike_rate is not None


def test_regression_score_is_r2() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(T_STEPS, 24, 4, generator=g)
    y = torch.rand(T_STEPS, 24, 2, generator=g)
    split = TensorSplit("reg", x, y)
    gru = build_baseline(BaselineSpec("gru", 4, T_STEPS, (8,), 2, per_step=True), seed=0)
    learner = ANNLearner(gru, "regression")
    ev = evaluate(learner, split, batch_size=10)
    with torch.no_grad():
        pred = gru(x).double().reshape(-1, 2)
    t = y.double().reshape(-1, 2)
    r2 = 1 - ((pred - t) ** 2).sum(0) / ((t - t.mean(0)) ** 2).sum(0)
    assert ev.score == pytest.approx(float(r2.mean()), rel=1e-9)
    assert ev.loss == pytest.approx(0.5 * float(((pred - t) ** 2).mean()), rel=1e-5)

    spec = NetworkSpec(n_inputs=4, hidden=(LayerSpec(6),), n_outputs=2, dt_s=1e-3, n_steps=T_STEPS,
                       output_bias=True)
    snn = SNN(spec, VoltageTrace(), seed=0)
    ev_snn = evaluate(SNNLearner(snn, VoltageMSE(), "regression"), split)
    assert math.isfinite(ev_snn.score) and ev_snn.score < 0.0  # untrained: worse than the mean


def test_silent_neuron_lift_and_input_drop() -> None:
    train = _toy(32, 0)
    spec = NetworkSpec(n_inputs=4, hidden=(LayerSpec(5, init_ff=Normal(-1.0, 0.01)),),
                       n_outputs=2, dt_s=1e-3, n_steps=T_STEPS)
    net = SNN(spec, MaxVoltage(), seed=0)
    w0 = net.layers[0].w_ff.detach().clone()  # type: ignore[union-attr]
    cfg = TrainConfig(epochs=1, batch_size=32, schedule=LRSchedule(lr=1e-12), input_drop=0.5)
    hist = fit(SNNLearner(net, CrossEntropy(), lift_amount=0.25), train, None, cfg,
               model_description={})
    assert hist.epochs[0].lifted == 5  # every neuron was silent
    assert hist.epochs[0].spike_rate == 0.0
    w1 = net.layers[0].w_ff.detach()  # type: ignore[union-attr]
    assert torch.allclose(w1 - w0, torch.full_like(w0, 0.25), atol=1e-6)


def _binned_toy(n: int, seed: int, t_steps: int = 200, n_in: int = 160) -> BinnedSplit:
    """A two-class task on a grid large enough (``t_steps x 32 x n_in`` bins per batch) for
    :class:`BinnedSplit` to deliver sparse batches on request."""
    g = np.random.default_rng(seed)
    samples = []
    for k in range(n):
        label = k % 2
        times = g.uniform(0, t_steps * 1e-3, 60)
        chans = g.integers(0, n_in // 2, 60) + label * (n_in // 2)
        samples.append(EventSample(times, chans, n_in, label))
    return BinnedSplit("binned-toy", bin_samples(samples, n_in, 1e-3, t_steps))


def test_learners_ask_for_sparse_batches_only_where_the_kernels_read_them() -> None:
    assert SNNLearner(_snn(), CrossEntropy()).sparse_input == kernels.available()
    assert not SNNLearner(_snn(EventProp(backend="torch")), CrossEntropy()).sparse_input
    assert not SNNLearner(_snn(SurrogateBPTT()), CrossEntropy()).sparse_input
    mlp = build_baseline(BaselineSpec("mlp", 4, T_STEPS, (8,), 2), seed=0)
    assert not ANNLearner(mlp).sparse_input
    split = _binned_toy(40, 0)
    idx = torch.arange(32)
    assert split.binned.n_steps * 32 * split.binned.n_channels >= SPARSE_MIN_BINS
    xs, ys = split.batch(idx, sparse=True)
    xd, yd = split.batch(idx)
    assert xs.is_sparse and not xd.is_sparse and torch.equal(ys, yd)
    assert torch.equal(xs.to_dense(), xd)
    assert not split.batch(torch.arange(4), sparse=True)[0].is_sparse  # small batch: dense
    assert not _toy(8, 0).batch(torch.arange(8), sparse=True)[0].is_sparse  # dense data


@pytest.mark.skipif(not kernels.available(), reason="needs numba")
def test_training_on_sparse_batches_equals_dense_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """EventProp's kernels read the same events from either layout: identical runs."""
    import eventbench.train.data as tdata

    train, val = _binned_toy(64, 0), _binned_toy(32, 1)
    cfg = TrainConfig(epochs=2, batch_size=32, seed=5, schedule=LRSchedule(lr=5e-3))
    runs = []
    for min_bins in (SPARSE_MIN_BINS, 10**12):  # sparse batches, then dense batches
        monkeypatch.setattr(tdata, "SPARSE_MIN_BINS", min_bins)
        hidden = LayerSpec(24, recurrent=True, init_ff=Normal(2.0, 1.0), init_rec=Normal(0.0, 0.2))
        spec = NetworkSpec(n_inputs=160, hidden=(hidden,), n_outputs=2, dt_s=1e-3, n_steps=200)
        net = SNN(spec, MaxVoltage(), EventProp(), seed=1)
        hist = fit(SNNLearner(net, CrossEntropy()), train, val, cfg, model_description={})
        runs.append((hist, [p.detach().clone() for p in net.parameters()]))
    (h_s, p_s), (h_d, p_d) = runs
    assert h_s.epochs[0].spike_rate > 0
    strip = [(e.train_loss, e.val_score, e.spike_rate) for e in h_s.epochs]
    assert strip == [(e.train_loss, e.val_score, e.spike_rate) for e in h_d.epochs]
    for a, b in zip(p_s, p_d, strict=True):
        assert torch.equal(a, b)


def test_input_drop_on_sparse_batches_keeps_the_layout() -> None:
    from eventbench.train.loop import _drop_inputs

    x = (torch.rand(50, 8, 30, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    xs = _drop_inputs(x.to_sparse(), 0.4, torch.Generator().manual_seed(1))
    assert xs.is_sparse
    kept = xs.to_dense()
    assert bool(((kept == 0) | (kept == x)).all())  # only drops, never changes a count
    frac = 1 - float(kept.sum()) / float(x.sum())
    assert 0.35 < frac < 0.45
