r"""Data-parallel training with ``torch.distributed``: one process per device (gloo on CPU, NCCL
on GPUs), each with a shard of every global minibatch.

Every process draws the same sample order (the loop's seeded generator) and takes a contiguous
shard of each global minibatch of :math:`B` samples (:func:`shard_bounds`; sizes differ by at
most one). The network runs under ``DistributedDataParallel``, which averages the gradients over
the :math:`W` processes after the backward pass, EventProp's custom backward included (its
weight gradients arrive like any other). So that the average equals the gradient of the loss
averaged over the global batch even when shards differ in size, the local loss (a mean over the
:math:`b_r` local samples) is scaled by :math:`b_r W / B` (:func:`loss_scale`):

.. math::
    \frac1W \sum_r \frac{b_r W}{B} \nabla \Big(\frac{1}{b_r}\sum_{i \in r} \ell_i\Big)
    = \frac1B \sum_i \nabla \ell_i .

Batch-dependent terms: the rate regulariser's batch-mean spike count is all-reduced
(:class:`~eventbench.core.RateRegulariser` with ``distributed=True``), and the spike counts
behind the silent-neuron lift are summed over processes before the lift, so every process
changes the same neurons. The training-set statistics of the history (loss, score, rate) are
those of each process' shards; validation runs on the whole split in every process.
Checkpoints are written by rank 0.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from eventbench.train.learners import ANNLearner, Learner, SNNLearner

__all__ = [
    "DataParallel",
    "all_reduce_counts",
    "free_port",
    "launch",
    "loss_scale",
    "shard_bounds",
    "wrap",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataParallel:
    """This process' place in data-parallel training (the default process group must be
    initialised, e.g. by :func:`launch`).

    Attributes:
        rank: this process (0 writes checkpoints).
        world: number of processes.
    """

    rank: int
    world: int

    def __post_init__(self) -> None:
        if self.world < 1 or not 0 <= self.rank < self.world:
            raise ValueError(f"need 0 <= rank < world, got rank {self.rank}, world {self.world}")


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """``[start, stop)`` of process ``rank``'s contiguous shard of ``n`` samples: the first
    ``n mod world`` shards get one sample more."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def loss_scale(local: int, global_: int, world: int) -> float:
    """Factor ``local * world / global_`` of a shard's mean loss (module docstring)."""
    return local * world / global_


def all_reduce_counts(counts: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Spike counts (int64 per layer) summed over the processes (NCCL reduces device tensors
    only: there the counts travel through this process' GPU and come back)."""
    nccl = dist.get_backend() == "nccl"
    out = []
    for c in counts:
        home = c.device
        c = c.to(torch.device("cuda", torch.cuda.current_device())) if nccl else c.clone()
        dist.all_reduce(c)
        out.append(c.to(home))
    return tuple(out)


def wrap(learner: Learner, device: torch.device | None = None) -> Learner:
    """A copy of ``learner`` whose forward pass runs under ``DistributedDataParallel`` (and,
    for EventProp with the rate regulariser, whose regulariser averages over processes)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError("data-parallel training needs an initialised torch.distributed group")
    ids = [device.index] if device is not None and device.type == "cuda" else None
    if isinstance(learner, SNNLearner):
        net = learner.net
        method = net.method
        reg = getattr(method, "regulariser", None)
        if reg is not None and not reg.distributed:
            net.method = dataclasses.replace(method, regulariser=dataclasses.replace(  # type: ignore[type-var]
                reg, distributed=True))
        runner = DDP(net, device_ids=ids, forward_sync_buffers=False)
        return dataclasses.replace(learner, runner=runner)
    if isinstance(learner, ANNLearner):
        runner = DDP(learner.net, device_ids=ids, forward_sync_buffers=False)
        return dataclasses.replace(learner, runner=runner)
    raise TypeError(f"data-parallel training does not support {type(learner).__name__}")


def free_port() -> int:
    """A free TCP port on this machine (for the process group's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _entry(rank: int, world: int, port: int, backend: str, fn: Callable[..., Any],
           args: tuple[Any, ...]) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        if backend == "nccl":
            torch.cuda.set_device(rank)
        fn(DataParallel(rank, world), *args)
        # every rank finishes before any closes its connections (a rank whose peer had already
        # torn its process group down was once aborted in CI: "terminate called without an
        # active exception")
        dist.barrier()
    finally:
        dist.destroy_process_group()


def launch(fn: Callable[..., Any], world: int, *args: Any, backend: str | None = None) -> None:
    """Run ``fn(DataParallel(rank, world), *args)`` in ``world`` new processes on this machine
    (gloo on CPU, NCCL when ``world`` GPUs are visible); ``fn`` must be importable (a module-level
    function). An exception in any process is raised here."""
    from torch.multiprocessing.spawn import spawn

    if world < 1:
        raise ValueError(f"--devices must be >= 1, got {world}")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= world else "gloo"
    spawn(_entry, args=(world, free_port(), backend, fn, args), nprocs=world, join=True)  # type: ignore[no-untyped-call]
