"""Loads the compiled op library once, after checking the torch it was built for."""

import glob
import os

import torch


def _major_minor(version: str) -> tuple:
    return tuple(int(part) for part in version.split("+")[0].split(".")[:2])


def load_ops_library() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        from . import _build_config
    except ImportError as error:
        raise ImportError(
            "idmatch is not built: install it with `pip install --no-build-isolation .` from a source checkout"
        ) from error
    if _major_minor(torch.__version__) != _major_minor(_build_config.TORCH_VERSION):
        # The C++ ABI of torch changes between minor releases: loading would
        # fail with undefined symbols, or worse, load and misbehave.
        raise ImportError(
            f"idmatch was built against torch {_build_config.TORCH_VERSION} but torch "
            f"{torch.__version__} is installed; install idmatch built for this torch, or "
            f"rebuild it from its source: pip install --no-build-isolation --force-reinstall ."
        )
    libraries = sorted(glob.glob(os.path.join(here, "_C*.so")) + glob.glob(os.path.join(here, "_C*.pyd")))
    if not libraries:
        raise ImportError(f"idmatch's op library (_C) is missing from {here}; reinstall idmatch")
    torch.ops.load_library(libraries[0])
    return libraries[0]


def cpu_kernel_kind() -> str:
    """Which kernels the CPU ops run: "cuda-path" where IDMATCH_CPU_CUDA_PATH
    is "1" (a serial imitation of the CUDA kernels, for tests), else "avx512"
    where the CPU has AVX-512 (F, DQ, VL) and IDMATCH_CPU_AVX512 is not "0"
    (the small-problem solver and the peaks' pixel pass), else "portable":
    the shared core everywhere. Decided once per process, at the first call
    of an op that asks."""
    return torch.ops.idmatch._cpu_kernel_kind()
