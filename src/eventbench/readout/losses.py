r"""Losses: compare a readout with a target. Each loss is an ordinary differentiable function of
the readout, so the engine's gradient is the exact gradient of the loss reported here.

Scalings (documented, explicit): the reference codes (mlGeNN, genn_eventprop) drive the adjoint of
voltage losses with an extra factor :math:`1/\tau_m` (in ms) relative to spike-time losses and the
rate regulariser. Where the balance with the regulariser matters, build the voltage losses with
``weight = time_unit_s / tau_mem_s`` (:meth:`CrossEntropy.reference_scaled`) so that published
``lambda_reg`` values carry over. Spike-time losses take their hyperparameters in
``time_unit_s`` (1 ms), like the reference codes.

Targets: class labels are int64 ``[B]``; regression targets are ``[T, B, n_out]``.

Threads: on the CPU every loss here runs its forward and backward pass on one torch thread
(:func:`_serial_on_cpu`): even a cross-entropy over ``[32, 20]`` starts an OpenMP parallel
region, which leaves torch's OpenMP threads spinning on the cores that the EventProp kernels use
next (:mod:`eventbench.core.threads`). The numbers are the same.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor

from eventbench.core.threads import serial_torch
from eventbench.readout.readouts import Readout

__all__ = [
    "CrossEntropy",
    "FirstSpikeCrossEntropy",
    "Loss",
    "PerStepCrossEntropy",
    "RelativeSpikeTimeMSE",
    "VoltageMSE",
    "check_compatible",
    "predict",
]


class Loss(Protocol):
    """A loss on a readout. ``readout_kinds`` lists the readout kinds it accepts."""

    @property
    def readout_kinds(self) -> tuple[str, ...]:
        """Readout kinds (``Readout.kind``) this loss accepts."""
        ...

    def __call__(self, value: Tensor, target: Tensor, fired: Tensor | None = None) -> Tensor:
        """Scalar loss of readout ``value`` against ``target``."""
        ...


_LossCall = TypeVar("_LossCall", bound=Callable[..., Tensor])


class _SerialLoss(torch.autograd.Function):
    """``fn(value)`` with its forward and its backward on one torch thread: the forward records
    the loss's own graph on a detached copy of ``value``, the backward differentiates it."""

    @staticmethod
    def forward(ctx: Any, fn: Callable[[Tensor], Tensor], value: Tensor) -> Tensor:
        with serial_torch(), torch.enable_grad():
            leaf = value.detach().requires_grad_(True)
            out = fn(leaf)
        ctx.graph = (leaf, out)
        return out.detach()

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[None, Tensor]:
        leaf, out = ctx.graph
        ctx.graph = None
        with serial_torch():
            (grad,) = torch.autograd.grad(out, leaf, g)
        return None, grad


def _serial_on_cpu(call: _LossCall) -> _LossCall:
    """Run a loss's ``__call__`` (and, through :class:`_SerialLoss`, its backward) on one torch
    thread when the readout is a CPU tensor (see the module docstring)."""

    @functools.wraps(call)
    def wrapper(self: Any, value: Tensor, target: Tensor, fired: Tensor | None = None) -> Tensor:
        if value.device.type != "cpu":
            return call(self, value, target, fired)
        if not (torch.is_grad_enabled() and value.requires_grad):
            with serial_torch():
                return call(self, value, target, fired)
        out: Tensor = _SerialLoss.apply(  # type: ignore[no-untyped-call]
            lambda v: call(self, v, target, fired), value
        )
        return out

    return cast(_LossCall, wrapper)


def check_compatible(loss: Loss, readout: Readout) -> None:
    """Raise ``ValueError`` naming both if ``loss`` cannot be used with ``readout``."""
    if readout.kind not in loss.readout_kinds:
        raise ValueError(
            f"loss {type(loss).__name__} cannot be used with readout {type(readout).__name__} "
            f"(it accepts readouts of kind {', '.join(loss.readout_kinds)})"
        )


