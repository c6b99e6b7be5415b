"""Adapter for EventBench's own SNNs (``eventbench.core.SNN``), counted from recorded spikes.

No hooks: the engine returns every spike as a sparse record, so the counts are exact by
construction. ``eventbench.core`` is imported only when this adapter is used.

Definitions (per batch; the metrics divide by the samples seen). Let ``T = spec.n_steps``,
``W`` the effective (masked) weights ``[n_pre, n_post]`` and ``fanout(i)`` the non-zero
entries of row ``i`` (the synapses presynaptic neuron ``i`` drives):

* **Effective ACs** (``exact``): every input event and every *delivered* hidden spike
  costs one accumulate per non-zero outgoing weight:
  ``sum_{t,b,i} x[t,b,i] * fanout_ff0(i)`` (an input count ``k`` is ``k`` events) plus, for
  each hidden layer ``l``, ``sum_{spikes of l with stamp < T} (fanout_ff(l+1)(n) +
  fanout_rec(l)(n))`` where ``ff(L)`` is the readout. Spikes stamped ``T`` reach no target
  (design.md) and cost nothing. Effective MACs are 0. An input -> readout skip
  (``NetworkSpec(skip=True)``, connection ``"skip"``) is counted like the input projection
  over the steps ``0 .. T-2`` (the input of step ``n`` reaches the readout at step ``n + 1``).
* ``neurobench`` mode applies NeuroBench's rules to the same deliveries: per step, the input
  projection costs ``nnz(x_t) * fanout`` (not multiplicity) and is MACs when a count >= 2
  occurs in that step, ACs otherwise; spikes are binary, hence ACs.
* **Dense**: ``T x n_pre x n_post`` per connection (feed-forward, recurrent, readout, skip).
* **Activations**: hidden spikes (and the spiking output population if ``output_kind="lif"``),
  ``T x B x N`` elements per population, one non-zero per recorded spike.
* **Membrane updates**: clock-driven, every neuron (hidden and readout) every step:
  ``T x (sum hidden sizes + n_outputs)`` per sample in both modes; neuron operations use
  :data:`~eventbench.bench.metrics.workload.NEURON_OP_COSTS` (``EventBenchLIF`` 5,
  ``EventBenchLI`` 4 per update).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from eventbench.bench._common import Mode
from eventbench.bench.collector import BatchCounts, MembraneCounts
from eventbench.bench.counting import LayerOps
from eventbench.bench.metrics.static import SparsityCount
from eventbench.bench.models import CountSession, ModelAdapter

if TYPE_CHECKING:
    from eventbench.core import SNN, SNNOutput


class NativeSNNModel(ModelAdapter):
    """Benchmark an ``eventbench.core.SNN``.

    Inputs are time-major ``[T, B, n_inputs]`` spike counts (use ``Task(batch_dim=1)``);
    predictions are ``out.readout`` (``[B, n_outputs]``).
    """

    native = True

    def __init__(self, net: SNN, *, name: str | None = None) -> None:
        from eventbench.core import SNN

        if not isinstance(net, SNN):
            raise TypeError(f"NativeSNNModel needs an eventbench.core.SNN, got {type(net).__name__}")
        self.net = net
        self.name = name or "EventBenchSNN"
        self._last: SNNOutput | None = None
        self._input_nnz: Tensor | None = None  # [T, n_in] non-zeros per step and channel
        self._input_sum: Tensor | None = None  # [n_in] float64 event counts
        self._graded_steps: Tensor | None = None  # [T] bool: a count >= 2 in that step
        self._input_last: Tensor | None = None  # [n_in] float64 counts of the last step

    def __call__(self, inputs: Any) -> Tensor:
        x: Tensor = inputs
        out = self.net(x)
        self._last = out
        self._input_nnz = (x != 0).sum(dim=1)
        self._input_sum = x.sum(dim=(0, 1), dtype=torch.float64)
        self._input_last = x[-1].sum(dim=0, dtype=torch.float64)
        self._graded_steps = ((x != 0) & (x != 1) & (x != -1)).flatten(1).any(dim=1)
        readout: Tensor = out.readout
        return readout

    def network(self) -> nn.Module:
        return self.net

    def spiking_types(self) -> tuple[type[nn.Module], ...]:
        return ()

    def counting_session(self, mode: Mode, needs: frozenset[str]) -> CountSession:
        return _NativeSession(self, mode)

    def effective_weights(self) -> list[tuple[str, Tensor]]:
        """``[(name, W_eff [n_pre, n_post])]``: masked weights of every connection."""
        t = self.net.tensors()
        out: list[tuple[str, Tensor]] = []
        for i, (wf, wr) in enumerate(zip(t.w_ff, t.w_rec, strict=True)):
            out.append((f"layers.{i}.ff", wf.detach()))
            if wr is not None:
                out.append((f"layers.{i}.rec", wr.detach()))
        out.append(("readout", t.w_out.detach()))
        if t.w_skip is not None:
            out.append(("skip", t.w_skip.detach()))
        return out

    def connection_counts(self) -> SparsityCount:
        """Zero (or masked-out) and total synapses over all connections."""
        ws = self.effective_weights()
        zeros = sum(int((w == 0).sum().item()) for _, w in ws)
        total = sum(w.numel() for _, w in ws)
        return SparsityCount(zeros=zeros, total=total, layers=len(ws))

    def connection_sparsity(self, mode: Mode) -> float | None:
        """Fraction of zero or masked-out synapses (rounded to 4 decimals in neurobench mode)."""
        v = self.connection_counts().value
        return None if v is None else (round(v, 4) if mode == "neurobench" else v)

    def state_bytes_per_sample(self) -> int | None:
        spec = self.net.spec
        elem = self.net.readout_layer.w.element_size()
        neurons = sum(h.size for h in spec.hidden) + spec.n_outputs
        return 2 * neurons * elem  # V and I per neuron


class _NativeSession:
    def __init__(self, model: NativeSNNModel, mode: Mode) -> None:
        self.model = model
        self.mode = mode
        self.unsupported: dict[str, str] = {}

    def __enter__(self) -> _NativeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def end_batch(self, batch_size: int) -> BatchCounts:
        m = self.model
        out, nnz, xsum, graded = m._last, m._input_nnz, m._input_sum, m._graded_steps
        last = m._input_last
        if out is None or nnz is None or xsum is None or graded is None or last is None:
            raise RuntimeError("NativeSNNModel: end_batch called before a forward pass")
        m._last = m._input_nnz = m._input_sum = m._graded_steps = m._input_last = None
        spec = m.net.spec
        t_steps = spec.n_steps
        counts = BatchCounts(batch_size=batch_size)
        weights = dict(m.effective_weights())
        sizes = spec.layer_sizes()
        n_hidden = len(spec.hidden)

        def fanout(name: str) -> Tensor:
            return (weights[name] != 0).sum(dim=1)  # [n_pre]

        # input -> first hidden layer
        counts.ops["layers.0.ff"] = self._input_ops(
            fanout("layers.0.ff"), xsum, nnz, graded, t_steps * batch_size * sizes[0] * sizes[1]
        )
        if "skip" in weights:
            # input -> readout: the input of step n arrives at step n + 1, so the last step's
            # input reaches nothing (like a hidden spike stamped T)
            counts.ops["skip"] = self._input_ops(
                fanout("skip"), xsum - last, nnz[:-1], graded[:-1],
                t_steps * batch_size * spec.n_inputs * spec.n_outputs,
            )

        for li, rec in enumerate(out.spikes):
            n = rec.n_neurons
            delivered = rec.neuron[rec.step < t_steps]
            per_neuron = torch.bincount(delivered, minlength=n)
            targets = ["readout" if li == n_hidden - 1 else f"layers.{li + 1}.ff"]
            if f"layers.{li}.rec" in weights:
                targets.append(f"layers.{li}.rec")
            for tname in targets:
                w = weights[tname]
                ops = LayerOps(
                    dense=t_steps * batch_size * w.shape[0] * w.shape[1],
                    effective_acs=int((per_neuron * fanout(tname)).sum().item()),
                    calls=t_steps,
                )
                counts.ops[tname] = ops
            counts.activations[f"layers.{li}"] = (rec.n_spikes, t_steps * batch_size * n)
            counts.activation_keys[f"layers.{li}"] = f"layers.{li}"
            counts.membrane[f"layers.{li}"] = MembraneCounts(
                updates=t_steps * batch_size * n,
                dense=t_steps * batch_size * n,
                neuron_type="EventBenchLIF",
                reset="zero",
            )
        if out.output_spikes is not None:
            rec = out.output_spikes
            counts.activations["output"] = (rec.n_spikes, t_steps * batch_size * rec.n_neurons)
            counts.activation_keys["output"] = "output"
        n_out = spec.n_outputs
        counts.membrane["output"] = MembraneCounts(
            updates=t_steps * batch_size * n_out,
            dense=t_steps * batch_size * n_out,
            neuron_type="EventBenchLIF" if out.output_spikes is not None else "EventBenchLI",
            reset="zero" if out.output_spikes is not None else "none",
        )
        return counts

    def _input_ops(
        self, fan: Tensor, xsum: Tensor, nnz: Tensor, graded: Tensor, dense: int
    ) -> LayerOps:
        """Operations of a projection from the input with fan-out ``fan [n_in]`` that receives
        the input events counted by ``xsum [n_in]`` (float64), ``nnz [T', n_in]`` and
        ``graded [T']`` (module docstring)."""
        ops = LayerOps(dense=dense, calls=self.model.net.spec.n_steps)
        if self.mode == "exact":
            v = float((xsum * fan.to(torch.float64)).sum().item())
            if v != round(v):
                # graded input currents (not whole spike counts): one multiply-accumulate per
                # non-zero input entry and synapse
                ops.effective_macs = int((nnz.to(torch.int64) * fan).sum().item())
            else:
                ops.effective_acs = round(v)
        else:
            per_step = (nnz.to(torch.int64) * fan).sum(dim=1)  # [T']
            ops.effective_macs = int(per_step[graded].sum().item())
            ops.effective_acs = int(per_step[~graded].sum().item())
        return ops
