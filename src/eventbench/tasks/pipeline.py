"""From a task and a recipe to a trained model, a benchmark result and a report.

The CLI is a thin layer over these functions:

* :func:`resolve_recipe` — task defaults, then a TOML file, then ``--set`` assignments;
* :func:`build` — the network (SNN with EventProp or surrogate BPTT, or the conventional
  baseline) and its loss, as a :class:`~eventbench.train.learners.Learner`;
* :func:`train` — :func:`eventbench.train.fit` with checkpoints in a run folder;
* :func:`benchmark` — the benchmark harness on the test split, with training time per epoch and
  peak memory added to the result, stored in the results store;
* :func:`write_run_report` — ``report.md``, training curves, the training diagnostics (hidden
  rates, silent neurons, spikes created / deleted, guard hits, gradient norms per epoch), a
  hidden spike raster of one test sample, a hidden-rate histogram and accuracy vs synaptic
  operations.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from eventbench.bench.result import RunResult
from eventbench.core import (
    SNN,
    Delays,
    LayerSpec,
    LIFParams,
    NetworkSpec,
    Normal,
    RateRegulariser,
    SurrogateBPTT,
)
from eventbench.readout import (
    AvgVoltage,
    CrossEntropy,
    ExpWeightedVoltage,
    FirstSpikeCrossEntropy,
    FirstSpikeTime,
    LinearWeightedVoltage,
    Loss,
    MaxVoltage,
    PerStepCrossEntropy,
    Readout,
    RelativeSpikeTimeMSE,
    SigmoidWeightedVoltage,
    SumVoltage,
    VoltageMSE,
    VoltageTrace,
)
from eventbench.readout.losses import predict
from eventbench.tasks.base import TaskData, TaskSpec
from eventbench.tasks.config import (
    ConfigError,
    Recipe,
    apply_overrides,
    flatten,
    load_toml,
    parse_assignment,
    to_toml,
)
from eventbench.train.activity import HiddenActivity, load_activity, record_activity, save_activity
from eventbench.train.baselines import BaselineSpec, build_baseline
from eventbench.train.callbacks import Callback
from eventbench.train.checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    describe,
    load_checkpoint,
)
from eventbench.train.data import Split
from eventbench.train.device import module_device
from eventbench.train.diagnostics import LOW_RATE_HZ, SILENT_FRACTION, is_silent
from eventbench.train.learners import ANNLearner, Learner, SNNLearner
from eventbench.train.loop import BEST, LAST, History, StopRequest, TrainConfig, evaluate, fit
from eventbench.train.readout_fit import fit_readout
from eventbench.train.schedules import LRSchedule

__all__ = [
    "ACTIVITY",
    "Built",
    "apply_threads",
    "benchmark",
    "build",
    "load_trained",
    "model_name",
    "network_spec",
    "protocol_version",
    "resolve_recipe",
    "result_metrics",
    "score_name",
    "stored_recipe",
    "train",
    "train_config",
    "write_run_report",
]

log = logging.getLogger(__name__)

ACTIVITY = "activity.npz"
"""File in a run folder with the trained network's hidden activity on test samples (raster
of one sample and per-neuron rates, :class:`~eventbench.train.activity.HiddenActivity`)."""

#: test samples behind the rate histogram of the run report (one forward pass)
ACTIVITY_SAMPLES = 256

_READOUTS: dict[str, Readout] = {
    "max": MaxVoltage(),
    "avg": AvgVoltage(),
    "sum": SumVoltage(),
    "exp": ExpWeightedVoltage(),
    "linear": LinearWeightedVoltage(),
    "sigmoid": SigmoidWeightedVoltage(),
    "trace": VoltageTrace(),
    "first-spike": FirstSpikeTime(),
}


def resolve_recipe(
    task: TaskSpec,
    config_file: str | Path | None = None,
    assignments: Sequence[str] = (),
    stored: dict[str, Any] | None = None,
    **flags: Any,
) -> Recipe:
    """The task's default recipe with, in order, ``stored`` values (from a checkpoint), a TOML
    file, ``--set section.name=value`` assignments and explicit flags (``method``, ``loss``,
    ``epochs``, ``seed``; ``None`` values are ignored)."""
    recipe = task.recipe
    names: dict[str, str] = {}  # setting -> how the user set it, for error messages
    if stored:
        recipe = apply_overrides(recipe, stored, source="checkpoint recipe")
    if config_file is not None:
        values = load_toml(config_file)
        recipe = apply_overrides(recipe, values, source=str(config_file))
        names.update({k: f"{config_file}: {k}" for k in flatten_keys(values)})
    if assignments:
        pairs = dict(parse_assignment(a) for a in assignments)
        recipe = apply_overrides(recipe, pairs, source="--set", from_text=True)
        names.update({k: f"--set {k}" for k in pairs})
    mapping = {"method": "train.method", "loss": "train.loss", "epochs": "train.epochs",
               "seed": "train.seed"}
    explicit = {mapping[k]: v for k, v in flags.items() if v is not None and k in mapping}
    unknown = [k for k in flags if k not in mapping]
    if unknown:
        raise ConfigError(f"unknown recipe flag(s): {', '.join(unknown)}")
    if explicit:
        recipe = apply_overrides(recipe, explicit, source="command line")
    if recipe.train.method == "ann" and "epochs" in flags and flags["epochs"] is not None:
        recipe = dataclasses.replace(
            recipe, baseline=dataclasses.replace(recipe.baseline, epochs=flags["epochs"])
        )
    names.update({v: f"--{k}" for k, v in mapping.items() if k in flags and flags[k] is not None})
    if "train.epochs" in names:
        names["baseline.epochs"] = names["train.epochs"]
    check_recipe(recipe, names)
    try:
        task.protocol(recipe.data.protocol)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return recipe


def protocol_version(task: TaskSpec, recipe: Recipe) -> str | None:
    """The version string of the protocol the recipe selects (``data.protocol``, default the
    task's first), as results record it; ``None`` when the task declares no protocol."""
    p = task.protocol(recipe.data.protocol)
    return None if p is None else p.version


def flatten_keys(values: dict[str, Any]) -> list[str]:
    """Dotted keys of a TOML table ``{section: {name: value}}`` or of dotted pairs."""
    out = []
    for k, v in values.items():
        out += [f"{k}.{n}" for n in v] if isinstance(v, dict) else [k]
    return out


def recipe_problems(recipe: Recipe) -> list[tuple[str, str]]:
    """``(setting, what is wrong)`` for each value of the recipe outside its range (checked
    before any data is loaded or model built)."""
    d, t, b = recipe.data, recipe.train, recipe.baseline
    bad: list[tuple[str, str]] = []

    def need(ok: bool, key: str, value: Any, rule: str) -> None:
        if not ok:
            bad.append((key, f"{value!r}: {rule}"))

    need(math.isfinite(d.dt_ms) and d.dt_ms > 0, "data.dt_ms", d.dt_ms, "the time step must be > 0 ms")
    need(math.isfinite(d.duration_ms) and d.duration_ms >= d.dt_ms, "data.duration_ms",
         d.duration_ms, f"the trial must last at least one step (data.dt_ms = {d.dt_ms})")
    for key, v in (("data.max_train", d.max_train), ("data.max_eval", d.max_eval)):
        need(v is None or v >= 1, key, v, "needs at least 1 sample")
    need(t.epochs >= 1, "train.epochs", t.epochs, "needs at least 1 epoch")
    need(b.epochs >= 1, "baseline.epochs", b.epochs, "needs at least 1 epoch")
    for key, v in (("train.batch_size", t.batch_size), ("train.eval_batch_size", t.eval_batch_size),
                   ("baseline.batch_size", b.batch_size)):
        need(v >= 1, key, v, "needs at least 1 sample per batch")
    for key, f in (("train.lr", t.lr), ("baseline.lr", b.lr)):
        need(math.isfinite(f) and f > 0, key, f, "the learning rate must be > 0")
    need(0.0 <= t.input_drop < 1.0, "train.input_drop", t.input_drop, "must be in [0, 1)")
    need(math.isfinite(t.washout_ms) and 0.0 <= t.washout_ms < d.duration_ms, "train.washout_ms",
         t.washout_ms, f"must be in [0, data.duration_ms = {d.duration_ms})")
    need(t.readout_init in ("random", "least-squares"), "train.readout_init", t.readout_init,
         "must be 'random' or 'least-squares'")
    # (the conventional baseline, --method ann, has its own settings and ignores it)
    need(t.readout_init != "least-squares" or t.loss == "mse" or t.method == "ann",
         "train.readout_init", t.readout_init,
         f"a least-squares readout needs train.loss = 'mse' (a voltage trace), got {t.loss!r}")
    need(math.isfinite(t.readout_ridge) and t.readout_ridge >= 0, "train.readout_ridge",
         t.readout_ridge, "must be >= 0")
    need(all(h >= 1 for h in recipe.network.hidden), "network.hidden", list(recipe.network.hidden),
         "every hidden layer needs at least 1 neuron")
    return bad


def check_recipe(recipe: Recipe, names: dict[str, str] | None = None) -> None:
    """Raise :class:`ConfigError` for the first out-of-range value, naming it as the user set
    it (``names``: setting -> flag, e.g. ``{"train.epochs": "--epochs"}``; others are named
    ``--set <setting>``)."""
    names = names or {}
    problems = recipe_problems(recipe)
    if not problems:
        return
    ordered = sorted(problems, key=lambda p: p[0] not in names)  # the user's own settings first
    key, what = ordered[0]
    raise ConfigError(f"{names.get(key, '--set ' + key)} = {what}")


def _readout_for(recipe: Recipe) -> Readout:
    loss = recipe.train.loss
    if loss in ("first-spike", "relative-mse"):
        return FirstSpikeTime()
    if loss in ("per-step-ce", "mse"):
        return VoltageTrace()
    return _READOUTS[recipe.network.readout]


def washout_steps(recipe: Recipe) -> int:
    """``train.washout_ms`` in steps of ``data.dt_ms``."""
    return round(recipe.train.washout_ms / recipe.data.dt_ms)


def _loss_for(recipe: Recipe, duration_s: float) -> Loss:
    t = recipe.train
    washout = washout_steps(recipe)
    if t.loss == "ce":
        return CrossEntropy(weight=t.ce_weight)
    if t.loss == "per-step-ce":
        return PerStepCrossEntropy(weight=t.ce_weight, washout=washout)
    if t.loss == "mse":
        return VoltageMSE(weight=t.ce_weight, washout=washout)
    if t.loss == "first-spike":
        return FirstSpikeCrossEntropy(
            duration_s=duration_s, tau0=t.fs_tau0, alpha=t.fs_alpha,
            regulariser=t.fs_regulariser, tau1=t.fs_tau1,
        )
    return RelativeSpikeTimeMSE(delta=t.rmse_delta_ms)


def _delays(max_ms: float | None, init_ms: tuple[float, ...], key: str) -> Delays | None:
    """Learnable delays from the recipe's ``{key}_max_ms`` / ``{key}_init_ms`` (ms)."""
    if max_ms is None:
        return None
    if len(init_ms) != 2:
        raise ConfigError(f"{key}_init_ms needs two values (low, high) in ms, got {list(init_ms)}")
    try:
        return Delays(max_s=max_ms * 1e-3, init_low_s=init_ms[0] * 1e-3, init_high_s=init_ms[1] * 1e-3)
    except ValueError as exc:
        raise ConfigError(
            f"{key}_max_ms = {max_ms}, {key}_init_ms = {list(init_ms)}: need 0 <= low <= high <= max"
        ) from exc


def network_spec(recipe: Recipe, data: TaskData) -> NetworkSpec:
    """The :class:`~eventbench.core.NetworkSpec` of the recipe for the loaded data."""
    n = recipe.network
    neuron = LIFParams(
        tau_mem_s=n.tau_mem_ms * 1e-3, tau_syn_s=n.tau_syn_ms * 1e-3, threshold=n.threshold
    )
    out_kind = "lif" if _readout_for(recipe).needs_spiking_output else "li"
    hidden = tuple(
        LayerSpec(
            size,
            recurrent=n.recurrent,
            neuron=neuron,
            init_ff=Normal(n.init_ff_mean, n.init_ff_std),
            init_rec=Normal(n.init_rec_mean, n.init_rec_std),
            delay_ff=_delays(n.delay_ff_max_ms, n.delay_ff_init_ms, "network.delay_ff"),
            delay_rec=(
                _delays(n.delay_rec_max_ms, n.delay_rec_init_ms, "network.delay_rec")
                if n.recurrent
                else None
            ),
        )
        for size in n.hidden
    )
    return NetworkSpec(
        n_inputs=data.n_inputs,
        hidden=hidden,
        n_outputs=data.n_outputs,
        dt_s=data.dt_s,
        n_steps=data.n_steps,
        output=LIFParams(
            tau_mem_s=n.out_tau_mem_ms * 1e-3,
            tau_syn_s=n.out_tau_syn_ms * 1e-3,
            threshold=n.out_threshold,
        ),
        output_kind=out_kind,  # type: ignore[arg-type]
        output_bias=n.output_bias and out_kind == "li",
        init_out=Normal(n.init_out_mean, n.init_out_std),
        skip=n.skip,
    )


@dataclass(eq=False)
class Built:
    """A model ready to train or benchmark.

    Attributes:
        learner: the model and its loss.
        description: what checkpoints record and compare (architecture, not the method).
        kind: ``"snn"`` or ``"ann"``.
    """

    learner: Learner
    description: dict[str, Any]
    kind: str

    @property
    def module(self) -> nn.Module:
        """The network."""
        return self.learner.module


def build(recipe: Recipe, data: TaskData, device: torch.device | str | None = None) -> Built:
    """Build the recipe's model for ``data`` (weights seeded by ``train.seed``, drawn on the
    CPU so that a seed gives the same network on every device) and move it to ``device``
    (``None``: stay on the CPU)."""
    built = _build_cpu(recipe, data)
    if device is not None:
        built.module.to(device)
    return built


def _build_cpu(recipe: Recipe, data: TaskData) -> Built:
    t = recipe.train
    if t.method == "ann":
        b = recipe.baseline
        spec = BaselineSpec(
            kind=b.kind,
            n_inputs=data.n_inputs,
            n_steps=data.n_steps,
            hidden=b.hidden,
            n_outputs=data.n_outputs,
            per_step=data.objective == "regression",
        )
        net = build_baseline(spec, t.seed)
        return Built(ANNLearner(net, data.objective), {"kind": "ann", "spec": describe(spec)}, "ann")
    spec_snn = network_spec(recipe, data)
    readout = _readout_for(recipe)
    if t.method == "eventprop":
        from eventbench.eventprop import EventProp

        reg = (
            RateRegulariser(t.reg_nu, t.reg_lambda_upper, t.reg_lambda_lower)
            if t.reg_nu is not None
            else None
        )
        method: Any = EventProp(guard_eps=t.guard_eps, regulariser=reg)
    else:
        if t.reg_nu is not None:
            log.info("the rate regulariser is an EventProp pseudo-gradient; not used with BPTT")
        method = SurrogateBPTT(slope=t.bptt_slope)
        if readout.kind == "first_spike":
            raise ConfigError(
                f"loss {t.loss!r} needs first-spike times, which surrogate BPTT cannot "
                "differentiate; use --method eventprop"
            )
    net_snn = SNN(spec_snn, readout, method, seed=t.seed)
    if t.freeze_hidden:
        for layer in net_snn.layers:
            layer.requires_grad_(False)  # the optimiser takes only trainable parameters
    learner = SNNLearner(
        net_snn, _loss_for(recipe, spec_snn.duration_s), data.objective, t.lift_silent
    )
    desc = {"kind": "snn", "spec": _architecture(spec_snn), "readout": type(readout).__name__}
    return Built(learner, desc, "snn")


def _architecture(spec: NetworkSpec) -> dict[str, Any]:
    """The spec's description without the weight initialisations (which do not change what a
    checkpoint's weights mean)."""
    d: dict[str, Any] = describe(spec)
    d.pop("init_out", None)
    d.pop("init_skip", None)
    if not d.get("skip", False):
        d.pop("skip", None)  # a network without a skip is described as before the option
    for layer in d["hidden"]:
        layer.pop("init_ff", None)
        layer.pop("init_rec", None)
    return d


def apply_threads(recipe: Recipe) -> int:
    """Set torch's intra-op thread count (which the EventProp kernels follow) from
    ``train.threads``, or to every available core when it is unset; returns the count. The one
    place where a run's thread count is set."""
    import torch

    from eventbench.core.threads import default_threads

    n = recipe.train.threads
    if n is not None and n < 1:
        raise ConfigError(f"train.threads must be >= 1 (or unset for all cores), got {n}")
    count = default_threads() if n is None else n
    torch.set_num_threads(count)
    return count


def train_config(recipe: Recipe) -> TrainConfig:
    """The loop settings of the recipe (the baseline's own epochs, lr and batch size for
    ``method = ann``)."""
    t = recipe.train
    ann = t.method == "ann"
    b = recipe.baseline
    return TrainConfig(
        epochs=b.epochs if ann else t.epochs,
        batch_size=b.batch_size if ann else t.batch_size,
        eval_batch_size=t.eval_batch_size,
        seed=t.seed,
        schedule=LRSchedule(
            lr=b.lr if ann else t.lr,
            ease_in=t.ease_in,
            start_factor=t.ease_in_start,
            growth=t.ease_in_growth,
            max_ease_fraction=t.ease_in_max_fraction,
            plateau_halving=t.plateau_halving,
            min_epochs=t.plateau_min_epochs,
            decay=t.lr_decay,
        ),
        betas=(t.beta1, t.beta2),
        input_drop=t.input_drop,
        delay_lr=t.delay_lr_steps * recipe.data.dt_ms * 1e-3,
    )


def model_name(recipe: Recipe) -> str:
    """Name of the model in results: ``snn-eventprop``, ``snn-bptt``, ``mlp`` or ``gru``."""
    if recipe.train.method == "ann":
        return recipe.baseline.kind
    return f"snn-{recipe.train.method}"


def _checkpoint_extra(task: TaskSpec, recipe: Recipe) -> dict[str, Any]:
    return {"task": task.name, "recipe": _plain(flatten(recipe))}


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def train(
    task: TaskSpec,
    recipe: Recipe,
    data: TaskData,
    run_dir: Path,
    *,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    device: torch.device | str | None = None,
    stop: StopRequest | None = None,
    devices: int = 1,
) -> tuple[Built, History]:
    """Train the recipe's model on ``device`` (``None``: the CPU), writing ``recipe.toml``,
    ``last.pt``, ``best.pt`` and ``history.json`` in ``run_dir``, and for a spiking network
    :data:`ACTIVITY` (its hidden activity on the first test samples, for the report); the
    returned model holds the *best* weights.

    Raises:
        TrainingInterrupted: ``stop`` was set during training (``run_dir/last.pt`` holds the
            last finished epoch).

    ``devices > 1``: data-parallel training in that many new processes
    (:mod:`eventbench.train.distributed`: gloo on the CPU, NCCL with one GPU per process when
    ``device`` is CUDA; each process receives a copy of ``data``);
    ``train.batch_size`` stays the global minibatch, and ``callbacks`` are not called (the
    processes log their epochs).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "recipe.toml").write_text(
        f"# eventbench recipe for task {task.name!r}\n" + to_toml(recipe), encoding="utf-8"
    )
    if devices < 1:
        raise ConfigError(f"--devices must be >= 1, got {devices}")
    cuda = device is not None and torch.device(device).type == "cuda"
    if devices > 1 and cuda and torch.cuda.device_count() < devices:
        raise ConfigError(
            f"--devices {devices} --device {device}: one GPU per process is needed, "
            f"{torch.cuda.device_count()} visible"
        )
    built = build(recipe, data, device)
    if devices > 1:
        from eventbench.train.distributed import launch

        launch(_train_data_parallel, devices, task, recipe, data, run_dir, resume, cuda,
               backend="nccl" if cuda else "gloo")
        history = (History.from_dict(load_checkpoint(run_dir / LAST)["history"])
                   if (run_dir / LAST).is_file() else History())
    else:
        history = _fit(built, task, recipe, data, run_dir, resume, callbacks=callbacks, stop=stop)
    (run_dir / "history.json").write_text(json.dumps(history.to_dict(), indent=1), encoding="utf-8")
    if (run_dir / BEST).is_file():
        ck = load_checkpoint(run_dir / BEST, expected_model=built.description)
        built.module.load_state_dict(ck["model_state"])
    if isinstance(built.module, SNN) and len(data.test):
        n = min(ACTIVITY_SAMPLES, recipe.train.eval_batch_size)
        save_activity(record_activity(built.module, data.test, n_samples=n), run_dir / ACTIVITY)
    return built, history


def _train_data_parallel(
    dp: Any, task: TaskSpec, recipe: Recipe, data: TaskData, run_dir: Path, resume: bool,
    cuda: bool = False,
) -> None:
    """One process of :func:`train` with ``devices > 1`` (rank 0 writes the checkpoints; with
    ``cuda``, rank ``r`` trains on GPU ``r`` under NCCL)."""
    import logging as _logging

    _logging.basicConfig(level=_logging.INFO if dp.rank == 0 else _logging.WARNING,
                         format=f"%(levelname)s rank {dp.rank}: %(message)s")
    from eventbench.core.threads import default_threads

    total = recipe.train.threads if recipe.train.threads is not None else default_threads()
    torch.set_num_threads(max(1, total // dp.world))  # this process' share of the run's threads
    built = build(recipe, data, torch.device("cuda", dp.rank) if cuda else None)
    _fit(built, task, recipe, data, run_dir, resume, data_parallel=dp)


def init_readout(built: Built, recipe: Recipe, data: TaskData) -> None:
    """Apply ``train.readout_init`` to a freshly built spiking network: ``least-squares`` sets
    its readout weights to the fit of :func:`~eventbench.train.readout_fit.fit_readout` on the
    training split (``random`` and the ANN baseline: nothing to do)."""
    t = recipe.train
    if t.readout_init == "least-squares" and isinstance(built.module, SNN):
        fit_readout(built.module, data.train, washout=washout_steps(recipe),
                    ridge=t.readout_ridge, batch_size=t.eval_batch_size)


def _fit(built: Built, task: TaskSpec, recipe: Recipe, data: TaskData, run_dir: Path,
         resume: bool, **loop: Any) -> History:
    """:func:`~eventbench.train.loop.fit` of the built model on the task's splits with the
    recipe's loop settings, its checkpoints in ``run_dir`` (``loop``: callbacks, stop,
    data_parallel)."""
    if not (resume and (run_dir / LAST).is_file()):
        init_readout(built, recipe, data)
    return fit(
        built.learner,
        data.train,
        data.val,
        train_config(recipe),
        model_description=built.description,
        run_dir=run_dir,
        resume=resume,
        checkpoint_extra=_checkpoint_extra(task, recipe),
        **loop,
    )


def stored_recipe(path: str | Path) -> tuple[str | None, dict[str, Any]]:
    """``(task name, recipe values)`` saved in a checkpoint."""
    ck = load_checkpoint(path)
    return ck.get("task"), dict(ck.get("recipe") or {})


def load_trained(
    recipe: Recipe, data: TaskData, path: str | Path, device: torch.device | str | None = None
) -> Built:
    """Build the recipe's model on ``device`` and load weights from the checkpoint ``path``; a
    checkpoint of another network raises
    :class:`~eventbench.train.checkpoint.CheckpointMismatchError`."""
    built = build(recipe, data, device)
    ck = load_checkpoint(path, expected_model=built.description)
    try:
        built.module.load_state_dict(ck["model_state"])
    except RuntimeError as exc:  # same description, different tensors: a corrupted file
        first = str(exc).strip().splitlines()[0]
        raise CheckpointMismatchError(f"checkpoint {str(path)!r} does not fit: {first}") from exc
    return built


# ------------------------------------------------------------- NIR graphs (eventbench.nir)

_SPEC_TYPES: dict[str, type] = {
    "NetworkSpec": NetworkSpec, "LayerSpec": LayerSpec, "LIFParams": LIFParams, "Delays": Delays,
}


def _undescribe(d: Any) -> Any:
    """Inverse of :func:`~eventbench.train.checkpoint.describe` for the network spec types
    (fields a description leaves out, the weight initialisations, take their defaults)."""
    if isinstance(d, dict) and "__type__" in d:
        cls = _SPEC_TYPES[d["__type__"]]
        return cls(**{k: _undescribe(v) for k, v in d.items() if k != "__type__"})
    if isinstance(d, list):
        return tuple(_undescribe(v) for v in d)
    return d


def snn_from_checkpoint(path: str | Path) -> SNN:
    """The spiking network of a checkpoint written by ``train``/``run``, rebuilt from its stored
    description (no data needed); an ANN baseline's checkpoint raises ``ValueError``."""
    ck = load_checkpoint(path)
    desc = ck.get("model") or {}
    if desc.get("kind") != "snn":
        raise ValueError(
            f"checkpoint {str(path)!r} holds a {desc.get('kind', 'unknown')!r} model; only "
            "spiking networks can be exported to NIR"
        )
    try:
        spec = _undescribe(desc["spec"])
        readout = {type(r).__name__: r for r in _READOUTS.values()}[desc["readout"]]
        net = SNN(spec, readout)
        net.load_state_dict(ck["model_state"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} does not describe a network: {exc}") from exc
    return net


def load_nir(
    recipe: Recipe, data: TaskData, path: str | Path, *, spike_dt_s: float | None = None
) -> Built:
    """A model for ``data`` from the NIR file ``path`` (:func:`eventbench.nir.load` on the
    task's grid), with the recipe's readout, loss and gradient method, ready to benchmark or
    fine-tune. The graph must have the task's input and output sizes."""
    from eventbench.nir import load

    t = recipe.train
    if t.method == "ann":
        raise ConfigError("a NIR graph is a spiking network: use --method eventprop or bptt")
    readout = _readout_for(recipe)
    method: Any = SurrogateBPTT(slope=t.bptt_slope)
    if t.method == "eventprop":
        from eventbench.eventprop import EventProp

        method = EventProp(guard_eps=t.guard_eps)
    from eventbench.nir import NIRConversionError

    try:
        net = load(path, dt_s=data.dt_s, n_steps=data.n_steps, readout=readout, method=method,
                   spike_dt_s=spike_dt_s)
    except NIRConversionError as exc:
        hint = f" (the readout comes from train.loss = {t.loss!r})" if "readout" in str(exc) else ""
        raise ConfigError(f"NIR graph {str(path)!r}: {exc}{hint}") from exc
    s = net.spec
    if (s.n_inputs, s.n_outputs) != (data.n_inputs, data.n_outputs):
        raise ConfigError(
            f"NIR graph {str(path)!r} has {s.n_inputs} inputs and {s.n_outputs} outputs; the "
            f"task's data has {data.n_inputs} and {data.n_outputs}"
        )
    learner = SNNLearner(net, _loss_for(recipe, s.duration_s), data.objective, t.lift_silent)
    desc = {"kind": "snn", "spec": _architecture(s), "readout": type(readout).__name__}
    return Built(learner, desc, "snn")


def _batches(split: Split, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
    n = len(split)
    for start in range(0, n, batch_size):
        yield split.batch(torch.arange(start, min(n, start + batch_size)))


class _SplitLoader:
    """Re-iterable (x, y) batches of a split, for the benchmark harness."""

    def __init__(self, split: Split, batch_size: int) -> None:
        self.split = split
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return _batches(self.split, self.batch_size)

    def __len__(self) -> int:
        return math.ceil(len(self.split) / self.batch_size)


def benchmark(
    task: TaskSpec,
    recipe: Recipe,
    data: TaskData,
    built: Built,
    *,
    store: str | Path | None,
    history: History | None = None,
    tags: dict[str, str] | None = None,
    mode: str = "exact",
    name: str | None = None,
) -> RunResult:
    """Run the benchmark harness on the test split and store the result.

    Adds ``training`` metrics (epochs, mean seconds per epoch, peak memory in MiB, best
    validation score and epoch) when a ``history`` is given, and ``test_score`` from the
    training code's own evaluation as a cross-check of the harness' number. ``name``: the
    model's name in the results (default from the recipe, e.g. ``snn-eventprop``).
    """
    from eventbench.bench import NativeSNNModel, ResultStore, Task, TorchModel
    from eventbench.bench import run as bench_run

    split = data.test
    if built.kind == "snn":
        assert isinstance(built.module, SNN)
        net = built.module
        adapter: Any = NativeSNNModel(net, name=name or model_name(recipe))
        readout = net.readout

        def post(p: Tensor) -> Tensor:
            return predict(readout, p)
    else:
        event_layers = ("net.0",) if recipe.baseline.kind == "mlp" else ()
        adapter = TorchModel(built.module, name=model_name(recipe), event_layers=event_layers)

        def post(p: Tensor) -> Tensor:
            return p.argmax(dim=-1)

    posts = (post,) if data.objective == "classification" else ()
    bench_task = Task(
        name=task.name,
        data=_SplitLoader(split, recipe.train.eval_batch_size),
        metrics=result_metrics(task),
        postprocessors=posts,
        batch_dim=1,
        dataset_len=len(split),
        execution_rate_hz=task.execution_rate_hz,
        data_fingerprint=split.fingerprint(),
        protocol=protocol_version(task, recipe),
    )
    all_tags = {
        "method": recipe.train.method,
        "loss": recipe.train.loss if built.kind == "snn" else "ce" if data.objective == "classification" else "mse",
        "seed": str(recipe.train.seed),
        "data_origin": data.origin,
        **({"protocol": p.name} if (p := task.protocol(recipe.data.protocol)) else {}),
        **(tags or {}),
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = bench_run(bench_task, adapter, mode=mode, seed=recipe.train.seed, store=None, tags=all_tags,  # type: ignore[arg-type]
                           device=module_device(built.module))
    for w in caught:
        log.info("benchmark note: %s", w.message)
    extra: dict[str, Any] = {}
    details: dict[str, Any] = {}
    if history is not None and history.epochs:
        extra["training"] = {
            "epochs": len(history.epochs),
            "time_per_epoch_s": history.mean_epoch_time_s(),
            "peak_memory_mb": max(e.peak_memory_mb for e in history.epochs),
            "best_val_score": history.best_score,
            "best_epoch": None if history.best_epoch is None else history.best_epoch + 1,
            **_last_epoch_diagnostics(history),
        }
        if any(e.hidden or e.grad_norm for e in history.epochs):
            details["training_diagnostics"] = _diagnostics_series(history)
    ev = evaluate(built.learner, split, recipe.train.eval_batch_size)
    extra["test_score"] = ev.score
    if data.protocol_metrics is not None:
        # the protocol's own correctness metrics (e.g. an autoregressive forecast) replace the
        # harness' per-window values, which stay under "<name>_test_windows"
        built.module.eval()
        protocol_values = data.protocol_metrics(built.module)
        for k in protocol_values:
            if k in result.metrics:
                extra[f"{k}_test_windows"] = result.metrics[k]
        extra.update(protocol_values)
    result = dataclasses.replace(
        result, metrics={**result.metrics, **extra}, details={**result.details, **details}
    )
    if store is not None:
        ResultStore(store).add(result)
    return result


def _last_epoch_diagnostics(history: History) -> dict[str, Any]:
    """The last epoch's diagnostics as queryable numbers: ``hidden.<layer>.<key>``,
    ``guard_hits``, ``guard_fraction`` and ``grad_norm.<parameter>`` (under ``training.``)."""
    last = history.epochs[-1]
    out: dict[str, Any] = {"guard_hits": last.guard_hits, "guard_fraction": last.guard_fraction}
    if last.hidden:
        out["hidden"] = {
            str(d.layer): {
                "neurons": d.neurons,
                "rate_hz": d.rate_hz,
                "silent": d.silent,
                "silent_fraction": d.silent_fraction,
                "spikes_created": d.spikes_created,
                "spikes_deleted": d.spikes_deleted,
            }
            for d in last.hidden
        }
    if last.grad_norm:
        out["grad_norm"] = dict(last.grad_norm)
    return out


def _diagnostics_series(history: History) -> list[dict[str, Any]]:
    """Per-epoch diagnostics (epoch numbers from 1) for ``RunResult.details``."""
    return [
        {
            "epoch": e.epoch + 1,
            "hidden": [dataclasses.asdict(d) for d in e.hidden],
            "guard_hits": e.guard_hits,
            "guard_fraction": e.guard_fraction,
            "grad_norm": dict(e.grad_norm),
        }
        for e in history.epochs
    ]


def _has_validation(history: History | None) -> bool:
    """Whether the run had a validation split (its epochs have validation scores)."""
    return history is not None and any(e.val_score is not None for e in history.epochs)


def _plot_curves(history: History, path: Path, score_name: str) -> Path:
    from eventbench.train.plots import plot_curves

    return plot_curves(history, path, score_name)


def _silent_epochs(history: History) -> list[str]:
    """One line per hidden layer that went (almost) silent in some epoch (as warned in the log)."""
    lines = []
    layers = max((len(e.hidden) for e in history.epochs), default=0)
    for li in range(layers):
        bad = [e.epoch + 1 for e in history.epochs if li < len(e.hidden) and is_silent(e.hidden[li])]
        if bad:
            lines.append(
                f"- **warning**: hidden layer {li} was (almost) silent (> "
                f"{100 * SILENT_FRACTION:.0f} % silent neurons or < {LOW_RATE_HZ:g} Hz) in "
                f"{len(bad)} epoch(s), first in epoch {bad[0]}"
            )
    return lines


def _diagnostics_table(history: History) -> list[str]:
    """Markdown table of the first and last epochs' hidden-layer diagnostics, and their
    guard-hit fractions."""
    picks = [history.epochs[0]] if len(history.epochs) == 1 else [
        history.epochs[0], history.epochs[-1]]
    rows = [
        "| epoch | layer | rate (Hz) | silent neurons | spikes created | spikes deleted |",
        "|---|---|---|---|---|---|",
    ]

    def num(v: float | int | None, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    for e in picks:
        for d in e.hidden:
            rows.append(
                f"| {e.epoch + 1} | {d.layer} | {num(d.rate_hz, '.2f')} | {d.silent} / "
                f"{d.neurons} | {num(d.spikes_created, ',')} | {num(d.spikes_deleted, ',')} |"
            )
    guard = [
        f"epoch {e.epoch + 1}: {e.guard_hits:,} "
        f"({'n/a' if e.guard_fraction is None else format(100.0 * e.guard_fraction, '.3g')} %)"
        for e in picks
    ]
    rows += ["", "EventProp guard hits (share of threshold crossings): " + ", ".join(guard) + "."]
    return rows


def result_metrics(task: TaskSpec) -> tuple[str, ...]:
    """The task's metrics in results and reports: its own, plus ``r2`` for every regression
    task (the score training selects the best epoch by)."""
    extra = ("r2",) if task.objective == "regression" and "r2" not in task.metrics else ()
    return (*task.metrics, *extra)


def score_name(task: TaskSpec) -> str:
    """``accuracy`` for classification, ``R^2`` for regression (the training score)."""
    return "accuracy" if task.objective == "classification" else "R^2"


def write_run_report(
    run_dir: Path,
    task: TaskSpec,
    result: RunResult,
    history: History | None,
    store: str | Path | None,
    activity: HiddenActivity | None = None,
) -> Path:
    """Write ``report.md`` (tables) and the plots: ``curves.png`` (training curves),
    ``diagnostics.png`` (per-epoch hidden rate, silent neurons, spikes created / deleted,
    guard-hit fraction and gradient norms; spiking networks), ``raster.png`` and ``rates.png``
    (hidden spikes of one test sample, histogram of the hidden neurons' rates; from
    ``activity``, by default the run folder's :data:`ACTIVITY` when present) and
    ``tradeoff.png`` (the task's main metric vs synaptic operations, over every result of the
    task in the store). Plots are skipped with a note when matplotlib is missing."""
    from eventbench.bench import ResultStore, format_number, plot_tradeoff, to_csv, to_markdown

    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"# EventBench run: {task.name} / {result.model}", ""]
    lines.append(f"- run id: `{result.run_id}`")
    lines.append(f"- created: {result.provenance.created_utc}, device {result.provenance.device}")
    lines.append(f"- commit: {result.provenance.git_commit}")
    if result.provenance.protocol:
        lines.append(f"- protocol: {result.provenance.protocol}")
    lines.append(f"- tags: {', '.join(f'{k}={v}' for k, v in sorted(result.tags.items()))}")
    train_m = result.metrics.get("training")
    if isinstance(train_m, dict):
        sel = "validation" if _has_validation(history) else "training (no validation split)"
        lines.append(
            f"- training: {train_m['epochs']} epochs, {format_number(train_m['time_per_epoch_s'])} "
            f"s/epoch, peak memory {format_number(train_m['peak_memory_mb'])} MiB, best {sel} "
            f"{score_name(task)} {format_number(train_m['best_val_score'])} (epoch "
            f"{train_m['best_epoch']})"
        )
    scores = ", ".join(f"{k} {format_number(result.metric(k))}" for k in result_metrics(task))
    lines.append(f"- test set: {scores}")
    if task.objective == "regression":
        lines.append(
            "- R² definitions: r2 above is the benchmark's (mean over output x time-step "
            "columns); the training score pools time steps (test: "
            f"{format_number(result.metric('test_score'))})"
        )
    if history is not None and any(e.hidden for e in history.epochs):
        lines += ["", "## Training diagnostics", "", *_diagnostics_table(history)]
        warn = _silent_epochs(history)
        if warn:
            lines += ["", *warn]
    lines += ["", "## Test-set benchmark", "", to_markdown([result])]
    to_csv([result], run_dir / "result.csv")
    others: list[RunResult] = [result]
    if store is not None:
        others = ResultStore(store).list(task=task.name) or [result]
    plots: list[str] = []
    try:
        import matplotlib  # noqa: F401

        have_mpl = True
    except ImportError:
        have_mpl = False
    if activity is None and (run_dir / ACTIVITY).is_file():
        activity = load_activity(run_dir / ACTIVITY)
    if have_mpl:
        from eventbench.train.plots import plot_diagnostics, plot_raster, plot_rate_histogram

        if history is not None and history.epochs:
            _plot_curves(history, run_dir / "curves.png", score_name(task))
            plots.append("![training curves](curves.png)")
            if any(e.hidden for e in history.epochs):
                plot_diagnostics(history, run_dir / "diagnostics.png")
                plots.append("![training diagnostics per epoch](diagnostics.png)")
        if activity is not None:
            plot_raster(activity, run_dir / "raster.png")
            plot_rate_histogram(activity, run_dir / "rates.png")
            plots.append("![hidden spikes of one test sample](raster.png)")
            plots.append("![hidden-rate histogram](rates.png)")
        y = task.metrics[0]
        try:
            plot_tradeoff(others, run_dir / "tradeoff.png", y=y,
                          title=f"{task.name}: {y} vs synaptic operations per sample")
            plots.append(f"![{y} vs synaptic operations](tradeoff.png)")
        except ValueError as exc:
            log.info("no trade-off plot: %s", exc)
    else:
        plots.append("(plots need matplotlib: pip install 'eventbench[plot]')")
    lines += ["## Plots", "", *plots, ""]
    if len(others) > 1:
        lines += [f"## All results of {task.name} in the store", "", to_markdown(others)]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

