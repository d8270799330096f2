"""Checks that every idmatch op has a kernel for each given dispatch key.

Usage: python tools/check_kernels.py CPU [CUDA ...]
The CUDA build is checked this way on machines without a GPU: a missing CUDA
kernel would otherwise only show up on the first GPU call.
"""

import sys

import torch

import idmatch  # noqa: F401  (loads the ops)


def main(keys) -> int:
    ops = sorted(name for name in torch._C._dispatch_get_all_op_names() if name.startswith("idmatch::"))
    if not ops:
        print("no idmatch ops are registered")
        return 1
    missing = [(op, key) for op in ops for key in keys if not torch._C._dispatch_has_kernel_for_dispatch_key(op, key)]
    for op in ops:
        print(f"{op}: " + ", ".join(f"{key} {'missing' if (op, key) in missing else 'ok'}" for key in keys))
    if missing:
        print(f"{len(missing)} kernel(s) missing")
        return 1
    print(f"all {len(ops)} ops have {', '.join(keys)} kernels")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["CPU"]))