def _check_labels(target: Tensor, n_classes: int) -> None:
    if target.dtype != torch.int64 or target.dim() != 1:
        raise ValueError(f"class targets must be int64 [B], got {target.dtype} {tuple(target.shape)}")
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= n_classes):
        raise ValueError(
            f"class labels must lie in [0, {n_classes - 1}], got range "
            f"[{int(target.min())}, {int(target.max())}]"
        )


@dataclass(frozen=True)
class CrossEntropy:
    r"""Softmax cross-entropy on a per-trial readout ``z [B, C]``:
    :math:`L = \frac{w}{N_b}\sum_b -\log \mathrm{softmax}(z_b)_{y_b}`."""

    weight: float = 1.0
    readout_kinds: tuple[str, ...] = ("weighted", "max")

    @classmethod
    def reference_scaled(cls, tau_mem_s: float, time_unit_s: float = 1e-3) -> CrossEntropy:
        """The reference codes' scaling ``weight = time_unit_s / tau_mem_s`` (1/20 for 20 ms)."""
        return cls(weight=time_unit_s / tau_mem_s)

    @_serial_on_cpu
    def __call__(self, value: Tensor, target: Tensor, fired: Tensor | None = None) -> Tensor:
        _check_labels(target, value.shape[-1])
        return self.weight * F.cross_entropy(value, target)


def _check_washout(washout: int) -> None:
    if washout < 0:
        raise ValueError(f"washout must be a non-negative number of steps, got {washout}")


def _scored(value: Tensor, washout: int) -> Tensor:
    """The steps ``n >= washout`` of a trace ``[T, B, K]`` (a washout as long as the trial is an
    error: nothing would be scored)."""
    if washout >= value.shape[0]:
        raise ValueError(
            f"washout of {washout} steps leaves nothing of a {value.shape[0]}-step trial to score"
        )
    return value[washout:]


@dataclass(frozen=True)
class PerStepCrossEntropy:
    r"""Cross-entropy at every output sample (readout ``VoltageTrace``, ``[T, B, C]``) after a
    washout of ``K`` steps:
    :math:`L = \frac{w}{N_b (N - K)}\sum_{n \ge K}\sum_b -\log \mathrm{softmax}(\bar V_n)_{y_b}`."""

    weight: float = 1.0
    washout: int = 0
    readout_kinds: tuple[str, ...] = ("trace",)

    def __post_init__(self) -> None:
        _check_washout(self.washout)

    @_serial_on_cpu
    def __call__(self, value: Tensor, target: Tensor, fired: Tensor | None = None) -> Tensor:
        value = _scored(value, self.washout)
        t_steps, batch, n_cls = value.shape
        _check_labels(target, n_cls)
        logp = F.log_softmax(value, dim=-1)
        picked = logp.gather(2, target.view(1, batch, 1).expand(t_steps, batch, 1))
        return -self.weight * picked.mean()


@dataclass(frozen=True)
class VoltageMSE:
    r"""Regression of the output voltage on a target trace ``y [T, B, n_out]`` after a washout
    of ``K`` steps (the steps in which a trial started from rest cannot yet know the past):
    :math:`L = \frac{w}{2 N_b (N - K)}\sum_{n \ge K}\sum_{b,k}(\bar V_{k,n} - y_{k,n})^2`."""

    weight: float = 1.0
    washout: int = 0
    readout_kinds: tuple[str, ...] = ("trace",)

    def __post_init__(self) -> None:
        _check_washout(self.washout)

    @_serial_on_cpu
    def __call__(self, value: Tensor, target: Tensor, fired: Tensor | None = None) -> Tensor:
        if target.shape != value.shape:
            raise ValueError(
                f"regression target shape {tuple(target.shape)} does not match the readout "
                f"{tuple(value.shape)} ([T, B, n_out])"
            )
        if not bool(torch.isfinite(target).all()):
            raise ValueError("regression target contains NaN or inf")
        value, target = _scored(value, self.washout), target[self.washout:]
        t_steps, batch, _ = value.shape
        return self.weight * 0.5 * ((value - target) ** 2).sum() / (batch * t_steps)


