# Set-up-and-go targets: each creates its virtual environment when missing,
# installs what the project needs, builds idmatch and runs.
#   make demo        the identity pipeline on the embedded sample
#   make test        the test suite (CPU build), then its exactness tests
#                    again with the shared solver core on every problem (on
#                    a CPU with AVX-512), and again on the CUDA kernels' path
#                    imitated on the CPU
#   make bench       the benchmark
#   make wheel-check the CPU wheel, tested in a fresh environment
#   make oldest-torch-check  the CPU build and the tests against the oldest
#                    torch the project supports (C++17 where newer torch
#                    builds extensions as C++20)
#   make cpp-check   the C++ route: CMake package and a libtorch program
#   make cuda-check  CUDA wheel against torch's CUDA build: compiles every
#                    .cu file for several GPU architectures, checks that every
#                    op has a CUDA kernel, runs the CPU tests on that build
#   make gpu-check OUT=DIR  on a machine with an NVIDIA GPU: build for it, the
#                    tests on CUDA, compute-sanitizer, the CUDA benchmark
#                    (tools/gpu_check.sh); logs and JSON into DIR; STEPS="a b"
#                    runs only those steps after the build
#   make sleap-check idmatch.sleap_nn against the real sleap-nn, in an
#                    environment of its own: the switch, parity of every
#                    replaced function and adapter, sleap-nn's Predictor on
#                    its trained models with and without idmatch
#   make lint        ruff (lint, format, import order) and clang-format checks;
#                    make format applies both formatters
#   make sanitize-check  AddressSanitizer + UndefinedBehaviorSanitizer build,
#                    the tests (but the slow ones) under it, then a leak check;
#                    the LSA and identity tests again on the shared core alone
#
# HYPOTHESIS_PROFILE=ci runs the long property-test profile; IDMATCH_TEST_SLOW=1
# the large-input memory tests.

PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
CUDA_VENV ?= .venv-cuda
CUDA_TORCH_VERSION ?= 2.14.1
CUDA_HOME ?= /usr/local/cuda
TORCH_CUDA_ARCH_LIST ?= 7.5;8.0;8.6;9.0
export MAX_JOBS ?= 2

.PHONY: demo test bench install wheel-check oldest-torch-check cpp-check cuda-check sanitize-check sleap-check lint format gpu-check

# $(1): venv folder, $(2): torch version
define make_venv
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --upgrade pip "setuptools>=77" wheel ninja numpy
	$(1)/bin/python -m pip install "torch==$(2)"
endef

$(VENV)/.torch-$(TORCH_VERSION):
	$(call make_venv,$(VENV),$(TORCH_VERSION))
	touch $@

install: $(VENV)/.torch-$(TORCH_VERSION)
	IDMATCH_CUDA=0 $(VENV)/bin/python -m pip install --no-build-isolation ".[test,viz]"

demo: install
	$(VENV)/bin/python -m idmatch demo

bench: $(VENV)/.torch-$(TORCH_VERSION)
	IDMATCH_CUDA=0 $(VENV)/bin/python -m pip install --no-build-isolation ".[test,viz,bench]"
	$(VENV)/bin/python -m idmatch bench

# The second run checks the shared core on small problems and the peaks'
# pixels as well: on a CPU with AVX-512 the CPU kernels run their AVX-512
# versions there (csrc/ops/cpu/avx512.h), which IDMATCH_CPU_AVX512=0 turns
# off, while the CUDA kernels always run the core. The third runs the CUDA
# kernels' path, serially on the CPU (csrc/ops/cuda_path.h): the core calls
# the CUDA kernels make, with their grouping and workspace.
EXACTNESS_TESTS = tests/test_lsa.py tests/test_identity.py tests/test_properties.py tests/test_far_offsets.py \
	tests/test_paf.py tests/test_padded.py
# Without AVX-512 (F, DQ, VL) the CPU kernels are the portable ones anyway,
# so the first run already is the second, which is then skipped.
AVX512_CPU := $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && grep -qw avx512dq /proc/cpuinfo \
	&& grep -qw avx512vl /proc/cpuinfo && echo 1)
NO_AVX512_NOTE = echo "no AVX-512 on this CPU: the run above already used the portable kernels"
test: install
	$(VENV)/bin/python -m pytest
	$(if $(AVX512_CPU),IDMATCH_CPU_AVX512=0 $(VENV)/bin/python -m pytest $(EXACTNESS_TESTS),@$(NO_AVX512_NOTE))
	IDMATCH_CPU_CUDA_PATH=1 $(VENV)/bin/python -m pytest $(EXACTNESS_TESTS)

