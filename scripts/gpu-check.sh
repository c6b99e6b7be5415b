#!/usr/bin/env bash
# One call on a machine with a CUDA device: set up, run the GPU tests (the CUDA kernels of
# EventProp against the CPU kernels and the float64 reference, pytest -m gpu) and the GPU benchmark
# (benchmarks/gpu_step.py: CUDA kernels vs the torch path, plain PyTorch BPTT and Spyx on the same
# GPU, and a full SHD epoch). Results go to ${OUT:-gpu-check-out}/ (gpu_tests.log, gpu_step.json,
# gpu_step.log).
#
# Python: a python3 that already holds a CUDA build of torch (with Triton, as torch's CUDA wheels
# ship it) is used as it is, with eventbench taken from src/ (no network needed; its other
# dependencies must be there: numpy, scipy, h5py, typer, rich, scikit-learn, numba, pytest,
# hypothesis); otherwise
# scripts/setup-env.sh creates .venv (network, PyPI's CUDA torch on Linux x86_64).
# Extra arguments go to benchmarks/gpu_step.py (e.g. --T 1000 --no-epoch).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-check-out}"
mkdir -p "$out"
PY="${PYTHON:-python3}"
if "$PY" -c "import torch, triton; assert torch.cuda.is_available()" 2>/dev/null; then
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
    # offline machine: wheels carried in .whl/ (e.g. spyx and its light dependencies for the
    # Spyx row) are installed into a private folder first
    if compgen -G ".whl/*.whl" >/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/gpu-check-site .whl/*.whl
        export PYTHONPATH="$PYTHONPATH:/tmp/gpu-check-site"
    fi
else
    bash scripts/setup-env.sh dev
    PY=.venv/bin/python
    # Spyx on the GPU (an optional row of the benchmark)
    "$PY" -m pip install -q "jax[cuda12]" flax optax || echo "jax[cuda12] not installed: no Spyx row"
    "$PY" -m pip install -q --no-deps spyx==1.0.0 || echo "spyx not installed: no Spyx row"
fi
export PYTHONUNBUFFERED=1
"$PY" -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
# the gpu-marked tests (the CUDA kernels, and the torch path on CUDA against the CPU kernels)
set +e
"$PY" -m pytest -m gpu -q -p no:cacheprovider tests/eventprop/test_cuda_kernels.py \
    tests/eventprop/test_kernels.py 2>&1 | tee "$out/gpu_tests.log"
tests_rc=${PIPESTATUS[0]}
set -e
"$PY" benchmarks/gpu_step.py --json "$out/gpu_step.json" "$@" 2>&1 | tee "$out/gpu_step.log"
echo "gpu tests exit code: $tests_rc"
exit "$tests_rc"
