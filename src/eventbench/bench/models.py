"""Model protocol and adapters: what the harness needs from a model.

A model is benchmarked through a :class:`ModelAdapter`: a callable from a (pre-processed)
input batch to predictions, the ``torch.nn.Module`` behind it (for static metrics), and a
*counting session* that measures one batch at a time. Adapters:

* :class:`TorchModel` — any ``torch.nn.Module``; counts through forward hooks.
* :class:`SNNTorchModel` — snnTorch networks stepped over time (needs ``snntorch``).
* :class:`eventbench.bench.native.NativeSNNModel` — EventBench SNNs, counted from the
  recorded spikes (exact, no hooks).

A plain ``nn.Module`` passed to :func:`eventbench.bench.run` is wrapped in :class:`TorchModel`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from eventbench.bench._common import Mode
from eventbench.bench.collector import BatchCounts, Collector
from eventbench.bench.counting import CONNECTION_TYPES, Encoding
from eventbench.bench.metrics.static import connection_sparsity


@runtime_checkable
class CountSession(Protocol):
    """Measures a model batch by batch; a context manager around the evaluation loop."""

    unsupported: dict[str, str]

    def __enter__(self) -> CountSession: ...

    def __exit__(self, *exc: object) -> None: ...

    def end_batch(self, batch_size: int) -> BatchCounts:
        """Counts of the batch that has just run (exact integers)."""
        ...


class ModelAdapter(ABC):
    """What the runner needs from a model.

    Subclasses implement :meth:`__call__` (inputs -> predictions, before post-processing)
    and :meth:`network`; the defaults of the other methods suit hook-based counting.
    """

    name: str = "model"

    @abstractmethod
    def __call__(self, inputs: Any) -> Tensor:
        """Run the model on one (pre-processed) input batch."""

    @abstractmethod
    def network(self) -> nn.Module:
        """The module whose parameters and buffers are the model (static metrics)."""

    def prepare(self, device: torch.device | None) -> None:
        """Put the network in eval mode (and on ``device``) before a run."""
        net = self.network()
        if device is not None:
            net.to(device)
        net.eval()

    def counting_session(self, mode: Mode, needs: frozenset[str]) -> CountSession:
        """A hook-based :class:`~eventbench.bench.collector.Collector` (override to change)."""
        return Collector(
            self.network(),
            mode,
            activation_types=self.activation_types(),
            spiking_types=self.spiking_types(),
            encoding=self.encoding,
            ops="ops" in needs,
            activations="activations" in needs,
            membrane="membrane" in needs,
        )

    def activation_types(self) -> tuple[type[nn.Module], ...]:
        """Module classes whose outputs count as activations."""
        return (nn.ReLU, nn.Sigmoid)

    def spiking_types(self) -> tuple[type[nn.Module], ...]:
        """Module classes that are spiking neurons with a ``mem`` state."""
        return ()

    def encoding(self, name: str, module: nn.Module) -> Encoding:
        """Declared input encoding of a connection layer (``exact`` mode): MAC by default."""
        return "mac"

    def state_buffers(self) -> tuple[str, ...]:
        """Qualified names of buffers holding per-sample state (left out of the footprint)."""
        return ()

    def state_bytes_per_sample(self) -> int | None:
        """Bytes of per-sample neuron state (after a run), or None if not applicable."""
        return None

    def static_network(self) -> nn.Module:
        """Module on which static metrics are computed (default: :meth:`network`)."""
        return self.network()

    def connection_sparsity(self, mode: Mode) -> float | None:
        """Connection sparsity of the model (None: no connection found)."""
        return connection_sparsity(self.static_network(), mode)


class TorchModel(ModelAdapter):
    """Any ``torch.nn.Module``: predictions are ``net(inputs)``.

    Args:
        net: the network (put in eval mode by the runner).
        name: label used in results (default: the class name).
        activation_types: activation module classes (default ReLU, Sigmoid as NeuroBench);
            add e.g. ``nn.Tanh`` or a framework's neuron class.
        event_layers: qualified names of connection layers whose inputs are spike events;
            in ``exact`` mode they count ACs (one per event and non-zero weight), all others
            MACs.
        forward: optional callable ``(net, inputs) -> predictions`` replacing ``net(inputs)``.
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        name: str | None = None,
        activation_types: Sequence[type[nn.Module]] = (nn.ReLU, nn.Sigmoid),
        event_layers: Iterable[str] = (),
        forward: Callable[[nn.Module, Any], Tensor] | None = None,
    ) -> None:
        if not isinstance(net, nn.Module):
            raise TypeError(f"TorchModel needs a torch.nn.Module, got {type(net).__name__}")
        self.net = net
        self.name = name or type(net).__name__
        self._activation_types = tuple(activation_types)
        self.event_layers = frozenset(event_layers)
        self._forward = forward
        known = {n if n else "<root>" for n, _ in net.named_modules()}
        missing = self.event_layers - known
        if missing:
            raise ValueError(f"event_layers not found in the network: {sorted(missing)}")

    def __call__(self, inputs: Any) -> Tensor:
        if self._forward is not None:
            return self._forward(self.net, inputs)
        out: Tensor = self.net(inputs)
        return out

    def network(self) -> nn.Module:
        return self.net

    def activation_types(self) -> tuple[type[nn.Module], ...]:
        return self._activation_types

    def encoding(self, name: str, module: nn.Module) -> Encoding:
        return "ac" if name in self.event_layers else "mac"


