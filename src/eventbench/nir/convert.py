r"""Conversion between :class:`~eventbench.core.SNN` and NIR graphs (``nir.NIRGraph``).

NIR describes a network in continuous time. Its ``CubaLIF`` / ``CubaLI`` nodes are

.. math::
    \tau_\mathrm{syn}\,\dot I = -I + w_\mathrm{in}\,S, \qquad
    \tau_\mathrm{mem}\,\dot v = (v_\mathrm{leak} - v) + r\,I,

where ``S`` is the weighted spike input (the output of the ``Linear``/``Affine`` nodes that feed
the neuron), and ``CubaLIF`` resets ``v`` to ``v_reset`` when it crosses ``v_threshold``. Our
neurons (:class:`~eventbench.core.LIFParams`) are :math:`\tau_m\dot V = -V + I + b`,
:math:`\tau_s\dot I = -I`, and a spike of presynaptic ``i`` makes ``I_j`` jump by ``w_ij``.

**Spike convention.** Time is in seconds. By default (``spike_dt_s=None``) a spike is what NIR's
equations say: a Dirac delta of unit area, so a spike through weight ``W_ji`` makes the NIR
current jump by :math:`w_{\mathrm{in},j} W_{ji}/\tau_{\mathrm{syn},j}`. Time-stepped tools
(snnTorch 1.0, Norse 1.1) read a spike as the value 1 held for one of *their* steps, i.e. a pulse
of area ``dt_g``; pass ``spike_dt_s=dt_g`` to write or read graphs in that convention. With
spike area ``A`` (1 or ``dt_g``) the two models are the same network when

.. math::
    w_{ij} = g_j\,W_{ji}, \qquad g_j = \frac{A\,r_j\,w_{\mathrm{in},j}}{\tau_{\mathrm{syn},j}},
    \qquad V = v, \quad b_j = v_{\mathrm{leak},j}, \quad \vartheta = v_\mathrm{threshold},
    \quad V_r = v_\mathrm{reset},

(our current is :math:`r\,I_\mathrm{NIR}`). :func:`export` writes ``r = 1``,
``w_in = tau_syn`` (so ``g = 1`` and ``W = w``) by default, and ``r = tau_mem/dt_g``,
``w_in = tau_syn/dt_g`` (``g = tau_mem/dt_g``, what snnTorch's importer requires) with
``spike_dt_s=dt_g``.

**Time grid.** :func:`load` simulates the graph on the grid ``t_n = n dt`` exactly
(exponential integration, :func:`~eventbench.core.params.discretise`); input bin ``n`` holds
the spikes at ``t_n``, and a spike emitted inside ``[t_n, t_{n+1}]`` is stamped ``t_{n+1}``
(docs/design.md). The only discretisation is this rounding of spike times up to the grid.

**Delays** are written as NIR ``Delay`` nodes: the connections of one projection are grouped by
their delay (in whole steps, as simulated), and each group is a ``Linear`` followed by a
``Delay`` of that value; NIR sums the groups at the target. :func:`load` accepts
``[Delay] -> Linear/Affine -> [Delay]`` chains whose delays are whole numbers of steps.

What EventBench cannot express (a neuron without a current synapse, per-neuron time
constants, a hidden bias, skip connections, ...) raises :class:`NIRConversionError` naming the
node; nothing is approximated silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from eventbench.core.network import SNN, Delays, GradientMethod, LayerSpec, LIFLayer, NetworkSpec
from eventbench.core.params import LIFParams
from eventbench.readout.readouts import ExpWeightedVoltage, FirstSpikeTime, Readout

if TYPE_CHECKING:
    import nir

__all__ = ["NIRConversionError", "export", "load", "read", "write"]

#: Relative spread below which a per-neuron NIR parameter counts as one value.
_UNIFORM_RTOL = 1e-5
#: Largest distance (in steps) of a delay from a whole number of steps.
_STEP_TOL = 1e-3
#: Metadata key of the readout node: whether the readout has a (trainable) bias.
_BIAS_KEY = "eventbench_output_bias"


class NIRConversionError(ValueError):
    """A NIR graph (or a part of it) that EventBench cannot express exactly."""


def _nir() -> Any:
    try:
        import nir
    except ImportError as exc:
        raise ImportError(
            "NIR export/import needs the 'nir' package: pip install 'eventbench[nir]'"
        ) from exc
    return nir


def _check_spike_dt(spike_dt_s: float | None) -> float:
    """Spike area ``A`` in seconds (1 for NIR's Dirac deltas)."""
    if spike_dt_s is None:
        return 1.0
    if not (math.isfinite(spike_dt_s) and spike_dt_s > 0.0):
        raise ValueError(f"spike_dt_s must be a positive number of seconds, got {spike_dt_s!r}")
    return float(spike_dt_s)


# ---------------------------------------------------------------------------------- export


def _neuron_fields(p: LIFParams, n: int, spike_dt_s: float | None) -> dict[str, np.ndarray]:
    """``tau_syn, tau_mem, r, w_in`` ([n], float64) of a population in the chosen convention."""
    tau_syn = np.full(n, p.tau_syn_s)
    tau_mem = np.full(n, p.tau_mem_s)
    if spike_dt_s is None:
        r, w_in = np.ones(n), tau_syn.copy()
    else:
        r, w_in = tau_mem / spike_dt_s, tau_syn / spike_dt_s
    return {"tau_syn": tau_syn, "tau_mem": tau_mem, "r": r, "w_in": w_in}


def _gain(f: Mapping[str, np.ndarray], area: float) -> np.ndarray:
    """Our current jump per unit NIR weight, ``g = A r w_in / tau_syn`` ([n])."""
    g: np.ndarray = area * f["r"] * f["w_in"] / f["tau_syn"]
    return g


def _add_projection(
    nodes: dict[str, Any],
    edges: list[tuple[str, str]],
    src: str,
    dst: str,
    name: str,
    w: Tensor,
    steps: Tensor | None,
    gain: np.ndarray,
    dt_s: float,
) -> None:
    """Nodes and edges of one projection ``w [n_pre, n_post]`` (delays ``steps`` in steps)."""
    nir = _nir()
    weight = w.detach().cpu().to(torch.float64).numpy().T / gain[:, None]  # [n_post, n_pre]
    weight = weight.astype(np.dtype(str(w.dtype).removeprefix("torch.")))
    if steps is None:
        nodes[name] = nir.Linear(weight=weight)
        edges += [(src, name), (name, dst)]
        return
    s = steps.cpu().numpy().T  # [n_post, n_pre]
    values = np.unique(s[weight != 0]) if np.any(weight != 0) else np.zeros(1, dtype=np.int64)
    for k in values.tolist():
        part = f"{name}_d{k}"
        nodes[part] = nir.Linear(weight=np.where(s == k, weight, 0).astype(weight.dtype))
        edges.append((src, part))
        if k == 0:
            edges.append((part, dst))
        else:
            nodes[f"{part}_delay"] = nir.Delay(delay=np.full(weight.shape[0], k * dt_s))
            edges += [(part, f"{part}_delay"), (f"{part}_delay", dst)]


def export(net: SNN, *, spike_dt_s: float | None = None) -> nir.NIRGraph:
    r"""The network as a ``nir.NIRGraph`` in continuous time (seconds).

    Nodes: ``input`` -> ``fc0`` (``Linear``) -> ``lif0`` (``CubaLIF``), ``lif0 -> rec0 -> lif0``
    for a recurrent layer, ... -> ``fc_out`` -> ``readout`` (``CubaLI`` with ``v_leak = b``
    for the leaky-integrator readout, ``CubaLIF`` for a spiking one) -> ``output``. Masked
    (pruned) connections are zero weights; delayed projections are split by delay into
    ``Linear -> Delay`` branches (``fc0_d3``, ``fc0_d3_delay``, ...), with the delays as
    simulated (``round(d/dt) dt``). An input -> readout skip is ``input -> fc_skip_d1 ->
    fc_skip_d1_delay -> readout`` with the delay ``dt`` at which the simulation delivers it.

    Args:
        net: the network (its effective, masked weights are written).
        spike_dt_s: ``None``: NIR's Dirac spikes (``r = 1``, ``w_in = tau_syn``, ``W = w``);
            a step ``dt_g``: the time-stepped convention of snnTorch and Norse (spike = 1 for
            one step ``dt_g``; ``r = tau_mem/dt_g``, ``w_in = tau_syn/dt_g``,
            ``W = w dt_g/tau_mem``).
    """
    nir = _nir()
    area = _check_spike_dt(spike_dt_s)
    spec = net.spec
    t = net.tensors()
    ff_steps, rec_steps = t.delay_steps() if t.has_delays else ([None] * len(spec.hidden),) * 2
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([spec.n_inputs])})}
    edges: list[tuple[str, str]] = []
    src = "input"
    for k, h in enumerate(spec.hidden):
        f = _neuron_fields(h.neuron, h.size, spike_dt_s)
        dst = f"lif{k}"
        nodes[dst] = nir.CubaLIF(
            v_leak=np.zeros(h.size),
            v_threshold=np.full(h.size, h.neuron.threshold),
            v_reset=np.full(h.size, h.neuron.v_reset),
            **f,
        )
        g = _gain(f, area)
        _add_projection(nodes, edges, src, dst, f"fc{k}", t.w_ff[k], ff_steps[k], g, spec.dt_s)
        w_rec = t.w_rec[k]
        if w_rec is not None:
            _add_projection(nodes, edges, dst, dst, f"rec{k}", w_rec, rec_steps[k], g, spec.dt_s)
        src = dst
    n_out = spec.n_outputs
    f = _neuron_fields(spec.output, n_out, spike_dt_s)
    if spec.output_kind == "li":
        bias = t.bias.detach().cpu().to(torch.float64).numpy() if t.bias is not None else None
        nodes["readout"] = nir.CubaLI(
            v_leak=bias if bias is not None else np.zeros(n_out),
            metadata={_BIAS_KEY: int(bias is not None)},
            **f,
        )
    else:
        nodes["readout"] = nir.CubaLIF(
            v_leak=np.zeros(n_out),
            v_threshold=np.full(n_out, spec.output.threshold),
            v_reset=np.full(n_out, spec.output.v_reset),
            **f,
        )
    _add_projection(nodes, edges, src, "readout", "fc_out", t.w_out, None, _gain(f, area), spec.dt_s)
    if t.w_skip is not None:
        # the input -> readout skip, which the simulation delivers one step later
        one_step = torch.ones(t.w_skip.shape, dtype=torch.int64)
        _add_projection(nodes, edges, "input", "readout", "fc_skip", t.w_skip, one_step,
                        _gain(f, area), spec.dt_s)
    nodes["output"] = nir.Output(output_type={"output": np.array([n_out])})
    edges.append(("readout", "output"))
    meta: dict[str, Any] = {
        "eventbench_time_unit": "s", "eventbench_dt_s": spec.dt_s, "eventbench_n_steps": spec.n_steps
    }
    if spike_dt_s is not None:
        meta["eventbench_spike_dt_s"] = spike_dt_s
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def write(path: str | Path, net_or_graph: SNN | nir.NIRGraph, *, spike_dt_s: float | None = None) -> Path:
    """Write a network (exported with :func:`export`) or a graph to a NIR (HDF5) file."""
    nir = _nir()
    if isinstance(net_or_graph, SNN):
        graph = export(net_or_graph, spike_dt_s=spike_dt_s)
    elif spike_dt_s is not None:
        raise ValueError("spike_dt_s applies when writing a network, not an existing graph")
    else:
        graph = net_or_graph
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    nir.write(str(p), graph)
    return p


