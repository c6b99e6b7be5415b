"""Threads: torch ops around the EventProp kernels run on one thread, the kernels on the user's
count, and a kernel training step starts no OpenMP parallel region (eventbench.core.threads)."""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
import torch.nn.functional as F

from eventbench.core import SNN, LayerSpec, NetworkSpec
from eventbench.core.threads import default_threads, kernel_threads, serial_torch, thread_cpu_ns
from eventbench.eventprop import EventProp, kernels
from eventbench.readout import CrossEntropy, ExpWeightedVoltage


@contextmanager
def _threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def test_serial_torch_restores_and_keeps_the_kernel_count() -> None:
    with _threads(3):
        assert kernel_threads() == 3
        with serial_torch():
            assert torch.get_num_threads() == 1
            assert kernel_threads() == 3
            with serial_torch():  # nested: still one thread, same kernel count
                assert torch.get_num_threads() == 1
                assert kernel_threads() == 3
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 3
        with pytest.raises(RuntimeError, match="boom"), serial_torch():
            raise RuntimeError("boom")
        assert torch.get_num_threads() == 3
        assert kernel_threads() == 3
        with serial_torch(enabled=False):
            assert torch.get_num_threads() == 3


def test_default_threads_is_the_affinity() -> None:
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_threads() == expected


def _snn(backend: str = "auto") -> SNN:
    spec = NetworkSpec(
        n_inputs=200, hidden=(LayerSpec(200, recurrent=True),), n_outputs=4, dt_s=1e-3,
        n_steps=40,
    )  # fmt: skip
    return SNN(spec, ExpWeightedVoltage(), EventProp(backend=backend), seed=0)  # type: ignore[arg-type]


def test_optimiser_step_over_snn_weights_runs_on_one_thread() -> None:
    net = _snn()
    other = torch.nn.Parameter(torch.zeros(3))
    seen: list[int] = []
    with _threads(2):
        for params in (list(net.parameters()), [*net.parameters(), other]):
            opt = torch.optim.Adam(params, lr=1e-3)
            opt.register_step_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
            for p in params:
                p.grad = torch.ones_like(p)
            opt.step()
            assert torch.get_num_threads() == 2  # restored after the step
        # a step that raises leaves one thread behind only until the next step
        bad = torch.optim.SGD(list(net.parameters()), lr=float("nan"))
        bad.register_step_pre_hook(lambda *_: (_ for _ in ()).throw(ValueError("bad step")))
        with pytest.raises(ValueError, match="bad step"):
            bad.step()
        opt = torch.optim.Adam(list(net.parameters()), lr=1e-3)
        opt.step()
        assert torch.get_num_threads() == 2
    # only the SNN's own weights: one thread; mixed with another parameter: the user's two
    assert seen == [1, 2]


