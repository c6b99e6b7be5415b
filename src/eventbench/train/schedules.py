r"""Learning-rate schedules as pure functions of an explicit, serialisable state.

The loss-shaping paper's schedule ([GEP], ``eventprop-spec.md`` §4.3) has two parts:

* **ease-in**: the learning rate starts at ``start_factor * lr`` and is multiplied by ``growth``
  after every minibatch until it reaches ``lr``; with the published ``start_factor = 1e-3`` and
  ``growth = 1.05`` that takes :math:`\lceil \ln(1/s_0) / \ln g \rceil = 142` minibatches.
  On a small data set (few minibatches per epoch) this would eat most of the run, so the ease-in
  is bounded (:meth:`LRSchedule.fit_to`) by a fraction ``max_ease_fraction`` (default 0.1) of the
  run's :math:`S` optimiser steps: with
  :math:`K = \max(1, \lfloor f_{\max} S \rfloor)` steps allowed, a run whose ease-in needs more
  than :math:`K` steps grows by :math:`g' = s_0^{-1/K}` instead, so that
  :math:`s_0 g'^K = 1` (it reaches ``lr`` after exactly :math:`K` minibatches); a run long
  enough for the published ease-in keeps ``growth`` unchanged;
* **plateau halving**: after each epoch, a fast and a slow exponential moving average of the
  validation score are updated,
  :math:`f \leftarrow a_f f + (1 - a_f) s`, :math:`g \leftarrow a_s g + (1 - a_s) s`
  (``a_f = 0.8``, ``a_s = 0.85``); when :math:`f \le g` and at least ``min_epochs`` epochs have
  passed since the last halving, the target learning rate is halved.

A per-epoch exponential decay (``decay``, e.g. 0.998 in the Yin-Yang recipes) multiplies the
target after every epoch. All state lives in :class:`ScheduleState` (a NamedTuple stored in
checkpoints); the schedule object itself is an immutable description.

>>> s = LRSchedule(lr=1e-2, ease_in=True, start_factor=0.5, growth=1.5)
>>> st = s.initial()
>>> round(s.current_lr(st), 6)
0.005
>>> st = s.after_batch(st)
>>> round(s.current_lr(st), 6)
0.0075
>>> st = s.after_batch(st)
>>> round(s.current_lr(st), 6)
0.01

Bounded to 10 % of a 40-step run (10 epochs of 4 minibatches), the SHD ease-in reaches ``lr``
after 4 minibatches (growth ``1000 ** (1 / 4)``):

>>> shd = LRSchedule(lr=1e-3, ease_in=True).fit_to(40)
>>> shd.ease_in_steps(), round(shd.growth, 4)
(4, 5.6234)
>>> LRSchedule(lr=1e-3, ease_in=True).fit_to(100 * 239).growth  # SHD: 239 batches x 100 epochs
1.05
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

__all__ = ["LRSchedule", "ScheduleState"]

#: relative distance to 1 below which the ease-in factor counts as 1 (absorbs the rounding of
#: ``s_0 g^K`` when ``g`` was derived as ``s_0^{-1/K}``)
_EASE_TOL = 1e-12


def _grow(factor: float, growth: float) -> float:
    """One ease-in step: ``min(1, factor * growth)``, snapped to 1 within :data:`_EASE_TOL`."""
    new = factor * growth
    return 1.0 if new >= 1.0 - _EASE_TOL else new


def _steps_to_one(start: float, growth: float) -> int:
    r"""Smallest ``k`` with :math:`s_0 g^k \ge 1` (closed form; the tolerance matches
    :func:`_grow`'s, so a derived :math:`g = s_0^{-1/K}` gives exactly ``K``)."""
    return max(0, math.ceil(math.log(1.0 / start) / math.log(growth) - 1e-9))


class ScheduleState(NamedTuple):
    """Everything a schedule needs to continue (saved in checkpoints).

    Attributes:
        target_lr: learning rate after the ease-in (halved / decayed over time).
        ease_factor: current ease-in factor (``1.0`` once eased in).
        fast_ema: fast moving average of the validation score (``nan`` before the first epoch).
        slow_ema: slow moving average of the validation score.
        last_halving_epoch: epoch index of the last halving (``-1``: never).
        n_halvings: number of halvings so far.
    """

    target_lr: float
    ease_factor: float
    fast_ema: float
    slow_ema: float
    last_halving_epoch: int
    n_halvings: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain dictionary (for checkpoints and JSON)."""
        return dict(self._asdict())

    @classmethod
    def from_dict(cls, d: dict[str, float | int]) -> ScheduleState:
        """Inverse of :meth:`to_dict`."""
        return cls(
            target_lr=float(d["target_lr"]),
            ease_factor=float(d["ease_factor"]),
            fast_ema=float(d["fast_ema"]),
            slow_ema=float(d["slow_ema"]),
            last_halving_epoch=int(d["last_halving_epoch"]),
            n_halvings=int(d["n_halvings"]),
        )


@dataclass(frozen=True)
class LRSchedule:
    """Ease-in, plateau halving and per-epoch decay of the learning rate.

    Attributes:
        lr: base learning rate.
        ease_in: whether to ease in from ``start_factor * lr``.
        start_factor: initial fraction of ``lr`` (1e-3 in the SHD recipe).
        growth: per-minibatch growth factor of the ease-in (1.05).
        plateau_halving: whether to halve on validation plateaus.
        fast_alpha: EMA coefficient of the fast average (0.8).
        slow_alpha: EMA coefficient of the slow average (0.85).
        min_epochs: minimum number of epochs between two halvings (and before the first).
        decay: per-epoch multiplicative decay of the target (1.0: none).
        max_ease_fraction: longest ease-in as a fraction of the run's optimiser steps, applied by
            :meth:`fit_to` (``None``: unbounded, the published ease-in whatever the run length).
    """

    lr: float
    ease_in: bool = False
    start_factor: float = 1e-3
    growth: float = 1.05
    plateau_halving: bool = False
    fast_alpha: float = 0.8
    slow_alpha: float = 0.85
    min_epochs: int = 50
    decay: float = 1.0
    max_ease_fraction: float | None = 0.1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0.0):
            raise ValueError(f"learning rate must be positive, got {self.lr!r}")
        if not 0.0 < self.start_factor <= 1.0:
            raise ValueError(f"ease-in start_factor must be in (0, 1], got {self.start_factor!r}")
        if not self.growth > 1.0:
            raise ValueError(f"ease-in growth must be > 1, got {self.growth!r}")
        if not 0.0 < self.decay <= 1.0:
            raise ValueError(f"lr decay must be in (0, 1], got {self.decay!r}")
        if self.max_ease_fraction is not None and not 0.0 < self.max_ease_fraction <= 1.0:
            raise ValueError(
                f"max_ease_fraction must be in (0, 1] or None, got {self.max_ease_fraction!r}"
            )

    def ease_in_steps(self) -> int:
        r"""Minibatches the ease-in takes to reach ``lr``:
        :math:`\lceil \ln(1/s_0) / \ln g \rceil` (0 without ease-in or with ``start_factor = 1``)."""
        if not self.ease_in or self.start_factor >= 1.0:
            return 0
        return _steps_to_one(self.start_factor, self.growth)

    def fit_to(self, total_steps: int) -> LRSchedule:
        r"""This schedule for a run of ``total_steps`` optimiser steps (minibatches): when the
        ease-in needs more than :math:`K = \max(1, \lfloor f_{\max} S \rfloor)` steps
        (``f_max = max_ease_fraction``, ``S = total_steps``), a copy whose growth is
        :math:`g' = s_0^{-1/K}`, which reaches ``lr`` after exactly :math:`K` steps; otherwise
        ``self`` unchanged (also without ease-in or with ``max_ease_fraction = None``)."""
        if total_steps < 0:
            raise ValueError(f"total_steps must be >= 0, got {total_steps}")
        if self.max_ease_fraction is None or self.ease_in_steps() == 0:
            return self
        cap = max(1, math.floor(self.max_ease_fraction * total_steps))
        if self.ease_in_steps() <= cap:
            return self
        return replace(self, growth=self.start_factor ** (-1.0 / cap))

    def initial(self) -> ScheduleState:
        """State at the start of training."""
        return ScheduleState(
            target_lr=self.lr,
            ease_factor=self.start_factor if self.ease_in else 1.0,
            fast_ema=math.nan,
            slow_ema=math.nan,
            last_halving_epoch=-1,
            n_halvings=0,
        )

    @staticmethod
    def current_lr(state: ScheduleState) -> float:
        """The learning rate to use for the next minibatch."""
        return state.target_lr * state.ease_factor

    def after_batch(self, state: ScheduleState) -> ScheduleState:
        """Advance the ease-in by one minibatch."""
        if state.ease_factor >= 1.0:
            return state
        return state._replace(ease_factor=_grow(state.ease_factor, self.growth))

    def after_epoch(self, state: ScheduleState, epoch: int, score: float | None) -> ScheduleState:
        """Update the averages with the validation ``score`` of ``epoch`` (higher is better;
        ``None`` when there is no validation), halve on a plateau, then apply the decay."""
        new = state
        if score is not None and math.isfinite(score):
            fast = score if math.isnan(state.fast_ema) else (
                self.fast_alpha * state.fast_ema + (1.0 - self.fast_alpha) * score
            )
            slow = score if math.isnan(state.slow_ema) else (
                self.slow_alpha * state.slow_ema + (1.0 - self.slow_alpha) * score
            )
            new = new._replace(fast_ema=fast, slow_ema=slow)
            since = epoch - max(state.last_halving_epoch, 0)
            if (
                self.plateau_halving
                and not math.isnan(state.fast_ema)
                and fast <= slow
                and since >= self.min_epochs
            ):
                new = new._replace(
                    target_lr=new.target_lr * 0.5,
                    last_halving_epoch=epoch,
                    n_halvings=new.n_halvings + 1,
                )
        if self.decay != 1.0:
            new = new._replace(target_lr=new.target_lr * self.decay)
        return new
