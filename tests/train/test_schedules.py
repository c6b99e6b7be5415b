"""Learning-rate schedule: ease-in, plateau halving and decay, with exact numbers."""

from __future__ import annotations

import math

import pytest

from eventbench.train.schedules import LRSchedule, ScheduleState


def test_ease_in_grows_geometrically_then_holds() -> None:
    s = LRSchedule(lr=1e-3, ease_in=True, start_factor=1e-3, growth=1.05)
    st = s.initial()
    lrs = [s.current_lr(st)]
    for _ in range(200):
        st = s.after_batch(st)
        lrs.append(s.current_lr(st))
    assert lrs[0] == pytest.approx(1e-6)
    assert lrs[1] == pytest.approx(1.05e-6)
    # 1.05^k >= 1000 first at k = ceil(ln 1000 / ln 1.05) = 142
    k = math.ceil(math.log(1000) / math.log(1.05))
    assert k == 142
    assert lrs[k - 1] < 1e-3
    assert lrs[k] == pytest.approx(1e-3)
    assert lrs[-1] == pytest.approx(1e-3)


def test_no_ease_in_starts_at_lr() -> None:
    s = LRSchedule(lr=0.01)
    st = s.initial()
    assert s.current_lr(st) == 0.01
    assert s.after_batch(st) == st


def test_plateau_halving_follows_the_emas() -> None:
    s = LRSchedule(lr=1.0, plateau_halving=True, min_epochs=2)
    st = s.initial()
    scores = [0.9, 0.5, 0.5, 0.5, 0.95, 0.95, 0.2, 0.2, 0.2]
    lrs = []
    for epoch, score in enumerate(scores):
        st = s.after_epoch(st, epoch, score)
        lrs.append(st.target_lr)
    # hand-computed EMAs: fast = 0.8 f + 0.2 s, slow = 0.85 g + 0.15 s (both start at the score)
    fast = slow = scores[0]
    halvings = []
    last = -1
    for epoch, score in enumerate(scores[1:], start=1):
        fast, slow = 0.8 * fast + 0.2 * score, 0.85 * slow + 0.15 * score
        if fast <= slow and epoch - max(last, 0) >= 2:
            halvings.append(epoch)
            last = epoch
    assert halvings == [2, 4, 6, 8]  # epoch 1 also plateaus but is within min_epochs of the start
    assert st.n_halvings == len(halvings)
    assert st.last_halving_epoch == halvings[-1]
    assert lrs[-1] == pytest.approx(0.5 ** len(halvings))
    assert st.fast_ema == pytest.approx(fast)
    assert st.slow_ema == pytest.approx(slow)


def test_rising_scores_never_halve() -> None:
    s = LRSchedule(lr=1.0, plateau_halving=True, min_epochs=1)
    st = s.initial()
    for epoch in range(20):
        st = s.after_epoch(st, epoch, 0.1 + 0.04 * epoch)
    assert st.n_halvings == 0
    assert st.target_lr == 1.0


def test_decay_and_state_round_trip() -> None:
    s = LRSchedule(lr=0.1, decay=0.5)
    st = s.initial()
    for epoch in range(3):
        st = s.after_epoch(st, epoch, None)
    assert st.target_lr == pytest.approx(0.0125)
    assert ScheduleState.from_dict(st.to_dict()) == st


@pytest.mark.parametrize(
    "kwargs", [{"lr": 0.0}, {"lr": 1.0, "growth": 1.0}, {"lr": 1.0, "decay": 1.5},
               {"lr": 1.0, "start_factor": 0.0}]
)
def test_invalid_schedules_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LRSchedule(**kwargs)  # type: ignore[arg-type]


def _lrs(s: LRSchedule, steps: int) -> list[float]:
    """Learning rate used by each of ``steps`` minibatches."""
    st = s.initial()
    out = []
    for _ in range(steps):
        out.append(s.current_lr(st))
        st = s.after_batch(st)
    return out


def test_ease_in_is_bounded_to_a_tenth_of_a_short_run() -> None:
    # the SHD recipe's ease-in (1e-3 x lr, x1.05 per minibatch: 142 minibatches) on a small data
    # set: 10 epochs of 4 minibatches = 40 optimiser steps, so at most 4 ease-in steps
    s = LRSchedule(lr=1e-3, ease_in=True, start_factor=1e-3, growth=1.05)
    assert s.ease_in_steps() == 142
    fitted = s.fit_to(40)
    assert fitted.ease_in_steps() == 4
    assert fitted.growth == pytest.approx(1000.0 ** 0.25)  # s0 * g^4 = 1
    lrs = _lrs(fitted, 40)
    assert lrs[:4] == pytest.approx([1e-6, 1e-6 * 1000**0.25, 1e-6 * 1000**0.5, 1e-6 * 1000**0.75])
    assert lrs[4:] == [1e-3] * 36  # exactly lr from the 5th minibatch on
    # 3 epochs of 4 minibatches: floor(0.1 * 12) = 1 step -> the second minibatch runs at lr
    assert _lrs(s.fit_to(12), 3) == pytest.approx([1e-6, 1e-3, 1e-3])


def test_ease_in_of_a_large_run_is_unchanged() -> None:
    s = LRSchedule(lr=1e-3, ease_in=True)
    shd = 100 * 239  # SHD: 100 epochs of 7644 / 32 minibatches
    assert s.fit_to(shd) is s
    assert s.fit_to(1420) is s  # 10 % of 1420 = 142 steps: just long enough
    assert s.fit_to(1419).ease_in_steps() == 141
    assert LRSchedule(lr=1e-3, ease_in=True, max_ease_fraction=None).fit_to(40).growth == 1.05
    assert LRSchedule(lr=1e-3).fit_to(40).growth == 1.05  # no ease-in: nothing to bound
    with pytest.raises(ValueError, match="max_ease_fraction"):
        LRSchedule(lr=1e-3, max_ease_fraction=0.0)
