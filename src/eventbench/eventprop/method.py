"""The EventProp gradient method object (pass it as ``SNN(..., method=EventProp())``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from eventbench.core.network import NetworkTensors, SNNOutput, dense_input, input_event_count
from eventbench.core.regularisers import RateRegulariser
from eventbench.core.threads import serial_torch
from eventbench.eventprop.function import EventPropConfig, ForwardRecord, eventprop_forward
from eventbench.readout.readouts import Readout

__all__ = ["EventProp"]


@dataclass(frozen=True)
class EventProp:
    """Exact-gradient EventProp (Wunderlich & Pehle 2021) with loss shaping support.

    Attributes:
        guard_eps: lower bound on the jump denominator ``I - V`` (voltage units). Crossings with
            a smaller value (grazing crossings, overshoot at large ``dt``) are clamped to it and
            counted in ``SNNOutput.guard_hits``. The reference codes have no guard.
        regulariser: firing-rate pseudo-gradient on the hidden layers (not part of the loss).
        chunk: steps processed per block; bounds transient memory to ``chunk x B x N``.
        max_spikes: optional cap on spikes per population and trial; exceeding it is an error.
        backend: ``"torch"`` runs the time-stepped torch implementation
            (:mod:`eventbench.eventprop.function`, any device); ``"cpu-kernel"`` the compiled,
            event-driven CPU kernels (:mod:`eventbench.eventprop.kernels`, needs Numba; a call
            they do not cover raises ``ValueError``); ``"auto"`` (default) the kernels for CPU
            inputs when Numba is installed and the call is covered, else the torch path (CUDA
            inputs, ``"lif"`` readout populations with voltage readouts, the test-only wrong
            variants). Both compute the same numbers to rounding (``tests/eventprop/test_kernels.py``).
            ``"cuda-kernel"`` the event-driven CUDA kernels (:mod:`eventbench.eventprop.kernels.cuda`,
            Triton, which CUDA builds of torch ship; a call they do not cover raises
            ``ValueError``); ``"auto"`` takes them for CUDA inputs they cover (else the torch
            path, e.g. with synaptic delays). ``tests/eventprop/test_cuda_kernels.py``.
    """

    guard_eps: float = 0.05
    regulariser: RateRegulariser | None = None
    chunk: int = 128
    max_spikes: int | None = None
    _variant: str | None = None
    backend: Literal["auto", "torch", "cpu-kernel", "cuda-kernel"] = "auto"

    def __post_init__(self) -> None:
        if self.backend not in ("auto", "torch", "cpu-kernel", "cuda-kernel"):
            raise ValueError(
                "EventProp.backend must be 'auto', 'torch', 'cpu-kernel' or 'cuda-kernel', got "
                f"{self.backend!r}"
            )
        if not self.guard_eps > 0.0:
            raise ValueError(f"EventProp.guard_eps must be positive, got {self.guard_eps}")
        if self.chunk <= 0:
            raise ValueError(f"EventProp.chunk must be positive, got {self.chunk}")

    def run(self, net: NetworkTensors, readout: Readout, x: Tensor) -> SNNOutput:
        """Simulate ``x [T, B, n_in]`` (dense or sparse COO); the readout is differentiable
        through EventProp."""
        cfg = EventPropConfig(
            readout=readout,
            guard_eps=self.guard_eps,
            regulariser=self.regulariser,
            chunk=self.chunk,
            max_spikes=self.max_spikes,
            variant=self._variant,
        )
        backend = self.resolve_backend(cfg, net, x)
        if backend == "cpu-kernel":
            from eventbench.eventprop.kernels.function import kernel_eventprop_forward

            with serial_torch():  # the kernels take the cores (eventbench.core.threads)
                value, fired, krec = kernel_eventprop_forward(cfg, net, x)
            rec: ForwardRecord = krec
            input_events = krec.input_events
        elif backend == "cuda-kernel":
            from eventbench.eventprop.kernels.cuda import cuda_eventprop_forward

            value, fired, krec = cuda_eventprop_forward(cfg, net, x)
            rec = krec
            input_events = krec.input_events
        else:
            input_events = input_event_count(x)
            value, fired, rec = eventprop_forward(cfg, net, dense_input(x))
        return SNNOutput(
            readout=value,
            fired=fired if readout.kind == "first_spike" else None,
            spikes=rec.spikes,
            output_spikes=rec.output_spikes,
            input_events=input_events,
            guard_hits=rec.guard_hits,
        )

    def resolve_backend(
        self, cfg: EventPropConfig, net: NetworkTensors, x: Tensor
    ) -> Literal["torch", "cpu-kernel", "cuda-kernel"]:
        """The implementation that :meth:`run` uses for this call (see ``backend``)."""
        if self.backend == "torch":
            return "torch"
        if self.backend == "cuda-kernel":
            return "cuda-kernel"
        if self.backend == "auto" and x.device.type == "cuda":
            from eventbench.eventprop.kernels import cuda

            return "cuda-kernel" if cuda.unsupported_reason(cfg, net, x) is None else "torch"
        from eventbench.eventprop import kernels

        if self.backend == "cpu-kernel":
            if not kernels.available():
                raise ImportError("EventProp backend 'cpu-kernel' needs numba (pip install numba)")
            return "cpu-kernel"
        if not kernels.available():
            return "torch"
        from eventbench.eventprop.kernels.function import unsupported_reason

        return "torch" if unsupported_reason(cfg, net, x) is not None else "cpu-kernel"
