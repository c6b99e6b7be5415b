"""Conventional (non-spiking) baselines trained on the same binned input as the SNNs.

Both take time-major input ``x [T, B, N]`` (the same tensors the SNN sees):

* :class:`MLPBaseline` flattens the whole trial, ``[B, T*N]``, then ``Linear -> ReLU -> ... ->
  Linear``; it suits short latency-coded trials (Yin-Yang, digits).
* :class:`GRUBaseline` runs ``torch.nn.GRU`` over time; classification reads the output layer
  from the mean of the hidden states over time, regression (``per_step=True``) maps every
  hidden state to the targets, ``[T, B, K]``.

They are plain ``nn.Module`` s built from ``nn.Linear`` / ``nn.GRU`` / ``nn.ReLU``, which the
benchmark harness counts with its hooks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["BaselineSpec", "GRUBaseline", "MLPBaseline", "build_baseline"]


@dataclass(frozen=True)
class BaselineSpec:
    """Description of a conventional baseline (stored in checkpoints).

    Attributes:
        kind: ``"mlp"`` or ``"gru"``.
        n_inputs: input channels ``N``.
        n_steps: time steps ``T`` (the MLP's input is ``T*N`` wide).
        hidden: hidden layer sizes (MLP: one ``Linear + ReLU`` each; GRU: stacked layers of the
            same size, the first entry is used and ``len(hidden)`` is the number of layers).
        n_outputs: classes or regression targets.
        per_step: output every step (``[T, B, K]``, regression) instead of once (``[B, K]``).
    """

    kind: str
    n_inputs: int
    n_steps: int
    hidden: tuple[int, ...]
    n_outputs: int
    per_step: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("mlp", "gru"):
            raise ValueError(f"baseline kind must be 'mlp' or 'gru', got {self.kind!r}")
        if not self.hidden or min(self.hidden) <= 0:
            raise ValueError(f"baseline hidden sizes must be positive, got {self.hidden}")
        if self.kind == "mlp" and self.per_step:
            raise ValueError("the MLP baseline has no per-step output; use the GRU baseline")


class MLPBaseline(nn.Module):
    """Flattened-trial MLP: ``[T, B, N] -> [B, T*N] -> hidden (ReLU) -> [B, K]``."""

    def __init__(self, spec: BaselineSpec) -> None:
        super().__init__()
        self.spec = spec
        layers: list[nn.Module] = []
        width = spec.n_inputs * spec.n_steps
        for h in spec.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, spec.n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, K]`` of time-major input ``x [T, B, N]``."""
        t, b, n = x.shape
        if t != self.spec.n_steps or n != self.spec.n_inputs:
            raise ValueError(
                f"input shape {tuple(x.shape)} does not match the MLP: expected "
                f"[{self.spec.n_steps}, B, {self.spec.n_inputs}]"
            )
        out: Tensor = self.net(x.transpose(0, 1).reshape(b, t * n))
        return out


class GRUBaseline(nn.Module):
    """GRU over time: ``[T, B, N] -> [B, K]`` (mean hidden state) or ``[T, B, K]`` per step."""

    def __init__(self, spec: BaselineSpec) -> None:
        super().__init__()
        self.spec = spec
        self.gru = nn.GRU(spec.n_inputs, spec.hidden[0], num_layers=len(spec.hidden))
        self.head = nn.Linear(spec.hidden[0], spec.n_outputs)

    def forward(self, x: Tensor) -> Tensor:
        """Outputs for time-major input ``x [T, B, N]``."""
        if x.dim() != 3 or x.shape[2] != self.spec.n_inputs:
            raise ValueError(
                f"input shape {tuple(x.shape)} does not match the GRU: expected "
                f"[T, B, {self.spec.n_inputs}]"
            )
        h, _ = self.gru(x)
        if self.spec.per_step:
            out: Tensor = self.head(h)
            return out
        pooled: Tensor = self.head(h.mean(dim=0))
        return pooled


def build_baseline(spec: BaselineSpec, seed: int) -> nn.Module:
    """Build the baseline with weights drawn from ``seed`` (the global RNG is restored)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if spec.kind == "mlp":
            return MLPBaseline(spec)
        return GRUBaseline(spec)
