"""SHD-shaped training-step benchmark: EventBench against the established SNN libraries.

One command measures, in the same run and on the same synthetic data, for every library and for
T = 1000 and 4000 steps of 1 ms:

* the median wall-clock time of a training step (forward + backward + Adam) over ``--steps``
  steps after ``--warmup`` warm-up steps (Spyx: one more, it recompiles on its second and third
  calls), and its process CPU time (user + system, all threads; on a shared machine the fairer
  figure);
* the median time of an inference pass (forward only, no gradient);
* the peak resident memory above the process baseline during the training steps (Linux
  ``VmHWM`` after resetting it with ``/proc/self/clear_refs``; the baseline is the resident size
  after the model and the data were built).

Workload (``shared/docs/peers.md``): 700 input channels, ~1.2 % of the (step, channel) bins active
(drawn sample by sample with ``numpy.random.default_rng(0)``), 256 recurrent LIF neurons
(tau_syn 5 ms, tau_mem 20 ms, threshold 1, reset 0), 20 leaky-integrator outputs (tau 20 ms),
batch 32, loss-shaped (exponentially weighted) voltage readout, cross-entropy, Adam 1e-3,
``torch.set_num_threads(2)``. The input gain of each peer is chosen so that its hidden layer
fires at about 10-15 Hz at the start; EventBench's rows start higher (``EVENTBENCH_GAIN``) so
that their rate during the timed steps is at or above every peer's; the measured rate of every
row is printed and compared.

Each configuration runs in a fresh subprocess, one at a time, in the environment the benchmark
itself was started in: every library runs the way its users run it, with no environment
variable of ours (no ``OMP_WAIT_POLICY``, ``OMP_NUM_THREADS``, ``XLA_FLAGS``). ``--tuned`` adds,
as extra rows labelled ``[PASSIVE]``, the torch-based libraries with ``OMP_WAIT_POLICY=PASSIVE``
(idle OpenMP threads sleep at once), for comparison only. Peer libraries are optional
(``benchmarks/requirements.txt``); those that are not installed are skipped with a note.

Usage::

    python benchmarks/shd_step.py                      # everything, T = 1000 and 4000
    python benchmarks/shd_step.py --T 1000 --libs eventprop,torch
    python benchmarks/shd_step.py --json results.json  # also write the raw rows
    python benchmarks/shd_step.py --tuned              # plus OMP_WAIT_POLICY=PASSIVE rows

``eventprop-cuda`` (EventProp's torch path on a CUDA device, with ``torch.cuda.synchronize()``
around the timed calls; peak memory is ``torch.cuda.max_memory_allocated`` above the model and
data) runs only where a GPU is present.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

N_IN, N_HID, N_OUT, BATCH = 700, 256, 20, 32
DENSITY = 0.012
DT = 1e-3
TAU_SYN, TAU_MEM, TAU_OUT = 5e-3, 20e-3, 20e-3
THREADS = 2
#: EventProp's guard on the jump denominator I - V. At dt = 1 ms about 1.5 % of this workload's
#: crossings have I - V < 0 (the current has decayed below V by the end of the step); with the
#: default guard (1e-3) the adjoint grows to ~1e22 at T = 1000 and overflows at T = 4000, which
#: would turn the weights into NaN after the first Adam step and silence the network.
GUARD_EPS = 0.05
#: input and recurrent weight gain of the EventBench rows: the BPTT peers' hidden rates rise
#: during the warm-up steps (snnTorch from about 5 Hz at the start to 18-24 Hz in our runs,
#: Norse to 19-20 Hz at T = 1000; Spyx 16 Hz, plain PyTorch 14 Hz), so EventBench starts at
#: about 23 Hz (11.7 Hz with gain 1, 21 Hz with 1.2, 31.5 Hz with 1.4) to stay at or above the
#: busiest peer (a sparser network would be faster for the wrong reason, a much busier one
#: slower: 31.5 Hz cost EventProp about 1.7x the CPU of 12 Hz); every row prints its rate and
#: the summary compares them
EVENTBENCH_GAIN = 1.25

LIBS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # name: (label, method, required modules)
    "eventprop": ("EventBench", "EventProp (CPU kernels)", ("eventbench", "numba")),
    "eventprop-sparse": ("EventBench", "EventProp (CPU, sparse in)", ("eventbench", "numba")),
    "eventprop-torch": ("EventBench", "EventProp (torch path)", ("eventbench",)),
    "eventprop-cuda": ("EventBench", "EventProp (torch, CUDA)", ("eventbench",)),
    "bptt": ("EventBench", "surrogate BPTT", ("eventbench",)),
    "torch": ("plain PyTorch", "surrogate BPTT", ("torch",)),
    "snntorch": ("snnTorch", "surrogate BPTT", ("snntorch",)),
    "norse": ("Norse", "surrogate BPTT", ("norse",)),
    "spyx": ("Spyx (JAX)", "surrogate BPTT", ("spyx", "jax", "optax", "flax")),
}
DEFAULT_LIBS = "eventprop,eventprop-sparse,eventprop-cuda,bptt,torch,snntorch,norse,spyx"
OURS = ("eventprop", "eventprop-sparse", "eventprop-cuda")  # the rows compared with the peers
PEERS = ("torch", "snntorch", "norse", "spyx")  # the BPTT peers of the targets
#: libraries whose speed depends on torch's OpenMP wait policy (the --tuned rows)
TUNABLE = ("eventprop", "eventprop-sparse", "bptt", "torch", "snntorch", "norse")


# ------------------------------------------------------------------------------------------
# shared pieces (worker side)


def make_data(t_steps: int) -> tuple[Any, Any]:
    """Input ``[T, B, 700]`` float32 (0/1) and labels ``[B]`` int64, as in ``peers.md``."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = np.empty((t_steps, BATCH, N_IN), np.float32)
    for b in range(BATCH):
        x[:, b] = rng.random((t_steps, N_IN), np.float32) < DENSITY
    y = np.random.default_rng(1).integers(0, N_OUT, BATCH)
    return x, y


