"""Workload metrics: accumulated over a whole evaluation as sufficient statistics.

Every metric follows ``reset() / update(preds, targets, counts) / compute()``. In ``exact``
mode the state is exact (integer counts, or float64 sums for real-valued errors) and is divided
once, at the end, by what was actually seen (samples or elements). In ``neurobench`` mode each
metric reproduces NeuroBench 2.3.0's aggregation, documented per metric, including its
weaknesses (per-batch means weighted by ``batch_size / len(dataset)``).

Conventions: ``preds`` and ``targets`` are what the model (after post-processing) and the
data loader return; ``counts`` is the :class:`~eventbench.bench.collector.BatchCounts` of
the batch (None for metrics that need no hooks); ``batch_size`` is ``counts.batch_size``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import defaultdict
from typing import Any, ClassVar

import torch
from torch import Tensor

from eventbench.bench._common import Mode
from eventbench.bench.collector import BatchCounts
from eventbench.bench.counting import LayerOps, sum_ops

MetricValue = float | int | dict[str, Any] | None

NEURON_OP_COSTS: dict[str, dict[str, int]] = {
    "Leaky": {"subtract": 4, "zero": 4},
    "Synaptic": {"subtract": 6, "zero": 8},
    "Lapicque": {"subtract": 11, "zero": 11},
    "Alpha": {"subtract": 18, "zero": 24},
    # EventBench's native current-based LIF (eventbench.core): V <- aV + rI (2 mul, 1 add),
    # I <- bI (1 mul), threshold compare (1): 5 per neuron and step; the reset is free
    # (assignment) and is not counted.
    "EventBenchLIF": {"subtract": 5, "zero": 5},
    # its leaky-integrator readout: the same without the threshold compare
    "EventBenchLI": {"none": 4},
}
"""Operations per membrane update and neuron type / reset (NeuroBench 2.2.0 table for the
snnTorch types; the last row is EventBench's own model)."""


class UnsupportedMetricError(ValueError):
    """The metric cannot be computed on this model (reported, never turned into 0)."""


class WorkloadMetric(ABC):
    """Base class of workload metrics.

    Attributes:
        name: the result key.
        needs: which hook groups the metric reads (``ops``, ``activations``, ``membrane``).
        higher_is_better: direction of the metric, for reports.
        unit: human-readable unit.
    """

    name: ClassVar[str]
    needs: ClassVar[frozenset[str]] = frozenset()
    higher_is_better: ClassVar[bool | None] = None
    unit: ClassVar[str] = ""

    def __init__(self, mode: Mode = "exact", dataset_len: int | None = None) -> None:
        self.mode = mode
        self.dataset_len = dataset_len
        self.reset()

    @abstractmethod
    def reset(self) -> None:
        """Clear the accumulated state."""

    @abstractmethod
    def update(self, preds: Tensor, targets: Tensor, counts: BatchCounts) -> None:
        """Accumulate one batch."""

    @abstractmethod
    def compute(self) -> MetricValue:
        """The metric over everything accumulated since :meth:`reset`."""

    def _nb_term(self, value: float, batch_size: int) -> float:
        """NeuroBench's per-batch contribution ``(value * batch_size) / len(dataset)``."""
        if self.dataset_len is None:
            raise ValueError(
                f"{self.name}: neurobench mode needs the dataset length (len(dataloader.dataset))"
            )
        return (value * batch_size) / self.dataset_len


def _check_shapes(name: str, preds: Tensor, targets: Tensor) -> None:
    if preds.shape != targets.shape:
        raise ValueError(
            f"{name}: predictions {tuple(preds.shape)} and targets {tuple(targets.shape)} "
            "must have the same shape (post-process the model output)"
        )


class ClassificationAccuracy(WorkloadMetric):
    """Classification accuracy.

    Definition (``exact``): :math:`\\#\\{\\hat y_i = y_i\\} / N` over all target elements
    seen, from integer counts. Unit: fraction in [0, 1]. Normalisation: elements actually
    seen (one per sample for class targets ``[B]``).
    ``neurobench``: per batch ``mean(preds == targets)`` in float32, weighted by
    ``batch_size / len(dataset)`` and summed (11/64 -> 0.17187499906867743; biased low when
    batches are dropped).
    """

    name = "accuracy"
    higher_is_better = True
    unit = "fraction"

    def reset(self) -> None:
        self.correct = 0
        self.total = 0
        self.nb_value = 0.0

    def update(self, preds: Tensor, targets: Tensor, counts: BatchCounts) -> None:
        _check_shapes(self.name, preds, targets)
        eq = torch.eq(preds, targets)
        if self.mode == "neurobench":
            self.nb_value += self._nb_term(torch.mean(eq.float()).item(), counts.batch_size)
        self.correct += int(eq.sum().item())
        self.total += eq.numel()

    def compute(self) -> MetricValue:
        if self.mode == "neurobench":
            return self.nb_value
        return self.correct / self.total if self.total else None


class MSE(WorkloadMetric):
    """Mean squared error.

    Definition (``exact``): :math:`\\frac1N \\sum_i (\\hat y_i - y_i)^2` over all elements
    seen, accumulated in float64. Unit: squared target unit. ``neurobench``: per-batch mean in
    the tensors' dtype, weighted by ``batch_size / len(dataset)``.
    """

    name = "mse"
    higher_is_better = False
    unit = "target unit^2"

    def reset(self) -> None:
        self.sse = 0.0
        self.n = 0
        self.nb_value = 0.0

    def update(self, preds: Tensor, targets: Tensor, counts: BatchCounts) -> None:
        _check_shapes(self.name, preds, targets)
        if self.mode == "neurobench":
            v = torch.mean((preds - targets) ** 2).item()
            self.nb_value += self._nb_term(v, counts.batch_size)
        d = preds.double() - targets.double()
        self.sse += float((d * d).sum().item())
        self.n += d.numel()

    def compute(self) -> MetricValue:
        if self.mode == "neurobench":
            return self.nb_value
        return self.sse / self.n if self.n else None


class SMAPE(WorkloadMetric):
    """Symmetric mean absolute percentage error.

    Definition (``exact``): :math:`\\frac{200}{N} \\sum_i |\\hat y_i - y_i| /
    (|\\hat y_i| + |y_i|)`, with the term of an element where prediction and target are both 0
    taken as 0 (its limit; the number of such elements is reported as ``zero_zero``).
    Unit: percent in [0, 200]. Normalisation: elements seen.
    ``neurobench``: per-batch mean with NaN -> 200 (one 0/0 element turns the batch into
    200), weighted by ``batch_size / len(dataset)``.
    """

    name = "smape"
    higher_is_better = False
    unit = "%"

    def reset(self) -> None:
        self.sum_ratio = 0.0
        self.n = 0
        self.zero_zero = 0
        self.nb_value = 0.0

    def update(self, preds: Tensor, targets: Tensor, counts: BatchCounts) -> None:
        _check_shapes(self.name, preds, targets)
        if self.mode == "neurobench":
            v = 200 * torch.mean(torch.abs(preds - targets) / (torch.abs(preds) + torch.abs(targets)))
            nbv = torch.nan_to_num(v, nan=200.0).item()
            self.nb_value += self._nb_term(nbv, counts.batch_size)
        p, y = preds.double(), targets.double()
        den = p.abs() + y.abs()
        zz = den == 0
        ratio = torch.where(zz, torch.zeros_like(den), (p - y).abs() / torch.where(zz, 1.0, den))
        self.sum_ratio += float(ratio.sum().item())
        self.zero_zero += int(zz.sum().item())
        self.n += den.numel()

    def compute(self) -> MetricValue:
        if self.mode == "neurobench":
            return self.nb_value
        return 200.0 * self.sum_ratio / self.n if self.n else None


def _columns(v: Tensor) -> Tensor:
    """Regression values as ``[samples, columns]``: ``[N]`` -> ``[N, 1]``, ``[N, K]`` as is,
    time-major ``[T, B, K]`` -> ``[T * B, K]`` (every step of every sequence is a sample, as
    NeuroBench scores a stream one step per sample)."""
    return v.reshape(-1, v.shape[-1]) if v.dim() >= 3 else v.reshape(v.shape[0], -1)


class R2(WorkloadMetric):
    """Coefficient of determination, averaged over output columns.

    Definition (``exact``): for each target column :math:`j` (the last dimension; time-major
    ``[T, B, K]`` values pool all ``T * B`` steps per column),
    :math:`R^2_j = 1 - \\sum_i (y_{ij} - \\hat y_{ij})^2 / \\sum_i (y_{ij} - \\bar y_j)^2`,
    then the mean over all columns (1-D targets: one column). Sums in float64, the total sum
    of squares merged across batches with Chan's parallel update (no label storage).
    Unit: dimensionless (<= 1). Normalisation: all samples seen.
    ``neurobench``: only columns 0 and 1 (2-D output), residual sums accumulated from float32
    batch sums, total sum of squares from the population variance of all stored labels.
    """

    name = "r2"
    higher_is_better = True
    unit = ""

    def reset(self) -> None:
        self.n = 0
        self.mean: Tensor | None = None
        self.m2: Tensor | None = None
        self.ss_res: Tensor | None = None
        self.nb_res = [0.0, 0.0]
        self.nb_labels: list[Tensor | None] = [None, None]

    def update(self, preds: Tensor, targets: Tensor, counts: BatchCounts) -> None:
        _check_shapes(self.name, preds, targets)
        if self.mode == "neurobench":
            if preds.dim() != 2 or preds.shape[1] < 2:
                raise ValueError("r2 (neurobench mode) needs 2-D predictions with >= 2 columns")
            for j in (0, 1):
                self.nb_res[j] += torch.sum((targets[:, j] - preds[:, j]) ** 2).item()
                prev = self.nb_labels[j]
                if prev is None:  # NeuroBench starts from an empty default-dtype tensor
                    prev = torch.tensor([], device=targets.device)
                self.nb_labels[j] = torch.cat((prev, targets[:, j].detach()))
            return
        y, p = _columns(targets.detach().double()), _columns(preds.detach().double())
        nb = y.shape[0]
        bmean = y.mean(dim=0)
        bm2 = ((y - bmean) ** 2).sum(dim=0)
        res = ((y - p) ** 2).sum(dim=0)
        if self.mean is None or self.m2 is None or self.ss_res is None:
            self.mean, self.m2, self.ss_res, self.n = bmean, bm2, res, nb
            return
        n = self.n + nb
        delta = bmean - self.mean
        self.mean = self.mean + delta * nb / n
        self.m2 = self.m2 + bm2 + delta * delta * self.n * nb / n
        self.ss_res = self.ss_res + res
        self.n = n

    def compute(self) -> MetricValue:
        if self.mode == "neurobench":
            r = []
            for j, col in enumerate(self.nb_labels):
                if col is None:
                    return None
                denom = col.var(correction=0) * len(col)
                r.append(1 - (self.nb_res[j] / denom))
            return ((r[0] + r[1]) / 2).item()
        if self.m2 is None or self.ss_res is None:
            return None
        if bool((self.m2 == 0).any()):
            raise UnsupportedMetricError("r2: a target column is constant (R² undefined)")
        return float((1 - self.ss_res / self.m2).mean().item())


class ActivationSparsity(WorkloadMetric):
    """Activation sparsity: fraction of zero activations.

    Definition (``exact``): :math:`1 - \\sum \\mathrm{nnz}(a) / \\sum \\mathrm{numel}(a)` over
    all activation layers (and spiking neurons), all calls (time steps) and all samples seen.
    Unit: fraction in [0, 1]. ``neurobench``: the per-batch ratio weighted by
    ``batch_size / len(dataset)``. A model without activation modules raises
    :class:`UnsupportedMetricError` (NeuroBench reports 0.0, indistinguishable from dense).
    """

    name = "activation_sparsity"
    needs = frozenset({"activations"})
    higher_is_better = True
    unit = "fraction"

    def reset(self) -> None:
        self.nz = 0
        self.numel = 0
        self.nb_value = 0.0
        self.seen_layers = False

    def update(self, preds: Tensor, targets: Tensor, counts: BatchCounts) -> None:
        nz = sum(v[0] for v in counts.activations.values())
        numel = sum(v[1] for v in counts.activations.values())
        self.seen_layers = self.seen_layers or bool(counts.activations)
        if self.mode == "neurobench" and numel:
            self.nb_value += self._nb_term((numel - nz) / numel, counts.batch_size)
        self.nz += nz
        self.numel += numel

    def compute(self) -> MetricValue:
        if not self.seen_layers or self.numel == 0:
            raise UnsupportedMetricError(
                "activation_sparsity: no activation module found (functional activations are "
                "invisible to hooks; declare the activation classes)"
            )
        if self.mode == "neurobench":
            return self.nb_value
        return (self.numel - self.nz) / self.numel


class ActivationSparsityByLayer(WorkloadMetric):
    """Activation sparsity per activation layer: ``{layer: sparsity}``.

    Definition and unit as :class:`ActivationSparsity`, per layer, from integer counts in both
    modes. Keys: qualified module names (``exact``) or NeuroBench's local child names
    (``neurobench``: layers with the same local name are merged).
    """

    name = "activation_sparsity_by_layer"
    needs = frozenset({"activations"})
    higher_is_better = True
    unit = "fraction"

    def reset(self) -> None:
        self.nz: dict[str, int] = defaultdict(int)
        self.numel: dict[str, int] = defaultdict(int)

    def update(self, preds: Tensor, targets: Tensor, counts: BatchCounts) -> None:
        for layer, (nz, numel) in counts.activations.items():
            key = counts.activation_keys.get(layer, layer) if self.mode == "neurobench" else layer
            self.nz[key] += nz
            self.numel[key] += numel

    def compute(self) -> MetricValue:
        if not self.numel:
            raise UnsupportedMetricError("activation_sparsity_by_layer: no activation module")
        return {
            k: ((n - self.nz[k]) / n if n else 0.0) for k, n in self.numel.items()
        }


class SynapticOperations(WorkloadMetric):
    """Synaptic operations per sample: ``{"effective_macs", "effective_acs", "dense"}``.

    Definition: see :mod:`eventbench.bench.counting` (effective = non-zero weight x non-zero
    input pairs, MAC or AC by the mode's rule; dense = all weight x input pairs; biases,
    pooling, normalisation and neuron updates excluded). Unit: operations per sample, summed
    over all time steps and layers. Normalisation: exact integer totals divided once by the
    number of samples seen (both modes; NeuroBench does the same). ``per_layer`` in the
    details gives the integer totals per layer. Raises :class:`UnsupportedMetricError` when
    no connection layer could be counted.
    """

    name = "synaptic_operations"
    needs = frozenset({"ops"})
    higher_is_better = False
    unit = "ops/sample"

    def reset(self) -> None:
        self.per_layer: dict[str, LayerOps] = defaultdict(LayerOps)
        self.samples = 0

    def update(self, preds: Tensor, targets: Tensor, counts: BatchCounts) -> None:
        for layer, ops in counts.ops.items():
            self.per_layer[layer] += ops
        self.samples += counts.batch_size

    @property
    def total(self) -> LayerOps:
        """Integer totals over all layers and samples."""
        return sum_ops(list(self.per_layer.values()))

    def compute(self) -> MetricValue:
        if not self.per_layer:
            raise UnsupportedMetricError(
                "synaptic_operations: no countable connection layer (Linear, ConvNd, RNN/LSTM/"
                "GRU and cells are supported; the root module counts in exact mode only)"
            )
        if self.samples == 0:
            return None
        t = self.total
        return {
            "effective_macs": t.effective_macs / self.samples,
            "effective_acs": t.effective_acs / self.samples,
            "dense": t.dense / self.samples,
        }


class MembraneUpdates(WorkloadMetric):
    """Membrane-potential updates per sample.

    Definition (``exact``): for every spiking layer and call (time step), the number of
    neurons whose membrane value changed, :math:`\\mathrm{nnz}(V_{after} - V_{before})`, the
    state before the first step being the zero reset state; summed over layers and steps,
    divided by the samples seen. ``neurobench``: the same except that the first call of each
    batch counts every neuron (``numel``). For EventBench's native SNN (clock-driven) every
    neuron is updated every step: neurons x steps. Unit: updates per sample.
    """

    name = "membrane_updates"
    needs = frozenset({"membrane"})
    higher_is_better = False
    unit = "updates/sample"

    def reset(self) -> None:
        self.updates = 0
        self.dense = 0
        self.samples = 0
        self.seen = False

    def update(self, preds: Tensor, targets: Tensor, counts: BatchCounts) -> None:
        for m in counts.membrane.values():
            self.updates += m.updates
            self.dense += m.dense
            self.seen = True
        self.samples += counts.batch_size

    def compute(self) -> MetricValue:
        if not self.seen:
            raise UnsupportedMetricError(
                "membrane_updates: no spiking neuron with a membrane state found"
            )
        return self.updates / self.samples if self.samples else None


class NeuronOperations(WorkloadMetric):
    """Neuron operations per sample: ``{"effective", "dense"}``.

    Definition: membrane updates (as :class:`MembraneUpdates`, ``effective``) or neurons x
    steps (``dense``) times the operations per update of the neuron type and reset
    mechanism (:data:`NEURON_OP_COSTS`). Unit: operations per sample. A neuron type without a
    cost (e.g. snnTorch RLeaky, ``reset_mechanism="none"``) raises
    :class:`UnsupportedMetricError` naming it (NeuroBench reports 0.0).
    """

    name = "neuron_operations"
    needs = frozenset({"membrane"})
    higher_is_better = False
    unit = "ops/sample"

    def reset(self) -> None:
        self.effective = 0
        self.dense = 0
        self.samples = 0
        self.seen = False
        self.missing: set[str] = set()

    def update(self, preds: Tensor, targets: Tensor, counts: BatchCounts) -> None:
        for m in counts.membrane.values():
            self.seen = True
            cost = NEURON_OP_COSTS.get(m.neuron_type, {}).get(m.reset or "")
            if cost is None:
                self.missing.add(f"{m.neuron_type}(reset={m.reset})")
                continue
            self.effective += m.updates * cost
            self.dense += m.dense * cost
        self.samples += counts.batch_size

    def compute(self) -> MetricValue:
        if not self.seen:
            raise UnsupportedMetricError("neuron_operations: no spiking neuron found")
        if self.missing:
            raise UnsupportedMetricError(
                f"neuron_operations: no operation cost for {sorted(self.missing)}"
            )
        if not self.samples:
            return None
        return {"effective": self.effective / self.samples, "dense": self.dense / self.samples}


WORKLOAD_METRICS: dict[str, type[WorkloadMetric]] = {
    cls.name: cls
    for cls in (
        ClassificationAccuracy,
        MSE,
        SMAPE,
        R2,
        ActivationSparsity,
        ActivationSparsityByLayer,
        SynapticOperations,
        MembraneUpdates,
        NeuronOperations,
    )
}
"""Workload metrics by result key."""

STATIC_METRICS: tuple[str, ...] = ("footprint", "parameter_count", "connection_sparsity")
"""Static metric result keys."""


def is_finite(v: MetricValue) -> bool:
    """True for a finite number (helper for reports)."""
    return isinstance(v, (int, float)) and math.isfinite(v)
