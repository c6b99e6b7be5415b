"""Typed, versioned benchmark results and their provenance (JSON round-trip)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1
"""Version of the :class:`RunResult` layout; bump on any incompatible change."""


@dataclass(frozen=True)
class Provenance:
    """Where a result comes from.

    Attributes:
        package_versions: ``{"eventbench": ..., "torch": ..., "python": ..., ...}``.
        seed: the seed the runner set (None if it set none).
        git_commit: commit of the EventBench checkout, with ``+dirty`` when it has local
            changes (None outside a git checkout).
        device: ``"cpu (AMD EPYC, 2 cores)"``, ``"cuda:0 (NVIDIA H100 ...)"``, ...
        data_fingerprint: SHA-256 fingerprint of the evaluated data (see
            :func:`eventbench.bench.runner.run`), or a fingerprint declared by the task.
        execution_rate_hz: model execution rate declared by the task or the user (Hz,
            1 / temporal stride), None when not declared (never measured).
        created_utc: ISO-8601 time of the run.
        platform: ``platform.platform()`` of the machine.
        protocol: the task's evaluation protocol and its version (``"SHD v2 official
            train/test split"``); None when the task declares none.
    """

    package_versions: dict[str, str]
    seed: int | None
    git_commit: str | None
    device: str
    data_fingerprint: str | None
    execution_rate_hz: float | None
    created_utc: str
    platform: str = ""
    protocol: str | None = None


@dataclass(frozen=True)
class RunResult:
    """Result of one task x model benchmark run.

    Attributes:
        schema_version: :data:`SCHEMA_VERSION` at creation.
        run_id: unique id (hex).
        task: task name.
        model: model name.
        mode: ``"exact"`` or ``"neurobench"``.
        metrics: metric key -> value (number, dict of numbers, or None when unsupported).
        unsupported: what could not be measured and why (metric or layer -> reason).
        details: per-layer integer operation counts and other raw counts.
        samples: samples evaluated; batches: batches evaluated.
        wall_time_s: wall time of the evaluation loop (model + metric collection).
        provenance: :class:`Provenance`.
    """

    schema_version: int
    run_id: str
    task: str
    model: str
    mode: str
    metrics: dict[str, Any]
    unsupported: dict[str, str]
    details: dict[str, Any]
    samples: int
    batches: int
    wall_time_s: float
    provenance: Provenance
    tags: dict[str, str] = field(default_factory=dict)

    def metric(self, path: str) -> float | None:
        """A numeric metric by dotted path, e.g. ``"synaptic_operations.effective_acs"``.

        Keys that themselves contain dots (parameter names such as
        ``"training.grad_norm.layers.0.w_ff"``) are matched longest first, as
        :meth:`flat_metrics` writes them. Returns None when the metric is absent, unsupported or
        not a number.
        """
        node: Any = self.metrics
        parts = path.split(".")
        while parts:
            if not isinstance(node, dict):
                return None
            for k in range(len(parts), 0, -1):
                key = ".".join(parts[:k])
                if key in node:
                    node, parts = node[key], parts[k:]
                    break
            else:
                return None
        if isinstance(node, bool) or not isinstance(node, (int, float)):
            return None
        return float(node)

    def flat_metrics(self) -> dict[str, float | None]:
        """Metrics flattened to ``{"a.b": number}`` (nested dicts joined with dots)."""
        out: dict[str, float | None] = {}

        def walk(prefix: str, v: Any) -> None:
            if isinstance(v, dict):
                for k, sub in v.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), sub)
            elif v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)):
                out[prefix] = None if v is None else float(v)

        walk("", self.metrics)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary."""
        return asdict(self)

    def to_json(self) -> str:
        """JSON text (non-finite floats are written as null)."""
        return json.dumps(_finite(self.to_dict()), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        """Inverse of :meth:`to_dict`; rejects unknown schema versions."""
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"result schema version {version} is not supported (expected {SCHEMA_VERSION})"
            )
        fields = dict(d)
        fields["provenance"] = Provenance(**fields["provenance"])
        return cls(**fields)

    @classmethod
    def from_json(cls, text: str) -> RunResult:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v