def readout_coefficients(t_steps: int) -> Any:
    """Loss-shaping weights ``c_n = exp(-t_{n+1/2}/T) / N`` at the step midpoints (EventBench's
    ``ExpWeightedVoltage``)."""
    import numpy as np

    return (np.exp(-(np.arange(t_steps) + 0.5) / t_steps) / t_steps).astype(np.float32)


def init_weights(gain: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """Shared initial weights (pre-major ``[n_pre, n_post]``); ``gain`` scales the input and
    recurrent weights for libraries whose neuron adds the current to V with another factor."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return {
        "w_ff": (gain * (rng.standard_normal((N_IN, N_HID)) * 0.1 + 0.021)).astype(np.float32),
        "w_rec": (gain * rng.standard_normal((N_HID, N_HID)) * 0.02).astype(np.float32),
        "w_out": (rng.standard_normal((N_HID, N_OUT)) / np.sqrt(N_HID)).astype(np.float32),
    }


def eventbench_net(t_steps: int, method: Any, gain: float = 1.0) -> Any:
    """EventBench's ``SNN`` of the workload (700 -> 256 recurrent LIF -> 20 leaky integrators,
    exponentially weighted voltage readout) on the CPU, run by the gradient method ``method``,
    with the shared initial weights of :func:`init_weights` (``gain``)."""
    import torch

    from eventbench.core import SNN, LayerSpec, LIFParams, NetworkSpec
    from eventbench.readout import ExpWeightedVoltage

    w = init_weights(gain)
    spec = NetworkSpec(
        n_inputs=N_IN,
        hidden=(LayerSpec(N_HID, recurrent=True, neuron=LIFParams(TAU_MEM, TAU_SYN)),),
        n_outputs=N_OUT,
        dt_s=DT,
        n_steps=t_steps,
        output=LIFParams(TAU_OUT, TAU_SYN),
    )
    net = SNN(spec, ExpWeightedVoltage(), method, seed=0)
    with torch.no_grad():
        net.layers[0].w_ff.copy_(torch.from_numpy(w["w_ff"]))  # type: ignore[union-attr]
        net.layers[0].w_rec.copy_(torch.from_numpy(w["w_rec"]))  # type: ignore[union-attr]
        net.readout_layer.w.copy_(torch.from_numpy(w["w_out"]))
    return net


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Timer:
    """Wall and process-CPU time of one call."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __call__(self, fn: Callable[[], Any]) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        self.wall.append(time.perf_counter() - t0)
        self.cpu.append(time.process_time() - c0)
        return out


