"""Physical neuron parameters and their discretisation.

Time constants are stored in seconds; :func:`discretise` is the one place where they become
per-step coefficients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["LIFParams", "StepCoeffs", "discretise"]

#: Relative distance below which tau_mem and tau_syn are treated as equal (closed-form limit).
_EQUAL_TAU_RTOL = 1e-9


@dataclass(frozen=True)
class LIFParams:
    r"""Parameters of a leaky integrate-and-fire neuron with an exponential current synapse.

    .. math::
        \tau_m \dot V = -V + I + b, \qquad \tau_s \dot I = -I,

    a spike when :math:`V \ge \vartheta`, then :math:`V \leftarrow V_r`.

    Attributes:
        tau_mem_s: membrane time constant :math:`\tau_m` in seconds.
        tau_syn_s: synaptic time constant :math:`\tau_s` in seconds.
        threshold: firing threshold :math:`\vartheta` (dimensionless voltage).
        v_reset: reset value :math:`V_r`, absolute (not subtractive); must be below threshold.
    """

    tau_mem_s: float = 20e-3
    tau_syn_s: float = 5e-3
    threshold: float = 1.0
    v_reset: float = 0.0

    def __post_init__(self) -> None:
        for name in ("tau_mem_s", "tau_syn_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"LIFParams.{name} must be a positive number of seconds, got {value!r}")
        if not math.isfinite(self.threshold) or not math.isfinite(self.v_reset):
            raise ValueError(
                f"LIFParams threshold and v_reset must be finite, got {self.threshold!r}, {self.v_reset!r}"
            )
        if self.v_reset >= self.threshold:
            raise ValueError(
                f"LIFParams.v_reset ({self.v_reset}) must be below threshold ({self.threshold})"
            )


@dataclass(frozen=True)
class StepCoeffs:
    r"""Exact per-step coefficients of the linear dynamics over one step ``dt``.

    Forward step (exact for a current decaying over the step):

    .. math::
        V \leftarrow \alpha V + \rho I + (1-\alpha) b, \qquad I \leftarrow \beta I,

    with :math:`\alpha = e^{-dt/\tau_m}`, :math:`\beta = e^{-dt/\tau_s}`,
    :math:`\rho = \frac{\tau_s}{\tau_m-\tau_s}(\alpha-\beta)` (limit
    :math:`\rho = \frac{dt}{\tau_m}\alpha` when :math:`\tau_m=\tau_s`).

    Adjoint step in W&P notation (reverse time), the transpose of the forward step:

    .. math::
        \lambda_I \leftarrow \beta\lambda_I + \kappa\lambda_V, \qquad \lambda_V \leftarrow \alpha\lambda_V,
        \qquad \kappa = \rho\,\tau_m/\tau_s.

    Step mean of the voltage (what the voltage readouts integrate), from the state ``(V, I)`` at
    the start of the step (after the events delivered then):

    .. math::
        \bar V = \frac{1}{dt}\int_0^{dt} V(u)\,du = \mu_V V + \mu_I I + (1-\mu_V) b,
        \qquad \mu_V = \frac{\tau_m}{dt}(1-\alpha),
        \qquad \mu_I = \frac{\tau_s}{dt}\,\frac{\tau_m(1-\alpha) - \tau_s(1-\beta)}{\tau_m-\tau_s}

    (limit :math:`\mu_I = \frac{\tau}{dt}(1 - \alpha(1 + dt/\tau))` when :math:`\tau_m=\tau_s=\tau`).
    """

    dt_s: float
    alpha: float
    beta: float
    rho: float
    kappa: float
    tau_mem_s: float
    tau_syn_s: float
    threshold: float
    v_reset: float
    mu_v: float
    mu_i: float


def discretise(params: LIFParams, dt_s: float) -> StepCoeffs:
    """Turn physical parameters (seconds) into exact per-step coefficients for step ``dt_s``.

    >>> c = discretise(LIFParams(tau_mem_s=0.02, tau_syn_s=0.005), 1e-3)
    >>> round(c.alpha, 6), round(c.beta, 6)
    (0.951229, 0.818731)
    """
    if not (math.isfinite(dt_s) and dt_s > 0.0):
        raise ValueError(f"dt_s must be a positive number of seconds, got {dt_s!r}")
    tm, ts = params.tau_mem_s, params.tau_syn_s
    alpha = math.exp(-dt_s / tm)
    beta = math.exp(-dt_s / ts)
    mu_v = tm / dt_s * -math.expm1(-dt_s / tm)
    if abs(tm - ts) <= _EQUAL_TAU_RTOL * tm:
        rho = dt_s / tm * alpha
        mu_i = tm / dt_s * (1.0 - alpha * (1.0 + dt_s / tm))
    else:
        rho = ts / (tm - ts) * (alpha - beta)
        mu_i = ts / dt_s * (tm * -math.expm1(-dt_s / tm) - ts * -math.expm1(-dt_s / ts)) / (tm - ts)
    return StepCoeffs(
        dt_s=dt_s,
        alpha=alpha,
        beta=beta,
        rho=rho,
        kappa=rho * tm / ts,
        tau_mem_s=tm,
        tau_syn_s=ts,
        threshold=params.threshold,
        v_reset=params.v_reset,
        mu_v=mu_v,
        mu_i=mu_i,
    )
