"""Hook-based collection of per-batch raw counts from any ``torch.nn.Module``.

The :class:`Collector` registers one forward hook per connection layer (operation counters,
:mod:`eventbench.bench.counting`), one per activation module (zeros / elements) and a pre- and
post-hook per spiking neuron (membrane updates). Each hook reduces what it sees to device-side
accumulators at once; :meth:`Collector.end_batch` synchronises once and returns a
:class:`BatchCounts` of exact integers. Nothing per time step is kept.

Layer discovery follows the mode:

* ``neurobench``: like NeuroBench 2.3.0, only descendants of the root are inspected (a bare
  ``nn.Linear`` model has no layers), recursion stops at a connection or activation module,
  and activation layers are keyed by their *local* child name (same names in different blocks
  merge in the by-layer sparsity).
* ``exact``: the root is inspected too and layers are keyed by qualified name
  (``named_modules``). Modules that hold parameters directly but are neither connection
  layers, activations nor normalisation layers (e.g. ``nn.Embedding``, a module using its
  weights functionally) are reported as unsupported (with a warning).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from eventbench.bench._common import Mode, warn
from eventbench.bench.counting import (
    CONNECTION_TYPES,
    Encoding,
    LayerCounter,
    LayerOps,
    UnsupportedLayerError,
    make_counter,
)

log = logging.getLogger(__name__)

NORMALISATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
)


@dataclass
class MembraneCounts:
    """Membrane-state updates of one spiking layer over one batch.

    ``updates``: state changes counted by the mode's rule; ``dense``: neurons x calls;
    ``neuron_type`` and ``reset`` select the per-update neuron-operation cost.
    """

    updates: int
    dense: int
    neuron_type: str
    reset: str | None


@dataclass
class BatchCounts:
    """Exact integer counts measured on one batch.

    ``ops``: per connection layer; ``activations``: per activation layer
    ``(non_zero, elements)``; ``activation_keys``: layer -> key used for the by-layer
    sparsity (local name in ``neurobench`` mode); ``membrane``: per spiking layer.
    """

    batch_size: int
    ops: dict[str, LayerOps] = field(default_factory=dict)
    activations: dict[str, tuple[int, int]] = field(default_factory=dict)
    activation_keys: dict[str, str] = field(default_factory=dict)
    membrane: dict[str, MembraneCounts] = field(default_factory=dict)


@dataclass(frozen=True)
class HookPlan:
    """What to hook in a network (computed by :func:`plan_hooks`)."""

    connections: tuple[tuple[str, nn.Module], ...]
    activations: tuple[tuple[str, str, nn.Module], ...]  # (qualified, key, module)
    spiking: tuple[tuple[str, nn.Module], ...]
    unsupported: dict[str, str]


def _neurobench_walk(
    root: nn.Module, conn: tuple[type[nn.Module], ...], act: tuple[type[nn.Module], ...]
) -> tuple[list[tuple[str, nn.Module]], list[tuple[str, str, nn.Module]]]:
    conns: list[tuple[str, nn.Module]] = []
    acts: list[tuple[str, str, nn.Module]] = []

    def walk_act(mod: nn.Module, prefix: str) -> None:
        for name, child in mod.named_children():
            q = f"{prefix}{name}"
            if isinstance(child, act):
                acts.append((q, name, child))
            elif list(child.children()):
                walk_act(child, q + ".")

    def walk_conn(mod: nn.Module, prefix: str) -> None:
        for name, child in mod.named_children():
            q = f"{prefix}{name}"
            if isinstance(child, conn):
                conns.append((q, child))
            elif list(child.children()):
                walk_conn(child, q + ".")

    walk_act(root, "")
    walk_conn(root, "")
    return conns, acts


def plan_hooks(
    net: nn.Module,
    mode: Mode,
    activation_types: Sequence[type[nn.Module]],
    spiking_types: Sequence[type[nn.Module]] = (),
) -> HookPlan:
    """Find the connection, activation and spiking layers of ``net`` (see module docs)."""
    act = tuple(activation_types) + tuple(spiking_types)
    unsupported: dict[str, str] = {}
    if mode == "neurobench":
        conns, acts = _neurobench_walk(net, CONNECTION_TYPES, act)
    else:
        conns, acts = [], []
        skip: list[str] = []  # qualified prefixes below a connection/activation module
        for q, mod in net.named_modules():
            if any(q.startswith(p + ".") for p in skip):
                continue
            key = q if q else "<root>"
            if isinstance(mod, CONNECTION_TYPES):
                conns.append((key, mod))
                skip.append(q)
            elif isinstance(mod, act):
                acts.append((key, key, mod))
                # connection layers inside a spiking neuron (snnTorch RLeaky) still count
            elif isinstance(mod, NORMALISATION_TYPES):
                continue
            elif any(True for _ in mod.parameters(recurse=False)):
                unsupported[key] = (
                    f"{type(mod).__name__} holds parameters used outside a supported layer; "
                    "their operations are not counted"
                )
    spk_types = tuple(spiking_types)
    spiking = tuple((q, m) for q, _, m in acts if spk_types and isinstance(m, spk_types))
    return HookPlan(tuple(conns), tuple(acts), spiking, unsupported)


_F32_EXACT = 1 << 24
_SMALL = 1 << 16  # below this, one count_nonzero kernel beats the vectorised float path
_CHUNK = 1 << 20  # elements per temporary


def _count_nonzero(t: Tensor) -> Tensor:
    """Non-zero elements as a 0-d tensor (exact), without a host sync.

    Large float tensors: ``sign(|t|)`` summed (vectorised, exact below 2**24 elements);
    small or huge ones: ``count_nonzero``.
    """
    n = t.numel()
    if t.is_floating_point() and _SMALL <= n < _F32_EXACT:
        flat = t.reshape(-1)
        total = torch.sign(flat[:_CHUNK]).abs_().sum(dtype=torch.float64)
        for start in range(_CHUNK, n, _CHUNK):  # bounded temporaries
            total += torch.sign(flat[start : start + _CHUNK]).abs_().sum(dtype=torch.float64)
        return total
    return torch.count_nonzero(t)


def _spike_output(module: nn.Module, output: Any) -> Tensor:
    """The activation/spike tensor of a module output (snnTorch returns tuples)."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    raise TypeError(f"cannot read an activation tensor from {type(module).__name__} output")