def measure(
    step: Callable[[], float],
    infer: Callable[[], Any],
    warmup: int,
    steps: int,
) -> dict[str, Any]:
    """Warm up, then time ``steps`` training steps and ``steps`` inference passes. ``step``
    returns the hidden firing rate in Hz. The peak memory is the highest resident size during the
    warm-up and the timed training steps, minus the resident size before them."""
    import gc

    gc.collect()
    base = rss_mb()  # the model and the data exist, nothing has run yet
    exact_peak = reset_hwm()
    for _ in range(warmup):
        step()
    tr = Timer()
    rates = [tr(step) for _ in range(steps)]
    peak_train = hwm_mb() - base if exact_peak else float("nan")
    infer()  # warm the inference path (JIT compilers trace it once)
    infer()
    ti = Timer()
    for _ in range(steps):
        ti(infer)
    return {
        "step_s": statistics.median(tr.wall),
        "step_cpu_s": statistics.median(tr.cpu),
        "step_min_s": min(tr.wall),
        "infer_s": statistics.median(ti.wall),
        "infer_cpu_s": statistics.median(ti.cpu),
        "peak_mb": peak_train,
        "rate_hz": statistics.median(rates),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# ------------------------------------------------------------------------------------------
# workers


def measure_trace_model(
    forward: Callable[[], tuple[Any, Any]],
    params: list[Any],
    y: Any,
    t_steps: int,
    warmup: int,
    steps: int,
) -> dict[str, Any]:
    """Time a torch model whose ``forward()`` returns ``(voltage trace [T, B, 20], spike count)``:
    exponentially weighted readout, cross-entropy, Adam 1e-3 (the same for every torch peer)."""
    import torch
    import torch.nn.functional as F

    coeff = torch.from_numpy(readout_coefficients(t_steps))
    opt = torch.optim.Adam(params, lr=1e-3)

    def step() -> float:
        vs, n_spk = forward()
        loss = F.cross_entropy(torch.einsum("t,tbo->bo", coeff, vs), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(n_spk) / (BATCH * N_HID * t_steps * DT)

    def infer() -> Any:
        with torch.no_grad():
            return forward()[0]

    return measure(step, infer, warmup, steps)


def run_eventbench(t_steps: int, method: str, warmup: int, steps: int) -> dict[str, Any]:
    """EventBench's ``SNN``: ``method`` is ``eventprop`` (CPU kernels), ``eventprop-sparse``
    (CPU kernels fed the same input as a sparse COO tensor, converted once before the timing as
    a data loader would deliver it; the conversion time is reported as ``to_sparse_s``),
    ``eventprop-torch`` (the time-stepped torch path on CPU), ``eventprop-cuda`` (the torch
    path on the GPU; peak memory is then ``torch.cuda.max_memory_allocated``) or ``bptt``."""
    import torch

    from eventbench.core import SurrogateBPTT
    from eventbench.eventprop import EventProp
    from eventbench.readout import CrossEntropy

    torch.set_num_threads(THREADS)
    x_np, y_np = make_data(t_steps)
    gm = {
        "eventprop": EventProp(backend="cpu-kernel", guard_eps=GUARD_EPS),
        "eventprop-sparse": EventProp(backend="cpu-kernel", guard_eps=GUARD_EPS),
        "eventprop-torch": EventProp(backend="torch", guard_eps=GUARD_EPS),
        "eventprop-cuda": EventProp(backend="auto", guard_eps=GUARD_EPS),
        "bptt": SurrogateBPTT(),
    }[method]
    net = eventbench_net(t_steps, gm, EVENTBENCH_GAIN)
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np)
    to_sparse_s = None
    if method == "eventprop-sparse":
        t0 = time.perf_counter()
        x = x.to_sparse()
        to_sparse_s = time.perf_counter() - t0
    cuda = method == "eventprop-cuda"
    if cuda:
        net = net.cuda()
        x, y = x.cuda(), y.cuda()

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()
    loss_fn = CrossEntropy()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step() -> float:
        out = net(x)
        loss = loss_fn(out.readout, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync()
        return out.spikes[0].n_spikes / (BATCH * N_HID * t_steps * DT)

    def infer() -> Any:
        with torch.no_grad():
            value = net(x).readout
        sync()
        return value

    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    row = measure(step, infer, warmup, steps)
    if to_sparse_s is not None:
        row["to_sparse_s"] = to_sparse_s
    if cuda:
        row["peak_mb"] = (torch.cuda.max_memory_allocated() - base) / 2**20
        row["device"] = torch.cuda.get_device_name()
    return row


def _fast_sigmoid() -> Any:
    import torch

    class FastSigmoid(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, v: Any) -> Any:
            ctx.save_for_backward(v)
            return (v >= 0).to(v.dtype)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (v,) = ctx.saved_tensors
            return g / (1.0 + 10.0 * v.abs()) ** 2

    return FastSigmoid.apply


def run_plain_torch(t_steps: int, warmup: int, steps: int) -> dict[str, Any]:
    """Hand-written PyTorch BPTT as its best users write it: the input projection hoisted out of
    the time loop (one ``[T*B, 700] @ [700, 256]`` matmul), the loop over ``unbind`` (indexing a
    tensor that requires grad inside the loop makes the backward O(T^2)), no per-step reductions
    (the spikes are stacked once; the readout projection is one matmul after the loop)."""
    import math

    import torch

    torch.set_num_threads(THREADS)
    x_np, y_np = make_data(t_steps)
    w = init_weights()
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np)
    params = [torch.nn.Parameter(torch.from_numpy(w[k])) for k in ("w_ff", "w_rec", "w_out")]
    w_ff, w_rec, w_out = params
    a, b_ = math.exp(-DT / TAU_MEM), math.exp(-DT / TAU_SYN)
    rho = TAU_SYN / (TAU_MEM - TAU_SYN) * (a - b_)
    ao = math.exp(-DT / TAU_OUT)
    rho_o = TAU_SYN / (TAU_OUT - TAU_SYN) * (ao - b_)
    spike = _fast_sigmoid()

    def forward() -> tuple[Any, Any]:
        cur = (x.reshape(-1, N_IN) @ w_ff).view(t_steps, BATCH, N_HID)
        v = torch.zeros(BATCH, N_HID)
        i = torch.zeros(BATCH, N_HID)
        z = torch.zeros(BATCH, N_HID)
        zs = [z]  # the spikes entering each step (the previous step's output)
        for c in cur.unbind(0):
            i = i + c + z @ w_rec
            v = a * v + rho * i
            i = b_ * i
            z = spike(v - 1.0)
            v = v * (1.0 - z)
            zs.append(z)
        spikes = torch.stack(zs[:-1])  # [T, B, N]: spikes delivered at each step
        drive = (spikes.reshape(-1, N_HID) @ w_out).view(t_steps, BATCH, N_OUT)
        vo = torch.zeros(BATCH, N_OUT)
        io = torch.zeros(BATCH, N_OUT)
        vs = []
        for d in drive.unbind(0):
            io = io + d
            vo = ao * vo + rho_o * io
            io = b_ * io
            vs.append(vo)
        return torch.stack(vs), (spikes.sum() + z.sum()).detach()  # zs[0] is zero

    return measure_trace_model(forward, params, y, t_steps, warmup, steps)


def run_snntorch(t_steps: int, warmup: int, steps: int) -> dict[str, Any]:
    import math

    import snntorch as snn
    import torch
    from snntorch import surrogate

    torch.set_num_threads(THREADS)
    x_np, y_np = make_data(t_steps)
    # snnTorch's synaptic neuron adds the whole current to V each step (our rho is 0.044)
    w = init_weights(0.037)
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np)
    alpha, beta = math.exp(-DT / TAU_SYN), math.exp(-DT / TAU_MEM)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(N_IN, N_HID, bias=False)
            self.lif = snn.RSynaptic(
                alpha=alpha, beta=beta, all_to_all=True, linear_features=N_HID,
                spike_grad=surrogate.fast_sigmoid(slope=10), reset_mechanism="zero",
            )  # fmt: skip
            self.fc2 = torch.nn.Linear(N_HID, N_OUT, bias=False)
            self.out = snn.Leaky(beta=math.exp(-DT / TAU_OUT), reset_mechanism="none")
            with torch.no_grad():
                self.fc1.weight.copy_(torch.from_numpy(w["w_ff"]).T)
                self.lif.recurrent.weight.copy_(torch.from_numpy(w["w_rec"]).T)
                self.lif.recurrent.bias.zero_()
                self.fc2.weight.copy_(torch.from_numpy(w["w_out"]).T)

        def forward(self, xx: Any) -> tuple[Any, Any]:
            spk, syn, mem = self.lif.reset_mem()
            mem_o = self.out.reset_mem()
            cur = self.fc1(xx)
            vs = []
            n_spk = torch.zeros(())
            for c in cur.unbind(0):
                spk, syn, mem = self.lif(c, spk, syn, mem)
                _, mem_o = self.out(self.fc2(spk), mem_o)
                vs.append(mem_o)
                n_spk = n_spk + spk.detach().sum()
            return torch.stack(vs), n_spk

    net = Net()
    return measure_trace_model(lambda: net(x), list(net.parameters()), y, t_steps, warmup, steps)


