"""Compile EventProp's Triton kernels for a CUDA target without a device (run as a script).

``python triton_compile_check.py SM VARIANT...`` compiles each variant (``fp32-weighted``,
``fp64-first_spike``, ...: dtype and readout kind) of the forward and the backward kernel
through Triton's whole GPU pipeline (TTIR, TTGIR, LLVM IR, PTX and, with the ``ptxas`` that the
Triton wheel bundles, a cubin) for compute capability ``SM`` (e.g. ``90``), and prints one line
per kernel. It must run in a process where Triton's interpreter is off: the GPU compiler checks
what the interpreter does not (types across control flow, code generation).
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from eventbench.eventprop.kernels import _triton_kernels as K

KINDS = {"weighted": 0, "max": 1, "trace": 2, "first_spike": 3}

#: pointer arguments and their element types (``F``: the working dtype)
FWD = dict(ev_ptr="*i64", ev_ch="*i32", ev_val="*F", wff="*F", ff_off="*i64", sizes="*i64",
           noff="*i64", wrec="*F", rec_off="*i64", wout="*F", bias="*F", hc="*F", oc="*F",
           coeff="*F", st_v="*F", st_i="*F", lst="*i32", lcnt="*i32", spk_step="*i32",
           spk_neu="*i32", spk_den="*F", spk_cnt="*i32", o_step="*i32", o_neu="*i32", o_den="*F",
           o_cnt="*i32", acc="*F", vmax="*F", argmax="*i64", trace="*F", first="*i64")  # fmt: skip
BWD = dict(ev_ptr="*i64", ev_ch="*i32", ev_val="*F", wff="*F", ff_off="*i64", sizes="*i64",
           noff="*i64", wrec="*F", rec_off="*i64", wout="*F", hc="*F", oc="*F", coeff="*F",
           g="*F", extra="*i64", reg="*F", eps_arr="*F", src_b_arr="*fp64", spk_step="*i32",
           spk_neu="*i32", spk_den="*F", spk_cnt="*i32", o_step="*i32", o_neu="*i32",
           o_den="*F", o_cnt="*i32", lv_s="*F", li_s="*F", fb_s="*F", rng="*i32", g_ff="*F",
           g_rec="*F", g_out="*F", g_bias="*fp64")  # fmt: skip


def compile_kernel(fn: Any, ptrs: dict[str, str], consts: dict[str, Any], fdt: str, sm: int) -> Any:
    names = list(inspect.signature(fn.fn).parameters)
    signature = {
        n: "constexpr" if n in consts else ptrs[n].replace("F", fdt) if n in ptrs else "i32"
        for n in names
    }
    constexprs = {(names.index(k),): v for k, v in consts.items()}
    src = ASTSource(fn=fn, signature=signature, constexprs=constexprs)
    return triton.compile(src, target=GPUTarget("cuda", sm, 32), options={"enable_fp_fusion": False})


def main() -> None:
    sm = int(sys.argv[1])
    for variant in sys.argv[2:]:
        fdt, kind_name = variant.split("-", 1)
        kind = KINDS[kind_name]
        lif = kind == 3
        common = dict(KIND=kind, BLOCK=256, OBLOCK=32, EB=16)
        for name, fn, ptrs, consts in (
            ("forward", K.forward_kernel, FWD, dict(HAS_BIAS=not lif, OUT_LIF=lif, **common)),
            ("backward", K.backward_kernel, BWD, dict(HAS_BIAS=not lif, HAS_REG=True, **common)),
        ):
            ck = compile_kernel(fn, ptrs, consts, fdt, sm)
            print(f"{variant} {name}: ptx {len(ck.asm['ptx'])} chars, cubin {len(ck.asm['cubin'])} bytes")


if __name__ == "__main__":
    main()
