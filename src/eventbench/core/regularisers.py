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

Data-parallel training (``distributed=True``): each of the :math:`W` processes holds a shard of
:math:`b_r` samples of the global batch :math:`B = \sum_r b_r`. :math:`\bar n_j` is then the
mean over the global batch (an all-reduce of the counts), and the decrement is divided by
:math:`B / W` instead of :math:`N_b`, so that after the data-parallel average of the gradients
over the :math:`W` processes each spike contributes exactly as in one process with the whole
batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
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
        distributed: the batch is a shard of a global batch spread over the default
            ``torch.distributed`` process group (see the module docstring).
    """

    nu: float
    lambda_upper: float
    lambda_lower: float
    time_unit_s: float = 1e-3
    distributed: bool = False

    def adjoint_jump(self, counts: Tensor) -> Tensor:
        """Per-neuron addition to ``lambda_V`` (seconds units) at each of its spikes.

        Args:
            counts: spike counts ``[B, N]`` of the trial.
        Returns:
            ``[N]`` values, to be added to ``lambda_V`` of neuron ``j`` at each spike of ``j``.
        """
        batch: float = counts.shape[0]
        if self.distributed:
            total, batch = _global_sum(counts)
            nbar = total / batch
            batch /= dist.get_world_size()
        else:
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


def _global_sum(counts: Tensor) -> tuple[Tensor, float]:
    """Spike counts ``[B_r, N]`` summed over the samples of every process (float64 ``[N]``)
    and the global number of samples."""
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "RateRegulariser(distributed=True) needs an initialised torch.distributed process group"
        )
    buf = torch.cat([
        counts.to(torch.float64).sum(dim=0),
        torch.tensor([float(counts.shape[0])], dtype=torch.float64, device=counts.device),
    ])
    dist.all_reduce(buf)
    return buf[:-1], float(buf[-1])


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
