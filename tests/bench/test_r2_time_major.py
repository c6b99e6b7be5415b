"""R^2 of time-major regression output ``[T, B, 2]`` (windows of a recording, as the reaching
task scores them) equals the official metric fed every step as one sample."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import eventbench.bench as eb

pytestmark = pytest.mark.peers

nb_workload = pytest.importorskip("neurobench.metrics.workload")


class Echo(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


def test_time_major_r2_equals_the_official_r2_over_all_steps() -> None:
    g = torch.Generator().manual_seed(3)
    y = torch.randn(40, 6, 2, generator=g) * torch.tensor([1.0, 3.0])  # [T, windows, axes]
    p = y + 0.7 * torch.randn(40, 6, 2, generator=g)
    # windows differ in mean: per-window R^2 would differ from the pooled one
    y[:, :3] += 2.0
    p[:, :3] += 2.0
    batches = [(p[:, i:i + 4], y[:, i:i + 4]) for i in range(0, 6, 4)]
    task = eb.Task("reach", batches, metrics=("r2",), batch_dim=1, dataset_len=6)
    ours = eb.run(task, Echo(), metrics=["r2"], mode="exact").metrics["r2"]
    official = nb_workload.R2()
    official.reset()
    flat_p, flat_y = p.reshape(-1, 2), y.reshape(-1, 2)
    for i in range(0, flat_p.shape[0], 64):  # official batches of 64 steps
        value = official(None, flat_p[i:i + 64], (None, flat_y[i:i + 64]))
    assert ours == pytest.approx(value, abs=1e-5)
    per_window = sum(
        1 - ((y[:, w, j] - p[:, w, j]) ** 2).sum() / ((y[:, w, j] - y[:, w, j].mean()) ** 2).sum()
        for w in range(6) for j in range(2)) / 12
    assert abs(ours - float(per_window)) > 0.05  # the old per-window columns differ
