"""Network description (independent of the training method) and the ``SNN`` module.

The description (:class:`NetworkSpec`) is a frozen dataclass; the module (:class:`SNN`) owns the
weights and delegates the simulation to a gradient method (EventProp or surrogate BPTT), so that
switching methods is one argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol

import torch
from torch import Tensor, nn

from eventbench.core.params import LIFParams, StepCoeffs, discretise
from eventbench.core.records import SpikeRecord
from eventbench.readout.readouts import ExpWeightedVoltage, Readout

__all__ = [
    "SNN",
    "GradientMethod",
    "LayerSpec",
    "NetworkSpec",
    "NetworkTensors",
    "Normal",
    "SNNOutput",
]


@dataclass(frozen=True)
class Normal:
    """Initial weight distribution ``N(mean, std^2)``; ``std=None`` means ``1/sqrt(n_pre)``."""

    mean: float = 0.0
    std: float | None = None

    def sample(self, n_pre: int, n_post: int, gen: torch.Generator, dtype: torch.dtype) -> Tensor:
        std = self.std if self.std is not None else 1.0 / math.sqrt(n_pre)
        w = torch.randn(n_pre, n_post, generator=gen, dtype=torch.float64) * std + self.mean
        return w.to(dtype)


@dataclass(frozen=True)
class LayerSpec:
    """One hidden LIF layer.

    Attributes:
        size: number of neurons.
        recurrent: whether the layer has all-to-all recurrent weights ``w_rec [size, size]``.
        neuron: LIF parameters (seconds).
        init_ff: initial feed-forward weights.
        init_rec: initial recurrent weights.
    """

    size: int
    recurrent: bool = False
    neuron: LIFParams = field(default_factory=LIFParams)
    init_ff: Normal = field(default_factory=Normal)
    init_rec: Normal = field(default_factory=lambda: Normal(0.0, 0.02))

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError(f"LayerSpec.size must be positive, got {self.size}")


@dataclass(frozen=True)
class NetworkSpec:
    """Input population -> hidden LIF layers -> readout population.

    Attributes:
        n_inputs: input channels.
        hidden: hidden layers in order (at least one).
        n_outputs: readout neurons.
        dt_s: simulation step in seconds.
        n_steps: steps per trial ``N`` (trial length ``T = N dt``).
        output: parameters of the readout neurons (threshold used only for ``"lif"``).
        output_kind: ``"li"`` (leaky integrator, voltage readouts) or ``"lif"`` (spiking, for
            spike-time readouts).
        output_bias: whether readout neurons have a trainable bias ``b`` in
            ``tau_m dV/dt = -V + I + b`` (``"li"`` only).
        init_out: initial hidden -> readout weights.
    """

    n_inputs: int
    hidden: tuple[LayerSpec, ...]
    n_outputs: int
    dt_s: float
    n_steps: int
    output: LIFParams = field(default_factory=LIFParams)
    output_kind: Literal["li", "lif"] = "li"
    output_bias: bool = False
    init_out: Normal = field(default_factory=Normal)

    def __post_init__(self) -> None:
        if self.n_inputs <= 0 or self.n_outputs <= 0:
            raise ValueError(
                f"NetworkSpec needs n_inputs > 0 and n_outputs > 0, got {self.n_inputs}, {self.n_outputs}"
            )
        if not self.hidden:
            raise ValueError("NetworkSpec.hidden needs at least one LayerSpec")
        if self.n_steps <= 0:
            raise ValueError(f"NetworkSpec.n_steps must be positive, got {self.n_steps}")
        if self.output_kind not in ("li", "lif"):
            raise ValueError(f"NetworkSpec.output_kind must be 'li' or 'lif', got {self.output_kind!r}")
        if self.output_bias and self.output_kind != "li":
            raise ValueError("NetworkSpec.output_bias is only supported with output_kind='li'")
        discretise(self.output, self.dt_s)  # validates dt_s

    @property
    def duration_s(self) -> float:
        """Trial length ``T = n_steps * dt_s`` in seconds."""
        return self.n_steps * self.dt_s

    def layer_sizes(self) -> tuple[int, ...]:
        """Population sizes ``(n_inputs, hidden..., n_outputs)``."""
        return (self.n_inputs, *(h.size for h in self.hidden), self.n_outputs)


class NetworkTensors(NamedTuple):
    """Everything a gradient method needs: effective (masked) weights and step coefficients.

    ``w_ff[l]`` is ``[n_pre, n_l]``, ``w_rec[l]`` is ``[n_l, n_l]`` or ``None``, ``w_out`` is
    ``[n_last, n_out]``, ``bias`` is ``[n_out]`` or ``None``.
    """

    spec: NetworkSpec
    w_ff: tuple[Tensor, ...]
    w_rec: tuple[Tensor | None, ...]
    w_out: Tensor
    bias: Tensor | None
    coeffs: tuple[StepCoeffs, ...]
    out_coeffs: StepCoeffs


class SNNOutput(NamedTuple):
    """Result of a forward pass.

    Attributes:
        readout: readout values, ``[B, n_out]`` (``[T, B, n_out]`` for ``VoltageTrace``).
        fired: bool ``[B, n_out]`` for spike-time readouts (which entries are real spikes), else
            ``None``.
        spikes: one :class:`SpikeRecord` per hidden layer, in order (detached).
        output_spikes: record of the LIF readout population, or ``None`` for ``"li"``.
        input_events: total input events (sum of the input tensor).
        guard_hits: number of recorded spikes whose ``I - V`` was below the guard (EventProp;
            0 for BPTT).
    """

    readout: Tensor
    fired: Tensor | None
    spikes: tuple[SpikeRecord, ...]
    output_spikes: SpikeRecord | None
    input_events: int
    guard_hits: int


class GradientMethod(Protocol):
    """How a forward pass is run and differentiated (EventProp or surrogate BPTT)."""

    def run(self, net: NetworkTensors, readout: Readout, x: Tensor) -> SNNOutput:
        """Simulate ``x [T, B, n_inputs]`` (dense or sparse COO, layout, shape and dtype already
        checked by :func:`check_input`) and return the output, differentiable in the weights.
        Raises ``ValueError`` (:data:`BAD_COUNTS`) for negative or non-finite counts."""
        ...


class LIFLayer(nn.Module):
    """Weights of one hidden layer: ``w_ff [n_pre, n]``, optional ``w_rec [n, n]`` and masks
    (bool buffers, ``True`` = the connection exists)."""

    mask_ff: Tensor
    mask_rec: Tensor | None

    def __init__(
        self, n_pre: int, spec: LayerSpec, gen: torch.Generator, dtype: torch.dtype
    ) -> None:
        super().__init__()
        self.spec = spec
        self.w_ff = nn.Parameter(spec.init_ff.sample(n_pre, spec.size, gen, dtype))
        self.register_buffer("mask_ff", torch.ones(n_pre, spec.size, dtype=torch.bool))
        self.w_rec: nn.Parameter | None = None
        if spec.recurrent:
            self.w_rec = nn.Parameter(spec.init_rec.sample(spec.size, spec.size, gen, dtype))
            self.register_buffer("mask_rec", torch.ones(spec.size, spec.size, dtype=torch.bool))
        else:
            self.mask_rec = None


class ReadoutLayer(nn.Module):
    """Weights of the readout population: ``w [n_last, n_out]``, optional ``bias [n_out]``."""

    mask: Tensor

    def __init__(self, spec: NetworkSpec, gen: torch.Generator, dtype: torch.dtype) -> None:
        super().__init__()
        n_last = spec.hidden[-1].size
        self.w = nn.Parameter(spec.init_out.sample(n_last, spec.n_outputs, gen, dtype))
        self.register_buffer("mask", torch.ones(n_last, spec.n_outputs, dtype=torch.bool))
        self.bias: nn.Parameter | None = (
            nn.Parameter(torch.zeros(spec.n_outputs, dtype=dtype)) if spec.output_bias else None
        )


def _masked(w: Tensor, mask: Tensor) -> Tensor:
    return w * mask.to(w.dtype)


class SNN(nn.Module):
    """A spiking network: weights plus a readout, simulated by a chosen gradient method.

    >>> from eventbench.core import LayerSpec, NetworkSpec, SNN
    >>> spec = NetworkSpec(n_inputs=4, hidden=(LayerSpec(8),), n_outputs=3, dt_s=1e-3, n_steps=20)
    >>> net = SNN(spec, seed=0)
    >>> out = net(torch.zeros(20, 2, 4))
    >>> tuple(out.readout.shape)
    (2, 3)

    Args:
        spec: the network description.
        readout: how output voltages/spikes become outputs (default: loss-shaping
            ``ExpWeightedVoltage``).
        method: gradient method, ``EventProp()`` (default) or ``SurrogateBPTT()``.
        seed: seed of the weight initialisation.
        dtype: ``torch.float32`` or ``torch.float64``.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        readout: Readout | None = None,
        method: GradientMethod | None = None,
        *,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"SNN dtype must be torch.float32 or torch.float64, got {dtype}")
        self.spec = spec
        self.readout = readout if readout is not None else ExpWeightedVoltage()
        if self.readout.needs_spiking_output and spec.output_kind != "lif":
            raise ValueError(
                f"readout {type(self.readout).__name__} needs output_kind='lif', "
                f"but the network has output_kind={spec.output_kind!r}"
            )
        if method is None:
            from eventbench.eventprop.method import EventProp

            method = EventProp()
        self.method: GradientMethod = method
        gen = torch.Generator().manual_seed(seed)
        sizes = spec.layer_sizes()
        self.layers = nn.ModuleList(
            LIFLayer(sizes[i], h, gen, dtype) for i, h in enumerate(spec.hidden)
        )
        self.readout_layer = ReadoutLayer(spec, gen, dtype)
        self.coeffs = tuple(discretise(h.neuron, spec.dt_s) for h in spec.hidden)
        self.out_coeffs = discretise(spec.output, spec.dt_s)

    def tensors(self) -> NetworkTensors:
        """Effective (masked) weights and coefficients, differentiable in the parameters."""
        w_ff: list[Tensor] = []
        w_rec: list[Tensor | None] = []
        for layer in self.layers:
            assert isinstance(layer, LIFLayer)
            w_ff.append(_masked(layer.w_ff, layer.mask_ff))
            if layer.w_rec is not None and layer.mask_rec is not None:
                w_rec.append(_masked(layer.w_rec, layer.mask_rec))
            else:
                w_rec.append(None)
        ro = self.readout_layer
        return NetworkTensors(
            self.spec,
            tuple(w_ff),
            tuple(w_rec),
            _masked(ro.w, ro.mask),
            ro.bias,
            self.coeffs,
            self.out_coeffs,
        )

    def forward(self, x: Tensor) -> SNNOutput:
        """Simulate input spikes ``x [T, B, n_inputs]`` (counts per bin, ``T = spec.n_steps``),
        dense or sparse COO: the CPU kernels of EventProp read a sparse input's events directly
        (no pass over ``T x B x n_inputs`` bins); the other paths expand it."""
        check_input(x, self.spec, self.readout_layer.w.dtype)
        return self.method.run(self.tensors(), self.readout, x)

    @torch.no_grad()
    def apply_masks(self) -> None:
        """Zero the pruned weights in place (after loading or editing weights)."""
        for layer in self.layers:
            assert isinstance(layer, LIFLayer)
            layer.w_ff.mul_(layer.mask_ff)
            if layer.w_rec is not None and layer.mask_rec is not None:
                layer.w_rec.mul_(layer.mask_rec)
        self.readout_layer.w.mul_(self.readout_layer.mask)


