"""Synaptic-operation counters for PyTorch connection layers, fed by forward hooks.

Every counter is *streaming*: a hook call reduces the layer input to a small device-side
accumulator (non-zeros per input feature or per input position, summed over the batch) and
returns. Nothing per time step is stored, so memory is O(layers), not O(T x B x layers). At the
end of a batch :meth:`LayerCounter.flush` turns the accumulators into exact Python integers
with one host synchronisation.

Definitions (all counts are integers; the harness divides them by the samples seen):

* **Dense** operations of a connection: the number of (weight, input element) pairs the layer
  multiplies in one call, i.e. what a dense accelerator executes. For ``Linear``:
  ``rows x n_in x n_out``; for ``ConvNd``: the pairs whose input element is a real input
  (zero padding is not a synapse, as in NeuroBench: 3x3 kernel, padding 1, 4x4 input -> 100).
  Biases are never counted.
* **Effective** operations: pairs whose weight *and* input element are both non-zero:
  ``sum_i nnz_i(x) * fanout_i`` with ``fanout_i`` the non-zero weights reading input ``i``.
  This is NeuroBench's definition; we evaluate it as a dot product with a cached fan-out
  instead of replaying the layer on binarised copies. (NeuroBench sums the replayed float32
  output, so above 2**24 pairs in one layer call its count can be off by float rounding;
  ours is the exact integer in both modes.)
* **MAC vs AC.** ``neurobench`` mode decides per layer *call* by value: a call whose input
  elements all lie in {-1, 0, 1} is accumulate-only (AC), any other value makes the whole call
  MACs (NeuroBench 2.3.0). ``exact`` mode decides by *declared encoding*: a layer declared
  event-driven (``"ac"``) receives spike events; an input value ``k`` is ``|k|`` events, each
  costing one AC per non-zero outgoing weight (so event counts >= 2 are ACs, multiplied); its
  input must be integer-valued (checked, at the end of each batch, on the per-input event
  totals: a non-integer total raises). Every other layer counts MACs.
* **Recurrent layers** (``exact`` mode): ``W_ih x_t`` and ``W_hh h_{t-1}`` are counted like
  ``Linear`` for every layer, direction and step (the initial state included, zero if not
  given); the gate element-wise products are counted as MACs, dense and effective alike
  (their sigmoid operands are never zero): LSTM ``f*c``, ``i*g``, ``o*tanh(c)``; GRU
  ``r*(W_hn h + b_hn)``, ``(1-z)*n``, ``z*h``: 3 per hidden unit and step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eventbench.bench._common import Mode

Encoding = Literal["mac", "ac"]

CONNECTION_TYPES: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.RNNBase,
    nn.RNNCellBase,
)
"""Connection layers counted by the hook-based counters (NeuroBench's list)."""


class UnsupportedLayerError(NotImplementedError):
    """A layer (or a way of calling it) whose operations the harness cannot count."""


@dataclass
class LayerOps:
    """Exact integer operation counts of one layer over some calls."""

    dense: int = 0
    effective_macs: int = 0
    effective_acs: int = 0
    calls: int = 0

    def __iadd__(self, other: LayerOps) -> LayerOps:
        self.dense += other.dense
        self.effective_macs += other.effective_macs
        self.effective_acs += other.effective_acs
        self.calls += other.calls
        return self

    @property
    def effective(self) -> int:
        """Effective MACs plus effective ACs."""
        return self.effective_macs + self.effective_acs


def _as_int(t: Tensor) -> int:
    """Exact integer value of a float64/int64 scalar accumulator; fails on fractions."""
    v = t.item()
    if isinstance(v, float):
        if v != round(v):
            raise ValueError(
                f"an event-driven ('ac') layer received non-integer inputs (accumulated {v}); "
                "declare it 'mac' or feed integer event counts"
            )
        return round(v)
    return int(v)


_SMALL = 1 << 16
_CHUNK = 1 << 20  # elements per temporary when reducing large inputs


def _row_chunks(x: Tensor, lead_dims: int) -> tuple[Tensor, ...]:
    """Split ``x`` along dim 0 into pieces of about :data:`_CHUNK` elements."""
    if lead_dims != 1 or x.numel() <= _CHUNK or x.shape[0] < 2:
        return (x,)
    per_row = max(1, x.numel() // x.shape[0])
    rows = max(1, _CHUNK // per_row)
    return tuple(x[i : i + rows] for i in range(0, x.shape[0], rows))


def _is_ternary(x: Tensor) -> Tensor:
    """0-d bool tensor: every element of ``x`` is -1, 0 or 1 (NeuroBench's 'spiking' test)."""
    if x.numel() == 0:
        return torch.tensor(True, device=x.device)
    a = x.abs()
    return (a.sub(torch.sign(a)).abs_().amax() == 0)


class LayerCounter:
    """Base class: one per hooked connection layer."""

    def __init__(self, module: nn.Module, name: str, mode: Mode, encoding: Encoding) -> None:
        self.module = module
        self.name = name
        self.mode = mode
        self.encoding = encoding
        self.dense = 0
        self.calls = 0
        self.notes: list[str] = []

    def observe(self, args: tuple[Any, ...], output: Any) -> None:
        """Account for one call of the layer (called from a forward hook)."""
        raise NotImplementedError

    def flush(self) -> LayerOps:
        """Return the counts since the last flush and reset the accumulators."""
        raise NotImplementedError


class _FeatureAccumulator:
    """Accumulates per-input-position non-zero counts (MAC and AC parts) for a fixed shape.

    Counts are summed per call in the input's floating dtype (``sign(|x|)``: vectorised,
    exact below 2**24 rows per call) and accumulated in float64 (exact below 2**53).
    """

    def __init__(self, shape: tuple[int, ...], device: torch.device) -> None:
        self.mac = torch.zeros(shape, dtype=torch.float64, device=device)
        self.ac = torch.zeros(shape, dtype=torch.float64, device=device)
        self.used_mac = False
        self.used_ac = False
        self.split = False

    def add(self, x: Tensor, lead_dims: int, mode: Mode, encoding: Encoding) -> None:
        if not x.is_floating_point():
            x = x.to(torch.float32)
        dims = (0,) if lead_dims == 1 else tuple(range(lead_dims))
        if mode == "neurobench":
            # ternary iff |x| equals its non-zero indicator everywhere (NeuroBench's test);
            # ``ac`` holds every effective pair, ``mac`` the non-ternary calls' share
            nz_sum: Tensor | None = None
            graded: Tensor | None = None
            for part in _row_chunks(x, lead_dims):
                nz = torch.sign(part).abs_()
                g = (part.abs() != nz).any()
                s = nz.sum(dim=dims) if dims else nz
                nz_sum = s if nz_sum is None else nz_sum.add_(s)
                graded = g if graded is None else graded.logical_or_(g)
            assert nz_sum is not None and graded is not None
            self.ac.add_(nz_sum)
            self.mac.add_(nz_sum * graded)
            self.used_mac = self.used_ac = self.split = True
        elif encoding == "ac":
            mag = x.abs()
            self.ac.add_(mag.sum(dim=dims) if dims else mag)
            self.used_ac = True
        else:
            if not dims:
                self.mac.add_(torch.sign(x).abs_())
            elif x.numel() < _SMALL:  # fewer kernel launches for per-step tensors
                self.mac.add_(torch.count_nonzero(x, dim=dims))
            else:  # vectorised float path, in row chunks: bounded temporaries, cache-friendly
                for part in _row_chunks(x, lead_dims):
                    self.mac.add_(torch.sign(part).abs_().sum(dim=dims))
            self.used_mac = True

    def drain(self, fanout: Tensor) -> tuple[int, int]:
        if self.used_ac and bool((self.ac != self.ac.round()).any().item()):
            self.ac.zero_()
            raise ValueError(
                "an event-driven ('ac') layer received non-integer inputs; "
                "declare it 'mac' or feed integer event counts"
            )
        f = fanout.to(torch.float64)
        macs = _as_int((self.mac * f).sum()) if self.used_mac else 0
        acs = _as_int((self.ac * f).sum()) if self.used_ac else 0
        if self.split:  # neurobench mode: ``ac`` accumulated all pairs, ``mac`` the MAC part
            acs -= macs
        self.mac.zero_()
        self.ac.zero_()
        self.used_mac = self.used_ac = self.split = False
        return macs, acs


class LinearCounter(LayerCounter):
    """Counts ``nn.Linear`` calls (input ``[..., n_in]``)."""

    module: nn.Linear

    def __init__(self, module: nn.Linear, name: str, mode: Mode, encoding: Encoding) -> None:
        super().__init__(module, name, mode, encoding)
        self._acc: _FeatureAccumulator | None = None

    def observe(self, args: tuple[Any, ...], output: Any) -> None:
        x = args[0]
        n_in = self.module.in_features
        acc = self._acc
        if acc is None:
            acc = self._acc = _FeatureAccumulator((n_in,), x.device)
        if x.dim() != 2:
            x = x.reshape(-1, n_in)
        acc.add(x, 1, self.mode, self.encoding)
        self.dense += x.shape[0] * n_in * self.module.out_features
        self.calls += 1

    def flush(self) -> LayerOps:
        ops = LayerOps(dense=self.dense, calls=self.calls)
        if self._acc is not None:
            fanout = (self.module.weight != 0).sum(dim=0)  # [n_in]
            ops.effective_macs, ops.effective_acs = self._acc.drain(fanout)
        self.dense = 0
        self.calls = 0
        return ops


ConvModule = nn.Conv1d | nn.Conv2d | nn.Conv3d


def _conv_padding(module: ConvModule) -> tuple[list[int] | None, Any]:
    """(explicit F.pad list for non-zero padding modes, padding argument for F.convNd)."""
    padding_mode = module.padding_mode
    padding = module.padding
    if padding_mode == "zeros":
        return None, padding
    if isinstance(padding, str):
        raise UnsupportedLayerError(
            f"{type(module).__name__} with padding={padding!r} and padding_mode={padding_mode!r}"
        )
    pad: list[int] = []
    for p in reversed(padding):
        pad += [p, p]
    return pad, 0


class ConvCounter(LayerCounter):
    """Counts ``nn.Conv1d/2d/3d`` calls.

    The effective count of a call is ``<nnz(x) summed over the batch, K>`` where
    ``K[c, p]`` is the number of (non-zero weight, output position) pairs reading input
    element ``(c, p)``: the adjoint of the binarised convolution applied to an all-ones
    output, computed with autograd in float64 from the current weights at each flush (the
    dense count, weight-independent, is cached per input shape). Per call only the
    non-zeros of the input are summed over the batch.
    """

    module: ConvModule

    def __init__(self, module: ConvModule, name: str, mode: Mode, encoding: Encoding) -> None:
        super().__init__(module, name, mode, encoding)
        self._nd = len(module.kernel_size)
        self._accs: dict[tuple[int, ...], _FeatureAccumulator] = {}
        self._dense_cache: dict[tuple[int, ...], int] = {}
        self._pad, self._padding = _conv_padding(module)

    def _conv(self, x: Tensor, w: Tensor) -> Tensor:
        m = self.module
        if self._pad is not None:
            x = F.pad(x, self._pad, mode=m.padding_mode)
        fn: Any = (F.conv1d, F.conv2d, F.conv3d)[self._nd - 1]
        out: Tensor = fn(x, w, None, m.stride, self._padding, m.dilation, m.groups)
        return out

    def _adjoint(self, sample_shape: tuple[int, ...], ones_weight: bool) -> Tensor:
        """K for one sample of shape ``sample_shape`` ([C, *spatial])."""
        w = self.module.weight
        with torch.inference_mode(False), torch.enable_grad():
            wb = torch.ones(w.shape, dtype=torch.float64, device=w.device)
            if not ones_weight:
                wb = (w.detach() != 0).to(torch.float64)
            xin = torch.ones(
                (1, *sample_shape), dtype=torch.float64, device=w.device, requires_grad=True
            )
            (grad,) = torch.autograd.grad(self._conv(xin, wb).sum(), xin)
            return grad[0].round().to(torch.int64)

    def observe(self, args: tuple[Any, ...], output: Any) -> None:
        x = args[0]
        if x.dim() == self._nd + 1:  # unbatched
            x = x.unsqueeze(0)
        shape = tuple(x.shape[1:])
        acc = self._accs.get(shape)
        if acc is None:
            acc = self._accs[shape] = _FeatureAccumulator(shape, x.device)
        acc.add(x, 1, self.mode, self.encoding)
        dense = self._dense_cache.get(shape)
        if dense is None:
            dense = self._dense_cache[shape] = int(self._adjoint(shape, True).sum().item())
        self.dense += x.shape[0] * dense
        self.calls += 1

    def flush(self) -> LayerOps:
        ops = LayerOps(dense=self.dense, calls=self.calls)
        for shape, acc in self._accs.items():
            if acc.used_mac or acc.used_ac:
                k = self._adjoint(shape, False)
                macs, acs = acc.drain(k)
                ops.effective_macs += macs
                ops.effective_acs += acs
        self.dense = 0
        self.calls = 0
        return ops


_GATES = {nn.RNNCell: 1, nn.LSTMCell: 4, nn.GRUCell: 3, nn.RNN: 1, nn.LSTM: 4, nn.GRU: 3}
_ELEMENTWISE = {nn.RNNCell: 0, nn.LSTMCell: 3, nn.GRUCell: 3, nn.RNN: 0, nn.LSTM: 3, nn.GRU: 3}


def _kind(module: nn.Module) -> type[nn.Module]:
    for cls in _GATES:
        if isinstance(module, cls):
            return cls
    raise UnsupportedLayerError(f"recurrent layer type {type(module).__name__} is not supported")


class CellCounter(LayerCounter):
    """Counts ``nn.RNNCell``, ``nn.LSTMCell`` and ``nn.GRUCell`` calls.

    ``exact`` mode: see the module docstring; a call without a state counts the
    zero initial state (no effective ``W_hh`` operations, dense ones all counted).
    ``neurobench`` mode: NeuroBench 2.3.0's cell formulas on binarised weights, inputs and
    states (its fixtures: LSTMCell 615, RNNCell 150, GRUCell 465 MACs). NeuroBench crashes on
    LSTM/GRU cells called without a state and counts only sample 0 for such RNNCell calls;
    here the zero state is made explicit and the layer gets a note.
    """

    module: nn.RNNCellBase

    def __init__(self, module: nn.RNNCellBase, name: str, mode: Mode, encoding: Encoding) -> None:
        super().__init__(module, name, mode, encoding)
        self._kind = _kind(module)
        self._gates = _GATES[self._kind]
        self._acc_ih: _FeatureAccumulator | None = None
        self._acc_hh: _FeatureAccumulator | None = None
        self._nb_mac: Tensor | None = None
        self._nb_ac: Tensor | None = None
        self._nb_dense: Tensor | None = None
        self._elementwise = 0

    def observe(self, args: tuple[Any, ...], output: Any) -> None:
        x: Tensor = args[0]
        hx = args[1] if len(args) > 1 else None
        if x.dim() == 1:
            x = x.unsqueeze(0)
            if hx is not None:
                hx = (
                    tuple(h.unsqueeze(0) for h in hx)
                    if isinstance(hx, tuple)
                    else hx.unsqueeze(0)
                )
        if hx is None and self.mode == "neurobench" and "stateless-call" not in self.notes:
            self.notes.append("stateless-call")
        if self.mode == "neurobench":
            self._observe_neurobench(x, hx)
        else:
            self._observe_exact(x, hx)
        self.calls += 1

    # -- exact ---------------------------------------------------------------------------
    def _observe_exact(self, x: Tensor, hx: Any) -> None:
        m = self.module
        b, hsz, g = x.shape[0], m.hidden_size, self._gates
        if self._acc_ih is None:
            self._acc_ih = _FeatureAccumulator((m.input_size,), x.device)
            self._acc_hh = _FeatureAccumulator((hsz,), x.device)
        self._acc_ih.add(x, 1, "exact", self.encoding)
        if hx is not None:
            h = hx[0] if isinstance(hx, tuple) else hx
            assert self._acc_hh is not None
            self._acc_hh.add(h, 1, "exact", "mac")
        ew = _ELEMENTWISE[self._kind] * hsz * b
        self._elementwise += ew
        self.dense += b * g * hsz * (m.input_size + hsz) + ew

    # -- neurobench ----------------------------------------------------------------------
    def _observe_neurobench(self, x: Tensor, hx: Any) -> None:
        eff = self._nb_formula(x, hx, total=False)
        dense = self._nb_formula(x, hx, total=True)
        spiking = _is_ternary(x)
        if self._nb_mac is None:
            z = torch.zeros((), dtype=torch.float64, device=x.device)
            self._nb_mac, self._nb_ac, self._nb_dense = z.clone(), z.clone(), z.clone()
        assert self._nb_ac is not None and self._nb_dense is not None
        self._nb_ac.add_(eff * spiking)
        self._nb_mac.add_(eff * torch.logical_not(spiking))
        self._nb_dense.add_(dense)

    def _nb_formula(self, x: Tensor, hx: Any, total: bool) -> Tensor:
        """NeuroBench 2.3.0's count for one call, re-derived from its definition."""
        m = self.module
        f64 = torch.float64
        hsz = m.hidden_size

        def binar(t: Tensor) -> Tensor:
            return (t != 0).to(f64)

        def ones_or_bin(t: Tensor) -> Tensor:
            return torch.ones(t.shape, dtype=f64, device=t.device) if total else binar(t)

        xb = ones_or_bin(x)
        wih, whh = ones_or_bin(m.weight_ih), ones_or_bin(m.weight_hh)
        b = x.shape[0]
        if self._kind is nn.LSTMCell:
            if hx is None:
                h0 = c0 = torch.zeros((b, hsz), dtype=f64, device=x.device)
            else:
                h0, c0 = hx
            # the nested (h, c) state is binarised even for the dense count (NeuroBench)
            hb, cb = binar(h0), binar(c0)
        else:
            h0 = torch.zeros((b, hsz), dtype=f64, device=x.device) if hx is None else hx
            hb = ones_or_bin(h0)
        if m.bias:
            bih, bhh = ones_or_bin(m.bias_ih), ones_or_bin(m.bias_hh)
        else:
            bih = bhh = torch.zeros(self._gates * hsz, dtype=f64, device=x.device)
        a_ih = xb @ wih.T
        a_hh = hb @ whh.T
        s = a_ih + a_hh
        ops = s.sum()
        if self._kind is nn.RNNCell:
            return ops
        if self._kind is nn.LSTMCell:
            gates = (s + bih + bhh) != 0
            gi, gf = gates[:, :hsz], gates[:, hsz : 2 * hsz]
            gg, go = gates[:, 2 * hsz : 3 * hsz], gates[:, 3 * hsz :]
            c1 = gf.to(f64) * cb + (gi & gg).to(f64)
            return ops + c1.sum() + (go & (c1 != 0)).sum()
        # GRUCell
        rzn = s + bih + bhh
        r = rzn[:, :hsz] != 0
        z = rzn[:, hsz : 2 * hsz]
        hn = (a_hh[:, 2 * hsz :] + bhh[2 * hsz :]) != 0
        nterm = r & hn
        # NeuroBench adds element 2 of the (binarised) input bias here, not the n-gate bias
        n = (a_hh[:, 2 * hsz :] + bih[2] + nterm.to(f64)) != 0
        t1 = ((1 - z) != 0) & n
        t2 = ((z != 0).to(f64) * hb) != 0
        return ops + nterm.sum() + t1.sum() + t2.sum()

    def flush(self) -> LayerOps:
        ops = LayerOps(calls=self.calls)
        if self.mode == "neurobench":
            if self._nb_mac is not None:
                assert self._nb_ac is not None and self._nb_dense is not None
                ops.effective_macs = round(self._nb_mac.item())
                ops.effective_acs = round(self._nb_ac.item())
                ops.dense = round(self._nb_dense.item())
                for t in (self._nb_mac, self._nb_ac, self._nb_dense):
                    t.zero_()
        else:
            ops.dense = self.dense
            if self._acc_ih is not None and self._acc_hh is not None:
                m = self.module
                mac_ih, ac_ih = self._acc_ih.drain((m.weight_ih != 0).sum(dim=0))
                mac_hh, _ = self._acc_hh.drain((m.weight_hh != 0).sum(dim=0))
                ops.effective_macs = mac_ih + mac_hh + self._elementwise
                ops.effective_acs = ac_ih
        self.dense = 0
        self.calls = 0
        self._elementwise = 0
        return ops


class RecurrentCounter(LayerCounter):
    """Counts ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` (multi-layer, bidirectional).

    Only in ``exact`` mode (NeuroBench 2.3.0 cannot count these layers). The inputs of the
    layers above the first are not visible to a hook; they are recomputed with a one-layer
    module sharing the weights (extra cost: the layers below the top one run twice).
    ``proj_size > 0`` (projected LSTM) and ``PackedSequence`` inputs are unsupported.
    """

    module: nn.RNNBase

    def __init__(self, module: nn.RNNBase, name: str, mode: Mode, encoding: Encoding) -> None:
        super().__init__(module, name, mode, encoding)
        if mode != "exact":
            raise UnsupportedLayerError(
                f"{type(module).__name__} is not counted by NeuroBench 2.3.0 (it raises and then "
                "silently drops the layer); use mode='exact'"
            )
        if module.proj_size > 0:
            raise UnsupportedLayerError("LSTM with proj_size > 0 is not supported")
        self._kind = _kind(module)
        self._dirs = 2 if module.bidirectional else 1
        self._acc_ih: dict[tuple[int, int], _FeatureAccumulator] = {}
        self._acc_hh: dict[tuple[int, int], _FeatureAccumulator] = {}
        self._elementwise = 0
        self._single: dict[int, nn.RNNBase] = {}

    def _suffix(self, d: int) -> str:
        return "_reverse" if d == 1 else ""

    def _layer_module(self, layer: int, in_size: int) -> nn.RNNBase:
        mod = self._single.get(layer)
        if mod is None:
            m = self.module
            kwargs: dict[str, Any] = {
                "num_layers": 1,
                "bias": m.bias,
                "batch_first": False,
                "bidirectional": m.bidirectional,
            }
            if isinstance(m, nn.RNN):
                kwargs["nonlinearity"] = m.nonlinearity
            w = m.weight_ih_l0
            cls: Any = type(m)
            mod = cls(in_size, m.hidden_size, device=w.device, dtype=w.dtype, **kwargs)
            mod.eval()
            self._single[layer] = mod
        return mod

    def observe(self, args: tuple[Any, ...], output: Any) -> None:
        m = self.module
        x = args[0]
        if not isinstance(x, Tensor):
            raise UnsupportedLayerError(f"{type(m).__name__} called with {type(x).__name__} input")
        hx = args[1] if len(args) > 1 else None
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
        elif m.batch_first:
            x = x.transpose(0, 1)
        t_steps, b = x.shape[0], x.shape[1]
        out = output[0]
        out = out.unsqueeze(1) if unbatched else (out.transpose(0, 1) if m.batch_first else out)
        h0_all: Tensor | None = None
        if hx is not None:
            h0_all = hx[0] if isinstance(hx, tuple) else hx
            if unbatched:
                h0_all = h0_all.unsqueeze(1)
        hsz, g = m.hidden_size, _GATES[self._kind]
        layer_in = x
        for layer in range(m.num_layers):
            if layer == m.num_layers - 1:
                layer_out = out
            else:
                layer_out = self._recompute(layer, layer_in, hx, unbatched)
            for d in range(self._dirs):
                key = (layer, d)
                if key not in self._acc_ih:
                    self._acc_ih[key] = _FeatureAccumulator((layer_in.shape[-1],), x.device)
                    self._acc_hh[key] = _FeatureAccumulator((hsz,), x.device)
                enc = self.encoding if layer == 0 else "mac"
                self._acc_ih[key].add(layer_in, 2, "exact", enc)
                hseq = layer_out[..., d * hsz : (d + 1) * hsz]
                if h0_all is not None:
                    h0 = h0_all[layer * self._dirs + d].unsqueeze(0)
                else:
                    h0 = torch.zeros((1, b, hsz), dtype=hseq.dtype, device=hseq.device)
                prev = torch.cat([h0, hseq[:-1]]) if d == 0 else torch.cat([hseq[1:], h0])
                self._acc_hh[key].add(prev, 2, "exact", "mac")
                ew = _ELEMENTWISE[self._kind] * hsz * b * t_steps
                self._elementwise += ew
                self.dense += t_steps * b * g * hsz * (layer_in.shape[-1] + hsz) + ew
            layer_in = layer_out
        self.calls += 1

    def _recompute(self, layer: int, layer_in: Tensor, hx: Any, unbatched: bool) -> Tensor:
        m = self.module
        single = self._layer_module(layer, layer_in.shape[-1])
        params: dict[str, Tensor] = {}
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if m.bias else [])
        for d in range(self._dirs):
            sfx = self._suffix(d)
            for n in names:
                params[f"{n}_l0{sfx}"] = getattr(m, f"{n}_l{layer}{sfx}")
        sl = slice(layer * self._dirs, (layer + 1) * self._dirs)
        state: Any = None
        if hx is not None:
            if isinstance(hx, tuple):
                state = tuple((h.unsqueeze(1) if unbatched else h)[sl] for h in hx)
            else:
                state = (hx.unsqueeze(1) if unbatched else hx)[sl]
        call_args: tuple[Any, ...] = (layer_in,) if state is None else (layer_in, state)
        res = torch.func.functional_call(single, params, call_args)
        out: Tensor = res[0]
        return out

    def flush(self) -> LayerOps:
        ops = LayerOps(dense=self.dense, calls=self.calls)
        m = self.module
        macs = acs = 0
        for (layer, d), acc in self._acc_ih.items():
            sfx = self._suffix(d)
            w_ih = getattr(m, f"weight_ih_l{layer}{sfx}")
            w_hh = getattr(m, f"weight_hh_l{layer}{sfx}")
            a, c = acc.drain((w_ih != 0).sum(dim=0))
            macs += a
            acs += c
            a, _ = self._acc_hh[(layer, d)].drain((w_hh != 0).sum(dim=0))
            macs += a
        ops.effective_macs = macs + self._elementwise
        ops.effective_acs = acs
        self.dense = 0
        self.calls = 0
        self._elementwise = 0
        return ops


def make_counter(module: nn.Module, name: str, mode: Mode, encoding: Encoding) -> LayerCounter:
    """The counter for a connection layer; raises :class:`UnsupportedLayerError` otherwise."""
    if isinstance(module, nn.Linear):
        return LinearCounter(module, name, mode, encoding)
    if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d):
        return ConvCounter(module, name, mode, encoding)
    if isinstance(module, nn.RNNCellBase):
        return CellCounter(module, name, mode, encoding)
    if isinstance(module, nn.RNNBase):
        return RecurrentCounter(module, name, mode, encoding)
    raise UnsupportedLayerError(f"no operation counter for {type(module).__name__}")


def sum_ops(ops: Sequence[LayerOps]) -> LayerOps:
    """Sum of several :class:`LayerOps`."""
    total = LayerOps()
    for o in ops:
        total += o
    return total
