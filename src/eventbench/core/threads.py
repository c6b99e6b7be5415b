"""How EventBench uses CPU threads: one thread count, set in one place, and torch's OpenMP
threads kept off the cores of the compiled EventProp kernels.

The mechanism (measured on the project's 2-core machine, ``docs/speed.md``): torch's CPU build
runs a parallel op (any element-wise op or reduction over more than 32 768 elements, e.g. the
weight masks ``w * mask`` of a ``[700, 256]`` layer, Adam's updates, a sum over the gradient)
on the threads of its OpenMP runtime (libgomp), and each of those threads keeps *spinning* for
about 7-10 ms of CPU time after the op has finished, waiting for the next one (libgomp's default
wait policy). When the EventProp kernels start their own threads right after such an op, the
spinning thread takes a core from them. ``OMP_WAIT_POLICY=PASSIVE`` avoids the spin, but only if
it is set before torch is loaded, and it makes every other torch model of the process slower
(each of its thousands of small parallel ops then pays a thread wake-up).

What the library does instead: the torch operations that it runs around the kernels (weight
masks, packing, spike records, guard and spike counts, the finite-gradient check) run with
one intra-op thread (:func:`serial_torch`), so they never wake the OpenMP pool; the kernels run
on :func:`kernel_threads` threads of their own, the torch thread count the user set (outside any
:func:`serial_torch` block). The optimiser step over an ``SNN``'s parameters is such a small
torch operation too (Adam over the 250 k weights of the SHD network: 1.7 ms on one thread, 6 ms
plus the spin on two): every ``SNN`` tags its parameters (:func:`mark_serial_step`), and a
global ``torch.optim`` step hook, installed when the first ``SNN`` is built, runs the step of an
optimiser whose parameters are all tagged CPU tensors on one thread. Other optimisers and every
other torch operation of the user's code keep the user's thread count.

:func:`default_threads` is the number of cores available to the process, the default of
``train.threads`` (the CLI sets ``torch.set_num_threads`` from it once, in
:func:`eventbench.cli` ``_prepare``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import Tensor

from eventbench.machine import available_cores

__all__ = ["default_threads", "kernel_threads", "mark_serial_step", "serial_torch", "thread_cpu_ns"]

_state = threading.local()

#: attribute set on the parameters whose optimiser step runs on one thread
_TAG = "_eventbench_serial_step"
_hooks_installed = False


def default_threads() -> int:
    """Cores this process may run on (:func:`eventbench.machine.available_cores`: its CPU
    affinity, ``os.cpu_count()`` where the platform has no affinity), at least 1."""
    return available_cores()


def kernel_threads() -> int:
    """Threads of the compiled kernels: torch's intra-op thread count as the user set it
    (``torch.set_num_threads``), also inside a :func:`serial_torch` block."""
    outer: int | None = getattr(_state, "outer", None)
    return outer if outer is not None else torch.get_num_threads()


def thread_cpu_ns() -> dict[str, int]:
    """CPU time in nanoseconds of every thread of this process so far, by thread id (Linux:
    ``/proc/self/task/<tid>/schedstat``; threads that end while being read are left out, and
    the result is empty elsewhere). The difference of two calls shows which threads ran in
    between, e.g. whether torch's OpenMP worker spun during a kernel step."""
    out: dict[str, int] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                out[tid] = int(f.read().split()[0])
        except OSError:
            pass
    return out


@contextmanager
def serial_torch(enabled: bool = True) -> Iterator[None]:
    """Run the torch operations of the block on one intra-op thread (no OpenMP parallel region,
    so no OpenMP thread left spinning after them); :func:`kernel_threads` keeps returning the
    thread count of the caller. Nested blocks are cheap (about 0.1 us per switch); the caller's
    count is restored on exit, also after an exception. ``enabled=False`` does nothing."""
    if not enabled or getattr(_state, "outer", None) is not None:
        yield
        return
    outer = torch.get_num_threads()
    _state.outer = outer
    if outer > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if outer > 1:
            torch.set_num_threads(outer)
        _state.outer = None


def mark_serial_step(params: Iterable[Tensor]) -> None:
    """Tag ``params`` so that an optimiser step over them (and nothing else) runs on one torch
    thread while they are CPU tensors; installs the global optimiser step hooks on first use."""
    global _hooks_installed
    for p in params:
        setattr(p, _TAG, True)
    if not _hooks_installed:
        from torch.optim.optimizer import (
            register_optimizer_step_post_hook,
            register_optimizer_step_pre_hook,
        )

        register_optimizer_step_pre_hook(_before_step)
        register_optimizer_step_post_hook(_after_step)
        _hooks_installed = True


def _serial_step(opt: torch.optim.Optimizer) -> bool:
    """Whether every parameter of ``opt`` is a tagged CPU tensor (and there is one)."""
    params = [p for group in opt.param_groups for p in group["params"]]
    return bool(params) and all(
        getattr(p, _TAG, False) and p.device.type == "cpu" for p in params
    )


def _leave_step() -> None:
    stack: ExitStack | None = getattr(_state, "step", None)
    _state.step = None
    if stack is not None:
        stack.close()


def _before_step(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    _leave_step()  # a step that raised skipped the post hook: restore the thread count first
    if _serial_step(opt):
        stack = ExitStack()
        stack.enter_context(serial_torch())
        _state.step = stack


def _after_step(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    _leave_step()
