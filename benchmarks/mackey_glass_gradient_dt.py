"""How well the Mackey-Glass recipe's hidden-weight gradient is resolved at its dt = 1 ms.

The recipe's network (the task's defaults plus ``--set``) is built for repeat 0, and EventProp's
gradient of the washed-out per-step MSE with respect to the hidden weights (``w_ff``, ``w_rec``)
is computed over the whole training split at dt = 1, 0.5, 0.25 and 0.1 ms: the same
continuous-time network, each series value delivered as one pulse of input current at the start
of its 1 ms (zero input in the other sub-steps), the readout's step means averaged back to the
1 ms grid, and the skip's share (which does not depend on the hidden weights) taken from the
1 ms run. Printed: the loss, the hidden rate, the gradient norm, and the cosine and norm ratio of
each gradient with the 0.1 ms one, at two points: the random initial readout and the
least-squares readout that training starts from (``train.readout_init``).

Usage: ``python benchmarks/mackey_glass_gradient_dt.py [--set KEY=VALUE ...]`` (about a minute).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import tempfile
from pathlib import Path

import torch

from eventbench.core import SNN
from eventbench.core.skip import skip_trace
from eventbench.eventprop import EventProp
from eventbench.readout import VoltageTrace
from eventbench.tasks import get_task
from eventbench.tasks.pipeline import build, resolve_recipe, washout_steps
from eventbench.train.readout_fit import fit_readout

HIDDEN = ("layers.0.w_ff", "layers.0.w_rec")
DTS_MS = (1.0, 0.5, 0.25, 0.1)


def hidden_gradient(
    net: SNN, state: dict[str, torch.Tensor], x: torch.Tensor, target: torch.Tensor,
    washout: int, dt_ms: float,
) -> tuple[torch.Tensor, float, float]:
    """(gradient [n_hidden_weights], loss, hidden rate in Hz) of the network without its skip,
    simulated at ``dt_ms`` (a divisor of the recipe's 1 ms), against ``target [T, B, 1]``."""
    t_steps, batch, n_in = x.shape
    f = round(net.spec.dt_s * 1e3 / dt_ms)
    spec = dataclasses.replace(net.spec, dt_s=dt_ms * 1e-3, n_steps=t_steps * f, skip=False)
    fine = SNN(spec, VoltageTrace(), EventProp(), dtype=torch.float64)
    fine.load_state_dict({k: v for k, v in state.items() if "skip" not in k})
    xf = torch.zeros(t_steps * f, batch, n_in, dtype=torch.float64)
    xf[::f] = x  # one pulse per value
    out = fine(xf)
    v = out.readout.view(t_steps, f, batch, -1).mean(dim=1)  # back on the recipe's grid
    loss = 0.5 * ((v[washout:] - target[washout:]) ** 2).sum() / (batch * (t_steps - washout))
    loss.backward()  # type: ignore[no-untyped-call]
    params = dict(fine.named_parameters())
    g = torch.cat([params[k].grad.flatten() for k in HIDDEN])  # type: ignore[union-attr]
    n_hidden = spec.hidden[0].size
    rate = out.spikes[0].n_spikes / (batch * n_hidden * spec.duration_s)
    return g, float(loss.detach()), rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    task = get_task("mackey-glass")
    recipe = resolve_recipe(task, None, ["data.source=generate", *args.sets])
    with tempfile.TemporaryDirectory() as d:
        data = task.load(recipe, Path(d))
    built = build(recipe, data)
    net = built.module
    assert isinstance(net, SNN) and len(net.spec.hidden) == 1
    washout = washout_steps(recipe)
    x, y = data.train.batch(torch.arange(len(data.train)))
    x, y = x.double(), y.double()
    print(f"Mackey-Glass recipe, settings {args.sets or 'task defaults'}: {len(data.train)} "
          f"training windows of {x.shape[0]} steps, washout {washout}\n")
    print("| readout | dt ms | loss | hidden Hz | norm g | cos(g, g_0.1) | norm / norm_0.1 |")
    print("|---|---|---|---|---|---|---|")
    for point in ("random", "least-squares"):
        if point == "least-squares":
            fit_readout(net, data.train, washout=washout, ridge=recipe.train.readout_ridge)
        state = {k: v.double() if v.is_floating_point() else v for k, v in net.state_dict().items()}
        target = y
        if net.spec.skip:
            t = net.tensors()
            assert t.w_skip is not None
            target = y - skip_trace(x, t.w_skip.detach().double(), t.out_coeffs)
        res = {dt: hidden_gradient(net, state, x, target, washout, dt) for dt in DTS_MS}
        ref = res[DTS_MS[-1]][0]
        for dt, (g, loss, rate) in res.items():
            cos = float(g @ ref / (g.norm() * ref.norm()))
            print(f"| {point} | {dt:g} | {loss:.4g} | {rate:.0f} | {float(g.norm()):.3g} | "
                  f"{cos:.3f} | {float(g.norm() / ref.norm()):.2f} |", flush=True)


if __name__ == "__main__":
    main()