# The wheel, installed in a fresh environment with the same torch, passes the
# tests (run against the installed wheel, not the source tree).
WHEEL_VENV ?= .venv-wheel
wheel-check: $(VENV)/.torch-$(TORCH_VERSION)
	rm -rf dist/cpu $(WHEEL_VENV)
	IDMATCH_CUDA=0 $(VENV)/bin/python -m pip wheel --no-build-isolation --no-deps -w dist/cpu .
	$(call make_venv,$(WHEEL_VENV),$(TORCH_VERSION))
	$(WHEEL_VENV)/bin/python -m pip install "$$(ls dist/cpu/idmatch-*.whl)[test]"
	$(WHEEL_VENV)/bin/python -m pytest

# The oldest torch the project supports: the floor of pyproject.toml's build
# requirements (torch>=X.Y), the newest patch release of that minor. torch
# before 2.12 builds extensions as C++17, so this build also keeps C++20 out
# of the CPU sources and the shared core. PyPI's torch of that age is a CUDA
# build; no GPU is needed, and idmatch is built for the CPU.
OLDEST_TORCH_MINOR := $(shell sed -n 's/^requires = .*"torch>=\([0-9.]*\)".*/\1/p' pyproject.toml)
OLDEST_TORCH_VENV ?= .venv-oldest-torch

$(OLDEST_TORCH_VENV)/.torch-$(OLDEST_TORCH_MINOR):
	@test -n "$(OLDEST_TORCH_MINOR)" || { echo "pyproject.toml names no torch>=X.Y" >&2; exit 1; }
	$(call make_venv,$(OLDEST_TORCH_VENV),$(OLDEST_TORCH_MINOR).*)
	touch $@

oldest-torch-check: $(OLDEST_TORCH_VENV)/.torch-$(OLDEST_TORCH_MINOR)
	IDMATCH_CUDA=0 $(OLDEST_TORCH_VENV)/bin/python -m pip install --no-build-isolation ".[test]"
	$(OLDEST_TORCH_VENV)/bin/python -m pytest

# The C++ route: the op library built with CMake against the libtorch inside
# pip's torch, installed as a CMake package, and a C++ program running a
# TorchScript model saved from Python (tools/check_cpp_example.sh).
# The AVX-512 intrinsics also compile without optimization (a Debug build):
# some take operands that must be constants then too.
cpp-check: install
	$(VENV)/bin/python -m pip install "cmake>=3.18"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" tools/check_cpp_example.sh $(VENV)/bin/python
	$${CXX:-c++} -std=c++17 -O0 -c csrc/ops/cpu/small_lsa_avx512.cpp -o /dev/null

$(CUDA_VENV)/.torch-$(CUDA_TORCH_VERSION):
	$(call make_venv,$(CUDA_VENV),$(CUDA_TORCH_VERSION))
	touch $@

# The CUDA wheel, built against torch's CUDA build for several architectures
# and installed in a fresh environment with that torch: every op must have a
# CUDA kernel, and the tests pass (CPU only where there is no GPU). The C++
# route is built with CUDA too.
CUDA_WHEEL_VENV ?= .venv-cuda-wheel
cuda-check: $(CUDA_VENV)/.torch-$(CUDA_TORCH_VERSION)
	rm -rf dist/cuda $(CUDA_WHEEL_VENV)
	IDMATCH_CUDA=1 CUDA_HOME="$(CUDA_HOME)" TORCH_CUDA_ARCH_LIST="$(TORCH_CUDA_ARCH_LIST)" \
		$(CUDA_VENV)/bin/python -m pip wheel --no-build-isolation --no-deps -w dist/cuda .
	$(call make_venv,$(CUDA_WHEEL_VENV),$(CUDA_TORCH_VERSION))
	$(CUDA_WHEEL_VENV)/bin/python -m pip install "$$(ls dist/cuda/idmatch-*.whl)[test]"
	$(CUDA_WHEEL_VENV)/bin/python tools/check_kernels.py CPU CUDA
	$(CUDA_WHEEL_VENV)/bin/python -m pytest
	$(CUDA_WHEEL_VENV)/bin/python -m pip install "cmake>=3.18"
	PATH="$(CURDIR)/$(CUDA_WHEEL_VENV)/bin:$$PATH" IDMATCH_WITH_CUDA=ON CUDA_HOME="$(CUDA_HOME)" \
		tools/check_cpp_example.sh $(CUDA_WHEEL_VENV)/bin/python

# On a GPU machine (python3 there holds a CUDA build of torch): see
# tools/gpu_check.sh. tools/fetch_gpu_wheels.sh brings the peers' wheels for
# a machine without network access.
OUT ?= gpu-check-out
gpu-check:
	STEPS="$(STEPS)" tools/gpu_check.sh $(OUT)

