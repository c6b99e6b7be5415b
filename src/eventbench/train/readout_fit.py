r"""Least-squares fit of a spiking network's readout (``train.readout_init = "least-squares"``).

The leaky-integrator readout is linear in its weights. With the hidden spikes held fixed (they do
not depend on the readout), its step means are

.. math::
    \bar V_{n,k} = \sum_j F^{h}_{n,j} W_{jk} + \sum_i F^{s}_{n,i} W^{s}_{ik} + r_n b_k,

where :math:`F^h` is the readout's response to the last hidden layer's spikes, :math:`F^s` its
response to the inputs through the skip (:mod:`eventbench.core.skip`), both per unit weight, and
:math:`r` the response to a unit bias (:func:`~eventbench.core.skip.readout_response`,
:func:`~eventbench.core.skip.bias_response`). The per-step MSE
(:class:`~eventbench.readout.losses.VoltageMSE`, washout ``K``) is therefore a quadratic in the
readout weights, and its ridge-regularised minimiser has a closed form: per output ``k``, over
the rows ``(sample, step n >= K)`` and the features whose connection exists (mask),

.. math::
    (A^\top A + \lambda I)\,\theta_k = A^\top y_k .

:func:`fit_readout` accumulates :math:`A^\top A` and :math:`A^\top y` in float64 over the split
in batches and writes :math:`\theta` into the network. As an initialisation it starts gradient
training (EventProp or BPTT) at the best readout of the initial hidden layer, the way a
reservoir's readout is fitted; the gradient method then trains every weight from there. The
penalty :math:`\lambda` applies to every coefficient, the bias included (features are of order
one: spike responses and input codes).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from eventbench.core import SNN
from eventbench.core.skip import bias_response, delayed, readout_response
from eventbench.readout.readouts import VoltageTrace
from eventbench.train.data import Split

__all__ = ["ReadoutFit", "fit_readout", "readout_features"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadoutFit:
    """What :func:`fit_readout` did.

    Attributes:
        rmse: root-mean-square error of the fitted readout over the scored rows (target units).
        rows: scored ``(sample, step)`` rows per output.
        features: coefficients per output (hidden neurons + skip inputs + bias).
    """

    rmse: float
    rows: int
    features: int


def readout_features(net: SNN, x: Tensor) -> Tensor:
    """``F [T, B, K]`` (float64) with ``net``'s readout step means ``= F @ theta`` for the weights
    ``theta = [w_out; w_skip; bias]`` (the parts the network has, in that order), for the input
    ``x [T, B, n_inputs]`` (dense or sparse COO). Runs the network once without gradients."""
    _check_net(net)
    with torch.no_grad():
        out = net(x)
        t_steps, batch = x.shape[0], x.shape[1]
        c = net.out_coeffs
        last = out.spikes[-1]
        feats = [readout_response(last.dense(0, t_steps, torch.float64), c)]
        if net.readout_layer.w_skip is not None:
            feats.append(readout_response(delayed(x.to_dense() if x.is_sparse else x), c))
        if net.readout_layer.bias is not None:
            r = bias_response(c, t_steps).to(x.device)
            feats.append(r.view(t_steps, 1, 1).expand(t_steps, batch, 1))
        return torch.cat(feats, dim=2)


def _check_net(net: SNN) -> None:
    if net.spec.output_kind != "li" or not isinstance(net.readout, VoltageTrace):
        raise ValueError(
            "a least-squares readout fit needs a leaky-integrator readout with the VoltageTrace "
            f"readout (per-step MSE), got output_kind={net.spec.output_kind!r} and "
            f"{type(net.readout).__name__}"
        )


def fit_readout(
    net: SNN, split: Split, *, washout: int = 0, ridge: float = 1e-3, batch_size: int = 64
) -> ReadoutFit:
    """Set ``net``'s readout weights (``w_out``, ``w_skip``, ``bias``) to the ridge-regression
    minimiser of the per-step MSE over ``split`` (module docstring); masked connections stay
    zero. ``split.batch`` must give regression targets ``[T, b, n_outputs]``.

    Raises:
        ValueError: a network without a leaky-integrator ``VoltageTrace`` readout, an empty
            split, targets of the wrong shape or not finite, a washout that leaves no step, or
            ``ridge < 0``.
    """
    _check_net(net)
    if not (math.isfinite(ridge) and ridge >= 0.0):
        raise ValueError(f"the readout fit's ridge penalty must be >= 0, got {ridge!r}")
    if len(split) == 0:
        raise ValueError(f"split {split.name!r} is empty: nothing to fit the readout on")
    spec = net.spec
    if not 0 <= washout < spec.n_steps:
        raise ValueError(f"washout must be in [0, {spec.n_steps}) steps, got {washout}")
    ro = net.readout_layer
    device = ro.w.device
    parts = [(ro.w, ro.mask)]
    if ro.w_skip is not None and ro.mask_skip is not None:
        parts.append((ro.w_skip, ro.mask_skip))
    n_feat = sum(w.shape[0] for w, _ in parts) + (ro.bias is not None)
    n_out = spec.n_outputs
    gram = torch.zeros(n_feat, n_feat, dtype=torch.float64, device=device)
    cross = torch.zeros(n_feat, n_out, dtype=torch.float64, device=device)
    yy = torch.zeros(n_out, dtype=torch.float64, device=device)
    rows = 0
    was_training = net.training
    net.eval()
    try:
        for start in range(0, len(split), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(split)))
            x, y = split.batch(idx)
            x, y = x.to(device), y.to(device)
            if y.shape != (spec.n_steps, len(idx), n_out) or not y.is_floating_point():
                raise ValueError(
                    f"split {split.name!r}: the readout fit needs regression targets "
                    f"[{spec.n_steps}, b, {n_out}], got {y.dtype} {tuple(y.shape)}"
                )
            if not bool(torch.isfinite(y).all()):
                raise ValueError(f"split {split.name!r}: regression targets contain NaN or inf")
            f = readout_features(net, x)[washout:].reshape(-1, n_feat)
            t = y[washout:].to(torch.float64).reshape(-1, n_out)
            gram += f.T @ f
            cross += f.T @ t
            yy += (t * t).sum(dim=0)
            rows += f.shape[0]
    finally:
        net.train(was_training)
    keep = torch.cat([m.to(device) for _, m in parts]
                     + ([torch.ones(1, n_out, dtype=torch.bool, device=device)]
                        if ro.bias is not None else []))  # [n_feat, n_out]
    theta = torch.zeros(n_feat, n_out, dtype=torch.float64, device=device)
    sse = 0.0
    for k in range(n_out):
        sel = keep[:, k].nonzero().flatten()
        g = gram[sel][:, sel]
        b = cross[sel, k]
        sol = torch.linalg.solve(g + ridge * torch.eye(len(sel), dtype=torch.float64, device=device), b)
        theta[sel, k] = sol
        # sum of squared residuals from the normal equations: y'y - 2 theta'A'y + theta'A'A theta
        sse += float(yy[k] - 2.0 * sol @ b + sol @ g @ sol)
    if not bool(torch.isfinite(theta).all()):
        raise ValueError("the readout fit gave non-finite weights (features or targets too large)")
    with torch.no_grad():
        k0 = 0
        for w, _ in parts:
            w.copy_(theta[k0:k0 + w.shape[0]].to(w.dtype))
            k0 += w.shape[0]
        if ro.bias is not None:
            ro.bias.copy_(theta[k0].to(ro.bias.dtype))
    fit = ReadoutFit(rmse=math.sqrt(max(sse, 0.0) / (rows * n_out)), rows=rows, features=n_feat)
    log.info("least-squares readout on %s: %d features, %d rows per output, RMSE %.4g",
             split.name, n_feat, rows, fit.rmse)
    return fit
