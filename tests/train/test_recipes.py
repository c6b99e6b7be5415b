"""Task recipes: registry, overrides (TOML and command line), availability, regression path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from eventbench.data import mackey_glass
from eventbench.tasks import TASKS, ConfigError, UnknownTaskError, get_task
from eventbench.tasks.config import apply_overrides, flatten, load_toml, to_toml
from eventbench.tasks.pipeline import benchmark, build, resolve_recipe, train_config


def test_registry_has_every_task_once() -> None:
    assert list(TASKS) == ["yinyang", "digits", "mnist", "shd", "ssc", "spoken-digits",
                           "mackey-glass", "nhp-reaching", "dvs-gesture", "gsc", "yinyang-delays",
                           "shd-delays", "ssc-delays"]
    for name, task in TASKS.items():
        assert task.name == name
        assert task.metrics and task.recipe_source
    with pytest.raises(UnknownTaskError, match="did you mean 'digits'"):
        get_task("digit")


@pytest.mark.parametrize("name", list(TASKS))
def test_recipe_toml_round_trip(name: str, tmp_path: Path) -> None:
    recipe = TASKS[name].recipe
    path = tmp_path / "r.toml"
    path.write_text(to_toml(recipe))
    again = apply_overrides(recipe, load_toml(path), source=str(path))
    assert again == recipe
    changed = apply_overrides(recipe, {"train.lr": 0.5, "network.hidden": [7, 3]}, source="t")
    assert changed.train.lr == 0.5 and changed.network.hidden == (7, 3)
    assert flatten(changed)["train.lr"] == 0.5


def test_published_hyperparameters_where_they_exist() -> None:
    shd = TASKS["shd"].recipe
    assert (shd.network.hidden, shd.network.recurrent, shd.network.readout) == ((256,), True, "exp")
    assert (shd.train.lr, shd.train.batch_size, shd.train.ease_in, shd.train.plateau_halving) == (
        1e-3, 32, True, True)
    assert (shd.train.reg_nu, shd.train.reg_lambda_upper, shd.train.lift_silent) == (14.0, 5e-10, 0.002)
    assert shd.train.ce_weight == pytest.approx(1 / 20)
    assert (shd.data.dt_ms, shd.data.duration_ms) == (1.0, 1000.0)
    mnist = TASKS["mnist"].recipe
    assert (mnist.network.hidden, mnist.network.readout, mnist.train.lr, mnist.train.epochs) == (
        (128,), "avg", 1e-2, 10)
    assert (mnist.data.dt_ms, mnist.data.duration_ms) == (1.0, 20.0)


def test_command_line_values_are_parsed_by_type() -> None:
    task = get_task("yinyang")
    r = resolve_recipe(
        task, None,
        ["train.lr=2e-3", "network.hidden=32,16", "train.ease_in=true", "train.reg_nu=none",
         "train.lift_silent=0.01", "data.max_train=10"],
        method="bptt", epochs=3,
    )
    assert (r.train.lr, r.network.hidden, r.train.ease_in) == (2e-3, (32, 16), True)
    assert r.train.reg_nu is None and r.train.lift_silent == 0.01 and r.data.max_train == 10
    assert (r.train.method, r.train.epochs) == ("bptt", 3)
    cfg = train_config(r)
    assert (cfg.epochs, cfg.schedule.lr, cfg.schedule.ease_in) == (3, 2e-3, True)
    ann = resolve_recipe(task, None, (), method="ann", epochs=4)
    assert train_config(ann).epochs == 4 and train_config(ann).schedule.lr == ann.baseline.lr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"train.lr": "fast"}, "t: train.lr must be float, got 'fast' (str)"),
        ({"train.epochs": 2.5}, "t: train.epochs must be int, got 2.5 (float)"),
        ({"train.ease_in": 1}, "t: train.ease_in must be bool, got 1 (int)"),
        ({"network.readout": "mean"}, "t: network.readout must be one of 'max', 'avg'"),
        ({"train.lrate": 1.0}, "t: unknown setting 'train.lrate'"),
        ({"optim.lr": 1.0}, "t: unknown section 'optim'"),
        ({"lr": 1.0}, "t: setting 'lr' must look like section.name"),
    ],
)
def test_wrong_settings_give_one_line_errors(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        apply_overrides(get_task("yinyang").recipe, values, source="t")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_availability_follows_the_data_dir(tmp_path: Path) -> None:
    assert TASKS["yinyang"].availability(tmp_path).available
    assert not TASKS["shd"].availability(tmp_path).available
    assert "zenkelab" in TASKS["shd"].availability(tmp_path).note
    (tmp_path / "SHD").mkdir()
    for s in ("train", "test"):
        (tmp_path / "SHD" / f"shd_{s}.h5").write_bytes(b"")
    assert TASKS["shd"].availability(tmp_path).available
    assert not TASKS["mnist"].availability(tmp_path).available
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    assert TASKS["mnist"].availability(tmp_path).available


def test_mackey_glass_regression_path(tmp_path: Path) -> None:
    task = get_task("mackey-glass")
    recipe = resolve_recipe(
        task, None,
        ["data.source=generate", "data.duration_ms=20", "data.stride=50", "network.hidden=8",
         "train.threads=1", "data.window=1"],
        epochs=1,
    )
    data = task.load(recipe, tmp_path)
    series = mackey_glass(17, tmp_path, source="generate")
    lo, hi = float(series.train.inputs.min()), float(series.train.inputs.max())
    assert data.objective == "regression" and data.n_inputs == 16 and data.n_steps == 20
    assert len(data.train) == len(range(0, 750 - 20 + 1, 50))
    assert len(data.test) == 750 // 20
    x, y = data.train.batch(torch.arange(3))
    assert tuple(x.shape) == (20, 3, 16) and tuple(y.shape) == (20, 3, 1)
    # "interp" code: two graded channels summing to 1, from which the value is recovered
    assert torch.allclose(x.sum(dim=2), torch.ones(20, 3))
    assert int((x > 0).sum(dim=2).max()) <= 2
    decoded = lo + (x * torch.arange(16.0)).sum(dim=2) / 15 * (hi - lo)
    assert torch.allclose(decoded[:, 1], torch.tensor(series.train.inputs[50:70, 0], dtype=torch.float32), atol=1e-5)
    # the spiking network's readout of step n (which sees inputs < n) is trained on the
    # default target, the increment s_n - s_{n-1} in units of the training increments' std
    train_values = np.append(series.train.inputs[:, 0], series.train.targets[-1, 0])  # s_0..s_750
    sigma = float(np.std(np.diff(train_values)))
    assert torch.allclose(y[1:, 1, 0] * sigma, decoded[1:, 1] - decoded[:-1, 1], atol=1e-4)
    assert data.protocol == "NeuroBench 2.3.0 Mackey-Glass, autoregressive"
    built = build(recipe, data)
    result = benchmark(task, recipe, data, built, store=tmp_path / "s.sqlite")
    smape = result.metric("smape")
    assert smape is not None and 0.0 < smape <= 200.0
    assert result.tags["protocol"] == "autoregressive" and result.provenance.protocol == data.protocol
    assert "smape_test_windows" in result.metrics
    # graded input currents are multiplies: one MAC per non-zero input entry and synapse
    ops = result.metrics["synaptic_operations"]
    n_in = int((data.test.x != 0).sum().item())  # type: ignore[attr-defined]
    assert ops["effective_macs"] == pytest.approx(n_in * 8 / len(data.test))
    assert result.tags["loss"] == "mse" and result.samples == len(data.test)
    gru = build(dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, method="ann")), data)
    assert gru.kind == "ann" and gru.description["spec"]["per_step"] is True


def test_washout_and_least_squares_readout_settings_are_checked() -> None:
    mg, yy = get_task("mackey-glass"), get_task("yinyang")
    with pytest.raises(ConfigError, match=r"--set train\.washout_ms = 50\.0: must be in \[0, "
                                          r"data\.duration_ms = 50\.0\)"):
        resolve_recipe(mg, None, ["train.washout_ms=50"])
    with pytest.raises(ConfigError, match=r"train\.readout_init = 'least-squares': a least-squares "
                                          r"readout needs train\.loss = 'mse' \(a voltage trace\), "
                                          r"got 'ce'"):
        resolve_recipe(yy, None, ["train.readout_init=least-squares"])
    # the GRU baseline of the same recipe ignores it
    assert resolve_recipe(mg, None, [], method="ann").train.readout_init == "least-squares"
    with pytest.raises(ConfigError, match=r"train\.readout_init must be one of"):
        resolve_recipe(mg, None, ["train.readout_init=lsq"])
    with pytest.raises(ConfigError, match=r"train\.readout_ridge = -1\.0: must be >= 0"):
        resolve_recipe(mg, None, ["train.readout_ridge=-1"])


def test_freeze_hidden_trains_only_the_readout(tmp_path: Path) -> None:
    from eventbench.tasks.pipeline import train

    task = get_task("yinyang")
    sets = ["train.freeze_hidden=true", "data.max_train=64", "data.max_eval=32", "train.threads=1"]
    recipe = resolve_recipe(task, None, sets, epochs=1)
    data = task.load(recipe, tmp_path)
    initial = build(recipe, data).module.state_dict()
    trained, _ = train(task, recipe, data, tmp_path / "run")
    after = trained.module.state_dict()
    assert all(not p.requires_grad for p in trained.module.layers.parameters())
    for k, v in initial.items():
        if k.startswith("layers."):
            assert torch.equal(after[k], v), k
    assert not torch.equal(after["readout_layer.w"], initial["readout_layer.w"])
