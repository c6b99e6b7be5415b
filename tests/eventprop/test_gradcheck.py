"""Time-stepped EventProp against finite differences on the exact event-driven simulation.

The time-stepped method places events at their grid stamp (the reference codes' one-step latency),
takes the jump denominator at the crossing time located within the step, and integrates the
voltage readouts exactly over each step; it converges to the exact gradient at first order in
``dt``; at ``dt = 0.01 ms`` it is within a few percent.
"""

from __future__ import annotations

import pytest

from eventbench.eventprop.gradcheck import GradcheckConfig, run_gradcheck


def _errors(report) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return {r.name: r.rel_error for r in report.rows}


@pytest.mark.parametrize(
    "cfg",
    [
        GradcheckConfig(loss="exp"),
        GradcheckConfig(loss="avg", seed=1),
        GradcheckConfig(loss="sigmoid", seed=2),
        GradcheckConfig(loss="max", seed=3),
        GradcheckConfig(loss="exp", recurrent=True, seed=0),
        GradcheckConfig(loss="first-spike", recurrent=True, seed=0),
        GradcheckConfig(loss="exp", hidden=(5, 4), seed=4),
    ],
    ids=["ff-exp", "ff-avg", "ff-sigmoid", "ff-max", "rec-exp", "rec-first-spike", "two-layer-exp"],
)
def test_eventprop_matches_exact_fd_at_small_dt(cfg: GradcheckConfig) -> None:
    report = run_gradcheck(cfg)
    assert report.n_unresolved == 0
    assert report.spike_mismatches == 0  # same spikes as the exact simulation, within one step
    assert all(n > 0 for n in report.hidden_spikes)  # gradients flow through spikes
    for row in report.rows:
        assert row.n_checked > 0
        assert row.fd_norm > 1e-6, row.name  # a non-trivial gradient is checked
        assert row.adjoint_rel_error < 1e-5, row  # exact-time adjoint == FD (ladder step 3)
        assert row.rel_error < 0.05, row  # time-stepped EventProp within 5 %
    assert report.passed


@pytest.mark.parametrize("loss", ["exp", "first-spike"])
def test_error_shrinks_with_dt(loss: str) -> None:
    errs = [
        max(_errors(run_gradcheck(GradcheckConfig(loss=loss, dt_ms=dt, seed=0))).values())
        for dt in (1.0, 0.1, 0.01)
    ]
    # these tiny networks swap events at dt >= 0.1 ms (O(1) errors there, in either order);
    # at 0.01 ms the error is far below both coarse ones
    assert errs[2] < errs[1] and errs[2] < errs[0] / 5


@pytest.mark.parametrize("variant", ["no_reset_term", "flip_feedback", "latency+1"])
def test_wrong_adjoint_variant_is_caught(variant: str) -> None:
    """A deliberately wrong adjoint fails the check that the correct one passes. (An off-by-one
    latency is an O(dt) bias that FD at small dt can only see when it is large enough; the exact
    parity test against the time-stepped reference catches both directions.)"""
    cfg = GradcheckConfig(loss="exp", hidden=(5, 4), seed=4)
    good = run_gradcheck(cfg)
    bad = run_gradcheck(cfg, _variant=variant)
    assert good.passed
    assert not bad.passed
    worst = max(r.rel_error for r in bad.rows)
    assert worst > 3 * max(r.rel_error for r in good.rows)


def test_coarse_step_order_swap_is_reported() -> None:
    """A hidden crossing 3 us before an input arrival: at dt = 0.01 ms the two swap order and the
    gradient is off by O(1); the report flags the mismatch, and dt = 0.001 ms resolves it."""
    cfg = GradcheckConfig(loss="avg", hidden=(3,), seed=1, duration_ms=30.0, dt_ms=0.01)
    coarse = run_gradcheck(cfg)
    assert coarse.spike_mismatches > 0 and not coarse.passed
    fine = run_gradcheck(GradcheckConfig(loss="avg", hidden=(3,), seed=1, duration_ms=30.0, dt_ms=0.001))
    assert fine.spike_mismatches == 0
    assert max(r.rel_error for r in fine.rows) < 1e-2


def test_gradcheck_rejects_bad_config() -> None:
    with pytest.raises(ValueError, match="unknown gradcheck loss"):
        GradcheckConfig(loss="nope")
    with pytest.raises(ValueError, match="multiple of dt_ms"):
        GradcheckConfig(dt_ms=0.3, duration_ms=20.0)
