"""Mackey-Glass sMAPE table: spiking networks (EventProp, BPTT), the GRU baseline and NeuroBench's
ESN and LSTM, on both protocols (autoregressive, one-step), next to the leaderboard.

Every model sees the same slice of the series (the canonical ``mg_<tau>.npy`` in the data
directory when present, else the regenerated series) and is scored by the same forecast
(:func:`eventbench.tasks.mackey_glass.forecast`, :func:`~eventbench.tasks.mackey_glass.forecast_smape`).
The spiking networks and the GRU are trained with the task's default recipe (``--set`` adds
recipe settings, e.g. ``--set train.epochs=100``); the ESN and the LSTM with NeuroBench's
published settings; ``mean`` and ``persistence`` are references that learn nothing
(persistence, the last value, is what an ``increment`` target's model forecasts when it outputs
0); ``linear-code`` is the ridge-regressed linear readout of the task's input code, without a
hidden layer (:func:`eventbench.tasks.mackey_glass_reference.linear_code_smape`: what the code
alone supports, with the recipe's data settings and ``--set``). One row per model, training seed (``--seeds``, the task's models only) and protocol: mean
sMAPE over the runs (``--taus`` x ``--repeats``; NeuroBench's sweep is ``--taus 17-30 --repeats
30``, its LSTM was tuned for tau 17 only), min / max, every run's value, and the mean wall time
per run (training plus both forecasts).

Usage: ``python benchmarks/mackey_glass_protocols.py [--taus 17] [--repeats 1] [--seeds 0]
[--models snn-eventprop,snn-bptt,gru,esn,lstm,linear-code,mean,persistence] [--data-dir DIR] [--set KEY=VALUE ...]``;
the ablations ``snn-eventprop-frozen`` (hidden weights not trained) and
``snn-eventprop-input-only`` (also no hidden -> readout connection) are opt-in models.
Wall times depend on the machine's load; report it with the numbers.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from eventbench.core import SNN
from eventbench.data import mackey_glass
from eventbench.tasks import get_task
from eventbench.tasks.base import TaskData
from eventbench.tasks.config import Recipe
from eventbench.tasks.mackey_glass import (
    FIRST_FORECAST,
    MackeyGlassData,
    forecast_smape,
    series_of,
)
from eventbench.tasks.mackey_glass_reference import (
    LEADERBOARD_SMAPE,
    linear_code_smape,
    reference_smape,
)
from eventbench.tasks.pipeline import (
    Built,
    build,
    init_readout,
    resolve_recipe,
    train,
    train_config,
)
from eventbench.train.checkpoint import load_checkpoint
from eventbench.train.loop import BEST, fit

METHODS = {"snn-eventprop": "eventprop", "snn-bptt": "bptt", "gru": "ann",
           "snn-eventprop-frozen": "eventprop", "snn-eventprop-input-only": "eventprop"}
#: ablations of the EventProp recipe: hidden weights left at their initialisation
#: (``train.freeze_hidden``); and also no hidden -> readout connection, so the readout sees the
#: input (through the skip) only
ABLATION_SETS = {"snn-eventprop-frozen": ["train.freeze_hidden=true"],
                 "snn-eventprop-input-only": ["train.freeze_hidden=true"]}
PROTOCOLS = ("autoregressive", "one-step")


def _taus(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(t) for t in text.split(",")]


TRIVIAL = ("mean", "persistence")


def trivial_smape(model: str, series: np.ndarray) -> dict[str, float]:
    """References that learn nothing: ``mean`` predicts the training half's mean, ``persistence``
    the last input (autoregressively: the true ``s_750`` for ever)."""
    y = series[FIRST_FORECAST:]
    if model == "mean":
        v = forecast_smape(np.full(len(y), series[:FIRST_FORECAST].mean()), y)
        return {p: v for p in PROTOCOLS}
    return {
        "autoregressive": forecast_smape(np.full(len(y), series[FIRST_FORECAST - 1]), y),
        "one-step": forecast_smape(series[FIRST_FORECAST - 1:-1], y),
    }


def task_model_smape(
    model: str, tau: int, repeat: int, data_dir: Path | None, sets: list[str], seed: int = 0
) -> dict[str, float]:
    """Train the task's ``model`` once (training seed ``seed``) and score both protocols."""
    task = get_task("mackey-glass")
    out: dict[str, float] = {}
    base = [*sets, f"data.tau={tau}", f"data.repeat={repeat}", f"train.method={METHODS[model]}",
            f"train.seed={seed}", *ABLATION_SETS.get(model, [])]
    recipe = resolve_recipe(task, None, base)
    # as `eventbench run` does: the thread count changes float sums, and a chaotic forecast
    # amplifies the difference
    torch.set_num_threads(max(1, recipe.train.threads))
    data = task.load(recipe, data_dir)
    if model == "snn-eventprop-input-only":
        built = _train_input_only(recipe, data)
    else:
        with tempfile.TemporaryDirectory() as d:
            built, _ = train(task, recipe, data, Path(d))
    built.module.eval()
    for protocol in PROTOCOLS:
        r = resolve_recipe(task, None, [*base, f"data.protocol={protocol}"])
        metrics = task.load(r, data_dir).protocol_metrics
        assert metrics is not None
        out[protocol] = metrics(built.module)["smape"]
    return out


