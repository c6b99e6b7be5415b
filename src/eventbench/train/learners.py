"""Learners: what the training loop needs from a model, for SNNs and conventional networks.

A learner runs a batch and returns a :class:`StepOutput` (the differentiable loss plus detached
predictions, spike counts and guard hits); the loop never looks inside the model. Predictions
are class indices ``[B]`` for classification and values ``[T, B, K]`` for regression.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eventbench.core import SNN, lift_silent
from eventbench.readout import Loss
from eventbench.readout.losses import check_compatible, predict

__all__ = [
    "ANNLearner",
    "Learner",
    "Objective",
    "SNNLearner",
    "StepOutput",
    "n_hidden_neurons",
    "sparse_input_pays",
    "trial_duration_s",
    "zero_counts",
]

Objective = Literal["classification", "regression"]


class StepOutput(NamedTuple):
    """Result of one batch.

    Attributes:
        loss: scalar loss (differentiable when gradients are enabled).
        prediction: class indices int64 ``[B]`` or regression values ``[T, B, K]`` (detached).
        layer_counts: per hidden spiking layer, spike counts summed over the batch, int64 ``[N]``
            (empty for conventional networks).
        guard_hits: EventProp guard hits of the batch (0 otherwise).
        sample_counts: per hidden spiking layer, spike counts per sample and neuron, int64
            ``[B, N]`` (empty for conventional networks); ``layer_counts`` is their sum over
            the batch. The training diagnostics compare them between epochs.
        crossings: threshold crossings recorded in the batch (hidden spikes plus spikes of a
            LIF output population): the denominator of the guard-hit fraction.
    """

    loss: Tensor
    prediction: Tensor
    layer_counts: tuple[Tensor, ...]
    guard_hits: int
    sample_counts: tuple[Tensor, ...] = ()
    crossings: int = 0


class Learner(Protocol):
    """A model plus its loss, as seen by the training loop."""

    objective: Objective

    @property
    def module(self) -> nn.Module:
        """The ``nn.Module`` holding the trainable parameters."""
        ...

    @property
    def sparse_input(self) -> bool:
        """Whether the loop should ask the splits for sparse COO batches (a speed preference:
        :meth:`step` accepts dense and sparse ``x`` alike)."""
        ...

    def step(self, x: Tensor, y: Tensor) -> StepOutput:
        """Run one batch ``x [T, B, N]`` against targets ``y``."""
        ...

    def end_epoch(self, epoch_counts: tuple[Tensor, ...]) -> int:
        """Hook after each training epoch (spike counts summed over the epoch); returns the
        number of neurons it changed (silent-neuron lift), 0 when it does nothing."""
        ...


def sparse_input_pays(net: SNN) -> bool:
    """True when ``net`` runs EventProp on the compiled CPU kernels (backend ``"auto"`` or
    ``"cpu-kernel"``, Numba installed, weights on the CPU), which read a sparse input's events
    directly; every other path expands a sparse input to a dense one."""
    from eventbench.eventprop import EventProp, kernels

    method = net.method
    if not isinstance(method, EventProp) or method.backend == "torch":
        return False
    return kernels.available() and net.readout_layer.w.device.type == "cpu"


@dataclass(eq=False)
class SNNLearner:
    """An :class:`~eventbench.core.SNN` with a loss.

    Attributes:
        net: the network (its gradient method decides EventProp or BPTT).
        loss: a loss compatible with the network's readout.
        objective: ``"classification"`` (int64 labels) or ``"regression"`` (``[T, B, K]``).
        lift_amount: silent-neuron lift added after each epoch to the input weights of hidden
            neurons that never fired in it (``None``: off).
        runner: module that runs the forward pass instead of ``net``, sharing its parameters
            (the ``DistributedDataParallel`` wrapper of data-parallel training,
            :mod:`eventbench.train.distributed`); ``None``: ``net`` itself.
    """

    net: SNN
    loss: Loss
    objective: Objective = "classification"
    lift_amount: float | None = None
    runner: nn.Module | None = None

    def __post_init__(self) -> None:
        check_compatible(self.loss, self.net.readout)

    @property
    def module(self) -> nn.Module:
        return self.net

    @property
    def sparse_input(self) -> bool:
        """Whether sparse COO batches are faster for this network: EventProp on the CPU kernels
        reads their events directly; other paths would expand them again."""
        return sparse_input_pays(self.net)

    def step(self, x: Tensor, y: Tensor) -> StepOutput:
        out = (self.net if self.runner is None else self.runner)(x)
        loss = self.loss(out.readout, y, out.fired)
        value = out.readout.detach()
        pred = predict(self.net.readout, value, out.fired) if self.objective == "classification" else value
        per_sample = tuple(r.counts() for r in out.spikes)
        counts = tuple(c.sum(dim=0) for c in per_sample)
        crossings = sum(r.n_spikes for r in out.spikes)
        if out.output_spikes is not None:
            crossings += out.output_spikes.n_spikes
        return StepOutput(loss, pred, counts, int(out.guard_hits), per_sample, crossings)

    def end_epoch(self, epoch_counts: tuple[Tensor, ...]) -> int:
        if self.lift_amount is None or not epoch_counts:
            return 0
        lifted = 0
        for layer, counts in zip(self.net.layers, epoch_counts, strict=True):
            w_ff = layer.w_ff
            assert isinstance(w_ff, Tensor)
            lifted += lift_silent(w_ff.data, counts, self.lift_amount)
        if lifted:
            self.net.apply_masks()
        return lifted


@dataclass(eq=False)
class ANNLearner:
    """A conventional network: cross-entropy on logits ``[B, C]`` (classification) or the MSE
    ``(1/2) mean (y_hat - y)^2`` on ``[T, B, K]`` (regression); ``runner`` as in
    :class:`SNNLearner`."""

    net: nn.Module
    objective: Objective = "classification"
    runner: nn.Module | None = None

    @property
    def module(self) -> nn.Module:
        return self.net

    @property
    def sparse_input(self) -> bool:
        return False

    def step(self, x: Tensor, y: Tensor) -> StepOutput:
        out: Tensor = (self.net if self.runner is None else self.runner)(x)
        if self.objective == "classification":
            loss = F.cross_entropy(out, y)
            pred = out.detach().argmax(dim=-1)
        else:
            if out.shape != y.shape:
                raise ValueError(
                    f"regression output {tuple(out.shape)} does not match targets {tuple(y.shape)}"
                )
            loss = 0.5 * ((out - y) ** 2).mean()
            pred = out.detach()
        return StepOutput(loss, pred, (), 0)

    def end_epoch(self, epoch_counts: tuple[Tensor, ...]) -> int:
        return 0


def n_hidden_neurons(learner: Learner) -> tuple[int, ...]:
    """Sizes of the hidden spiking layers (empty for conventional networks)."""
    net = learner.module
    if isinstance(net, SNN):
        return tuple(h.size for h in net.spec.hidden)
    return ()


def trial_duration_s(learner: Learner) -> float | None:
    """Trial length of a spiking network in seconds (``n_steps * dt_s``), ``None`` for
    conventional networks (the denominator of hidden rates in Hz)."""
    net = learner.module
    if isinstance(net, SNN):
        return float(net.spec.duration_s)
    return None


def zero_counts(learner: Learner) -> tuple[Tensor, ...]:
    """Zero spike-count accumulators, one int64 ``[N]`` per hidden spiking layer."""
    return tuple(torch.zeros(n, dtype=torch.int64) for n in n_hidden_neurons(learner))
