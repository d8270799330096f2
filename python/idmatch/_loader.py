"""Loads the compiled op library once, after checking the torch it was built for."""

import ctypes
import glob
import os

import torch

_loaded_library = None  # the path load_ops_library loaded


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
            f"rebuild it: pip install --no-build-isolation --force-reinstall idmatch"
        )
    libraries = sorted(glob.glob(os.path.join(here, "_C*.so")) + glob.glob(os.path.join(here, "_C*.pyd")))
    if not libraries:
        raise ImportError(f"idmatch's op library (_C) is missing from {here}; reinstall idmatch")
    torch.ops.load_library(libraries[0])
    global _loaded_library
    _loaded_library = libraries[0]
    return libraries[0]


def cpu_small_solver_enabled() -> bool:
    """Whether the CPU kernels solve problems of up to 16 x 16 with the AVX-512
    small solver (the CPU has AVX-512 and IDMATCH_CPU_SOLVER is not
    "portable") rather than with the shared core the CUDA kernels run."""
    if _loaded_library is None:
        raise RuntimeError("idmatch's op library is not loaded: import idmatch first")
    # The library torch loaded, looked up again (dlopen hands back the same
    # one); never a second copy, whose op registrations would clash.
    mode = getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_GLOBAL
    return bool(ctypes.CDLL(_loaded_library, mode=mode).idmatch_cpu_small_solver_enabled())
