r"""Firing-rate regularisation and the silent-neuron weight lift (heuristics of the reference codes).

The rate regulariser is a *pseudo-gradient*: a spike count has no exact gradient, so EventProp
applies, at every spike of hidden neuron ``j``, the reference codes' adjoint decrement

.. math::
    \lambda_V \mathrel{-}= \frac{\lambda_{reg}\,(\bar n_j - \nu)}{N_b}

in the reference codes' millisecond units, where :math:`\bar n_j` is the batch-mean spike count
of ``j`` in the trial and :math:`\lambda_{reg}` is ``lambda_upper`` when :math:`\bar n_j > \nu`,
else ``lambda_lower``. Our adjoint is in seconds; :math:`\lambda_V^{(s)} = \lambda_V^{(ms)}/10^{-3}`,
so the decrement is divided by ``time_unit_s``. Together with the loss weight
``time_unit_s / tau_mem_s`` of the voltage losses (see ``eventbench.readout.losses``), the balance
of loss and regulariser equals the reference codes', so published ``lambda_reg`` values carry over.
It is not the gradient of any loss and is excluded from finite-difference checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["RateRegulariser", "lift_silent"]


@dataclass(frozen=True)
class RateRegulariser:
    """Upper/lower firing-rate regulariser on hidden layers.

    Attributes:
        nu: target spikes per neuron per trial (e.g. 14 for SHD).
        lambda_upper: strength when the batch-mean count is above ``nu``.
        lambda_lower: strength when it is at or below ``nu``.
        time_unit_s: the time unit in which ``lambda_*`` were published (1 ms).
    """

    nu: float
    lambda_upper: float
    lambda_lower: float
    time_unit_s: float = 1e-3

    def adjoint_jump(self, counts: Tensor) -> Tensor:
        """Per-neuron addition to ``lambda_V`` (seconds units) at each of its spikes.

        Args:
            counts: spike counts ``[B, N]`` of the trial.
        Returns:
            ``[N]`` values, to be added to ``lambda_V`` of neuron ``j`` at each spike of ``j``.
        """
        batch = counts.shape[0]
        nbar = counts.to(torch.float64).mean(dim=0)
        lam = torch.where(nbar > self.nu, self.lambda_upper, self.lambda_lower)
        return -(lam * (nbar - self.nu) / batch) / self.time_unit_s

    def surrogate_loss(self, counts: Tensor) -> Tensor:
        r"""A loss for surrogate BPTT that pushes rates the same way:
        :math:`\frac{1}{N_b}\sum_j \tfrac{\lambda}{2}(\bar n_j - \nu)^2`, with ``counts`` the
        differentiable (surrogate) spike counts ``[B, N]`` and :math:`\lambda` chosen per neuron
        as in :meth:`adjoint_jump`. Its scale is not matched to the EventProp pseudo-gradient.
        """
        batch = counts.shape[0]
        nbar = counts.mean(dim=0)
        lam = torch.where(
            nbar.detach() > self.nu,
            torch.full_like(nbar, self.lambda_upper),
            torch.full_like(nbar, self.lambda_lower),
        )
        return (0.5 * lam * (nbar - self.nu) ** 2).sum() / batch


@torch.no_grad()
def lift_silent(w_ff: Tensor, epoch_counts: Tensor, amount: float = 0.002) -> int:
    """Add ``amount`` to every input weight of hidden neurons that fired no spike in an epoch.

    Args:
        w_ff: feed-forward weights ``[n_pre, N]`` of the layer, modified in place.
        epoch_counts: spike counts of the layer summed over the epoch, ``[N]``.
        amount: the lift (0.002 in the reference codes).
    Returns:
        the number of lifted neurons.
    """
    silent = epoch_counts == 0
    w_ff[:, silent] += amount
    return int(silent.sum())
