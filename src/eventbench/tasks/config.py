"""Recipe settings (data, network, training, baseline) and their overrides.

A :class:`Recipe` is a tree of frozen dataclasses. Users override any leaf from a TOML file::

    [train]
    epochs = 5
    lr = 0.002

    [network]
    hidden = [64]

or on the command line with dotted keys (``--set train.epochs=5 --set network.hidden=64,32``).
Every value is checked against the field's declared type; a wrong one raises
:class:`ConfigError` with a one-line message naming the key, the expected type and the value.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "BaselineConfig",
    "ConfigError",
    "DataConfig",
    "NetworkConfig",
    "Recipe",
    "TrainSettings",
    "apply_overrides",
    "flatten",
    "load_toml",
    "parse_assignment",
    "to_toml",
]

Readout = Literal["max", "avg", "sum", "exp", "linear", "sigmoid", "trace", "first-spike"]
LossName = Literal["ce", "per-step-ce", "first-spike", "relative-mse", "mse"]
Method = Literal["eventprop", "bptt", "ann"]
ReadoutInit = Literal["random", "least-squares"]


class ConfigError(ValueError):
    """A setting has an unknown key or a value of the wrong type."""


@dataclass(frozen=True)
class DataConfig:
    """Data settings shared by all tasks (tasks subclass it to add their own).

    Attributes:
        dt_ms: simulation step (ms); input events are binned on this grid.
        duration_ms: trial length (ms); ``n_steps = round(duration_ms / dt_ms)``.
        bin_mode: ``"count"`` (events per bin) or ``"binary"``.
        max_train: use only the first ``max_train`` training samples (``None``: all); for quick
            runs and tests.
        max_eval: likewise for validation and test.
        protocol: evaluation protocol of the task (``""``: the task's default; see
            :attr:`eventbench.tasks.base.TaskSpec.protocols`).
    """

    dt_ms: float = 1.0
    duration_ms: float = 20.0
    bin_mode: Literal["count", "binary"] = "count"
    max_train: int | None = None
    max_eval: int | None = None
    protocol: str = ""

    @property
    def n_steps(self) -> int:
        """Steps per trial."""
        return max(1, round(self.duration_ms / self.dt_ms))


@dataclass(frozen=True)
class NetworkConfig:
    """The SNN (all times in ms; weight initialisations ``N(mean, std^2)``, ``std`` ``None``
    meaning ``1/sqrt(fan_in)``).

    Attributes:
        hidden: hidden layer sizes.
        recurrent: whether hidden layers are recurrent.
        tau_mem_ms, tau_syn_ms, threshold: hidden LIF parameters.
        out_tau_mem_ms, out_tau_syn_ms, out_threshold: readout neuron parameters (threshold
            used only for the spiking ``first-spike`` readout).
        readout: output readout; the losses ``first-spike`` / ``relative-mse`` use
            ``first-spike`` and ``per-step-ce`` / ``mse`` use ``trace`` whatever is set here.
        output_bias: trainable bias on leaky-integrator readouts.
        delay_ff_max_ms, delay_rec_max_ms: learnable per-connection delays of the feed-forward
            (input and between hidden layers) and the recurrent connections, with this maximum
            (ms; ``None``: no delays); initial delays ``U(*delay_ff_init_ms)`` /
            ``U(*delay_rec_init_ms)`` (ms).
        skip: an input -> readout skip connection beside the hidden layers, initially zero
            (:mod:`eventbench.core.skip`; leaky-integrator readouts with voltage readouts).
    """

    hidden: tuple[int, ...] = (100,)
    recurrent: bool = False
    tau_mem_ms: float = 20.0
    tau_syn_ms: float = 5.0
    threshold: float = 1.0
    out_tau_mem_ms: float = 20.0
    out_tau_syn_ms: float = 5.0
    out_threshold: float = 1.0
    readout: Readout = "max"
    output_bias: bool = False
    init_ff_mean: float = 0.0
    init_ff_std: float | None = None
    init_rec_mean: float = 0.0
    init_rec_std: float | None = 0.02
    init_out_mean: float = 0.0
    init_out_std: float | None = None
    delay_ff_max_ms: float | None = None
    delay_ff_init_ms: tuple[float, ...] = (0.0, 0.0)
    delay_rec_max_ms: float | None = None
    delay_rec_init_ms: tuple[float, ...] = (0.0, 0.0)
    skip: bool = False


@dataclass(frozen=True)
class TrainSettings:
    """Training settings (loss, optimiser, schedule, regularisation).

    Attributes:
        method: ``eventprop``, ``bptt`` (surrogate gradients) or ``ann`` (the conventional
            baseline, see :class:`BaselineConfig`).
        loss: ``ce`` (cross-entropy on a voltage readout), ``per-step-ce``, ``first-spike``
            (cross-entropy on first-spike times), ``relative-mse`` (first-spike times), ``mse``
            (regression on the voltage trace).
        ce_weight: weight of the voltage losses (the reference codes' scaling is
            ``1 / tau_mem_ms``).
        lr, beta1, beta2: Adam.
        ease_in: ease-in from ``ease_in_start * lr``, growing ``ease_in_growth`` per minibatch.
        ease_in_max_fraction: the ease-in takes at most this share of the run's minibatches
            (``epochs x batches per epoch``); a shorter run grows faster so that it still
            reaches ``lr`` in time (see :mod:`eventbench.train.schedules`); ``None``: unbounded.
        plateau_halving: halve the lr when the fast validation EMA falls to the slow one, at most
            once per ``plateau_min_epochs``.
        lr_decay: per-epoch multiplicative decay.
        reg_nu, reg_lambda_upper, reg_lambda_lower: firing-rate regulariser (EventProp only;
            ``reg_nu = None`` switches it off).
        lift_silent: silent-neuron weight lift per epoch (``None``: off).
        input_drop: probability of dropping input events while training.
        guard_eps: EventProp's lower bound on ``I - V``.
        bptt_slope: surrogate steepness for ``bptt``.
        fs_tau0, fs_alpha, fs_regulariser, fs_tau1: first-spike loss (ms units).
        rmse_delta_ms: target gap of the relative spike-time MSE.
        washout_ms: the per-step losses (``mse``, ``per-step-ce``) skip this much of the start
            of every trial (rounded to steps): there the network, started from rest, has not
            yet seen the past that the targets depend on.
        readout_init: ``random`` (``network.init_out_*``) or ``least-squares``: before the first
            epoch the readout weights (hidden -> readout, skip, bias) are set to the
            ridge-regression minimiser of the ``mse`` loss on the training split for the
            initial hidden layer (:mod:`eventbench.train.readout_fit`), then trained as usual.
        readout_ridge: the ridge penalty of that fit.
        freeze_hidden: the hidden layers keep their initial weights (and delays); only the
            readout (and the skip) learn, as in a reservoir (an ablation of hidden-layer
            learning).
        threads: CPU threads of the run (torch's intra-op threads, which the EventProp kernels
            also use); ``None`` (default): every core available to the process
            (:func:`eventbench.core.threads.default_threads`). Applied once, by
            :func:`~eventbench.tasks.pipeline.apply_threads`.
        delay_lr_steps: Adam learning rate of the synaptic delays, in time steps of ``dt`` per
            optimiser step (Mészáros et al. 2025: 0.1).
    """

    method: Method = "eventprop"
    loss: LossName = "ce"
    epochs: int = 20
    batch_size: int = 32
    eval_batch_size: int = 500
    seed: int = 0
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    ease_in: bool = False
    ease_in_start: float = 1e-3
    ease_in_growth: float = 1.05
    ease_in_max_fraction: float | None = 0.1
    plateau_halving: bool = False
    plateau_min_epochs: int = 50
    lr_decay: float = 1.0
    ce_weight: float = 1.0
    reg_nu: float | None = None
    reg_lambda_upper: float = 0.0
    reg_lambda_lower: float = 0.0
    lift_silent: float | None = None
    input_drop: float = 0.0
    guard_eps: float = 0.05
    bptt_slope: float = 10.0
    fs_tau0: float = 0.5
    fs_alpha: float = 0.01
    fs_regulariser: Literal["inverse", "exp"] = "inverse"
    fs_tau1: float = 6.4
    rmse_delta_ms: float = 1.0
    washout_ms: float = 0.0
    readout_init: ReadoutInit = "random"
    readout_ridge: float = 1e-3
    freeze_hidden: bool = False
    threads: int | None = None
    delay_lr_steps: float = 0.1


@dataclass(frozen=True)
class BaselineConfig:
    """The conventional baseline trained by ``--method ann``.

    Attributes:
        kind: ``mlp`` (flattened trial) or ``gru``.
        hidden: hidden sizes.
        epochs, lr, batch_size: its own training settings (the schedule, seed and evaluation
            batch size are shared with :class:`TrainSettings`).
    """

    kind: Literal["mlp", "gru"] = "mlp"
    hidden: tuple[int, ...] = (64,)
    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 32


@dataclass(frozen=True)
class Recipe:
    """Everything needed to train and benchmark one task."""

    data: DataConfig = field(default_factory=DataConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)


# ----------------------------------------------------------------------------- type checking


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        inner = _type_name(args[0]) if args else "value"
        return f"list of {inner}"
    if tp is type(None):
        return "none"
    return getattr(tp, "__name__", str(tp))


class _Bad(Exception):
    pass


def _coerce(tp: Any, value: Any, from_text: bool) -> Any:
    """Check (TOML) or parse (command-line text) ``value`` against type ``tp``."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value in choices:
            return value
        raise _Bad
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and (
            value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null"))
        ):
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, from_text)
            except _Bad:
                continue
        raise _Bad
    if origin is tuple:
        (inner, *_rest) = typing.get_args(tp)
        if from_text and isinstance(value, str):
            text = value.strip().strip("[]()")
            items: list[Any] = [v.strip() for v in text.split(",") if v.strip()]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        elif not from_text and isinstance(value, (int, float)) and not isinstance(value, bool):
            items = [value]
        else:
            raise _Bad
        return tuple(_coerce(inner, v, from_text) for v in items)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise _Bad
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_text and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise _Bad from None
        raise _Bad
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out = float(value)
        elif from_text and isinstance(value, str):
            try:
                out = float(value)
            except ValueError:
                raise _Bad from None
        else:
            raise _Bad
        if not math.isfinite(out):
            raise _Bad
        return out
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Bad
    raise _Bad


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=False)


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train.lr": 0.001, ...}`` for every leaf of a recipe (or a sub-config)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(v):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def apply_overrides(recipe: Recipe, values: dict[str, Any], *, source: str, from_text: bool = False) -> Recipe:
    """A copy of ``recipe`` with dotted ``values`` replaced.

    Args:
        recipe: the base recipe.
        values: ``{"section.key": value}``.
        source: where the values come from (named in error messages).
        from_text: values are command-line strings to be parsed (else typed TOML values).
    Raises:
        ConfigError: unknown key, or a value that does not fit the field's type.
    """
    sections: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        parts = key.split(".")
        if len(parts) != 2:
            raise ConfigError(f"{source}: setting {key!r} must look like section.name (e.g. train.lr)")
        sec, name = parts
        if sec not in {f.name for f in dataclasses.fields(recipe)}:
            names = ", ".join(f.name for f in dataclasses.fields(recipe))
            raise ConfigError(f"{source}: unknown section {sec!r} in {key!r} (sections: {names})")
        sub = getattr(recipe, sec)
        hints = _hints(type(sub))
        if name not in {f.name for f in dataclasses.fields(sub)}:
            raise ConfigError(
                f"{source}: unknown setting {key!r} (settings of [{sec}]: "
                f"{', '.join(f.name for f in dataclasses.fields(sub))})"
            )
        try:
            coerced = _coerce(hints[name], value, from_text)
        except _Bad:
            raise ConfigError(
                f"{source}: {key} must be {_type_name(hints[name])}, got {value!r}"
                f" ({type(value).__name__})"
            ) from None
        sections.setdefault(sec, {})[name] = coerced
    new = recipe
    for sec, changes in sections.items():
        try:
            new = dataclasses.replace(new, **{sec: dataclasses.replace(getattr(new, sec), **changes)})
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return new


def load_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML override file into dotted keys (``{"train.lr": 0.002}``)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        raise ConfigError("reading TOML config files needs Python >= 3.11") from None
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    out: dict[str, Any] = {}
    for sec, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{p}: top-level key {sec!r} must be a [section] table")
        for name, value in table.items():
            out[f"{sec}.{name}"] = value
    return out


def parse_assignment(text: str) -> tuple[str, str]:
    """Split ``"train.lr=0.01"`` into ``("train.lr", "0.01")``."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected section.name=value (e.g. train.lr=0.01)")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} to TOML")


def to_toml(recipe: Recipe) -> str:
    """The recipe as TOML (TOML has no null: ``None`` is written as the string ``"none"``, which
    :func:`apply_overrides` reads back as ``None``)."""
    lines: list[str] = []
    for f in dataclasses.fields(recipe):
        sub = getattr(recipe, f.name)
        lines.append(f"[{f.name}]")
        for g in dataclasses.fields(sub):
            v = getattr(sub, g.name)
            if v is None:
                lines.append(f'{g.name} = "none"')
            else:
                lines.append(f"{g.name} = {_toml_value(v)}")
        lines.append("")
    return "\n".join(lines)
