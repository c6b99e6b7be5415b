"""Static and workload metrics of the benchmark harness."""

from eventbench.bench.metrics.static import (
    SparsityCount,
    connection_counts,
    connection_sparsity,
    footprint,
    parameter_count,
)
from eventbench.bench.metrics.workload import (
    MSE,
    NEURON_OP_COSTS,
    R2,
    SMAPE,
    STATIC_METRICS,
    WORKLOAD_METRICS,
    ActivationSparsity,
    ActivationSparsityByLayer,
    ClassificationAccuracy,
    MembraneUpdates,
    MetricValue,
    NeuronOperations,
    SynapticOperations,
    UnsupportedMetricError,
    WorkloadMetric,
)

__all__ = [
    "MSE",
    "NEURON_OP_COSTS",
    "R2",
    "SMAPE",
    "STATIC_METRICS",
    "WORKLOAD_METRICS",
    "ActivationSparsity",
    "ActivationSparsityByLayer",
    "ClassificationAccuracy",
    "MembraneUpdates",
    "MetricValue",
    "NeuronOperations",
    "SparsityCount",
    "SynapticOperations",
    "UnsupportedMetricError",
    "WorkloadMetric",
    "connection_counts",
    "connection_sparsity",
    "footprint",
    "parameter_count",
]
