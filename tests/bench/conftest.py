"""Fixtures for the benchmark-harness tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def gen() -> torch.Generator:
    """A seeded generator (fresh per test)."""
    return torch.Generator().manual_seed(1234)


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """Tiny models: one intra-op thread avoids oversubscription stalls on busy 2-core CI."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