def check_input(x: Tensor, spec: NetworkSpec, dtype: torch.dtype) -> None:
    """Raise ``ValueError`` naming the problem if ``x`` is not a valid input for ``spec``.

    ``x [T, B, n_inputs]`` is a dense (strided) tensor or a sparse COO tensor
    (``torch.sparse_coo_tensor`` / ``Tensor.to_sparse()``) of spike counts per bin. Only the
    layout, shape and dtype are checked here (no pass over the data); the values are checked by
    the gradient method in the pass that reads them (:func:`input_event_count`, or the CPU
    kernels' input scan).
    """
    if x.layout not in (torch.strided, torch.sparse_coo):
        raise ValueError(f"input layout {x.layout} is not supported: pass a dense or sparse COO tensor")
    if x.dim() != 3:
        raise ValueError(f"input must be [T, B, n_inputs], got shape {tuple(x.shape)}")
    if x.is_sparse and x.sparse_dim() != 3:
        raise ValueError(
            f"a sparse input must have 3 sparse dimensions (T, B, n_inputs), got "
            f"{x.sparse_dim()} sparse and {x.dense_dim()} dense"
        )
    if x.is_sparse and x._nnz() > 0:
        # torch does not check COO indices against the size by default; an index out of range
        # would make every later pass read or write out of bounds
        idx = x._indices()
        if idx.device.type == "cpu":  # NumPy: single-threaded, no wake-up of torch's thread pool
            lo, hi = idx.numpy().min(axis=1).tolist(), idx.numpy().max(axis=1).tolist()
        else:
            lo_t, hi_t = torch.aminmax(idx, dim=1)
            lo, hi = lo_t.tolist(), hi_t.tolist()
        for d, name in enumerate(("step", "sample", "channel")):
            if lo[d] < 0 or hi[d] >= x.shape[d]:
                bad = lo[d] if lo[d] < 0 else hi[d]
                raise ValueError(
                    f"sparse input: {name} index {bad} is outside [0, {x.shape[d]}) "
                    f"(input shape {tuple(x.shape)})"
                )
    t, _, n = x.shape
    if t != spec.n_steps or n != spec.n_inputs:
        raise ValueError(
            f"input shape {tuple(x.shape)} does not match the network: expected "
            f"[{spec.n_steps}, B, {spec.n_inputs}] (n_steps, batch, n_inputs)"
        )
    if x.dtype != dtype:
        raise ValueError(f"input dtype {x.dtype} does not match the network dtype {dtype}")


BAD_COUNTS = "input spike counts must be finite and non-negative"


def input_event_count(x: Tensor) -> int:
    """Total input events ``sum(x)`` of a dense or sparse COO input; raises ``ValueError`` unless
    every count is finite and non-negative (two reductions, no temporary of the input's size)."""
    values = x.coalesce().values() if x.is_sparse else x
    if values.numel() == 0:
        return 0
    total = values.sum()
    if not bool(torch.isfinite(total)) or float(values.min()) < 0.0:
        raise ValueError(BAD_COUNTS)
    return int(total.item())


def dense_input(x: Tensor) -> Tensor:
    """``x`` as a dense tensor (a sparse COO input is expanded; a dense one is returned as is)."""
    return x.to_dense() if x.is_sparse else x
