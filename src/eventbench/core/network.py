"""Network description (independent of the training method) and the ``SNN`` module.

The description (:class:`NetworkSpec`) is a frozen dataclass; the module (:class:`SNN`) owns the
weights and delegates the simulation to a gradient method (EventProp or surrogate BPTT), so that
switching methods is one argument.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

import torch
from torch import Tensor, nn

from eventbench.core.params import LIFParams, StepCoeffs, discretise
from eventbench.core.records import SpikeRecord
from eventbench.core.skip import skip_trace
from eventbench.core.threads import mark_serial_step, serial_torch
from eventbench.readout.readouts import ExpWeightedVoltage, Readout, VoltageTrace, WeightedVoltage

__all__ = [
    "SNN",
    "Delays",
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
class Delays:
    r"""Learnable per-connection synaptic delays of one set of connections (Mészáros, Knight &
    Nowotny 2025): a spike of presynaptic ``i`` at ``t_k`` reaches ``j`` at ``t_k + d_ij``.

    Delays are stored in seconds as parameters ``d [n_pre, n_post]`` and rounded to whole steps
    in the time-stepped simulation, :math:`D_{ij} = \mathrm{clip}(\mathrm{round}(d_{ij}/dt), 0,
    \mathrm{round}(\text{max\_s}/dt))`; EventProp's gradient :math:`\partial L/\partial d_{ij}
    = \sum_k w_{ij}(\lambda_V - \lambda_I)_j(t_k + d_{ij})` treats the rounding as the identity.

    Attributes:
        max_s: largest delay (s); the simulation keeps a ring buffer of ``max_s/dt + 1`` steps.
        init_low_s, init_high_s: initial delays ``U(low, high)`` (s).
        learn: whether the delays are trained (else fixed buffers).
    """

    max_s: float
    init_low_s: float = 0.0
    init_high_s: float = 0.0
    learn: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_s) and self.max_s >= 0.0):
            raise ValueError(f"Delays.max_s must be a non-negative number of seconds, got {self.max_s!r}")
        if not (0.0 <= self.init_low_s <= self.init_high_s <= self.max_s):
            raise ValueError(
                "Delays need 0 <= init_low_s <= init_high_s <= max_s, got "
                f"{self.init_low_s}, {self.init_high_s}, {self.max_s}"
            )

    def max_steps(self, dt_s: float) -> int:
        """The largest delay in steps of ``dt_s``."""
        return round(self.max_s / dt_s)

    def sample(self, n_pre: int, n_post: int, gen: torch.Generator, dtype: torch.dtype) -> Tensor:
        """Initial delays ``[n_pre, n_post]`` in seconds."""
        u = torch.rand(n_pre, n_post, generator=gen, dtype=torch.float64)
        return (self.init_low_s + u * (self.init_high_s - self.init_low_s)).to(dtype)


@dataclass(frozen=True)
class LayerSpec:
    """One hidden LIF layer.

    Attributes:
        size: number of neurons.
        recurrent: whether the layer has all-to-all recurrent weights ``w_rec [size, size]``.
        neuron: LIF parameters (seconds).
        init_ff: initial feed-forward weights.
        init_rec: initial recurrent weights.
        delay_ff: per-connection delays of the incoming feed-forward connections (``None``:
            none).
        delay_rec: per-connection delays of the recurrent connections (needs ``recurrent``).
    """

    size: int
    recurrent: bool = False
    neuron: LIFParams = field(default_factory=LIFParams)
    init_ff: Normal = field(default_factory=Normal)
    init_rec: Normal = field(default_factory=lambda: Normal(0.0, 0.02))
    delay_ff: Delays | None = None
    delay_rec: Delays | None = None

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError(f"LayerSpec.size must be positive, got {self.size}")
        if self.delay_rec is not None and not self.recurrent:
            raise ValueError("LayerSpec.delay_rec needs recurrent=True")

    @property
    def has_delays(self) -> bool:
        """Whether any incoming connection of this layer is delayed."""
        return self.delay_ff is not None or self.delay_rec is not None


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
        skip: whether the input also drives the readout directly through weights
            ``w_skip [n_inputs, n_outputs]`` (:mod:`eventbench.core.skip`; ``"li"`` readouts with
            a weighted or trace readout). The input of step ``n`` reaches the readout at the
            start of step ``n + 1``, with the hidden spikes it causes.
        init_skip: initial input -> readout weights (default all zero: the skip starts silent).
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
    skip: bool = False
    init_skip: Normal = field(default_factory=lambda: Normal(0.0, 0.0))

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
        if self.skip and self.output_kind != "li":
            raise ValueError(
                "NetworkSpec.skip needs output_kind='li' (the skip adds to a linear readout's "
                "voltage)"
            )
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
    ``[n_last, n_out]``, ``bias`` is ``[n_out]`` or ``None``. ``d_ff[l]`` / ``d_rec[l]`` are the
    delays (seconds, shaped like the weights) or ``None`` (an empty tuple: no delays anywhere).
    ``w_skip [n_inputs, n_out]`` is the input -> readout skip (:mod:`eventbench.core.skip`) or
    ``None``; the gradient methods receive tensors without it (``SNN.forward`` adds its share).
    """

    spec: NetworkSpec
    w_ff: tuple[Tensor, ...]
    w_rec: tuple[Tensor | None, ...]
    w_out: Tensor
    bias: Tensor | None
    coeffs: tuple[StepCoeffs, ...]
    out_coeffs: StepCoeffs
    d_ff: tuple[Tensor | None, ...] = ()
    d_rec: tuple[Tensor | None, ...] = ()
    w_skip: Tensor | None = None

    @property
    def has_delays(self) -> bool:
        """Whether any connection is delayed."""
        return any(d is not None for d in (*self.d_ff, *self.d_rec))

    def delay_steps(self) -> tuple[list[Tensor | None], list[Tensor | None]]:
        """Delays in whole steps (int64, ``clip(round(d/dt), 0, max)``), per layer for the
        feed-forward and the recurrent connections (``None`` where undelayed)."""
        dt = self.spec.dt_s
        ff: list[Tensor | None] = []
        rec: list[Tensor | None] = []
        for k, h in enumerate(self.spec.hidden):
            for d, cfg, out in ((self.d_ff, h.delay_ff, ff), (self.d_rec, h.delay_rec, rec)):
                t = d[k] if k < len(d) else None
                if t is None or cfg is None:
                    out.append(None)
                else:
                    out.append(torch.round(t.detach() / dt).clamp(0, cfg.max_steps(dt)).to(torch.int64))
        return ff, rec

    def ring_size(self, layer: int) -> int:
        """Steps kept by the delay ring buffer of ``layer``: its largest delay plus one."""
        h = self.spec.hidden[layer]
        dt = self.spec.dt_s
        return 1 + max(d.max_steps(dt) if d is not None else 0 for d in (h.delay_ff, h.delay_rec))


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
        # delays (seconds), drawn by :meth:`init_delays` after every weight of the network, so
        # that the weights do not depend on whether there are delays
        self.d_ff: nn.Parameter | None = None
        self.d_rec: nn.Parameter | None = None
        if spec.delay_ff is not None:
            self.d_ff = nn.Parameter(
                torch.zeros(n_pre, spec.size, dtype=dtype), requires_grad=spec.delay_ff.learn
            )
        if spec.delay_rec is not None:
            self.d_rec = nn.Parameter(
                torch.zeros(spec.size, spec.size, dtype=dtype), requires_grad=spec.delay_rec.learn
            )

    @torch.no_grad()
    def init_delays(self, gen: torch.Generator) -> None:
        """Draw the initial delays (``Delays.sample``) into ``d_ff`` / ``d_rec``."""
        for d, cfg in ((self.d_ff, self.spec.delay_ff), (self.d_rec, self.spec.delay_rec)):
            if d is not None and cfg is not None:
                d.copy_(cfg.sample(d.shape[0], d.shape[1], gen, d.dtype))


class ReadoutLayer(nn.Module):
    """Weights of the readout population: ``w [n_last, n_out]``, optional ``bias [n_out]``
    and optional skip weights ``w_skip [n_inputs, n_out]`` (drawn by :meth:`init_skip`)."""

    mask: Tensor
    mask_skip: Tensor | None

    def __init__(self, spec: NetworkSpec, gen: torch.Generator, dtype: torch.dtype) -> None:
        super().__init__()
        n_last = spec.hidden[-1].size
        self.w = nn.Parameter(spec.init_out.sample(n_last, spec.n_outputs, gen, dtype))
        self.register_buffer("mask", torch.ones(n_last, spec.n_outputs, dtype=torch.bool))
        self.bias: nn.Parameter | None = (
            nn.Parameter(torch.zeros(spec.n_outputs, dtype=dtype)) if spec.output_bias else None
        )
        self.w_skip: nn.Parameter | None = None
        if spec.skip:
            self.w_skip = nn.Parameter(torch.zeros(spec.n_inputs, spec.n_outputs, dtype=dtype))
            self.register_buffer(
                "mask_skip", torch.ones(spec.n_inputs, spec.n_outputs, dtype=torch.bool)
            )
        else:
            self.mask_skip = None

    @torch.no_grad()
    def init_skip(self, spec: NetworkSpec, gen: torch.Generator) -> None:
        """Draw ``w_skip`` from ``spec.init_skip`` (after every other weight and delay, so that
        they do not depend on whether the network has a skip)."""
        if self.w_skip is not None:
            self.w_skip.copy_(
                spec.init_skip.sample(spec.n_inputs, spec.n_outputs, gen, self.w_skip.dtype)
            )


class _Masked(torch.autograd.Function):
    """``w * mask`` whose forward and backward run on one torch thread for CPU tensors: a
    parallel op here would leave torch's OpenMP threads spinning on the cores that the EventProp
    kernels use next (:mod:`eventbench.core.threads`)."""

    @staticmethod
    def forward(ctx: Any, w: Tensor, mask: Tensor) -> Tensor:
        ctx.save_for_backward(mask)
        return w * mask  # inside _masked's serial_torch block

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        (mask,) = ctx.saved_tensors
        with serial_torch(g.device.type == "cpu"):
            return g * mask, None


def _masked(w: Tensor, mask: Tensor) -> Tensor:
    with serial_torch(w.device.type == "cpu"):
        out: Tensor = _Masked.apply(w, mask.to(w.dtype))  # type: ignore[no-untyped-call]
    return out


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
        if spec.skip and self.readout.kind not in ("weighted", "trace"):
            raise ValueError(
                f"NetworkSpec.skip needs a weighted-voltage or VoltageTrace readout (the skip's "
                f"share is added to the readout), got {type(self.readout).__name__}"
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
        for layer in self.layers:
            assert isinstance(layer, LIFLayer)
            layer.init_delays(gen)
        self.readout_layer.init_skip(spec, gen)
        self.coeffs = tuple(discretise(h.neuron, spec.dt_s) for h in spec.hidden)
        self.out_coeffs = discretise(spec.output, spec.dt_s)
        # the optimiser step over these weights runs on one thread (eventbench.core.threads)
        mark_serial_step(self.parameters())

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
        layers = [layer for layer in self.layers if isinstance(layer, LIFLayer)]
        has_delays = any(layer.spec.has_delays for layer in layers)
        return NetworkTensors(
            self.spec,
            tuple(w_ff),
            tuple(w_rec),
            _masked(ro.w, ro.mask),
            ro.bias,
            self.coeffs,
            self.out_coeffs,
            tuple(layer.d_ff for layer in layers) if has_delays else (),
            tuple(layer.d_rec for layer in layers) if has_delays else (),
            _masked(ro.w_skip, ro.mask_skip)
            if ro.w_skip is not None and ro.mask_skip is not None
            else None,
        )

    @property
    def has_delays(self) -> bool:
        """Whether any hidden layer has synaptic delays."""
        return any(h.has_delays for h in self.spec.hidden)

    @torch.no_grad()
    def clamp_delays(self) -> None:
        """Clamp every delay to ``[0, max_s]`` in place (after an optimiser step)."""
        for layer in self.layers:
            assert isinstance(layer, LIFLayer)
            for d, cfg in ((layer.d_ff, layer.spec.delay_ff), (layer.d_rec, layer.spec.delay_rec)):
                if d is not None and cfg is not None:
                    d.clamp_(0.0, cfg.max_s)

    def forward(self, x: Tensor) -> SNNOutput:
        """Simulate input spikes ``x [T, B, n_inputs]`` (counts per bin, ``T = spec.n_steps``),
        dense or sparse COO: the CPU kernels of EventProp read a sparse input's events directly
        (no pass over ``T x B x n_inputs`` bins); the other paths expand it."""
        check_input(x, self.spec, self.readout_layer.w.dtype)
        t = self.tensors()
        out: SNNOutput = self.method.run(t._replace(w_skip=None), self.readout, x)
        if t.w_skip is not None:
            out = out._replace(readout=out.readout + self._skip_readout(x, t))
        if self.training and torch.is_grad_enabled():
            warn_silent_layers(out.spikes[: len(self.spec.hidden)], self.spec)
        return out

    def _skip_readout(self, x: Tensor, t: NetworkTensors) -> Tensor:
        """The skip's share of the readout (same shape as ``SNNOutput.readout``)."""
        assert t.w_skip is not None
        trace = skip_trace(x, t.w_skip, t.out_coeffs)
        ro = self.readout
        assert isinstance(ro, WeightedVoltage | VoltageTrace)
        with serial_torch(x.device.type == "cpu"):
            return ro.reduce(trace)

    @torch.no_grad()
    def apply_masks(self) -> None:
        """Zero the pruned weights in place (after loading or editing weights)."""
        for layer in self.layers:
            assert isinstance(layer, LIFLayer)
            layer.w_ff.mul_(layer.mask_ff)
            if layer.w_rec is not None and layer.mask_rec is not None:
                layer.w_rec.mul_(layer.mask_rec)
        ro = self.readout_layer
        ro.w.mul_(ro.mask)
        if ro.w_skip is not None and ro.mask_skip is not None:
            ro.w_skip.mul_(ro.mask_skip)


class SilentLayerWarning(UserWarning):
    """A hidden layer fired no spike in a training batch: every gradient below it is zero."""


def warn_silent_layers(records: tuple[SpikeRecord, ...], spec: NetworkSpec) -> None:
    """Warn (:class:`SilentLayerWarning`) for each hidden layer whose record holds no spike:
    with ``S_l = 0`` the adjoint jumps of layer ``l`` vanish and so do the gradients of its
    input weights and of every layer below it."""
    for i, rec in enumerate(records):
        if rec.n_spikes == 0:
            warnings.warn(
                f"hidden layer {i}: none of its {rec.n_neurons} neurons fired in this batch of "
                f"{rec.batch_size} sample(s) ({spec.n_steps} steps); its input weights get zero "
                "gradients. Raise the input weights, e.g. LayerSpec(..., init_ff=Normal(mean, "
                "std)) with a positive mean, or the input rate",
                SilentLayerWarning,
                stacklevel=3,
            )


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