def run_norse(t_steps: int, warmup: int, steps: int) -> dict[str, Any]:
    import norse.torch as nt
    import torch

    torch.set_num_threads(THREADS)
    x_np, y_np = make_data(t_steps)
    # Norse's Euler LIF adds dt / tau_mem = 0.05 of the current to V each step (ours 0.044)
    w = init_weights(1.05)
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np)
    p = nt.LIFParameters(
        tau_syn_inv=torch.tensor(1 / TAU_SYN), tau_mem_inv=torch.tensor(1 / TAU_MEM),
        v_th=torch.tensor(1.0), v_reset=torch.tensor(0.0), method="super",
        alpha=torch.tensor(10.0),
    )  # fmt: skip
    po = nt.LIParameters(
        tau_syn_inv=torch.tensor(1 / TAU_SYN), tau_mem_inv=torch.tensor(1 / TAU_OUT)
    )

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lif = nt.LIFRecurrent(N_IN, N_HID, p=p, dt=DT)
            self.fc2 = torch.nn.Linear(N_HID, N_OUT, bias=False)
            self.out = nt.LI(p=po, dt=DT)
            with torch.no_grad():
                self.lif.input_weights.copy_(torch.from_numpy(w["w_ff"]).T)
                self.lif.recurrent_weights.copy_(torch.from_numpy(w["w_rec"]).T)
                self.fc2.weight.copy_(torch.from_numpy(w["w_out"]).T)

        def forward(self, xx: Any) -> tuple[Any, Any]:
            spk, _ = self.lif(xx)
            vs, _ = self.out(self.fc2(spk))
            return vs, spk.detach().sum()

    net = Net()
    return measure_trace_model(lambda: net(x), list(net.parameters()), y, t_steps, warmup, steps)


