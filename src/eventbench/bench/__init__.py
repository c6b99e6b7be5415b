"""EventBench benchmark harness: NeuroBench-style metrics for any PyTorch model.

Typical use::

    from eventbench.bench import Task, run, ResultStore, to_markdown
    task = Task("my-task", loader, metrics=("accuracy",), postprocessors=(argmax,))
    result = run(task, my_torch_model, mode="exact", store="results.sqlite")
    print(to_markdown([result]))

``mode="neurobench"`` reproduces the official NeuroBench 2.3.0 numbers; ``mode="exact"``
applies the corrected definitions; :data:`MODE_DIFFERENCES` (module
:mod:`eventbench.bench.modes`) lists every difference, and each metric's docstring gives its
definition, unit and normalisation. The harness does not depend on the training code.
"""

from eventbench.bench._common import MODES, BenchWarning, Mode
from eventbench.bench.collector import BatchCounts, Collector, MembraneCounts
from eventbench.bench.counting import LayerOps, UnsupportedLayerError
from eventbench.bench.metrics import (
    STATIC_METRICS,
    WORKLOAD_METRICS,
    UnsupportedMetricError,
    connection_sparsity,
    footprint,
    parameter_count,
)
from eventbench.bench.models import CountSession, ModelAdapter, SNNTorchModel, TorchModel
from eventbench.bench.modes import MODE_DIFFERENCES, render_differences
from eventbench.bench.native import NativeSNNModel
from eventbench.bench.report import (
    format_number,
    pareto_front,
    plot_accuracy_vs_footprint,
    plot_tradeoff,
    to_csv,
    to_markdown,
)
from eventbench.bench.result import SCHEMA_VERSION, Provenance, RunResult
from eventbench.bench.runner import Task, argmax, choose_max_count, run
from eventbench.bench.store import ResultStore

__all__ = [
    "MODES",
    "MODE_DIFFERENCES",
    "SCHEMA_VERSION",
    "STATIC_METRICS",
    "WORKLOAD_METRICS",
    "BatchCounts",
    "BenchWarning",
    "Collector",
    "CountSession",
    "LayerOps",
    "MembraneCounts",
    "Mode",
    "ModelAdapter",
    "NativeSNNModel",
    "Provenance",
    "ResultStore",
    "RunResult",
    "SNNTorchModel",
    "Task",
    "TorchModel",
    "UnsupportedLayerError",
    "UnsupportedMetricError",
    "argmax",
    "choose_max_count",
    "connection_sparsity",
    "footprint",
    "format_number",
    "parameter_count",
    "pareto_front",
    "plot_accuracy_vs_footprint",
    "plot_tradeoff",
    "render_differences",
    "run",
    "to_csv",
    "to_markdown",
]