# sleap-nn from the package index next to torch's CUDA build (PyPI's
# torchvision wheels need it; no GPU is needed), and idmatch built for the
# CPU; the tests fetch sleap-nn's trained checkpoints and video from its
# source distribution once (tests/sleap_nn_support.py).
SLEAP_VENV ?= .venv-sleap
TORCHVISION_VERSION ?= 0.29.1
SLEAP_TESTS = tests/test_sleap_nn_switch.py tests/test_sleap_nn_parity.py tests/test_sleap_nn_predictor.py \
	tests/test_readme.py

$(SLEAP_VENV)/.torch-$(CUDA_TORCH_VERSION):
	$(call make_venv,$(SLEAP_VENV),$(CUDA_TORCH_VERSION))
	$(SLEAP_VENV)/bin/python -m pip install "torchvision==$(TORCHVISION_VERSION)"
	touch $@

# SLEAP_IDMATCH: what to install as idmatch, the source tree (built for the
# CPU) unless given; CI gives the CUDA wheel that make cuda-check built, with
# SLEAP_VENV its environment.
SLEAP_IDMATCH ?= .
sleap-check: $(SLEAP_VENV)/.torch-$(CUDA_TORCH_VERSION)
	IDMATCH_CUDA=0 $(SLEAP_VENV)/bin/python -m pip install --no-build-isolation "$(SLEAP_IDMATCH)[test,sleap]"
	@# The tests skip where sleap-nn does not import: here it must.
	$(SLEAP_VENV)/bin/python -c "import sleap_nn.inference.predictor, sleap_nn.inference.layers.exported"
	$(SLEAP_VENV)/bin/python -m pytest $(SLEAP_TESTS)

# The CPU extension built with AddressSanitizer and UndefinedBehaviorSanitizer
# (IDMATCH_SANITIZE=1, its own build directory) in an environment of its own,
# and the tests run under the sanitizer runtimes (tools/run_sanitized.sh); at
# the end LeakSanitizer looks for leaked memory (tools/leak_check.py). Tests
# marked slow are left out to keep the run short; tests/test_memory.py skips
# itself anyway, as ASan's quarantine and shadow memory change resident sizes.
# --capture=sys: a sanitizer report goes to file descriptor 2 just before the
# process ends, where pytest's fd capture would swallow it. The second run
# puts the shared core under the sanitizers on the small problems and the
# peaks' pixels too, which the first run sends to the AVX-512 kernels where
# the CPU has them.
SANITIZE_VENV ?= .venv-sanitize

$(SANITIZE_VENV)/.torch-$(TORCH_VERSION):
	$(call make_venv,$(SANITIZE_VENV),$(TORCH_VERSION))
	touch $@

sanitize-check: $(SANITIZE_VENV)/.torch-$(TORCH_VERSION)
	IDMATCH_SANITIZE=1 IDMATCH_CUDA=0 $(SANITIZE_VENV)/bin/python -m pip install --no-build-isolation ".[test]"
	PYTHONPATH="$(CURDIR)/tools" tools/run_sanitized.sh \
		$(SANITIZE_VENV)/bin/python -m pytest -p leak_check --capture=sys -m "not slow"
	$(if $(AVX512_CPU),IDMATCH_CPU_AVX512=0 PYTHONPATH="$(CURDIR)/tools" tools/run_sanitized.sh \
		$(SANITIZE_VENV)/bin/python -m pytest -p leak_check --capture=sys -m "not slow" tests/test_lsa.py \
		tests/test_identity.py,@$(NO_AVX512_NOTE))

# Lint and format: the tools' versions live here only (the pre-commit hook
# calls `make lint`), in an environment of their own without torch.
LINT_VENV ?= .venv-lint
RUFF_VERSION = 0.17.5
CLANG_FORMAT_VERSION = 23.1.3
CXX_SOURCES = $(shell git ls-files '*.h' '*.cpp' '*.cu' '*.cuh')

$(LINT_VENV)/.ruff-$(RUFF_VERSION)-clang-format-$(CLANG_FORMAT_VERSION):
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install "ruff==$(RUFF_VERSION)" "clang-format==$(CLANG_FORMAT_VERSION)"
	touch $@

lint: $(LINT_VENV)/.ruff-$(RUFF_VERSION)-clang-format-$(CLANG_FORMAT_VERSION)
	$(LINT_VENV)/bin/ruff check .
	$(LINT_VENV)/bin/ruff format --check .
	$(LINT_VENV)/bin/clang-format --dry-run --Werror $(CXX_SOURCES)

format: $(LINT_VENV)/.ruff-$(RUFF_VERSION)-clang-format-$(CLANG_FORMAT_VERSION)
	$(LINT_VENV)/bin/ruff check --fix .
	$(LINT_VENV)/bin/ruff format .
	$(LINT_VENV)/bin/clang-format -i $(CXX_SOURCES)