_SHAPE_ONLY: tuple[type[nn.Module], ...] = (
    nn.Flatten,
    nn.Unflatten,
    nn.Dropout,
    nn.Identity,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
)
_SNN_STATE_NAMES = frozenset({"mem", "syn", "spk", "syn_exc", "syn_inh"})


class SNNTorchModel(TorchModel):
    """snnTorch network stepped over time, like NeuroBench's ``SNNTorchModel``.

    Input ``[B, T, ...]`` (``time_dim=1``, NeuroBench's layout) or ``[T, B, ...]``
    (``time_dim=0``, then use ``Task(batch_dim=1)``); the state is reset before every batch (``net.reset()`` if defined, else
    ``snntorch.utils.reset``); ``net(x_t)`` may return spikes or a tuple whose first element
    is the spikes; predictions are the stacked spikes ``[B, T, ...]``. With
    ``custom_forward=True`` predictions are ``net(inputs).transpose(0, 1)``.

    Encodings (``exact`` mode): a connection layer is event-driven (AC) when the nearest
    preceding layer in registration order, skipping shape-only modules (Flatten, Dropout,
    max-pooling, ...), is a spiking neuron, or when it sits inside a spiking neuron (snnTorch
    ``RLeaky``'s recurrent weights); the first layer is event-driven iff ``input_events``.
    ``event_layers`` overrides the inference.
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        name: str | None = None,
        custom_forward: bool = False,
        time_dim: int = 1,
        input_events: bool = False,
        event_layers: Iterable[str] | None = None,
        activation_types: Sequence[type[nn.Module]] = (nn.ReLU, nn.Sigmoid),
    ) -> None:
        import snntorch  # noqa: F401  (fail early with ImportError)
        from snntorch import SpikingNeuron

        self._spiking: tuple[type[nn.Module], ...] = (SpikingNeuron,)
        inferred = self._infer_event_layers(net, input_events) if event_layers is None else ()
        super().__init__(
            net,
            name=name,
            activation_types=activation_types,
            event_layers=event_layers if event_layers is not None else inferred,
        )
        if time_dim not in (0, 1):
            raise ValueError("time_dim must be 0 ([T, B, ...]) or 1 ([B, T, ...])")
        self.custom_forward = custom_forward
        self.time_dim = time_dim

    def _infer_event_layers(self, net: nn.Module, input_events: bool) -> frozenset[str]:
        events: set[str] = set()
        prev_spiking: bool | None = None  # None: no layer seen yet (network input)
        spiking_prefixes: list[str] = []
        for q, mod in net.named_modules():
            if q and any(q.startswith(p + ".") for p in spiking_prefixes):
                if isinstance(mod, CONNECTION_TYPES):
                    events.add(q)
                continue
            if isinstance(mod, self._spiking):
                prev_spiking = True
                spiking_prefixes.append(q)
            elif isinstance(mod, CONNECTION_TYPES):
                if (prev_spiking is None and input_events) or prev_spiking:
                    events.add(q if q else "<root>")
                prev_spiking = False
            elif not list(mod.children()) and not isinstance(mod, _SHAPE_ONLY):
                prev_spiking = False if prev_spiking is not None else None
        return frozenset(events)

    def __call__(self, inputs: Any) -> Tensor:
        from snntorch import utils

        if self.custom_forward:
            out: Tensor = self.net(inputs)
            return out.transpose(0, 1)
        reset = getattr(self.net, "reset", None)
        if callable(reset):
            reset()
        else:
            utils.reset(self.net)
        spikes = []
        for x_t in inputs.unbind(self.time_dim):
            out_t = self.net(x_t)
            spikes.append(out_t[0] if isinstance(out_t, tuple) else out_t)
        return torch.stack(spikes).transpose(0, 1)

    def activation_types(self) -> tuple[type[nn.Module], ...]:
        return self._activation_types

    def spiking_types(self) -> tuple[type[nn.Module], ...]:
        return self._spiking

    def state_buffers(self) -> tuple[str, ...]:
        names = []
        for q, mod in self.net.named_modules():
            if isinstance(mod, self._spiking):
                for b, _ in mod.named_buffers(recurse=False):
                    if b in _SNN_STATE_NAMES:
                        names.append(f"{q}.{b}" if q else b)
        return tuple(names)

    def state_bytes_per_sample(self) -> int | None:
        bufs = dict(self.net.named_buffers())
        total = 0
        for name in self.state_buffers():
            b = bufs[name]
            if b.dim() >= 1 and b.shape[0] > 0:
                total += (b.numel() // b.shape[0]) * b.element_size()
        return total if self.state_buffers() else None


def as_adapter(model: ModelAdapter | nn.Module) -> ModelAdapter:
    """Wrap a plain ``nn.Module`` in :class:`TorchModel`; return adapters unchanged."""
    if isinstance(model, ModelAdapter):
        return model
    if isinstance(model, nn.Module):
        return TorchModel(model)
    raise TypeError(
        f"cannot benchmark a {type(model).__name__}: pass a torch.nn.Module or a ModelAdapter"
    )
