"""The training loop: Adam, learning-rate schedule, validation, best-model and resumable
checkpoints, deterministic given a seed.

Determinism: the sample order of epoch ``e`` and any input-spike drop are drawn from a generator
seeded with ``(seed, e)``; nothing else is random during training. A run resumed from the
checkpoint of epoch ``e`` therefore continues exactly as the uninterrupted run would have
(same weights, same history), which the tests check.

Checkpoints (in ``run_dir``): ``last.pt`` after every epoch (model, optimiser, schedule state,
history, RNG states, the previous epoch's spike counts) and ``best.pt`` whenever the validation
score improves (the model only). Both are written atomically, so killing the process loses at
most the current epoch.

Best epoch: the highest validation score (the training score without a validation split); a
tie goes to the lower validation (training) loss, so that on a small validation split, where
many epochs share one accuracy, the choice does not freeze at the first of them.

Learning rate: the schedule is fitted to the run (:meth:`~eventbench.train.schedules.LRSchedule.fit_to`
with ``epochs x minibatches per epoch`` steps), so the ease-in takes at most its
``max_ease_fraction`` of the run.

Diagnostics (spiking networks; definitions in :mod:`eventbench.train.diagnostics`): each
:class:`EpochRecord` holds per hidden layer the spikes, mean rate (Hz), silent neurons and the
spikes created / deleted against the previous epoch, plus the guard-hit fraction and the mean
gradient norm per parameter; a layer going silent is logged as a warning.
"""

from __future__ import annotations

import logging
import math
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from eventbench.core import SNN
from eventbench.core.threads import serial_torch
from eventbench.train.callbacks import BatchProgress, Callback, TrainStart
from eventbench.train.checkpoint import load_checkpoint, save_checkpoint
from eventbench.train.data import Split
from eventbench.train.device import module_device
from eventbench.train.diagnostics import (
    GradNormMeter,
    LayerDiagnostics,
    SpikeCountTracker,
    layer_diagnostics,
    warn_if_silent,
)
from eventbench.train.distributed import (
    DataParallel,
    all_reduce_counts,
    loss_scale,
    shard_bounds,
)
from eventbench.train.learners import Learner, n_hidden_neurons, trial_duration_s, zero_counts
from eventbench.train.schedules import LRSchedule, ScheduleState

__all__ = [
    "EpochRecord",
    "EvalResult",
    "History",
    "StopRequest",
    "TrainConfig",
    "TrainingInterrupted",
    "evaluate",
    "fit",
    "peak_memory_mb",
]

log = logging.getLogger(__name__)

LAST = "last.pt"
BEST = "best.pt"


class StopRequest:
    """A request to stop training cleanly, set from outside the loop (e.g. by a signal handler)
    and read by :func:`fit` at every minibatch boundary.

    Attributes:
        requested: whether a stop was asked for.
        reason: what asked (e.g. ``"SIGINT"``), for the message.
    """

    def __init__(self) -> None:
        self.requested = False
        self.reason = ""

    def set(self, reason: str) -> None:
        """Ask the loop to stop at the next minibatch boundary."""
        self.requested = True
        self.reason = reason


