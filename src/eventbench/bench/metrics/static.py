"""Static metrics: properties of the model alone, computed once per run.

Each function takes the network (``torch.nn.Module``) and returns exact integers or a ratio
of exact integers; none depends on data, batch size or run history (``exact`` mode).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from eventbench.bench._common import Mode


def parameter_count(net: nn.Module) -> int:
    """Number of trainable-or-not parameters.

    Definition: :math:`\\sum_p \\mathrm{numel}(p)` over ``net.parameters()`` (a parameter shared
    by several modules counts once). Unit: parameters. No normalisation. Same in both modes
    (NeuroBench ``ParameterCount``).
    """
    return sum(p.numel() for p in net.parameters())


def _bytes(tensors: Iterable[Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def footprint(
    net: nn.Module, mode: Mode = "exact", state_buffers: Iterable[str] = ()
) -> int:
    """Memory footprint of the model in bytes.

    Definition: :math:`\\sum_{t} \\mathrm{numel}(t) \\cdot \\mathrm{element\\_size}(t)` over
    parameters and registered buffers (dtype-aware; shared tensors counted once).
    Unit: bytes. No normalisation.

    State-buffer policy: ``neurobench`` mode counts every buffer as it is at call time, as
    NeuroBench 2.3.0 does, so snnTorch's ``mem`` buffers make the value depend on run history
    and batch size (3,388 B before a forward, 5,756 B after a batch of 16, spec §2.1).
    ``exact`` mode leaves out the buffers named in ``state_buffers`` (qualified buffer names
    of per-sample neuron state); the harness reports that state separately, per sample, as
    ``state_bytes_per_sample``.
    """
    params = _bytes(net.parameters())
    if mode == "neurobench":
        return params + _bytes(net.buffers())
    skip = set(state_buffers)
    return params + _bytes(b for name, b in net.named_buffers() if name not in skip)


def _rnn_weight_names(module: nn.RNNBase, with_bias: bool) -> list[str]:
    names: list[str] = []
    for layer in range(module.num_layers):
        base = ["weight_ih_l{}{}", "weight_hh_l{}{}"]
        if with_bias and module.bias:
            base += ["bias_ih_l{}{}", "bias_hh_l{}{}"]
        if module.proj_size > 0:
            base += ["weight_hr_l{}{}"]
        sfx = ["", "_reverse"] if module.bidirectional else [""]
        for s in sfx:
            names += [b.format(layer, s) for b in base]
    return names


def _layer_weights(module: nn.Module, mode: Mode) -> list[Tensor] | None:
    """Connection tensors of a supported layer (None if the layer is not a connection)."""
    if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return [module.weight]
    if isinstance(module, nn.RNNBase):
        return [getattr(module, n) for n in _rnn_weight_names(module, mode == "neurobench")]
    if isinstance(module, nn.RNNCellBase):
        names = ["weight_ih", "weight_hh"]
        if mode == "neurobench" and module.bias:
            names += ["bias_ih", "bias_hh"]
        return [getattr(module, n) for n in names]
    return None


@dataclass(frozen=True)
class SparsityCount:
    """Zero and total connection counts behind a connection-sparsity value."""

    zeros: int
    total: int
    layers: int

    @property
    def value(self) -> float | None:
        """``zeros / total`` (None when there is no connection)."""
        return self.zeros / self.total if self.total else None


def connection_counts(net: nn.Module, mode: Mode = "exact") -> SparsityCount:
    """Zero and total weights over the connection layers of ``net``.

    ``neurobench``: leaf descendants of the root only (the root itself is never inspected);
    ``Linear``/``ConvNd`` weights (no bias), ``RNN/LSTM/GRU`` weights plus biases (and
    ``weight_hr``), cells' weights plus biases. ``exact``: every module including the root;
    weight matrices only (a bias is not a connection).
    """
    zeros = total = layers = 0
    modules = (
        (m for _, m in net.named_modules() if m is not net)
        if mode == "neurobench"
        else (m for _, m in net.named_modules())
    )
    for m in modules:
        if mode == "neurobench" and list(m.children()):
            continue
        ws = _layer_weights(m, mode)
        if ws is None:
            continue
        layers += 1
        for w in ws:
            zeros += int(torch.count_nonzero(w == 0).item())
            total += w.numel()
    return SparsityCount(zeros=zeros, total=total, layers=layers)


def connection_sparsity(net: nn.Module, mode: Mode = "exact") -> float | None:
    """Connection sparsity: fraction of absent (zero) connections.

    Definition: :math:`\\#\\{w = 0\\} / \\#\\{w\\}` over the connection tensors listed in
    :func:`connection_counts`. Unit: dimensionless in [0, 1]; 0 = dense, 1 = unconnected.
    ``neurobench`` mode rounds to 4 decimals like NeuroBench 2.3.0; ``exact`` does not.
    Returns None when the model has no supported connection layer (the caller reports it as
    unsupported, never as 0).
    """
    c = connection_counts(net, mode)
    if c.value is None:
        return None
    if mode == "neurobench":
        # NeuroBench divides an int64 tensor by an int: float32, then rounds to 4 decimals
        return round((torch.tensor(c.zeros, dtype=torch.int64) / c.total).item(), 4)
    return c.value