def run_spyx(t_steps: int, warmup: int, steps: int) -> dict[str, Any]:
    import math

    import jax
    import jax.numpy as jnp
    import optax
    import spyx.nn as snn
    from flax import nnx

    x_np, y_np = make_data(t_steps)
    # Spyx's current-based LIF adds the whole current to V each step (our rho is 0.044)
    w = init_weights(0.037)
    x = jnp.asarray(x_np)
    y = jnp.asarray(y_np)
    coeff = jnp.asarray(readout_coefficients(t_steps))
    rngs = nnx.Rngs(0)
    model = snn.Sequential(
        nnx.Linear(N_IN, N_HID, use_bias=False, rngs=rngs),
        snn.RCuBaLIF((N_HID,), alpha=math.exp(-DT / TAU_SYN), beta=math.exp(-DT / TAU_MEM), rngs=rngs),
        nnx.Linear(N_HID, N_OUT, use_bias=False, rngs=rngs),
        snn.LI((N_OUT,), beta=math.exp(-DT / TAU_OUT), rngs=rngs),
    )
    model.layers[0].kernel.value = jnp.asarray(w["w_ff"])
    model.layers[1].recurrent_w.value = jnp.asarray(w["w_rec"])
    model.layers[2].kernel.value = jnp.asarray(w["w_out"])
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

    def forward(m: Any) -> tuple[Any, Any]:
        state = m.initial_state(BATCH)
        lin0, lif, lin1, li = m.layers
        cur = lin0(x)  # hoisted input projection [T, B, N]

        def body(carry: Any, c: Any) -> Any:
            s_lif, s_li = carry
            spk, s_lif = lif(c, s_lif)
            v, s_li = li(lin1(spk), s_li)
            return (s_lif, s_li), (v, spk.sum())

        _, (vs, n_spk) = jax.lax.scan(body, (state[1], state[3]), cur)
        return jnp.einsum("t,tbo->bo", coeff, vs), n_spk.sum()

    @nnx.jit
    def train_step(m: Any, opt: Any) -> Any:
        def loss_fn(mm: Any) -> Any:
            logits, n_spk = forward(mm)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), n_spk

        (_, n_spk), grads = nnx.value_and_grad(loss_fn, has_aux=True)(m)
        opt.update(m, grads)
        return n_spk

    @nnx.jit
    def infer_fn(m: Any) -> Any:
        return forward(m)[0]

    def step() -> float:
        n_spk = train_step(model, optimizer)
        return float(jax.block_until_ready(n_spk)) / (BATCH * N_HID * t_steps * DT)

    def infer() -> Any:
        return jax.block_until_ready(infer_fn(model))

    return measure(step, infer, warmup + 1, steps)


