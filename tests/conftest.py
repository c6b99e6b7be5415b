"""Shared test settings: deterministic seeds, float64 by default where tests ask for it."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    torch.manual_seed(0)
