"""Data-parallel training over two gloo processes equals one process with the whole batch.

A script (written to ``tmp_path``) starts two processes with
:func:`eventbench.train.distributed.launch`; rank 0 also computes the single-process reference.
The global batch of 7 is split 4 + 3, so the loss normalisation of unequal shards is checked,
and the rate regulariser (a batch-mean term inside EventProp's custom backward) is active.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap

import pytest
import torch

from eventbench.train.distributed import DataParallel, loss_scale, shard_bounds

SCRIPT = textwrap.dedent(
    '''
    import sys
    import torch
    from eventbench.core import SNN, LayerSpec, NetworkSpec, Normal, RateRegulariser, SurrogateBPTT
    from eventbench.eventprop import EventProp, kernels
    from eventbench.readout import CrossEntropy, MaxVoltage
    from eventbench.train import SNNLearner, TensorSplit, TrainConfig, LRSchedule, fit
    from eventbench.train.distributed import launch, loss_scale, shard_bounds, wrap

    T = 20
    REG = RateRegulariser(nu=1.0, lambda_upper=0.5, lambda_lower=0.2)

    def toy(n, seed):
        g = torch.Generator().manual_seed(seed)
        y = torch.randint(0, 2, (n,), generator=g)
        x = torch.zeros(T, n, 4)
        idx = torch.arange(n)
        x[torch.randint(1, 5, (n,), generator=g), idx, y] = 1.0
        x[torch.randint(10, 15, (n,), generator=g), idx, 1 - y] = 1.0
        x[2, idx, 2] = 1.0
        return x, y

    def methods():
        out = {"eventprop-torch": EventProp(regulariser=REG, backend="torch"),
               "bptt": SurrogateBPTT()}
        if kernels.available():
            out["eventprop-kernel"] = EventProp(regulariser=REG, backend="cpu-kernel")
        return out

    def learner(method, lift=None):
        spec = NetworkSpec(n_inputs=4, hidden=(LayerSpec(12, init_ff=Normal(3.0, 2.0)),),
                           n_outputs=2, dt_s=1e-3, n_steps=T)
        return SNNLearner(SNN(spec, MaxVoltage(), method, seed=0), CrossEntropy(),
                          lift_amount=lift)

    def grads(lrn, x, y, scale=1.0):
        out = lrn.step(x, y)
        (out.loss * scale).backward()
        return {k: p.grad.detach().clone() for k, p in lrn.module.named_parameters()}

    def fit_toy(dp, method):
        x, y = toy(25, 1)
        lrn = learner(method, lift=0.05)
        cfg = TrainConfig(epochs=1, batch_size=10, seed=3, schedule=LRSchedule(lr=1e-2))
        fit(lrn, TensorSplit("t", x, y), None, cfg, model_description={}, data_parallel=dp)
        return {k: p.detach().clone() for k, p in lrn.module.named_parameters()}

    def worker(dp, out):
        torch.set_num_threads(1)
        x, y = toy(7, 0)
        lo, hi = shard_bounds(7, dp.rank, dp.world)
        res = {}
        for name, method in methods().items():
            dpl = wrap(learner(method))
            res[name] = grads(dpl, x[:, lo:hi], y[lo:hi], loss_scale(hi - lo, 7, dp.world))
            if dp.rank == 0:
                res[name + "/single"] = grads(learner(method), x, y)
        # known-wrong variants, to show the comparison can fail: the regulariser's batch mean
        # over the local shard only, and the local mean loss without the shard scale
        nosync = wrap(learner(EventProp(regulariser=REG, backend="torch")))
        nosync.net.method = EventProp(regulariser=REG, backend="torch")
        res["nosync"] = grads(nosync, x[:, lo:hi], y[lo:hi], loss_scale(hi - lo, 7, dp.world))
        res["noscale"] = grads(wrap(learner(SurrogateBPTT())), x[:, lo:hi], y[lo:hi])
        res["fit"] = fit_toy(dp, EventProp(regulariser=REG))
        torch.save(res, f"{out}.{dp.rank}.pt")

    if __name__ == "__main__":
        out = sys.argv[1]
        launch(worker, 2, out, backend="gloo")
        torch.set_num_threads(1)
        torch.save({"fit": fit_toy(None, EventProp(regulariser=REG))}, f"{out}.single.pt")
    '''
)


@pytest.fixture(scope="module")
def dp_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, dict]:  # type: ignore[type-arg]
    tmp = tmp_path_factory.mktemp("ddp")
    script = tmp / "ddp_script.py"
    script.write_text(SCRIPT, encoding="utf-8")
    out = tmp / "grads"
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True,
                          timeout=300, cwd=tmp, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    load = lambda p: torch.load(p, weights_only=True)  # noqa: E731
    return load(f"{out}.0.pt"), load(f"{out}.1.pt"), load(f"{out}.single.pt")


def test_shards_cover_the_batch_and_scales_restore_the_global_mean() -> None:
    for n in (1, 2, 7, 10, 64):
        for world in (1, 2, 3):
            bounds = [shard_bounds(n, r, world) for r in range(world)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
            sizes = [hi - lo for lo, hi in bounds]
            assert max(sizes) - min(sizes) <= 1
            # sum_r scale_r * (1/b_r) sum_{i in r} l_i / W  ==  (1/n) sum_i l_i for l_i = 1
            total = sum(loss_scale(b, n, world) / world for b in sizes if b)
            assert total == pytest.approx(1.0)
    with pytest.raises(ValueError, match="rank"):
        DataParallel(2, 2)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("method", ["eventprop-torch", "eventprop-kernel", "bptt"])
def test_two_process_gradient_equals_the_single_process_gradient(
    dp_results: tuple[dict, dict, dict], method: str  # type: ignore[type-arg]
) -> None:
    r0, r1, _ = dp_results
    if method not in r0:
        pytest.skip("compiled EventProp kernels not available")
    single = r0[method + "/single"]
    assert set(single) == set(r0[method]) and len(single) >= 2
    for name, g in single.items():
        assert torch.count_nonzero(g) > 0, name  # a gradient that can fail the comparison
        torch.testing.assert_close(r0[method][name], g, rtol=1e-5, atol=1e-7, msg=name)
        torch.testing.assert_close(r1[method][name], g, rtol=1e-5, atol=1e-7, msg=name)


def test_known_wrong_variants_fail_the_comparison(
    dp_results: tuple[dict, dict, dict]  # type: ignore[type-arg]
) -> None:
    """The rate regulariser averaged over the local shard only, or unequal shards without the
    loss scale, give another gradient: the comparison above is sensitive to both."""
    r0, _, _ = dp_results
    for wrong, ref in (("nosync", "eventprop-torch/single"), ("noscale", "bptt/single")):
        worst = max(
            float((r0[wrong][k] - g).abs().max() / g.abs().max()) for k, g in r0[ref].items()
        )
        assert worst > 1e-3, wrong


def test_two_process_training_equals_single_process_training(
    dp_results: tuple[dict, dict, dict]  # type: ignore[type-arg]
) -> None:
    """One epoch of 3 Adam steps on 25 samples (shards 5+5, 5+5, 3+2), with the rate
    regulariser and the silent-neuron lift: the same weights in both processes and as in one."""
    r0, r1, single = dp_results
    for name, w in single["fit"].items():
        torch.testing.assert_close(r0["fit"][name], w, rtol=1e-5, atol=1e-6, msg=name)
        torch.testing.assert_close(r1["fit"][name], r0["fit"][name], rtol=0, atol=0, msg=name)