def worker(lib: str, t_steps: int, warmup: int, steps: int) -> dict[str, Any]:
    if lib in ("eventprop", "eventprop-sparse", "eventprop-torch", "eventprop-cuda", "bptt"):
        return run_eventbench(t_steps, lib, warmup, steps)
    fn = {"torch": run_plain_torch, "snntorch": run_snntorch, "norse": run_norse,
          "spyx": run_spyx}[lib]  # fmt: skip
    return fn(t_steps, warmup, steps)


# ------------------------------------------------------------------------------------------
# driver


def missing_modules(lib: str) -> list[str]:
    return [m for m in LIBS[lib][2] if importlib.util.find_spec(m) is None]


def run_one(
    lib: str, t_steps: int, warmup: int, steps: int, timeout: float, passive: bool = False
) -> dict[str, Any]:
    """One configuration in a fresh process, in this process's environment (``passive``: plus
    ``OMP_WAIT_POLICY=PASSIVE``, the ``--tuned`` rows)."""
    env = dict(os.environ)
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    cmd = [sys.executable, __file__, "--worker", lib, "--T", str(t_steps),
           "--warmup", str(warmup), "--steps", str(steps)]  # fmt: skip
    tag: dict[str, Any] = {"lib": lib, "T": t_steps, "passive": passive}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**tag, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            row: dict[str, Any] = json.loads(line[len("RESULT "):])
            return {**row, **tag}
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {**tag, "error": " | ".join(tail) or f"exit code {proc.returncode}"}


def fmt_s(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 1e3:.1f} ms" if v < 1.0 else f"{v:.2f} s"


def _label(r: dict[str, Any]) -> tuple[str, str]:
    label, method, _ = LIBS[r["lib"]]
    return label, method + (" [PASSIVE]" if r.get("passive") else "")