class Collector:
    """Registers counting hooks on a network; use as a context manager.

    Args:
        net: the network.
        mode: counting rules (``"exact"`` or ``"neurobench"``).
        activation_types: module classes whose outputs are activations.
        spiking_types: module classes that are spiking neurons with a ``mem`` state.
        encoding: function ``(qualified_name, module) -> "mac" | "ac"`` giving each
            connection layer's declared input encoding (``exact`` mode only).
        ops / activations / membrane: which groups of hooks to register.
    """

    def __init__(
        self,
        net: nn.Module,
        mode: Mode,
        activation_types: Sequence[type[nn.Module]] = (nn.ReLU, nn.Sigmoid),
        spiking_types: Sequence[type[nn.Module]] = (),
        encoding: Callable[[str, nn.Module], Encoding] | None = None,
        *,
        ops: bool = True,
        activations: bool = True,
        membrane: bool = True,
    ) -> None:
        self.net = net
        self.mode = mode
        self.plan = plan_hooks(net, mode, activation_types, spiking_types)
        self.unsupported: dict[str, str] = dict(self.plan.unsupported)
        self._encoding = encoding or (lambda name, module: "mac")
        self._want_ops, self._want_act, self._want_mem = ops, activations, membrane
        self._handles: list[RemovableHandle] = []
        self._counters: dict[str, LayerCounter] = {}
        self._act_nz: dict[str, Tensor] = {}
        self._act_numel: dict[str, int] = {}
        self._mem_pre: dict[str, Tensor | None] = {}
        self._mem_upd: dict[str, Tensor] = {}
        self._mem_dense: dict[str, int] = {}
        self._mem_calls: dict[str, int] = {}
        self._mem_meta: dict[str, tuple[str, str | None]] = {}

    # -- registration --------------------------------------------------------------------
    def __enter__(self) -> Collector:
        self.attach()
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def attach(self) -> None:
        """Register all hooks."""
        if self._handles:
            raise RuntimeError("Collector is already attached")
        if self._want_ops:
            for name, mod in self.plan.connections:
                try:
                    counter = make_counter(mod, name, self.mode, self._encoding(name, mod))
                except UnsupportedLayerError as err:
                    self.unsupported[name] = str(err)
                    continue
                self._counters[name] = counter
                self._handles.append(mod.register_forward_hook(self._ops_hook(counter)))
        if self._want_act:
            for name, _, mod in self.plan.activations:
                self._act_numel[name] = 0
                self._handles.append(mod.register_forward_hook(self._act_hook(name)))
        if self._want_mem:
            for name, mod in self.plan.spiking:
                self._mem_pre[name] = None
                self._mem_dense[name] = 0
                self._mem_calls[name] = 0
                reset = getattr(mod, "_reset_mechanism", None)
                self._mem_meta[name] = (type(mod).__name__, reset)
                self._handles.append(mod.register_forward_pre_hook(self._mem_pre_hook(name)))
                self._handles.append(mod.register_forward_hook(self._mem_post_hook(name)))
        for name, why in self.unsupported.items():
            warn(f"layer {name!r}: {why}")

    def detach(self) -> None:
        """Remove all hooks."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    # -- hooks ---------------------------------------------------------------------------
    @staticmethod
    def _ops_hook(counter: LayerCounter) -> Callable[[nn.Module, tuple[Any, ...], Any], None]:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            counter.observe(args, output)

        return hook

    def _act_hook(self, name: str) -> Callable[[nn.Module, tuple[Any, ...], Any], None]:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            out = _spike_output(module, output)
            if out.is_quantized:
                out = out.dequantize()
            nz = _count_nonzero(out)
            acc = self._act_nz.get(name)
            if acc is None:
                self._act_nz[name] = nz.to(torch.float64)
            else:
                acc.add_(nz)
            self._act_numel[name] += out.numel()

        return hook

    def _mem_pre_hook(self, name: str) -> Callable[[nn.Module, tuple[Any, ...]], None]:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            mem = getattr(module, "mem", None)
            self._mem_pre[name] = mem if isinstance(mem, Tensor) else None

        return hook

    def _mem_post_hook(self, name: str) -> Callable[[nn.Module, tuple[Any, ...], Any], None]:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            post = getattr(module, "mem", None)
            if not isinstance(post, Tensor):
                return
            pre = self._mem_pre[name]
            first = self._mem_calls[name] == 0
            if self.mode == "neurobench" and first:
                upd = torch.tensor(post.numel(), dtype=torch.int64, device=post.device)
            elif pre is None or pre.shape != post.shape:
                # the state was (re)initialised to zeros for this input shape
                upd = torch.count_nonzero(post)
            else:
                upd = torch.count_nonzero(post - pre)
            acc = self._mem_upd.get(name)
            if acc is None:
                self._mem_upd[name] = upd
            else:
                acc.add_(upd)
            self._mem_dense[name] += post.numel()
            self._mem_calls[name] += 1
            self._mem_pre[name] = None

        return hook

    # -- batches -------------------------------------------------------------------------
    def end_batch(self, batch_size: int) -> BatchCounts:
        """Flush every accumulator into a :class:`BatchCounts` (one host sync per layer)."""
        counts = BatchCounts(batch_size=batch_size)
        for name, counter in self._counters.items():
            counts.ops[name] = counter.flush()
            for note in counter.notes:
                key = f"{name}:{note}"
                if note == "stateless-call" and key not in self.unsupported:
                    self.unsupported[key] = (
                        "called without a state: NeuroBench 2.3.0 crashes (LSTM/GRU cells) or "
                        "counts sample 0 only (RNNCell); counted here with the zero state"
                    )
                    warn(f"layer {name!r}: {self.unsupported[key]}")
        keys = {q: k for q, k, _ in self.plan.activations}
        for name, numel in self._act_numel.items():
            nz_t = self._act_nz.pop(name, None)
            nz = round(nz_t.item()) if nz_t is not None else 0
            counts.activations[name] = (nz, numel)
            counts.activation_keys[name] = keys[name]
            self._act_numel[name] = 0
        for name in self._mem_dense:
            upd_t = self._mem_upd.pop(name, None)
            ntype, reset = self._mem_meta[name]
            if self._mem_calls[name]:
                counts.membrane[name] = MembraneCounts(
                    updates=int(upd_t.item()) if upd_t is not None else 0,
                    dense=self._mem_dense[name],
                    neuron_type=ntype,
                    reset=reset,
                )
            self._mem_dense[name] = 0
            self._mem_calls[name] = 0
        return counts

    def iter_connection_modules(self) -> Iterator[tuple[str, nn.Module]]:
        """The hooked connection layers (qualified name, module)."""
        for name, counter in self._counters.items():
            yield name, counter.module