def test_serial_loss_gives_the_same_numbers() -> None:
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(32, 20, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 20, (32,), generator=gen)
    with _threads(2):
        loss = CrossEntropy(weight=0.5)(z, y)
        (g,) = torch.autograd.grad(loss, z)
        assert torch.get_num_threads() == 2
    z2 = z.detach().requires_grad_(True)
    ref = 0.5 * F.cross_entropy(z2, y)
    (g_ref,) = torch.autograd.grad(ref, z2)
    assert float(loss.detach()) == float(ref.detach())
    assert torch.equal(g, g_ref)
    with pytest.raises(ValueError, match="class labels"):
        CrossEntropy()(z, torch.full((32,), 25))


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not kernels.available(), reason="Linux, numba"
)
def test_kernel_training_step_wakes_no_torch_thread() -> None:
    """Forward, loss, backward and Adam of an SNN on the CPU kernels run no torch parallel op:
    the threads that are neither the caller nor the kernels' pool get no CPU time (a parallel op
    would give torch's OpenMP worker its share of the op plus milliseconds of spinning)."""
    from eventbench.eventprop.kernels import function as kf

    net = _snn("cpu-kernel")
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(40, 8, 200, generator=gen) < 0.1).to(torch.float32)
    y = torch.randint(0, 4, (8,), generator=gen)
    loss_fn = CrossEntropy()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step() -> None:
        out = net(x)
        loss = loss_fn(out.readout, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    with _threads(2):
        torch.ones(200_000).sum()  # torch's OpenMP worker exists (a parallel op ran)
        step()
        step()
        assert kf._POOL is not None
        ours = {str(threading.get_native_id())} | {str(t.native_id) for t in kf._POOL._threads}
        # collect earlier tests' garbage now: a finaliser run by a collection inside the
        # measured steps can wake a native thread (measured 1-3 ms after tests/core/test_skip.py)
        gc.collect()
        before = thread_cpu_ns()
        for _ in range(3):
            step()
        after = thread_cpu_ns()
    others_ms = sum(v - before.get(k, 0) for k, v in after.items() if k not in ours) / 1e6
    assert others_ms < 1.0, f"torch threads ran {others_ms:.2f} ms during the steps"


def test_run_threads_default_to_the_cores_and_are_checked() -> None:
    from eventbench.tasks import get_task
    from eventbench.tasks.config import ConfigError
    from eventbench.tasks.pipeline import apply_threads, resolve_recipe

    task = get_task("yinyang")
    with _threads(1):
        recipe = resolve_recipe(task)
        assert recipe.train.threads is None
        assert apply_threads(recipe) == default_threads() == torch.get_num_threads()
        assert apply_threads(resolve_recipe(task, assignments=["train.threads=3"])) == 3
        assert torch.get_num_threads() == 3
        with pytest.raises(ConfigError, match=r"train\.threads"):
            apply_threads(resolve_recipe(task, assignments=["train.threads=0"]))


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not kernels.available(), reason="Linux, numba"
)
def test_training_loop_on_the_kernels_wakes_no_torch_thread() -> None:
    """A whole epoch of :func:`~eventbench.train.loop.fit` (batches, steps, gradient norms,
    spike bookkeeping, silent-neuron lift) gives torch's OpenMP worker no CPU time."""
    import numpy as np

    from eventbench.data import EventSample, bin_samples
    from eventbench.eventprop.kernels import function as kf
    from eventbench.train import SNNLearner
    from eventbench.train.data import BinnedSplit
    from eventbench.train.loop import TrainConfig, fit

    rng = np.random.default_rng(0)
    samples = [
        EventSample(rng.random(200) * 0.04, rng.integers(0, 200, 200), 200, int(i % 4))
        for i in range(40)
    ]
    split = BinnedSplit("toy", bin_samples(samples, 200, 1e-3, 40))
    batch_threads: set[str] = set()
    inner = split.batch

    def spy(idx: torch.Tensor, sparse: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        batch_threads.add(str(threading.get_native_id()))
        return inner(idx, sparse=sparse)

    object.__setattr__(split, "batch", spy)
    learner = SNNLearner(_snn("cpu-kernel"), CrossEntropy(), lift_amount=0.002)
    cfg = TrainConfig(epochs=1, batch_size=8)
    with _threads(2):
        torch.ones(200_000).sum()  # torch's OpenMP worker exists
        fit(learner, split, None, cfg, model_description={})  # warm (compiles, pools)
        assert kf._POOL is not None
        ours = {str(threading.get_native_id())} | {str(t.native_id) for t in kf._POOL._threads}
        # collect earlier tests' garbage now: a finaliser run by a collection inside the
        # measured steps can wake a native thread (measured 1-3 ms after tests/core/test_skip.py)
        gc.collect()
        before = thread_cpu_ns()
        fit(learner, split, None, TrainConfig(epochs=1, batch_size=8, seed=1), model_description={})
        after = thread_cpu_ns()
    others = ours | batch_threads
    others_ms = sum(v - before.get(k, 0) for k, v in after.items() if k not in others) / 1e6
    assert others_ms < 1.0, f"torch threads ran {others_ms:.2f} ms during the epoch"
