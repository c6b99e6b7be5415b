"""The two counting modes and every documented difference between them.

``neurobench`` reproduces the numbers of the official NeuroBench 2.3.0 package (checked
against it in ``tests/bench/test_bench_parity.py``) wherever that package returns a number by
design; where it crashes or silently drops a layer, the harness reports an explicit
"unsupported" entry with a :class:`~eventbench.bench._common.BenchWarning` instead.
``exact`` applies the corrected definitions. :data:`MODE_DIFFERENCES` lists the differences;
``render_differences()`` prints them as a Markdown table.
"""

from __future__ import annotations

from typing import NamedTuple


class Difference(NamedTuple):
    """One documented difference between the modes."""

    metric: str
    neurobench: str
    exact: str


MODE_DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        "accuracy, mse, smape, activation_sparsity",
        "per-batch value (float32 mean for accuracy) x batch_size / len(dataset), summed: "
        "biased with drop_last or truncated loaders, depends on the batch split",
        "integer (or float64) numerators and denominators accumulated, divided once by what "
        "was actually seen",
    ),
    Difference(
        "smape",
        "an element with prediction = target = 0 makes its whole batch 200",
        "that element contributes 0 (its limit); the count is kept as zero_zero",
    ),
    Difference(
        "r2",
        "columns 0 and 1 only; float32 residual sums; all labels stored",
        "every column; float64 sums merged across batches (Chan), no label storage",
    ),
    Difference(
        "synaptic_operations (MAC vs AC)",
        "by value, per layer call: all inputs in {-1, 0, 1} -> ACs, else MACs; an event count "
        "k >= 2 costs one MAC per non-zero weight",
        "by declared encoding (event_layers / input_events, native SNN: all events): an event "
        "count k costs k ACs per non-zero weight; everything else MACs",
    ),
    Difference(
        "synaptic_operations (coverage)",
        "nn.RNN/LSTM/GRU unsupported (reported, left out of the totals, as the official "
        "package ends up doing); root module never inspected",
        "nn.RNN/LSTM/GRU counted (multi-layer, bidirectional, gate products); root counted",
    ),
    Difference(
        "synaptic_operations (cells without a state)",
        "official crashes (LSTM/GRU cells) or counts sample 0 only (RNNCell); here counted "
        "with the zero state and reported as a note",
        "counted with the zero state (no effective W_hh work)",
    ),
    Difference(
        "synaptic_operations (recurrent cells)",
        "NeuroBench's binarised cell formulas (gate non-zero iff its pre-activation has a "
        "non-zero pair or bias; dense LSTM count uses the binarised state)",
        "W_ih x and W_hh h pairs plus 3 gate products per hidden unit (LSTM, GRU), dense and "
        "effective alike",
    ),
    Difference(
        "membrane_updates",
        "first call of each batch counts every neuron",
        "first call compared with the zero reset state (no input, no update)",
    ),
    Difference(
        "footprint",
        "every buffer as it is: snnTorch's mem state makes it depend on the last batch size",
        "per-sample state buffers left out; reported separately as state_bytes_per_sample",
    ),
    Difference(
        "connection_sparsity",
        "weights plus biases of recurrent layers/cells; rounded to 4 decimals; no root",
        "weight matrices only (a bias is not a connection); not rounded; root included",
    ),
    Difference(
        "activation_sparsity_by_layer",
        "keyed by local child name (same names in different blocks merge)",
        "keyed by qualified module name",
    ),
    Difference(
        "failures (both modes)",
        "official: an exception in a metric becomes 0.0 (static: None)",
        "harness (both modes): errors propagate; a metric that cannot apply is None plus an "
        "'unsupported' entry and a BenchWarning",
    ),
)


def render_differences() -> str:
    """:data:`MODE_DIFFERENCES` as a Markdown table."""
    lines = ["| metric | neurobench mode (2.3.0) | exact mode |", "|---|---|---|"]
    lines += [f"| {d.metric} | {d.neurobench} | {d.exact} |" for d in MODE_DIFFERENCES]
    return "\n".join(lines) + "\n"
