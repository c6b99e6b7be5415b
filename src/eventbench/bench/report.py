"""Reports rendered from :class:`~eventbench.bench.result.RunResult` lists.

Markdown and CSV tables need nothing beyond the standard library; plots need matplotlib
(``pip install eventbench[plot]``) and are written as PNG or SVG (by file suffix).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from eventbench.bench.result import RunResult

DEFAULT_COLUMNS: tuple[str, ...] = (
    "accuracy",
    "smape",
    "mse",
    "r2",
    "footprint",
    "parameter_count",
    "connection_sparsity",
    "activation_sparsity",
    "synaptic_operations.dense",
    "synaptic_operations.effective_macs",
    "synaptic_operations.effective_acs",
    "membrane_updates",
    "neuron_operations.effective",
)
"""Metric columns of the default tables (dotted keys, absent ones are dropped)."""


def _columns(results: Sequence[RunResult], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    present = set().union(*(r.flat_metrics().keys() for r in results)) if results else set()
    return [c for c in DEFAULT_COLUMNS if c in present]


def format_number(v: float | int | None) -> str:
    """The one number format of tables and reports: whole numbers and values of 1,000 or more
    with thousands separators and no decimals, others with 4 significant digits (scientific
    below 0.001); ``None`` is ``n/a``.

    >>> [format_number(v) for v in (47360, 1558.894, 0.96381, 12.3, 0.0, 7.4e-05, None)]
    ['47,360', '1,559', '0.9638', '12.30', '0', '7.400e-05', 'n/a']
    """
    if v is None:
        return "n/a"
    f = float(v)
    if f != f or f in (float("inf"), float("-inf")):
        return str(f)
    if (f.is_integer() and abs(f) < 1e15) or abs(f) >= 1000:
        return f"{f:,.0f}"
    if f != 0 and abs(f) < 1e-3:
        return f"{f:.3e}"
    return f"{f:#.4g}"


ID_CHARS = 8
"""Characters of the run id shown in Markdown tables (CSV has the full id)."""


def table_rows(
    results: Sequence[RunResult], columns: Sequence[str] | None = None, *, full: bool = False
) -> tuple[list[str], list[list[float | str | None]]]:
    """Header and rows (run id, task, model, mode, [protocol,] epochs, metrics...) for the
    tables; the protocol column appears when some result names its evaluation protocol;
    ``full`` (CSV): the whole run id and the declared execution rate too."""
    cols = _columns(results, columns)
    with_protocol = any(r.provenance.protocol for r in results)
    header = ["run", "task", "model", "mode", *(["protocol"] if with_protocol else []),
              "epochs", *cols]
    if full:
        header.insert(len(header) - len(cols), "execution_rate_hz")
    rows: list[list[float | str | None]] = []
    for r in results:
        flat = r.flat_metrics()
        row: list[float | str | None] = [
            r.run_id if full else r.run_id[:ID_CHARS], r.task, r.model, r.mode,
            *([r.provenance.protocol] if with_protocol else []),
            flat.get("training.epochs"),
        ]
        if full:
            row.append(r.provenance.execution_rate_hz)
        rows.append([*row, *(flat.get(c) for c in cols)])
    return header, rows


def to_markdown(results: Sequence[RunResult], columns: Sequence[str] | None = None) -> str:
    """A Markdown table, one row per result; unsupported values are ``n/a``."""
    header, rows = table_rows(results, columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            c if isinstance(c, str) else format_number(c)  # numbers and None
            for c in row
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        f"- {r.model} / {r.task} ({r.mode}): {k}: {why.removeprefix(k + ': ')}"
        for r in results
        for k, why in r.unsupported.items()
    ]
    if notes:
        lines += ["", "Not measured:", *notes]
    return "\n".join(lines) + "\n"


def _csv_cell(c: float | str | None) -> str:
    """Full precision; whole numbers without a decimal point (``3`` epochs, not ``3.0``)."""
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if float(c).is_integer() and abs(c) < 1e15:
        return str(int(c))
    return repr(c)


def to_csv(
    results: Sequence[RunResult],
    path: str | Path | None = None,
    columns: Sequence[str] | None = None,
) -> str:
    """CSV text (full precision, empty cell = not measured); also written to ``path``."""
    header, rows = table_rows(results, columns, full=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([_csv_cell(c) for c in row])
    text = buf.getvalue()
    if path is not None:
        Path(path).write_text(text)
    return text


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated when minimising x and maximising y.

    A point is dominated if another has x <= and y >= with one strict. Returned in
    increasing x.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best_y = float("-inf")
    for i in order:
        if points[i][1] > best_y:
            front.append(i)
            best_y = points[i][1]
    return front


def _require_matplotlib() -> None:
    try:
        import matplotlib
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plots need matplotlib: pip install 'eventbench[plot]'"
        ) from err
    matplotlib.use("Agg", force=False)


_LABELS = {
    "accuracy": "accuracy",
    "smape": "sMAPE (%)",
    "mse": "MSE",
    "r2": "R²",
    "footprint": "footprint (bytes)",
    "parameter_count": "parameters",
    "synaptic_operations.effective": "effective synaptic ops per sample (ACs + MACs)",
    "synaptic_operations.effective_acs": "effective synaptic ACs per sample",
    "synaptic_operations.effective_macs": "effective synaptic MACs per sample",
    "synaptic_operations.dense": "dense synaptic ops per sample",
}
"""Axis labels (with units) of metric keys."""

_OPS = "synaptic_operations.effective"
_OP_KINDS = (("synaptic_operations.effective_acs", "o"), ("synaptic_operations.effective_macs", "s"))


def axis_label(key: str) -> str:
    """Axis label of a metric key, with its unit."""
    return _LABELS.get(key, key.replace("_", " ").replace(".", ": "))


def plot_tradeoff(
    results: Sequence[RunResult],
    path: str | Path,
    *,
    x: str = _OPS,
    y: str = "accuracy",
    log_x: bool = True,
    pareto: bool = True,
    title: str | None = None,
) -> Path:
    """Scatter ``y`` against ``x`` (one point per result), with the Pareto front (low x,
    high y); writes PNG or SVG by suffix and returns the path.

    ``x="synaptic_operations.effective"`` draws two panels, effective accumulates (ACs,
    circles: spike-driven synapses) and multiply-accumulates (MACs, squares: dense
    activations) per sample, since the two cost differently; a result appears in a panel when
    it has operations of that kind. The legend (model and run id per result) sits right of the
    axes, an accuracy axis ends at 1, and results without the values are named in a note.
    """
    _require_matplotlib()
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise ValueError("plot path must end in .png or .svg")
    panels = list(_OP_KINDS) if x == _OPS else [(x, "o")]
    kept: list[RunResult] = []
    skipped: list[str] = []
    for r in results:
        has_x = any((_value(r, k) or 0.0) > 0 for k, _ in panels) if x == _OPS else _value(r, x) is not None
        if r.metric(y) is None or not has_x:
            skipped.append(f"{r.model} ({r.run_id[:ID_CHARS]})")
        else:
            kept.append(r)
    if not kept:
        raise ValueError(f"no result has both {x!r} and {y!r}")
    if x == _OPS:  # drop a panel no result has operations in
        panels = [(k, m) for k, m in panels if any((_value(r, k) or 0.0) > 0 for r in kept)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 2.6, 4.2),
                             sharey=True, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (key, marker) in zip(axes[0], panels, strict=True):
        pts: list[tuple[float, float]] = []
        for i, r in enumerate(kept):
            xv, yv = _value(r, key), r.metric(y)
            if xv is None or yv is None or (x == _OPS and xv <= 0):
                continue
            pts.append((xv, yv))
            mode = f", {r.mode}" if r.mode != "exact" else ""
            ax.scatter([xv], [yv], marker=marker, s=36, zorder=3, color=colours[i % len(colours)],
                       label=f"{r.model} ({r.run_id[:ID_CHARS]}{mode})")
        idx = pareto_front(pts) if pareto else []
        if len(idx) > 1:
            ax.step([pts[i][0] for i in idx], [pts[i][1] for i in idx], where="post",
                    color="0.4", lw=1, ls="--", label="Pareto front", zorder=2)
        if log_x and pts and all(p[0] > 0 for p in pts):
            ax.set_xscale("log")
        ax.set_xlabel(axis_label(key))
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(axis_label(y))
    if y == "accuracy" and axes[0][0].get_ylim()[1] > 1.0:
        axes[0][0].set_ylim(top=1.0)
    handles: dict[str, object] = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    if x == _OPS:  # colour = result, shape = kind of operation
        from matplotlib.lines import Line2D

        handles = {
            lab: (Line2D([], [], lw=5, color=h.get_facecolor()[0])  # type: ignore[attr-defined]
                  if lab != "Pareto front" else h)
            for lab, h in handles.items()
        }
        shapes = {"o": "ACs (spike-driven accumulates)", "s": "MACs (multiply-accumulates)"}
        for _, m in panels:
            handles[f"marker: {shapes[m]}"] = Line2D([], [], ls="", marker=m, color="0.5")
    axes[0][-1].legend(list(handles.values()), list(handles.keys()), loc="upper left",
                       bbox_to_anchor=(1.03, 1.0), borderaxespad=0.0, fontsize=7, frameon=False)
    fig.suptitle(title or f"{axis_label(y)} vs {axis_label(x)}", fontsize=10)
    if skipped:
        fig.text(0.01, 0.01, "not plotted (no value): " + ", ".join(skipped), fontsize=7)
    fig.tight_layout(rect=(0.0, 0.04 if skipped else 0.0, 1.0, 1.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_accuracy_vs_footprint(
    results: Sequence[RunResult], path: str | Path, *, y: str = "accuracy"
) -> Path:
    """Accuracy (or ``y``) against footprint in bytes, with the Pareto front."""
    return plot_tradeoff(results, path, x="footprint", y=y, title=f"{y} vs footprint (bytes)")


def _value(r: RunResult, key: str) -> float | None:
    if key == "synaptic_operations.effective":
        macs = r.metric("synaptic_operations.effective_macs")
        acs = r.metric("synaptic_operations.effective_acs")
        return None if macs is None or acs is None else macs + acs
    return r.metric(key)