def read(path: str | Path) -> nir.NIRGraph:
    """Read a NIR file; a missing or unreadable file raises an error naming it."""
    nir = _nir()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"NIR file {str(p)!r} does not exist")
    try:
        graph = nir.read(str(p))
    except (OSError, KeyError, ValueError) as exc:
        raise NIRConversionError(f"NIR file {str(p)!r} cannot be read: {exc}") from exc
    return graph


# ------------------------------------------------------------------------------------ load


def _arr(value: Any) -> np.ndarray:
    """A NIR parameter (numpy array, torch tensor or number) as a float64 array."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _flatten(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Nodes and edges with nested graphs inlined (``outer.inner`` names); the ``Input`` and
    ``Output`` nodes of a nested graph become pass-through nodes (removed by :func:`_bypass`)."""
    nir = _nir()
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    inner_io: dict[str, tuple[str, str]] = {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _flatten(node, full + ".")
            ins = [k for k, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [k for k, v in node.nodes.items() if isinstance(v, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise NIRConversionError(
                    f"nested graph {full!r} needs exactly one Input and one Output node"
                )
            inner_io[full] = (f"{full}.{ins[0]}", f"{full}.{outs[0]}")
            for k in (ins[0], outs[0]):
                sub_nodes[f"{full}.{k}"] = _PASS
            nodes.update(sub_nodes)
            edges += sub_edges
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = prefix + a, prefix + b
        a = inner_io[a][1] if a in inner_io else a
        b = inner_io[b][0] if b in inner_io else b
        edges.append((a, b))
    return nodes, edges


_PASS = object()  # marker of a nested graph's Input/Output node


def _bypass(nodes: dict[str, Any], edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Edges with every pass-through node removed (its inputs wired to its outputs)."""
    for name in [k for k, v in nodes.items() if v is _PASS]:
        ins = [a for a, b in edges if b == name]
        outs = [b for a, b in edges if a == name]
        edges = [e for e in edges if name not in e] + [(a, b) for a in ins for b in outs]
        del nodes[name]
    return list(dict.fromkeys(edges))


@dataclass
class _Projection:
    """Weights ``w [n_dst, n_src]`` (NIR units) and delays ``d`` (s) from one population."""

    w: np.ndarray
    d: np.ndarray


def _apply_linear(name: str, m: np.ndarray, p: _Projection) -> _Projection:
    """Compose a ``Linear`` ``m [n_next, n_cur]`` after the projection ``p``."""
    if m.ndim != 2 or m.shape[1] != p.w.shape[0]:
        raise NIRConversionError(
            f"node {name!r}: weight of shape {m.shape} does not fit its input of size {p.w.shape[0]}"
        )
    w = m @ p.w
    used = p.w != 0
    if not np.any(used) or np.ptp(p.d[used]) == 0:
        d0 = float(p.d[used].flat[0]) if np.any(used) else 0.0
        return _Projection(w, np.full(w.shape, d0))
    # contributions k to (j, i) must share one delay; rows of m in blocks of ~2^24 elements
    n_next, n_cur = m.shape
    hi = np.empty(w.shape)
    lo = np.empty(w.shape)
    has = np.empty(w.shape, dtype=bool)
    block = max(1, (1 << 24) // max(1, n_cur * p.w.shape[1]))
    for r in range(0, n_next, block):
        contrib = (m[r : r + block] != 0)[:, :, None] & used[None, :, :]  # [rows, n_cur, n_src]
        hi[r : r + block] = np.where(contrib, p.d[None], -np.inf).max(axis=1)
        lo[r : r + block] = np.where(contrib, p.d[None], np.inf).min(axis=1)
        has[r : r + block] = contrib.any(axis=1)
    if np.any(has & (hi != lo)):
        j, i = np.argwhere(has & (hi != lo))[0]
        raise NIRConversionError(
            f"node {name!r}: connection {i} -> {j} sums paths with different delays "
            f"({lo[j, i]} s and {hi[j, i]} s); EventBench has one delay per connection"
        )
    return _Projection(w, np.where(has, hi, 0.0))


def _trace(
    name: str, nodes: dict[str, Any], preds: dict[str, list[str]], pops: set[str]
) -> tuple[str, _Projection]:
    """Follow the connection chain that ends in node ``name`` back to a population; return the
    population and the composed projection onto ``name``'s input."""
    nir = _nir()
    chain: list[str] = []
    cur = name
    while cur not in pops:
        node = nodes[cur]
        if not isinstance(node, (nir.Linear, nir.Affine, nir.Delay)):
            raise NIRConversionError(_unsupported(cur, node))
        if len(preds.get(cur, [])) != 1:
            raise NIRConversionError(
                f"node {cur!r} ({type(node).__name__}) has {len(preds.get(cur, []))} inputs; "
                "EventBench reads one input per connection node"
            )
        chain.append(cur)
        cur = preds[cur][0]
    src = cur
    size = _pop_size(src, nodes[src], nodes, chain)
    # while no Linear has been applied the projection is the identity with per-source delays
    # ``dv`` (kept as a vector: an identity matrix would cost n_src^2 per branch)
    dv = np.zeros(size)
    proj: _Projection | None = None
    for c in reversed(chain):
        node = nodes[c]
        n_cur = size if proj is None else proj.w.shape[0]
        if isinstance(node, nir.Delay):
            d = _arr(node.delay).reshape(-1)
            if d.shape[0] != n_cur or np.any(d < 0) or not np.all(np.isfinite(d)):
                raise NIRConversionError(
                    f"Delay {c!r}: delay must be {n_cur} finite values >= 0 s, got {d.shape[0]}"
                )
            if proj is None:
                dv = dv + d
            else:
                proj = _Projection(proj.w, proj.d + d[:, None])
            continue
        if isinstance(node, nir.Affine) and np.any(_arr(node.bias) != 0):
            raise NIRConversionError(
                f"Affine {c!r} has a non-zero bias: a constant input to the synapses, which "
                "EventBench layers do not have (the readout's bias is CubaLI.v_leak)"
            )
        m = _arr(node.weight)
        if proj is None:
            if m.ndim != 2 or m.shape[1] != size:
                raise NIRConversionError(
                    f"node {c!r}: weight of shape {m.shape} does not fit its input of size {size}"
                )
            proj = _Projection(m, np.where(m != 0, dv[None, :], 0.0))
        else:
            proj = _apply_linear(c, m, proj)
    if proj is None:
        raise NIRConversionError(
            f"the connection {src!r} -> {name!r} has no Linear/Affine node; EventBench needs weights"
        )
    return src, proj


def _pop_size(src: str, node: Any, nodes: dict[str, Any], chain: list[str]) -> int:
    nir = _nir()
    if isinstance(node, nir.Input):
        first = nodes[chain[-1]] if chain else None
        w = getattr(first, "weight", None)
        if w is None:
            d = getattr(first, "delay", None)
            w = None if d is None else _arr(d).reshape(1, -1)
        shape = _arr(w).shape if w is not None else tuple(int(s) for s in node.input_type["input"])
        return int(shape[-1])
    return int(_arr(node.tau_mem).size)


def _unsupported(name: str, node: Any) -> str:
    kind = type(node).__name__
    if kind in ("LIF", "LI", "IF", "I"):
        return (
            f"node {name!r} is a NIR {kind}, a neuron without a current synapse; EventBench "
            "neurons have one (tau_syn > 0): use CubaLIF / CubaLI"
        )
    return f"node {name!r}: NIR {kind} nodes are not supported by EventBench"


def _uniform(name: str, field: str, values: np.ndarray) -> float:
    v = values.reshape(-1)
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise NIRConversionError(f"node {name!r}: {field} must be finite numbers")
    if np.ptp(v) > _UNIFORM_RTOL * max(1e-12, float(np.abs(v).max())):
        raise NIRConversionError(
            f"node {name!r}: {field} differs between neurons ({v.min()} to {v.max()}); "
            "an EventBench layer has one value for all its neurons"
        )
    return float(v[0])


def _params(name: str, node: Any, spiking: bool) -> LIFParams:
    tau_syn = _uniform(name, "tau_syn", _arr(node.tau_syn))
    tau_mem = _uniform(name, "tau_mem", _arr(node.tau_mem))
    if not spiking:
        return LIFParams(tau_mem_s=tau_mem, tau_syn_s=tau_syn)
    threshold = _uniform(name, "v_threshold", _arr(node.v_threshold))
    reset = 0.0 if node.v_reset is None else _uniform(name, "v_reset", _arr(node.v_reset))
    try:
        return LIFParams(tau_mem_s=tau_mem, tau_syn_s=tau_syn, threshold=threshold, v_reset=reset)
    except ValueError as exc:
        raise NIRConversionError(f"node {name!r}: {exc}") from exc


def _delays_for(name: str, d: np.ndarray, dt_s: float) -> np.ndarray | None:
    """Delays in seconds on the grid (``None`` when all are zero); off-grid is an error."""
    if not np.any(d):
        return None
    steps = d / dt_s
    off = np.abs(steps - np.round(steps))
    if np.any(off > _STEP_TOL):
        bad = float(d.flat[int(np.argmax(off))])
        raise NIRConversionError(
            f"{name!r}: delay {bad} s is not a whole number of steps of dt = {dt_s} s; the "
            "time-stepped simulation would round it (choose a dt that divides the delays)"
        )
    out: np.ndarray = np.round(steps) * dt_s
    return out


@dataclass
class _Parsed:
    """A graph as EventBench layers: ``order`` = hidden populations then the readout,
    ``incoming[n][src]`` = the projections from population ``src`` onto ``n``."""

    nodes: dict[str, Any]
    input: str
    order: list[str]
    incoming: dict[str, dict[str, list[_Projection]]]


def _parse(graph: Any) -> _Parsed:
    """Check the graph's structure (one Input, a chain of CubaLIF layers, a readout, one
    Output) and compose the connections between its populations."""
    nir = _nir()
    nodes, edges = _flatten(graph)
    edges = _bypass(nodes, edges)
    for a, b in edges:
        for n in (a, b):
            if n not in nodes:
                raise NIRConversionError(f"edge ({a!r}, {b!r}) names a node {n!r} the graph does not have")
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRConversionError(
            f"the graph needs one Input and one Output node, found inputs {inputs}, outputs {outputs}"
        )
    neurons = {k for k, v in nodes.items() if isinstance(v, (nir.CubaLIF, nir.CubaLI))}
    for k, v in nodes.items():
        if k not in neurons and not isinstance(v, (nir.Input, nir.Output, nir.Linear, nir.Affine, nir.Delay)):
            raise NIRConversionError(_unsupported(k, v))
    preds: dict[str, list[str]] = {}
    for a, b in edges:
        preds.setdefault(b, []).append(a)
    pops = neurons | {inputs[0]}
    # incoming projections of every neuron population, by source population
    incoming: dict[str, dict[str, list[_Projection]]] = {}
    for n in neurons:
        for p in preds.get(n, []):
            src, proj = _trace(p, nodes, preds, pops) if p not in pops else (p, None)
            if proj is None:
                raise NIRConversionError(
                    f"edge ({p!r}, {n!r}) connects two populations without weights; "
                    "EventBench needs a Linear/Affine node between them"
                )
            incoming.setdefault(n, {}).setdefault(src, []).append(proj)
    # order: Input -> hidden ... -> readout
    out_src = preds.get(outputs[0], [])
    if len(out_src) != 1 or out_src[0] not in neurons:
        raise NIRConversionError(
            f"Output {outputs[0]!r} must be fed by exactly one CubaLI/CubaLIF node, got {out_src}"
        )
    order: list[str] = []
    prev = inputs[0]
    while True:
        nxt = [n for n in neurons if prev in incoming.get(n, {}) and n != prev]
        if prev == inputs[0] and len(nxt) == 2 and out_src[0] in nxt:
            nxt.remove(out_src[0])  # the input -> readout skip
        if len(nxt) != 1:
            raise NIRConversionError(
                f"{prev!r} feeds {len(nxt)} neuron populations {sorted(nxt)}; EventBench needs a "
                "chain Input -> CubaLIF ... -> readout"
            )
        order.append(nxt[0])
        prev = nxt[0]
        if prev == out_src[0]:
            break
        if len(order) > len(neurons):  # pragma: no cover - a cycle through several layers
            raise NIRConversionError("the populations do not form a chain")
    for n in neurons - set(order):
        raise NIRConversionError(f"node {n!r} is not on the path from Input to Output")
    if len(order) < 2:
        raise NIRConversionError(
            "the graph needs at least one hidden CubaLIF layer before the readout population"
        )
    for pos, n in enumerate(order):
        allowed = {inputs[0] if pos == 0 else order[pos - 1], n}
        if pos == len(order) - 1:
            allowed.add(inputs[0])  # the input -> readout skip
        extra = set(incoming.get(n, {})) - allowed
        if extra:
            raise NIRConversionError(
                f"node {n!r} receives from {sorted(extra)} besides the previous layer: skip "
                "connections are supported only from the Input to the readout"
            )
    hidden, out = order[:-1], order[-1]
    for n in hidden:
        if not isinstance(nodes[n], nir.CubaLIF):
            raise NIRConversionError(f"hidden node {n!r} must be a CubaLIF, got {type(nodes[n]).__name__}")
        if np.any(_arr(nodes[n].v_leak) != 0):
            raise NIRConversionError(
                f"CubaLIF {n!r} has v_leak != 0: a hidden-layer bias, which EventBench does not have"
            )
    if out in incoming[out]:
        raise NIRConversionError(f"the readout population {out!r} cannot be recurrent")
    return _Parsed(nodes, inputs[0], order, incoming)


def _merge(g: _Parsed, n: str, src: str, area: float, dt_s: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Summed weights ``[n_src, n_dst]`` in our units (``w = g W``) and delays (s, or ``None``)
    of the projections ``src -> n``."""
    projs = g.incoming[n][src]
    w = np.zeros_like(projs[0].w)
    d = np.zeros_like(projs[0].w)
    for p in projs:
        clash = (w != 0) & (p.w != 0) & (d != p.d)
        if np.any(clash):
            j, i = np.argwhere(clash)[0]
            raise NIRConversionError(
                f"connection {i} of {src!r} -> {j} of {n!r} has two different delays"
            )
        d = np.where(p.w != 0, p.d, d)
        w = w + p.w
    node = g.nodes[n]
    f = {"r": _arr(node.r), "w_in": _arr(node.w_in), "tau_syn": _arr(node.tau_syn)}
    if w.shape[0] != f["tau_syn"].size:
        raise NIRConversionError(
            f"node {n!r} has {f['tau_syn'].size} neurons but receives {w.shape[0]} inputs from {src!r}"
        )
    gain = _gain(f, area)
    if not np.all(np.isfinite(gain)):
        raise NIRConversionError(f"node {n!r}: r, w_in and tau_syn must be finite and tau_syn > 0")
    return (w * gain[:, None]).T, _delays_for(f"{src} -> {n}", d.T, dt_s)


def load(
    graph: nir.NIRGraph | str | Path,
    *,
    dt_s: float | None = None,
    n_steps: int | None = None,
    readout: Readout | None = None,
    method: GradientMethod | None = None,
    dtype: torch.dtype = torch.float32,
    spike_dt_s: float | None = None,
    prune_zeros: bool = True,
) -> SNN:
    r"""An :class:`~eventbench.core.SNN` that simulates a NIR graph (or NIR file) on the grid
    ``t_n = n dt_s``, ``n_steps`` steps per trial.

    The graph must be ``Input -> CubaLIF (-> itself) -> ... -> CubaLI | CubaLIF -> Output``
    with ``[Delay] -> Linear/Affine (zero bias) -> [Delay]`` connections (nested graphs, as
    snnTorch writes recurrent layers, are inlined). Weights become
    :math:`w_{ij} = g_j W_{ji}` (module docstring); zero weights become pruned connections
    (masks) when ``prune_zeros``.

    Args:
        graph: a ``nir.NIRGraph`` or the path of a NIR file.
        dt_s: simulation step (s); delays must be whole multiples of it. Default: the grid a
            graph written by :func:`export` records in its metadata (other graphs need it).
        n_steps: steps per trial (default as ``dt_s``).
        readout: default ``ExpWeightedVoltage()`` for a ``CubaLI`` readout,
            ``FirstSpikeTime()`` for a ``CubaLIF`` one.
        method: gradient method (default EventProp).
        dtype: ``torch.float32`` or ``torch.float64``.
        spike_dt_s: ``None`` for NIR's Dirac spikes; the step of a time-stepped writer whose
            spikes are the value 1 for one step (snnTorch 1.0: ``1e-4``).
        prune_zeros: whether zero weights are masked (stay zero when trained).
    Raises:
        NIRConversionError: a part of the graph EventBench cannot express, named.
    """
    nir = _nir()
    area = _check_spike_dt(spike_dt_s)
    if not isinstance(graph, nir.NIRGraph):
        graph = read(graph)
    meta_g = getattr(graph, "metadata", None) or {}
    dt_s = float(meta_g["eventbench_dt_s"]) if dt_s is None and "eventbench_dt_s" in meta_g else dt_s
    if n_steps is None and "eventbench_n_steps" in meta_g:
        n_steps = int(meta_g["eventbench_n_steps"])
    if dt_s is None or n_steps is None:
        raise ValueError(
            "load needs dt_s and n_steps: a NIR graph is continuous-time and this one does not "
            "record a simulation grid"
        )
    g = _parse(graph)
    hidden, out = g.order[:-1], g.order[-1]
    out_node = g.nodes[out]
    layers: list[LayerSpec] = []
    weights: list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]] = []
    prev = g.input
    for n in hidden:
        w_ff, d_ff = _merge(g, n, prev, area, dt_s)
        w_rec, d_rec = _merge(g, n, n, area, dt_s) if n in g.incoming[n] else (None, None)
        layers.append(
            LayerSpec(
                int(_arr(g.nodes[n].tau_mem).size),
                recurrent=w_rec is not None,
                neuron=_params(n, g.nodes[n], spiking=True),
                delay_ff=None if d_ff is None else Delays(max_s=float(d_ff.max())),
                delay_rec=None if d_rec is None else Delays(max_s=float(d_rec.max())),
            )
        )
        weights.append((w_ff, w_rec, d_ff, d_rec))
        prev = n
    w_out, d_out = _merge(g, out, prev, area, dt_s)
    if d_out is not None:
        raise NIRConversionError(
            f"the connections {prev!r} -> {out!r} are delayed; EventBench delays only "
            "connections into hidden layers"
        )
    spiking_out = isinstance(out_node, nir.CubaLIF)
    w_skip = None
    if g.input in g.incoming[out] and len(hidden) > 0:
        w_skip, d_skip = _merge(g, out, g.input, area, dt_s)
        if spiking_out:
            raise NIRConversionError(
                f"the Input -> {out!r} skip needs a CubaLI readout (EventBench adds it to a "
                "linear readout)"
            )
        if d_skip is None or np.any(np.abs(d_skip[w_skip != 0] - dt_s) > 1e-9 * dt_s):
            raise NIRConversionError(
                f"the Input -> {out!r} skip must be delayed by exactly one step dt = {dt_s} s "
                "on every connection (EventBench delivers it with the hidden spikes the same "
                "input causes)"
            )
    v_leak = _arr(out_node.v_leak).reshape(-1)
    if spiking_out and np.any(v_leak != 0):
        raise NIRConversionError(f"CubaLIF readout {out!r} has v_leak != 0, which EventBench does not support")
    meta = getattr(out_node, "metadata", None) or {}
    has_bias = not spiking_out and (bool(np.any(v_leak != 0)) or bool(int(meta.get(_BIAS_KEY, 0))))
    spec = NetworkSpec(
        n_inputs=weights[0][0].shape[0],
        hidden=tuple(layers),
        n_outputs=w_out.shape[1],
        dt_s=dt_s,
        n_steps=n_steps,
        output=_params(out, out_node, spiking=spiking_out),
        output_kind="lif" if spiking_out else "li",
        output_bias=has_bias,
        skip=w_skip is not None,
    )
    if readout is None:
        readout = FirstSpikeTime() if spiking_out else ExpWeightedVoltage()
    if readout.needs_spiking_output and not spiking_out:
        raise NIRConversionError(
            f"readout {type(readout).__name__} needs a spiking readout population (CubaLIF), "
            f"but {out!r} is a CubaLI"
        )
    net = SNN(spec, readout, method, dtype=dtype)
    _set_weights(net, weights, w_out, v_leak if has_bias else None, prune_zeros, w_skip)
    return net


@torch.no_grad()
def _set_weights(
    net: SNN,
    weights: list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]],
    w_out: np.ndarray,
    bias: np.ndarray | None,
    prune_zeros: bool,
    w_skip: np.ndarray | None = None,
) -> None:
    dtype = net.readout_layer.w.dtype

    def put(param: Tensor, value: np.ndarray, mask: Tensor | None = None) -> None:
        v = torch.as_tensor(value, dtype=torch.float64)
        param.copy_(v.to(dtype))
        if mask is not None:
            mask.copy_(v != 0 if prune_zeros else torch.ones_like(mask))

    for layer, (w_ff, w_rec, d_ff, d_rec) in zip(net.layers, weights, strict=True):
        assert isinstance(layer, LIFLayer)
        put(layer.w_ff, w_ff, layer.mask_ff)
        if w_rec is not None and layer.w_rec is not None:
            put(layer.w_rec, w_rec, layer.mask_rec)
        if d_ff is not None and layer.d_ff is not None:
            put(layer.d_ff, d_ff)
        if d_rec is not None and layer.d_rec is not None:
            put(layer.d_rec, d_rec)
    put(net.readout_layer.w, w_out, net.readout_layer.mask)
    if bias is not None and net.readout_layer.bias is not None:
        put(net.readout_layer.bias, bias)
    if w_skip is not None and net.readout_layer.w_skip is not None:
        put(net.readout_layer.w_skip, w_skip, net.readout_layer.mask_skip)
