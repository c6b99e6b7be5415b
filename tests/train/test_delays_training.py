"""Learnable delays in the training loop: their own Adam group and learning rate, clamping to
``[0, max]``, checkpoints, and the delay recipes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from eventbench.core import SNN, Delays, LayerSpec, NetworkSpec, Normal
from eventbench.eventprop import EventProp
from eventbench.readout import CrossEntropy, ExpWeightedVoltage
from eventbench.tasks.config import ConfigError, apply_overrides
from eventbench.tasks.pipeline import network_spec, resolve_recipe, train_config
from eventbench.tasks.registry import get_task
from eventbench.train import LRSchedule, SNNLearner, TensorSplit, TrainConfig, fit
from eventbench.train.checkpoint import describe
from eventbench.train.loop import make_optimiser


def _net(seed: int = 0) -> SNN:
    spec = NetworkSpec(
        n_inputs=4,
        hidden=(LayerSpec(10, recurrent=True, init_ff=Normal(8.0, 3.0), delay_ff=Delays(max_s=5e-3, init_high_s=5e-3),
                          delay_rec=Delays(max_s=3e-3)),),
        n_outputs=2, dt_s=1e-3, n_steps=30,
    )
    return SNN(spec, ExpWeightedVoltage(), EventProp(), seed=seed)


def _data(n: int, seed: int) -> TensorSplit:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.zeros(30, n, 4)
    idx = torch.arange(n)
    x[torch.randint(1, 6, (n,), generator=g), idx, y] = 1.0
    x[torch.randint(12, 18, (n,), generator=g), idx, 1 - y] = 1.0
    x[2, idx, 2] = 1.0
    return TensorSplit("toy", x, y)


def test_delays_have_their_own_group_and_learning_rate() -> None:
    net = _net()
    opt = make_optimiser(net, TrainConfig(schedule=LRSchedule(lr=1e-2)))
    assert len(opt.param_groups) == 2
    weights, delays = opt.param_groups
    assert delays["delays"] and delays["lr"] == pytest.approx(1e-4)  # 0.1 steps of 1 ms
    assert {id(p) for p in delays["params"]} == {id(net.layers[0].d_ff), id(net.layers[0].d_rec)}
    assert weights["lr"] == 1e-2
    opt2 = make_optimiser(net, TrainConfig(delay_lr=3e-4))
    assert opt2.param_groups[1]["lr"] == pytest.approx(3e-4)


def test_fit_learns_delays_clamps_them_and_resumes(tmp_path: Path) -> None:
    net = _net()
    d0 = net.layers[0].d_ff.detach().clone()  # type: ignore[union-attr]
    cfg = TrainConfig(epochs=3, batch_size=16, schedule=LRSchedule(lr=1e-2), delay_lr=2e-3)
    fit(SNNLearner(net, CrossEntropy()), _data(64, 0), _data(32, 1), cfg, model_description={"spec": describe(net.spec)}, run_dir=tmp_path)
    d1 = net.layers[0].d_ff.detach()  # type: ignore[union-attr]
    assert float((d1 - d0).abs().max()) > 1e-4  # the delays moved (several steps of 1 ms)
    for d, top in ((d1, 5e-3), (net.layers[0].d_rec.detach(), 3e-3)):  # type: ignore[union-attr]
        assert float(d.min()) >= 0.0 and float(d.max()) <= top * (1 + 1e-6)  # float32 max_s
    ck = torch.load(tmp_path / "last.pt", weights_only=False)
    torch.testing.assert_close(ck["model_state"]["layers.0.d_ff"], d1)
    fresh = _net(seed=5)
    fresh.load_state_dict(ck["model_state"])
    x = _data(8, 2).x
    torch.testing.assert_close(fresh(x).readout, net(x).readout, rtol=0, atol=0)


def test_delay_recipes_build_with_the_paper_settings() -> None:
    shd = get_task("shd-delays").recipe
    assert shd.network.hidden == (512,) and shd.network.recurrent
    assert shd.network.delay_ff_init_ms == (0.0, 150.0) and shd.network.delay_rec_init_ms == (0.0, 0.0)
    assert shd.train.batch_size == 256 and shd.train.delay_lr_steps == 0.1
    assert train_config(shd).delay_lr == pytest.approx(1e-4)
    ssc = get_task("ssc-delays").recipe
    assert ssc.network.hidden == (1024, 1024) and ssc.network.delay_rec_max_ms is None
    yy = get_task("yinyang-delays")
    recipe = resolve_recipe(yy)
    data = yy.load(apply_overrides(recipe, {"data.max_train": 4, "data.max_eval": 4}, source="test"), None)
    spec = network_spec(recipe, data)
    assert spec.hidden[0].delay_ff is not None and spec.hidden[0].delay_ff.max_s == pytest.approx(10e-3)
    assert spec.output_kind == "lif"


def test_bad_delay_settings_name_the_setting() -> None:
    yy = get_task("yinyang-delays")
    recipe = apply_overrides(yy.recipe, {"network.delay_ff_init_ms": [0.0, 20.0]}, source="test")
    data = yy.load(apply_overrides(recipe, {"data.max_train": 4, "data.max_eval": 4}, source="test"), None)
    with pytest.raises(ConfigError, match=r"network\.delay_ff_max_ms = 10\.0"):
        network_spec(recipe, data)
