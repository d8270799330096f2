"""Checks that every idmatch op has a kernel for each given dispatch key.

Usage: python tools/check_kernels.py CPU [CUDA ...]
The CUDA build is checked this way on machines without a GPU: a missing CUDA
kernel would otherwise only show up on the first GPU call. An op without
tensor arguments (such as _cpu_kernel_kind) has nothing to dispatch on: it
needs one kernel for every device instead, which it is checked for.
"""

import sys

import torch

import idmatch  # noqa: F401  (loads the ops)


def takes_tensors(op: str) -> bool:
    schema = torch._C._get_schema(op, "")
    return any("Tensor" in str(argument.type) for argument in schema.arguments)


def main(keys) -> int:
    ops = sorted(name for name in torch._C._dispatch_get_all_op_names() if name.startswith("idmatch::"))
    if not ops:
        print("no idmatch ops are registered")
        return 1
    missing = []
    for op in ops:
        if takes_tensors(op):
            absent = [key for key in keys if not torch._C._dispatch_has_kernel_for_dispatch_key(op, key)]
            print(f"{op}: " + ", ".join(f"{key} {'missing' if key in absent else 'ok'}" for key in keys))
        else:
            absent = [] if torch._C._dispatch_has_kernel(op) else ["any"]
            print(f"{op}: no tensor arguments, kernel for every device {'missing' if absent else 'ok'}")
        missing += [(op, key) for key in absent]
    if missing:
        print(f"{len(missing)} kernel(s) missing")
        return 1
    print(f"all {len(ops)} ops have {', '.join(keys)} kernels")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["CPU"]))
