r"""Summary of a sweep: mean ± standard deviation over seeds per setting, and plots.

For each setting (a value per swept key) over its ``n`` finished seeds:

.. math::
    \bar a = \frac1n \sum_k a_k, \qquad s = \sqrt{\frac{1}{n-1} \sum_k (a_k - \bar a)^2}

(sample standard deviation, ``n/a`` for one seed) of the score (the task's first metric, e.g.
accuracy), the effective synaptic operations per sample (ACs + MACs) and the training time
(seconds of all training epochs, validation excluded). Failed trials are counted, never
averaged in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventbench.bench.result import RunResult
from eventbench.bench.store import ResultStore

__all__ = ["SettingSummary", "mean_std", "plot_sweep", "summarise", "summary_markdown"]


@dataclass(frozen=True)
class SettingSummary:
    """One setting of a sweep, over its seeds.

    Attributes:
        settings: swept key -> value.
        seeds: seeds finished.
        failed: trials of this setting that failed (latest state in the store).
        score: (mean, std) of the score; std is ``None`` for one seed; ``None`` if no seed.
        ops: (mean, std) of effective synaptic operations per sample.
        train_time_s: (mean, std) of the training time (s).
    """

    settings: dict[str, Any]
    seeds: int
    failed: int
    score: tuple[float, float | None] | None
    ops: tuple[float, float | None] | None
    train_time_s: tuple[float, float | None] | None


def mean_std(values: Sequence[float]) -> tuple[float, float | None] | None:
    """Mean and sample standard deviation (``ddof = 1``; ``None`` for one value) of
    ``values``; ``None`` when empty."""
    n = len(values)
    if n == 0:
        return None
    m = math.fsum(values) / n
    if n == 1:
        return m, None
    return m, math.sqrt(math.fsum((v - m) ** 2 for v in values) / (n - 1))


def _ops(r: RunResult) -> float | None:
    macs = r.metric("synaptic_operations.effective_macs")
    acs = r.metric("synaptic_operations.effective_acs")
    return None if macs is None or acs is None else macs + acs


def _train_time(r: RunResult) -> float | None:
    per = r.metric("training.time_per_epoch_s")
    epochs = r.metric("training.epochs")
    return None if per is None or epochs is None else per * epochs


def summarise(store: ResultStore, sweep: str, score: str = "accuracy") -> list[SettingSummary]:
    """Per setting of sweep ``sweep`` (in the order first recorded), the statistics over its
    finished seeds; raises ``ValueError`` naming the sweeps present when it has no trials."""
    trials = store.trials(sweep)
    if not trials:
        names = ", ".join(store.sweeps()) or "none"
        raise ValueError(f"--sweep {sweep!r}: no trials in {store.path} (sweeps there: {names})")
    groups: dict[str, list[Any]] = {}
    for t in sorted(trials, key=lambda t: t.updated_utc):
        groups.setdefault(json.dumps(t.settings, sort_keys=True), []).append(t)
    out = []
    for trs in groups.values():
        done = [store.get(t.run_id) for t in trs if t.status == "done" and t.run_id]
        out.append(
            SettingSummary(
                settings=dict(trs[0].settings),
                seeds=len(done),
                failed=sum(t.status == "failed" for t in trs),
                score=mean_std([v for r in done if (v := r.metric(score)) is not None]),
                ops=mean_std([v for r in done if (v := _ops(r)) is not None]),
                train_time_s=mean_std([v for r in done if (v := _train_time(r)) is not None]),
            )
        )
    return out


def _pm(ms: tuple[float, float | None] | None, fmt: str) -> str:
    if ms is None:
        return "n/a"
    m, s = ms
    return format(m, fmt) + (" ± n/a" if s is None else " ± " + format(s, fmt))


def _value_text(v: Any) -> str:
    if isinstance(v, list):
        return "-".join(str(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def summary_markdown(rows: Sequence[SettingSummary], score: str = "accuracy") -> str:
    """Markdown table: one row per setting, mean ± std over seeds."""
    keys = list(rows[0].settings) if rows else []
    header = [*keys, "seeds", "failed", f"{score} (mean ± std)",
              "synaptic ops / sample (mean ± std)", "training time s (mean ± std)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [_value_text(r.settings.get(k)) for k in keys]
        cells += [str(r.seeds), str(r.failed), _pm(r.score, ".4f"), _pm(r.ops, ",.0f"),
                  _pm(r.train_time_s, ".2f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def plot_sweep(
    rows: Sequence[SettingSummary], out_dir: Path, name: str, score: str = "accuracy"
) -> list[Path]:
    """Write ``<name>-<key>.png`` per swept key (score against the key's value, one line per
    combination of the other keys, error bars = std over seeds) and ``<name>-pareto.png``
    (score against synaptic operations per setting, with the Pareto front). Needs matplotlib."""
    from eventbench.bench.report import _require_matplotlib, pareto_front

    _require_matplotlib()
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    done = [r for r in rows if r.score is not None]
    if not done:
        raise ValueError(f"sweep {name!r} has no finished trial to plot")
    keys = list(done[0].settings)
    paths: list[Path] = []
    for key in keys:
        values = [r.settings[key] for r in done]
        numeric = _numeric(values)
        labels = sorted({_value_text(v) for v in values}, key=lambda t: [
            _value_text(v) for v in values].index(t))
        fig, ax = plt.subplots(figsize=(5.5, 4))
        series: dict[str, list[SettingSummary]] = {}
        for r in done:
            other = ", ".join(f"{k}={_value_text(r.settings[k])}" for k in keys if k != key)
            series.setdefault(other, []).append(r)
        for other, rs in series.items():
            rs = sorted(rs, key=lambda r: r.settings[key] if numeric else
                        labels.index(_value_text(r.settings[key])))
            xs = [float(r.settings[key]) if numeric else labels.index(_value_text(r.settings[key]))
                  for r in rs]
            ys = [r.score[0] for r in rs if r.score is not None]
            es = [(r.score[1] or 0.0) for r in rs if r.score is not None]
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=other or None)
        if numeric and all(float(v) > 0 for v in values) and max(values) / min(values) >= 10:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(key)
        ax.set_ylabel(f"{score} (mean ± std over seeds)")
        ax.set_title(f"sweep {name}: {score} vs {key}")
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / f"{name}-{key.replace('.', '_')}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    with_ops = [r for r in done if r.ops is not None and r.score is not None]
    if with_ops:
        pts = [(r.ops[0], r.score[0]) for r in with_ops if r.ops is not None and r.score is not None]
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for r, (px, py) in zip(with_ops, pts, strict=True):
            assert r.ops is not None and r.score is not None
            ax.errorbar(px, py, xerr=r.ops[1] or 0.0, yerr=r.score[1] or 0.0, fmt="o",
                        color="tab:blue", capsize=2, zorder=3)
            label = ", ".join(_value_text(v) for v in r.settings.values())
            ax.annotate(label, (px, py), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if len(pts) > 1:
            idx = pareto_front(pts)
            ax.step([pts[i][0] for i in idx], [pts[i][1] for i in idx], where="post",
                    color="tab:red", label="Pareto front", zorder=2)
            ax.legend(loc="lower right")
        if all(p[0] > 0 for p in pts):
            ax.set_xscale("log")
        ax.set_xlabel("effective synaptic operations per sample (mean over seeds)")
        ax.set_ylabel(f"{score} (mean ± std over seeds)")
        ax.set_title(f"sweep {name}: {score} vs operations")
        fig.text(0.01, 0.01, "points labelled " + ", ".join(keys), fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"{name}-pareto.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