class TrainingInterrupted(Exception):
    """Training stopped at a minibatch boundary because a :class:`StopRequest` was set.

    Attributes:
        epoch: the epoch that was cut short (0 = first); it is discarded.
        batch: minibatches of it that had run.
        completed: epochs finished and saved in ``checkpoint``.
        checkpoint: the ``last.pt`` to resume from (``None``: training had no run folder).
        reason: what asked for the stop.
    """

    def __init__(
        self, epoch: int, batch: int, completed: int, checkpoint: Path | None, reason: str
    ) -> None:
        self.epoch = epoch
        self.batch = batch
        self.completed = completed
        self.checkpoint = checkpoint
        self.reason = reason
        where = f"; resume from {checkpoint}" if checkpoint is not None else ""
        super().__init__(
            f"training stopped ({reason or 'stop requested'}) in epoch {epoch + 1} after "
            f"{batch} minibatch(es); {completed} finished epoch(s) kept{where}"
        )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one training run.

    Attributes:
        epochs: number of epochs.
        batch_size: training minibatch size.
        eval_batch_size: batch size of validation/test passes.
        seed: seed of the sample order and input drop (weights are seeded by the model).
        schedule: learning-rate schedule (base lr, ease-in, plateau halving, decay).
        betas: Adam ``(beta1, beta2)``.
        adam_eps: Adam epsilon.
        input_drop: probability of dropping each input event during training (0: off).
        grad_clip: clip the global gradient norm to this value (``None``: off).
        delay_lr: learning rate (seconds per Adam step) of the learnable synaptic delays,
            which get their own parameter group, untouched by the weights' schedule, and are
            clamped to ``[0, max]`` after every step; ``None``: 0.1 time steps (Mészáros et
            al. 2025).
    """

    epochs: int = 10
    batch_size: int = 32
    eval_batch_size: int = 500
    seed: int = 0
    schedule: LRSchedule = field(default_factory=lambda: LRSchedule(lr=1e-3))
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    input_drop: float = 0.0
    grad_clip: float | None = None
    delay_lr: float | None = None

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if self.batch_size <= 0 or self.eval_batch_size <= 0:
            raise ValueError("batch sizes must be positive")
        if not 0.0 <= self.input_drop < 1.0:
            raise ValueError(f"input_drop must be in [0, 1), got {self.input_drop}")


@dataclass(frozen=True)
class EvalResult:
    """Loss and score of a model on a split.

    ``score`` is the accuracy (classification) or the coefficient of determination R^2 averaged
    over outputs (regression); higher is better in both cases. ``spike_rate`` is hidden spikes
    per neuron per sample, averaged over hidden layers (``None`` for conventional networks).
    """

    loss: float
    score: float
    n_samples: int
    spike_rate: float | None
    guard_hits: int


@dataclass(frozen=True)
class EpochRecord:
    """What one training epoch produced (one row of the training curves).

    Attributes:
        epoch: epoch index (0 = first).
        lr: learning rate of the epoch's last minibatch.
        train_loss, train_score: over the epoch's training minibatches.
        val_loss, val_score: on the validation split after the epoch (``None``: no split).
        spike_rate: hidden spikes per neuron per sample, averaged over layers (``None`` for
            conventional networks).
        guard_hits: EventProp guard hits of the epoch's training passes.
        lifted: neurons changed by the silent-neuron lift after the epoch.
        time_s: wall time of the training part of the epoch (s).
        peak_memory_mb: peak resident memory so far (MiB).
        hidden: per hidden layer, the epoch's :class:`~eventbench.train.diagnostics.LayerDiagnostics`
            (spikes, rate in Hz, silent neurons, spikes created / deleted); empty for
            conventional networks.
        guard_fraction: ``guard_hits`` / threshold crossings of the epoch (``None`` without
            crossings or for conventional networks).
        grad_norm: per parameter name, the mean over the epoch's optimiser steps of the L2 norm
            of its gradient (before clipping).
    """

    epoch: int
    lr: float
    train_loss: float
    train_score: float
    val_loss: float | None
    val_score: float | None
    spike_rate: float | None
    guard_hits: int
    lifted: int
    time_s: float
    peak_memory_mb: float
    hidden: tuple[LayerDiagnostics, ...] = ()
    guard_fraction: float | None = None
    grad_norm: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EpochRecord:
        """Inverse of :func:`dataclasses.asdict` (also reads records written before the
        diagnostics existed)."""
        fields = dict(d)
        fields["hidden"] = tuple(
            h if isinstance(h, LayerDiagnostics) else LayerDiagnostics.from_dict(h)
            for h in fields.get("hidden", ())
        )
        fields["grad_norm"] = dict(fields.get("grad_norm", {}))
        return cls(**fields)


@dataclass(frozen=True)
class History:
    """All epochs so far and the best validation epoch.

    Attributes:
        epochs: one record per epoch.
        best_epoch: index of the best epoch (highest score, ties to the lower loss).
        best_score: its validation score (training score without validation).
        best_loss: its validation loss (training loss without validation), the tie-break.
    """

    epochs: tuple[EpochRecord, ...] = ()
    best_epoch: int | None = None
    best_score: float | None = None
    best_loss: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (JSON / checkpoints)."""
        return {
            "epochs": [asdict(e) for e in self.epochs],
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
            "best_loss": self.best_loss,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`."""
        return cls(
            epochs=tuple(EpochRecord.from_dict(e) for e in d["epochs"]),
            best_epoch=d["best_epoch"],
            best_score=d["best_score"],
            best_loss=d.get("best_loss"),
        )

    def mean_epoch_time_s(self) -> float | None:
        """Mean wall time of a training epoch (validation excluded)."""
        if not self.epochs:
            return None
        return sum(e.time_s for e in self.epochs) / len(self.epochs)


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB (``ru_maxrss``)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


class _Score:
    """Sufficient statistics of the score (integer counts / float64 sums, no per-batch means)."""

    def __init__(self) -> None:
        self.correct = 0
        self.total = 0
        self.sse: Tensor | None = None
        self.sum_y: Tensor | None = None
        self.sum_y2: Tensor | None = None
        self.loss_sum = 0.0
        self.samples = 0

    def add(self, objective: str, pred: Tensor, y: Tensor, loss: float, batch: int) -> None:
        self.loss_sum += loss * batch
        self.samples += batch
        if objective == "classification":
            self.correct += int((pred == y).sum())
            self.total += int(y.numel())
            return
        p = pred.to(torch.float64).reshape(-1, pred.shape[-1])
        t = y.to(torch.float64).reshape(-1, y.shape[-1])
        sse, sy, sy2 = ((p - t) ** 2).sum(0), t.sum(0), (t**2).sum(0)
        self.sse = sse if self.sse is None else self.sse + sse
        self.sum_y = sy if self.sum_y is None else self.sum_y + sy
        self.sum_y2 = sy2 if self.sum_y2 is None else self.sum_y2 + sy2
        self.total += int(t.shape[0])

    def score(self) -> float:
        if self.sse is None or self.sum_y is None or self.sum_y2 is None:
            return self.correct / self.total if self.total else math.nan
        var = self.sum_y2 - self.sum_y**2 / self.total
        r2 = 1.0 - self.sse / var.clamp_min(1e-300)
        return float(r2.mean())

    def loss(self) -> float:
        return self.loss_sum / self.samples if self.samples else math.nan


def _rate(counts: tuple[Tensor, ...], samples: int) -> float | None:
    if not counts or samples == 0:
        return None
    per_layer = [float(c.sum()) / (c.numel() * samples) for c in counts]
    return sum(per_layer) / len(per_layer)


def evaluate(learner: Learner, split: Split, batch_size: int = 500) -> EvalResult:
    """Loss, score, hidden spike rate and guard hits of ``learner`` on ``split`` (no gradients)."""
    module = learner.module
    was_training = module.training
    module.eval()
    acc = _Score()
    counts = zero_counts(learner)
    guard = 0
    n = len(split)
    device = module_device(module)
    with torch.no_grad():
        for start in range(0, n, batch_size):
            idx = torch.arange(start, min(n, start + batch_size))
            x, y = split.batch(idx, sparse=learner.sparse_input)
            x, y = x.to(device), y.to(device)
            out = learner.step(x, y)
            acc.add(learner.objective, out.prediction, y, float(out.loss), len(idx))
            counts = tuple(a + b.cpu() for a, b in zip(counts, out.layer_counts, strict=True))
            guard += out.guard_hits
    module.train(was_training)
    return EvalResult(acc.loss(), acc.score(), n, _rate(counts, n), guard)


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """Set the weights' learning rate (the delays' group keeps its own)."""
    for group in opt.param_groups:
        if not group.get("delays", False):
            group["lr"] = lr


DELAY_SUFFIXES = (".d_ff", ".d_rec")


def make_optimiser(module: nn.Module, cfg: TrainConfig) -> torch.optim.Adam:
    """Adam over the module's parameters; learnable synaptic delays (parameters named
    ``*.d_ff`` / ``*.d_rec``) form a second group with ``cfg.delay_lr`` (default 0.1 steps of
    the network's ``dt``)."""
    weights: list[nn.Parameter] = []
    delays: list[nn.Parameter] = []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        (delays if name.endswith(DELAY_SUFFIXES) else weights).append(p)
    groups: list[dict[str, Any]] = [{"params": weights}]
    if delays:
        lr_d = cfg.delay_lr
        if lr_d is None:
            spec = getattr(module, "spec", None)
            lr_d = 0.1 * float(spec.dt_s) if spec is not None else 1e-4
        if not lr_d > 0.0:
            raise ValueError(f"delay learning rate must be positive, got {lr_d}")
        groups.append({"params": delays, "lr": lr_d, "delays": True})
    return torch.optim.Adam(groups, lr=cfg.schedule.lr, betas=cfg.betas, eps=cfg.adam_eps)


def _drop_inputs(x: Tensor, p: float, gen: torch.Generator) -> Tensor:
    """Zero each input bin with probability ``p``; a sparse COO ``x`` keeps its layout (one draw
    per stored bin instead of one per dense bin: same distribution, another random stream)."""
    if x.is_sparse:
        c = x.coalesce()
        keep = torch.rand(c.values().shape, generator=gen) >= p
        return torch.sparse_coo_tensor(
            c.indices(), c.values() * keep.to(x.dtype), x.shape, is_coalesced=True,
            check_invariants=False,
        )
    keep = torch.rand(x.shape, generator=gen) >= p
    return x * keep.to(x.dtype)


@dataclass(frozen=True)
class _State:
    """The loop's explicit state between epochs (what ``last.pt`` stores besides tensors)."""

    next_epoch: int
    schedule: ScheduleState
    history: History


def _payload(
    learner: Learner,
    opt: torch.optim.Optimizer,
    state: _State,
    model_desc: Any,
    cfg: TrainConfig,
    tracker: SpikeCountTracker | None,
) -> dict[str, Any]:
    from eventbench.train.checkpoint import describe

    return {
        "model": model_desc,
        "model_state": learner.module.state_dict(),
        "optimizer_state": opt.state_dict(),
        "next_epoch": state.next_epoch,
        "schedule_state": state.schedule.to_dict(),
        "history": state.history.to_dict(),
        "train_config": describe(cfg),
        "torch_rng_state": torch.get_rng_state(),
        "spike_counts": None if tracker is None else tracker.state_dict(),
    }


def _is_better(score: float, loss: float, hist: History) -> bool:
    """Whether an epoch with ``score`` and ``loss`` beats the best so far: a higher score, or
    the same score with a lower loss (a first finite score always wins)."""
    best = hist.best_score
    if best is None or not math.isfinite(best):
        return best is None or math.isfinite(score)
    if not math.isfinite(score):
        return False
    if score != best:
        return score > best
    return hist.best_loss is None or (math.isfinite(loss) and loss < hist.best_loss)


def fit(
    learner: Learner,
    train: Split,
    val: Split | None,
    cfg: TrainConfig,
    *,
    model_description: Any,
    run_dir: str | Path | None = None,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    checkpoint_extra: dict[str, Any] | None = None,
    stop: StopRequest | None = None,
    data_parallel: DataParallel | None = None,
) -> History:
    """Train ``learner`` on ``train``, validating on ``val`` after every epoch.

    Args:
        learner: model and loss.
        train: training split.
        val: validation split (``None``: the training score selects the best model).
        cfg: optimisation settings.
        model_description: plain description of the network (see
            :func:`eventbench.train.checkpoint.describe`), stored in checkpoints and checked on
            resume.
        run_dir: folder for ``last.pt`` / ``best.pt`` (``None``: no checkpoints).
        resume: continue from ``run_dir/last.pt`` when it exists.
        callbacks: observers of progress (see :mod:`eventbench.train.callbacks`).
        checkpoint_extra: plain values stored in both checkpoints (e.g. the task and recipe).
        stop: checked at every minibatch boundary; when set, the unfinished epoch is discarded
            and :class:`TrainingInterrupted` is raised. ``last.pt`` then holds the state after
            the last finished epoch (a fresh run writes it before the first epoch), so a resume
            continues exactly as the uninterrupted run would have.
        data_parallel: this process' rank in data-parallel training
            (:mod:`eventbench.train.distributed`): each global minibatch of
            ``cfg.batch_size`` samples is sharded over the processes, gradients are averaged by
            ``DistributedDataParallel``, and only rank 0 writes checkpoints.

    Batches are moved to the device of the learner's module (see
    :func:`eventbench.train.device.module_device`); input drop is drawn on the CPU first, so
    a seed gives the same dropped events on every device.

    Returns:
        The :class:`History` of all epochs (including those before a resume).

    Raises:
        TrainingInterrupted: ``stop`` was set.
    """
    module = learner.module
    if data_parallel is not None:
        from eventbench.train.distributed import wrap

        learner = wrap(learner, next(module.parameters()).device)
    extra = dict(checkpoint_extra or {})
    n = len(train)
    n_batches = math.ceil(n / cfg.batch_size)
    fitted = cfg.schedule.fit_to(cfg.epochs * n_batches)
    if fitted != cfg.schedule:
        log.info(
            "ease-in shortened to %d of %d minibatches (growth %.4g per minibatch instead of %.4g)",
            fitted.ease_in_steps(), cfg.schedule.ease_in_steps(), fitted.growth,
            cfg.schedule.growth,
        )
        cfg = replace(cfg, schedule=fitted)
    sizes = n_hidden_neurons(learner)
    tracker = (
        SpikeCountTracker(n, sizes, max_count=_max_steps(learner)) if sizes else None
    )
    opt = make_optimiser(module, cfg)
    state = _State(0, cfg.schedule.initial(), History())
    out_dir = Path(run_dir) if run_dir is not None else None
    writer = data_parallel is None or data_parallel.rank == 0  # only rank 0 writes checkpoints
    if resume and out_dir is not None and (out_dir / LAST).is_file():
        ck = load_checkpoint(out_dir / LAST, expected_model=model_description)
        module.load_state_dict(ck["model_state"])
        opt.load_state_dict(ck["optimizer_state"])
        torch.set_rng_state(ck["torch_rng_state"])
        if tracker is not None:
            tracker.load_state_dict(ck.get("spike_counts"))
        state = _State(
            int(ck["next_epoch"]),
            ScheduleState.from_dict(ck["schedule_state"]),
            History.from_dict(ck["history"]),
        )
        log.info("resumed from %s at epoch %d", out_dir / LAST, state.next_epoch)
    elif out_dir is not None and writer:  # a resumable state from the start, for an early interrupt
        save_checkpoint(
            out_dir / LAST,
            {**extra, **_payload(learner, opt, state, model_description, cfg, tracker)},
        )
    start = TrainStart(
        epochs=cfg.epochs, first_epoch=state.next_epoch, batches_per_epoch=n_batches, samples=n
    )
    for cb in callbacks:
        cb.on_train_start(start)
    for epoch in range(state.next_epoch, cfg.epochs):
        # on the CPU kernels, the loop's own torch work (gradient norms, spike-count bookkeeping,
        # the silent-neuron lift, validation losses) runs on one thread: a parallel op would leave
        # torch's OpenMP workers spinning on the kernels' cores (eventbench.core.threads)
        with serial_torch(learner.sparse_input):
            state = _train_epoch(
                learner, opt, train, val, cfg, state, epoch, callbacks, tracker, stop,
                None if out_dir is None else out_dir / LAST, data_parallel,
            )
        if out_dir is not None and writer:
            rec = state.history.epochs[-1]
            if state.history.best_epoch == rec.epoch:
                save_checkpoint(
                    out_dir / BEST,
                    {
                        **extra,
                        "model": model_description,
                        "model_state": module.state_dict(),
                        "epoch": rec.epoch,
                        "score": state.history.best_score,
                    },
                )
            save_checkpoint(
                out_dir / LAST,
                {**extra, **_payload(learner, opt, state, model_description, cfg, tracker)},
            )
        for cb in callbacks:
            cb.on_epoch_end(state.history.epochs[-1], state.history)
    for cb in callbacks:
        cb.on_train_end(state.history)
    return state.history


def _max_steps(learner: Learner) -> int:
    """The most spikes one hidden neuron can fire in a trial: its number of steps (spiking
    networks; conventional ones have no hidden spikes to count)."""
    net = learner.module
    return int(net.spec.n_steps) if isinstance(net, SNN) else 1


def _batches(
    split: Split, slices: Sequence[Tensor], sparse: bool
) -> Iterator[tuple[Tensor, tuple[Tensor, Tensor]]]:
    """``(indices, split.batch(indices))`` for each index tensor of ``slices`` (the minibatches
    of an epoch, in order).

    With ``sparse`` (EventProp on the CPU kernels, whose sparse batches are built by a compiled,
    GIL-free counting sort) the next batch is built in a background thread while the caller
    trains on the current one: the kernels leave a core idle while the main thread runs the
    step's Python and single-threaded torch work, and the batch fills it. Batches depend only on
    their indices, so the results are the same either way."""
    if not sparse:
        for idx in slices:
            yield idx, split.batch(idx, sparse=False)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventbench-batch") as pool:
        pending = pool.submit(split.batch, slices[0], True) if slices else None
        for k, idx in enumerate(slices):
            assert pending is not None
            batch = pending.result()
            pending = pool.submit(split.batch, slices[k + 1], True) if k + 1 < len(slices) else None
            yield idx, batch


def _train_epoch(
    learner: Learner,
    opt: torch.optim.Optimizer,
    train: Split,
    val: Split | None,
    cfg: TrainConfig,
    state: _State,
    epoch: int,
    callbacks: Sequence[Callback],
    tracker: SpikeCountTracker | None = None,
    stop: StopRequest | None = None,
    checkpoint: Path | None = None,
    dp: DataParallel | None = None,
) -> _State:
    module = learner.module
    device = module_device(module)
    module.train()
    gen = _epoch_generator(cfg.seed, epoch)
    n = len(train)
    perm = torch.randperm(n, generator=gen)
    sched = state.schedule
    acc = _Score()
    counts = zero_counts(learner)
    sizes = n_hidden_neurons(learner)
    guard = 0
    crossings = 0
    grads = GradNormMeter(module)
    if tracker is not None:
        tracker.start_epoch()
    t0 = time.perf_counter()
    n_batches = math.ceil(n / cfg.batch_size)
    lr = cfg.schedule.current_lr(sched)
    slices: list[tuple[Tensor, float]] = []  # (indices of this process, loss scale)
    for start in range(0, n, cfg.batch_size):
        idx = perm[start : start + cfg.batch_size]
        if dp is None:
            slices.append((idx, 1.0))
        else:  # this process' shard of the global minibatch
            lo, hi = shard_bounds(len(idx), dp.rank, dp.world)
            slices.append((idx[lo:hi], loss_scale(hi - lo, len(idx), dp.world)))
    batches = _batches(train, [idx for idx, _ in slices], learner.sparse_input)
    for b, (idx, (x, y)) in enumerate(batches):
        if stop is not None and stop.requested:
            raise TrainingInterrupted(epoch, b, epoch, checkpoint, stop.reason)
        scale = slices[b][1]
        if cfg.input_drop > 0.0:
            x = _drop_inputs(x, cfg.input_drop, gen)
        x, y = x.to(device), y.to(device)
        lr = cfg.schedule.current_lr(sched)
        _set_lr(opt, lr)
        opt.zero_grad(set_to_none=True)
        out = learner.step(x, y)
        if not bool(torch.isfinite(out.loss)):
            raise FloatingPointError(
                f"loss became {float(out.loss)} at epoch {epoch + 1}, batch {b + 1}; "
                "lower the learning rate"
            )
        torch.autograd.backward(out.loss if dp is None else out.loss * scale)
        grads.add()
        if cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.grad_clip)
        opt.step()
        if isinstance(module, SNN) and module.has_delays:
            module.clamp_delays()
        sched = cfg.schedule.after_batch(sched)
        acc.add(learner.objective, out.prediction, y, float(out.loss.detach()), len(idx))
        counts = tuple(a + c.cpu() for a, c in zip(counts, out.layer_counts, strict=True))
        guard += out.guard_hits
        crossings += out.crossings
        if tracker is not None and out.sample_counts:
            tracker.add(idx, out.sample_counts)
        if callbacks:
            progress = BatchProgress(
                epoch=epoch,
                batch=b,
                batches=n_batches,
                lr=lr,
                loss=acc.loss(),
                score=acc.score(),
                spike_rate=_rate(counts, acc.samples) if sizes else None,
                guard_hits=guard,
            )
            for cb in callbacks:
                cb.on_batch_end(progress)
    train_time = time.perf_counter() - t0
    changes = tracker.finish_epoch() if tracker is not None else None
    hidden = layer_diagnostics(counts, acc.samples, trial_duration_s(learner), changes)
    warn_if_silent(hidden, epoch)
    lifted = learner.end_epoch(counts if dp is None else all_reduce_counts(counts))
    ev = evaluate(learner, val, cfg.eval_batch_size) if val is not None else None
    score = ev.score if ev is not None else acc.score()
    sched = cfg.schedule.after_epoch(sched, epoch, score)
    rec = EpochRecord(
        epoch=epoch,
        lr=lr,
        train_loss=acc.loss(),
        train_score=acc.score(),
        val_loss=ev.loss if ev is not None else None,
        val_score=ev.score if ev is not None else None,
        spike_rate=_rate(counts, acc.samples),
        guard_hits=guard,
        lifted=lifted,
        time_s=train_time,
        peak_memory_mb=peak_memory_mb(),
        hidden=hidden,
        guard_fraction=guard / crossings if sizes and crossings else None,
        grad_norm=grads.compute(),
    )
    hist = state.history
    sel_loss = ev.loss if ev is not None else acc.loss()
    improved = _is_better(score, sel_loss, hist)
    new_hist = replace(
        hist,
        epochs=(*hist.epochs, rec),
        best_epoch=epoch if improved else hist.best_epoch,
        best_score=score if improved else hist.best_score,
        best_loss=sel_loss if improved else hist.best_loss,
    )
    log.info(
        "epoch %d/%d: loss %.4f train %.4f val %s lr %.3g (%.1f s)",
        epoch + 1, cfg.epochs, rec.train_loss, rec.train_score,
        "n/a" if rec.val_score is None else f"{rec.val_score:.4f}", lr, train_time,
    )
    return _State(epoch + 1, sched, new_hist)