@dataclass(frozen=True)
class FirstSpikeCrossEntropy:
    r"""Cross-entropy on first-spike times plus a regulariser on the correct neuron's time.

    With times :math:`u = t/\text{time\_unit}`:
    :math:`L = \frac1{N_b}\sum_b\big[-\log\mathrm{softmax}(-u_b/\tau_0)_{y_b} + R(u_{b,y_b})\big]`,

    - ``regulariser="inverse"`` (mlGeNN): :math:`R(u) = \alpha/(1.01\,T_u - u)`;
    - ``regulariser="exp"`` (W&P): :math:`R(u) = \alpha\,(e^{u/\tau_1} - 1)`.

    Silent outputs read the trial end ``T`` (their phantom spike). Only the correct neuron's
    phantom carries a gradient (pushing it to fire); silent wrong neurons are held constant.
    Yin-Yang values of W&P: ``tau0=0.5``, ``tau1=6.4``, ``alpha=3e-3`` (ms).
    """

    duration_s: float
    tau0: float = 0.5
    alpha: float = 0.01
    regulariser: Literal["inverse", "exp"] = "inverse"
    tau1: float = 6.4
    time_unit_s: float = 1e-3
    readout_kinds: tuple[str, ...] = ("first_spike",)

    @_serial_on_cpu
    def __call__(self, value: Tensor, target: Tensor, fired: Tensor | None = None) -> Tensor:
        batch, n_cls = value.shape
        _check_labels(target, n_cls)
        if fired is None:
            raise ValueError("FirstSpikeCrossEntropy needs the 'fired' mask of the readout")
        is_label = F.one_hot(target, n_cls).bool()
        t = torch.where(fired | is_label, value, value.detach())
        u = t / self.time_unit_s
        ce = F.cross_entropy(-u / self.tau0, target, reduction="sum")
        u_y = u.gather(1, target.view(-1, 1)).squeeze(1)
        if self.regulariser == "inverse":
            t_u = self.duration_s / self.time_unit_s
            reg = self.alpha / (1.01 * t_u - u_y)
        elif self.regulariser == "exp":
            reg = self.alpha * (torch.exp(u_y / self.tau1) - 1.0)
        else:
            raise ValueError(f"unknown first-spike regulariser {self.regulariser!r}")
        return (ce + reg.sum()) / batch


@dataclass(frozen=True)
class RelativeSpikeTimeMSE:
    r"""Relative MSE on first-spike times (mlGeNN ``RelativeMeanSquareError``):
    :math:`L = \frac12\sum_b\sum_{k\ne y_b}(u_{b,y_b} + \delta - u_{b,k})^2` over pairs where both
    neurons fired; summed over the batch like the reference. Times in ``time_unit_s``."""

    delta: float = 1.0
    time_unit_s: float = 1e-3
    readout_kinds: tuple[str, ...] = ("first_spike",)

    @_serial_on_cpu
    def __call__(self, value: Tensor, target: Tensor, fired: Tensor | None = None) -> Tensor:
        _, n_cls = value.shape
        _check_labels(target, n_cls)
        if fired is None:
            raise ValueError("RelativeSpikeTimeMSE needs the 'fired' mask of the readout")
        u = value / self.time_unit_s
        u_y = u.gather(1, target.view(-1, 1))
        fired_y = fired.gather(1, target.view(-1, 1))
        other = ~F.one_hot(target, n_cls).bool()
        use = other & fired & fired_y
        diff = torch.where(use, u_y + self.delta - u, torch.zeros_like(u))
        return 0.5 * (diff**2).sum()


def predict(readout: Readout, value: Tensor, fired: Tensor | None = None) -> Tensor:
    """Predicted class per sample, int64 ``[B]``: arg-max of voltage readouts (of the time-mean
    for ``VoltageTrace``), arg-min of first-spike times (silent neurons read ``T``)."""
    if readout.kind == "first_spike":
        return value.argmin(dim=-1)
    if readout.kind == "trace":
        return value.mean(dim=0).argmax(dim=-1)
    return value.argmax(dim=-1)
