r"""Step-by-step (closed-loop) runs of trained models, for forecasts that feed a model's own
output back as its next input (NeuroBench's autoregressive Mackey-Glass protocol).

A :class:`Forecaster` holds a model's state between steps. Before input ``x_n`` is consumed,
:meth:`Forecaster.output` is the model's prediction from inputs ``x_0 .. x_{n-1}``:

* spiking network: the readout's mean voltage of step ``n``
  (:func:`eventbench.core.stepper.next_readout`), which the simulation makes independent of
  ``x_n`` (spikes reach the readout one step later);
* GRU baseline: ``head(h_{n-1})``, the per-step output after ``x_{n-1}``.

So a task trains a spiking network with target ``y_n = s_n`` and the GRU with ``y_n = s_{n+1}``
(:func:`output_lag`), and both forecast ``s_n`` from ``s_{<n}`` here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import torch
from torch import Tensor, nn

from eventbench.core import SNN
from eventbench.core.stepper import NetworkState, initial_state, network_step, next_readout
from eventbench.train.baselines import GRUBaseline

__all__ = [
    "Forecaster",
    "GRUForecaster",
    "SNNForecaster",
    "forecaster_for",
    "output_lag",
    "single_thread",
]


class Forecaster(Protocol):
    """A model run one step at a time (batch ``B``, inputs ``[B, N]``, outputs ``[B, K]``)."""

    def output(self) -> Tensor:
        """Prediction from the inputs consumed so far ``[B, K]``."""
        ...

    def advance(self, x: Tensor) -> None:
        """Consume the input ``x [B, N]`` of one step."""
        ...


class SNNForecaster:
    """A spiking network (no delays) stepped by :func:`~eventbench.core.stepper.network_step`."""

    def __init__(self, net: SNN, batch: int = 1) -> None:
        if net.has_delays:
            raise ValueError("closed-loop runs of networks with synaptic delays are not supported")
        if net.spec.output_kind != "li":
            raise ValueError("closed-loop runs need a leaky-integrator readout (a voltage output)")
        if len(net.spec.hidden) != 1:
            raise ValueError(
                f"network.hidden has {len(net.spec.hidden)} layers: a closed loop needs one hidden "
                "layer, so that a prediction is ready one step after its input"
            )
        self.tensors = net.tensors()
        self.state: NetworkState = initial_state(self.tensors, batch, self.tensors.w_out)

    def output(self) -> Tensor:
        return next_readout(self.tensors, self.state)

    def advance(self, x: Tensor) -> None:
        t = self.tensors
        x = x.to(t.w_ff[0].dtype)
        skip_cur = None if t.w_skip is None else x @ t.w_skip
        self.state = network_step(t, self.state, x @ t.w_ff[0], skip_cur=skip_cur).state


class GRUForecaster:
    """The GRU baseline stepped with its hidden state ``h [layers, B, H]``."""

    def __init__(self, net: GRUBaseline, batch: int = 1) -> None:
        if not net.spec.per_step:
            raise ValueError("closed-loop runs need the per-step (regression) GRU")
        self.net = net
        p = next(net.parameters())
        self.h = torch.zeros(len(net.spec.hidden), batch, net.spec.hidden[0], dtype=p.dtype)
        self.last: Tensor = net.head(self.h[-1])

    def output(self) -> Tensor:
        return self.last

    def advance(self, x: Tensor) -> None:
        out, self.h = self.net.gru(x.to(self.h.dtype).unsqueeze(0), self.h)
        self.last = self.net.head(out[0])


def forecaster_for(module: nn.Module, batch: int = 1) -> Forecaster:
    """The :class:`Forecaster` of a trained task model (spiking network or GRU baseline)."""
    if isinstance(module, SNN):
        return SNNForecaster(module, batch)
    if isinstance(module, GRUBaseline):
        return GRUForecaster(module, batch)
    raise ValueError(f"no closed-loop run for a {type(module).__name__}; use the SNN or the GRU")


def output_lag(is_snn: bool) -> int:
    """Steps between an input and the per-step output that first reflects it when training
    (spiking network with one hidden layer: 1, GRU: 0); targets are ``y_n = s_{n + 1 - lag}``."""
    return 1 if is_snn else 0


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch single-threaded inside the block: steps of one sample gain nothing from a
    thread pool, which on a busy machine makes every small operation wait for its threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