def _train_input_only(recipe: Recipe, data: TaskData) -> Built:
    """The recipe's network with its hidden -> readout connections pruned (masks), trained as
    the pipeline trains it (least-squares readout if the recipe says so, then the loop, then
    the best epoch's weights)."""
    built = build(recipe, data)
    net = built.module
    assert isinstance(net, SNN)
    net.readout_layer.mask[:] = False
    net.apply_masks()
    init_readout(built, recipe, data)
    with tempfile.TemporaryDirectory() as d:
        fit(built.learner, data.train, data.val, train_config(recipe),
            model_description=built.description, run_dir=d)
        # the weights of the best epoch, as the pipeline's train returns them
        net.load_state_dict(load_checkpoint(Path(d) / BEST)["model_state"])
    return built


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--taus", default="17", help="17, 17,18 or 17-30")
    ap.add_argument("--repeats", type=int, default=1, help="NeuroBench offsets 0..repeats-1")
    ap.add_argument("--seeds", default="0", help="training seeds of the task's models, e.g. 0,1")
    ap.add_argument("--models",
                    default="snn-eventprop,snn-bptt,gru,esn,lstm,linear-code,mean,persistence")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--threads", type=int, default=1, help="for the ESN and the LSTM (the task's "
                    "models use their recipe's train.threads, as `eventbench run` does)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    models = args.models.split(",")
    seeds = [int(v) for v in args.seeds.split(",")]
    # (model, seed) -> protocol -> runs; the references (ESN, LSTM, mean, persistence) have
    # their own seeds (the repeat index) and are run once
    scores: dict[tuple[str, int | None], dict[str, list[float]]] = {}
    times: dict[tuple[str, int | None], list[float]] = {}
    origin = ""
    for tau in _taus(args.taus):
        for rep in range(args.repeats):
            sp = mackey_glass(tau, args.data_dir, repeat=rep)
            origin = sp.train.origin
            series = series_of(sp.train, sp.test)
            for m in models:
                for seed in seeds if m in METHODS else [None]:
                    t0 = time.perf_counter()
                    if seed is not None:
                        res = task_model_smape(m, tau, rep, args.data_dir, args.sets, seed)
                    elif m in TRIVIAL:
                        res = trivial_smape(m, series)
                    elif m == "linear-code":
                        cfg = resolve_recipe(get_task("mackey-glass"), None,
                                             [*args.sets, f"data.tau={tau}", f"data.repeat={rep}"])
                        assert isinstance(cfg.data, MackeyGlassData)
                        res = {p: linear_code_smape(series, cfg.data,
                                                    feedback=p == "autoregressive")
                               for p in PROTOCOLS}
                    else:
                        torch.set_num_threads(args.threads)
                        res = {p: reference_smape(m, series, tau, rep,
                                                  feedback=p == "autoregressive")
                               for p in PROTOCOLS}
                    times.setdefault((m, seed), []).append(time.perf_counter() - t0)
                    for p, v in res.items():
                        scores.setdefault((m, seed), {}).setdefault(p, []).append(v)
                    label = m if seed is None else f"{m} seed {seed}"
                    print(f"tau {tau} repeat {rep} {label}: " + ", ".join(
                        f"{p} {v:.2f}" for p, v in res.items()), flush=True)
    print(f"\nMackey-Glass sMAPE (%), taus {args.taus}, {args.repeats} repeat(s), series {origin}, "
          f"settings {args.sets or 'task defaults'}\n")
    print("| model | seed | protocol | sMAPE mean | min | max | runs | leaderboard | wall s / run |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (m, seed), by_protocol in scores.items():
        for p in PROTOCOLS:
            vals = by_protocol[p]
            lb = LEADERBOARD_SMAPE.get(m) if p == "autoregressive" else None
            runs = " / ".join(f"{x:.2f}" for x in vals)
            print(f"| {m} | {'' if seed is None else seed} | {p} | {statistics.fmean(vals):.2f} | "
                  f"{min(vals):.2f} | {max(vals):.2f} | {runs} | {'' if lb is None else lb} | "
                  f"{statistics.fmean(times[(m, seed)]):.0f} |")

if __name__ == "__main__":
    main()
