"""Loss values, scalings and the rate regulariser against hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch

from eventbench.core import RateRegulariser, lift_silent
from eventbench.readout import (
    AvgVoltage,
    CrossEntropy,
    ExpWeightedVoltage,
    FirstSpikeCrossEntropy,
    FirstSpikeTime,
    LinearWeightedVoltage,
    PerStepCrossEntropy,
    RelativeSpikeTimeMSE,
    SigmoidWeightedVoltage,
    VoltageMSE,
    VoltageTrace,
)
from eventbench.readout.losses import check_compatible, predict


def test_weighted_readout_coefficients() -> None:
    n = 4
    cpu = torch.device("cpu")
    torch.testing.assert_close(AvgVoltage().coefficients(n, torch.float64, cpu), torch.full((4,), 0.25, dtype=torch.float64))
    exp_c = ExpWeightedVoltage().coefficients(n, torch.float64, cpu)
    # weights at the step midpoints t/T = (n + 1/2)/N
    assert exp_c.tolist() == pytest.approx([math.exp(-(k + 0.5) / 4) / 4 for k in range(4)])
    lin = LinearWeightedVoltage().coefficients(n, torch.float64, cpu)
    assert lin.tolist() == pytest.approx([0.21875, 0.15625, 0.09375, 0.03125])
    sig = SigmoidWeightedVoltage().coefficients(n, torch.float64, cpu)
    assert sig.tolist() == pytest.approx([1 / (1 + math.exp(((k + 0.5) / 4 - 0.5) / 0.2)) / 4 for k in range(4)])
    # 1/N sum of the weights -> (1/T) int_0^T w(t) dt (midpoint rule)
    many = ExpWeightedVoltage().coefficients(1000, torch.float64, cpu)
    assert many.sum().item() == pytest.approx(1 - math.exp(-1), rel=1e-6)


def test_cross_entropy_and_reference_scaling() -> None:
    z = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64)
    y = torch.tensor([1])
    expected = -2.0 + math.log(math.exp(1) + math.exp(2) + math.exp(0.5))
    assert CrossEntropy()(z, y).item() == pytest.approx(expected)
    scaled = CrossEntropy.reference_scaled(tau_mem_s=20e-3)
    assert scaled.weight == pytest.approx(1 / 20)
    assert scaled(z, y).item() == pytest.approx(expected / 20)


def test_per_step_cross_entropy_is_the_mean_over_steps() -> None:
    trace = torch.randn(5, 2, 3, dtype=torch.float64)
    y = torch.tensor([2, 0])
    per = [CrossEntropy()(trace[t], y).item() for t in range(5)]
    assert PerStepCrossEntropy()(trace, y).item() == pytest.approx(sum(per) / 5)


def test_voltage_mse() -> None:
    v = torch.ones(4, 2, 1, dtype=torch.float64)
    tgt = torch.zeros(4, 2, 1, dtype=torch.float64)
    assert VoltageMSE()(v, tgt).item() == pytest.approx(0.5 * 8 / 8)
    with pytest.raises(ValueError, match="shape"):
        VoltageMSE()(v, tgt[:3])
    with pytest.raises(ValueError, match="NaN"):
        VoltageMSE()(v, tgt * float("nan"))


def test_first_spike_cross_entropy_value_and_phantom_gradients() -> None:
    t = torch.tensor([[2e-3, 5e-3, 30e-3]], dtype=torch.float64, requires_grad=True)
    fired = torch.tensor([[True, True, False]])
    loss_fn = FirstSpikeCrossEntropy(duration_s=30e-3, tau0=0.5, alpha=0.01)
    loss = loss_fn(t, torch.tensor([0]), fired)
    u = [2.0, 5.0, 30.0]
    ce = 2.0 / 0.5 + math.log(sum(math.exp(-x / 0.5) for x in u))
    assert loss.item() == pytest.approx(ce + 0.01 / (30.3 - 2.0))
    loss.backward()
    assert t.grad is not None
    assert t.grad[0, 2].item() == 0.0  # silent wrong neuron: held constant
    assert t.grad[0, 0].item() > 0  # correct neuron pushed earlier
    exp_loss = FirstSpikeCrossEntropy(duration_s=30e-3, regulariser="exp", alpha=3e-3, tau1=6.4)
    val = exp_loss(t.detach(), torch.tensor([0]), fired).item()
    assert val == pytest.approx(ce + 3e-3 * (math.exp(2.0 / 6.4) - 1))


def test_silent_label_neuron_gets_the_phantom_gradient() -> None:
    t = torch.tensor([[30e-3, 5e-3]], dtype=torch.float64, requires_grad=True)
    fired = torch.tensor([[False, True]])
    FirstSpikeCrossEntropy(duration_s=30e-3)(t, torch.tensor([0]), fired).backward()
    assert t.grad is not None and t.grad[0, 0].item() > 0


def test_relative_spike_time_mse() -> None:
    t = torch.tensor([[2e-3, 4e-3, 9e-3]], dtype=torch.float64)
    fired = torch.tensor([[True, True, False]])
    loss = RelativeSpikeTimeMSE(delta=1.0)(t, torch.tensor([0]), fired)
    assert loss.item() == pytest.approx(0.5 * (2.0 + 1.0 - 4.0) ** 2)


def test_labels_out_of_range_and_incompatible_readouts() -> None:
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        CrossEntropy()(torch.zeros(1, 3), torch.tensor([3]))
    with pytest.raises(ValueError, match="int64"):
        CrossEntropy()(torch.zeros(1, 3), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="CrossEntropy cannot be used with readout FirstSpikeTime"):
        check_compatible(CrossEntropy(), FirstSpikeTime())
    check_compatible(PerStepCrossEntropy(), VoltageTrace())


def test_predictions() -> None:
    z = torch.tensor([[0.1, 0.9], [0.8, 0.2]])
    assert predict(AvgVoltage(), z).tolist() == [1, 0]
    assert predict(FirstSpikeTime(), z).tolist() == [0, 1]


def test_rate_regulariser_matches_the_reference_form() -> None:
    reg = RateRegulariser(nu=14.0, lambda_upper=5e-10, lambda_lower=1e-10)
    counts = torch.tensor([[20, 0], [18, 4]])
    jump = reg.adjoint_jump(counts)
    # neuron 0: nbar = 19 > 14 -> upper; neuron 1: nbar = 2 <= 14 -> lower; /N_b; ms -> s
    assert jump[0].item() == pytest.approx(-(5e-10 * 5 / 2) / 1e-3)
    assert jump[1].item() == pytest.approx(-(1e-10 * -12 / 2) / 1e-3)


def test_lift_silent() -> None:
    w = torch.zeros(3, 4)
    n = lift_silent(w, torch.tensor([0, 5, 0, 1]), amount=0.002)
    assert n == 2
    assert w[:, 0].tolist() == pytest.approx([0.002] * 3)
    assert w[:, 1].tolist() == [0.0] * 3


def test_rate_regulariser_surrogate_loss() -> None:
    reg = RateRegulariser(nu=2.0, lambda_upper=0.5, lambda_lower=0.1)
    counts = torch.tensor([[4.0, 0.0], [2.0, 2.0]], requires_grad=True)
    loss = reg.surrogate_loss(counts)
    # neuron 0: nbar 3 > 2 -> 0.5/2 * 1^2; neuron 1: nbar 1 <= 2 -> 0.1/2 * 1^2; / N_b = 2
    assert loss.item() == pytest.approx((0.25 + 0.05) / 2)
    loss.backward()
    assert counts.grad is not None
    assert counts.grad[0, 0].item() > 0 > counts.grad[0, 1].item()  # lower high rates, raise low


def test_washout_skips_the_first_steps_of_per_step_losses() -> None:
    g = torch.Generator().manual_seed(0)
    v = torch.randn(6, 3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(6, 3, 2, generator=g, dtype=torch.float64)
    # 0.5 * sum over the scored steps 2..5 / (B * 4 steps)
    expected = 0.5 * ((v[2:] - y[2:]) ** 2).sum() / (3 * 4)
    loss = VoltageMSE(washout=2)(v, y)
    torch.testing.assert_close(loss, expected, rtol=1e-14, atol=0)
    (grad,) = torch.autograd.grad(loss, v)
    assert torch.all(grad[:2] == 0) and torch.all(grad[2:] != 0)
    labels = torch.tensor([0, 1, 1])
    torch.testing.assert_close(PerStepCrossEntropy(washout=5)(v, labels),
                               PerStepCrossEntropy()(v[5:], labels), rtol=1e-14, atol=0)
    with pytest.raises(ValueError, match="washout of 6 steps leaves nothing of a 6-step trial"):
        VoltageMSE(washout=6)(v, y)
    with pytest.raises(ValueError, match="washout must be a non-negative number of steps, got -1"):
        PerStepCrossEntropy(washout=-1)
