"""Build of the idmatch extension (CPU, plus CUDA when available).

IDMATCH_CUDA=1 forces the CUDA build and fails if it cannot be done,
IDMATCH_CUDA=0 forces a CPU-only build; unset, CUDA is built when torch is a
CUDA build and a CUDA toolkit is found (CUDA_HOME). TORCH_CUDA_ARCH_LIST picks
the GPU architectures, as for any torch extension.

IDMATCH_SANITIZE=1 builds the CPU extension with AddressSanitizer and
UndefinedBehaviorSanitizer, in its own build directory (build/sanitize-torchX.Y); it
must be loaded with the sanitizer runtime preloaded: see
tools/run_sanitized.sh and `make sanitize-check`.
"""

import glob
import os
import sys

import torch
from setuptools import setup
from torch.utils import cpp_extension

ROOT = os.path.dirname(os.path.abspath(__file__))
CSRC = "csrc"


def want_cuda() -> bool:
    flag = os.environ.get("IDMATCH_CUDA", "").strip()
    if flag not in ("", "0", "1"):
        raise SystemExit(f"IDMATCH_CUDA must be 0, 1 or unset, got {flag!r}")
    available = torch.version.cuda is not None and cpp_extension.CUDA_HOME is not None
    if flag == "1" and not available:
        raise SystemExit(
            "IDMATCH_CUDA=1 but a CUDA build is impossible: "
            f"torch {torch.__version__} has CUDA {torch.version.cuda}, "
            f"CUDA_HOME is {cpp_extension.CUDA_HOME} (set CUDA_HOME to the toolkit)"
        )
    return flag == "1" or (flag == "" and available)


def sources(pattern: str) -> list:
    return sorted(glob.glob(os.path.join(CSRC, pattern), recursive=True))


def write_build_config(with_cuda: bool) -> None:
    """Records what the extension was built against, for the loader's check."""
    path = os.path.join(ROOT, "python", "idmatch", "_build_config.py")
    text = (
        "# Written by setup.py at build time.\n"
        f"TORCH_VERSION = {torch.__version__!r}\n"
        f"WITH_CUDA = {with_cuda!r}\n"
        f"CUDA_VERSION = {torch.version.cuda if with_cuda else None!r}\n"
    )
    with open(path, "w") as f:
        f.write(text)


def torch_requirement() -> str:
    """The torch minor release the extension is built against: torch's C++ ABI
    changes between minor releases, so pip must not pair the wheel with
    another one (the loader would refuse it at import)."""
    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return f"torch=={major}.{minor}.*"


def want_sanitize() -> bool:
    flag = os.environ.get("IDMATCH_SANITIZE", "").strip()
    if flag not in ("", "0", "1"):
        raise SystemExit(f"IDMATCH_SANITIZE must be 0, 1 or unset, got {flag!r}")
    if flag == "1" and os.environ.get("IDMATCH_CUDA", "").strip() == "1":
        # nvcc's device code cannot be instrumented, and ASan's shadow memory
        # collides with the CUDA driver's mappings; the CPU kernels run the
        # same solver core, so the CPU build is the one worth checking.
        raise SystemExit("IDMATCH_SANITIZE=1 builds the CPU extension only; unset IDMATCH_CUDA")
    return flag == "1"


SANITIZE = want_sanitize()
WITH_CUDA = not SANITIZE and want_cuda()

# -O1 keeps reports' stack traces faithful; frame pointers let ASan's fast
# unwinder walk through our frames; without -fno-sanitize-recover a UBSan
# finding would only print and the test would still pass. float-cast-overflow
# is not part of GCC's "undefined" group, and the peak sampling converts
# arbitrary coordinates to integers.
SANITIZE_COMPILE_FLAGS = [
    "-O1",
    "-g",
    "-fsanitize=address,undefined,float-cast-overflow",
    "-fno-omit-frame-pointer",
    "-fno-sanitize-recover=undefined,float-cast-overflow",
]
SANITIZE_LINK_FLAGS = ["-fsanitize=address,undefined,float-cast-overflow"]


def extension():
    with_cuda = WITH_CUDA
    write_build_config(with_cuda)
    cxx_flags = list(SANITIZE_COMPILE_FLAGS) if SANITIZE else ["-O3"]
    link_flags = list(SANITIZE_LINK_FLAGS) if SANITIZE else []
    if sys.platform.startswith("linux"):
        # at::parallel_for runs serially unless the extension itself is built
        # with OpenMP (ATen/ParallelOpenMP.h); torch already links libgomp.
        cxx_flags.append("-fopenmp")
        link_flags.append("-fopenmp")
    files = sources("ops/*.cpp") + sources("ops/cpu/*.cpp")
    kwargs = {}
    if with_cuda:
        files += sources("ops/cuda/*.cpp") + sources("ops/cuda/*.cu")
        cxx_flags.append("-DIDMATCH_WITH_CUDA")
        # --fmad=false: no contraction may change scipy's order of operations.
        kwargs["extra_compile_args"] = {"cxx": cxx_flags, "nvcc": ["-O3", "--fmad=false", "-DIDMATCH_WITH_CUDA"]}
        ext_class = cpp_extension.CUDAExtension
    else:
        kwargs["extra_compile_args"] = {"cxx": cxx_flags}
        ext_class = cpp_extension.CppExtension
    return ext_class("idmatch._C", files, py_limited_api=True, extra_link_args=link_flags, **kwargs)


VARIANT = "sanitize" if SANITIZE else "cuda" if WITH_CUDA else "cpu"
TORCH_MAJOR_MINOR = ".".join(torch.__version__.split("+")[0].split(".")[:2])
EXTENSION = extension()

setup(
    install_requires=[torch_requirement(), "numpy"],
    ext_modules=[EXTENSION],
    cmdclass={"build_ext": cpp_extension.BuildExtension},
    options={
        # CPU, CUDA and sanitized variants, and builds against different torch
        # releases, keep separate object files, so that building one never
        # reuses or overwrites another's.
        "build": {"build_base": os.path.join("build", f"{VARIANT}-torch{TORCH_MAJOR_MINOR}")},
        "bdist_wheel": {"py_limited_api": "cp39"},
    },
)
