"""Training diagnostics: spikes created / deleted, silent neurons, rates, gradient norms, guard
fraction, the silent-layer warning, best-epoch tie-break, bounded ease-in in the loop, plots."""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from eventbench.core import SNN, LayerSpec, NetworkSpec, Normal, SurrogateBPTT
from eventbench.readout import CrossEntropy, MaxVoltage
from eventbench.train import (
    ANNLearner,
    BaselineSpec,
    LRSchedule,
    SNNLearner,
    TensorSplit,
    TrainConfig,
    build_baseline,
    fit,
)
from eventbench.train.activity import load_activity, record_activity, save_activity
from eventbench.train.diagnostics import (
    LayerDiagnostics,
    SpikeCountTracker,
    is_silent,
    layer_diagnostics,
    spike_changes,
    warn_if_silent,
)
from eventbench.train.loop import EpochRecord, History

T_STEPS = 20
DT_S = 1e-3


def _toy(n: int, seed: int) -> TensorSplit:
    """Two classes: class c fires channel c early and channel 1-c late (plus a bias channel)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.zeros(T_STEPS, n, 4)
    idx = torch.arange(n)
    x[torch.randint(1, 5, (n,), generator=g), idx, y] = 1.0
    x[torch.randint(10, 15, (n,), generator=g), idx, 1 - y] = 1.0
    x[2, idx, 2] = 1.0
    return TensorSplit("toy", x, y)


def _net(sizes: tuple[int, ...] = (12, 6), ff_mean: float = 3.0, seed: int = 0) -> SNN:
    spec = NetworkSpec(
        n_inputs=4, hidden=tuple(LayerSpec(n, init_ff=Normal(ff_mean, 2.0)) for n in sizes),
        n_outputs=2, dt_s=DT_S, n_steps=T_STEPS,
    )
    return SNN(spec, MaxVoltage(), SurrogateBPTT(), seed=seed)


# ------------------------------------------------------------------------------- pure functions


def test_spike_changes_on_a_hand_made_case() -> None:
    prev = torch.tensor([[2, 0, 1], [0, 0, 5]])
    cur = torch.tensor([[0, 3, 1], [1, 0, 2]])
    # created: (0->3) 3 + (0->1) 1 = 4; deleted: (2->0) 2 + (5->2) 3 = 5
    assert spike_changes(prev, cur) == (4, 5)
    assert spike_changes(cur, cur) == (0, 0)
    with pytest.raises(ValueError, match="shape"):
        spike_changes(prev, cur[:1])


def test_tracker_compares_each_sample_with_itself_in_any_batch_order() -> None:
    tr = SpikeCountTracker(n_samples=3, sizes=(2,), max_count=20)
    assert tr.dtype == torch.int16
    tr.start_epoch()
    tr.add(torch.tensor([2, 0]), [torch.tensor([[4, 0], [1, 1]])])  # samples 2 and 0
    tr.add(torch.tensor([1]), [torch.tensor([[0, 3]])])
    assert tr.finish_epoch() == (None,)  # first epoch: nothing to compare
    tr.start_epoch()
    tr.add(torch.tensor([0, 1, 2]), [torch.tensor([[1, 2], [0, 0], [6, 0]])])
    # sample 0: [1,1] -> [1,2] (+1); sample 1: [0,3] -> [0,0] (-3); sample 2: [4,0] -> [6,0] (+2)
    assert tr.finish_epoch() == ((3, 3),)
    # the previous epoch survives a checkpoint round trip
    again = SpikeCountTracker(3, (2,), max_count=20)
    again.load_state_dict(copy.deepcopy(tr.state_dict()))
    again.start_epoch()
    again.add(torch.arange(3), [torch.tensor([[1, 2], [0, 0], [6, 1]])])
    assert again.finish_epoch() == ((1, 0),)
    # counts above int16 are kept in int32
    assert SpikeCountTracker(1, (1,), max_count=40_000).dtype == torch.int32


def test_layer_diagnostics_count_silent_neurons_and_rate_in_hz() -> None:
    counts = [torch.tensor([0, 5, 0, 3, 0]), torch.tensor([0, 0])]
    d0, d1 = layer_diagnostics(counts, n_samples=4, duration_s=0.02, changes=[(2, 1), None])
    assert (d0.spikes, d0.silent, d0.neurons) == (8, 3, 5)
    assert d0.rate_hz == pytest.approx(8 / (5 * 4 * 0.02))  # 20 Hz
    assert (d0.spikes_created, d0.spikes_deleted) == (2, 1)
    assert (d1.silent, d1.silent_fraction, d1.rate_hz) == (2, 1.0, 0.0)
    assert d1.spikes_created is None
    assert not is_silent(d0) and is_silent(d1)
    # low rate alone is enough: every neuron fires, but below 1 Hz
    assert is_silent(LayerDiagnostics(0, neurons=4, spikes=4, rate_hz=0.5, silent=0))


def test_silent_warning_names_the_layer_and_the_count(caplog: pytest.LogCaptureFixture) -> None:
    layers = (
        LayerDiagnostics(0, neurons=256, spikes=10_000, rate_hz=14.0, silent=3),
        LayerDiagnostics(1, neurons=256, spikes=40, rate_hz=0.09, silent=240),
    )
    with caplog.at_level(logging.WARNING, logger="eventbench.train.diagnostics"):
        assert warn_if_silent(layers, epoch=4) == [1]
    (rec,) = caplog.records
    assert "hidden layer 1" in rec.getMessage() and "240 of 256" in rec.getMessage()
    assert "epoch 5" in rec.getMessage() and "0.09 Hz" in rec.getMessage()


# -------------------------------------------------------------------------------- in the loop


def test_two_epochs_give_per_layer_diagnostics_that_add_up(tmp_path: Path) -> None:
    train, val = _toy(48, 0), _toy(16, 1)
    net = _net()
    cfg = TrainConfig(epochs=2, batch_size=16, seed=1, schedule=LRSchedule(lr=2e-2))
    hist = fit(SNNLearner(net, CrossEntropy()), train, val, cfg, model_description={})
    e0, e1 = hist.epochs
    for rec in (e0, e1):
        assert [d.layer for d in rec.hidden] == [0, 1]
        assert [d.neurons for d in rec.hidden] == [12, 6]
        spikes = sum(d.spikes for d in rec.hidden)
        assert spikes > 0
        # the only crossings are hidden spikes (leaky-integrator outputs)
        assert rec.guard_fraction == pytest.approx(rec.guard_hits / spikes)
        for d in rec.hidden:
            assert d.rate_hz == pytest.approx(d.spikes / (d.neurons * 48 * T_STEPS * DT_S))
        # the old per-layer-averaged spike rate (spikes per neuron per sample) agrees
        mean = sum(d.spikes / (d.neurons * 48) for d in rec.hidden) / 2
        assert rec.spike_rate == pytest.approx(mean)
        assert set(rec.grad_norm) == {"layers.0.w_ff", "layers.1.w_ff", "readout_layer.w"}
        assert all(v > 0 and math.isfinite(v) for v in rec.grad_norm.values())
    assert all(d.spikes_created is None and d.spikes_deleted is None for d in e0.hidden)
    for a, b in zip(e0.hidden, e1.hidden, strict=True):
        assert b.spikes_created is not None and b.spikes_deleted is not None
        # per sample and neuron, created - deleted sums to the change of the total
        assert b.spikes_created - b.spikes_deleted == b.spikes - a.spikes
    moved = [(d.spikes_created or 0) + (d.spikes_deleted or 0) for d in e1.hidden]
    assert sum(moved) > 0  # lr 2e-2 moves some spikes: the identity above is not 0 == 0
    # history.json round trip keeps every key
    again = History.from_dict(hist.to_dict())
    assert again == hist
    keys = set(hist.to_dict()["epochs"][1]["hidden"][0])
    assert keys == {"layer", "neurons", "spikes", "rate_hz", "silent", "spikes_created",
                    "spikes_deleted"}


def test_silent_count_matches_an_independent_pass_with_a_frozen_network() -> None:
    train = _toy(32, 0)
    net = _net(sizes=(10,), ff_mean=2.0)
    frozen_lr = LRSchedule(lr=1e-12)  # weights do not move: every epoch sees the same spikes
    hist = fit(SNNLearner(net, CrossEntropy()), train, None,
               TrainConfig(epochs=2, batch_size=8, schedule=frozen_lr), model_description={})
    with torch.no_grad():
        out = net(train.x)
    per_neuron = out.spikes[0].counts().sum(dim=0)
    d0, d1 = hist.epochs[0].hidden[0], hist.epochs[1].hidden[0]
    assert d0.silent == int((per_neuron == 0).sum()) == d1.silent
    assert 0 < d0.silent < 10  # the case is not trivial
    assert d0.spikes == int(per_neuron.sum())
    assert (d1.spikes_created, d1.spikes_deleted) == (0, 0)


def test_gradient_norm_is_that_of_the_batch_gradient() -> None:
    train = _toy(16, 0)
    net = _net(sizes=(8,))
    ref = copy.deepcopy(net)
    hist = fit(SNNLearner(net, CrossEntropy()), train, None,
               TrainConfig(epochs=1, batch_size=16, schedule=LRSchedule(lr=1e-2)),
               model_description={})
    learner = SNNLearner(ref, CrossEntropy())
    out = learner.step(*train.batch(torch.arange(16)))
    out.loss.backward()
    expected = {n: float(p.grad.norm()) for n, p in ref.named_parameters() if p.grad is not None}
    got = hist.epochs[0].grad_norm
    assert set(got) == set(expected)
    for k, v in expected.items():  # one step per epoch; the batch order differs only
        assert got[k] == pytest.approx(v, rel=1e-5)


def test_a_silent_layer_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    net = _net(sizes=(12,), ff_mean=0.0)
    with torch.no_grad():
        net.layers[0].w_ff.zero_()  # type: ignore[operator]
    with caplog.at_level(logging.WARNING, logger="eventbench.train.diagnostics"):
        hist = fit(SNNLearner(net, CrossEntropy()), _toy(16, 0), None,
                   TrainConfig(epochs=1, batch_size=16), model_description={})
    d = hist.epochs[0].hidden[0]
    assert (d.silent, d.spikes, d.rate_hz) == (12, 0, 0.0)
    assert hist.epochs[0].guard_fraction is None  # no crossings
    msgs = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("hidden layer 0" in m and "12 of 12" in m for m in msgs)


def test_conventional_networks_have_gradient_norms_but_no_hidden_diagnostics() -> None:
    mlp = build_baseline(BaselineSpec("mlp", 4, T_STEPS, (8,), 2), seed=0)
    hist = fit(ANNLearner(mlp), _toy(32, 0), None, TrainConfig(epochs=1, batch_size=16),
               model_description={})
    rec = hist.epochs[0]
    assert rec.hidden == () and rec.guard_fraction is None
    assert set(rec.grad_norm) == {n for n, _ in mlp.named_parameters()}


def test_tied_validation_scores_choose_the_lower_loss() -> None:
    # lr so small that no prediction flips: every epoch has the same validation accuracy, and
    # the validation (here = training) loss falls a little each epoch
    data = _toy(32, 0)
    mlp = build_baseline(BaselineSpec("mlp", 4, T_STEPS, (8,), 2), seed=0)
    hist = fit(ANNLearner(mlp), data, data,
               TrainConfig(epochs=3, batch_size=32, schedule=LRSchedule(lr=1e-4)),
               model_description={})
    scores = [e.val_score for e in hist.epochs]
    losses = [e.val_loss for e in hist.epochs]
    assert len(set(scores)) == 1
    assert losses[0] > losses[1] > losses[2]  # type: ignore[operator]
    assert hist.best_epoch == 2 and hist.best_loss == losses[2]


def test_old_history_without_diagnostics_still_loads() -> None:
    old = {
        "epochs": [{"epoch": 0, "lr": 1e-3, "train_loss": 0.5, "train_score": 0.7,
                    "val_loss": None, "val_score": None, "spike_rate": 1.0, "guard_hits": 0,
                    "lifted": 0, "time_s": 1.0, "peak_memory_mb": 10.0}],
        "best_epoch": 0,
        "best_score": 0.7,
    }
    h = History.from_dict(old)
    assert h.epochs[0].hidden == () and h.epochs[0].grad_norm == {} and h.best_loss is None


def test_ease_in_reaches_lr_within_the_bound_on_a_four_batch_epoch() -> None:
    mlp = build_baseline(BaselineSpec("mlp", 4, T_STEPS, (8,), 2), seed=0)
    sched = LRSchedule(lr=1e-3, ease_in=True, start_factor=1e-3, growth=1.05)  # SHD's ease-in
    cfg = TrainConfig(epochs=10, batch_size=16, schedule=sched)  # 64 samples: 4 batches/epoch
    hist = fit(ANNLearner(mlp), _toy(64, 0), None, cfg, model_description={})
    # 40 steps, ease-in at most 4: the 4th minibatch runs at 1e-3 * 1000^(-1/4), the 5th at lr
    assert hist.epochs[0].lr == pytest.approx(1e-3 * 1000 ** (-0.25))
    assert [e.lr for e in hist.epochs[1:]] == [1e-3] * 9


# -------------------------------------------------------------------------- activity and plots


def test_activity_raster_and_rates_round_trip(tmp_path: Path) -> None:
    net = _net(sizes=(12, 6))
    split = _toy(8, 3)
    act = record_activity(net, split, n_samples=8, sample=2)
    with torch.no_grad():
        out = net(split.x)
    for i, rec in enumerate(out.spikes):
        counts = rec.counts()
        assert act.steps[i].shape[0] == int(counts[2].sum())  # sample 2's spikes only
        assert np.all((act.steps[i] >= 1) & (act.steps[i] <= T_STEPS))
        expected = counts.sum(dim=0).double().numpy() / (8 * T_STEPS * DT_S)
        np.testing.assert_allclose(act.rates_hz[i], expected)
    assert act.label == int(split.y[2]) and act.prediction in (0, 1)
    back = load_activity(save_activity(act, tmp_path / "a.npz"))
    assert (back.sizes, back.sample, back.n_samples, back.label) == ((12, 6), 2, 8, act.label)
    for a, b in zip(act.neurons + act.rates_hz, back.neurons + back.rates_hz, strict=True):
        np.testing.assert_array_equal(a, b)


def _record(epoch: int, rate: float, silent: int, created: int | None) -> EpochRecord:
    layer = LayerDiagnostics(0, neurons=64, spikes=int(rate * 64 * 10), rate_hz=rate,
                             silent=silent, spikes_created=created,
                             spikes_deleted=None if created is None else 2 * created)
    return EpochRecord(epoch=epoch, lr=1e-3, train_loss=1.0 / (epoch + 1), train_score=0.5,
                       val_loss=None, val_score=None, spike_rate=rate, guard_hits=3, lifted=0,
                       time_s=1.0, peak_memory_mb=1.0, hidden=(layer,), guard_fraction=0.01,
                       grad_norm={"layers.0.w_ff": 1e-3, "readout_layer.w": 1e-1})


@pytest.mark.parametrize("n_epochs", [1, 4])
def test_plots_are_written(tmp_path: Path, n_epochs: int) -> None:
    pytest.importorskip("matplotlib")
    from eventbench.train.plots import (
        plot_curves,
        plot_diagnostics,
        plot_raster,
        plot_rate_histogram,
    )

    recs = tuple(_record(e, 30.0 - 9 * e, 10 * e, None if e == 0 else 100 * e)
                 for e in range(n_epochs))
    hist = History(epochs=recs, best_epoch=0, best_score=0.5)
    act = record_activity(_net(), _toy(8, 0), n_samples=8)
    paths = [
        plot_curves(hist, tmp_path / "curves.png", "accuracy"),
        plot_diagnostics(hist, tmp_path / "diagnostics.png"),
        plot_raster(act, tmp_path / "raster.png"),
        plot_rate_histogram(act, tmp_path / "rates.png"),
    ]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no hidden-layer diagnostics"):
        plot_diagnostics(History(epochs=(dataclasses.replace(recs[0], hidden=()),)), tmp_path / "x.png")
