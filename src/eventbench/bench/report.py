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


def _fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    if abs(v) >= 1e4 or (v != 0 and abs(v) < 1e-3):
        return f"{v:.4g}"
    return f"{v:.4f}"


def table_rows(
    results: Sequence[RunResult], columns: Sequence[str] | None = None
) -> tuple[list[str], list[list[float | str | None]]]:
    """Header and rows (task, model, mode, [protocol,] rate, metrics...) for the tables; the
    protocol column appears when some result names its evaluation protocol."""
    cols = _columns(results, columns)
    with_protocol = any(r.provenance.protocol for r in results)
    header = ["task", "model", "mode", *(["protocol"] if with_protocol else []),
              "execution_rate_hz", *cols]
    rows: list[list[float | str | None]] = []
    for r in results:
        flat = r.flat_metrics()
        proto: list[float | str | None] = [r.provenance.protocol] if with_protocol else []
        rows.append(
            [r.task, r.model, r.mode, *proto, r.provenance.execution_rate_hz,
             *(flat.get(c) for c in cols)]
        )
    return header, rows


def to_markdown(results: Sequence[RunResult], columns: Sequence[str] | None = None) -> str:
    """A Markdown table, one row per result; unsupported values are ``n/a``."""
    header, rows = table_rows(results, columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            c if isinstance(c, str) else _fmt(c)  # numbers and None
            for c in row
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [
        f"- {r.model} / {r.task} ({r.mode}): {k}: {why}"
        for r in results
        for k, why in r.unsupported.items()
    ]
    if notes:
        lines += ["", "Not measured:", *notes]
    return "\n".join(lines) + "\n"


def to_csv(
    results: Sequence[RunResult],
    path: str | Path | None = None,
    columns: Sequence[str] | None = None,
) -> str:
    """CSV text (full precision, empty cell = not measured); also written to ``path``."""
    header, rows = table_rows(results, columns)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if c is None else (c if isinstance(c, str) else repr(c)) for c in row])
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


def plot_tradeoff(
    results: Sequence[RunResult],
    path: str | Path,
    *,
    x: str = "synaptic_operations.effective",
    y: str = "accuracy",
    log_x: bool = True,
    pareto: bool = True,
    title: str | None = None,
) -> Path:
    """Scatter ``y`` against ``x`` (one point per result, labelled by model), with the
    Pareto front (low x, high y); writes PNG or SVG by suffix and returns the path.

    ``x="synaptic_operations.effective"`` is effective MACs + ACs per sample. Results
    without both values are skipped (with their names in the figure's note).
    """
    _require_matplotlib()
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise ValueError("plot path must end in .png or .svg")
    pts: list[tuple[float, float]] = []
    labels: list[str] = []
    skipped: list[str] = []
    for r in results:
        xv = _value(r, x)
        yv = r.metric(y)
        if xv is None or yv is None:
            skipped.append(r.model)
            continue
        pts.append((xv, yv))
        labels.append(f"{r.model} ({r.mode})" if r.mode != "exact" else r.model)
    if not pts:
        raise ValueError(f"no result has both {x!r} and {y!r}")
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], zorder=3)
    for (px, py), lab in zip(pts, labels, strict=True):
        ax.annotate(lab, (px, py), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if pareto and len(pts) > 1:
        idx = pareto_front(pts)
        ax.step(
            [pts[i][0] for i in idx],
            [pts[i][1] for i in idx],
            where="post",
            color="tab:red",
            label="Pareto front",
            zorder=2,
        )
        ax.legend(loc="lower right")
    if log_x and all(p[0] > 0 for p in pts):
        ax.set_xscale("log")
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(y.replace("_", " "))
    ax.set_title(title or f"{y} vs {x}")
    if skipped:
        fig.text(0.01, 0.01, "not plotted: " + ", ".join(skipped), fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
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
