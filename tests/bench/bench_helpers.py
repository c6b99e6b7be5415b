"""Helpers for the benchmark-harness tests (all data made here, no downloads)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset


def loader(x: Tensor, y: Tensor, batch_size: int, drop_last: bool = False) -> DataLoader:
    """A deterministic (unshuffled) loader over tensors."""
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, drop_last=drop_last)


def brute_linear_ops(x: Tensor, w: Tensor) -> tuple[int, int]:
    """(effective, dense) pairs of ``x [rows, n_in]`` with ``w [n_out, n_in]``, by enumeration."""
    xb = (x != 0).double()
    wb = (w != 0).double()
    eff = int((xb @ wb.T).sum().item())
    return eff, x.shape[0] * w.shape[0] * w.shape[1]


class CellNet(nn.Module):
    """Loops a recurrent cell over ``[B, T, F]`` with an explicit zero initial state."""

    def __init__(self, cell: nn.RNNCellBase, n_out: int) -> None:
        super().__init__()
        self.cell = cell
        self.fc = nn.Linear(cell.hidden_size, n_out)

    def forward(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        h = torch.zeros(b, self.cell.hidden_size)
        c = torch.zeros(b, self.cell.hidden_size)
        for t in range(x.shape[1]):
            if isinstance(self.cell, nn.LSTMCell):
                h, c = self.cell(x[:, t], (h, c))
            else:
                h = self.cell(x[:, t], h)
        out: Tensor = self.fc(h)
        return out


def split_sizes(n: int, sizes: Sequence[int]) -> list[int]:
    assert sum(sizes) == n
    return list(sizes)