def print_table(rows: list[dict[str, Any]], t_list: list[int]) -> None:
    print()
    head = f"{'library':14} {'method':35} {'T':>5} {'step':>9} {'step CPU':>9} {'infer':>9} " \
           f"{'peak MB':>8} {'rate Hz':>7}"  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in rows:
        label, method = _label(r)
        if "error" in r:
            print(f"{label:14} {method:35} {r['T']:>5}   {r['error']}")
            continue
        print(
            f"{label:14} {method:35} {r['T']:>5} {fmt_s(r['step_s']):>9} "
            f"{fmt_s(r['step_cpu_s']):>9} {fmt_s(r['infer_s']):>9} {r['peak_mb']:>8.0f} "
            f"{r['rate_hz']:>7.1f}"
        )
    print()
    print("[PASSIVE]: run with OMP_WAIT_POLICY=PASSIVE (--tuned), not compared with below.")
    print()
    targets = {1000: 10.0, 4000: 15.0}
    for t, lib in ((t, lib) for t in t_list for lib in OURS):
        plain = [r for r in rows if r["T"] == t and "error" not in r and not r.get("passive")]
        ours = next((r for r in plain if r["lib"] == lib), None)
        peers = [r for r in plain if r["lib"] in PEERS]
        if ours is None or not peers:
            continue
        fast_step = min(peers, key=lambda r: r["step_s"])
        fast_cpu = min(peers, key=lambda r: r["step_cpu_s"])
        fast_inf = min(peers, key=lambda r: r["infer_s"])
        lean = min(peers, key=lambda r: r["peak_mb"])
        busiest = max(peers, key=lambda r: r["rate_hz"])
        target = targets.get(t, 10.0)
        print(f"T = {t}: EventBench {LIBS[lib][1]} vs the best BPTT peer in this run "
              "(everyone in the default environment)")  # fmt: skip
        if "to_sparse_s" in ours:
            print(f"  (dense -> sparse COO conversion of the batch, once: {fmt_s(ours['to_sparse_s'])})")
        print(f"  training step  {fast_step['step_s'] / ours['step_s']:6.1f}x faster than "
              f"{LIBS[fast_step['lib']][0]} (wall; target >= {target:.0f}x)")  # fmt: skip
        print(f"  step CPU time  {fast_cpu['step_cpu_s'] / ours['step_cpu_s']:6.1f}x less than "
              f"{LIBS[fast_cpu['lib']][0]}")  # fmt: skip
        print(f"  inference      {fast_inf['infer_s'] / ours['infer_s']:6.1f}x faster than "
              f"{LIBS[fast_inf['lib']][0]} (target >= 5x)")  # fmt: skip
        print(f"  peak memory    {ours['peak_mb'] / max(lean['peak_mb'], 1e-9):6.2f} of "
              f"{LIBS[lean['lib']][0]}'s {lean['peak_mb']:.0f} MB (target <= 0.25)")  # fmt: skip
        verdict = "at or above" if ours["rate_hz"] >= busiest["rate_hz"] else "BELOW"
        print(f"  hidden rate    {ours['rate_hz']:6.1f} Hz, {verdict} the busiest peer "
              f"({LIBS[busiest['lib']][0]}, {busiest['rate_hz']:.1f} Hz)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--libs", default=DEFAULT_LIBS, help=f"comma-separated, of {','.join(LIBS)}")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per configuration")
    ap.add_argument("--json", default=None, help="write the rows to this file")
    ap.add_argument(
        "--tuned", action="store_true",
        help="also run the torch-based libraries with OMP_WAIT_POLICY=PASSIVE (extra rows)",
    )  # fmt: skip
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker is not None:
        row = {"lib": args.worker, "T": args.T[0]}
        row.update(worker(args.worker, args.T[0], args.warmup, args.steps))
        print("RESULT " + json.dumps(row))
        return

    libs = [s.strip() for s in args.libs.split(",") if s.strip()]
    unknown = [s for s in libs if s not in LIBS]
    if unknown:
        ap.error(f"unknown libraries {unknown}; choose from {list(LIBS)}")
    import torch

    print(f"SHD-shaped step benchmark: batch {BATCH}, {N_IN} inputs ({DENSITY:.1%} active), "
          f"{N_HID} recurrent LIF, {N_OUT} outputs, {THREADS} threads")  # fmt: skip
    from eventbench.machine import cpu_model

    print(f"python {platform.python_version()}, torch {torch.__version__}, {cpu_model()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")  # fmt: skip
    rows: list[dict[str, Any]] = []
    skip: set[str] = set()
    for lib in libs:
        miss = missing_modules(lib)
        if miss:
            print(f"skipping {lib}: not installed ({', '.join(miss)}); see benchmarks/requirements.txt")
            skip.add(lib)
        elif lib == "eventprop-cuda" and not torch.cuda.is_available():
            print("skipping eventprop-cuda: no CUDA device")
            skip.add(lib)
    if "OMP_WAIT_POLICY" in os.environ:
        print(f"note: OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']} is set in this environment "
              "and applies to every row")  # fmt: skip
    for t in args.T:
        for lib in libs:
            if lib in skip:
                continue
            print(f"running {lib} T={t} ...", flush=True)
            rows.append(run_one(lib, t, args.warmup, args.steps, args.timeout))
            if args.tuned and lib in TUNABLE:
                print(f"running {lib} T={t} with OMP_WAIT_POLICY=PASSIVE ...", flush=True)
                rows.append(run_one(lib, t, args.warmup, args.steps, args.timeout, passive=True))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print_table(rows, args.T)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
